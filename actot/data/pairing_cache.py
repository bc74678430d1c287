"""The DTW pairing on disk: computed once, then read by every process that trains on the same data.

A sweep's driver loads the data before its trials start (`actot.sweep.preflight.check_data`), so it
computes the pairing and stores it here; each trial process, and any later run on the same data,
reads the file instead of running DTW again. Entries live under `$ACTOT_CACHE/pairing/` (next to
the frame cache in `$ACTOT_CACHE/frames/`), or `<cache_dir>/pairing/` when a cache folder is given.

An entry is keyed by everything the pairing depends on (`pairing_key`): both datasets' identity
as the frame cache keys them, the chosen episodes, the held-out split, the pairing knobs
(sharpness, cutoff, top_k, the weights' scale and the cost's kind, the outcome summary's keys, weight and
frames), the DTW band, `PAIRING_VERSION`, and a digest of the normalised trajectories themselves (so a dataset
edited in place is paired again). Like the frame cache,
files are written atomically (temp file + rename), so concurrent processes may race to fill it;
an entry that cannot be read, or holds another key, is computed again and replaced.

The DTW costs, nearly all of the work, are also kept on their own under `pairing/costs/`, keyed without the
weights' knobs (`costs_key`): a run that changes only sharpness, cutoff, top_k or the scale (as the collapse warning
advises: data.pair_scale=nearest) reads them and computes only its frame matches.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from actot.data.lerobot import cache_root
from actot.data.pairing import Pairing, health_lines, pair_demos

# Bump when what pair_demos computes changes, so that older entries are not read.
# 2: banded DTW (the first version kept no cache). 3: the outcome summary (data.pair_summary*). 4: the weights'
# scale (data.pair_scale) and the cost's kind (data.pair_cost), also key fields.
PAIRING_VERSION = 4


def trajectories_digest(trajectories: list[np.ndarray]) -> str:
    """sha1 over the trajectories' shapes, dtypes and values."""
    digest = hashlib.sha1()
    for traj in trajectories:
        traj = np.ascontiguousarray(traj)
        digest.update(f"{traj.shape}{traj.dtype}".encode())
        digest.update(traj.tobytes())
    return digest.hexdigest()


def pairing_key(
    source_key: str,
    target_key: str,
    source_episodes: list[int],
    target_episodes: list[int],
    n_eval_target: int,
    sharpness: float,
    cutoff: float,
    top_k: int,
    band: float | None,
    trajectories: list[np.ndarray],
    summary: list[str] = (),
    summary_weight: float = 0.0,
    summary_frames: int = 1,
    scale: str = "absolute",
    cost: str = "sum",
) -> dict:
    """What a pairing depends on, as a JSON-able dict (the cache entry's name is its hash). The outcome
    summary is named explicitly although its values are in the trajectories' digest, so that an entry
    says what it was paired on."""
    return {
        "version": PAIRING_VERSION,
        "summary": [str(k) for k in summary],
        "summary_weight": float(summary_weight) if summary else 0.0,
        "summary_frames": int(summary_frames) if summary else 0,
        "source": source_key,
        "target": target_key,
        "source_episodes": [int(e) for e in source_episodes],
        "target_episodes": [int(e) for e in target_episodes],
        "n_eval_target": int(n_eval_target),
        "sharpness": float(sharpness),
        "cutoff": float(cutoff),
        "top_k": int(top_k),
        "band": None if band is None else float(band),
        "scale": str(scale),
        "cost": str(cost),
        "trajectories": trajectories_digest(trajectories),
    }


# What the weights read from the costs (pairing_weights): the DTW costs depend on none of these.
WEIGHT_KNOBS = ("sharpness", "cutoff", "top_k", "scale")


def costs_key(key: dict) -> dict:
    """The key of a pairing's DTW costs alone: `key` less the weights' knobs."""
    return {k: v for k, v in key.items() if k not in WEIGHT_KNOBS}


class PairingCache:
    """Pairings on disk, one .npz per key, under `cache_dir/pairing` (default `$ACTOT_CACHE/pairing`); their DTW
    costs alone under `pairing/costs`."""

    def __init__(self, cache_dir: str | Path | None = None):
        self.root = (Path(cache_dir) if cache_dir else cache_root()) / "pairing"

    def path(self, key: dict, folder: str = "") -> Path:
        text = json.dumps(key, sort_keys=True)
        return self.root / folder / f"{hashlib.sha1(text.encode()).hexdigest()[:20]}.npz"

    def _read(self, path: Path, key: dict, names: tuple[str, ...]) -> dict | None:
        """The arrays `names` of the entry at `path` if it holds `key`; None if there is none, or it is damaged
        (then computed again) or another key's."""
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as f:
                if json.loads(str(f["key"])) != key:
                    return None
                return {name: f[name] for name in names}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError):
            return None

    def _write(self, path: Path, key: dict, **arrays) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, key=np.array(json.dumps(key, sort_keys=True)), **arrays)
        os.replace(tmp, path)
        return path

    def load_costs(self, key: dict, n_target: int, n_source: int) -> np.ndarray | None:
        """The stored DTW costs of `key` (a pairing's key: read under `costs_key(key)`), or None."""
        found = self._read(self.path(costs_key(key), "costs"), costs_key(key), ("costs",))
        if found is None or found["costs"].shape != (n_target, n_source):
            return None
        return found["costs"]

    def store_costs(self, key: dict, costs: np.ndarray) -> Path:
        return self._write(self.path(costs_key(key), "costs"), costs_key(key), costs=costs)

    def load(self, key: dict, n_target: int, n_source: int) -> Pairing | None:
        """The stored pairing for `key`, or None if there is none or it is damaged or another key's."""
        found = self._read(self.path(key), key, ("costs", "probs", "match_pairs", "match_starts", "match_frames"))
        if found is None:
            return None
        costs, probs = found["costs"], found["probs"]
        pairs, starts, frames = found["match_pairs"], found["match_starts"], found["match_frames"]
        if (
            costs.shape != (n_target, n_source)
            or probs.shape != costs.shape
            or len(starts) != len(pairs) + 1
            or starts[-1] != len(frames)
        ):
            return None
        matches = {(int(t), int(s)): frames[a:b] for (t, s), a, b in zip(pairs, starts[:-1], starts[1:])}
        if any(probs[t, s] > 0 and (t, s) not in matches for t, s in zip(*np.nonzero(probs))):
            return None
        return Pairing(costs, probs, matches)

    def store(self, key: dict, pairing: Pairing) -> Path:
        pairs = sorted(pairing.matches)
        lengths = [len(pairing.matches[p]) for p in pairs]
        return self._write(
            self.path(key),
            key,
            costs=pairing.costs,
            probs=pairing.probs,
            match_pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2),
            match_starts=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            match_frames=np.concatenate([pairing.matches[p] for p in pairs]).astype(np.int64)
            if pairs
            else np.zeros(0, np.int64),
        )


def cached_pairing(
    target: list[np.ndarray],
    source: list[np.ndarray],
    key: dict,
    cache: PairingCache | None,
    sharpness: float,
    cutoff: float,
    top_k: int,
    band: float | None,
    scale: str = "absolute",
    cost: str = "sum",
    source_names: list | None = None,
) -> tuple[Pairing, bool]:
    """(pairing, whether it came from the cache): read it, else compute it (with a line and, on a terminal,
    a progress bar) and store it. Either way, print the pairing's health (`health_lines`): a collapse is
    as silent in a cached pairing as in a new one. `source_names[i]` names source demo i in those lines."""
    if cache is not None:
        found = cache.load(key, len(target), len(source))
        if found is not None:
            say_health(found, sharpness, cutoff, top_k, scale, cost, source_names)
            return found, True
    n_pairs = len(target) * len(source)
    known = cache.load_costs(key, len(target), len(source)) if cache is not None else None
    bar = None
    if sys.stderr.isatty():  # a bar on a terminal only
        from tqdm import tqdm

        # costs of every pair (unless known), then at most top_k matches per target demo
        bar = tqdm(
            total=(0 if known is not None else n_pairs) + len(target) * min(top_k, len(source)),
            unit="pair",
            desc="pairing (DTW)",
            leave=False,
        )
    start = time.perf_counter()
    try:
        pairing = pair_demos(
            target,
            source,
            sharpness,
            cutoff,
            top_k,
            band,
            progress=bar.update if bar is not None else None,
            scale=scale,
            cost=cost,
            costs=known,
        )
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    where = ""
    if cache is not None:
        if known is None:
            cache.store_costs(key, pairing.costs)
        where = f"; cached in {cache.store(key, pairing)}"
    # stdout, as a run's and a sweep's progress lines: stderr is kept for the one line of an error
    if known is None:
        print(
            f"pairing: DTW of {len(target)} target x {len(source)} source demos ({n_pairs} pairs, "
            f"{len(pairing.matches)} frame matches, band {band}) took {seconds:.1f} s{where}",
            flush=True,
        )
    else:
        print(
            f"pairing: DTW costs of {len(target)} target x {len(source)} source demos read from the cache (the same "
            f"data, band and cost; other weights); {len(pairing.matches)} frame matches (band {band}) took "
            f"{seconds:.1f} s{where}",
            flush=True,
        )
    say_health(pairing, sharpness, cutoff, top_k, scale, cost, source_names)
    return pairing, False


def say_health(
    pairing: Pairing, sharpness: float, cutoff: float, top_k: int, scale: str, cost: str, source_names: list | None
) -> None:
    """The pairing's health line, and its warning when it has collapsed, on stdout with the run's progress."""
    for line in health_lines(pairing, sharpness, cutoff, top_k, scale, cost, source_names):
        if line is not None:
            print(line, flush=True)
