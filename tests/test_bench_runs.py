"""bench/runs.py, what the studies share: a sample's t-interval on the product's statistics (the old hand t-table's
numbers up to 10 df, the exact quantile beyond), and bench.validity's analysis on a study file whose seeds agree
exactly (a seed SD of 0: "no spread", not a division by zero)."""

import argparse
import json
import math

import pytest

from bench.runs import final, mean_ci, read_rows

# The table bench/validity.py carried before it used actot.report.stats: t(0.975, df), rounded to 3 decimals.
OLD_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def test_mean_ci_is_the_t_interval_of_the_sample_own_sd():
    values = [0.2, 0.5, 0.3, 0.6]  # mean 0.4, sd sqrt(0.1 / 3)
    mean, half, sd = mean_ci(values)
    assert mean == pytest.approx(0.4) and sd == pytest.approx(math.sqrt(0.1 / 3))
    assert half == pytest.approx(3.182 * sd / 2, rel=1e-3)  # t(3) = 3.1824
    for df, t in OLD_T95.items():  # the same numbers as the old table, to its 3 decimals
        x = [0.0, 1.0] + [0.5] * (df - 1)
        _, half, sd = mean_ci(x)
        assert half * math.sqrt(len(x)) / sd == pytest.approx(t, abs=5e-4)
    x = [0.0, 1.0] * 10 + [0.5]  # df 20: t = 2.086, where the table fell back to 1.96
    _, half, sd = mean_ci(x)
    assert half * math.sqrt(len(x)) / sd == pytest.approx(2.086, abs=5e-4)


def test_mean_ci_of_one_value_has_no_interval_and_of_equal_values_a_zero_one():
    assert mean_ci([0.3])[0] == 0.3 and math.isnan(mean_ci([0.3])[1]) and math.isnan(mean_ci([0.3])[2])
    assert mean_ci([0.25, 0.25, 0.25]) == (0.25, 0.0, 0.0)


def _row(group, name, seed, success, overrides=None):
    return {
        "id": f"{group}/{name}/s{seed}",
        "group": group,
        "name": name,
        "overrides": overrides or {},
        "seed": seed,
        "status": "finished",
        "seconds": 1.0,
        "history": [
            {"step": 0, "eval/avg_l1": 1.0},
            {"step": 10, "eval/success": success, "eval/success_covered": success, "eval/success_uncovered": success},
        ],
    }


def test_validity_analyse_says_no_spread_when_every_seed_of_the_reference_scored_the_same(tmp_path, capsys):
    from bench.validity import analyse

    rows = [_row("study", "c-OT-R1", s, 0.0) for s in range(2)] + [
        _row("study", "b-cotrain", s, 0.1 * s) for s in range(2)
    ]
    rows += [
        _row("pool", name, s, value, {"ot.lambda_ot": lam})
        for name, value, lam in (("ot_full:R1", 0.4, 0.1), ("ot_full:r1", 0.1, 1.0))
        for s in range(2)
    ]
    path = tmp_path / "v.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [final(r) for r in read_rows(path)] == [0.0, 0.0, 0.0, 0.1, 0.4, 0.4, 0.1, 0.1]
    analyse(argparse.Namespace(file=str(path), plot=None))
    out = capsys.readouterr().out
    assert "| c-OT-R1 | 2 | 0.000 ± 0.000 |" in out
    assert "seed standard deviation of final success, c-OT-R1: 0.000" in out
    assert "gap 0.300; no spread: c-OT-R1's seeds all scored the same (sd 0)" in out
    # with spread, the ratio as before
    rows[1] = _row("study", "c-OT-R1", 1, 0.1)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    analyse(argparse.Namespace(file=str(path), plot=None))
    assert f"gap 0.300 = {0.3 / math.sqrt(0.005):.2f}x the seed sd of c-OT-R1 (target >= 3x)" in capsys.readouterr().out


def test_the_seed_share_is_one_when_seeds_move_every_arm_alike_and_near_zero_when_they_do_not():
    import numpy as np

    from bench.seed_effect import seed_share

    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 1, 40)
    alike = np.array([seed_effect + shift for shift in (0.0, 0.5, 1.0)])  # arms differ by a constant only
    assert seed_share(alike) > 0.999
    assert abs(seed_share(rng.normal(0, 1, (3, 400)))) < 0.05  # no shared part
    half = np.array([seed_effect + rng.normal(0, 1, 40) for _ in range(3)])  # shared and own parts alike in size
    assert 0.25 < seed_share(half) < 0.75
