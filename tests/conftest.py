"""Shared fixtures: a private cache folder, offline W&B, a small embedded sim, the shared datasets."""

import os
import shutil
from pathlib import Path

import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
G1 = SHARED_DATASETS / "g1_pick_bottle_v21"
SO101 = SHARED_DATASETS / "so101_record_v30"


RAY_LEFTOVERS = (Path("/tmp/_ray_lockfiles"), Path.home() / ".ray")


@pytest.fixture(scope="session", autouse=True)
def _isolated_env(tmp_path_factory):
    existed = {p: p.exists() for p in RAY_LEFTOVERS}
    cache = tmp_path_factory.mktemp("actot_cache")
    os.environ["ACTOT_CACHE"] = str(cache)
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ.pop("WANDB_API_KEY", None)
    yield
    for path, was_there in existed.items():  # remove what Ray created during the tests
        if not was_there:
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def small_sim(tmp_path_factory):
    """(source_root, target_root): the default benchmark, small: 30 source demos, 6 target
    training demos (goals in the left half), 2 held-out target demos; generated once per session."""
    from actot.sim import SimConfig, generate

    out = tmp_path_factory.mktemp("sim") / "small"
    return generate(out, SimConfig(n_source=30, n_target=6, n_eval=2, seed=1))


@pytest.fixture(scope="session")
def twin_sim(tmp_path_factory):
    """The old benchmark (data.sim.twins=true, target_region=all): each target demo restarts a source demo."""
    from actot.sim import SimConfig, generate

    out = tmp_path_factory.mktemp("sim") / "twins"
    return generate(out, SimConfig(n_source=16, n_target=6, n_eval=2, seed=2, twins=True, target_region="all"))


def need(path: Path):
    if not path.exists():
        pytest.skip(f"shared dataset {path} not present")
    return path


@pytest.fixture
def g1_copy(tmp_path):
    """A writable copy of the G1 dataset's meta, and data and video of episodes 1 and 2."""
    src = need(G1)
    dst = tmp_path / "g1"
    shutil.copytree(src / "meta", dst / "meta")
    (dst / "data/chunk-000").mkdir(parents=True)
    (dst / "videos/chunk-000/observation.images.cam_high").mkdir(parents=True)
    for ep in (1, 2):
        shutil.copy(src / f"data/chunk-000/episode_{ep:06d}.parquet", dst / "data/chunk-000")
        shutil.copy(src / f"videos/chunk-000/observation.images.cam_high/episode_{ep:06d}.mp4",
                    dst / "videos/chunk-000/observation.images.cam_high")
    return dst
