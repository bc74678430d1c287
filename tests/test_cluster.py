"""A sweep on a real three-node Ray cluster on this machine: a node dies mid-trial, then the driver dies.

The head (no CPUs) and two worker nodes are separate `ray start` processes with token auth
(`ray_cluster.py`). The driver joins with `ray_address=auto` (RAY_ADDRESS names the head). When
node_b has checkpointed a trial, node_b's processes are killed: the trial is retried on node_c
from its last checkpoint and the table says so. Then the driver is SIGKILLed and
`resume=true` completes the sweep. The worker nodes audit their file writes: no trial writes
any of the driver's files. On the same cluster afterwards (one cluster start for the module), the
per-node data check names a missing dataset, and a driver with another token is refused.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from ray_cluster import ROOT, LocalCluster
from test_sweep_ray import TINY_SWEEP

SPACE = """description: healthy OT settings only (no rule stops a trial early)
params:
  ot.reg: {type: float, low: 1.0, high: 5.0, log: true}
  ot.tau: {type: float, low: 5.0, high: 20.0, log: true}
fixed: {ot.heuristic: hard}
"""
SWEEP = """num_samples: 3
max_concurrent: 2
max_failures: 2
ray_address: auto
resources: {cpu: 1, gpu: 0}
seed: 0
rules: [non_finite]
train: {steps: 100, log_every: 10, checkpoint_every: 10}
"""
DRIVER_FILES = {
    "results.parquet",
    "optuna.db",
    "sweep.json",
    "driver.lock",
    "report.md",
    "dashboard.html",
    "next_space.yaml",
    "curves.png",
}


def _audit(cluster: LocalCluster) -> list[tuple[str, str, str]]:
    """(node, event, path) of every audited write on the worker nodes."""
    out = []
    for log in cluster.audit_dir.glob("*.log"):
        node = log.name.split("-")[0]
        for line in log.read_text().splitlines():
            event, _, path = line.partition("\t")
            out.append((node, event, path))
    return out


def _checkpointed(audit, trials_dir: Path, node: str) -> dict[str, int]:
    """trial id -> how many checkpoints `node` has written for it (in the audit so far)."""
    counts: dict[str, int] = {}
    for n, event, path in audit:
        rel = Path(path).relative_to(trials_dir) if path.startswith(str(trials_dir)) else None
        if n == node and event == "os.rename" and rel is not None and rel.name == "state.pt":
            counts[rel.parts[0]] = counts.get(rel.parts[0], 0) + 1
    return counts


def _wait(condition, timeout_s: float, what: str, driver=None, log: Path | None = None):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        if driver is not None and driver.poll() is not None:
            raise AssertionError(
                f"the driver ended (rc {driver.returncode}) before {what}:\n" + (log.read_text()[-4000:] if log else "")
            )
        time.sleep(0.2)
    raise AssertionError(
        f"timed out after {timeout_s}s waiting for {what}:\n" + (log.read_text()[-4000:] if log else "")
    )


def _driver(args, env, log_path):
    with open(log_path, "a") as log:
        return subprocess.Popen(
            [sys.executable, "run_sweep.py", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


NODE_CHECK = (
    "import sys, ray\n"
    "from actot.sweep.cluster import check_nodes\n"
    "ray.init(address='auto', logging_level='ERROR')\n"
    "print('ok', check_nodes({'data.source': sys.argv[1]}, {'ACTOT_CACHE': ''}))\n"
    "try:\n"
    "    check_nodes({'data.source': sys.argv[2]}, {'storage': sys.argv[2]})\n"
    "except Exception as err:\n"
    "    print('refused', type(err).__name__, err)\n"
)
WRONG_TOKEN = (
    "from actot.errors import run_cli\nfrom actot.sweep.cluster import connect\n"
    "raise SystemExit(run_cli(lambda argv: connect('auto') or 0))"
)


@pytest.fixture(scope="module")
def cluster_run(small_sim, tmp_path_factory):
    """One cluster for the module (a cluster start is the slow part): the sweep that loses node_b and then its driver;
    then, on node_c alone, the per-node data check and a driver with another token."""
    tmp_path = tmp_path_factory.mktemp("cluster")
    source, target = small_sim
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    out = tmp_path / "out"
    sweep_dir, trials_dir = out / "nodes", out / "nodes" / "trials"
    args = [
        f"space={tmp_path / 'space.yaml'}",
        f"sweep={tmp_path / 'sweep.yaml'}",
        f"storage={out}",
        "name=nodes",
        f"data.source={source}",
        f"data.target={target}",
        *TINY_SWEEP,
        "wandb.mode=disabled",  # W&B across kills and resumes: tests/test_sweep_resume_index.py (W&B offline)
    ]
    log_path = tmp_path / "driver.log"
    cluster = LocalCluster(audit_watch=out)
    driver = None
    try:
        cluster.start()
        env = cluster.client_env(PYTHONUNBUFFERED="1")

        # 1. node_b checkpoints a trial, then node_b's processes are killed (raylet, object store, the trial).
        driver = _driver(args, env, log_path)
        lost = _wait(
            lambda: _checkpointed(_audit(cluster), trials_dir, "node_b"),
            240,
            "a checkpoint on node_b",
            driver,
            log_path,
        )
        lost_trial = next(iter(lost))
        cluster.kill_node("node_b")

        # 2. The trial is retried on node_c from its checkpoint; once a trial has finished, the driver is killed.
        def retried_and_one_done():
            try:
                rows = pq.read_table(sweep_dir / "results.parquet").to_pylist()
            except Exception:  # noqa: BLE001 - not written yet, or being replaced
                return False
            return any(r["retries"] for r in rows) and any(r["status"] == "finished" for r in rows)

        _wait(retried_and_one_done, 300, "the retry and a finished trial", driver, log_path)
        _kill(driver)

        # 3. resume=true (the same command) completes the sweep on the remaining node.
        driver = _driver([*args, "resume=true"], env, log_path)
        rc = driver.wait(timeout=400)
        text = log_path.read_text()

        # 4. The per-node check (data present, then missing), and a driver with another token, on node_c.
        missing = tmp_path / "not-here"
        checked = subprocess.run(
            [sys.executable, "-c", NODE_CHECK, str(tmp_path), str(missing)],
            cwd=ROOT,
            env=cluster.client_env(),
            capture_output=True,
            text=True,
            timeout=180,
        )
        wrong = subprocess.run(
            [sys.executable, "-c", WRONG_TOKEN],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
            env=cluster.client_env(RAY_AUTH_TOKEN="not-the-cluster-token"),
        )
    finally:
        if driver is not None and driver.poll() is None:
            _kill(driver)
        audit = _audit(cluster) if cluster.audit_dir.exists() else []
        cluster.stop()
    return SimpleNamespace(
        rc=rc,
        text=text,
        lost_trial=lost_trial,
        audit=audit,
        leftovers=cluster.leftovers(),
        sweep_dir=sweep_dir,
        trials_dir=trials_dir,
        checked=checked,
        missing=missing,
        wrong=wrong,
    )


@pytest.mark.slow
@pytest.mark.cluster
def test_sweep_on_three_nodes_survives_a_lost_node_and_a_killed_driver(cluster_run):
    run = cluster_run
    text, lost_trial, sweep_dir, trials_dir = run.text, run.lost_trial, run.sweep_dir, run.trials_dir
    assert run.rc == 0, text[-4000:]
    assert run.leftovers == []

    assert "joined the Ray cluster at auto: 2 node(s) can run trials" in text
    assert f"trial {lost_trial} lost" in text and "retry 1 of 2" in text
    rows = pq.read_table(sweep_dir / "results.parquet").to_pylist()
    trials = {r["trial_id"] for r in rows}
    assert len(trials) == 3 and all(r["status"] == "finished" for r in rows)
    mine = [r for r in rows if r["trial_id"] == lost_trial]
    assert mine[0]["retries"] >= 1 and mine[0]["resumed_from"] >= 10  # from a checkpoint, not from scratch
    steps = [r["step"] for r in mine]
    assert steps == list(range(0, 101, 10)), steps  # nothing lost, nothing duplicated
    # It went on on node_c: node_c wrote its later checkpoints.
    assert _checkpointed(run.audit, trials_dir, "node_c").get(lost_trial, 0) >= 1
    # The table of the resumed driver shows the retry.
    assert "retried 1x, resumed from step" in text

    # Trials wrote their own folders, and none of the driver's files.
    written = [(n, e, Path(p)) for n, e, p in run.audit]
    assert any(p.is_relative_to(trials_dir) for _, _, p in written)
    assert {n for n, _, _ in written} <= {"node_b", "node_c"}
    driver_writes = [
        (n, e, str(p))
        for n, e, p in written
        if p.name in DRIVER_FILES or (p.parent == sweep_dir and not p.name.startswith(".node-probe-"))
    ]
    assert driver_writes == []


@pytest.mark.slow
@pytest.mark.cluster
def test_a_node_without_the_data_is_named_before_any_trial_runs(cluster_run):
    """The per-node check names what a node lacks, with the node's address (nothing trains); a driver with another
    token (or without token auth) is refused in one line."""
    done, wrong, missing = cluster_run.checked, cluster_run.wrong, cluster_run.missing
    assert cluster_run.leftovers == []
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ok 1" in done.stdout
    refused = next(line for line in done.stdout.splitlines() if line.startswith("refused"))
    assert refused.startswith("refused ActotError") and f"data.source={missing} does not exist" in refused
    assert re.search(r"node \S+ \([0-9a-f]{8}\): ", refused) and "is not visible here" in refused
    assert wrong.returncode == 2, wrong.stderr[-3000:]
    assert "ray_address=auto: cannot join the Ray cluster" in wrong.stderr and "RAY_AUTH_MODE" in wrong.stderr
    assert "not-the-cluster-token" not in wrong.stderr + wrong.stdout


def test_fractional_resources_set_threads_and_a_gpu_memory_cap(tmp_path):
    """resources.gpu=0.25 caps each trial at a quarter of the GPU's memory (Ray's fractions are logical only)."""
    from actot.errors import ActotError
    from actot.sweep.config import apply_cli, load_sweep
    from actot.sweep.preflight import prepare
    from actot.sweep.space import load_space

    space = load_space("ot_reg")
    cfg = apply_cli(load_sweep("gpu")[0], ["resources.gpu=0.25", "resources.cpu=0.5", f"storage={tmp_path}"])
    base, _, base_cfg = prepare(space, cfg)
    assert base["gpu_memory_fraction"] == 0.25 and base_cfg.gpu_memory_fraction == 0.25
    assert base["threads"] == 1
    whole = apply_cli(load_sweep("gpu")[0], ["resources.gpu=1", f"storage={tmp_path}"])
    assert prepare(space, whole)[2].gpu_memory_fraction == 0.0  # a whole GPU: no cap
    with pytest.raises(ActotError, match=r"gpu_memory_fraction=1.5 is out of range"):
        prepare(space, apply_cli(load_sweep("local")[0], ["gpu_memory_fraction=1.5", f"storage={tmp_path}"]))
    with pytest.raises(ActotError, match=r"max_failures=-1 is out of range"):
        apply_cli(load_sweep("local")[0], ["max_failures=-1"])
