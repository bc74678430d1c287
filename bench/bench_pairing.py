"""DTW pairing on the shared G1 dataset: the first version vs the banded one, and the pairing cache.

    python -m bench.bench_pairing                  # source episodes 0-79, target 80-99 (issue 20)
    python -m bench.bench_pairing --all-vs-all     # and all 100 episodes against all 100
    python -m bench.bench_pairing --old-targets 0  # skip the first version (it needs ~9 GB)

Every row runs in a fresh Python process, so its peak RSS (`resource.getrusage`, ru_maxrss) is
its own; 'loaded' is the process's peak after reading and normalising the episodes, 'peak' after
pairing. Rows:
- the first version (`old_pair_demos` below, verbatim from commit 8bc526d: a (n_source, T, T_k, D)
  float64 tensor per target demo and a Python loop per cell) on `--old-targets` target demos
  only: its time grows linearly with the number of target demos (each is paired on its own), its
  memory does not (one target's tensor at a time: the longest target demo sets the peak), so the
  time for all 20 is extrapolated;
- the candidates measured before choosing: ours without a band (the same arithmetic, no tensor)
  and with the default band, on the same target demos; dtaidistance's C DTW (costs only,
  `inner_dist='euclidean'`, the same band) when it is installed;
- ours on all pairs (costs and matches, as `CoTrainData` pairs);
- `CoTrainData` built twice on G1 (source 0-79, target 80-99, 2 held out) with a fresh pairing
  cache: the first process computes and stores the pairing, the second reads it (a sweep's trial).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]  # the repository: a worker runs as `python -m bench.bench_pairing` there
G1 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "g1_pick_bottle_v21"


# ---------------------------------------------------------------- the first version, verbatim (commit 8bc526d)
def old_dtw_costs(query: np.ndarray, candidates: list[np.ndarray]) -> np.ndarray:
    n = len(candidates)
    longest = max(len(c) for c in candidates)
    padded = np.zeros((n, longest, query.shape[1]))
    for k, c in enumerate(candidates):
        padded[k, : len(c)] = c
    cost = np.sqrt(((query[None, :, None, :] - padded[:, None, :, :]) ** 2).sum(-1))
    acc = np.full((n, len(query) + 1, longest + 1), np.inf)
    acc[:, 0, 0] = 0.0
    for i in range(1, len(query) + 1):
        row_prev = acc[:, i - 1]
        diag_up = np.minimum(row_prev[:, :-1], row_prev[:, 1:]) + cost[:, i - 1]
        row = acc[:, i]
        for j in range(1, longest + 1):
            row[:, j] = np.minimum(diag_up[:, j - 1], row[:, j - 1] + cost[:, i - 1, j - 1])
    lengths = np.array([len(c) for c in candidates])
    return acc[np.arange(n), len(query), lengths]


def old_dtw_match(query: np.ndarray, candidate: np.ndarray) -> np.ndarray:
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


def old_pair_demos(target, source, sharpness=1.0, cutoff=5.0, top_k=5):
    from actot.data.pairing import pairing_weights

    costs = np.stack([old_dtw_costs(t, source) for t in target])
    probs = np.stack([pairing_weights(c, sharpness, cutoff, top_k) for c in costs])
    matches = {}
    for ti, row in enumerate(probs):
        for si in np.flatnonzero(row > 0):
            matches[(ti, int(si))] = old_dtw_match(target[ti], source[si])
    return costs, probs, matches


# ---------------------------------------------------------------- one measurement, in its own process
def trajectories(root: Path, episodes: list[int]) -> list[np.ndarray]:
    """Normalised [state, action] of the episodes (float32, as CoTrainData pairs them)."""
    from actot.data import LeRobotDataset
    from actot.data.sampler import Normaliser

    ds = LeRobotDataset(root, cameras=[])
    norm = Normaliser(ds.stats["observation.state"], ds.stats["action"])
    by_index = {e.index: e for e in ds.episodes}
    return [
        np.concatenate([norm.norm_state(by_index[e].state), norm.norm_action(by_index[e].action)], 1) for e in episodes
    ]


def worker(job: dict) -> dict:
    root = Path(job["root"])
    band = job.get("band")
    if job["kind"] == "cotrain":
        from actot.data import LeRobotDataset
        from actot.data.sampler import CoTrainData

        source = LeRobotDataset(root, episodes=job["source"], cameras=[])
        target = LeRobotDataset(root, episodes=job["target"], cameras=[])
        loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()  # normalising, the trajectories' digest, and pairing or reading the cache
        data = CoTrainData(source, target, n_eval_target=2, cache_dir=job["cache_dir"])
        seconds = time.perf_counter() - start
        return {
            "seconds": seconds,
            "loaded_kb": loaded,
            "cached": data.pairing_cached,
            "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }
    target, source = trajectories(root, job["target"]), trajectories(root, job["source"])
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if job["kind"] == "old":
        costs = old_pair_demos(target, source)[0]
    elif job["kind"] == "dtaidistance":
        from dtaidistance import dtw_ndim

        window = {}
        costs = []
        for t in target:
            row = []
            for s in source:
                if band is not None:  # its window counts the diagonal: window w + 1 is our band's w
                    window = {"window": int(np.ceil(band * max(len(t), len(s)))) + 1}
                row.append(
                    dtw_ndim.distance_fast(
                        t.astype(np.float64), s.astype(np.float64), inner_dist="euclidean", use_pruning=False, **window
                    )
                )
            costs.append(row)
        costs = np.array(costs)
    else:
        from actot.data.pairing import pair_demos

        costs = pair_demos(target, source, band=band).costs
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "loaded_kb": loaded,
        "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "costs": np.asarray(costs).tolist(),
    }


def run(job: dict) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_pairing", "--worker", json.dumps(job)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"worker {job['kind']} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the table
def row(name: str, pairs: str, result: dict, note: str = "") -> None:
    print(
        f"{name:<46} {pairs:>17} {result['seconds']:>9.2f} {result['loaded_kb'] / 2**20:>10.2f} "
        f"{result['peak_kb'] / 2**20:>8.2f}  {note}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(G1), help="the G1 dataset (LeRobot v2.1)")
    parser.add_argument("--old-targets", type=int, default=2, help="target demos the first version pairs (0: skip)")
    parser.add_argument("--all-vs-all", action="store_true", help="also pair all 100 episodes with all 100")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    from actot.data.pairing import DEFAULT_BAND

    root = Path(args.root)
    source, target = list(range(80)), list(range(80, 100))
    print(
        f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}, "
        f"python {platform.python_version()}; G1 {root}: source 0-79, target 80-99, 26+26-D, cameras=[]"
    )
    print(f"{'':<46} {'pairs':>17} {'seconds':>9} {'loaded GB':>10} {'peak GB':>8}")
    subset = target[: args.old_targets]
    results = {}
    if subset:
        n = len(subset)
        old = run({"kind": "old", "root": str(root), "target": subset, "source": source})
        row(
            "first version (4-D tensor, loop per cell)",
            f"{n} x 80 = {80 * n}",
            old,
            f"all 20 targets: ~{old['seconds'] * 20 / n:.0f} s (x{20 / n:g}); peak set by the longest target demo",
        )
        free = run({"kind": "new", "root": str(root), "target": subset, "source": source, "band": None})
        same = np.array_equal(np.array(free["costs"]), np.array(old["costs"]))
        row("ours, no band", f"{n} x 80 = {80 * n}", free, f"costs equal to the first version's: {same}")
        banded = run({"kind": "new", "root": str(root), "target": subset, "source": source, "band": DEFAULT_BAND})
        diff = np.mean(np.array(banded["costs"]) != np.array(free["costs"]))
        row(f"ours, band {DEFAULT_BAND}", f"{n} x 80 = {80 * n}", banded, f"costs differing from no band: {diff:.1%}")
        try:
            import dtaidistance

            dtai = run(
                {"kind": "dtaidistance", "root": str(root), "target": subset, "source": source, "band": DEFAULT_BAND}
            )
            rel = np.max(np.abs(np.array(dtai["costs"]) / np.array(banded["costs"]) - 1))
            row(
                f"dtaidistance {dtaidistance.__version__} (C), costs only",
                f"{n} x 80 = {80 * n}",
                dtai,
                f"max relative difference to ours: {rel:.1e}",
            )
        except ImportError:
            print("dtaidistance not installed: its row skipped")
    results["full"] = run({"kind": "new", "root": str(root), "target": target, "source": source, "band": DEFAULT_BAND})
    row(f"ours, band {DEFAULT_BAND}, costs + matches", "20 x 80 = 1600", results["full"])
    if args.all_vs_all:
        everything = source + target
        results["all"] = run(
            {"kind": "new", "root": str(root), "target": everything, "source": everything, "band": DEFAULT_BAND}
        )
        row(f"ours, band {DEFAULT_BAND}, all vs all", "100 x 100 = 10000", results["all"])
    with tempfile.TemporaryDirectory() as cache_dir:
        job = {"kind": "cotrain", "root": str(root), "target": target, "source": source, "cache_dir": cache_dir}
        first, second = run(job), run(job)
        row(
            "CoTrainData, first process (pairs, stores)", "18 x 80 = 1440", first, f"read from cache: {first['cached']}"
        )
        row("CoTrainData, second process (cache hit)", "18 x 80 = 1440", second, f"read from cache: {second['cached']}")


if __name__ == "__main__":
    main()
