"""A sequential confirm stage in a real tiny sweep (real Ray, parquet): looks of fresh seeds added one at a time,
each said as it ends, the driver killed in the middle of a look and resumed without losing or repeating a trial.
The decision rule itself is tested on constructed histories in tests/test_sequential.py."""

import json
import os
import signal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_sweep_ray import TINY_MODEL, _finished, _kill_group, _start, _wait_for, ray_tmp, sweep_files  # noqa: F401 - ray_tmp is a fixture

from actot.sweepdir import ARM_BASELINE, ARM_CONFIG

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")  # the search stage runs in this process, on the session's one Ray
def test_a_sequential_confirm_stage_adds_a_look_says_it_and_survives_a_killed_driver(
    small_sim,
    tmp_path,
    ray_tmp,  # noqa: F811
    capsys,
):
    from run_sweep import main

    source, target = small_sim
    # One trial at a time (the kill then lands between a look's two trials). The first look runs 1 fresh seed: with
    # the search's one finished config its SD rests on 1 df, so O'Brien-Fleming's first boundary (t(1) ~ 3,000)
    # cannot be crossed and, with no futility stop (futility=none), look 2 always runs; it is the last (max_seeds 2).
    args = sweep_files(tmp_path, n=2, c=1, steps=10) + [
        "name=seq",
        f"ray_temp_dir={ray_tmp}",
        f"data.source={source}",
        f"data.target={target}",
        *TINY_MODEL,
        "paired.seeds=2",
        "paired.baseline={ot.lambda_ot: 0.0}",
        "paired.racing.enabled=false",
    ]
    sweep_dir = tmp_path / "out" / "seq"
    results = sweep_dir / "results.parquet"
    assert main(args) == 0  # the search; its confirm stage runs in a driver that is killed and resumed
    confirm = args + [
        "stage=confirm",
        "top_k=1",
        "seeds=1",
        "confirm.sequential.enabled=true",
        "confirm.sequential.max_seeds=2",
        "confirm.sequential.futility=none",
    ]
    log_path = tmp_path / "driver.log"
    with open(log_path, "w") as log:
        proc = _start(confirm, log)  # killed once look 2's first trial has ended (3 confirm trials)
        _wait_for(results, 3, proc, timeout=300, confirm_only=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        _kill_group(proc)
        killed_at = _finished(results, confirm_only=True)
        mtimes = {t: (sweep_dir / "trials" / t / "history.parquet").stat().st_mtime for t in killed_at}
        first = log_path.read_text()
        assert "confirm look 1: 1 config(s) on fresh seed(s) 2 (1 of at most 2) with the baseline" in first, first[
            -3000:
        ]
        assert "look 1 (1 of at most 2 fresh seeds): undecided, more seeds to come" in first
        assert "confirm look 2: 1 config(s) on fresh seed(s) 3 (2 of at most 2) with the baseline" in first

        proc = _start(confirm + ["resume=true"], log)  # to the end
        rc = proc.wait(timeout=400)
        _kill_group(proc)
    text = log_path.read_text()
    assert rc == 0, text[-3000:]
    resumed = text[len(first) :]
    assert "confirm look 2:" in resumed and "of 2 trial(s) ended before" in resumed
    assert "confirm look 1:" not in resumed  # the stored looks: a resumed driver goes on from the look it was in

    rows = pq.read_table(results).to_pylist()
    fresh = {r["trial_id"]: r for r in rows if r["confirm_of"]}
    assert sorted((r["arm"], r["seed"]) for r in fresh.values()) == [
        (ARM_BASELINE, 2),
        (ARM_BASELINE, 3),
        (ARM_CONFIG, 2),
        (ARM_CONFIG, 3),
    ]
    assert all(r["status"] == "finished" for r in fresh.values())
    for t, mtime in mtimes.items():
        assert (sweep_dir / "trials" / t / "history.parquet").stat().st_mtime == mtime, f"{t} re-ran"
    for t in fresh:
        steps = [r["step"] for r in rows if r["trial_id"] == t]
        assert len(steps) == len(set(steps)), f"{t} has duplicated history rows"
    section = json.loads((sweep_dir / "sweep.json").read_text())["confirm"]
    assert [one["seeds"] for one in section["looks"]] == [[2], [3]] and section["new_seeds"] == [2, 3]
    assert section["sequential"]["max_seeds"] == 2 and section["sequential"]["effect"] is None
    assert sorted(p["look"] for p in section["points"]) == [1, 1, 2, 2]
    for look, name in ((1, "confirm"), (2, "confirm-look2")):  # each look is a Tuner of its own: 2 trials each
        state = json.loads(max((sweep_dir / name).glob("experiment_state-*.json")).read_text())
        assert len(state["trial_data"]) == 2, look
    # the end: the confirm table's lead says at which look it stopped and why (a claim, or the cap undecided)
    lead = next(line for line in text.splitlines() if "on fresh seeds 2, 3" in line)
    assert "repeated 95% interval of a sequential test" in lead
    assert (
        "stopped at look 2 (2 of at most 2 fresh seeds): the claim boundary is crossed" in lead
        or "stopped at the seed cap, look 2 (2 fresh seeds): undecided" in lead
    ), lead

    # resuming the ended stage runs nothing; another cap is refused in one line (in this process: nothing to run)
    capsys.readouterr()
    rc = main([*confirm, "resume=true"])
    out = capsys.readouterr().out
    assert rc == 0 and "2 of 2 trial(s) ended before" in out, out[-3000:]
    assert pq.read_table(results).to_pylist() == rows
    rc = main(
        [
            *args,
            "stage=confirm",
            "top_k=1",
            "seeds=1",
            "confirm.sequential.enabled=true",
            "confirm.sequential.max_seeds=4",
            "confirm.sequential.futility=none",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "was started with other settings: sequential.max_seeds 2 -> 4" in err
