"""storage=s3://: the sweep's state, results and checkpoints live in object storage (moto's S3 server on 127.0.0.1).

A driver is SIGKILLed after a trial has finished; its local mirror is deleted (as on another
machine); `resume=true` pulls the sweep from S3 and completes it from Ray's state and
checkpoints there. The bucket then holds the driver's files, Ray's experiment state, the
checkpoints and each trial's folder.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ray_cluster import ROOT, free_port
from test_sweep_ray import SPACE, TINY_MODEL

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
        *TINY_MODEL,
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
            deadline = time.time() + 300
            while finished_in_s3() < 1:
                assert time.time() < deadline and driver.poll() is None, log_path.read_text()[-4000:]
                time.sleep(0.5)
            os.killpg(driver.pid, signal.SIGKILL)  # the driver and the one-node Ray it started
            driver.wait(timeout=60)
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
            os.killpg(driver.pid, signal.SIGKILL) if driver.poll() is None else None
    finally:
        if driver is not None and driver.poll() is None:  # a wait that timed out: the driver and its Ray
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait(timeout=60)
        shutil.rmtree(ray_tmp, ignore_errors=True)
        shutil.rmtree(Path(tempfile.gettempdir()) / "actot-trials" / "s3", ignore_errors=True)  # the killed trial's
    text = log_path.read_text()
    assert rc == 0, text[-4000:]
    assert "pulled sweep.json, results.parquet, optuna.db" in text and "uploaded to s3://sweeps/team/s3" in text

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
