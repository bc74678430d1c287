"""Pair target demos with source demos by dynamic time warping (DTW) of state/action trajectories.

For every target demo t and source demo s we compute the DTW cost d(t, s): the summed per-frame
Euclidean distance of normalised [state, action] along the best monotone alignment; optionally
each frame also carries weight * outcome, a per-demo summary (`outcome_summary`, e.g. the mean state
over the demo's last frames, a "hindsight goal"), the same for every frame of a demo: a state alone
does not say where a demo is going (on the embedded sim the goal is in no vector, and state-only
DTW pairs demos whose goals are ~3 success radii apart), where it ended does. (Off by default: OT on
outcome pairs did worse than on state-only ones, bench/RESULTS.md.) The OT
batch then draws a source demo with probability proportional to

    w(t, s) = 1 / (1 + exp(sharpness * (d(t, s) - cutoff)))

over the `top_k` nearest demos, and a source frame within +-window_size of the frame that DTW
matched to the target frame (the method's sampling, Cheng et al. 2025).

The alignment is searched within a Sakoe-Chiba band: target frame i may meet source frame j only
if -(w + max(0, n - m)) <= j - i <= w + max(0, m - n) for demos of n and m frames, i.e. within w
frames of the diagonal, widened by the length difference so that the end cell, and so a path,
always exists (the band of dtaidistance and tslearn). w = ceil(band * max(n, m)), `band`
(DEFAULT_BAND) a fraction of the longer demo; band=None searches every alignment. Time and
memory are O(n * (2w + |n - m|)) per pair (linear in the demo length for a fixed w), memory
capped per batch of pairs (`MAX_BATCH_BYTES`), instead of the first version's (n_source, n, m, D)
tensor per target demo and Python loop per cell.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


DEFAULT_BAND = 0.1  # half-width of the DTW band, as a fraction of the longer demo of a pair
# The outcome summary (data.pair_summary*): off by default. It brings the drawn partner's goal from ~3 to ~1 success
# radii on the embedded sim (docs/data.md), but OT trained on those pairs does worse on the target's uncovered half than
# OT on state-only pairs (bench/RESULTS.md, the transfer study: paired seeds). Its weight and frames (chosen on three
# embedded sims) apply when keys are named, e.g. data.pair_summary=[observation.state]; weight 0 turns it off too.
SUMMARY_KEYS = ("observation.state", "action")  # the LeRobot features an outcome summary may name
OUTCOME_SUMMARY = ("observation.state",)  # the summary measured on the sim (docs/data.md): where the robot ended
DEFAULT_SUMMARY: tuple = ()
DEFAULT_SUMMARY_WEIGHT = 4.0
DEFAULT_SUMMARY_FRAMES = 5
MAX_BATCH_BYTES = 64 * 2**20  # memory for one batch's banded cost and cumulative-cost arrays, each
ROWS_PER_STEP = 8  # query frames whose distances are computed at once


def band_offsets(n: int, m: int, band: float | None) -> tuple[int, int]:
    """The allowed range [lo, hi] of j - i (target frame i, source frame j) for demos of n and m frames."""
    if band is None:
        return -(n - 1), m - 1
    if band < 0:
        raise ValueError(f"band={band}: the DTW band is a fraction of the longer demo, >= 0 (None: no band)")
    w = int(np.ceil(band * max(n, m)))
    return max(-(n - 1), -(w + max(0, n - m))), min(m - 1, w + max(0, m - n))


def _banded_costs(query: np.ndarray, candidate: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """cost[i, r - lo] = |query[i] - candidate[i + r]| for offsets r in [lo, hi]; inf off the candidate."""
    n, m, width = len(query), len(candidate), hi - lo + 1
    padded = np.zeros((n - 1 + width, query.shape[1]))  # padded[t] = candidate[t + lo] where that exists
    t0, t1 = max(0, -lo), min(len(padded), m - lo)
    padded[t0:t1] = candidate[t0 + lo: t1 + lo]
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=0).transpose(0, 2, 1)  # (n, width, D)
    # Differences summed over the contiguous feature axis, as the first version's (n, m, D) tensor
    # did: the same float64 operations in the same order, so costs agree to the last bit. A few
    # rows at a time, so that the (rows, width, D) buffer stays in cache (twice as fast).
    cost = np.empty((n, width))
    buffer = np.empty((ROWS_PER_STEP, width, query.shape[1]))
    for a in range(0, n, ROWS_PER_STEP):
        diff = buffer[: min(n, a + ROWS_PER_STEP) - a]
        np.subtract(query[a: a + len(diff), None, :], windows[a: a + len(diff)], out=diff)
        np.square(diff, out=diff)
        diff.sum(-1, out=cost[a: a + len(diff)])
    np.sqrt(cost, out=cost)
    j = np.arange(n)[:, None] + np.arange(lo, hi + 1)[None, :]
    cost[(j < 0) | (j >= m)] = np.inf
    return cost


def _dtw_batch(queries: list[np.ndarray], candidates: list[np.ndarray], band: float | None,
               keep: bool = False) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Banded DTW of pairs (queries[p], candidates[p]), all at once.

    acc[p, i, r] is the cumulative cost of aligning the first i query frames with the first i + r
    candidate frames (offset r stored at column r - LO + 1, with an inf column either side).
    Cells on one anti-diagonal i + j = s depend only on the two before, so the loop runs over
    anti-diagonals (n + m of them) and each step is vectorised over pairs and the band.
    Returns the costs, acc when `keep` (for the warping paths) and LO.
    """
    lens_q = np.array([len(q) for q in queries])
    lens_c = np.array([len(c) for c in candidates])
    offsets = np.array([band_offsets(n, m, band) for n, m in zip(lens_q, lens_c)]).reshape(-1, 2)
    lo_all, hi_all = int(offsets[:, 0].min()), int(offsets[:, 1].max())
    n_max, width = int(lens_q.max()), hi_all - lo_all + 3
    cost = np.full((len(queries), n_max, width), np.inf)
    for p, (q, c) in enumerate(zip(queries, candidates)):
        lo, hi = offsets[p]
        cost[p, : len(q), lo - lo_all + 1: hi - lo_all + 2] = _banded_costs(q, c, lo, hi)
    acc = np.full((len(queries), n_max + 1, width), np.inf)
    acc[:, 0, 1 - lo_all] = 0.0  # acc at (0, 0): nothing aligned yet
    for s in range(2, int((lens_q + lens_c).max()) + 1):
        # cells (i, j = s - i) with 1 <= i <= n_max, 1 <= j and lo_all <= j - i = s - 2i <= hi_all
        i = np.arange(max(1, -((hi_all - s) // 2)), min(n_max, s - 1, (s - lo_all) // 2) + 1)
        if not len(i):
            continue
        col = s - 2 * i - lo_all + 1
        # (i-1, j-1), (i-1, j), (i, j-1): the first version's min(min(diag, up) + c, left + c),
        # which equals c + min(diag, up, left) exactly (rounding is monotone).
        best = np.minimum(np.minimum(acc[:, i - 1, col], acc[:, i - 1, col + 1]), acc[:, i, col - 1])
        acc[:, i, col] = cost[:, i - 1, col] + best
    rows = np.arange(len(queries))
    costs = acc[rows, lens_q, lens_c - lens_q - lo_all + 1]
    return costs, (acc if keep else None), lo_all


def _path_match(acc: np.ndarray, lo_all: int, n: int, m: int) -> np.ndarray:
    """For each query frame, the first candidate frame on the optimal path (ties: diagonal, up, left)."""
    match = np.zeros(n, dtype=np.int64)
    i, j = n, m
    while i > 0 and j > 0:
        match[i - 1] = j - 1
        col = j - i - lo_all + 1
        step = np.argmin([acc[i - 1, col], acc[i - 1, col + 1], acc[i, col - 1]])
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
    return match


def _batches(lengths: list[tuple[int, int]], band: float | None):
    """Split pairs into batches whose arrays fit MAX_BATCH_BYTES; pairs of similar bands go together."""
    order = sorted(range(len(lengths)), key=lambda k: (band_offsets(*lengths[k], band), lengths[k]))
    batch, lo, hi, n_max = [], 0, 0, 0
    for k in order:
        n, m = lengths[k]
        klo, khi = band_offsets(n, m, band)
        new = (min(lo, klo), max(hi, khi), max(n_max, n)) if batch else (klo, khi, n)
        size = (len(batch) + 1) * (new[2] + 1) * (new[1] - new[0] + 3) * 8
        if batch and size > MAX_BATCH_BYTES:
            yield batch
            batch, new = [], (klo, khi, n)
        batch.append(k)
        lo, hi, n_max = new
    if batch:
        yield batch


def dtw_pairs(queries: list[np.ndarray], candidates: list[np.ndarray], pairs: list[tuple[int, int]],
              band: float | None = DEFAULT_BAND, matches: bool = False, progress=None):
    """DTW costs (and, with `matches`, each pair's frame match) of (queries[q], candidates[c]) for (q, c) in pairs.

    `progress(n_pairs_done)` is called after each batch. Returns the costs in the order of `pairs`,
    and a list of matches (or None).
    """
    queries = [np.asarray(q, np.float64) for q in queries]
    candidates = [np.asarray(c, np.float64) for c in candidates]
    lengths = [(len(queries[q]), len(candidates[c])) for q, c in pairs]
    costs = np.zeros(len(pairs))
    found: list = [None] * len(pairs)
    for batch in _batches(lengths, band):
        out, acc, lo_all = _dtw_batch([queries[pairs[k][0]] for k in batch],
                                      [candidates[pairs[k][1]] for k in batch], band, keep=matches)
        costs[batch] = out
        if matches:
            for row, k in enumerate(batch):
                found[k] = _path_match(acc[row], lo_all, *lengths[k])
        if progress is not None:
            progress(len(batch))
    return costs, (found if matches else None)


def dtw_costs(query: np.ndarray, candidates: list[np.ndarray], band: float | None = None) -> np.ndarray:
    """DTW cost of `query` (T, D) against each candidate (T_k, D); band=None: every alignment."""
    return dtw_pairs([query], candidates, [(0, k) for k in range(len(candidates))], band)[0]


def dtw_match(query: np.ndarray, candidate: np.ndarray, band: float | None = None) -> np.ndarray:
    """For each frame of `query`, the candidate frame DTW aligns it with (the first, if several)."""
    return dtw_pairs([query], [candidate], [(0, 0)], band, matches=True)[1][0]


def outcome_summary(features: list[np.ndarray], frames: int) -> np.ndarray:
    """A demo's outcome: each (T, D_k) feature averaged over its last `frames` frames, concatenated.

    An average rather than the last frame alone: a demo's last frames hover around where it ended,
    and a single frame's velocity is mostly noise.
    """
    return np.concatenate([np.asarray(f, np.float64)[-frames:].mean(0) for f in features])


def with_outcome(trajectory: np.ndarray, summary: np.ndarray, weight: float) -> np.ndarray:
    """`trajectory` (T, D) with `weight * summary` appended to every frame; unchanged when weight is 0.

    A frame's DTW distance becomes sqrt(|d frame|^2 + weight^2 |d outcome|^2): demos that end
    apart cost more at every frame, so DTW prefers partners with the same outcome.
    """
    if weight == 0 or summary.size == 0:
        return trajectory
    tail = np.broadcast_to(weight * summary.astype(trajectory.dtype), (len(trajectory), summary.size))
    return np.concatenate([trajectory, tail], axis=1)


def pairing_weights(costs: np.ndarray, sharpness: float, cutoff: float, top_k: int) -> np.ndarray:
    """Sampling probabilities over source demos for one target demo (zero outside the top_k)."""
    order = np.argsort(costs)[:top_k]
    logits = -sharpness * (costs[order] - cutoff)
    weights = 0.5 * (1.0 + np.tanh(0.5 * logits))  # the logistic function, without overflow
    probs = np.zeros(len(costs))
    if weights.sum() <= 1e-300:  # every candidate far beyond the cutoff: keep the nearest
        probs[order[0]] = 1.0
    else:
        probs[order] = weights / weights.sum()
    return probs


@dataclass
class Pairing:
    """DTW costs (n_target, n_source), sampling probabilities, and per-pair frame matches."""

    costs: np.ndarray
    probs: np.ndarray
    matches: dict[tuple[int, int], np.ndarray]

    def nearest(self) -> np.ndarray:
        return self.costs.argmin(axis=1)


def pair_demos(target: list[np.ndarray], source: list[np.ndarray], sharpness: float = 1.0,
               cutoff: float = 5.0, top_k: int = 5, band: float | None = DEFAULT_BAND,
               progress=None) -> Pairing:
    """Pair each normalised target trajectory (T, D) with source trajectories, by position in the lists.

    `progress(n)` is called as pairs are done: n_target * n_source costs, then one match per
    pair the sampler may draw (probs > 0).
    """
    pairs = [(t, s) for t in range(len(target)) for s in range(len(source))]
    costs = dtw_pairs(target, source, pairs, band, progress=progress)[0].reshape(len(target), len(source))
    probs = np.stack([pairing_weights(c, sharpness, cutoff, top_k) for c in costs])
    chosen = [(t, int(s)) for t, row in enumerate(probs) for s in np.flatnonzero(row > 0)]
    found = dtw_pairs(target, source, chosen, band, matches=True, progress=progress)[1]
    return Pairing(costs, probs, dict(zip(chosen, found)))


def twin_recovery_rate(pairing: Pairing, true_source: dict[int, int]) -> float:
    """Fraction of target demos whose DTW-nearest source demo is their true twin."""
    nearest = pairing.nearest()
    return float(np.mean([nearest[t] == s for t, s in true_source.items()]))


def pairing_quality(pairing: Pairing, true_distance: np.ndarray, near: int = 5,
                    goal_distance: np.ndarray | None = None) -> dict[str, float]:
    """How well DTW's choices agree with a ground-truth distance (n_target, n_source) between demos.

    top1: DTW's nearest is the truly nearest source demo (chance 1/n_source).
    in_true_near: DTW's nearest is among the `near` truly nearest (chance near/n_source).
    chosen_rank: mean true-rank percentile of the demos DTW may draw (probs > 0); 0 is the
    nearest, chance is about 0.5.
    With `goal_distance` (n_target, n_source), the distance between the demos' goals:
    goal_gap: the median over target demos of the expected goal distance of the source demo the
    sampler draws (under `probs`): how far the OT partner's goal is from the target's;
    goal_gap_best: the median of each target demo's smallest goal distance (what a perfect
    pairing would give).
    """
    n_target, n_source = true_distance.shape
    true_rank = np.argsort(np.argsort(true_distance, axis=1), axis=1)  # 0 = truly nearest
    picked = pairing.nearest()
    rows = np.arange(n_target)
    chosen = [true_rank[t, pairing.probs[t] > 0].mean() / max(n_source - 1, 1) for t in rows]
    return {"top1": float(np.mean(true_rank[rows, picked] == 0)),
            "in_true_near": float(np.mean(true_rank[rows, picked] < near)),
            "chosen_rank": float(np.mean(chosen)),
            "chance_top1": 1.0 / n_source, "chance_in_true_near": min(near, n_source) / n_source, "near": near,
            **({} if goal_distance is None else
               {"goal_gap": float(np.median((pairing.probs * goal_distance).sum(1))),
                "goal_gap_best": float(np.median(goal_distance.min(1)))})}
