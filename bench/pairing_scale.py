"""The pairing weights' scale (data.pair_scale) and the DTW cost's kind (data.pair_cost), measured.

    python -m bench.pairing_scale            # the three embedded sims of docs/data.md, then G1
    python -m bench.pairing_scale --no-g1    # the sims only (G1's DTW takes ~1 min on 2 cores)

On the embedded sim the generator knows which demos are alike (`layout_distance`: [robot start, goal]),
so each pairing (absolute or nearest scale, summed or path-mean cost) is scored against it with
`pairing_quality`: DTW's nearest is the truly nearest (top1) or among the 5 truly nearest, the mean true
distance of the source demo the sampler draws and the probability it draws the truly nearest, and the
goal gap in success radii. Every pairing goes through `CoTrainData` (the real reader, normalisation and
cache code, in a fresh cache folder). On G1 (LeRobot v2.1, state-only) nothing is known to be alike: it
prints each pairing's health line (`actot.data.pairing.health_lines`) and how much the cost follows the
source demo's length (Spearman over all pairs). What no row measures: success of policies trained on
these pairs (paired training seeds), which this bench does not run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

G1 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "g1_pick_bottle_v21"
RULES = [("absolute", "sum"), ("nearest", "sum"), ("absolute", "mean"), ("nearest", "mean")]
SIMS = [(0, 10), (1, 30), (2, 30)]  # (seed, training target demos): the sims of docs/data.md's table


def quiet(make):
    """`make()` with its progress lines kept, returned beside its value."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        value = make()
    return value, out.getvalue()


def sims(cache_dir: str) -> None:
    from actot.data import LeRobotDataset
    from actot.data.pairing import pairing_health, pairing_quality
    from actot.data.sampler import CoTrainData
    from actot.sim import SimConfig
    from actot.sim.generate import ensure_sim, load_ground_truth
    from actot.sim.task import SUCCESS_RADIUS, goal_distance, layout_distance

    print(
        f"{'sim':<16} {'scale':<9} {'cost':<5} {'top1':>5} {'in 5':>5} {'drawn dist':>10} {'best':>6} "
        f"{'p(true nn)':>10} {'goal gap':>8} {'eff':>5} {'distinct':>8} {'top share':>9}"
    )
    for seed, n_target in SIMS:
        source, target = ensure_sim(SimConfig(seed=seed, n_target=n_target))
        truth = load_ground_truth(target)
        n = truth["n_train"]
        targets, sources = np.array(truth["target_initial_states"])[:n], np.array(truth["source_initial_states"])
        for scale, cost in RULES:
            data, _ = quiet(
                lambda: CoTrainData(
                    LeRobotDataset(source, cameras=[], cache_dir=cache_dir),
                    LeRobotDataset(target, cameras=[], cache_dir=cache_dir),
                    n_eval_target=truth["n_eval"],
                    cache_dir=cache_dir,
                    scale=scale,
                    cost=cost,
                )
            )
            q = pairing_quality(
                data.pairing,
                layout_distance(targets, sources),
                goal_distance=goal_distance(targets, sources) / SUCCESS_RADIUS,
            )
            h = pairing_health(data.pairing)
            print(
                f"seed {seed}, {n:>2} tgt  {scale:<9} {cost:<5} {q['top1']:>5.2f} {q['in_true_near']:>5.2f} "
                f"{q['drawn_distance']:>10.3f} {q['drawn_distance_best']:>6.3f} {q['true_nearest_mass']:>10.3f} "
                f"{q['goal_gap']:>8.2f} {h['effective_median']:>5.2f} {h['distinct']:>8} {h['top_share']:>9.0%}",
                flush=True,
            )


def g1(cache_dir: str) -> None:
    from actot.data import LeRobotDataset
    from actot.data.sampler import CoTrainData

    for sources in (list(range(80)), list(range(40))):
        targets = list(range(80, 100))
        print(
            f"G1 source episodes {sources[0]}-{sources[-1]}, target {targets[0]}-{targets[-1]} (2 held out), "
            "cameras=[]:"
        )
        costs = {}
        for scale, cost in RULES:
            data, said = quiet(
                lambda: CoTrainData(
                    LeRobotDataset(G1, episodes=sources, cameras=[], cache_dir=cache_dir),
                    LeRobotDataset(G1, episodes=targets, cameras=[], cache_dir=cache_dir),
                    n_eval_target=2,
                    cache_dir=cache_dir,
                    scale=scale,
                    cost=cost,
                )
            )
            print("\n".join(f"  {line}" for line in said.splitlines() if not line.startswith("pairing: DTW")))
            costs[cost] = data.pairing.costs
            lengths = np.array([len(e["state"]) for e in data.src])
        for cost, c in costs.items():
            nearest = c.argmin(1)
            rho = spearmanr(c.ravel(), np.tile(lengths, len(c))).correlation
            print(
                f"  cost={cost}: Spearman of the cost with the source demo's length {rho:.2f}; the nearest source "
                f"demos' median length {np.median(lengths[nearest]):.0f} frames (all source demos: "
                f"{np.median(lengths):.0f}); second-nearest over nearest cost, median "
                f"{np.median(np.sort(c, 1)[:, 1] / np.sort(c, 1)[:, 0]):.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-g1", action="store_true", help="skip the G1 rows")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache_dir:
        sims(cache_dir)
        if not args.no_g1 and G1.exists():
            g1(cache_dir)


if __name__ == "__main__":
    main()
