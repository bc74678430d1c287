"""Pair target demos with source demos by dynamic time warping (DTW) of state/action trajectories.

For every target demo t and source demo s we compute the DTW cost d(t, s): the summed per-frame
Euclidean distance of normalised [state, action] along the best monotone alignment. The OT
batch then draws a source demo with probability proportional to

    w(t, s) = 1 / (1 + exp(sharpness * (d(t, s) - cutoff)))

over the `top_k` nearest demos, and a source frame within +-window_size of the frame that DTW
matched to the target frame (the method's sampling, Cheng et al. 2025).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def dtw_costs(query: np.ndarray, candidates: list[np.ndarray]) -> np.ndarray:
    """DTW cost of `query` (T, D) against each candidate (T_k, D), batched over candidates."""
    n = len(candidates)
    longest = max(len(c) for c in candidates)
    padded = np.zeros((n, longest, query.shape[1]))
    for k, c in enumerate(candidates):
        padded[k, : len(c)] = c
    # cost[k, i, j] = |query[i] - candidate_k[j]|
    cost = np.sqrt(((query[None, :, None, :] - padded[:, None, :, :]) ** 2).sum(-1))
    acc = np.full((n, len(query) + 1, longest + 1), np.inf)
    acc[:, 0, 0] = 0.0
    for i in range(1, len(query) + 1):
        row_prev = acc[:, i - 1]
        diag_up = np.minimum(row_prev[:, :-1], row_prev[:, 1:]) + cost[:, i - 1]
        row = acc[:, i]
        for j in range(1, longest + 1):  # left neighbour is sequential in j
            row[:, j] = np.minimum(diag_up[:, j - 1], row[:, j - 1] + cost[:, i - 1, j - 1])
    lengths = np.array([len(c) for c in candidates])
    return acc[np.arange(n), len(query), lengths]


def dtw_match(query: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """For each frame of `query`, the candidate frame DTW aligns it with (the first, if several)."""
    cost = np.sqrt(((query[:, None, :] - candidate[None, :, :]) ** 2).sum(-1))
    t, s = cost.shape
    acc = np.full((t + 1, s + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, t + 1):
        for j in range(1, s + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    match = np.zeros(t, dtype=np.int64)
    i, j = t, s
    while i > 0 and j > 0:
        match[i - 1] = j - 1
        step = np.argmin([acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]])
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
    return match


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
               cutoff: float = 5.0, top_k: int = 5) -> Pairing:
    """Pair each normalised target trajectory (T, D) with source trajectories, by position in the lists."""
    costs = np.stack([dtw_costs(t, source) for t in target])
    probs = np.stack([pairing_weights(c, sharpness, cutoff, top_k) for c in costs])
    matches = {}
    for ti, row in enumerate(probs):
        for si in np.flatnonzero(row > 0):
            matches[(ti, int(si))] = dtw_match(target[ti], source[si])
    return Pairing(costs, probs, matches)


def twin_recovery_rate(pairing: Pairing, true_source: dict[int, int]) -> float:
    """Fraction of target demos whose DTW-nearest source demo is their true twin."""
    nearest = pairing.nearest()
    return float(np.mean([nearest[t] == s for t, s in true_source.items()]))


def pairing_quality(pairing: Pairing, true_distance: np.ndarray, near: int = 5) -> dict[str, float]:
    """How well DTW's choices agree with a ground-truth distance (n_target, n_source) between demos.

    top1: DTW's nearest is the truly nearest source demo (chance 1/n_source).
    in_true_near: DTW's nearest is among the `near` truly nearest (chance near/n_source).
    chosen_rank: mean true-rank percentile of the demos DTW may draw (probs > 0); 0 is the
    nearest, chance is about 0.5.
    """
    n_target, n_source = true_distance.shape
    true_rank = np.argsort(np.argsort(true_distance, axis=1), axis=1)  # 0 = truly nearest
    picked = pairing.nearest()
    rows = np.arange(n_target)
    chosen = [true_rank[t, pairing.probs[t] > 0].mean() / max(n_source - 1, 1) for t in rows]
    return {"top1": float(np.mean(true_rank[rows, picked] == 0)),
            "in_true_near": float(np.mean(true_rank[rows, picked] < near)),
            "chosen_rank": float(np.mean(chosen)),
            "chance_top1": 1.0 / n_source, "chance_in_true_near": min(near, n_source) / n_source, "near": near}
