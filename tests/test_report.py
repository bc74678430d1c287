"""The report layer on a hand-built sweep folder whose numbers are known: table, intervals, seed-format report,
importance, the advisor's next space, the command line; and the bootstrap / P(beats) arithmetic itself."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from actot.errors import ActotError
from actot.report import load_sweep_dir, ranked_table, write_report
from actot.report.importance import knob_importance
from actot.report.load import Trial
from actot.report.rank import rank
from actot.report.stats import mean_interval, overlaps, prob_beats

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ statistics on known numbers
def test_bootstrap_interval_on_known_numbers():
    one = mean_interval([0.4])
    assert (one.mean, one.low, one.high, one.has_width) == (0.4, 0.4, 0.4, False)
    # Two values: resampled means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4.
    two = mean_interval([0.0, 1.0])
    assert (two.mean, two.low, two.high) == (0.5, 0.0, 1.0)
    # Many values: the percentile bootstrap matches the normal interval mean +- 1.96 sd / sqrt(n).
    x = np.random.default_rng(1).normal(3.0, 2.0, 400)
    iv = mean_interval(x)
    half = 1.96 * x.std(ddof=1) / np.sqrt(x.size)
    assert iv.low == pytest.approx(x.mean() - half, abs=0.1 * half)
    assert iv.high == pytest.approx(x.mean() + half, abs=0.1 * half)
    assert mean_interval(x) == iv  # seeded: the same table twice


def test_probability_of_beating_counts_pairs_and_half_ties():
    assert prob_beats([1, 2], [3, 4], "min") == 1.0
    assert prob_beats([1, 3], [2, 4], "min") == 0.75  # 1<2, 1<4, 3<4 of four pairs
    assert prob_beats([1, 3], [2, 4], "max") == 0.25
    assert prob_beats([1], [1], "min") == 0.5
    a, b, c = mean_interval([1, 2, 3]), mean_interval([2.5, 3.5]), mean_interval([10, 11])
    assert overlaps(a, b) and not overlaps(a, c)


# ------------------------------------------------------------------ ranking
def test_repeats_of_one_config_are_ranked_by_mean_with_interval(fixture_dir):
    sweep = load_sweep_dir(fixture_dir)
    ranking = rank(sweep)
    groups = [[t.trial_id for t in g.trials] for g in ranking.groups]
    assert groups == [["t3", "t4", "t5"], ["t6", "t7"], ["t1"], ["t2"]]  # the stopped t2's 0.30 ranks last
    lead, second = ranking.groups[0], ranking.groups[1]
    assert lead.interval.mean == pytest.approx(0.31) and lead.interval.low == pytest.approx(0.30)
    assert second.interval.mean == pytest.approx(0.3275)
    # paired on the seeds both ran (0, 1), as the vs-baseline column: #2 minus #1 is 0.015, 0.03; mean 0.0225,
    # SD 0.015/sqrt(2), se 0.0075, t = 3 on df 1 -> P(#1 beats) = T_1(3) = 0.8976 (unpaired it was 5/6)
    assert second.p_leader_beats == pytest.approx(0.8976, abs=1e-4)
    # t1 ran on seed 0 alone: its difference 0.0535 takes the SD pooled from #2's, as vs baseline does
    assert ranking.groups[2].p_leader_beats == pytest.approx(0.9377, abs=1e-4)
    assert any(n.startswith("P(#1 beats) is paired: ") and "df=1" in n for n in ranking.notes)
    # t6-7 ran with two seeds: no 95% interval from n = 2, so no "cannot be told apart" verdict either (issue 20)
    assert any(n.startswith("#2 (n=2), #3 (n=1): too few trials for a 95% interval") for n in ranking.notes)
    assert not any("cannot be told apart" in n for n in ranking.notes)
    table = ranked_table(fixture_dir)
    assert "[0.3, 0.32]" in table and "0.90" in table and "n=2, no interval" in table


def test_scopes_and_directions(fixture_dir):
    sweep = load_sweep_dir(fixture_dir)
    t1 = next(g for g in rank(sweep, scope="best").groups if g.trials[0].trial_id == "t1")
    assert t1.values == [0.3477]
    t1 = next(g for g in rank(sweep, scope="mean_last_k", k=2).groups if g.trials[0].trial_id == "t1")
    assert t1.values == [pytest.approx((0.3477 + 0.3535) / 2)]
    # eval/success is higher-is-better: ranked by its largest value, never as if lower were better.
    ranking = rank(sweep, metric="eval/success", scope="best")
    assert ranking.better == "max" and ranking.groups[0].values == [0.6]
    with pytest.raises(ActotError, match="healthy range"):
        rank(sweep, metric="ot_pi_sum")
    assert rank(sweep, metric="ot_pi_sum", mode="max").better == "max"
    with pytest.raises(ActotError, match="scope"):
        rank(sweep, scope="median")


def test_intervals_that_do_not_overlap_are_said_to(tmp_path):
    from actot.report.load import Sweep

    def trial(tid, reg, last):
        return Trial(
            tid,
            {"ot.reg": reg},
            "finished",
            history=[{"step": 0, "eval/avg_l1": 1.0}, {"step": 10, "eval/avg_l1": last}],
        )

    trials = [
        trial("a0", 1.0, 0.10),
        trial("a1", 1.0, 0.11),
        trial("a2", 1.0, 0.12),
        trial("b0", 2.0, 0.50),
        trial("b1", 2.0, 0.52),
        trial("b2", 2.0, 0.54),
    ]
    ranking = rank(Sweep(tmp_path, "s", "eval/avg_l1", "min", ["ot.reg"], trials, {}))
    assert ranking.groups[1].p_leader_beats == 1.0
    assert not any("cannot be told apart" in n for n in ranking.notes)
    assert "#1's 95% interval overlaps none of the next configs' intervals." in ranking.notes


def test_intervals_come_from_three_values_or_more(tmp_path):
    """A "95% interval" from n = 2 is the two values' range: not shown, not compared (issue 20)."""
    from actot.report.load import Sweep
    from actot.report.rank import format_table

    def trial(tid, reg, last):
        return Trial(
            tid,
            {"ot.reg": reg},
            "finished",
            history=[{"step": 0, "eval/avg_l1": 1.0}, {"step": 10, "eval/avg_l1": last}],
        )

    two = [trial("a0", 1.0, 0.10), trial("a1", 1.0, 0.20), trial("b0", 2.0, 0.15), trial("b1", 2.0, 0.25)]
    sweep = Sweep(tmp_path, "s", "eval/avg_l1", "min", ["ot.reg"], two, {})
    ranking = rank(sweep)
    assert not ranking.groups[0].interval.has_width
    table = format_table(ranking, sweep)
    assert "n=2, no interval" in table and "[0.1, 0.2]" not in table and "cannot be told apart" not in table
    assert any(n.startswith("The leader ran with 2 seeds: too few for a 95% interval") for n in ranking.notes)
    three = two + [trial("a2", 1.0, 0.15), trial("b2", 2.0, 0.20)]  # overlapping intervals from 3 values each
    sweep = Sweep(tmp_path, "s", "eval/avg_l1", "min", ["ot.reg"], three, {})
    ranking = rank(sweep)
    assert ranking.groups[0].interval.has_width and ranking.groups[1].interval.has_width
    assert any("#1 and #2 cannot be told apart at this budget" in n for n in ranking.notes)
    assert "[0.1, 0.2]" in format_table(ranking, sweep)


def test_no_plus_minus_zero_from_one_held_out_episode(tmp_path):
    """eval/avg_l1_se is 0 with one held-out episode (no spread across one): the table says so, no ±0."""
    from actot.report.load import Sweep
    from actot.report.rank import format_table

    def trial(tid, reg, last, se):
        return Trial(
            tid,
            {"ot.reg": reg},
            "finished",
            history=[
                {"step": 0, "eval/avg_l1": 1.0, "eval/avg_l1_se": se},
                {"step": 10, "eval/avg_l1": last, "eval/avg_l1_se": se, "eval/success": 0.0, "eval/success_se": 0.0},
            ],
        )

    one = {"train": {"data": {"source": "/d/src", "target": "/d/tgt", "n_eval_target": 1}}}
    sweep = Sweep(
        tmp_path, "s", "eval/avg_l1", "min", ["ot.reg"], [trial("a", 1.0, 0.4, 0.0), trial("b", 2.0, 0.5, 0.0)], one
    )
    table = format_table(rank(sweep), sweep)
    assert "±0" not in table and "last eval/avg_l1 (1 held-out episode: no se)" in table
    assert "(±se of one trial)" not in table
    # several held-out episodes: the SE is a measurement and is shown
    many = {"train": {"data": {"source": None, "sim": {"n_eval": 8}}}}
    sweep = Sweep(
        tmp_path, "s", "eval/avg_l1", "min", ["ot.reg"], [trial("a", 1.0, 0.4, 0.031), trial("b", 2.0, 0.5, 0.0)], many
    )
    table = format_table(rank(sweep), sweep)
    assert "(±se of one trial)" in table and "0.4±0.031" in table and "±0\n" not in table and "0.5 " in table


# ------------------------------------------------------------------ the seed-format report
def test_report_matches_hand_computed_first_last_best_delta(fixture_dir):
    text = write_report(fixture_dir, lang="en").read_text()
    block = text[text.index("t1  (finished") :]
    block = block[: block.index("\n\n")]
    assert "  - window_size=10, reg=2, tau=(10,10), heuristic=hard" in block
    assert "  - weight_embed=1, weight_label=0.1, lambda_ot=0.1" in block
    # eval/avg_l1 0.6585 -> 0.3477 (step 50) -> 0.3535: delta -0.305 = -46.32 % of 0.6585
    assert "eval/avg_l1: first=0.6585, last=0.3535, best=0.3477@50, Δ=-0.305 (-46.32%)" in block
    assert "train/loss: first=15.15, last=1.459, best=1.459@100, Δ=-13.69 (-90.37%)" in block
    # a diagnostic, not a score: its lowest and highest, no "best"
    assert "ot_cost(state): first=1246, last=1286, lowest=547.4@50, highest=1286@100, Δ=40 (3.21%)" in block
    # ot_pi_sum has no better end: lowest and highest, not a "best"
    assert "ot_pi_sum: first=0.1536, last=0.03095, lowest=0.001345@50, highest=0.1536@0, Δ=-0.1226 (-79.85%)" in block
    # eval/success is higher-is-better
    assert "eval/success: first=0.2, last=0.5, best=0.6@50, Δ=0.3 (150.00%)" in block
    assert "collapsed plan" in text and "stable" in text and "Which knobs matter" in text


def test_zh_report_uses_the_seed_labels(fixture_dir):
    path = write_report(fixture_dir, lang="zh")
    assert path.name == "report.zh.md"
    text = path.read_text(encoding="utf-8")
    for word in (
        "训练总损失",
        "训练L1",
        "离线评估L1",
        "OT损失",
        "π总和",
        "π对角和",
        "OT cost(state)",
        "诊断与结论",
        "下一步建议",
    ):
        assert word in text, word
    assert "离线评估L1: 首=0.6585, 末=0.3535, 最优=0.3477@50, Δ=-0.305 (-46.32%)" in text
    assert "π 塌缩" in text


# ------------------------------------------------------------------ importance and the advisor
def test_importance_counts_configs_not_trials(fixture_dir, tmp_path):
    """Seeds of one config are one point of the space: the fixture's 6 finished trials are 3 configs, too few."""
    import optuna

    imp = knob_importance(fixture_dir, "fixture")
    assert imp.n_trials == 6 and imp.n_configs == 3 and imp.values == {} and not imp.enough
    assert "too few finished configs for knob importance: 3 config(s) in 6 finished trial(s)" in imp.note
    assert "at least 4 configs" in imp.note
    five = tmp_path / "five"
    five.mkdir()
    study = optuna.create_study(
        study_name="five", storage=f"sqlite:///{five / 'optuna.db'}", sampler=optuna.samplers.RandomSampler(seed=0)
    )
    study.optimize(
        lambda t: t.suggest_float("ot.reg", 0.1, 1.0) + 0.1 * t.suggest_float("ot.tau", 0.1, 1.0), n_trials=5
    )
    imp = knob_importance(five, "five")
    assert imp.n_configs == 5 and set(imp.values) == {"ot.reg", "ot.tau"} and imp.enough
    assert sum(imp.values.values()) == pytest.approx(1.0) and "5 finished trial(s) (5 configs)" in imp.note
    assert "no optuna.db" in knob_importance(tmp_path, "none").note


def _five_configs_and_a_collapse(folder):
    """Five finished configs on one seed each (a and b lead, L1 0.9 -> 0.30 / 0.31: stable) and one collapsed plan."""
    import optuna

    from sweep_fixture import write_sweep

    knobs = {
        "ot.reg": optuna.distributions.FloatDistribution(0.005, 5.0, log=True),
        "ot.tau": optuna.distributions.FloatDistribution(0.01, 30.0, log=True),
    }
    rows = (
        ("a", 1.0, 5.0, 0.30),
        ("b", 0.8, 4.0, 0.31),
        ("c", 2.0, 10.0, 0.40),
        ("d", 0.1, 1.0, 0.45),
        ("e", 4.0, 20.0, 0.50),
    )
    trials = [_search_trial(tid, {"ot.reg": reg, "ot.tau": tau}, last) for tid, reg, tau, last in rows]
    trials.append(
        {
            "trial_id": "z",
            "params": {"ot.reg": 0.01, "ot.tau": 0.02},
            "status": "stopped",
            "seed": 0,
            "stop_rule": "pi_collapse",
            "stop_step": 100,
            "stop_reason": "ot_pi_sum=1e-09 < 0.1",
            "history": [
                {"step": 0, "eval/avg_l1": 0.9, "ot_pi_sum": 0.5},
                {"step": 100, "eval/avg_l1": 0.3, "ot_pi_sum": 1e-9},
            ],
        }
    )
    spec = {"train": {"steps": 100, "ot": {"lambda_ot": 0.1}}}
    return write_sweep(folder, trials, knobs, spec=spec, name=folder.name)


def test_advisor_writes_a_space_that_loads_and_moves_ranges(tmp_path):
    from actot.sweep.space import load_space

    folder = _five_configs_and_a_collapse(tmp_path / "five")
    write_report(folder)
    path = folder / "next_space.yaml"
    text = path.read_text()
    space = load_space(str(path))  # what run_sweep.py space=PATH does first
    reg = space.distributions["ot.reg"]
    assert reg.log and reg.low > 0.01 and reg.low <= 0.8 and reg.high >= 1.0  # best configs kept, collapse out
    assert (reg.low, reg.high) != (0.005, 5.0)
    assert "ot.lambda_ot" in space.distributions  # stable leaders: the seed log's larger lambda_ot
    assert space.point_names == ["leader-a"] and space.starting_points[0]["ot.reg"] == 1.0
    assert "Every range is kept" not in text
    for key in ("ot.reg", "ot.tau", "ot.lambda_ot"):
        comment = text.split(f"\n  {key}:")[0].rsplit("\n", 1)[-1]
        assert comment.startswith(f"  # {key} ") and "->" in comment and ": " in comment, comment


def test_too_few_configs_give_no_importance_no_advice_and_no_narrowing(fixture_dir):
    """The fixture's 3 finished configs (6 trials): PED-ANOVA would still give numbers; they would say nothing."""
    from actot.sweep.space import load_space

    report = write_report(fixture_dir).read_text()
    text = (fixture_dir / "next_space.yaml").read_text()
    space = load_space(str(fixture_dir / "next_space.yaml"))
    reg, tau = space.distributions["ot.reg"], space.distributions["ot.tau"]
    assert (reg.low, reg.high, tau.low, tau.high) == (0.005, 5.0, 0.01, 30.0)
    assert "ot.lambda_ot" not in space.distributions
    assert "# Every range is kept: too few finished configs for knob importance: 3 config(s)" in text
    assert "importance 0." not in report and "too few finished configs for knob importance: 3" in report
    assert (
        "no advice on where to search next (no range narrowed, lambda_ot not raised): too few finished configs"
        in report
        and "raise lambda_ot (e.g. to 0.2)" not in report
    )


# ------------------------------------------------------------------ command line
def _actot(*args):
    return subprocess.run(
        [sys.executable, "-m", "actot", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_command_line(fixture_dir):
    out = _actot("rank", fixture_dir, "scope=best")
    assert out.returncode == 0 and "best eval/avg_l1" in out.stdout and "t3 +2" in out.stdout
    out = _actot("report", fixture_dir, "lang=zh")
    assert out.returncode == 0 and (fixture_dir / "report.zh.md").is_file()
    out = _actot("dashboard", fixture_dir)
    assert out.returncode == 0 and (fixture_dir / "dashboard.html").stat().st_size > 1_000_000
    out = _actot("rank", fixture_dir, "scope=median")  # a process: one line, no traceback
    assert out.returncode == 2 and "scope" in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_command_line_errors_are_one_line(fixture_dir, capsys):
    """The same entry point as `python -m actot` (in this process: test_command_line runs one as a process)."""
    from actot.__main__ import main as actot_main

    assert actot_main(["--help"]) == 0
    for bad, words in (
        (("rank", fixture_dir / "nope"), "no such"),
        (("report", fixture_dir, "lang=fr"), "lang"),
        (("rank", fixture_dir, "metrc=x"), "unknown key"),
    ):
        capsys.readouterr()
        assert actot_main(list(map(str, bad))) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_best_so_far_is_over_every_report_not_the_latest(tmp_path):
    from actot.sweep.store import ResultsStore
    from actot.sweep.space import load_space

    store = ResultsStore(tmp_path, load_space("ot_reg"), "eval/avg_l1", "min", "demo")
    store.start("a", {"ot.reg": 1.0, "ot.tau": 5.0})
    store.add_result("a", {}, {"step": 0, "eval/avg_l1": 0.5})
    store.add_result("a", {}, {"step": 10, "eval/avg_l1": 0.2})
    store.add_result("a", {}, {"step": 20, "eval/avg_l1": 0.4})  # the latest report is worse
    assert store.best_so_far() == 0.2


def test_shrunk_embeddings_are_diagnosed_and_not_called_stable(tmp_path):
    from actot.report.diagnose import diagnose, rule_advice
    from actot.sweep.store import ResultsStore
    from actot.sweep.space import load_space

    store = ResultsStore(tmp_path, load_space("ot_reg"), "eval/avg_l1", "min", "demo")
    for tid, shrink, flags in (("shrunk", 0.04, "embed_collapse"), ("kept", 0.6, None)):
        store.start(tid, {"ot.reg": 2.0, "ot.tau": 10.0})
        store.add_result(tid, {}, {"step": 0, "eval/avg_l1": 0.8, "ot_embed_norm": 11.0})
        store.add_result(
            tid,
            {},
            {
                "step": 200,
                "eval/avg_l1": 0.6,
                "ot_pi_sum": 0.99,
                "ot_cost(state)": 1.0,
                "ot_embed_shrink": shrink * 1.5,
            },
        )
        store.add_result(
            tid,
            {},
            {
                "step": 250,
                "eval/avg_l1": 0.4,
                "ot_pi_sum": 0.99,
                "ot_cost(state)": 0.5,
                "ot_embed_shrink": shrink,
                **({"flags": flags} if flags else {}),
            },
        )
        store.finish(tid)
    (tmp_path / "sweep.json").write_text('{"sweep": {"metric": "eval/avg_l1", "mode": "min", "name": "demo"}}')
    sweep = load_sweep_dir(tmp_path)
    codes = {(f.trial_id, f.code) for f in diagnose(sweep)}
    # a healthy plan and eval L1 down 50 % would be "stable, ready for a larger lambda_ot", but not while
    # OT is shrinking the embeddings
    assert ("shrunk", "embed_collapse") in codes and ("shrunk", "stable") not in codes
    assert ("kept", "stable") in codes and ("kept", "embed_collapse") not in codes
    advice = rule_advice(sweep)
    assert (
        len(advice) == 1 and advice[0].startswith("embed_collapse flagged 1 trial(s)") and "embed_norm=l2" in advice[0]
    )


def test_the_ranking_says_when_finished_trials_were_still_improving(fixture_dir):
    import dataclasses

    from actot.report.rank import format_table, rank

    sweep = load_sweep_dir(fixture_dir)
    assert not any("still improving" in n for n in rank(sweep).notes)  # the fixture logs no trend
    trials = []
    for t in sweep.trials:
        if t.trial_id == "t3":  # still falling at its last report: past not_converged's threshold
            t = dataclasses.replace(t, history=[dict(r, **{"eval/l1_trend": -0.2}) for r in t.history])
        elif t.trial_id == "t4":  # flagged by the rule itself during the sweep
            t = dataclasses.replace(t, flags="not_converged")
        elif t.trial_id == "t5":  # flat: converged
            t = dataclasses.replace(t, history=[dict(r, **{"eval/l1_trend": -0.01}) for r in t.history])
        trials.append(t)
    sweep = dataclasses.replace(sweep, trials=trials)
    ranking = rank(sweep)
    note = next(n for n in ranking.notes if "still improving" in n)
    assert note.startswith("2 of 6 finished trial(s) were still improving") and "eval/l1_trend < -0.05" in note
    assert note in format_table(ranking, sweep)  # the console table and report.md carry it; the dashboard too


def test_a_metric_measured_once_per_trial_is_drawn_as_a_point(fixture_dir):
    """eval/success at the last step only: a single point draws no line, so the dashboard shows a marker."""
    import dataclasses

    from actot.report.dashboard import _curves

    sweep = load_sweep_dir(fixture_dir)
    last_only = [
        dataclasses.replace(
            t, history=[{k: v for k, v in r.items() if k != "eval/success" or i == 2} for i, r in enumerate(t.history)]
        )
        for t in sweep.trials
    ]
    fig = _curves(dataclasses.replace(sweep, trials=last_only))
    success = [tr for tr in fig.data if len(tr.x or ()) == 1 and tr.mode == "markers" and tr.marker.symbol != "x"]
    assert success and all(list(tr.x) == [100] for tr in success)
    assert all(tr.mode == "lines" for tr in fig.data if len(tr.x or ()) > 1)


def test_large_gradients_are_judged_against_the_trials_own_early_level():
    """The seed's grad_norm > 100 fired on every policy=act trial (issue 20): now a trial is flagged only when
    its gradients grew past its own early level, whatever the policy's scale."""
    from actot.report.diagnose import diagnose_trial

    def trial(tid, norms):
        return Trial(
            tid,
            {"ot.reg": 1.0},
            "finished",
            history=[{"step": 25 * (i + 1), "train/grad_norm": g} for i, g in enumerate(norms)],
        )

    full_act = trial("act", [900.0, 420.0, 310.0, 260.0, 240.0])  # above 100 throughout, falling: healthy
    small = trial("small", [205.0, 52.0, 40.0, 30.0, 19.0])  # act_small's measured shape (bench/data)
    growing = trial("growing", [30.0, 20.0, 18.0, 25.0, 48.0])  # below 100, but grew past its start
    short = trial("short", [10.0, 20.0, 900.0])  # too few reports to tell end from start
    codes = {t.trial_id: {f.code for f in diagnose_trial(t)} for t in (full_act, small, growing, short)}
    assert "grad_norm_large" not in codes["act"] | codes["small"] | codes["short"]
    assert "grad_norm_large" in codes["growing"]
    text = next(f.en for f in diagnose_trial(growing) if f.code == "grad_norm_large")
    assert "last 48 > its early level 20" in text


# ------------------------------------------------------------------ advice within reach (issue 20)
def _advice_trials():
    def trial(tid, rows, status="finished"):
        return Trial(tid, {"ot.tau": 5.0}, status, history=[{"step": 25 * i, **r} for i, r in enumerate(rows)])

    flat = trial("flat", [{"ot_pi_sum": 0.6, "ot_cost(state)": 1.0}, {"ot_pi_sum": 0.6, "ot_cost(state)": 0.98}])
    grow = trial("grow", [{"train/grad_norm": g, "ot_pi_sum": 0.5} for g in (30.0, 20.0, 18.0, 25.0, 48.0)])
    col = trial("col", [{"ot_pi_sum": 0.5}, {"ot_pi_sum": 0.01}])
    return [flat, grow, col]


def _advice(knobs, fixed, data):
    from actot.report.diagnose import diagnose
    from actot.report.load import Sweep

    sweep = Sweep(
        Path("/nonexistent"),
        "s",
        "eval/avg_l1",
        "min",
        knobs,
        _advice_trials(),
        {"space": {"fixed": fixed}, "train": {"data": data, "ot": {"weight_label": 0.1}}},
    )
    return {(f.trial_id, f.code): f for f in diagnose(sweep)}


def test_no_advice_for_a_knob_the_space_fixes_or_does_not_search():
    # ot_full's shape: reg fixed, tau and weight_label searched; a dataset with cameras
    found = _advice(["ot.tau", "ot.weight_label"], {"ot.reg": 2.0, "ot.heuristic": "hard"}, {"source": None})
    assert found["grow", "grad_norm_large"].en.endswith(": lr x0.7")  # no "reg x1.3": reg is fixed
    assert found["col", "collapsed"].en.endswith(": raise tau (e.g. to 20)")
    flat = found["flat", "large_plan_flat_cost"].en
    assert "lower weight_label (x0.5) or try embed-only (weight_label=0)" in flat and "reg" not in flat.split(":")[-1]
    # reg neither searched nor fixed: held at the training config's value, so not advised either
    found = _advice(["ot.tau"], {}, {"source": None})
    assert "reg" not in found["grow", "grad_norm_large"].en.split(":")[-1]
    assert "weight_label (x0.5)" not in found["flat", "large_plan_flat_cost"].en  # not searched
    # every remedy out of reach: said, not advised
    found = _advice(["ot.window_size"], {"ot.reg": 2.0, "ot.tau": [10.0, 10.0]}, {"source": None})
    col = found["col", "collapsed"]
    assert col.actions == [] and col.en.endswith(
        "no advice within this sweep: ot.reg is fixed by the space; ot.tau is fixed by the space"
    )


def test_no_camera_advice_on_data_without_cameras(tmp_path):
    from actot.report.load import Sweep
    from conftest import SO101, need

    found = _advice(["ot.tau", "ot.weight_label"], {}, {"source": "/d/src", "target": "/d/tgt", "cameras": []})
    flat = found["flat", "large_plan_flat_cost"]
    assert "embed-only" not in flat.en and "lower weight_label (x0.5)" in flat.en

    # data.cameras null takes the dataset's cameras: read from its meta/info.json
    import json
    import shutil

    so101 = need(SO101)
    with_cams, state_only = tmp_path / "so101", tmp_path / "so101_state"
    shutil.copytree(so101 / "meta", with_cams / "meta")
    shutil.copytree(so101 / "meta", state_only / "meta")
    info = json.loads((state_only / "meta/info.json").read_text())
    info["features"] = {k: v for k, v in info["features"].items() if v["dtype"] not in ("video", "image")}
    (state_only / "meta/info.json").write_text(json.dumps(info))

    def cameras(data, trial_configs=None):
        folder = tmp_path / f"sweep{len(list(tmp_path.iterdir()))}"
        for tid, config in (trial_configs or {}).items():
            (folder / "trials" / tid).mkdir(parents=True)
            (folder / "trials" / tid / "config.json").write_text(json.dumps(config))
        trials = [Trial(tid, {}, "finished") for tid in (trial_configs or {"t": None})]
        return Sweep(folder, "s", "eval/avg_l1", "min", [], trials, {"train": {"data": data}}).data_cameras()

    assert cameras({"source": str(state_only), "target": str(state_only), "cameras": None}) == []
    assert cameras({"source": str(with_cams), "target": str(with_cams), "cameras": None}) == [
        "observation.images.front",
        "observation.images.top",
    ]
    assert cameras({"source": None, "cameras": None}) == [
        "observation.images.top",
        "observation.images.side",
        "observation.images.wrist",
    ]  # the embedded sim
    # the trials' own configs say what they ran with
    data = {"source": str(with_cams), "target": str(with_cams), "cameras": None}
    assert cameras(data, {"a": {"data": {**data, "cameras": []}}, "b": {"data": {**data, "cameras": []}}}) == []
    # a dataset that is gone: unknown, so camera advice is kept rather than wrongly dropped
    assert cameras({"source": "/gone", "target": "/gone", "cameras": None}) is None


def test_the_report_and_next_space_leave_a_fixed_lambda_ot_alone(fixture_dir):
    import json

    from actot.sweep.space import load_space

    spec = json.loads((fixture_dir / "sweep.json").read_text())
    spec["space"]["fixed"]["ot.lambda_ot"] = 0.1
    (fixture_dir / "sweep.json").write_text(json.dumps(spec))
    text = write_report(fixture_dir).read_text()
    assert "stable" in text and "raise lambda_ot" not in text and "larger lambda_ot" not in text
    assert "ot.lambda_ot is fixed by the space" in text
    space = load_space(str(fixture_dir / "next_space.yaml"))
    assert "ot.lambda_ot" not in space.distributions and space.fixed["ot.lambda_ot"] == 0.1


# ------------------------------------------------------------------ the advisor on too little evidence (issue 20)
def _search_trial(tid, params, last, seed=0, confirm_of=None, status="finished"):
    return {
        "trial_id": tid,
        "params": params,
        "status": status,
        "seed": seed,
        "confirm_of": confirm_of,
        "history": [
            {"step": 0, "eval/avg_l1": 0.9, "ot_pi_sum": 0.5},
            {"step": 100, "eval/avg_l1": last, "ot_pi_sum": 0.5},
        ],
    }


def test_too_few_trials_keep_every_range_and_say_why(tmp_path):
    """Three starting points that all used tau 10 (importance: too few) must not narrow tau to 5..20."""
    import optuna

    from actot.sweep.space import load_space
    from sweep_fixture import write_sweep

    knobs = {
        "ot.tau": optuna.distributions.FloatDistribution(0.005, 30.0, log=True),
        "ot.window_size": optuna.distributions.IntDistribution(0, 30),
    }
    trials = [
        _search_trial(f"p{i}", {"ot.tau": 10.0, "ot.window_size": w}, last)
        for i, (w, last) in enumerate(((30, 0.4), (20, 0.45), (30, 0.5)))
    ]
    folder = write_sweep(tmp_path / "few", trials, knobs, name="few")
    write_report(folder)
    text = (folder / "next_space.yaml").read_text()
    space = load_space(str(folder / "next_space.yaml"))
    tau, window = space.distributions["ot.tau"], space.distributions["ot.window_size"]
    assert (tau.low, tau.high, window.low, window.high) == (0.005, 30.0, 0, 30)
    comment = text.split("\n  ot.tau:")[0].rsplit("\n", 1)[-1]
    # p0 and p2 are one config (tau 10, window 30): 2 configs in 3 trials
    assert "kept: too few finished configs for knob importance: 2 config(s) in 3 finished trial(s)" in comment
    assert "would be a guess" in comment


def test_the_confirm_stages_leader_is_never_excluded(tmp_path):
    """The search's one-seed order put window sizes 24-30 first; the confirm stage ranked window 4 first
    (SO-101, issue 20). Its order comes first: 4 stays in the range and leads the next search."""
    import optuna

    from actot.sweep.space import load_space
    from sweep_fixture import write_sweep

    knobs = {"ot.window_size": optuna.distributions.IntDistribution(0, 30)}
    search = [("A", 30, 0.20), ("B", 28, 0.22), ("C", 4, 0.23), ("G", 26, 0.24), ("H", 24, 0.245), ("D", 10, 0.40)]
    trials = [_search_trial(tid, {"ot.window_size": w}, last) for tid, w, last in search]
    repeats = {"A": (0.31, 0.33), "B": (0.30, 0.31), "C": (0.26, 0.27)}  # the confirm stage: top 3, 2 new seeds
    trials += [
        _search_trial(
            f"{tid}{s}", {"ot.window_size": dict((t, w) for t, w, _ in search)[tid]}, last, seed=s, confirm_of=tid
        )
        for tid, lasts in repeats.items()
        for s, last in enumerate(lasts, start=1)
    ]
    confirm = {
        "confirm": {
            "top_k": 3,
            "seeds": 2,
            "metric": "eval/avg_l1",
            "scope": "last",
            "search_seed": 0,
            "configs": ["A", "B", "C"],
            "points": [{}] * 6,
        }
    }
    folder = write_sweep(tmp_path / "so101", trials, knobs, spec=confirm, name="so101")
    sweep = load_sweep_dir(folder)
    # the search's ranking reads the search's seed alone (30, 28 first; the confirm seeds never join it): narrowed on
    # it, window_size would center on 28-30, where the confirm seeds say 4 is best
    assert [g.config["ot.window_size"] for g in rank(sweep).groups][:3] == [30, 28, 4]
    write_report(folder)
    text = (folder / "next_space.yaml").read_text()
    space = load_space(str(folder / "next_space.yaml"))
    window = space.distributions["ot.window_size"]
    assert window.low <= 4 <= window.high
    assert space.starting_points[0]["ot.window_size"] == 4 and space.point_names == ["leader-C"]
    assert "the confirm stage's order first" in text and "as its confirm stage ranked it" in text


def test_confirm_trials_are_named_by_the_search_trial_they_repeat(tmp_path):
    """Ray names confirm trials 71594_00000: tables show `<search trial> seed <s>` instead (issue 20)."""

    import optuna

    from actot.report import write_dashboard
    from actot.report.confirm import confirm_ranking, confirm_table
    from actot.report.rank import format_table
    from sweep_fixture import write_sweep

    knobs = {"ot.reg": optuna.distributions.FloatDistribution(0.01, 5.0, log=True)}
    trials = [_search_trial("a1b2c3d4", {"ot.reg": 1.0}, 0.30), _search_trial("e5f6a7b8", {"ot.reg": 2.0}, 0.35)]
    trials += [
        _search_trial(f"71594_0000{i}", {"ot.reg": 1.0}, last, seed=i + 1, confirm_of="a1b2c3d4")
        for i, last in enumerate((0.31, 0.33))
    ]
    confirm = {
        "confirm": {
            "top_k": 1,
            "seeds": 2,
            "metric": "eval/avg_l1",
            "scope": "last",
            "search_seed": 0,
            "configs": ["a1b2c3d4"],
            "points": [{}] * 2,
        }
    }
    folder = write_sweep(tmp_path / "named", trials, knobs, spec=confirm, name="named")
    assert "a1b2c3d4 seed 1 (reg=1)" in confirm_table(folder) and "71594" not in confirm_table(folder)
    report = write_report(folder).read_text()
    assert "### a1b2c3d4 seed 1  (finished; trials/71594_00000)" in report  # the confirm section's, unranked
    assert "### a1b2c3d4 seed 2  (finished; trials/71594_00001)" in report
    zh = write_report(folder, lang="zh").read_text(encoding="utf-8")
    assert "### a1b2c3d4 种子 1" in zh
    page = write_dashboard(folder).read_text()
    assert '<td class="l">a1b2c3d4 seed 2</td>' in page and ">71594_00001<" not in page
    # the confirm stage's own ranking (its seeds alone): the confirm trial that leads the group is named too
    sweep = load_sweep_dir(folder)
    table = format_table(confirm_ranking(sweep), sweep)
    assert "a1b2c3d4 seed 1 +1" in table and "71594" not in table


def test_zh_report_has_chinese_table_headers_and_fixed_texts(fixture_dir):
    text = write_report(fixture_dir, lang="zh").read_text(encoding="utf-8")
    table = text[text.index("```\n") + 4 : text.index("\n```", text.index("```\n"))]
    head = table.splitlines()[0].split()
    assert head[:4] == ["#", "试验", "状态", "n"] and "95%" in head and "说明" in head and "末" in head
    for english in (
        "trial",
        "status",
        "interval",
        "why",
        "best@step",
        "finished",
        "ranked by",
        "lower is better",
        "too few trials",
        "best value",
    ):
        assert english not in table, english
    assert "（按 末 离线评估L1 排名，越低越好；n = 每个配置计入的试验数）" in table
    assert "n=2，无区间" in table and "试验太少，不足以给出 95% 区间" in table and "已停止" in table
    assert "试验：6 完成，1 已停止。" in text and "### #1 t3  (完成；trials/t3)" in text
    # the console and report.md keep English
    assert "(ranked by last eval/avg_l1, lower is better" in write_report(fixture_dir).read_text()


def test_finishing_a_confirm_stage_refreshes_every_report(tmp_path):
    """The search wrote report.zh.md (lang=zh); the confirm stage, run without lang=zh, rewrites it too."""
    import optuna

    from actot.report import finish_sweep
    from sweep_fixture import write_sweep

    knobs = {"ot.reg": optuna.distributions.FloatDistribution(0.01, 5.0, log=True)}
    trials = [_search_trial("a1b2c3d4", {"ot.reg": 1.0}, 0.30), _search_trial("e5f6a7b8", {"ot.reg": 2.0}, 0.35)]
    folder = write_sweep(tmp_path / "zh", trials, knobs, name="zh")
    written = finish_sweep(folder, lang="zh")  # the end of the search
    assert {"report_en", "report_zh"} <= set(written)
    before = (folder / "report.zh.md").read_text(encoding="utf-8")
    assert "a1b2c3d4 种子" not in before

    from actot import sweepdir

    trials += [
        _search_trial(f"71594_0000{i}", {"ot.reg": 1.0}, last, seed=i + 1, confirm_of="a1b2c3d4")
        for i, last in enumerate((0.31, 0.33))
    ]
    sweepdir.write_rows(folder, sweepdir.rows_of(sweepdir.TrialRecord(**t) for t in trials))
    written = finish_sweep(folder, lang="en")  # the end of the confirm stage: stage=confirm, no lang=zh
    assert written["report_zh"] == folder / "report.zh.md"
    after = (folder / "report.zh.md").read_text(encoding="utf-8")
    assert "a1b2c3d4 种子 1" in after and "确认阶段（新种子）" in after and "状态" in after


def test_on_real_data_an_embed_collapse_config_never_leads_and_the_table_says_what_the_order_is_worth(tmp_path):
    """A LeRobot sweep ranks by held-out L1, which cannot see OT shrinking the features: the flagged config has the
    lowest L1 but is ranked after the others, and the table carries the benchmark's validity line."""
    import optuna

    from actot.metrics import validity_line
    from actot.report.rank import format_table
    from sweep_fixture import write_sweep

    knobs = {"ot.reg": optuna.distributions.FloatDistribution(0.01, 5.0, log=True)}
    trials = [
        _search_trial("shrunk", {"ot.reg": 0.1}, 0.20),
        _search_trial("fine", {"ot.reg": 1.0}, 0.30),
        _search_trial("worse", {"ot.reg": 3.0}, 0.40),
    ]
    trials[0]["flags"] = "embed_collapse"
    real = {"train": {"steps": 100, "data": {"source": "/data/sim_side", "target": "/data/real_side"}}}
    folder = write_sweep(tmp_path / "real", trials, knobs, spec=real, name="real")
    sweep = load_sweep_dir(folder)
    assert sweep.real_data
    assert [g.name for g in rank(sweep).groups] == ["fine", "worse", "shrunk"]
    text = format_table(rank(sweep), sweep)
    assert validity_line("eval/avg_l1")[0] in text and "flagged embed_collapse" in text
    assert validity_line("eval/avg_l1")[1] in format_table(rank(sweep), sweep, lang="zh")
    # The same trials on the embedded sim (no data.source): the order is the metric's own.
    sim = write_sweep(tmp_path / "sim", trials, knobs, name="sim")
    assert [g.name for g in rank(load_sweep_dir(sim)).groups] == ["shrunk", "fine", "worse"]


def test_the_live_dashboard_is_drawn_at_most_once_per_interval_and_a_late_end_is_drawn_when_it_is_up(fixture_dir):
    """Trials that end within the interval of the last drawing are drawn once it is up (at a controller step), not
    each: a page is drawn from the whole folder. The interval is set, not waited for: no timing in the test."""
    from actot.report.live import DashboardRefresher

    page = fixture_dir / "dashboard.html"
    live = DashboardRefresher(fixture_dir, every_s=3600)
    live.on_trial_complete(0, [], None)  # the first end: drawn at once
    assert page.is_file()
    page.unlink()
    live.on_trial_complete(1, [], None)  # within the interval: not yet
    live.on_step_end(1, [])
    assert not page.exists()
    live.every_s = 0  # the interval is up
    live.on_step_end(2, [])  # the pending end is drawn
    assert page.is_file()
    page.unlink()
    live.on_step_end(3, [])  # nothing pending: nothing drawn
    assert not page.exists()
    live.on_trial_error(4, [], None)  # an error after the interval: drawn at once
    assert page.is_file()
