"""The target's gap in two knobs: `appearance` (colours, texture, noise, blur) and `geometry` (the cameras)."""

import hashlib
import json
from dataclasses import asdict

import numpy as np
import pytest

from actot.sim.config import SIM_VERSION, SimConfig
from actot.sim.generate import source_env, target_env
from actot.sim.task import _GOAL, CAMERAS, Renderer, sample_initial_states

STATIC = [c for c in CAMERAS if c != "observation.images.wrist"]


def _frames(spec: SimConfig, domain: str, inits: np.ndarray, steps: int = 2) -> list[dict[str, np.ndarray]]:
    env = (target_env if domain == "target" else source_env)(spec, len(inits), seed=7)
    out = [env.reset(inits)]
    for _ in range(steps):
        out.append(env.step(np.full((len(inits), 2), 0.5))[0])
    return out


def test_unset_knobs_follow_shift_and_keep_todays_cache_key():
    # SimConfig().key() as it was before the two knobs existed (the fields of then, SIM_VERSION 2)
    before = dict(
        n_source=200,
        n_target=10,
        shift=2.0,
        size=64,
        seed=0,
        noise=0.15,
        target_region="left_half",
        twins=False,
        n_eval=8,
        eval_min_distance=0.2,
        version=SIM_VERSION,
    )
    old_key = hashlib.sha1(json.dumps(before, sort_keys=True).encode()).hexdigest()[:12]
    assert SimConfig().key() == old_key == "0c55ff3a97ff"
    assert SimConfig(appearance=2.0).key() != old_key and SimConfig(geometry=2.0).key() != old_key
    assert (
        SimConfig.from_dict({k: v for k, v in asdict(SimConfig()).items() if k not in ("appearance", "geometry")}).key()
        == old_key
    )  # an older pairs file
    inits = sample_initial_states(np.random.default_rng(3), 3)
    for shift in (2.0, 0.5):
        unset = _frames(SimConfig(shift=shift, size=32), "target", inits)
        explicit = _frames(SimConfig(shift=shift, size=32, appearance=shift, geometry=shift), "target", inits)
        for a, b in zip(unset, explicit):
            for cam in CAMERAS:
                assert np.array_equal(a[cam], b[cam]), (shift, cam)


def test_no_geometry_puts_the_static_cameras_where_the_source_has_them():
    spec = SimConfig(size=32, appearance=2.0, geometry=0.0)
    source, target = Renderer("source", size=32), Renderer("target", size=32, appearance=2.0, geometry=0.0)
    for cam in CAMERAS:
        assert np.array_equal(source.points[cam], target.points[cam]), cam
    inits = sample_initial_states(np.random.default_rng(4), 3)
    source.render(inits[:, 0:2], inits), target.render(inits[:, 0:2], inits)
    for cam in STATIC:  # the goal's pixels are the source's, whatever their colours
        assert (source._scene[cam] == _GOAL).any() and np.array_equal(
            source._scene[cam] == _GOAL, target._scene[cam] == _GOAL
        )
    src, tgt = _frames(spec, "source", inits)[0], _frames(spec, "target", inits)[0]
    assert all(np.abs(src[c].astype(float) - tgt[c]).mean() > 10 for c in CAMERAS)  # the appearance gap is there
    # and with neither gap the target is the source
    none = SimConfig(size=32, appearance=0.0, geometry=0.0)
    for a, b in zip(_frames(none, "source", inits), _frames(none, "target", inits)):
        for cam in CAMERAS:
            assert np.array_equal(a[cam], b[cam]), cam


def test_geometry_alone_rotates_the_cameras_in_the_source_colours():
    inits = sample_initial_states(np.random.default_rng(5), 3)
    spec = SimConfig(size=32, appearance=0.0, geometry=2.0)
    target = Renderer("target", size=32, appearance=0.0, geometry=2.0)
    src, tgt = _frames(spec, "source", inits)[0], _frames(spec, "target", inits)[0]
    source_colours = {tuple(c) for c in np.rint(Renderer("source", size=32).palette).astype(np.uint8)}
    for cam in CAMERAS:
        assert {tuple(p) for p in tgt[cam].reshape(-1, 3)} <= source_colours, cam  # no cast, texture, noise or blur
        assert not np.array_equal(src[cam], tgt[cam]), cam  # rotated (and the static ones moved)
        assert not np.allclose(Renderer("source", size=32).points[cam], target.points[cam]), cam
    same_cameras = Renderer("target", size=32, appearance=2.0, geometry=2.0)  # the default target's cameras
    for cam in CAMERAS:
        assert np.array_equal(same_cameras.points[cam], target.points[cam]), cam


def test_the_source_has_no_gap_whatever_the_knobs():
    inits = sample_initial_states(np.random.default_rng(6), 2)
    plain = _frames(SimConfig(size=32), "source", inits)
    knobs = _frames(SimConfig(size=32, appearance=3.0, geometry=1.0), "source", inits)
    for a, b in zip(plain, knobs):
        for cam in CAMERAS:
            assert np.array_equal(a[cam], b[cam]), cam


@pytest.mark.parametrize("key", ["appearance", "geometry"])
def test_negative_strengths_are_refused_in_one_line(key):
    from actot.config import parse_cli, validate
    from actot.errors import ActotError

    validate(parse_cli([f"data.sim.{key}=0.5"]))
    with pytest.raises(ActotError) as err:
        validate(parse_cli([f"data.sim.{key}=-1"]))
    assert f"data.sim.{key}=-1.0 is out of range" in str(err.value) and "\n" not in str(err.value)
