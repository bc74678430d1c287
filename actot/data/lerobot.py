"""Read a local LeRobot dataset (layout v2.1 or v3.0) into per-episode numpy arrays.

    ds = LeRobotDataset("path/to/root", episodes=[1, 2], cameras=["observation.images.cam_high"],
                        resolution=(48, 64))
    ds.episodes[0].state, ds.episodes[0].action, ds.episodes[0].frames["observation.images.cam_high"]

Camera frames are decoded once into an on-disk uint8 cache (see `FrameCache`) and read back
memory-mapped, so that the trials of a sweep share one decode.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from actot.data.stats import FeatureStats, load_stats
from actot.data.video import decode_image_column, decode_video_frames
from actot.errors import ActotError

SUPPORTED_VERSIONS = ("v2.1", "v3.0")
REQUIRED_INFO_KEYS = ("codebase_version", "fps", "features", "data_path")
STATE_KEY = "observation.state"
ACTION_KEY = "action"


@dataclass
class Episode:
    """One demonstration: aligned per-frame arrays; frames[camera] is (T, H, W, 3) uint8."""

    index: int
    state: np.ndarray
    action: np.ndarray
    timestamps: np.ndarray
    frames: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.state)


def cache_root() -> Path:
    """$ACTOT_CACHE, else ~/.cache/actot: decoded frames, pairings and generated sims live under it."""
    return Path(os.environ.get("ACTOT_CACHE", Path.home() / ".cache" / "actot"))


def default_cache_dir() -> Path:
    return cache_root() / "frames"


class FrameCache:
    """Decoded frames on disk, one .npy per (dataset, camera, resolution, episode).

    Files are written atomically (temp file + rename) so that concurrent trials may race to
    fill the cache without reading a half-written file.
    """

    def __init__(self, cache_dir: Path, dataset_key: str):
        self.root = Path(cache_dir) / dataset_key

    def path(self, camera: str, size: tuple[int, int], episode: int) -> Path:
        return self.root / camera / f"{size[0]}x{size[1]}" / f"episode_{episode:06d}.npy"

    def load(self, camera: str, size: tuple[int, int], episode: int) -> np.ndarray | None:
        path = self.path(camera, size, episode)
        if not path.is_file():
            return None
        try:
            return np.load(path, mmap_mode="r")
        except (ValueError, OSError):
            return None  # a damaged entry is decoded again

    def store(self, camera: str, size: tuple[int, int], episode: int, frames: np.ndarray) -> np.ndarray:
        path = self.path(camera, size, episode)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, frames)
        os.replace(tmp, path)
        return np.load(path, mmap_mode="r")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ActotError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}); repair or regenerate it") from err


def _read_parquet(path: Path, columns: list[str] | None = None) -> pa.Table:
    if not path.is_file():
        raise ActotError(f"parquet file missing: {path}; restore it or select episodes that exist")
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ActotError(f"corrupt parquet file {path}: {first}; re-download or regenerate it") from err


def _vector_column(table: pa.Table, key: str, where: Path) -> np.ndarray:
    if key not in table.column_names:
        raise ActotError(f"{where} has no column '{key}'; columns are {table.column_names}")
    column = table.column(key).combine_chunks()
    if pa.types.is_fixed_size_list(column.type) or pa.types.is_list(column.type):
        width = len(column[0]) if len(column) else 0
        return column.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(column), width)
    return column.to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(column), -1)


class LeRobotDataset:
    """A local LeRobot dataset root: metadata, chosen episodes and cameras, normalisation stats.

    Args:
        root: the dataset folder (holding `meta/info.json`).
        episodes: episode indices to load (LeRobot's `episodes=[...]`); None loads all.
        cameras: camera feature keys; None takes every camera in `info.json`, [] none.
        resolution: working (H, W) for frames, or an int for square frames; None keeps the
            stored size.
        cache_dir: where decoded frames are cached; defaults to $ACTOT_CACHE or ~/.cache/actot.
        load: False reads the metadata only (episodes, cameras, where their files are), for a
            pre-flight check (`missing_videos`) that decodes nothing.
    """

    def __init__(
        self,
        root: str | Path,
        episodes: list[int] | None = None,
        cameras: list[str] | None = None,
        resolution: int | tuple[int, int] | list[int] | None = None,
        cache_dir: str | Path | None = None,
        load: bool = True,
    ):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise ActotError(f"dataset root not found: {self.root}; pass the folder that holds meta/info.json")
        info_path = self.root / "meta" / "info.json"
        if not info_path.is_file():
            raise ActotError(
                f"{info_path} missing: {self.root} is not a LeRobot dataset root (expected meta/info.json)"
            )
        self.info = _read_json(info_path)
        for key in REQUIRED_INFO_KEYS:
            if key not in self.info:
                raise ActotError(f"{info_path} lacks key '{key}'; a LeRobot info.json needs {list(REQUIRED_INFO_KEYS)}")
        self.version = str(self.info["codebase_version"])
        if self.version not in SUPPORTED_VERSIONS:
            raise ActotError(
                f"{info_path}: codebase_version '{self.version}' is not supported; "
                f"supported are {list(SUPPORTED_VERSIONS)} (convert with LeRobot's conversion script)"
            )
        self.fps = float(self.info["fps"])
        self.features: dict = self.info["features"]
        for key in (STATE_KEY, ACTION_KEY):
            if key not in self.features:
                raise ActotError(
                    f"{info_path}: features lack '{key}'; actot trains on '{STATE_KEY}' and '{ACTION_KEY}'"
                )
        self.camera_keys = [k for k, f in self.features.items() if f.get("dtype") in ("video", "image")]
        self.cameras = list(self.camera_keys if cameras is None else cameras)
        for cam in self.cameras:
            if cam not in self.camera_keys:
                raise ActotError(f"camera '{cam}' not in {info_path}; cameras there are {self.camera_keys}")
        self.frame_size = self._frame_size(resolution)
        self._episode_meta = self._read_episode_meta()
        available = sorted(self._episode_meta)
        chosen = available if episodes is None else [int(e) for e in episodes]
        for ep in chosen:
            if ep not in self._episode_meta:
                raise ActotError(
                    f"episode {ep} out of range for {self.root}: it has episodes "
                    f"{available[0]}..{available[-1]} ({len(available)} in all)"
                )
        self.episode_indices = chosen
        key_text = f"{self.root.resolve()}|{self.version}|{self.info.get('total_frames')}"
        # The dataset's identity in every cache: its frames' folder, and the pairings it is part of.
        self.cache_key = f"{self.root.name}-{hashlib.sha1(key_text.encode()).hexdigest()[:12]}"
        self.cache = FrameCache(Path(cache_dir) if cache_dir else default_cache_dir(), self.cache_key)
        self.episodes: list[Episode] = []
        if not load:
            return
        self.episodes = self._load_episodes()
        self.stats, self.stats_source = load_stats(self.root, self.version, self.episode_indices, self.episodes)

    # ------------------------------------------------------------------ metadata
    def _frame_size(self, resolution) -> tuple[int, int]:
        if resolution is None:
            if not self.cameras:
                return (0, 0)
            shape = self.features[self.cameras[0]]["shape"]
            return (int(shape[0]), int(shape[1]))
        if isinstance(resolution, int):
            return (resolution, resolution)
        return (int(resolution[0]), int(resolution[1]))

    def _read_episode_meta(self) -> dict[int, dict]:
        meta = self.root / "meta"
        if self.version == "v2.1":
            path = meta / "episodes.jsonl"
            if path.is_file():
                rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
                return {int(r["episode_index"]): r for r in rows}
            total = int(self.info.get("total_episodes", 0))
            return {i: {"episode_index": i} for i in range(total)}
        files = sorted((meta / "episodes").glob("chunk-*/file-*.parquet"))
        if not files:
            raise ActotError(
                f"{meta / 'episodes'} holds no chunk-*/file-*.parquet; a v3.0 dataset needs its episodes table"
            )
        rows: dict[int, dict] = {}
        for path in files:
            table = _read_parquet(path)
            keep = [c for c in table.column_names if not c.startswith("stats/")]
            for row in table.select(keep).to_pylist():
                rows[int(row["episode_index"])] = row
        return rows

    # ------------------------------------------------------------------ episodes
    def _load_episodes(self) -> list[Episode]:
        tables = self._episode_tables()
        episodes = []
        for ep in self.episode_indices:
            table, where = tables[ep]
            episodes.append(
                Episode(
                    index=ep,
                    state=_vector_column(table, STATE_KEY, where),
                    action=_vector_column(table, ACTION_KEY, where),
                    timestamps=table.column("timestamp").to_numpy().astype(np.float64),
                )
            )
        for cam in self.cameras:
            self._load_camera(cam, episodes, tables)
        return episodes

    def _load_camera(self, cam: str, episodes: list[Episode], tables: dict) -> None:
        """Fill episode.frames[cam] from the cache, decoding each missing video file once."""
        pending: dict[Path, list[tuple[Episode, float]]] = {}
        for episode in episodes:
            cached = self.cache.load(cam, self.frame_size, episode.index)
            if cached is not None and len(cached) == len(episode):
                episode.frames[cam] = cached
            elif self.features[cam]["dtype"] == "image":
                table, where = tables[episode.index]
                frames = decode_image_column(table.column(cam).to_pylist(), self.frame_size, f"{where}:{cam}")
                episode.frames[cam] = self.cache.store(cam, self.frame_size, episode.index, frames)
            else:
                path, offset = self._video_location(episode.index, cam)
                pending.setdefault(path, []).append((episode, offset))
        progress = None
        if pending and sys.stderr.isatty():
            from tqdm import tqdm

            progress = tqdm(
                total=sum(len(e) for items in pending.values() for e, _ in items),
                unit="frame",
                desc=f"decoding {cam}",
                leave=False,
            )
        for path, items in pending.items():
            # In v3.0 one file holds many episodes: one sequential decode serves them all.
            times = np.concatenate([episode.timestamps + offset for episode, offset in items])
            frames = decode_video_frames(path, times, self.frame_size)
            start = 0
            for episode, _ in items:
                part = frames[start : start + len(episode)]
                start += len(episode)
                episode.frames[cam] = self.cache.store(cam, self.frame_size, episode.index, part)
            if progress is not None:
                progress.update(len(times))
        if progress is not None:
            progress.close()

    def _episode_tables(self) -> dict[int, tuple[pa.Table, Path]]:
        columns = [STATE_KEY, ACTION_KEY, "timestamp", "episode_index", "frame_index"]
        columns += [c for c in self.cameras if self.features[c]["dtype"] == "image"]
        out = {}
        if self.version == "v2.1":
            chunks = int(self.info.get("chunks_size", 1000))
            for ep in self.episode_indices:
                path = self.root / self.info["data_path"].format(episode_chunk=ep // chunks, episode_index=ep)
                out[ep] = (self._checked_read(path, columns), path)
            return out
        by_file: dict[Path, list[int]] = {}
        for ep in self.episode_indices:
            row = self._episode_meta[ep]
            path = self.root / self.info["data_path"].format(
                chunk_index=int(row["data/chunk_index"]), file_index=int(row["data/file_index"])
            )
            by_file.setdefault(path, []).append(ep)
        for path, eps in by_file.items():
            table = self._checked_read(path, columns)
            index = table.column("episode_index").to_numpy()
            for ep in eps:
                rows = np.flatnonzero(index == ep)
                if len(rows) == 0:
                    raise ActotError(
                        f"{path} holds no rows of episode {ep} although meta/episodes says so; regenerate the dataset"
                    )
                out[ep] = (table.take(pa.array(rows)), path)
        return out

    def _checked_read(self, path: Path, columns: list[str]) -> pa.Table:
        table = _read_parquet(path)
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise ActotError(f"{path} lacks column(s) {missing}; info.json promises them")
        return table.select(columns)

    def _video_location(self, ep: int, cam: str) -> tuple[Path, float]:
        template = self.info.get("video_path")
        if not template:
            raise ActotError(f"{self.root / 'meta/info.json'} has video feature '{cam}' but no 'video_path'")
        if self.version == "v2.1":
            chunks = int(self.info.get("chunks_size", 1000))
            return self.root / template.format(episode_chunk=ep // chunks, video_key=cam, episode_index=ep), 0.0
        row = self._episode_meta[ep]
        prefix = f"videos/{cam}/"
        try:
            path = self.root / template.format(
                video_key=cam, chunk_index=int(row[prefix + "chunk_index"]), file_index=int(row[prefix + "file_index"])
            )
            return path, float(row[prefix + "from_timestamp"])
        except KeyError as err:
            raise ActotError(f"meta/episodes of {self.root} lacks '{err.args[0]}' for camera '{cam}'") from err

    def missing_videos(self) -> dict[str, list[tuple[int, Path]]]:
        """camera -> [(episode, video file)] of the chosen episodes whose frames are neither cached nor on disk."""
        out: dict[str, list[tuple[int, Path]]] = {}
        for cam in self.cameras:
            if self.features[cam]["dtype"] != "video":
                continue
            for ep in self.episode_indices:
                if self.cache.path(cam, self.frame_size, ep).is_file():
                    continue
                path, _ = self._video_location(ep, cam)
                if not path.is_file():
                    out.setdefault(cam, []).append((ep, path))
        return out

    def missing_data_files(self) -> list[tuple[int, Path]]:
        """[(episode, parquet file)] of the chosen episodes whose state/action file is not on disk."""
        out = []
        for ep in self.episode_indices:
            if self.version == "v2.1":
                chunks = int(self.info.get("chunks_size", 1000))
                path = self.root / self.info["data_path"].format(episode_chunk=ep // chunks, episode_index=ep)
            else:
                row = self._episode_meta[ep]
                try:
                    path = self.root / self.info["data_path"].format(
                        chunk_index=int(row["data/chunk_index"]), file_index=int(row["data/file_index"])
                    )
                except KeyError as err:
                    raise ActotError(f"meta/episodes of {self.root} lacks '{err.args[0]}' for episode {ep}") from err
            if not path.is_file():
                out.append((ep, path))
        return out

    def episode_lengths(self) -> dict[int, int | None]:
        """Frames per chosen episode as the metadata gives them (None where it does not say), without reading data."""
        out = {}
        for ep in self.episode_indices:
            length = self._episode_meta[ep].get("length")
            out[ep] = int(length) if isinstance(length, (int, float)) else None
        return out

    def episodes_with_video(self, cam: str) -> list[int]:
        """Every episode of the dataset (not only the chosen ones) whose video file for `cam` exists."""
        return [ep for ep in sorted(self._episode_meta) if self._video_location(ep, cam)[0].is_file()]

    # ------------------------------------------------------------------ summary
    @property
    def state_dim(self) -> int:
        return int(self.episodes[0].state.shape[1]) if self.episodes else int(self.features[STATE_KEY]["shape"][0])

    @property
    def action_dim(self) -> int:
        return int(self.episodes[0].action.shape[1]) if self.episodes else int(self.features[ACTION_KEY]["shape"][0])

    @property
    def num_frames(self) -> int:
        return sum(len(e) for e in self.episodes)

    def __repr__(self) -> str:
        return (
            f"LeRobotDataset({self.root}, {self.version}, episodes={len(self.episodes)}, "
            f"frames={self.num_frames}, cameras={self.cameras}, size={self.frame_size})"
        )


__all__ = ["LeRobotDataset", "Episode", "FeatureStats", "FrameCache"]
