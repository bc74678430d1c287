"""The sequential confirm stage's decision rule (actot/report/sequential.py) on known numbers and constructed
histories; its settings' checks; a constructed sweep folder read by the report (the lead, the driver's lines).
No Ray: the real sweep is in tests/test_sweep_paired.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from actot.errors import ActotError
from actot.report.sequential import (
    FUTILITY,
    SPENDING,
    Design,
    boundaries,
    config_history,
    fractions_of,
    history,
    look,
    pooled,
    spend,
    stop_note,
)

# Lan-DeMets boundaries for 5 equally spaced looks, one-sided 0.025 (Jennison & Turnbull table 7.6; gsDesign's
# sfLDOF and sfLDPocock give the same to 3 decimals)
OBF_5 = (4.877, 3.357, 2.680, 2.290, 2.031)
POCOCK_5 = (2.438, 2.427, 2.410, 2.397, 2.386)
SPREAD = [[0.1, -0.1], [0.05, -0.05], [0.2, 0.0]]  # a search's differences: 3 configs on 2 seeds (df 3)


def test_boundaries_are_the_published_lan_demets_ones():
    fractions = tuple(i / 5 for i in range(1, 6))
    assert boundaries(fractions, 0.025, "obrien-fleming") == pytest.approx(OBF_5, abs=0.002)
    assert boundaries(fractions, 0.025, "pocock") == pytest.approx(POCOCK_5, abs=0.002)
    assert boundaries((0.5, 1.0), 0.025, "obrien-fleming") == pytest.approx((2.963, 1.969), abs=0.002)
    # one look at the end is the fixed test
    assert boundaries((1.0,), 0.025, "pocock") == pytest.approx((1.95996,), abs=1e-4)
    with pytest.raises(ValueError, match="must increase"):
        boundaries((0.5, 0.5), 0.025, "pocock")


def test_spending_functions_spend_all_of_it_at_the_cap_and_obrien_fleming_little_early():
    for kind in SPENDING:
        assert spend(kind, 0.025, 1.0) == pytest.approx(0.025) and spend(kind, 0.025, 2.0) == pytest.approx(0.025)
        assert spend(kind, 0.025, 0.0) == 0.0
        values = [spend(kind, 0.025, t) for t in np.linspace(0.1, 1, 10)]
        assert values == sorted(values)
    assert spend("obrien-fleming", 0.025, 1 / 3) < 0.001 < spend("pocock", 0.025, 1 / 3)


def test_the_pooled_sd_is_the_reports():
    from actot.report.stats import pooled_sd

    assert pooled([0.3, 0.1, 0.2], SPREAD) == pytest.approx(pooled_sd([[0.3, 0.1, 0.2], *SPREAD]))
    assert pooled([0.3], []) == (pytest.approx(math.nan, nan_ok=True), 0)


def test_a_clear_win_is_claimed_at_the_look_that_crosses_and_the_interval_says_it():
    design = Design(6, "obrien-fleming", effect=0.2, beta=0.2, futility="pocock")
    looks = history([[0.3, 0.32], [0.3, 0.32, 0.31], [0.3, 0.32, 0.31, 0.3]], design, SPREAD)
    assert [one.decision for one in looks] == ["continue", "claim"]  # it stops at the claim: look 3 never counts
    first, second = looks
    # O'Brien-Fleming spends almost nothing at 2 of 6 seeds: a claim there would need +0.97
    assert first.claim_at == pytest.approx(0.9711, abs=1e-3) and first.low < 0
    assert second.mean == pytest.approx(0.31) and second.claim_at == pytest.approx(0.2956, abs=1e-3)
    assert second.low == pytest.approx(second.mean - second.claim_at) and second.low > 0  # claim <=> low > 0
    assert (second.n, second.df, second.look) == (3, 5, 2)


def test_a_loss_is_stopped_for_futility_and_without_futility_runs_to_the_cap():
    loss = [[-0.2, -0.1], [-0.2, -0.1, 0.0], [-0.2, -0.1, 0.0, -0.1]]
    futile = history(loss, Design(4, "obrien-fleming", effect=0.2), SPREAD)
    assert [one.decision for one in futile] == ["futile"]
    assert futile[0].mean == pytest.approx(-0.15) and futile[0].mean <= futile[0].rule_out_at
    capped = history(loss, Design(4, "obrien-fleming", effect=None), SPREAD)
    assert [one.decision for one in capped] == ["continue", "continue", "cap"]
    assert capped[-1].final and capped[-1].rule_out_at is None
    # the same differences with a smaller cap: the last look spends all of alpha (the fixed test's t at the end)
    small = history([[0.1, 0.0], [0.1, 0.0, 0.05]], Design(3, "obrien-fleming"), SPREAD)
    assert [one.decision for one in small] == ["continue", "cap"]


def test_an_undecided_config_continues_until_a_boundary_and_the_note_says_what_the_next_look_needs():
    design = Design(6, "obrien-fleming", effect=0.2)
    looks = history([[0.1, 0.2], [0.1, 0.2, 0.15], [0.1, 0.2, 0.15, 0.3]], design, SPREAD)
    assert [one.decision for one in looks] == ["continue"] * 3
    said = stop_note(looks[-1], design)
    assert str(said) == (
        "look 3 (4 of at most 6 fresh seeds): undecided, more seeds to come (a claim needs > +0.191; "
        "+0.2 ruled out at <= +0.12)"
    )
    assert said.in_lang("zh").startswith("第 3 次查看（4 个新种子，上限 6）：尚未判定")


def test_more_confirmed_configs_raise_the_boundary_and_pocock_claims_earlier():
    diffs = [0.3, 0.32, 0.31]
    one = look(diffs, [2], Design(6, "obrien-fleming"), SPREAD)
    two = look(diffs, [2], Design(6, "obrien-fleming"), SPREAD, m=2)
    assert two.claim_at > one.claim_at
    early = look([0.3, 0.32], [], Design(6, "pocock"), SPREAD)
    late = look([0.3, 0.32], [], Design(6, "obrien-fleming"), SPREAD)
    assert early.claim_at < late.claim_at


def test_a_look_that_added_no_pair_changes_nothing_and_keeps_its_number():
    design = Design(6, "obrien-fleming", effect=0.2)
    assert fractions_of([2, 2, 3], 6, final=False) == (round(2 / 6, 9), 0.5)
    assert fractions_of([2, 3], 6, final=True) == (round(2 / 6, 9), 1.0)
    looks = history([[0.1, 0.2], [0.1, 0.2], [0.1, 0.2, 0.15]], design, SPREAD)
    assert [one.look for one in looks] == [1, 2, 3]
    assert looks[0].claim_at == pytest.approx(looks[1].claim_at)
    assert looks[2].claim_at == pytest.approx(look([0.1, 0.2, 0.15], [2], design, SPREAD).claim_at)


def test_a_configs_history_from_its_looks_seeds_leaves_out_seeds_without_a_pair():
    design = Design(4, "obrien-fleming", effect=0.05)
    diffs = {5: 0.05, 6: 0.15, 7: 0.12}  # seed 8 (look 3) has no pair: its baseline trial failed
    looks = config_history([[5, 6], [7]], diffs, design, [[0.11, 0.13], [-0.03, -0.01]])
    assert [(one.look, one.n, one.decision) for one in looks] == [(1, 2, "continue"), (2, 3, "claim")]
    capped = config_history([[5, 6], [7], [8]], {5: 0.05, 6: 0.15, 7: -0.05}, design, [[0.11, 0.13], [-0.03, -0.01]])
    assert [(one.look, one.n, one.decision) for one in capped] == [
        (1, 2, "continue"),
        (2, 3, "continue"),
        (3, 3, "cap"),
    ]


def test_false_claims_stay_at_alpha_on_null_differences():
    """Normal differences with no effect, the SD pooled with a 3-config, 2-seed search: the share of sequences that
    ever claim is about the one-sided 2.5% (the t boundaries are the z ones' nominal levels: near, not exact)."""
    rng = np.random.default_rng(0)
    for design in (Design(6, "obrien-fleming", effect=0.2), Design(6, "pocock")):
        claims = 0
        for _ in range(1500):
            spread = [list(rng.normal(0, 0.17, 2)) for _ in range(3)]
            d = list(rng.normal(0, 0.17, 6))
            looks = history([d[:n] for n in range(2, 7)], design, spread)
            claims += looks[-1].decision == "claim"
        assert claims / 1500 < 0.04, (design, claims)


def test_the_settings_agree_with_the_rule_and_are_refused_in_one_line():
    from actot.sweep import config as sweep_config
    from actot.sweep.config import SweepConfig, apply_cli

    assert sweep_config.SPENDING == SPENDING and sweep_config.FUTILITY == FUTILITY
    on = [
        "confirm.top_k=1",
        "confirm.seeds=2",
        "confirm.sequential.enabled=true",
        "paired.seeds=2",
        "paired.baseline={ot.lambda_ot: 0.0}",
    ]
    cfg = apply_cli(SweepConfig(), on + ["confirm.sequential.effect=0.2"], "sweeps/local.yaml")
    assert cfg.confirm.sequential.enabled and cfg.confirm.sequential.max_seeds == 4  # the bench's pick
    assert apply_cli(SweepConfig(), on + ["confirm.sequential.futility=none"]).confirm.sequential.effect is None
    on.append("confirm.sequential.effect=0.2")
    for words, says in (
        (
            ["confirm.sequential.max_seeds=1"],
            "confirm.sequential.max_seeds=1 is out of range; it must be >= confirm.seeds (2",
        ),
        (["confirm.sequential.seeds_per_look=0"], "confirm.sequential.seeds_per_look=0 is out of range"),
        (
            ["confirm.sequential.spending=linear"],
            "confirm.sequential.spending='linear' is out of range; it must be one of obrien-fleming, pocock",
        ),
        (["confirm.sequential.futility=always"], "confirm.sequential.futility='always'"),
        (["confirm.sequential.beta=0.7"], "confirm.sequential.beta=0.7"),
        (["confirm.sequential.effect=-0.1"], "confirm.sequential.effect=-0.1 is out of range; it must be > 0"),
        (
            ["confirm.sequential.effect=null"],
            "confirm.sequential.effect=None: the futility stop rules out a gain "
            "of `effect` at beta, so it must be stated",
        ),
    ):
        with pytest.raises(ActotError) as err:
            apply_cli(SweepConfig(), on + words, "sweeps/local.yaml")
        assert "\n" not in str(err.value) and str(err.value).startswith("sweeps/local.yaml with the command line: ")
        assert says in str(err.value), str(err.value)
    with pytest.raises(ActotError, match=r"enabled=true needs a confirm stage.*set both") as err:
        apply_cli(SweepConfig(), ["confirm.sequential.enabled=true"])
    with pytest.raises(ActotError, match="no baseline arm; add paired.baseline"):
        apply_cli(SweepConfig(), ["confirm.top_k=1", "confirm.seeds=2", "confirm.sequential.enabled=true"])


def _sequential_folder(tmp_path, values, looks, extra_points=0):
    """A paired sweep (search seeds 3, 4) whose confirm stage is sequential: c000 (trial c0s3) confirmed, the looks'
    seeds as given; eval/avg_l1 (lower is better), so a difference is co-training's value minus the config's."""
    from actot import sweepdir
    from sweep_fixture import paired_sweep

    seeds = [s for one in looks for s in one]
    confirm = {
        "confirm": {
            "top_k": 1,
            "seeds": len(looks[0]),
            "metric": "eval/avg_l1",
            "scope": "last",
            "search_seed": 3,
            "new_seeds": seeds,
            "configs": ["c0s3"],
            "points": [{}] * (2 * len(seeds) + extra_points),
            "sequential": {
                "max_seeds": 4,
                "seeds_per_look": 1,
                "spending": "obrien-fleming",
                "effect": 0.05,
                "beta": 0.2,
                "futility": "pocock",
            },
            "looks": [{"seeds": one, "configs": ["c0s3"]} for one in looks],
        }
    }
    folder = paired_sweep(tmp_path, values, extra=confirm)
    rows = sweepdir.read_rows(folder)
    for row in rows:
        if row["seed"] in seeds:
            row["confirm_of"] = "baseline" if row["arm"] == "baseline" else "c0s3"
    sweepdir.write_rows(folder, rows)
    return folder


SEARCH = {"baseline": {3: 0.40, 4: 0.50}, "c000": {3: 0.29, 4: 0.37}, "c001": {3: 0.43, 4: 0.51}}


def test_the_report_and_the_driver_say_where_a_sequential_confirm_stage_stands(tmp_path):
    from actot.report import load_sweep_dir
    from actot.report.confirm import confirm_ranking, confirm_table, look_decision
    from actot.report.rank import rank

    # look 1 on seeds 5, 6: differences 0.05, 0.15 (undecided); look 2 on seed 7: 0.12, claimed
    first = {k: {**v} for k, v in SEARCH.items()}
    first["baseline"].update({5: 0.42, 6: 0.47})
    first["c000"].update({5: 0.37, 6: 0.32})
    folder = _sequential_folder(tmp_path / "look1", first, [[5, 6]])
    undecided, lines = look_decision(folder)
    assert undecided == ["c0s3"] and len(lines) == 1
    assert lines[0].startswith(
        "confirm: c000 (reg=1) vs co-training +0.1 [-0.165, 0.365]: look 1 (2 of at most 4 "
        "fresh seeds): undecided, more seeds to come (a claim needs > +0.265"
    )

    both = {k: {**v} for k, v in first.items()}
    both["baseline"][7], both["c000"][7] = 0.45, 0.33
    folder = _sequential_folder(tmp_path / "look2", both, [[5, 6], [7]])
    assert look_decision(folder)[0] == []
    sweep = load_sweep_dir(folder)
    ranking = confirm_ranking(sweep)
    group = ranking.groups[0]
    assert [one.decision for one in group.looks] == ["continue", "claim"]
    assert group.vs_baseline.beats and group.vs_baseline.low == pytest.approx(0.02303, abs=1e-4)
    lead = str(ranking.lead)
    assert lead.startswith(
        "confirmed on fresh seeds 5, 6, 7: beats co-training by +0.1067 [0.02303, 0.1903] (n=3 "
        "seeds, repeated 95% interval of a sequential test"
    )
    assert lead.endswith(
        "; stopped at look 2 (3 of at most 4 fresh seeds): the claim boundary is crossed (+0.107 > +0.0836)"
    )
    assert "在第 2 次查看时停止" in ranking.lead.in_lang("zh")
    assert str(rank(sweep).lead) == lead  # the search's table leads with it too
    table = confirm_table(folder)
    assert "sequential: 2 look(s), 3 of at most 4 fresh seeds" in table
    assert (
        "Sequential confirmation (O'Brien-Fleming-type spending of a one-sided 2.5% claim over the looks; "
        "futility: a gain of +0.05 ruled out at beta 0.2, Pocock-type spending, non-binding; at most 4 fresh "
        "seeds, 1 more a look): c000 (reg=1): look 1 (n=2) +0.1 [-0.165, 0.365]: continue; look 2 (n=3) "
        "+0.107 [0.023, 0.19]: claimed."
    ) in table

    # the cap reached undecided: not confirmed, and the lead says so
    capped = {k: {**v} for k, v in first.items()}
    capped["baseline"].update({7: 0.45, 8: 0.40})
    capped["c000"].update({7: 0.50, 8: 0.38})
    folder = _sequential_folder(tmp_path / "cap", capped, [[5, 6], [7], [8]])
    undecided, lines = look_decision(folder)
    ranking = confirm_ranking(load_sweep_dir(folder))
    assert [one.decision for one in ranking.groups[0].looks] == ["continue", "continue", "cap"]
    assert undecided == [] and "stopped at the seed cap, look 3 (4 fresh seeds): undecided" in lines[0]
    assert str(ranking.lead).startswith("not confirmed on fresh seeds 5, 6, 7, 8: no config beats co-training")
    assert not ranking.beats_baseline


def test_the_power_bound_is_the_known_sd_z_tests_power_and_its_seed_count_reaches_80_percent():
    from bench.selection_calibration import power_bound

    fresh, bound, need, compute = power_bound(0.17, k=3, s=2)
    assert fresh == 2  # 1.5x of 3 * 2 + 2 trials leaves 4: two fresh seeds of the leader and co-training
    rng = np.random.default_rng(0)
    diffs = rng.normal(0.20, 0.17, size=(200_000, 2 + fresh))
    z = diffs.mean(axis=1) / (0.17 / np.sqrt(2 + fresh))
    assert abs(float((z > stats.norm.ppf(0.975)).mean()) - bound) < 0.005
    assert need == 6 and compute == (8 + 2 * 4) / 8
    power = [stats.norm.cdf(0.20 * math.sqrt(n) / 0.17 - stats.norm.ppf(0.975)) for n in (need - 1, need)]
    assert power[0] < 0.80 <= power[1]  # the fewest seeds that reach 80%


def test_the_normal_pool_keeps_each_configs_mean_and_sd_of_paired_differences():
    from bench.selection_calibration import normal_pool

    rng = np.random.default_rng(3)
    baseline = {s: float(v) for s, v in enumerate(rng.normal(0.3, 0.02, 8))}
    configs = {
        "near": {s: baseline[s] + d for s, d in enumerate(rng.normal(0.001, 0.003, 8))},
        "far": {s: baseline[s] + d for s, d in enumerate(rng.normal(0.02, 0.025, 8))},
    }
    drawn, base, better = normal_pool((configs, baseline, "min"), n_seeds=20_000)
    assert better == "min" and sorted(base) == list(range(20_000))
    for name, values in configs.items():
        recorded = np.array([values[s] - baseline[s] for s in baseline])
        simulated = np.array([drawn[name][s] - base[s] for s in base])  # paired on the same drawn co-training seed
        assert abs(simulated.mean() - recorded.mean()) < 4 * recorded.std(ddof=1) / math.sqrt(20_000)
        assert abs(simulated.std(ddof=1) / recorded.std(ddof=1) - 1) < 0.03


def test_confirm_seed_df_is_the_pooled_interval_with_its_degrees_of_freedom_counted_by_seeds():
    from bench.selection_calibration import one_sweep

    # every config ahead of co-training on every seed, so that the leader is always confirmed
    rng = np.random.default_rng(5)
    baseline = {s: float(v) for s, v in enumerate(rng.normal(0.3, 0.05, 10))}
    configs = {n: {s: baseline[s] + 0.2 + float(d) for s, d in enumerate(rng.normal(0, 0.05, 10))} for n in "ABCD"}
    k, s, c = 3, 2, 2
    out, _, _, _ = one_sweep(np.random.default_rng(0), configs, baseline, "max", k, s, c, None)
    leader, _, mean, low, high, *_ = out["confirm-seed-df"]
    p_leader, _, p_mean, p_low, p_high, *_ = out["confirm-pooled"]
    assert leader == p_leader and mean == pytest.approx(p_mean)  # the same fresh-seed mean
    # the same pooled SD, so the half-widths differ only by their t quantiles: (c-1)+(s-1) = 2 df against
    # k(s-1)+(c-1) = 4 df
    ratio = (high - low) / (p_high - p_low)
    assert ratio == pytest.approx(stats.t.ppf(0.975, 2) / stats.t.ppf(0.975, 4))


def test_satterthwaite_search_df_runs_from_seed_count_to_config_seed_pairs_with_the_shared_seed_effect():
    from bench.selection_calibration import search_df

    rng = np.random.default_rng(7)
    k, s = 4, 3
    independent = rng.normal(0, 1, size=(k, 400))  # no shared seed effect: about k (s - 1) df, as pooled
    shared = rng.normal(0, 1, size=400)[None, :] * 50 + rng.normal(0, 1, size=(k, 400))  # one dominates: s - 1
    df_free = np.mean([search_df([dict(enumerate(row[i : i + s])) for row in independent]) for i in range(0, 399, s)])
    df_shared = np.mean([search_df([dict(enumerate(row[i : i + s])) for row in shared]) for i in range(0, 399, s)])
    assert df_shared == pytest.approx(s - 1, abs=0.05)
    assert k * (s - 1) * 0.6 < df_free <= k * (s - 1)  # Satterthwaite's estimate, below the count on noisy MS's
    # exact: configs that move alike (no residual) give s - 1; seed means that agree (no seed term) (k - 1)(s - 1)
    assert search_df([{0: 1.0, 1: 2.0, 2: 0.5}] * 3) == pytest.approx(s - 1)
    assert search_df([{0: 0.0, 1: 1.0}, {0: 1.0, 1: 0.0}]) == pytest.approx(1.0)
    assert search_df([{0: 0.0, 1: 1.0}]) == 1.0 and search_df([{0: 0.0}, {0: 1.0}]) == 0.0


def test_the_by_mode_breakdown_splits_the_tables_sweeps_and_its_whole_is_the_tables_coverage(capsys):
    from bench.selection_calibration import cells, main_by_mode, replay

    import argparse

    args = argparse.Namespace(replays=60, pools="repro-old", confirm_seeds=2, normal=0)
    assert main_by_mode(args) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    for name, k, s, configs, baseline, better in cells(["repro-old"]):
        mine = [r for r in rows if (r[1], r[2]) == (str(k), str(s))]
        whole = next(r for r in mine if r[3:5] == ["any", "any"])
        table = replay(configs, baseline, better, k, s, 2, 60)["confirm-pooled"]["coverage"]
        assert float(whole[6]) == pytest.approx(table, abs=0.0051)  # the same sweeps, the same cover (2 decimals)
        by_search = [r for r in mine if r[4] == "any" and r[3] != "any"]
        by_fresh = [r for r in mine if r[3] == "any" and r[4] != "any"]
        assert sum(int(r[5]) for r in by_search) == sum(int(r[5]) for r in by_fresh) == int(whole[5])
