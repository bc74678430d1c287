"""Write episodes as a LeRobot v3.0 dataset: one data parquet, one H.264 video per camera.

Layout written (what `LeRobotDataset` and LeRobot itself read):
    meta/info.json, meta/stats.json, meta/tasks.parquet, meta/episodes/chunk-000/file-000.parquet,
    data/chunk-000/file-000.parquet, videos/{camera}/chunk-000/file-000.mp4
Episodes follow each other in the video; each episode's `from_timestamp` says where it starts.
"""

from __future__ import annotations

import io
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from actot.data.stats import FeatureStats

DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"


def _vector_array(values: np.ndarray) -> pa.FixedSizeListArray:
    values = np.ascontiguousarray(values, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def _encode_video(path: Path, frames: np.ndarray, fps: int, crf: int = 12) -> None:
    import av  # only video features need PyAV

    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {"crf": str(crf), "preset": "veryfast", "g": "30"}
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _png_column(frames: np.ndarray) -> pa.StructArray:
    """LeRobot's `image` feature: a struct of PNG bytes (and an unused path) per frame."""
    from PIL import Image

    blobs = []
    for pixels in frames:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        blobs.append(buffer.getvalue())
    return pa.StructArray.from_arrays(
        [pa.array(blobs, pa.binary()), pa.array([None] * len(blobs), pa.string())], names=["bytes", "path"]
    )


def write_lerobot_v30(
    root: Path, episodes: list[dict], fps: int, task: str, robot_type: str = "actot_sim", camera_dtype: str = "video"
) -> None:
    """Write `episodes` (dicts of 'state' (T, Ds), 'action' (T, Da), 'frames' {camera: (T, H, W, 3)}).

    camera_dtype: "video" (one H.264 file per camera) or "image" (PNG bytes in the data parquet).
    """
    root = Path(root)
    (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True, exist_ok=True)
    cameras = list(episodes[0]["frames"])
    lengths = [len(e["state"]) for e in episodes]
    starts = np.concatenate([[0], np.cumsum(lengths)])
    state = np.concatenate([e["state"] for e in episodes])
    action = np.concatenate([e["action"] for e in episodes])
    frame_index = np.concatenate([np.arange(n) for n in lengths])
    episode_index = np.concatenate([np.full(n, i) for i, n in enumerate(lengths)])

    data = pa.table(
        {
            "observation.state": _vector_array(state),
            "action": _vector_array(action),
            "timestamp": pa.array((frame_index / fps).astype(np.float32)),
            "frame_index": pa.array(frame_index.astype(np.int64)),
            "episode_index": pa.array(episode_index.astype(np.int64)),
            "index": pa.array(np.arange(len(state), dtype=np.int64)),
            "task_index": pa.array(np.zeros(len(state), dtype=np.int64)),
        }
    )
    if camera_dtype == "image":
        for camera in cameras:
            data = data.append_column(camera, _png_column(np.concatenate([e["frames"][camera] for e in episodes])))
    (root / "data" / "chunk-000").mkdir(parents=True, exist_ok=True)
    pq.write_table(data, root / DATA_PATH.format(chunk_index=0, file_index=0))

    for camera in cameras if camera_dtype == "video" else []:
        _encode_video(
            root / VIDEO_PATH.format(video_key=camera, chunk_index=0, file_index=0),
            np.concatenate([e["frames"][camera] for e in episodes]),
            fps,
        )

    episode_rows = {
        "episode_index": list(range(len(episodes))),
        "tasks": [[task]] * len(episodes),
        "length": lengths,
        "data/chunk_index": [0] * len(episodes),
        "data/file_index": [0] * len(episodes),
        "dataset_from_index": starts[:-1].tolist(),
        "dataset_to_index": starts[1:].tolist(),
    }
    for camera in cameras if camera_dtype == "video" else []:
        episode_rows[f"videos/{camera}/chunk_index"] = [0] * len(episodes)
        episode_rows[f"videos/{camera}/file_index"] = [0] * len(episodes)
        episode_rows[f"videos/{camera}/from_timestamp"] = (starts[:-1] / fps).tolist()
        episode_rows[f"videos/{camera}/to_timestamp"] = (starts[1:] / fps).tolist()
    for key, values in (("observation.state", state), ("action", action)):
        for stat in ("mean", "std", "min", "max"):
            episode_rows[f"stats/{key}/{stat}"] = [
                getattr(np, stat)(values[a:b], axis=0).astype(np.float32).tolist()
                for a, b in zip(starts[:-1], starts[1:])
            ]
        episode_rows[f"stats/{key}/count"] = [[n] for n in lengths]
    pq.write_table(pa.table(episode_rows), root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    pq.write_table(pa.table({"task_index": [0], "task": [task]}), root / "meta" / "tasks.parquet")

    stats = {}
    for key, values in (("observation.state", state), ("action", action)):
        summary = FeatureStats.of(values)
        stats[key] = {
            "mean": summary.mean.tolist(),
            "std": summary.std.tolist(),
            "min": values.min(0).tolist(),
            "max": values.max(0).tolist(),
            "count": [len(values)],
        }
    (root / "meta" / "stats.json").write_text(json.dumps(stats, indent=2))

    height, width = episodes[0]["frames"][cameras[0]].shape[1:3] if cameras else (0, 0)
    features = {
        "observation.state": {"dtype": "float32", "shape": [state.shape[1]], "names": None},
        "action": {"dtype": "float32", "shape": [action.shape[1]], "names": None},
    }
    for camera in cameras:
        if camera_dtype == "image":
            features[camera] = {"dtype": "image", "shape": [height, width, 3], "names": ["height", "width", "channels"]}
            continue
        features[camera] = {
            "dtype": "video",
            "shape": [height, width, 3],
            "names": ["height", "width", "channels"],
            "info": {
                "video.height": height,
                "video.width": width,
                "video.codec": "h264",
                "video.pix_fmt": "yuv420p",
                "video.fps": fps,
                "video.channels": 3,
                "has_audio": False,
                "video.is_depth_map": False,
            },
        }
    for key, dtype in (
        ("timestamp", "float32"),
        ("frame_index", "int64"),
        ("episode_index", "int64"),
        ("index", "int64"),
        ("task_index", "int64"),
    ):
        features[key] = {"dtype": dtype, "shape": [1], "names": None}
    info = {
        "codebase_version": "v3.0",
        "robot_type": robot_type,
        "total_episodes": len(episodes),
        "total_frames": int(len(state)),
        "total_tasks": 1,
        "chunks_size": 1000,
        "data_files_size_in_mb": 100,
        "video_files_size_in_mb": 500,
        "fps": fps,
        "splits": {"train": f"0:{len(episodes)}"},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH,
        "features": features,
    }
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=4))
