"""Pair target demos with source demos by dynamic time warping (DTW) of state/action trajectories.

For every target demo t and source demo s we compute the DTW cost d(t, s): the summed per-frame
Euclidean distance of normalised [state, action] along the best monotone alignment; optionally
each frame also carries weight * outcome, a per-demo summary (`outcome_summary`, e.g. the mean state
over the demo's last frames, a "hindsight goal"), the same for every frame of a demo: a state alone
does not say where a demo is going (on the embedded sim the goal is in no vector, and state-only
DTW pairs demos whose goals lie far apart: docs/data.md "Pairing on situation"), where it ended does.
(Off by default: OT on outcome pairs did worse than on state-only ones, bench/RESULTS.md session 8
"the transfer study's screen completed".) The OT
batch then draws a source demo with probability proportional to

    w(t, s) = 1 / (1 + exp(sharpness * (x(t, s) - cutoff)))

over the `top_k` nearest demos, and a source frame within +-window_size of the frame that DTW
matched to the target frame (the method's sampling, Cheng et al. 2025). x is the cost d(t, s) itself
(scale="absolute", the method's rule, whose meaning depends on the costs' size) or its excess over
the target's nearest cost in tenths of it (scale="nearest", the same at any cost scale), see
`pairing_weights`. With cost="mean" d is the summed distance over the path's length (`path_mean`),
which does not grow with the demos' lengths. `pairing_health` and `health_lines` say how spread the
draws are, and when they have collapsed onto one partner.

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
SCALES = ("absolute", "nearest")  # what the pairing weights' logistic reads (`pairing_weights`)
NEAREST_UNIT = 0.1  # scale="nearest": a cost's excess over the target's nearest, in tenths of the nearest cost
# A pairing has collapsed (`collapse_reasons`) when one source demo takes more than this share of all target
# demos' draws ("drawn for most targets") ...
COLLAPSE_SHARE = 0.5
# ... or when the target demos' median effective number of partners is below this (one partner each; what the
# embedded sim's default pairing and G1's under the absolute rule have: docs/data.md "The weights' scale").
COLLAPSE_EFFECTIVE = 1.1
COSTS = ("sum", "mean")  # a pair's DTW cost: the summed frame distance along the path, or its mean (`path_mean`)
# The outcome summary (data.pair_summary*): off by default. It brings the drawn partner's goal much closer on the
# embedded sim (docs/data.md "Pairing on situation"), but OT trained on those pairs does worse on the target's uncovered
# half than OT on state-only pairs (bench/RESULTS.md session 8 "the transfer study's screen completed": paired seeds). Its weight and frames (chosen on three
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
    padded[t0:t1] = candidate[t0 + lo : t1 + lo]
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=0).transpose(0, 2, 1)  # (n, width, D)
    # Differences summed over the contiguous feature axis, as the first version's (n, m, D) tensor
    # did: the same float64 operations in the same order, so costs agree to the last bit. A few
    # rows at a time, so that the (rows, width, D) buffer stays in cache (twice as fast).
    cost = np.empty((n, width))
    buffer = np.empty((ROWS_PER_STEP, width, query.shape[1]))
    for a in range(0, n, ROWS_PER_STEP):
        diff = buffer[: min(n, a + ROWS_PER_STEP) - a]
        np.subtract(query[a : a + len(diff), None, :], windows[a : a + len(diff)], out=diff)
        np.square(diff, out=diff)
        diff.sum(-1, out=cost[a : a + len(diff)])
    np.sqrt(cost, out=cost)
    j = np.arange(n)[:, None] + np.arange(lo, hi + 1)[None, :]
    cost[(j < 0) | (j >= m)] = np.inf
    return cost


def _dtw_batch(
    queries: list[np.ndarray],
    candidates: list[np.ndarray],
    band: float | None,
    keep: bool = False,
    path_lengths: bool = False,
) -> tuple[np.ndarray, np.ndarray | None, int, np.ndarray | None]:
    """Banded DTW of pairs (queries[p], candidates[p]), all at once.

    acc[p, i, r] is the cumulative cost of aligning the first i query frames with the first i + r
    candidate frames (offset r stored at column r - LO + 1, with an inf column either side).
    Cells on one anti-diagonal i + j = s depend only on the two before, so the loop runs over
    anti-diagonals (n + m of them) and each step is vectorised over pairs and the band.
    Returns the costs, acc when `keep` (for the warping paths), LO, and with `path_lengths` the
    number of cells on each optimal path (the path `_path_match` walks: same tie rule).
    """
    lens_q = np.array([len(q) for q in queries])
    lens_c = np.array([len(c) for c in candidates])
    offsets = np.array([band_offsets(n, m, band) for n, m in zip(lens_q, lens_c)]).reshape(-1, 2)
    lo_all, hi_all = int(offsets[:, 0].min()), int(offsets[:, 1].max())
    n_max, width = int(lens_q.max()), hi_all - lo_all + 3
    cost = np.full((len(queries), n_max, width), np.inf)
    for p, (q, c) in enumerate(zip(queries, candidates)):
        lo, hi = offsets[p]
        cost[p, : len(q), lo - lo_all + 1 : hi - lo_all + 2] = _banded_costs(q, c, lo, hi)
    acc = np.full((len(queries), n_max + 1, width), np.inf)
    acc[:, 0, 1 - lo_all] = 0.0  # acc at (0, 0): nothing aligned yet
    # Cells on the best path into each cell; int32 keeps it to half of acc's memory (lengths < 2**31).
    steps = np.zeros((len(queries), n_max + 1, width), np.int32) if path_lengths else None
    for s in range(2, int((lens_q + lens_c).max()) + 1):
        # cells (i, j = s - i) with 1 <= i <= n_max, 1 <= j and lo_all <= j - i = s - 2i <= hi_all
        i = np.arange(max(1, -((hi_all - s) // 2)), min(n_max, s - 1, (s - lo_all) // 2) + 1)
        if not len(i):
            continue
        col = s - 2 * i - lo_all + 1
        # (i-1, j-1), (i-1, j), (i, j-1): the first version's min(min(diag, up) + c, left + c),
        # which equals c + min(diag, up, left) exactly (rounding is monotone).
        diag, up, left = acc[:, i - 1, col], acc[:, i - 1, col + 1], acc[:, i, col - 1]
        best = np.minimum(np.minimum(diag, up), left)
        acc[:, i, col] = cost[:, i - 1, col] + best
        if steps is not None:  # np.argmin([diag, up, left])'s choice, as _path_match makes it
            take_diag = (diag <= up) & (diag <= left)
            take_up = ~take_diag & (up <= left)
            steps[:, i, col] = 1 + np.where(
                take_diag, steps[:, i - 1, col], np.where(take_up, steps[:, i - 1, col + 1], steps[:, i, col - 1])
            )
    rows = np.arange(len(queries))
    end = (rows, lens_q, lens_c - lens_q - lo_all + 1)
    return acc[end], (acc if keep else None), lo_all, (steps[end] if steps is not None else None)


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


def dtw_pairs(
    queries: list[np.ndarray],
    candidates: list[np.ndarray],
    pairs: list[tuple[int, int]],
    band: float | None = DEFAULT_BAND,
    matches: bool = False,
    progress=None,
    cost: str = "sum",
):
    """DTW costs (and, with `matches`, each pair's frame match) of (queries[q], candidates[c]) for (q, c) in pairs.

    `cost` (COSTS): "sum", the summed frame distance along the optimal path; "mean", that sum over
    the number of cells on the path (`path_mean`). `progress(n_pairs_done)` is called after each
    batch. Returns the costs in the order of `pairs`, and a list of matches (or None).
    """
    if cost not in COSTS:
        raise ValueError(f"cost={cost!r}: choose one of {list(COSTS)}")
    queries = [np.asarray(q, np.float64) for q in queries]
    candidates = [np.asarray(c, np.float64) for c in candidates]
    lengths = [(len(queries[q]), len(candidates[c])) for q, c in pairs]
    costs = np.zeros(len(pairs))
    found: list = [None] * len(pairs)
    for batch in _batches(lengths, band):
        out, acc, lo_all, steps = _dtw_batch(
            [queries[pairs[k][0]] for k in batch],
            [candidates[pairs[k][1]] for k in batch],
            band,
            keep=matches,
            path_lengths=cost == "mean",
        )
        costs[batch] = out if steps is None else path_mean(out, steps)
        if matches:
            for row, k in enumerate(batch):
                found[k] = _path_match(acc[row], lo_all, *lengths[k])
        if progress is not None:
            progress(len(batch))
    return costs, (found if matches else None)


def dtw_costs(
    query: np.ndarray, candidates: list[np.ndarray], band: float | None = None, cost: str = "sum"
) -> np.ndarray:
    """DTW cost of `query` (T, D) against each candidate (T_k, D); band=None: every alignment."""
    return dtw_pairs([query], candidates, [(0, k) for k in range(len(candidates))], band, cost=cost)[0]


def path_mean(costs: np.ndarray, path_lengths: np.ndarray) -> np.ndarray:
    """Summed DTW costs over their optimal paths' cell counts: the mean frame distance along the path.

    A summed cost grows with the demos' lengths (every extra frame adds a distance), so a short source
    demo wins over a long one that moves alike; the mean does not. The path is the one that minimises
    the sum (the textbook normalised DTW), between max(n, m) and n + m - 1 cells.
    """
    return np.asarray(costs, np.float64) / np.asarray(path_lengths, np.float64)


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


def relative_costs(costs: np.ndarray, unit: float = NEAREST_UNIT) -> np.ndarray:
    """Costs as the excess over the smallest, in units of `unit` times it: (d - d_min) / (unit * d_min).

    0 for the nearest, 5 at the default unit for a demo 50% costlier: a ratio, so the same at any cost
    scale (G1's costs run in the thousands, the embedded sim's in the tens). A zero nearest cost (a
    demo identical to the target) leaves only the demos at cost 0 finite.
    """
    costs = np.asarray(costs, np.float64)
    nearest = costs.min()
    if nearest <= 0:
        return np.where(costs <= 0, 0.0, np.inf)
    return (costs - nearest) / (unit * nearest)


def pairing_weights(
    costs: np.ndarray, sharpness: float, cutoff: float, top_k: int, scale: str = "absolute"
) -> np.ndarray:
    """Sampling probabilities over source demos for one target demo (zero outside the top_k).

    Each of the top_k nearest weighs 1 / (1 + exp(sharpness * (x - cutoff))), normalised, where x is
    scale="absolute": the DTW cost itself (the first rule). Its meaning depends on the costs' size:
        on the embedded sim (costs ~10-200) the weights fall by e per unit of cost; on G1 (costs
        ~900-6,500) every weight underflows and the nearest alone is kept;
    scale="nearest": `relative_costs`, the excess over the target's nearest cost in tenths of it
        (the nearest is 0, a demo 50% costlier 5), the same at any cost scale: at the defaults
        (sharpness 1, cutoff 5) a partner up to 50% costlier than the nearest keeps at least half of
        the nearest's weight, and each further tenth divides its odds by e.
    """
    if scale not in SCALES:
        raise ValueError(f"scale={scale!r}: choose one of {list(SCALES)}")
    order = np.argsort(costs)[:top_k]
    x = costs[order] if scale == "absolute" else relative_costs(costs[order])
    logits = -sharpness * (x - cutoff)
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


def pair_demos(
    target: list[np.ndarray],
    source: list[np.ndarray],
    sharpness: float = 1.0,
    cutoff: float = 5.0,
    top_k: int = 5,
    band: float | None = DEFAULT_BAND,
    progress=None,
    scale: str = "absolute",
    cost: str = "sum",
    costs: np.ndarray | None = None,
) -> Pairing:
    """Pair each normalised target trajectory (T, D) with source trajectories, by position in the lists.

    `scale`: how the weights read the costs (`pairing_weights`); `cost`: "sum" or "mean" (`dtw_pairs`).
    `costs`: the (n_target, n_source) DTW costs of these trajectories, band and `cost`, when already known (the
    pairing cache keeps them apart from the weights): then only the matches are computed.
    `progress(n)` is called as pairs are done: n_target * n_source costs (unless given), then one match per
    pair the sampler may draw (probs > 0).
    """
    if costs is None:
        pairs = [(t, s) for t in range(len(target)) for s in range(len(source))]
        costs = dtw_pairs(target, source, pairs, band, progress=progress, cost=cost)[0]
        costs = costs.reshape(len(target), len(source))
    probs = np.stack([pairing_weights(c, sharpness, cutoff, top_k, scale) for c in costs])
    chosen = [(t, int(s)) for t, row in enumerate(probs) for s in np.flatnonzero(row > 0)]
    found = dtw_pairs(target, source, chosen, band, matches=True, progress=progress)[1]
    return Pairing(costs, probs, dict(zip(chosen, found)))


def pairing_health(pairing: Pairing, floor: float = 0.01) -> dict:
    """How spread the sampler's draws are, from the probabilities alone.

    distinct: source demos that some target demo draws with probability >= `floor`;
    effective: per target demo, exp of the entropy of its partner distribution (1: one partner; k: k
    equally likely), and its median; top_share, top_source: the largest share of all target demos'
    probability mass (their mean distribution) that one source demo takes, and that demo's position;
    cost_range: the smallest and largest DTW cost, the scale `scale="absolute"` reads.
    """
    probs = np.asarray(pairing.probs, np.float64)
    logs = np.log(np.where(probs > 0, probs, 1.0))
    effective = np.exp(-(probs * logs).sum(1))
    share = probs.mean(0)
    top = int(share.argmax())
    return {
        "n_target": int(probs.shape[0]),
        "n_source": int(probs.shape[1]),
        "distinct": int((probs >= floor).any(0).sum()),
        "effective": effective,
        "effective_median": float(np.median(effective)),
        "top_share": float(share[top]),
        "top_source": top,
        "cost_range": (float(pairing.costs.min()), float(pairing.costs.max())),
    }


def collapse_reasons(health: dict, top_k: int) -> list[str]:
    """Why a pairing has collapsed (empty when it has not): one source demo takes most of the targets' draws
    (with more than 2 target demos, so that "most" means something), or the target demos have effectively
    one partner each although top_k allows more."""
    reasons = []
    if health["n_target"] > 2 and health["top_share"] > COLLAPSE_SHARE:
        reasons.append("one source demo takes most draws")
    if min(top_k, health["n_source"]) > 1 and health["effective_median"] < COLLAPSE_EFFECTIVE:
        reasons.append("one partner each")
    return reasons


def health_lines(
    pairing: Pairing,
    sharpness: float,
    cutoff: float,
    top_k: int,
    scale: str,
    cost: str = "sum",
    source_names: list | None = None,
) -> tuple[str, str | None]:
    """The one-line summary of `pairing_health`, and a one-line warning naming the settings to change when
    the pairing has collapsed (None when it has not). `source_names[i]` names source demo i (its episode)."""
    h = pairing_health(pairing)
    top = (
        f"source episode {source_names[h['top_source']]}"
        if source_names is not None
        else f"source demo {h['top_source']} (by position)"
    )
    lo, hi = h["cost_range"]
    summary = (
        f"pairing health: {h['n_target']} target x {h['n_source']} source demos (data.pair_scale={scale}, "
        f"data.pair_cost={cost}, top_k={top_k}): {h['distinct']} distinct partner"
        f"{'' if h['distinct'] == 1 else 's'} (p >= 1% for some target), {h['effective_median']:.2f} effective "
        f"partners per target (median), {top} takes {h['top_share']:.0%} of all draws; DTW "
        f"costs {lo:.4g}-{hi:.4g}"
    )
    reasons = collapse_reasons(h, top_k)
    if not reasons:
        return summary, None
    if "one partner each" in reasons and scale == "absolute":
        fix = (
            f"costs of {lo:.4g}-{hi:.4g} against data.cutoff={cutoff:g} at data.sharpness={sharpness:g} leave "
            "the nearest alone; set data.pair_scale=nearest (costs relative to each target's nearest), or "
            "data.cutoff near the costs with a smaller data.sharpness"
        )
    elif "one partner each" in reasons:
        fix = (
            f"the rest of the top_k={top_k} cost more than data.cutoff={cutoff:g} tenths of the nearest's cost "
            f"above it (at data.sharpness={sharpness:g}); raise data.cutoff or lower data.sharpness"
        )
    else:
        fix = (
            f"{top} is near every target demo; raise data.top_k or data.cutoff to spread the draws, or check that demo"
        )
    warning = (
        f"pairing WARNING: collapsed ({' and '.join(reasons)}: {top} takes "
        f"{h['top_share']:.0%} of all draws, {h['effective_median']:.2f} effective partners per target): {fix}"
    )
    return summary, warning


def twin_recovery_rate(pairing: Pairing, true_source: dict[int, int]) -> float:
    """Fraction of target demos whose DTW-nearest source demo is their true twin."""
    nearest = pairing.nearest()
    return float(np.mean([nearest[t] == s for t, s in true_source.items()]))


def pairing_quality(
    pairing: Pairing, true_distance: np.ndarray, near: int = 5, goal_distance: np.ndarray | None = None
) -> dict[str, float]:
    """How well DTW's choices agree with a ground-truth distance (n_target, n_source) between demos.

    top1: DTW's nearest is the truly nearest source demo (chance 1/n_source).
    in_true_near: DTW's nearest is among the `near` truly nearest (chance near/n_source).
    chosen_rank: mean true-rank percentile of the demos DTW may draw (probs > 0); 0 is the
    nearest, chance is about 0.5.
    drawn_distance: the mean over target demos of the true distance of the source demo the sampler
    draws (expected under `probs`); drawn_distance_best: the mean of each target demo's smallest true
    distance (a sampler that always draws the truly nearest). true_nearest_mass: the mean probability
    that the sampler draws the truly nearest source demo.
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
    return {
        "top1": float(np.mean(true_rank[rows, picked] == 0)),
        "in_true_near": float(np.mean(true_rank[rows, picked] < near)),
        "chosen_rank": float(np.mean(chosen)),
        "drawn_distance": float(np.mean((pairing.probs * true_distance).sum(1))),
        "drawn_distance_best": float(np.mean(true_distance.min(1))),
        "true_nearest_mass": float(np.mean(pairing.probs[rows, true_distance.argmin(1)])),
        "chance_top1": 1.0 / n_source,
        "chance_in_true_near": min(near, n_source) / n_source,
        "near": near,
        **(
            {}
            if goal_distance is None
            else {
                "goal_gap": float(np.median((pairing.probs * goal_distance).sum(1))),
                "goal_gap_best": float(np.median(goal_distance.min(1))),
            }
        ),
    }
