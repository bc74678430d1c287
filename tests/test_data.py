"""The LeRobot reader on the two shared real datasets and on our simulator's output."""

import numpy as np
import pytest

from actot.data import LeRobotDataset
from actot.errors import ActotError
from actot.data.pairing import dtw_costs, dtw_match, twin_recovery_rate
from actot.data.sampler import CoTrainData, CoTrainSampler
from actot.sim import load_true_pairs
from tests.conftest import G1, SO101, need

CAM = "observation.images.cam_high"


def test_g1_v21_with_video(tmp_path):
    ds = LeRobotDataset(need(G1), episodes=[1, 2, 4, 5], cameras=[CAM], resolution=(48, 64), cache_dir=tmp_path)
    assert ds.version == "v2.1" and ds.fps == 30
    assert [len(e) for e in ds.episodes] == [393, 343, 357, 368]  # meta/episodes.jsonl lengths
    assert ds.num_frames == 1461
    ep = ds.episodes[0]
    assert ep.state.shape == (393, 26) and ep.action.shape == (393, 26)
    frames = ep.frames[CAM]
    assert frames.shape == (393, 48, 64, 3) and frames.dtype == np.uint8
    assert 20 < frames[100].mean() < 240 and frames[100].std() > 5  # a real picture, not blank
    assert ds.stats_source == "meta/episodes_stats.jsonl"
    assert ds.stats["observation.state"].mean.shape == (26,)


def test_frame_cache_is_reused_and_memory_mapped(g1_copy, tmp_path):
    first = LeRobotDataset(g1_copy, episodes=[1], cameras=[CAM], resolution=32, cache_dir=tmp_path / "cache")
    video = g1_copy / f"videos/chunk-000/{CAM}/episode_000001.mp4"
    video.unlink()  # a second load that decoded again would fail now
    again = LeRobotDataset(g1_copy, episodes=[1], cameras=[CAM], resolution=32, cache_dir=tmp_path / "cache")
    assert isinstance(again.episodes[0].frames[CAM], np.memmap)
    assert np.array_equal(again.episodes[0].frames[CAM], first.episodes[0].frames[CAM])
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 1
    with pytest.raises(ActotError, match="video file missing"):  # another resolution is another cache entry
        LeRobotDataset(g1_copy, episodes=[1], cameras=[CAM], resolution=16, cache_dir=tmp_path / "cache")


def test_g1_state_only_all_episodes():
    ds = LeRobotDataset(need(G1), cameras=[])
    assert len(ds.episodes) == 100 and ds.num_frames == 35965


def test_so101_v30_state_action_only():
    ds = LeRobotDataset(need(SO101), cameras=[])
    assert ds.version == "v3.0" and ds.num_frames == 1492
    assert [len(e) for e in ds.episodes] == [373, 374, 372, 373]  # meta/episodes lengths
    assert ds.episodes[2].state.shape == (372, 6)
    assert ds.stats_source == "meta/stats.json"
    chosen = LeRobotDataset(SO101, episodes=[3], cameras=[])
    assert chosen.episodes[0].index == 3 and len(chosen.episodes) == 1


def test_sim_dataset_loads(small_sim, tmp_path):
    source, target = small_sim
    ds = LeRobotDataset(source, resolution=32, cache_dir=tmp_path)
    assert ds.version == "v3.0" and len(ds.episodes) == 30 and len(ds.cameras) == 3
    assert ds.episodes[5].frames["observation.images.top"].shape[1:] == (32, 32, 3)
    full = LeRobotDataset(target, cache_dir=tmp_path)
    assert full.frame_size == (64, 64) and len(full.episodes) == 6 + 2  # training demos, then held-out ones


def test_sim_cli_writes_loadable_dataset(tmp_path, capsys):
    from actot.sim.__main__ import main

    assert (
        main(["--out", str(tmp_path / "sim"), "--n-source", "6", "--n-target", "2", "--n-eval", "1", "--seed", "5"])
        == 0
    )
    ds = LeRobotDataset(tmp_path / "sim" / "target", resolution=16, cache_dir=tmp_path / "c")
    assert len(ds.episodes) == 3 and load_true_pairs(tmp_path / "sim" / "target") is not None
    assert "DTW's nearest is among the 5 truly nearest" in capsys.readouterr().out


def test_target_frames_differ_in_style_from_source_twins(twin_sim, tmp_path):
    source, target = twin_sim
    src = LeRobotDataset(source, cache_dir=tmp_path)
    tgt = LeRobotDataset(target, cache_dir=tmp_path)
    pairs = load_true_pairs(target)
    t, s = next(iter(pairs.items()))
    a = tgt.episodes[t].frames["observation.images.top"][0].astype(float)
    b = src.episodes[s].frames["observation.images.top"][0].astype(float)
    assert np.abs(a - b).mean() > 10  # same initial state, visibly different rendering
    assert np.allclose(tgt.episodes[t].state[0], src.episodes[s].state[0])


def test_dtw_basics():
    a = np.linspace(0, 1, 20)[:, None]
    stretched = np.repeat(a, 2, axis=0)
    assert dtw_costs(a, [stretched, a + 0.5])[0] == pytest.approx(0.0)
    match = dtw_match(a, stretched)
    assert np.array_equal(match, 2 * np.arange(20))  # each frame -> the first of its two copies


def test_dtw_recovers_true_twins_well_above_chance(twin_sim, tmp_path):
    source, target = twin_sim
    data = CoTrainData(
        LeRobotDataset(source, cameras=[], cache_dir=tmp_path),
        LeRobotDataset(target, cameras=[], cache_dir=tmp_path),
        n_eval_target=2,
    )
    pairs = {t: s for t, s in load_true_pairs(target).items() if t < len(data.tgt_train)}
    rate = twin_recovery_rate(data.pairing, pairs)
    chance = 1 / len(data.src)
    print(f"\nDTW twin recovery on the sim: {rate:.2f} (chance {chance:.3f})")
    assert rate >= 0.8


def test_sampler_batches_are_aligned_and_deterministic(twin_sim, tmp_path):
    source, target = twin_sim
    data = CoTrainData(
        LeRobotDataset(source, resolution=16, cache_dir=tmp_path),
        LeRobotDataset(target, resolution=16, cache_dir=tmp_path),
        n_eval_target=2,
    )
    sampler = CoTrainSampler(
        data, chunk_size=10, batch_size=4, ot_batch_size=12, window_size=3, seed=7, true_pairs=load_true_pairs(target)
    )
    batch = sampler.next()
    # 12 OT pairs, then batch_size = 4 BC rows: half source, half target (bc_src_weight 0.5)
    assert batch["images"].shape == (28, 3, 16, 16, 3) and batch["action"].shape == (28, 10, 2)
    assert (
        batch["action_is_pad"].dtype == bool
        and batch["is_target"].tolist() == [False] * 12 + [True] * 12 + [False] * 2 + [True] * 2
    )
    assert batch["true_pair"].shape == (12, 12)
    assert np.diag(batch["true_pair"]).mean() > 0.5  # the partner mostly comes from the true twin
    state = sampler.state_dict()
    first = sampler.next()["action"]
    sampler.load_state_dict(state)
    assert np.array_equal(sampler.next()["action"], first)


@pytest.mark.parametrize("weight,n_src", [(0.8, 8), (1.0, 10), (0.0, 0)])
def test_bc_rows_follow_bc_src_weight(small_sim, tmp_path, weight, n_src):
    source, target = small_sim
    data = CoTrainData(
        LeRobotDataset(source, resolution=16, cache_dir=tmp_path),
        LeRobotDataset(target, resolution=16, cache_dir=tmp_path),
        n_eval_target=2,
    )
    sampler = CoTrainSampler(data, chunk_size=10, batch_size=10, ot_batch_size=4, window_size=3, bc_src_weight=weight)
    batch = sampler.next()
    assert batch["is_target"][8:].tolist() == [False] * n_src + [True] * (10 - n_src)
    assert batch["images"].shape[0] == batch["state"].shape[0] == 18


def test_image_features_in_parquet_are_read(tmp_path):
    from actot.data.writer import write_lerobot_v30

    rng = np.random.default_rng(0)
    episodes = [
        {
            "state": rng.random((n, 3), dtype=np.float32),
            "action": rng.random((n, 2), dtype=np.float32),
            "frames": {"observation.images.cam": rng.integers(0, 255, (n, 24, 32, 3), dtype=np.uint8)},
        }
        for n in (5, 7)
    ]
    write_lerobot_v30(tmp_path / "img", episodes, fps=10, task="t", camera_dtype="image")
    ds = LeRobotDataset(tmp_path / "img", resolution=(24, 32), cache_dir=tmp_path / "cache")
    assert ds.features["observation.images.cam"]["dtype"] == "image" and not (tmp_path / "img" / "videos").exists()
    assert [len(e) for e in ds.episodes] == [5, 7]
    assert np.array_equal(
        ds.episodes[1].frames["observation.images.cam"], episodes[1]["frames"]["observation.images.cam"]
    )
    small = LeRobotDataset(tmp_path / "img", resolution=(12, 16), cache_dir=tmp_path / "cache")
    assert small.episodes[0].frames["observation.images.cam"].shape == (5, 12, 16, 3)
