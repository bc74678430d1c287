"""Shared fixtures: a private cache folder, offline W&B, a small embedded sim, the shared datasets, one Ray for the
session's in-process sweeps, and the hand-built sweep folder (tests/sweep_fixture.py) built once and copied per test."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
G1 = SHARED_DATASETS / "g1_pick_bottle_v21"
SO101 = SHARED_DATASETS / "so101_record_v30"


# What Ray leaves behind: removed after the session if it was not there before (/tmp/ray: the bench scripts' Ray).
RAY_LEFTOVERS = (Path("/tmp/_ray_lockfiles"), Path.home() / ".ray", Path("/tmp/ray"))

# The modules that take longest, longest first (CPU seconds on 2 cores, issue 28); the others follow in their own
# order. `make test` runs two pytest-xdist workers that take whole files (`--dist loadfile`) in this order
# (`--no-loadscope-reorder`), each its next file when it runs low: the long files start first, the short ones fill
# the end, and both workers finish close together. A module's own tests keep their order.
LONGEST_FIRST = (
    "test_rule_audit",
    "test_sweep_paired",
    "test_sweep_metrics",
    "test_sweep_resume_index",
    "test_transfer_study",
    "test_sweep_resume",
    "test_cluster",
    "test_storage_s3",
    "test_sweep_ray",
    "test_sweep_confirm",
    "test_pairing",
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: the rest keep their order


_LEFTOVERS = pytest.StashKey[dict]()  # {path: whether it existed before the session}


def _controller(config) -> bool:
    """Whether this process runs the session as a whole: pytest without xdist, or xdist's controller (not a worker)."""
    return not hasattr(config, "workerinput")


def pytest_sessionstart(session):
    if _controller(session.config):
        session.config.stash[_LEFTOVERS] = {p: p.exists() for p in RAY_LEFTOVERS}


def pytest_sessionfinish(session):
    """Remove what Ray created during the tests, once, after every worker has finished (not when one has: the other
    may still be running Ray)."""
    for path, was_there in session.config.stash.get(_LEFTOVERS, {}).items():
        if not was_there:
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _isolated_env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("actot_cache")
    os.environ["ACTOT_CACHE"] = str(cache)
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ.pop("WANDB_API_KEY", None)


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


@pytest.fixture(scope="session")
def ray_session(_isolated_env):
    """One Ray instance for the whole session, started on first use and shut down (its temp dir removed) at the end.

    For tests that run a sweep in this process (`run_sweep.main`): a driver that finds Ray running uses it and
    leaves it running (actot.sweep.tuner.init_ray), so these sweeps share one Ray start instead of paying one
    each. Sweeps run as `run_sweep.py` processes (the SIGINT/SIGKILL tests) start and stop their own Ray, as a
    user's driver does. Started after `_isolated_env`: its workers, and so every trial, inherit the test cache
    and offline W&B."""
    import ray

    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths have a length limit
    from actot.sweep.tuner import NO_PRESTART

    os.environ.setdefault(*NO_PRESTART)  # as init_ray does for a sweep's own Ray
    ray.init(
        num_cpus=os.cpu_count(), include_dashboard=False, _temp_dir=temp, logging_level="ERROR", log_to_driver=False
    )
    yield
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="session")
def built_sweep(tmp_path_factory) -> Path:
    """The hand-built sweep folder of tests/sweep_fixture.py (`build`), built once per session: never write to it,
    take `fixture_dir` (a copy) instead."""
    from sweep_fixture import build

    return build(tmp_path_factory.mktemp("built") / "fixture")


@pytest.fixture
def fixture_dir(built_sweep, tmp_path) -> Path:
    """A private copy of the hand-built sweep folder (tests/sweep_fixture.py), at tmp_path/fixture: what
    `build(tmp_path / "fixture")` writes, without building it again."""
    return Path(shutil.copytree(built_sweep, tmp_path / "fixture"))


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
        shutil.copy(
            src / f"videos/chunk-000/observation.images.cam_high/episode_{ep:06d}.mp4",
            dst / "videos/chunk-000/observation.images.cam_high",
        )
    return dst
