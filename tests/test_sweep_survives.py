"""One bad trial never ends a sweep; paths mean what they meant where the command was typed; no secret leaks.

A real tiny sweep (real Ray, Optuna, parquet, W&B offline) run as a user would, from another
folder with relative paths, whose three starting points are a healthy trial, one whose loss
goes NaN (lr 1e8) and one whose data cannot load (more held-out episodes than the target has).
A W&B key and a Ray token are in its environment.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pyarrow.parquet as pq
import pytest

from tests.test_sweep_ray import TINY_SWEEP

ROOT = Path(__file__).resolve().parents[1]
WANDB_KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
RAY_TOKEN = "f00dfacecafe0123456789abcdef0123456789abcdef0123456789abcdef0123"

SPACE = """description: one healthy, one NaN, one bad-data trial
params:
  policy.lr: {type: float, low: 1.0e-5, high: 1.0e+9, log: true}
  data.n_eval_target: {type: int, low: 1, high: 50}
starting_points:
  - {name: healthy, policy.lr: 1.0e-3, data.n_eval_target: 1}
  - {name: nan, policy.lr: 1.0e+8, data.n_eval_target: 1}
  - {name: bad_data, policy.lr: 1.0e-3, data.n_eval_target: 50}
"""
SWEEP = """num_samples: 3
max_concurrent: 2
resources: {cpu: 1, gpu: 0}
rules: [non_finite, pi_collapse]
train: {steps: 6, log_every: 2, checkpoint_every: 2, wandb.mode: offline}
"""


@pytest.mark.slow
def test_bad_trials_are_recorded_and_the_sweep_goes_on(small_sim, tmp_path):
    source, target = small_sim
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    (tmp_path / "data").symlink_to(Path(source).parent)
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    env = dict(
        os.environ, PYTHONPATH=str(ROOT), WANDB_API_KEY=WANDB_KEY, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=RAY_TOKEN
    )
    args = [
        "space=space.yaml",
        "sweep=sweep.yaml",
        "storage=out",
        "name=bad",
        f"ray_temp_dir={ray_tmp}",
        f"data.source=data/{Path(source).name}",
        f"data.target=data/{Path(target).name}",
        *TINY_SWEEP,
    ]
    try:
        run = subprocess.run(
            [sys.executable, str(ROOT / "run_sweep.py"), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=400,
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    console = run.stdout + run.stderr
    assert run.returncode == 0, console[-4000:]
    assert "Traceback" not in console, console[-4000:]

    sweep_dir = tmp_path / "out" / "bad"
    rows = pq.read_table(sweep_dir / "results.parquet").to_pylist()
    by_lr = {}
    for row in rows:
        by_lr.setdefault((row["param/policy.lr"], row["param/data.n_eval_target"]), row)
    assert set(by_lr) == {(1e-3, 1), (1e8, 1), (1e-3, 50)}
    assert isinstance(rows[0]["param/data.n_eval_target"], int)  # an int knob stays an int
    healthy, nan, bad_data = by_lr[(1e-3, 1)], by_lr[(1e8, 1)], by_lr[(1e-3, 50)]
    assert healthy["status"] == "finished" and max(r["step"] for r in rows if r["trial_id"] == healthy["trial_id"]) == 6
    assert nan["status"] == "non_finite" and "nan" in nan["stop_reason"].lower()
    assert bad_data["status"] == "error" and "n_eval_target=50" in bad_data["stop_reason"]
    assert f"trial {bad_data['trial_id']} error:" in console and "the sweep goes on" in console

    study = optuna.load_study(study_name="bad", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    states = {t.user_attrs["ray_trial_id"]: t.state for t in study.trials}
    assert states == {
        healthy["trial_id"]: optuna.trial.TrialState.COMPLETE,
        nan["trial_id"]: optuna.trial.TrialState.FAIL,
        bad_data["trial_id"]: optuna.trial.TrialState.FAIL,
    }

    report = (sweep_dir / "report.md").read_text()
    for text in ("1 finished", "1 non_finite", "1 error", "n_eval_target=50", "non_finite: "):
        assert text in report, report
    assert "non_finite: " in run.stdout and "error: target" in run.stdout  # the table's 'why' column

    # Relative paths were resolved where the command was typed, and stored that way.
    stored = json.loads((sweep_dir / "sweep.json").read_text())
    assert stored["train"]["data"]["source"] == str(Path(source).resolve())
    assert stored["sweep"]["train"]["data.target"] == str(Path(target).resolve())
    assert stored["sweep"]["storage"] == str(tmp_path / "out")

    # No secret in any file of the sweep folder (configs, sweep.json, parquet, reports, W&B offline runs).
    files = [p for p in sweep_dir.rglob("*") if p.is_file()]
    assert any("offline-run" in str(p) for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in (WANDB_KEY, RAY_TOKEN):
            assert secret.encode() not in data, f"{secret[:6]}... found in {path}"
    assert WANDB_KEY not in console and RAY_TOKEN not in console
