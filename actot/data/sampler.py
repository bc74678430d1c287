"""Co-training batches: behaviour cloning from both domains, and the aligned OT batch.

`CoTrainData` joins a source and a target `LeRobotDataset` (same state/action sizes, same
number of cameras), normalises state and action with their pooled statistics, holds out
target episodes for evaluation, and pairs the training target demos with source demos by DTW
over [state, action] (with `summary`, each frame also carries the demo's weighted outcome; once: the pairing is cached on disk,
`actot.data.pairing_cache`).
`CoTrainSampler.next()` then yields, per step:

- `ot_batch_size` target frames and, row for row, a partner source frame drawn by the pairing
  (`window_size` jitter around the DTW-matched frame). Source row i is the partner of target
  row i: the diagonal that the `heuristic` prior refers to. These rows feed the OT loss;
- `batch_size` behaviour-cloning rows, drawn uniformly within each domain: round(bc_src_weight
  * batch_size) from the source demos (all of them, so that source demos far from every target
  demo are learned), the rest from the training target demos. The method trains BC on these
  rows only: the OT rows are a biased sample (target demos' partners) and would otherwise
  dominate the source rows BC sees.
Every row carries its action chunk (padded past the episode's end).

Its random state is a plain dict (`state_dict`), so a checkpoint resumes the same stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actot.data.lerobot import LeRobotDataset
from actot.data.pairing import (
    COSTS,
    DEFAULT_BAND,
    DEFAULT_SUMMARY,
    DEFAULT_SUMMARY_FRAMES,
    DEFAULT_SUMMARY_WEIGHT,
    SCALES,
    SUMMARY_KEYS,
    Pairing,
    outcome_summary,
    with_outcome,
)
from actot.data.pairing_cache import PairingCache, cached_pairing, pairing_key
from actot.data.stats import FeatureStats
from actot.errors import ActotError

STD_FLOOR = 1e-3  # a constant joint would otherwise divide by ~0
# what data.pair_summary may name -> the episode's array
SUMMARY_FEATURES = dict(zip(SUMMARY_KEYS, ("state", "action")))


@dataclass
class Normaliser:
    state: FeatureStats
    action: FeatureStats

    def norm_state(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.state.mean) / np.maximum(self.state.std, STD_FLOOR)).astype(np.float32)

    def norm_action(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.action.mean) / np.maximum(self.action.std, STD_FLOOR)).astype(np.float32)

    def unnorm_action(self, x: np.ndarray) -> np.ndarray:
        return x * np.maximum(self.action.std, STD_FLOOR) + self.action.mean

    @staticmethod
    def pooled(source_stats: dict, target_stats: dict) -> "Normaliser":
        """State and action stats pooled over both domains (the datasets' `stats`): what training uses,
        and what an exported policy carries (actot/export.py)."""
        return Normaliser(
            *(FeatureStats.pool([source_stats[key], target_stats[key]]) for key in ("observation.state", "action"))
        )


class CoTrainData:
    """Both domains, normalised, with the target split and the DTW pairing computed once."""

    def __init__(
        self,
        source: LeRobotDataset,
        target: LeRobotDataset,
        n_eval_target: int = 2,
        n_eval_source: int = 0,
        sharpness: float = 1.0,
        cutoff: float = 5.0,
        top_k: int = 5,
        band: float | None = DEFAULT_BAND,
        cache_dir: str | Path | None = None,
        cache: bool = True,
        summary: list[str] | tuple = DEFAULT_SUMMARY,
        summary_weight: float = DEFAULT_SUMMARY_WEIGHT,
        summary_frames: int = DEFAULT_SUMMARY_FRAMES,
        scale: str = "absolute",
        cost: str = "sum",
    ):
        """`band`: the DTW band (`actot.data.pairing`); the pairing is read from, or stored in, the pairing
        cache under `cache_dir` (default $ACTOT_CACHE, see `actot.data.pairing_cache`) unless cache=False;
        `pairing_cached` says whether it was read. `summary`: the features (LeRobot keys) whose mean over a
        demo's last `summary_frames` frames is appended, times `summary_weight`, to every frame DTW
        compares (data.pair_summary*; weight 0 or no key: [state, action] alone). The last `n_eval_source`
        source episodes are held out too (`src_eval`, for eval/source_l1): nothing trains or pairs on them.
        `scale` ("absolute", the first rule, or "nearest") and `cost` ("sum" or "mean"): how the weights read
        the DTW costs and which cost (`actot.data.pairing.pairing_weights`, `dtw_pairs`)."""
        if (source.state_dim, source.action_dim) != (target.state_dim, target.action_dim):
            raise ActotError(
                f"source {source.root} has state/action dims ({source.state_dim}, {source.action_dim}) but target "
                f"{target.root} has ({target.state_dim}, {target.action_dim}); co-training needs the same robot spaces"
            )
        if len(source.cameras) != len(target.cameras):
            raise ActotError(
                f"source cameras {source.cameras} and target cameras {target.cameras} differ in number; "
                "select the same number with data.cameras"
            )
        if len(target.episodes) <= n_eval_target:
            raise ActotError(
                f"target {target.root} has {len(target.episodes)} episodes but data.n_eval_target="
                f"{n_eval_target} are held out; lower data.n_eval_target or add target episodes"
            )
        if n_eval_source and len(source.episodes) <= n_eval_source:
            raise ActotError(
                f"source {source.root} has {len(source.episodes)} episodes but data.n_eval_source="
                f"{n_eval_source} are held out; lower data.n_eval_source or add source episodes"
            )
        self.source, self.target = source, target
        self.cameras = list(source.cameras)
        self.normaliser = Normaliser.pooled(source.stats, target.stats)
        src = [self._normalised(e) for e in source.episodes]
        self.src, self.src_eval = src[: len(src) - n_eval_source], src[len(src) - n_eval_source :]
        tgt = [self._normalised(e) for e in target.episodes]
        self.tgt_train, self.tgt_eval = tgt[: len(tgt) - n_eval_target], tgt[len(tgt) - n_eval_target :]
        # Which held-out target demos lie where the target demos were collected (None: unknown, as on a lab's
        # data); set from the embedded sim's ground truth (`mark_covered`).
        self.tgt_eval_covered: np.ndarray | None = None
        self.covered_only = False
        summary = list(summary) if summary_weight else []
        for dataset in (source, target):
            for name in summary:
                if name not in SUMMARY_FEATURES or name not in dataset.features:
                    choices = [k for k in SUMMARY_FEATURES if k in dataset.features]
                    raise ActotError(
                        f"data.pair_summary={list(summary)}: {name!r} is not a feature of {dataset.root} "
                        f"that pairing reads; choose from {choices} (or [] for [state, action] alone)"
                    )
        if summary_frames < 1:
            raise ActotError(
                f"data.pair_summary_frames={summary_frames} must be >= 1 (the demo's last frames averaged)"
            )
        if scale not in SCALES:
            raise ActotError(f"data.pair_scale={scale!r} is not a pairing scale; choose from {list(SCALES)}")
        if cost not in COSTS:
            raise ActotError(f"data.pair_cost={cost!r} is not a DTW cost; choose from {list(COSTS)}")
        tgt_traj = [self._pairing_trajectory(e, summary, summary_weight, summary_frames) for e in self.tgt_train]
        src_traj = [self._pairing_trajectory(e, summary, summary_weight, summary_frames) for e in self.src]
        key = pairing_key(
            source.cache_key,
            target.cache_key,
            [e["index"] for e in self.src],
            target.episode_indices,
            n_eval_target,
            sharpness,
            cutoff,
            top_k,
            band,
            tgt_traj + src_traj,
            summary,
            summary_weight,
            summary_frames,
            scale,
            cost,
        )
        self.pairing: Pairing
        self.pairing, self.pairing_cached = cached_pairing(
            tgt_traj,
            src_traj,
            key,
            PairingCache(cache_dir) if cache else None,
            sharpness,
            cutoff,
            top_k,
            band,
            scale,
            cost,
            source_names=[e["index"] for e in self.src],
        )

    def mark_covered(self, covered_by_index: list[bool], covered_only: bool) -> None:
        """`covered_by_index[i]`: whether target episode i's goal lies in the region the target demos cover
        (the sim's ground truth); `covered_only`: eval/avg_l1 reads only those (a lab's held-out demos)."""
        self.tgt_eval_covered = np.array([bool(covered_by_index[e["index"]]) for e in self.tgt_eval], bool)
        self.covered_only = covered_only

    def headline_eval(self) -> np.ndarray:
        """Which held-out target demos eval/avg_l1 reads: all of them, or the covered ones under covered_only."""
        if self.covered_only and self.tgt_eval_covered is not None and self.tgt_eval_covered.any():
            return self.tgt_eval_covered.copy()
        return np.ones(len(self.tgt_eval), bool)

    @staticmethod
    def _pairing_trajectory(episode: dict, summary: list[str], weight: float, frames: int) -> np.ndarray:
        """What DTW compares: normalised [state, action] per frame, and the demo's weighted outcome."""
        trajectory = np.concatenate([episode["state"], episode["action"]], 1)
        if not summary:
            return trajectory
        outcome = outcome_summary([episode[SUMMARY_FEATURES[name]] for name in summary], frames)
        return with_outcome(trajectory, outcome, weight)

    def _normalised(self, episode) -> dict:
        # Plain array views of the memory-mapped frames: indexing a np.memmap builds a memmap object per frame.
        return {
            "index": episode.index,
            "state": self.normaliser.norm_state(episode.state),
            "action": self.normaliser.norm_action(episode.action),
            "frames": {c: np.asarray(f) for c, f in episode.frames.items()},
        }

    @property
    def state_dim(self) -> int:
        return self.source.state_dim

    @property
    def action_dim(self) -> int:
        return self.source.action_dim


def frames_at(episodes: list[dict], cameras: list[str], refs: np.ndarray, chunk_size: int) -> dict:
    """Observation and action chunk for (episode position, frame) pairs `refs` (N, 2)."""
    n = len(refs)
    action_dim = episodes[0]["action"].shape[1]
    first = episodes[0]
    batch = {
        "state": np.stack([episodes[e]["state"][f] for e, f in refs]) if n else first["state"][:0],
        "action": np.zeros((n, chunk_size, action_dim), np.float32),
        "action_is_pad": np.ones((n, chunk_size), bool),
    }
    if cameras:
        # One copy per frame into a preallocated batch (no per-row stack): a step gathers ~80 rows x 3 cameras.
        images = np.empty((n, len(cameras), *first["frames"][cameras[0]].shape[1:]), np.uint8)
        for row, (e, f) in enumerate(refs):
            frames = episodes[e]["frames"]
            for k, c in enumerate(cameras):
                images[row, k] = frames[c][f]
        batch["images"] = images
    for row, (e, f) in enumerate(refs):
        chunk = episodes[e]["action"][f : f + chunk_size]
        batch["action"][row, : len(chunk)] = chunk
        batch["action_is_pad"][row, : len(chunk)] = False
    return batch


class CoTrainSampler:
    """Yields flat batches of numpy arrays (see `next`); deterministic given its seed."""

    def __init__(
        self,
        data: CoTrainData,
        chunk_size: int,
        batch_size: int,
        ot_batch_size: int,
        window_size: int,
        seed: int = 0,
        true_pairs: dict[int, int] | None = None,
        bc_src_weight: float = 0.5,
        ot_in_bc: bool = False,
    ):
        """`ot_in_bc` (training's ot_rows=bc): the OT pairs count as BC rows, so each domain draws
        ot_batch_size fewer BC rows of its own and the batch is [OT source | OT target | the rest]."""
        self.data, self.chunk_size = data, chunk_size
        self.batch_size, self.ot_batch_size, self.window_size = batch_size, ot_batch_size, window_size
        # A fixed count per domain (not a coin per row as in the reference's weighted sampler):
        # the same expected mix with less variance between steps.
        self.n_bc_src = int(round(bc_src_weight * batch_size))
        self.n_bc_tgt = batch_size - self.n_bc_src
        self.own_src, self.own_tgt = self.n_bc_src, self.n_bc_tgt  # the BC rows drawn apart from the OT pairs
        if ot_in_bc:
            if ot_batch_size > min(self.n_bc_src, self.n_bc_tgt):
                raise ValueError(
                    f"ot_batch_size={ot_batch_size} pairs do not fit in {self.n_bc_src} source and "
                    f"{self.n_bc_tgt} target BC rows"
                )
            self.own_src, self.own_tgt = self.n_bc_src - ot_batch_size, self.n_bc_tgt - ot_batch_size
        self.rng = np.random.default_rng(seed)
        # Ground-truth twins by list position (source episode index -> position in data.src).
        self.true_twin = None
        if true_pairs is not None:
            src_pos = {e["index"]: i for i, e in enumerate(data.src)}
            self.true_twin = np.array([src_pos.get(true_pairs.get(e["index"], -1), -1) for e in data.tgt_train])

    def _uniform_frames(self, episodes: list[dict], n: int) -> np.ndarray:
        lengths = np.array([len(e["state"]) for e in episodes])
        ep = self.rng.choice(len(episodes), size=n, p=lengths / lengths.sum())
        return np.stack([ep, (self.rng.random(n) * lengths[ep]).astype(np.int64)], 1)

    def _bc_rows(self) -> dict:
        src = frames_at(
            self.data.src, self.data.cameras, self._uniform_frames(self.data.src, self.own_src), self.chunk_size
        )
        tgt = frames_at(
            self.data.tgt_train,
            self.data.cameras,
            self._uniform_frames(self.data.tgt_train, self.own_tgt),
            self.chunk_size,
        )
        return {k: np.concatenate([src[k], tgt[k]]) for k in src}

    def _ot_rows(self) -> tuple[dict, dict, np.ndarray | None]:
        tgt_refs = self._uniform_frames(self.data.tgt_train, self.ot_batch_size)
        # Rows in (demo, frame) order: neighbouring rows are frames close in time, so a prior
        # that decays with |i - j| (heuristic=soft) favours temporally close pairs.
        tgt_refs = tgt_refs[np.lexsort((tgt_refs[:, 1], tgt_refs[:, 0]))]
        src_refs = np.zeros_like(tgt_refs)
        for row, (t, f) in enumerate(tgt_refs):
            s = self.rng.choice(len(self.data.src), p=self.data.pairing.probs[t])
            centre = int(self.data.pairing.matches[(t, s)][f])
            length = len(self.data.src[s]["state"])
            lo, hi = max(0, centre - self.window_size), min(length, centre + self.window_size + 1)
            src_refs[row] = (s, self.rng.integers(lo, hi))
        src = frames_at(self.data.src, self.data.cameras, src_refs, self.chunk_size)
        tgt = frames_at(self.data.tgt_train, self.data.cameras, tgt_refs, self.chunk_size)
        true_pair = None
        if self.true_twin is not None:
            # true_pair[j, i]: source row j comes from the true twin of target row i's demo.
            true_pair = src_refs[:, 0][:, None] == self.true_twin[tgt_refs[:, 0]][None, :]
        return src, tgt, true_pair

    def next(self) -> dict:
        """One step's rows: [OT source (n_ot), OT target (n_ot), BC source, BC target].

        The first 2 * n_ot rows are the OT pairs, the rest (`batch_size`) the BC rows; with `ot_in_bc`
        the OT pairs are BC rows too and the rest is batch_size - 2 * n_ot rows. Every row carries its
        action chunk (the OT loss's label is made from it).
        """
        src, tgt, true_pair = self._ot_rows()
        bc = self._bc_rows()
        batch = {k: np.concatenate([src[k], tgt[k], bc[k]]) for k in src}
        n = self.ot_batch_size
        batch["is_target"] = np.concatenate(
            [np.zeros(n, bool), np.ones(n, bool), np.zeros(self.own_src, bool), np.ones(self.own_tgt, bool)]
        )
        if true_pair is not None:
            batch["true_pair"] = true_pair
        return batch

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]


def check_window_size(window_size: int, data: CoTrainData, where: str = "config") -> None:
    """Refuse a jitter window that covers whole source episodes: pairing would mean nothing."""
    check_window_length(window_size, max(len(e["state"]) for e in data.src), where)


def check_window_length(window_size: int, longest: int, where: str = "config") -> None:
    """`check_window_size` given the longest training source episode's length (e.g. from the metadata alone)."""
    if window_size >= longest:
        raise ActotError(
            f"{where}: ot.window_size={window_size} is at least as long as every source episode "
            f"(the longest has {longest} frames): every OT pair would be drawn from a whole episode, "
            f"not around its DTW match; pick ot.window_size below {longest}"
        )
