"""A resumed trial keeps every step in the sweep's index: one driver interrupted mid-trial (SIGINT), resumed by
name alone from its checkpoints, that driver killed mid-trial (SIGKILL), and resumed to the end; each resumed
trial's rows in results.parquet (and so in the report, curves and dashboard) are its own history.parquet, row by
row; every running trial is in the interrupted table, and says where it resumed; nothing that ended trains again.
That scenario runs in the background while a driver killed at the moment Ray replaces a checkpoint runs beside it.
"""

import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from background import running, selected
from test_sweep_ray import ROOT, SWEEP, TINY_SWEEP, _finished, _kill_group, _start

# Three starting points, two at a time: the first collapses and is stopped at step 10, which writes the index
# while the second runs and before the third starts; both healthy ones are then interrupted mid-trial.
SPACE = """description: tiny resume space
params:
  ot.reg: {type: float, low: 0.005, high: 5.0, log: true}
  ot.tau: {type: float, low: 0.01, high: 30.0, log: true}
fixed: {ot.heuristic: hard}
starting_points:
  - {name: collapse, ot.reg: 0.005, ot.tau: 0.01}
  - {name: healthy, ot.reg: 2.0, ot.tau: 10.0}
  - {name: healthy2, ot.reg: 1.0, ot.tau: 5.0}
"""
STEPS = 120  # long enough that both healthy trials are running past step 25 together, even on a fast machine


def _history(folder: Path) -> list[dict]:
    try:
        return pq.read_table(folder / "history.parquet").to_pylist()
    except Exception:  # noqa: BLE001 - not written yet
        return []


def _running_past(sweep_dir: Path, step: int) -> list[str]:
    """Trials that have logged `step` or later and not ended (no summary.json), after a checkpoint."""
    trials = sweep_dir / "trials"
    folders = [f for f in trials.iterdir() if f.is_dir()] if trials.is_dir() else []
    return [
        f.name
        for f in folders
        if not (f / "summary.json").exists() and max((r["step"] for r in _history(f)), default=-1) >= step
    ]


def _same(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def assert_index_is_the_histories(sweep_dir: Path) -> None:
    """Each trial's rows in results.parquet (and in what the report layer reads) are its history.parquet."""
    from actot.report.load import load_sweep_dir

    rows = pq.read_table(sweep_dir / "results.parquet").to_pylist()
    report = {t.trial_id: t for t in load_sweep_dir(sweep_dir).trials}
    folders = sorted(f for f in (sweep_dir / "trials").iterdir() if f.is_dir())
    assert {r["trial_id"] for r in rows} == {f.name for f in folders} == set(report)
    for folder in folders:
        history = _history(folder)
        indexed = sorted((r for r in rows if r["trial_id"] == folder.name), key=lambda r: r["step"])
        assert [r["step"] for r in indexed] == [h["step"] for h in history], folder.name
        for row, own in zip(indexed, history):
            for key, value in own.items():
                assert _same(row.get(key), value), (folder.name, own["step"], key, row.get(key), value)
        assert [r["step"] for r in report[folder.name].history] == [h["step"] for h in history]


def _when_running_past(sweep_dir: Path, step: int, proc, log_path: Path) -> set[str]:
    """The trials running past `step` once two are (both healthy ones, after a checkpoint); the driver must live."""
    deadline = time.time() + 300
    while len(_running_past(sweep_dir, step)) < 2:
        assert proc.poll() is None and time.time() < deadline, log_path.read_text()[-3000:]
        time.sleep(0.2)
    return set(_running_past(sweep_dir, step))


def _resumed_at(text: str) -> dict[str, int]:
    return {t: int(step) for t, step in re.findall(r"\[sweep\] trial (\S+) resumed from step (\d+)", text)}


def _interrupted_killed_and_resumed(small_sim, tmp_path: Path, ray_tmp: str) -> None:
    """One driver interrupted with SIGINT mid-trial, resumed by name alone, that one killed with SIGKILL mid-trial,
    resumed to the end, and resumed once more; its assertions raise here."""
    source, target = small_sim
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "sweep.yaml").write_text(
        SWEEP.format(n=3, c=2, steps=STEPS).replace("checkpoint_every: 5", "checkpoint_every: 10")
    )
    args = [
        f"space={tmp_path / 'space.yaml'}",
        f"sweep={tmp_path / 'sweep.yaml'}",
        f"storage={tmp_path / 'out'}",
        "name=mid",
        f"ray_temp_dir={ray_tmp}",
        f"data.source={source}",
        f"data.target={target}",
        *TINY_SWEEP,
    ]
    by_name = [f"storage={tmp_path / 'out'}", "name=mid", f"ray_temp_dir={ray_tmp}", "resume=true"]
    sweep_dir = tmp_path / "out" / "mid"
    results = sweep_dir / "results.parquet"
    log_path = tmp_path / "driver.log"
    with open(log_path, "w") as log:
        # 1. Ctrl-C while both healthy trials run past their checkpoint at step 20 (the collapsed one has ended):
        #    reported as interrupted, every running trial in the table, the resume command said, the index whole.
        proc = _start(args, log)
        interrupted = _when_running_past(sweep_dir, 25, proc, log_path)
        os.kill(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=180)
        _kill_group(proc)
        first = log_path.read_text()
        assert rc == 130 and "INTERRUPTED" in first, first[-3000:]
        assert "resume=true" in first and "name=mid" in first, first[-3000:]
        table = [line for line in first.splitlines() if not line.startswith("[sweep]")]
        for trial_id in interrupted:
            assert any(trial_id in line and "interrupted" in line for line in table), (trial_id, first[-3000:])
        assert_index_is_the_histories(sweep_dir)  # the index holds them, with every step so far
        ended = _finished(results)  # the collapsed trial, stopped at step 10: never trained again
        assert len(ended) == 1 and not set(ended) & interrupted, ended
        mtimes = {t: (sweep_dir / "trials" / t / "history.parquet").stat().st_mtime for t in ended}

        # 2. Resumed by name alone (space, sweep file, data and model come from sweep.json); SIGKILL mid-trial once
        #    both run past their checkpoint at step 60.
        proc = _start(by_name, log)
        killed = _when_running_past(sweep_dir, 65, proc, log_path)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        _kill_group(proc)
        second = log_path.read_text()[len(first) :]
        resumed = _resumed_at(second)
        assert set(resumed) == interrupted and all(step >= 20 for step in resumed.values()), (resumed, second[-3000:])

        # 3. Resumed with the whole command, to the end.
        proc = _start(args + ["resume=true"], log)
        rc = proc.wait(timeout=400)
        _kill_group(proc)
    text = log_path.read_text()
    third = text[len(first) + len(second) :]
    assert rc == 0, third[-3000:]
    resumed = _resumed_at(third)
    assert set(resumed) == killed and all(step >= 60 for step in resumed.values()), (resumed, third[-3000:])
    assert_index_is_the_histories(sweep_dir)
    for trial_id in interrupted | killed:
        steps = [h["step"] for h in _history(sweep_dir / "trials" / trial_id)]
        assert steps == list(range(0, STEPS + 1, 5)), (trial_id, steps)
    final = _finished(results)
    assert len(final) == 3 and all(final[t] == s for t, s in ended.items()), final
    for t, mtime in mtimes.items():
        assert (sweep_dir / "trials" / t / "history.parquet").stat().st_mtime == mtime, f"{t} re-ran"

    # 4. Resuming an ended sweep only prints its results again.
    rows = pq.read_table(results).to_pylist()
    again = subprocess.run(
        [sys.executable, "run_sweep.py", *by_name], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0 and "nothing to resume" in again.stdout, again.stdout[-3000:] + again.stderr[-3000:]
    assert pq.read_table(results).to_pylist() == rows


@pytest.fixture(scope="module", autouse=True)
def resumed_sweep(request, small_sim, tmp_path_factory):
    """The interrupted, killed and resumed sweep runs in the background (tests/background.py) while the tests below
    run (one a driver of its own): {"mid": its future}."""
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths
    scenarios = {}
    if selected(request, "test_a_trial_interrupted_then_killed_mid_run_keeps_every_step_in_the_index"):
        scenarios["mid"] = partial(_interrupted_killed_and_resumed, small_sim, tmp_path_factory.mktemp("mid"), temp)
    try:
        with running(scenarios) as futures:
            yield futures
    finally:
        shutil.rmtree(temp, ignore_errors=True)


# A driver that dies as a SIGKILL would (os._exit) at the one moment Ray's saved state names a checkpoint that is gone:
# Ray keeps one checkpoint per trial, deletes the previous one when it registers a new one, and saves the experiment
# state that names the new one at the end of that step; its on_trial_save hook runs in between. MARKER: a file that
# says it happened (and keeps the restored callback, pickled with the Tuner, from doing it again).
DIES_WHILE_RAY_REPLACES_A_CHECKPOINT = """
import os, sys
from ray.tune import Callback
import actot.pipeline as pipeline

MARKER = sys.argv.pop(1)


class DieWhileRayReplacesACheckpoint(Callback):
    def __init__(self):
        self.saves = {}

    def on_trial_save(self, iteration, trials, trial, **info):
        self.saves[trial.trial_id] = self.saves.get(trial.trial_id, 0) + 1
        if self.saves[trial.trial_id] == 2 and not os.path.exists(MARKER):
            with open(MARKER, "w") as out:
                out.write(trial.trial_id)
            os._exit(9)


live = pipeline.live_callbacks
pipeline.live_callbacks = lambda sweep_dir: [*live(sweep_dir), DieWhileRayReplacesACheckpoint()]
import run_sweep

sys.exit(run_sweep.main())
"""


@pytest.mark.slow
def test_a_driver_killed_while_ray_replaces_a_checkpoint_resumes_its_trial(small_sim, tmp_path):
    """Killed after Ray deleted a trial's checkpoint at step 5 for the one at step 10, before it saved the state that
    names the new one: the resume finds the saved checkpoint gone, continues from the one beside it, and the trial
    finishes with every step. (Ray failed the resumed trial, "Could not recover from checkpoint as it does not exist
    on storage anymore", and its history stopped where the killed driver left it: what a mid-trial SIGKILL once met,
    a history that stopped before step 40.)"""
    source, target = small_sim
    (tmp_path / "space.yaml").write_text(
        "description: one healthy point\nparams:\n  ot.reg: {type: float, low: 0.005, high: 5.0, log: true}\n"
        "fixed: {ot.heuristic: hard, ot.tau: 10.0}\nstarting_points:\n  - {name: healthy, ot.reg: 2.0}\n"
    )
    (tmp_path / "sweep.yaml").write_text(SWEEP.format(n=1, c=1, steps=30))
    out, marker, log_path = tmp_path / "out", tmp_path / "died", tmp_path / "driver.log"
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths
    args = [
        f"space={tmp_path / 'space.yaml'}",
        f"sweep={tmp_path / 'sweep.yaml'}",
        f"storage={out}",
        "name=replaced",
        f"ray_temp_dir={ray_tmp}",
        f"data.source={source}",
        f"data.target={target}",
        *TINY_SWEEP,
        "wandb.mode=disabled",  # W&B across kills and resumes: the interrupted-and-killed sweep below
    ]
    try:
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-c", DIES_WHILE_RAY_REPLACES_A_CHECKPOINT, str(marker), *args],
                cwd=ROOT,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                rc = proc.wait(timeout=300)
            finally:
                _kill_group(proc)
            first = log_path.read_text()
            assert rc == 9 and marker.is_file(), first[-3000:]
            trial_id = marker.read_text()
            proc = _start([f"storage={out}", "name=replaced", f"ray_temp_dir={ray_tmp}", "resume=true"], log)
            try:
                rc = proc.wait(timeout=300)
            finally:
                _kill_group(proc)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    text = log_path.read_text()[len(first) :]
    assert rc == 0, text[-3000:]
    assert f"trial {trial_id}: the checkpoint Ray's saved state names is gone" in text, text[-3000:]
    assert f"trial {trial_id} resumed from step 10" in text, text[-3000:]  # not 5, the one the saved state names
    assert f"trial {trial_id} finished" in text, text[-3000:]
    sweep_dir = out / "replaced"
    assert_index_is_the_histories(sweep_dir)
    steps = [h["step"] for h in _history(sweep_dir / "trials" / trial_id)]
    assert steps == list(range(0, 31, 5)), steps


def test_a_gone_or_torn_checkpoint_gives_way_to_the_newest_whole_one_beside_it(tmp_path):
    """What a restored trial continues from when the checkpoint Ray's saved state names is gone (the driver died while
    Ray replaced it): the newest checkpoint beside it whose state.pt is whole (a worker that died while copying one
    leaves a torn file); the named one when it is there; none when none is whole."""
    import pyarrow.fs as pafs
    import torch

    from actot.sweep.callbacks import usable_checkpoint

    fs, trial = pafs.LocalFileSystem(), tmp_path / "run_trial_x"
    for index, step in ((1, 10), (2, 15), (3, 20)):
        (trial / f"checkpoint_00000{index}").mkdir(parents=True)
        torch.save({"step": step}, trial / f"checkpoint_00000{index}" / "state.pt")
    torn = trial / "checkpoint_000003" / "state.pt"
    torn.write_bytes(torn.read_bytes()[:-100])
    (trial / "checkpoint_000004").mkdir()  # copied no further than its folder
    assert usable_checkpoint(fs, str(trial / "checkpoint_000001")) == str(trial / "checkpoint_000001")
    assert usable_checkpoint(fs, str(trial / "checkpoint_000000")) == str(trial / "checkpoint_000002")
    assert usable_checkpoint(fs, str(trial / "checkpoint_000003")) == str(trial / "checkpoint_000002")
    for index in (1, 2):
        shutil.rmtree(trial / f"checkpoint_00000{index}")
    assert usable_checkpoint(fs, str(trial / "checkpoint_000000")) is None


@pytest.mark.slow
def test_a_trial_interrupted_then_killed_mid_run_keeps_every_step_in_the_index(
    resumed_sweep,
):  # last: it waits while the rest runs
    resumed_sweep["mid"].result()
