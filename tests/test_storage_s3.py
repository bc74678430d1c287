"""storage=s3://: the sweep's state, results and checkpoints live in object storage (moto's S3 server on 127.0.0.1).

A driver is SIGKILLed after a trial has finished; its local mirror is deleted (as on another
machine); `resume=true` pulls the sweep from S3 and completes it from Ray's state and
checkpoints there. The bucket then holds the driver's files, Ray's experiment state, the
checkpoints and each trial's folder.
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
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from ray_cluster import ROOT, free_port
from test_sweep_ray import SPACE, TINY_SWEEP

SWEEP = """num_samples: 3
max_concurrent: 1
resources: {cpu: 1, gpu: 0}
seed: 0
rules: [non_finite]
train: {steps: 30, log_every: 5, checkpoint_every: 5}
"""
SECRET = "s3cr3t-never-written-anywhere"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": SECRET,
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture
def s3_server(tmp_path):
    """moto's S3 server on 127.0.0.1 with a bucket `sweeps`; yields its endpoint; stopped afterwards."""
    import boto3

    port = free_port()
    log = open(tmp_path / "moto.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **S3_ENV},
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key=SECRET,
        )
        deadline = time.time() + 60
        while True:
            try:
                client.create_bucket(Bucket="sweeps")
                break
            except Exception:  # noqa: BLE001 - the server is still starting
                assert time.time() < deadline and proc.poll() is None, (tmp_path / "moto.log").read_text()
                time.sleep(0.3)
        yield endpoint, client
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        log.close()


def _keys(client) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="sweeps")
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def _resumable(client, prefix: str) -> set[str]:
    """Trials that Ray's latest saved experiment state in the bucket holds as unfinished with a checkpoint: the ones
    a resume continues from that checkpoint."""
    states = sorted(k for k in _keys(client) if k.startswith(f"{prefix}/experiment_state-") and k.endswith(".json"))
    if not states:
        return set()
    try:
        state = json.loads(client.get_object(Bucket="sweeps", Key=states[-1])["Body"].read())
    except ValueError:  # being replaced
        return set()
    out = set()
    for trial_json, run_json in state.get("trial_data", []):
        trial, run = json.loads(trial_json), json.loads(run_json)
        if trial.get("status") not in ("TERMINATED", "ERROR") and (run.get("last_result") or {}).get(
            "checkpoint_dir_name"
        ):
            out.add(trial["trial_id"])
    return out


def _kill(driver) -> None:
    """SIGKILL the driver, the one-node Ray it started (its process group) and Ray's workers (each in a process group
    of its own, in the driver's session), and wait for the driver."""
    try:
        os.killpg(driver.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for entry in Path("/proc").iterdir():
        try:
            session = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3]) if entry.name.isdigit() else 0
            if session == driver.pid:
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, IndexError, ValueError):
            continue
    driver.wait(timeout=60)


@pytest.mark.slow
@pytest.mark.cluster
def test_sweep_in_s3_survives_a_killed_driver_and_a_lost_local_mirror(small_sim, tmp_path, s3_server):
    endpoint, client = s3_server
    source, target = small_sim
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    ray_tmp = f"/tmp/rs{os.getpid()}"
    storage = f"s3://sweeps/team?endpoint_override={endpoint}&region=us-east-1"
    args = [
        f"space={tmp_path / 'space.yaml'}",
        f"sweep={tmp_path / 'sweep.yaml'}",
        f"storage={storage}",
        "name=s3",
        f"ray_temp_dir={ray_tmp}",
        f"data.source={source}",
        f"data.target={target}",
        *TINY_SWEEP,
        "wandb.mode=disabled",  # W&B across kills and resumes: tests/test_sweep_resume_index.py (W&B offline)
    ]
    env = {**os.environ, **S3_ENV, "PYTHONUNBUFFERED": "1"}
    log_path = tmp_path / "driver.log"

    def finished_in_s3() -> int:
        try:
            body = client.get_object(Bucket="sweeps", Key="team/s3/results.parquet")["Body"].read()
        except client.exceptions.NoSuchKey:
            return 0
        (tmp_path / "peek.parquet").write_bytes(body)
        rows = pq.read_table(tmp_path / "peek.parquet").to_pylist()
        return len({r["trial_id"] for r in rows if r["status"] == "finished"})

    from actot.sweep.storage import local_mirror

    mirror = local_mirror(storage, "s3")
    driver = None
    try:
        with open(log_path, "w") as log:
            driver = subprocess.Popen(
                [sys.executable, "run_sweep.py", *args],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            # Killed once a trial has finished and Ray's saved state holds a running trial with a checkpoint, so that
            # the resume continues that trial from its checkpoint (its earlier steps were reported to this driver only).
            deadline = time.time() + 300
            while finished_in_s3() < 1 or not _resumable(client, "team/s3"):
                assert time.time() < deadline and driver.poll() is None, log_path.read_text()[-4000:]
                time.sleep(0.1)
            _kill(driver)
            resumable = _resumable(client, "team/s3")  # what Ray restores: the state the driver left
            first = log_path.read_text()
            assert mirror.is_dir()
            shutil.rmtree(mirror)  # as if the sweep resumed on another machine

            driver = subprocess.Popen(
                [sys.executable, "run_sweep.py", *args, "resume=true"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            rc = driver.wait(timeout=400)
    finally:
        if driver is not None and driver.poll() is None:  # a wait that timed out: the driver, its Ray, its workers
            _kill(driver)
        shutil.rmtree(ray_tmp, ignore_errors=True)
        shutil.rmtree(Path(tempfile.gettempdir()) / "actot-trials" / "s3", ignore_errors=True)  # the killed trial's
    text = log_path.read_text()
    assert rc == 0, text[-4000:]
    assert "pulled sweep.json, results.parquet, optuna.db" in text and "uploaded to s3://sweeps/team/s3" in text
    for trial in resumable:  # continued from its checkpoint, not from scratch
        assert f"trial {trial} resumed from step" in text[len(first) :], (trial, text[len(first) :][-3000:])

    keys = _keys(client)
    for name in ("sweep.json", "results.parquet", "optuna.db", "report.md", "dashboard.html", "next_space.yaml"):
        assert f"team/s3/{name}" in keys, name
    assert any(k.startswith("team/s3/experiment_state") for k in keys)  # Ray's state, for Tuner.restore
    checkpoints = [k for k in keys if k.endswith("/state.pt")]
    assert checkpoints and all("/checkpoint_" in k for k in checkpoints)  # Ray's checkpoints, none of ours twice
    rows = pq.read_table(mirror / "results.parquet").to_pylist()
    trials = sorted({r["trial_id"] for r in rows})
    assert len(trials) == 3 and all(r["status"] == "finished" for r in rows)
    for trial in trials:
        steps = [r["step"] for r in rows if r["trial_id"] == trial]
        assert steps == [0, 5, 10, 15, 20, 25, 30], (trial, steps)
        assert f"team/s3/trials/{trial}/history.parquet" in keys  # each trial uploaded its own folder
        assert f"team/s3/trials/{trial}/summary.json" in keys
    assert SECRET not in text
    for file in mirror.rglob("*"):
        assert not file.is_file() or SECRET.encode() not in file.read_bytes(), file


def test_credentials_in_the_storage_uri_are_refused(tmp_path, capsys):
    from run_sweep import main

    code = main(
        ["space=ot_reg", "storage=s3://b/p?access_key=AKIA123&secret_key=abc", "dry_run=false", "num_samples=1"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "credentials in the URI" in err and "abc" not in err


def test_a_resumed_trial_keeps_the_steps_before_its_checkpoint_with_object_storage(tmp_path, monkeypatch):
    """With object storage a trial's history lives on its node and reaches the bucket when the trial ends. A trial
    resumed from its checkpoint at step 5 reports steps 10-30 to the resumed driver; steps 0 and 5 were reported to
    the killed one only. When it ends, its index rows are the history it uploaded (0-30), not the steps this driver
    saw. (A local folder stands in for the bucket: `file://` goes through the same pyarrow filesystem code.)"""
    from actot.run_log import write_history
    from actot.sweep.callbacks import ResultsRecorder
    from actot.sweep.space import load_space
    from actot.sweep.storage import RemoteSweep, local_mirror, upload_trial_folder
    from actot.sweep.store import ResultsStore

    monkeypatch.setenv("ACTOT_CACHE", str(tmp_path / "cache"))
    storage = f"file://{tmp_path / 'bucket'}"
    remote = RemoteSweep(storage, "s3", local_mirror(storage, "s3"))
    remote.local_dir.mkdir(parents=True)
    store = ResultsStore(remote.local_dir, load_space("ot_reg"), "eval/avg_l1", "min", "s3", total_steps=30)
    recorder = ResultsRecorder(store, num_samples=1, remote=remote)
    params = {"ot.reg": 1.0, "ot.tau": 5.0}
    rows = [{"step": step, "eval/avg_l1": 1.0 / (step + 1), "train/loss": 2.0 - step / 30} for step in range(0, 31, 5)]
    node = tmp_path / "node" / "t1"  # the trial's folder on its node: its history, restored from the checkpoint
    node.mkdir(parents=True)
    write_history(node / "history.parquet", rows)
    (tmp_path / "bucket" / "s3" / "trials" / "t1").mkdir(parents=True)  # a bucket has no folders to make
    upload_trial_folder(remote.uri, "t1", node)  # as the trial does when it ends

    store.start("t1", params)
    for row in rows[2:]:  # what the resumed driver saw: the reports after the checkpoint at step 5
        store.add_result("t1", params, {**row, "resumed_from_step": 5})
    recorder.on_trial_complete(0, [], SimpleNamespace(trial_id="t1", config=params))

    index = pq.read_table(remote.local_dir / "results.parquet").to_pylist()
    assert [r["step"] for r in index] == [0, 5, 10, 15, 20, 25, 30]
    assert all(r["status"] == "finished" and r["resumed_from"] == 5 for r in index)
    assert [r["train/loss"] for r in index] == [r["train/loss"] for r in rows]
