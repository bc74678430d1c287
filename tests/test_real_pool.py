"""bench/real_pool.py: the multi-seed pool on real LeRobot data (G1) that the selection calibration reads as `g1-l1`,
run at --quick size: every config on every seed, ranked by the held-out eval/avg_l1, and read back as a pool."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import G1, need

ROOT = Path(__file__).resolve().parents[1]


def test_quick_real_pool_trains_every_config_on_every_seed_and_is_read_as_a_pool(tmp_path):
    need(G1)
    out = tmp_path / "g.jsonl"
    script = [sys.executable, "-m", "bench.real_pool"]
    run = [
        *script,
        "run",
        "--quick",
        "--out",
        str(out),
        "--runs-dir",
        str(tmp_path / "runs"),
        "--jobs",
        "1",
    ]  # one worker: the suite is CPU-bound, a second process only adds start-up
    done = subprocess.run([*run, "--data", str(G1)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["name"], r["seed"]) for r in rows) == [
        (name, seed) for name in ("cotrain", "ot_full:R1", "ot_full:R2") for seed in (0, 1)
    ]
    assert all(r["status"] == "finished" and r["history"][-1]["eval/avg_l1"] > 0 for r in rows)
    baseline = [r for r in rows if r["name"] == "cotrain"]
    assert all(r["config"] == {"ot.lambda_ot": 0.0} for r in baseline)  # the baseline the calibration compares with
    shown = subprocess.run([*script, "analyse", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "eval/avg_l1 (lower is better)" in shown.stdout and "split-half" in shown.stdout

    from bench.real_pool import GROUP, METRIC
    from bench.reproducibility import summarise

    pool = summarise([r for r in rows if r["group"] == GROUP], METRIC)
    assert (pool["configs"], pool["seeds"]) == (3, 2)
    assert 0 < pool["mean"] < 10 and math.isfinite(pool["seed_sd"])


def test_paired_halves_show_each_configs_difference_and_whether_the_order_repeats(capsys):
    from bench.real_pool import GROUP, METRIC, print_paired_halves

    def row(name, seed, value):
        return {"group": GROUP, "name": name, "seed": seed, "status": "finished", "history": [{METRIC: value}]}

    # co-training at 0.30 + seed noise; A is 0.01 worse on every seed, B 0.02 worse on seeds 0-1 and 0.04 on 2-3,
    # C 0.03 worse on seeds 0-1 and 0.00 on 2-3 (its order flips between the halves); seed 4 lacks B: left out.
    rows = [row("cotrain", s, 0.30 + 0.01 * s) for s in range(5)]
    rows += [row("A", s, 0.31 + 0.01 * s) for s in range(5)]
    rows += [row("B", s, 0.30 + 0.01 * s + (0.02 if s < 2 else 0.04)) for s in range(4)]
    rows += [row("C", s, 0.30 + 0.01 * s + (0.03 if s < 2 else 0.00)) for s in range(5)]
    print_paired_halves(rows)
    out = capsys.readouterr().out
    assert "on 4 seeds (1 left out: not finished by every config), halves: seeds 0-1 and 2-3" in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("A ", "B ", "C "))}
    assert [float(v) for v in lines["A"]] == pytest.approx([0.01, 0.01, 0.01])
    assert [float(v) for v in lines["B"]] == pytest.approx([0.03, 0.02, 0.04])
    assert [float(v) for v in lines["C"]] == pytest.approx([0.015, 0.03, 0.0])
    assert list(lines) == ["A", "C", "B"]  # by the mean over all seeds
    # halves: A 0.01 / 0.01, B 0.02 / 0.04, C 0.03 / 0.00 -> ranks (1, 2, 3) against (2, 3, 1): Spearman -0.5
    assert "the 3 configs' order, 1st half against 2nd: Spearman -0.50" in out
