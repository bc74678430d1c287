"""bench/transfer_study.py: the per-seed paired difference on hand-made runs, and its --quick run end to end
(real tiny training on the twin sim with oracle pairs, the default sim, 64 px keypoints and tokens)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(arm, seed, uncovered, overall=0.5):
    return {
        "name": arm,
        "seed": seed,
        "history": [{"step": 10, "eval/success": overall, "eval/success_uncovered": uncovered}],
    }


def test_paired_difference_is_read_per_seed_on_the_seeds_both_arms_ran():
    from bench.transfer_study import paired_difference

    base = [run("cotrain", s, u) for s, u in enumerate([0.2, 0.6, 0.4])]
    arm = [run("OT", s, u) for s, u in enumerate([0.3, 0.7, 0.5, 0.9])]  # seed 3 has no co-training: left out
    mean, half, n = paired_difference(arm, base, "eval/success_uncovered")
    assert n == 3 and mean == pytest.approx(0.1) and half == pytest.approx(0.0, abs=1e-9)
    base[1] = run("cotrain", 1, 0.7)  # differences 0.1, 0.0, 0.1: sd 0.0577, t(2) 4.303
    mean, half, n = paired_difference(arm, base, "eval/success_uncovered")
    assert mean == pytest.approx(0.2 / 3) and half == pytest.approx(4.303 * math.sqrt(1 / 300) / math.sqrt(3), rel=1e-3)
    assert math.isnan(paired_difference(arm, [], "eval/success_uncovered")[0])


def test_plan_runs_the_oracle_and_the_screen_first_and_pairs_best_with_its_cotraining():
    import argparse

    from bench.transfer_study import plan

    args = argparse.Namespace(
        rollouts=100,
        log_every=100,
        steps=1500,
        quick=False,
        runs_dir="runs",
        seeds=5,
        oracle_seeds=10,
        best="screen/OT-summary-l2",
        best_seeds=5,
        only=None,
        extend=None,
    )
    jobs = plan(args)
    ids = [j["id"] for j in jobs]
    assert ids[:2] == ["oracle/cotrain/s0", "oracle/OT-oracle/s0"] and len(set(ids)) == len(ids)
    assert {j["seed"] for j in jobs if j["group"] == "oracle"} == set(range(10))
    assert all(j["pairing"] == "oracle" for j in jobs if j["name"] == "OT-oracle")
    assert all(j["overrides"]["data.sim.twins"] for j in jobs if j["group"] == "oracle")
    best = [j for j in jobs if j["group"] == "best"]
    assert {(j["name"], j["seed"]) for j in best} == {
        (a, s) for a in ("cotrain", "OT-summary-l2") for s in range(5, 10)
    }
    assert all(j["overrides"]["ot.embed_norm"] == "l2" for j in best if j["name"] != "cotrain")
    args.best = "screen/OT-summary-l2,screen/OT-summary-l2-soft"  # two best arms: one co-training on their seeds
    best = [j for j in plan(args) if j["group"] == "best"]
    assert sorted(j["id"] for j in best if j["name"] == "cotrain") == [f"best/cotrain/s{s}" for s in range(5, 10)]
    assert {j["name"] for j in best} == {"cotrain", "OT-summary-l2", "OT-summary-l2-soft"} and len(best) == 15
    args.best, args.extend = None, "tokens/OT-tokens-l2"  # more seeds in the arm's own group, its co-training's
    tokens = [j["id"] for j in plan(args) if j["group"] == "tokens"]
    assert {f"tokens/{a}/s{s}" for a in ("cotrain", "OT-tokens-l2") for s in range(10)} <= set(tokens)
    assert "tokens/OT-tokens/s5" not in tokens and len(tokens) == len(set(tokens))
    args.best = "screen/OT-summary-l2,shift1/OT-summary-l2"  # two co-trainings cannot share best/cotrain/sN
    with pytest.raises(SystemExit, match="one group"):
        plan(args)


@pytest.mark.slow
def test_quick_transfer_study_runs_every_arm_and_prints_the_paired_table(tmp_path):
    out, runs = tmp_path / "t.jsonl", tmp_path / "runs"
    script = [sys.executable, "-m", "bench.transfer_study"]
    done = subprocess.run(
        [*script, "run", "--quick", "--out", str(out), "--runs-dir", str(runs), "--jobs", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["status"] == "finished" for r in rows), [(r["id"], r["status"]) for r in rows]
    assert {r["group"] for r in rows} == {"oracle", "screen", "kp", "shift1", "tokens"}
    shown = subprocess.run(
        [
            *script,
            "analyse",
            str(out),
            "--runs-dir",
            str(runs),
            "--probe",
            "--quick",
            "--plot",
            str(tmp_path / "t.png"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    for text in (
        "| oracle | cotrain | 1 |",
        "| oracle | OT-oracle | 1 |",
        "| kp | OT-keypoints | 1 |",
        "| screen | OT-summary-l2 | 1 |",
        "diff uncovered",
        "goal probe: uncovered",
        "| screen | OT-state | OT-summary | 1 |",
    ):
        assert text in shown.stdout, (text, shown.stdout)
    assert (tmp_path / "t.png").stat().st_size > 0


def test_the_best_arm_is_also_read_on_every_seed_with_its_home_group():
    from bench.transfer_study import GROUPS, tables

    l2 = GROUPS["screen"]["OT-summary-l2"][0]
    rows = [
        {**run(arm, s, u), "group": "screen", "overrides": o}
        for arm, o, s, u in [("cotrain", {}, 0, 0.4), ("OT-summary-l2", l2, 0, 0.5), ("OT-state", {}, 0, 0.0)]
    ]
    rows += [
        {**run(arm, s, u), "group": "best", "overrides": o}
        for arm, o, s, u in [("cotrain", {}, 5, 0.2), ("OT-summary-l2", l2, 5, 0.4)]
    ]
    joined = dict(tables(rows))["best+screen"]
    assert sorted((r["name"], r["seed"]) for r in joined) == [
        ("OT-summary-l2", 0),
        ("OT-summary-l2", 5),
        ("cotrain", 0),
        ("cotrain", 5),
    ]


def test_runs_still_improving_at_the_end_are_counted_and_their_seeds_left_out_of_the_clean_difference():
    from bench.transfer_study import paired_difference, still_falling

    def trended(arm, seed, uncovered, trend):
        row = run(arm, seed, uncovered)
        row["history"][-1]["eval/l1_trend"] = trend
        return row

    base = [trended("cotrain", 0, 0.2, -0.01), trended("cotrain", 1, 0.6, -0.20), trended("cotrain", 2, 0.4, 0.0)]
    arm = [trended("OT", 0, 0.3, 0.02), trended("OT", 1, 0.9, -0.01), trended("OT", 2, 0.1, -0.08)]
    assert [still_falling(r) for r in base + arm] == [False, True, False, False, False, True]
    assert still_falling(run("OT", 3, 0.5)) is False  # no trend reported: nothing to flag
    mean, half, n = paired_difference(arm, base, "eval/success_uncovered", lambda r: not still_falling(r))
    assert n == 1 and mean == pytest.approx(0.1)  # seed 1 (co-training flagged) and seed 2 (OT flagged) left out


def test_two_best_arms_of_one_group_share_one_joined_table_with_one_cotraining():
    from bench.transfer_study import GROUPS, tables

    screen = GROUPS["screen"]
    rows = [
        {**run(arm, 0, 0.4), "group": "screen", "overrides": screen[arm][0]}
        for arm in ("cotrain", "OT-summary-l2", "OT-state-l2")
    ]
    rows += [
        {**run(arm, 5, 0.4), "group": "best", "overrides": screen[arm][0]}
        for arm in ("cotrain", "OT-summary-l2", "OT-state-l2")
    ]
    labels = [label for label, _ in tables(rows)]
    assert labels.count("best+screen") == 1
    joined = dict(tables(rows))["best+screen"]
    assert sorted((r["name"], r["seed"]) for r in joined if r["name"] == "cotrain") == [("cotrain", 0), ("cotrain", 5)]
    assert {r["name"] for r in joined} == {"cotrain", "OT-summary-l2", "OT-state-l2"}
