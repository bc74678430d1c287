"""bench/goal_probe.py on a real tiny run: its error is a finite number, its goal labels are the goals the frames
show, its target frames are those of the uncovered half, and its regression reads a goal that is in the features."""

import json
import math
import shutil

import numpy as np
import pytest

from bench import goal_probe
from bench.runs import TINY, run_one


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny co-training run of a few steps on the tiny embedded sim, as `python -m bench.transfer_study run --quick` trains."""
    out = tmp_path_factory.mktemp("goal_probe")
    job = {
        "id": "screen/cotrain/s0",
        "group": "screen",
        "name": "cotrain",
        "overrides": {"ot.lambda_ot": 0.0},
        "seed": 0,
        "out_dir": str(out),
        "common": {**TINY, "steps": 4, "log_every": 2, "rollout_episodes": 2, "threads": 1},
    }
    assert run_one(job)["status"] == "finished"
    return out / job["id"]


def test_the_probe_of_a_tiny_run_is_a_finite_error_in_success_radii(tiny_run):
    result = goal_probe.probe(tiny_run)
    assert all(math.isfinite(result[k]) and result[k] >= 0 for k in ("target", "covered", "source", "chance"))
    assert goal_probe.probe_run(tiny_run) == result["target"]


def test_a_run_without_a_checkpoint_has_no_probe(tiny_run, tmp_path):
    (tmp_path / "run").mkdir()
    shutil.copy(tiny_run / "config.json", tmp_path / "run" / "config.json")
    assert goal_probe.probe_run(tmp_path / "run") is None
    assert goal_probe.probe_run(tmp_path / "missing") is None


def test_source_labels_are_the_goals_the_top_camera_shows(tiny_run):
    """The red disk's centre in each source demo's first frame (the robot is then far from it) is its label."""
    from actot.sim.task import _CAMERA_GEOMETRY

    cfg, data, spec, truth, model = goal_probe.load_run(tiny_run)
    batch, goals, demo = goal_probe.source_frames(data, truth, max_frames=10**6)
    first = np.flatnonzero(np.r_[True, demo[1:] != demo[:-1]])
    top = batch["images"][first, data.cameras.index("observation.images.top")].astype(float)  # (n, H, W, 3)
    size = top.shape[1]
    centre = (np.arange(size) + 0.5) / size * 2 - 1  # pixel centres in [-1, 1]; image rows go down
    x, y = np.meshgrid(centre, -centre)
    red = np.clip(top[..., 0] - top[..., 1:].max(-1) - 40, 0, None)  # the goal's (220, 40, 40) stands out
    half_width = _CAMERA_GEOMETRY["observation.images.top"]["half_width"]
    seen = half_width * np.stack([(red * x).sum((1, 2)), (red * y).sum((1, 2))], 1) / red.sum((1, 2))[:, None]
    assert len(first) == len(data.src) and np.linalg.norm(seen - goals[first], axis=1).max() < 0.1
    shuffled = np.roll(goals[first], 1, axis=0)  # another demo's goals: the check can tell them apart
    assert np.linalg.norm(seen - shuffled, axis=1).max() > 0.3


def test_target_frames_are_the_uncovered_halfs_and_the_covered_halfs(tiny_run):
    from actot.sim.task import in_region

    cfg, data, spec, truth, model = goal_probe.load_run(tiny_run)
    for covered in (False, True):
        batch, goals = goal_probe.target_frames(data, spec, n_layouts=10, covered=covered)
        assert len(goals) == len(batch["state"]) == len(batch["images"]) > 0
        assert batch["images"].shape[1:] == (len(data.cameras), *data.target.frame_size, 3)
        assert (in_region(goals, spec.target_region) == covered).all()


def test_the_regression_reads_a_goal_that_is_in_the_features():
    rng = np.random.default_rng(0)
    goals = np.repeat(rng.uniform(-0.8, 0.8, (40, 2)), 10, axis=0)  # 40 demos of 10 frames
    features = np.concatenate([goals @ rng.normal(size=(2, 6)), rng.normal(size=(400, 10))], 1)  # goal, mixed, + noise
    demo = np.repeat(np.arange(40), 10)
    predict = goal_probe.fit(features[demo < 30], goals[demo < 30], demo[demo < 30])
    assert np.linalg.norm(predict(features[demo >= 30]) - goals[demo >= 30], axis=1).max() < 0.05


def test_pair_ratio_reads_the_same_pairs_each_time_in_both_spaces(tiny_run):
    first = goal_probe.pair_ratio(tiny_run, batches=3)
    assert first == goal_probe.pair_ratio(tiny_run, batches=3)  # the same draws: runs of a group compare on one set
    assert first["batches"] == 3 and all(first[space] > 0.0 for space in ("unit", "raw"))
    assert first != goal_probe.pair_ratio(tiny_run, batches=3, seed=1)
    assert goal_probe.pair_ratio(tiny_run.parent / "missing") is None


def test_pair_ratio_measures_an_arm_on_the_pairs_of_its_cotraining(tiny_run, tmp_path):
    """An arm with another pairing option (the outcome summary) is measured on its co-training's pairs with
    pairs_from: the same weights then give the same ratio as measured where they were trained; on its own pairs,
    another."""
    arm = tmp_path / "outcome"
    shutil.copytree(tiny_run, arm)
    config = json.loads((arm / "config.json").read_text())
    config["data"]["pair_summary"] = ["observation.state"]
    (arm / "config.json").write_text(json.dumps(config))
    reference = goal_probe.pair_ratio(tiny_run, batches=3)
    assert goal_probe.pair_ratio(arm, pairs_from=tiny_run, batches=3) == reference
    assert goal_probe.pair_ratio(arm, batches=3) != reference
