"""Bad datasets give one-line errors naming the path, key or value and what to do."""

import json

import pytest

from actot.data import LeRobotDataset
from actot.data.sampler import CoTrainData
from actot.errors import ActotError
from tests.conftest import G1, SO101, need

CAM = "observation.images.cam_high"


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_missing_root(tmp_path):
    with pytest.raises(ActotError) as e:
        LeRobotDataset(tmp_path / "nope")
    assert "nope" in one_line(e)


def test_info_json_missing(tmp_path):
    (tmp_path / "meta").mkdir()
    with pytest.raises(ActotError) as e:
        LeRobotDataset(tmp_path)
    assert "meta/info.json" in one_line(e)


def test_info_json_lacking_key(g1_copy):
    info = json.loads((g1_copy / "meta/info.json").read_text())
    del info["data_path"]
    (g1_copy / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(ActotError) as e:
        LeRobotDataset(g1_copy)
    assert "data_path" in one_line(e)


def test_unsupported_version(g1_copy):
    info = json.loads((g1_copy / "meta/info.json").read_text())
    info["codebase_version"] = "v1.6"
    (g1_copy / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(ActotError) as e:
        LeRobotDataset(g1_copy)
    assert "v1.6" in one_line(e) and "v2.1" in str(e.value)


def test_camera_absent(g1_copy):
    with pytest.raises(ActotError) as e:
        LeRobotDataset(g1_copy, episodes=[1], cameras=["observation.images.wrist"])
    assert "observation.images.wrist" in one_line(e) and CAM in str(e.value)


def test_episode_out_of_range(g1_copy):
    with pytest.raises(ActotError) as e:
        LeRobotDataset(g1_copy, episodes=[1, 250], cameras=[])
    assert "250" in one_line(e) and "0..99" in str(e.value)


def test_selected_episode_video_missing(g1_copy, tmp_path):
    (g1_copy / f"videos/chunk-000/{CAM}/episode_000002.mp4").unlink()
    with pytest.raises(ActotError) as e:
        LeRobotDataset(g1_copy, episodes=[1, 2], cameras=[CAM], resolution=16, cache_dir=tmp_path / "c")
    assert "episode_000002.mp4" in one_line(e) and "cameras=[]" in str(e.value)


def test_corrupt_parquet(g1_copy):
    path = g1_copy / "data/chunk-000/episode_000001.parquet"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ActotError) as e:
        LeRobotDataset(g1_copy, episodes=[1], cameras=[])
    assert "episode_000001.parquet" in one_line(e) and "corrupt" in str(e.value)


def test_source_target_dimension_mismatch():
    source = LeRobotDataset(need(G1), episodes=[0, 1, 2], cameras=[])
    target = LeRobotDataset(need(SO101), cameras=[])
    with pytest.raises(ActotError) as e:
        CoTrainData(source, target, n_eval_target=1)
    assert "(26, 26)" in one_line(e) and "(6, 6)" in str(e.value)
