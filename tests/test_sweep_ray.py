"""Real sweeps at tiny scale: real Ray, real Optuna, real parquet, real W&B offline.

One in-process sweep in which a rule fires (on the session's Ray) and one with ASHA; and the helpers that start,
wait on and kill a `run_sweep.py` driver for the interrupt, kill and resume scenarios of the other modules.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY_MODEL = [
    "policy.dim_model=32",
    "policy.n_heads=2",
    "policy.dim_feedforward=64",
    "policy.n_encoder_layers=1",
    "policy.n_vae_encoder_layers=1",
    "policy.latent_dim=8",
    "policy.backbone_width=8",
    "data.resolution=16",
    "data.n_eval_target=1",
    "batch_size=4",
    "ot.batch_size=8",
    "ot.window_size=2",
    "rollout_episodes=0",
]
# A driver times a few training steps for its cost line before any trial starts (a model, an optimiser, torch's
# compiler imported for it); test_tiny_sweep_where_a_rule_fires checks that line, the other test sweeps skip it.
TINY_SWEEP = [*TINY_MODEL, "cost=false"]

SPACE = """description: tiny test space
params:
  ot.reg: {type: float, low: 0.005, high: 5.0, log: true}
  ot.tau: {type: float, low: 0.01, high: 30.0, log: true}
fixed: {ot.heuristic: hard}
starting_points:
  - {name: collapse, ot.reg: 0.005, ot.tau: 0.01}
  - {name: healthy, ot.reg: 2.0, ot.tau: 10.0}
"""
SWEEP = """num_samples: {n}
max_concurrent: {c}
resources: {{cpu: 1, gpu: 0}}
seed: 0
rules:
  - {{use: pi_collapse, after: 10, patience: 1}}
  - non_finite
  - {{name: l1_watch, when: "eval/avg_l1 > 100", action: flag}}
train: {{steps: {steps}, log_every: 5, checkpoint_every: 5}}
"""


@pytest.fixture
def ray_tmp():
    """A short Ray temp dir (socket paths have a length limit), removed afterwards."""
    path = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def sweep_files(tmp_path, n, c, steps):
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "sweep.yaml").write_text(SWEEP.format(n=n, c=c, steps=steps))
    return [f"space={tmp_path / 'space.yaml'}", f"sweep={tmp_path / 'sweep.yaml'}", f"storage={tmp_path / 'out'}"]


@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")  # an in-process sweep: the session's one Ray
def test_tiny_sweep_where_a_rule_fires(small_sim, tmp_path, ray_tmp, capsys):
    from run_sweep import main

    source, target = small_sim
    args = sweep_files(tmp_path, n=4, c=2, steps=20) + [
        "name=tiny",
        "lang=zh",
        f"ray_temp_dir={ray_tmp}",
        f"data.source={source}",
        f"data.target={target}",
        *TINY_MODEL,
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "rule pi_collapse stops trial" in out and "last eval/avg_l1" in out and "95% interval" in out
    # the cost is said before any trial starts, timed on the data the driver loaded (issue 31)
    assert "[sweep] cost: " in out and "a trial of steps=20 takes ~" in out and "4 trial(s), 2 at a time" in out
    assert out.index("[sweep] cost: ") < out.index("rule pi_collapse stops trial")

    sweep_dir = tmp_path / "out" / "tiny"
    rows = pq.read_table(sweep_dir / "results.parquet").to_pylist()
    trials = {r["trial_id"] for r in rows}
    assert len(trials) == 4
    by_trial = {t: [r for r in rows if r["trial_id"] == t] for t in trials}
    collapsed = [t for t, rs in by_trial.items() if rs[0]["param/ot.reg"] == 0.005]
    healthy = [t for t, rs in by_trial.items() if rs[0]["param/ot.reg"] == 2.0]
    assert len(collapsed) == 1 and len(healthy) == 1
    stopped = by_trial[collapsed[0]]
    assert stopped[0]["status"] == "stopped" and stopped[0]["stop_rule"] == "pi_collapse"
    assert stopped[0]["stop_step"] == 10 and max(r["step"] for r in stopped) == 10
    finished = by_trial[healthy[0]]
    assert finished[0]["status"] == "finished" and [r["step"] for r in finished] == [0, 5, 10, 15, 20]
    for column in ("train/loss", "eval/avg_l1", "ot_pi_sum", "ot_pi_diag", "ot_cost(state)"):
        assert finished[-1][column] is not None

    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    states = {t.user_attrs["ray_trial_id"]: t.state for t in study.trials}
    assert states[collapsed[0]] == optuna.trial.TrialState.PRUNED
    assert states[healthy[0]] == optuna.trial.TrialState.COMPLETE
    # One W&B run per trial (the end of the sweep reopens each, by its id, to add its rank).
    assert len({p.name.rsplit("-", 1)[1] for p in (sweep_dir / "trials").glob("*/wandb/offline-run-*")}) == 4
    summary = json.loads((sweep_dir / "trials" / collapsed[0] / "summary.json").read_text())
    assert summary["status"] == "stopped" and "ot_pi_sum" in summary["stop_reason"]
    assert summary["best/eval/avg_l1"] > 0 and summary["best/eval/avg_l1_step"] in (0, 5, 10)
    assert json.loads((sweep_dir / "trials" / healthy[0] / "summary.json").read_text())["status"] == "finished"
    assert (sweep_dir / "curves.png").stat().st_size > 1000
    report = (sweep_dir / "report.md").read_text()
    assert "pi_collapse" in report and "curves.png" in report and "1 stopped" in report
    assert f"### #4 {collapsed[0]}" in report  # the stopped trial ranks after the three finished ones
    zh = (sweep_dir / "report.zh.md").read_text(encoding="utf-8")  # lang=zh: written at the end too
    assert "离线评估L1: 首=" in zh and "π总和" in zh and "诊断与结论" in zh
    assert (sweep_dir / "dashboard.html").stat().st_size > 1_000_000

    # The report layer's commands (`python -m actot ...`; in this process here, as processes in
    # tests/test_report.py), on the real sweep folder.
    from actot.__main__ import main as actot_main
    from actot.sweep.space import load_space

    capsys.readouterr()
    assert actot_main(["rank", str(sweep_dir), "scope=best"]) == 0
    ranked = capsys.readouterr().out
    assert healthy[0] in ranked and "best eval/avg_l1" in ranked
    (sweep_dir / "dashboard.html").unlink()
    assert actot_main(["dashboard", str(sweep_dir)]) == 0 and (sweep_dir / "dashboard.html").is_file()
    assert actot_main(["report", str(sweep_dir), "lang=zh"]) == 0
    space = load_space(str(sweep_dir / "next_space.yaml"))  # the advisor's follow-up runs as it is
    assert set(space.distributions) >= {"ot.reg", "ot.tau"} and space.fixed == {"ot.heuristic": "hard"}


def _finished(results: Path, confirm_only: bool = False) -> dict:
    """Trials that ended (finished or stopped) in `results`; only the confirm stage's with confirm_only."""
    if not results.is_file():
        return {}
    try:
        rows = pq.read_table(results).to_pylist()
    except Exception:  # noqa: BLE001 - a file being replaced; read again next poll
        return {}
    return {
        r["trial_id"]: r["status"]
        for r in rows
        if r["status"] in ("finished", "stopped") and (r.get("confirm_of") or not confirm_only)
    }


_STARTED: list[subprocess.Popen] = []  # every driver `_start` started, for `stop_started`


def _start(args, log):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "run_sweep.py", *args],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    _STARTED.append(proc)
    return proc


def stop_started():
    """Kill every driver `_start` started that still runs, with what Ray started for it (its session)."""
    for proc in _STARTED:
        if proc.poll() is None:
            _kill_group(proc)
            proc.wait(timeout=60)


def _wait_for(results, count, proc, timeout=240, confirm_only=False):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(_finished(results, confirm_only)) >= count:
            return
        if proc.poll() is not None:
            return
        time.sleep(0.5)
    raise AssertionError(f"no {count} finished trials within {timeout}s")


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver's Ray processes share its session
    except ProcessLookupError:
        pass


@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")  # an in-process sweep: the session's one Ray
def test_sweep_with_asha(small_sim, tmp_path, ray_tmp):
    from run_sweep import main

    source, target = small_sim
    args = sweep_files(tmp_path, n=4, c=1, steps=30) + [
        "name=asha",
        "asha.enabled=true",
        "asha.grace_period=12",
        f"ray_temp_dir={ray_tmp}",
        f"data.source={source}",
        f"data.target={target}",
        *TINY_SWEEP,
    ]
    assert main(args) == 0
    sweep_dir = tmp_path / "out" / "asha"
    rows = pq.read_table(sweep_dir / "results.parquet").to_pylist()
    status = {r["trial_id"]: (r["status"], r["stop_rule"]) for r in rows}
    assert len(status) == 4
    for trial_id, (state, rule) in status.items():
        last = max(r["step"] for r in rows if r["trial_id"] == trial_id)
        assert (state, last) == ("finished", 30) or (
            state == "stopped" and rule in ("asha", "pi_collapse") and last < 30
        )
    study = optuna.load_study(study_name="asha", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    for t in study.trials:
        stopped = status[t.user_attrs["ray_trial_id"]][0] == "stopped"
        assert t.state == (optuna.trial.TrialState.PRUNED if stopped else optuna.trial.TrialState.COMPLETE)
