"""Normalisation statistics (mean, std) for state and action.

Taken from the dataset's own meta when it has them (`meta/stats.json`, v2.1's
`meta/episodes_stats.jsonl` or the `stats/...` columns of v3.0's episodes table), else computed
from the loaded episodes. Per-episode stats are pooled with their frame counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

KEYS = ("observation.state", "action")


@dataclass
class FeatureStats:
    mean: np.ndarray
    std: np.ndarray
    count: int

    @staticmethod
    def pool(parts: list["FeatureStats"]) -> "FeatureStats":
        """Exact pooled mean and std of several groups from their means, stds and counts."""
        counts = np.array([p.count for p in parts], dtype=np.float64)
        means = np.stack([p.mean for p in parts]).astype(np.float64)
        second = np.stack([p.std.astype(np.float64) ** 2 + p.mean.astype(np.float64) ** 2 for p in parts])
        total = counts.sum()
        mean = (counts[:, None] * means).sum(0) / total
        var = np.maximum((counts[:, None] * second).sum(0) / total - mean**2, 0.0)
        return FeatureStats(mean.astype(np.float32), np.sqrt(var).astype(np.float32), int(total))

    @staticmethod
    def of(values: np.ndarray) -> "FeatureStats":
        return FeatureStats(values.mean(0).astype(np.float32), values.std(0).astype(np.float32), len(values))


def _from_dict(entry: dict, fallback_count: int) -> FeatureStats:
    count = entry.get("count", fallback_count)
    count = int(np.asarray(count).reshape(-1)[0]) if count is not None else fallback_count
    return FeatureStats(
        np.asarray(entry["mean"], np.float32).reshape(-1), np.asarray(entry["std"], np.float32).reshape(-1), count
    )


def load_stats(root: Path, version: str, episode_indices: list[int], episodes: list) -> tuple[dict, str]:
    """Return ({key: FeatureStats}, where they came from)."""
    meta = root / "meta"
    total = sum(len(e) for e in episodes) or 1
    try:
        path = meta / "stats.json"
        if path.is_file():
            raw = json.loads(path.read_text())
            if all(k in raw and "mean" in raw[k] for k in KEYS):
                return {k: _from_dict(raw[k], total) for k in KEYS}, "meta/stats.json"
        path = meta / "episodes_stats.jsonl"
        if version == "v2.1" and path.is_file():
            wanted = set(episode_indices)
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            rows = [r for r in rows if int(r["episode_index"]) in wanted]
            if len(rows) == len(wanted) and all(k in r["stats"] for r in rows for k in KEYS):
                return {
                    k: FeatureStats.pool([_from_dict(r["stats"][k], 1) for r in rows]) for k in KEYS
                }, "meta/episodes_stats.jsonl"
        files = sorted((meta / "episodes").glob("chunk-*/file-*.parquet"))
        if version == "v3.0" and files:
            cols = [f"stats/{k}/{s}" for k in KEYS for s in ("mean", "std", "count")]
            table = pq.read_table(files[0]) if len(files) == 1 else None
            if table is not None and all(c in table.column_names for c in cols):
                rows = [
                    r
                    for r in table.select(["episode_index", *cols]).to_pylist()
                    if r["episode_index"] in set(episode_indices)
                ]
                if rows:
                    return {
                        k: FeatureStats.pool(
                            [
                                _from_dict(
                                    {
                                        "mean": r[f"stats/{k}/mean"],
                                        "std": r[f"stats/{k}/std"],
                                        "count": r[f"stats/{k}/count"],
                                    },
                                    1,
                                )
                                for r in rows
                            ]
                        )
                        for k in KEYS
                    }, "meta/episodes stats columns"
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        pass  # malformed or partial meta stats: fall back to computing them
    if not episodes:
        return {}, "none"
    return {
        "observation.state": FeatureStats.of(np.concatenate([e.state for e in episodes])),
        "action": FeatureStats.of(np.concatenate([e.action for e in episodes])),
    }, "computed"
