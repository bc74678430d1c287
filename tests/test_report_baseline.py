"""Each config against the baseline arm (co-training) on the same seeds: the paired statistics on known numbers, then
hand-built sweep folders (real results.parquet, sweep.json, optuna.db) of 2 configs x 2 seeds + a baseline arm: the
line the table, both reports, the dashboard and the W&B ranking lead with; "no config beats"; a missing baseline
seed; a raced config; the baseline never ranked as a config."""

import json
import html
import math

import pytest

from actot.report import load_sweep_dir, ranked_table, write_dashboard, write_report
from actot.report.baseline import compare, paired_differences
from actot.report.rank import rank
from actot.report.stats import pooled_sd, prob_above_zero, t_interval
from sweep_fixture import BEATS, paired_sweep

T975_DF1, T975_DF2 = 12.706204736174703, 4.302652729749462  # scipy.stats.t.ppf(0.975, df)


# ------------------------------------------------------------------ statistics on known numbers
def test_pooled_sd_and_t_interval_on_known_numbers():
    # deviations ±0.05 in each of two samples of two: SS = 4 * 0.0025 = 0.01 over df = 2
    sd, df = pooled_sd([[0.1, 0.2], [0.0, 0.1], [7.0]])  # a lone value adds no df and no deviation
    assert df == 2 and sd == pytest.approx(math.sqrt(0.005))
    assert pooled_sd([[1.0], [2.0]]) == (pytest.approx(math.nan, nan_ok=True), 0)
    iv = t_interval([0.1, 0.2], sd, df)
    assert (iv.mean, iv.n) == (pytest.approx(0.15), 2)
    assert iv.low == pytest.approx(0.15 - T975_DF2 * 0.05) and iv.high == pytest.approx(0.15 + T975_DF2 * 0.05)
    assert t_interval([0.1], sd, 0) is None
    assert prob_above_zero(0.15, 0.05, 2) == pytest.approx(0.9522670168666454)  # t.cdf(3, 2)
    assert prob_above_zero(-0.15, 0.05, 2) == pytest.approx(1 - 0.9522670168666454)
    assert (prob_above_zero(0.1, 0.0, 3), prob_above_zero(-0.1, 0.0, 3), prob_above_zero(0.0, 0.0, 3)) == (1, 0, 0.5)


def test_paired_differences_are_signed_so_that_plus_is_better():
    baseline = {3: 0.40, 4: 0.50}
    # avg_l1 (lower is better): baseline minus config; success (higher is better): config minus baseline
    diffs, missing = paired_differences({3: 0.30, 4: 0.45, 5: 0.2}, baseline, "min")
    assert diffs == {3: pytest.approx(0.10), 4: pytest.approx(0.05)} and missing == (5,)
    diffs, _ = paired_differences({3: 0.30, 4: 0.45}, baseline, "max")
    assert diffs == {3: pytest.approx(-0.10), 4: pytest.approx(-0.05)}


def test_compare_pools_the_sd_over_configs():
    baseline = {3: 1.0, 4: 1.0}
    # success, higher is better: A's differences 0.1, 0.2 and B's 0.0, 0.1 (deviations ±0.05: pooled SD
    # sqrt(0.005), df 2, se 0.05); C ran one seed (raced): no SD of its own, the pooled one, se = SD / 1
    out = compare({"A": {3: 1.1, 4: 1.2}, "B": {3: 1.0, 4: 1.1}, "C": {3: 1.3}, "D": {5: 1.0}}, baseline, "max")
    a = out["A"]
    assert (a.n, a.mean, a.df, a.sd_from) == (2, pytest.approx(0.15), 2, "pooled")
    assert (a.low, a.high) == (pytest.approx(0.15 - T975_DF2 * 0.05), pytest.approx(0.15 + T975_DF2 * 0.05))
    assert a.p_beats == pytest.approx(0.9522670168666454) and not a.beats  # the interval reaches below 0
    c = out["C"]
    assert c.n == 1 and c.low == pytest.approx(0.3 - T975_DF2 * math.sqrt(0.005)) and c.sd_from == "pooled"
    assert out["D"].mean is None and out["D"].missing == (5,)  # no seed in common: nothing to compare
    # one config alone with df: its own SD (the same formula); one seed each: no interval, no P(beats)
    own = compare({"A": {3: 1.1, 4: 1.2}, "C": {3: 1.3}}, baseline, "max")["A"]
    assert (
        own.sd_from == "own"
        and own.df == 1
        and own.low == pytest.approx(0.15 - T975_DF1 * math.sqrt(0.005) / math.sqrt(2))
    )
    alone = compare({"A": {3: 1.1}, "B": {4: 1.3}}, baseline, "max")
    assert alone["B"].mean == pytest.approx(0.3) and alone["B"].low is None and alone["B"].p_beats is None
    # a clear winner: differences 0.11, 0.13 (lower is better) against -0.03, -0.01 -> [0.07697, 0.163], beats
    clear = compare({"A": {3: 0.29, 4: 0.37}, "B": {3: 0.43, 4: 0.51}}, {3: 0.40, 4: 0.50}, "min")["A"]
    assert clear.beats and clear.low == pytest.approx(0.12 - T975_DF2 * 0.01)


# ------------------------------------------------------------------ sweep folders with a baseline arm
# The search's seeds chose c000: its difference is shown as the selected estimate it is, with the command that
# confirms it on fresh seeds; never as "beats co-training".
LEAD = (
    "not confirmed yet: the search's pick vs co-training +0.12 [0.07697, 0.163] (n=2 seeds, P(beats)=1.00, "
    "+ = lower last eval/avg_l1) on the seeds that picked it, so biased in its favour: c000 (reg=1); confirm it on "
    "fresh seeds: python run_sweep.py space=hand_space name=beats stage=confirm top_k=1 seeds=3"
)


def test_the_table_leads_with_the_best_config_against_co_training(tmp_path):
    folder = paired_sweep(tmp_path / "beats", BEATS)
    table = ranked_table(folder)
    lines = table.splitlines()
    assert lines[0] == LEAD  # 0.12 ± 4.3027 * 0.01: the SD pooled over both configs' differences
    header = lines[1].split()
    assert "vs" in header and "baseline" in header
    # the baseline arm's own row, unranked, with n, mean and the pooled n = 2 interval (df 3: three arms of two)
    sd = math.sqrt((2 * 0.05**2 + 2 * 0.04**2 + 2 * 0.04**2) / 3)
    low, high = 0.45 - 3.1824463052837078 * sd / math.sqrt(2), 0.45 + 3.1824463052837078 * sd / math.sqrt(2)
    row = next(line for line in lines if line.startswith("-  co-training (baseline)"))
    assert " 2 " in row and "0.45" in row and f"[{low:.4g}, {high:.4g}]*" in row and "ot.lambda_ot=0" in row
    first = next(line for line in lines if line.startswith("1  "))
    assert first.startswith("1  c000 seed 3 +1") and "+0.12 [0.07697, 0.163] P=1.00" in first
    second = next(line for line in lines if line.startswith("2  "))
    assert "-0.02 [-0.06303, 0.02303] P=" in second
    assert any(
        line.startswith("* n = 2: mean ± t × SD/√2 with the SD pooled over the arms' seeds (df=3)") for line in lines
    )
    assert any(
        line.startswith("vs baseline: co-training's last eval/avg_l1 minus the config's on the same seeds")
        for line in lines
    )
    # the lower-is-better orientation is said in the line itself; P(beats) from t(2) at 0.12 / 0.01
    assert "+ = lower last eval/avg_l1" in lines[0]

    # the baseline arm is never a config of the ranking, nor the leader, nor a pick of the confirm stage
    sweep = load_sweep_dir(folder)
    ranking = rank(sweep)
    assert [g.name for g in ranking.groups] == ["c000", "c001"]
    assert {t.trial_id for t in ranking.baseline.trials} == {"bes3", "bes4"}
    assert ranking.groups[1].vs_baseline.p_beats == pytest.approx(0.09175170953613698)  # t(2).cdf(-0.02 / 0.01)
    from actot.report.confirm import leaders

    assert leaders(folder, 5)[0] == ["c0s3", "c1s3"]


def test_the_baseline_is_never_the_leader_even_when_it_is_best(tmp_path):
    worse = {"baseline": {3: 0.10, 4: 0.12}, "c000": {3: 0.29, 4: 0.37}, "c001": {3: 0.43, 4: 0.51}}
    folder = paired_sweep(tmp_path / "worse", worse)
    ranking = rank(load_sweep_dir(folder))
    assert ranking.groups[0].name == "c000" and all(g.name != "baseline" for g in ranking.groups)
    assert str(ranking.lead).startswith("no config beats co-training (best: -0.22 [")  # 0.10 - 0.29, 0.12 - 0.37
    from actot.report.wandb_ranking import trial_ranks

    assert set(trial_ranks(ranking)) == {"c0s3", "c0s4", "c1s3", "c1s4"}  # no W&B rank for the baseline's runs


def test_both_reports_and_the_dashboard_lead_with_the_line(tmp_path):
    folder = paired_sweep(tmp_path / "beats", BEATS)
    report = write_report(folder).read_text()
    assert report.splitlines()[2] == f"**{LEAD}**"
    assert report.count(LEAD) == 1  # the report's table does not repeat it
    assert "### co-training seed 3  (finished; trials/bes3)" in report
    block = report[report.index("### co-training seed 3") :]
    assert "lambda_ot=0" in block[: block.index("\n\n")]  # the baseline's block shows what it ran with
    zh = write_report(folder, lang="zh").read_text(encoding="utf-8")
    assert zh.splitlines()[2].startswith(
        "**尚未确认：搜索选出的配置对比协同训练 +0.12 [0.07697, 0.163]（n=2 个种子，"
        "P(胜出)=1.00，+ = 末 离线评估L1更低），用的正是选出它的种子"
    )
    assert "协同训练（基线）" in zh and "对比基线" in zh and "### 协同训练 种子 3" in zh
    page = write_dashboard(folder).read_text()
    assert f'<p id="vs-baseline" class="lead none">{html.escape(LEAD)}</p>' in page  # a claim only once confirmed
    assert '<tr class="baseline finished"><td class="">-</td><td class="l">co-training seed 3</td>' in page


def test_the_baseline_arm_is_no_evidence_about_the_knobs(tmp_path):
    """optuna.db mirrors the baseline's trials too (no knob): knob importance counts the configs' trials only."""
    from actot.report.importance import knob_importance

    folder = paired_sweep(tmp_path / "beats", BEATS)
    imp = knob_importance(folder, "beats")
    # 2 configs x 2 seeds: PED-ANOVA would say 0.51 / 0.49 of two points; the note says why there is no number
    assert imp.n_trials == 4 and imp.n_configs == 2 and imp.values == {}
    assert "too few finished configs for knob importance: 2 config(s) in 4 finished trial(s)" in imp.note
    text = (write_report(folder).parent / "next_space.yaml").read_text()
    assert "# Every range is kept: too few finished configs" in text and "ot.lambda_ot" not in text


def _four_configs_none_beats(folder):
    """Four configs (reg 0.5, 1, 2, 4) on seeds 3 and 4, each worse than co-training on both."""
    import optuna

    from sweep_fixture import write_sweep

    knobs = {"ot.reg": optuna.distributions.FloatDistribution(0.01, 5.0, log=True)}

    def trial(tid, config_id, reg, seed, last):
        return {
            "trial_id": tid,
            "params": {} if reg is None else {"ot.reg": reg},
            "status": "finished",
            "seed": seed,
            "arm": "baseline" if reg is None else "config",
            "config_id": config_id,
            "history": [
                {"step": 0, "eval/avg_l1": 0.9, "ot_pi_sum": 0.5},
                {"step": 100, "eval/avg_l1": last, "ot_pi_sum": 0.5},
            ],
        }

    trials = [trial(f"b{s}", "baseline", None, s, 0.30 + 0.01 * (s - 3)) for s in (3, 4)]
    for i, reg in enumerate((0.5, 1.0, 2.0, 4.0)):
        trials += [trial(f"c{i}s{s}", f"c00{i}", reg, s, 0.40 + 0.02 * i + 0.01 * (s - 3)) for s in (3, 4)]
    spec = {"paired": {"seeds": [3, 4], "baseline": {"ot.lambda_ot": 0.0}, "racing": None}}
    return write_sweep(folder, trials, knobs, spec=spec, name=folder.name)


def test_no_narrowing_and_no_advice_when_no_config_beats_co_training(tmp_path):
    from actot.sweep.space import load_space

    folder = _four_configs_none_beats(tmp_path / "none4")
    ranking = rank(load_sweep_dir(folder))
    assert not ranking.beats_baseline
    report = write_report(folder).read_text()
    text = (folder / "next_space.yaml").read_text()
    reg = load_space(str(folder / "next_space.yaml")).distributions["ot.reg"]
    assert (reg.low, reg.high) == (0.01, 5.0) and "ot.lambda_ot" not in text  # stable runs, but nothing to raise
    assert "# Every range is kept: no config beat co-training" in text
    assert (
        "no advice on where to search next (no range narrowed, lambda_ot not raised): no config beat co-training"
        in report
        and "raise lambda_ot (e.g. to 0.2)" not in report
    )


def test_no_config_beats_co_training(tmp_path):
    # differences 0.05, 0.01 and -0.02, 0.00: pooled SD sqrt(0.0005), se 0.01581, half-width 0.06803
    values = {"baseline": {3: 0.40, 4: 0.50}, "c000": {3: 0.35, 4: 0.49}, "c001": {3: 0.42, 4: 0.50}}
    folder = paired_sweep(tmp_path / "none", values)
    first = ranked_table(folder).splitlines()[0]
    assert first == (
        "no config beats co-training (best: +0.03 [-0.03803, 0.09803] (n=2 seeds, P(beats)=0.90, + = "
        "lower last eval/avg_l1): c000 (reg=1))"
    )
    zh = write_report(folder, lang="zh").read_text(encoding="utf-8")
    assert "**没有配置胜过协同训练（最佳：+0.03 [-0.03803, 0.09803]" in zh
    page = write_dashboard(folder).read_text()
    assert '<p id="vs-baseline" class="lead none">no config beats co-training (best: +0.03' in page


def test_a_seed_whose_baseline_failed_is_left_out_and_said(tmp_path):
    values = {
        "baseline": {3: 0.40, 4: "error", 5: 0.45},
        "c000": {3: 0.29, 4: 0.35, 5: 0.32},
        "c001": {3: 0.43, 4: 0.50, 5: 0.46},
    }
    folder = paired_sweep(tmp_path / "missing", values, seeds=(3, 4, 5))
    table = ranked_table(folder)
    assert table.splitlines()[0].startswith(
        "not confirmed yet: the search's pick vs co-training +0.12 [0.07697, 0.163] (n=2 seeds, P(beats)=1.00, "
        "+ = lower last eval/avg_l1; no baseline for seed 4) on the seeds that picked it"
    )
    assert "No baseline for seed 4 (error): left out of every config's comparison to co-training." in table
    row = next(line for line in table.splitlines() if line.startswith("-  co-training (baseline)"))
    assert row.split()[3:5] == ["finished", "2"] and row.endswith("; no baseline for seed 4")
    ranking = rank(load_sweep_dir(folder))
    assert ranking.baseline.missing == {4: "error"} and ranking.groups[0].vs_baseline.diffs.keys() == {3, 5}
    zh = write_report(folder, lang="zh").read_text(encoding="utf-8")
    assert "种子 4（出错）没有基线：" in zh and "；种子 4 没有基线）" in zh
    # a seed the baseline never ran is said too
    values["baseline"] = {3: 0.40, 5: 0.45}
    folder = paired_sweep(tmp_path / "not_run", values, seeds=(3, 4, 5))
    assert "No baseline for seed 4 (not run)" in ranked_table(folder)
    # no baseline at all yet: the line says there is nothing to compare
    values["baseline"] = {3: "running", 4: "running", 5: "error"}
    folder = paired_sweep(tmp_path / "none_yet", values, seeds=(3, 4, 5))
    assert ranked_table(folder).splitlines()[0] == (
        "no comparison with co-training yet: no baseline trial has finished (seeds 3, 4, 5)"
    )


def test_a_raced_config_says_so_and_the_steps_saved_are_said_once(tmp_path):
    values = {"baseline": {3: 0.40, 4: 0.50}, "c000": {3: 0.29, 4: 0.37}, "c001": {3: 0.47}}
    raced = {("c001", 3): {"vs": "c000", "p": 0.031, "seeds_run": [3], "seeds_skipped": [4], "steps_saved": 100}}
    folder = paired_sweep(tmp_path / "raced", values, raced=raced, wandb_mode="offline")
    table = ranked_table(folder)
    row = next(line for line in table.splitlines() if line.startswith("2  "))
    assert row.endswith("finished; raced out (p=0.031 vs c000, seeds run 3)")
    # its one difference (-0.07) gets the SD of c000's two (df 1): an interval, wide
    assert f"-0.07 [{-0.07 - T975_DF1 * math.sqrt(0.0002):.4g}, {-0.07 + T975_DF1 * math.sqrt(0.0002):.4g}]" in row
    assert table.count("training steps saved") == 1
    assert "Racing dropped 1 config(s) early (c001), skipping 1 seed run(s): 100 training steps saved." in table
    zh = write_report(folder, lang="zh").read_text(encoding="utf-8")
    assert "竞速淘汰（对 c000 的胜出概率 p=0.031，已跑种子 3）" in zh and "节省 100 训练步" in zh
    page = write_dashboard(folder).read_text()
    assert "raced out (p=0.031 vs c000, seeds run 3)" in page and page.count("training steps saved") == 1

    # W&B (offline): the ranking run's summary and description carry the line; its table has the baseline row
    from actot.report import finish_sweep
    from wandb_files import wandb_records, wandb_summary

    written = finish_sweep(folder)
    assert written["wandb"] is not None
    lead = str(rank(load_sweep_dir(folder)).lead)
    # c000 alone gives the SD (df 1, t = 12.7): +0.12 ± 0.127 reaches below 0
    assert lead.startswith("no config beats co-training (best: +0.12 [-0.007062, 0.2471] (n=2 seeds")
    assert wandb_summary(folder)["vs_baseline"] == lead
    notes = [
        r.run.notes
        for path in folder.glob("wandb/offline-run-*/run-*.wandb")
        for r in wandb_records(path)
        if r.WhichOneof("record_type") == "run"
    ]
    assert lead in notes
    table = json.loads(next(folder.glob("wandb/offline-run-*/files/media/table/ranking_*.table.json")).read_text())
    columns, rows = table["columns"], table["data"]
    assert rows[0][:2] == [None, "baseline"] and [r[0] for r in rows[1:]] == [1, 2]
    vs = dict(zip(columns, rows[1]))
    assert vs["vs_baseline"] == pytest.approx(0.12) and vs["vs_low"] == pytest.approx(0.12 - T975_DF1 * 0.01)
    assert dict(zip(columns, rows[2]))["raced"] == "raced out (p=0.031 vs c000, seeds run 3)"


def test_sweeps_without_a_baseline_arm_are_unchanged(fixture_dir):
    table = ranked_table(fixture_dir)
    assert "co-training" not in table and "vs baseline" not in table and "n=2, no interval" in table
    assert rank(load_sweep_dir(fixture_dir)).lead is None


def _confirmed_folder(tmp_path, name, values):
    """A paired sweep whose seeds 5 and 6 are the confirm stage's (confirm_of set), c000 its one confirmed config."""
    from actot import sweepdir

    confirm = {
        "confirm": {
            "top_k": 1,
            "seeds": 2,
            "metric": "eval/avg_l1",
            "scope": "last",
            "search_seed": 3,
            "new_seeds": [5, 6],
            "configs": ["c0s3"],
            "points": [{}] * 4,
        }
    }
    folder = paired_sweep(tmp_path / name, values, extra=confirm)
    rows = sweepdir.read_rows(folder)
    for row in rows:
        if row["seed"] in (5, 6):
            row["confirm_of"] = "baseline" if row["arm"] == "baseline" else "c0s3"
    sweepdir.write_rows(folder, rows)
    return folder


def test_the_confirm_table_compares_the_confirmed_configs_to_the_baseline_on_the_fresh_seeds_alone(tmp_path):
    """The confirm stage runs the baseline arm on its new seeds too (confirm_of "baseline"): each confirmed config is
    paired with it on the fresh seeds only; the search's seeds, which chose it, stay in their own column."""
    from actot.report.confirm import confirm_ranking, confirm_table

    values = {
        "baseline": {3: 0.40, 4: 0.50, 5: 0.42, 6: 0.47},
        "c000": {3: 0.29, 4: 0.37, 5: 0.31, 6: 0.35},
        "c001": {3: 0.43, 4: 0.51},
    }
    folder = _confirmed_folder(tmp_path, "confirmed", values)
    sweep = load_sweep_dir(folder)
    ranking = confirm_ranking(sweep)
    assert [g.name for g in ranking.groups] == ["c000"] and ranking.baseline.values == {5: 0.42, 6: 0.47}
    # differences 0.11, 0.12 on the fresh seeds; their SD pooled with the search's differences (c000 0.11, 0.13;
    # c001 -0.03, -0.01): sum of squares 0.0002 + 0.0002 + 0.00005 on df 3, SD 0.012247, t(3) 3.1824
    comparison = ranking.groups[0].vs_baseline
    assert comparison.diffs == pytest.approx({5: 0.11, 6: 0.12}) and comparison.sd_from == "pooled" and comparison.beats
    assert comparison.df == 3
    assert comparison.low == pytest.approx(0.115 - 3.18245 * math.sqrt(0.00045 / 3) / math.sqrt(2), abs=1e-5)
    # the search ranking's values are the search seeds' alone, and it leads with the confirmed comparison
    search = rank(sweep)
    assert {g.name: sorted(t.seed for t in g.counted) for g in search.groups} == {"c000": [3, 4], "c001": [3, 4]}
    assert str(search.lead).startswith("confirmed on fresh seeds 5, 6: beats co-training by +0.115 [")
    table = confirm_table(folder)
    row = next(line for line in table.splitlines() if line.startswith("c000"))
    assert row.split("  ")[0] == "c000 (reg=1)" and "3, 4" in row and "0.33" in row and "5, 6" in row
    assert "0.33  " in row  # the search mean (0.29 + 0.37) / 2 apart from the confirm mean (0.31 + 0.35) / 2 = 0.33
    report = write_report(folder).read_text()
    assert "### co-training seed 5  (finished; trials/bes5)" in report
    assert "confirmed on fresh seeds 5, 6" in report


def test_a_lucky_search_winner_whose_confirm_seeds_lose_is_not_confirmed(tmp_path):
    """c000 beat co-training by 0.12 on the search's seeds (the lucky pick); on the fresh seeds it loses."""
    values = {
        "baseline": {3: 0.40, 4: 0.50, 5: 0.42, 6: 0.47},
        "c000": {3: 0.29, 4: 0.37, 5: 0.45, 6: 0.49},
        "c001": {3: 0.43, 4: 0.51},
    }
    folder = _confirmed_folder(tmp_path, "lucky", values)
    ranking = rank(load_sweep_dir(folder))
    assert ranking.groups[0].vs_baseline.beats  # on the seeds that chose it
    assert str(ranking.lead).startswith("not confirmed on fresh seeds 5, 6: no config beats co-training (best: -0.025")
    assert not ranking.beats_baseline
    zh = write_report(folder, lang="zh").read_text(encoding="utf-8")
    assert "在新种子 5, 6 上未能确认" in zh


def test_rule_advice_names_the_baseline_arm_and_says_what_not_converged_asks(tmp_path):
    import dataclasses

    from actot.report.diagnose import rule_advice

    sweep = load_sweep_dir(paired_sweep(tmp_path / "beats", BEATS))
    flagged = [t.trial_id for t in sweep.trials if t.trial_id in ("bes3", "c0s3")]
    assert len(flagged) == 2
    sweep = dataclasses.replace(
        sweep,
        trials=[dataclasses.replace(t, flags="not_converged") if t.trial_id in flagged else t for t in sweep.trials],
    )
    (line,) = [x for x in rule_advice(sweep) if x.startswith("not_converged")]
    assert line.startswith("not_converged flagged 2 trial(s) (ot.reg 1..1, 1 of them the baseline arm): ")
    assert "raise steps" in line
    (zh,) = [x for x in rule_advice(sweep, "zh") if x.startswith("not_converged")]
    assert "其中 1 个为基线组" in zh and "提高 steps" in zh


def test_p_leader_beats_is_paired_on_the_seeds_like_the_baseline_column(tmp_path):
    """c001 is worse than c000 by 0.02 on each seed, but seed 4 is harder for both: one run of each (unpaired) says
    P(#1 beats) = 0.75; seed by seed, as vs baseline compares, the leader wins every time."""
    values = {"baseline": {3: 0.35, 4: 0.55}, "c000": {3: 0.30, 4: 0.50}, "c001": {3: 0.32, 4: 0.52}}
    folder = paired_sweep(tmp_path / "paired_p", values)
    ranking = rank(load_sweep_dir(folder))
    lead, second = ranking.groups
    assert lead.name == "c000" and second.p_leader_beats == 1.0
    assert any(n.startswith("P(#1 beats) is paired, as vs baseline: ") for n in ranking.notes)
    row = next(line for line in ranked_table(folder).splitlines() if line.startswith("2 "))
    assert " 1.00 " in row
