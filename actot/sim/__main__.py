"""`python -m actot.sim --out DIR`: write the embedded source and target LeRobot datasets."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from actot.errors import ActotError, run_cli
from actot.sim.config import SimConfig
from actot.sim.generate import generate
from actot.sim.task import REGIONS


def _main(argv=None) -> int:
    defaults = SimConfig()
    parser = argparse.ArgumentParser(prog="python -m actot.sim", description=__doc__)
    parser.add_argument(
        "--out",
        required=True,
        type=lambda text: Path(text).expanduser(),
        help="folder to write source/ and target/ into",
    )
    parser.add_argument("--n-source", type=int, default=defaults.n_source, help="source (sim-style) demos")
    parser.add_argument("--n-target", type=int, default=defaults.n_target, help="target (real-style) training demos")
    parser.add_argument("--n-eval", type=int, default=defaults.n_eval, help="held-out target demos (whole task)")
    parser.add_argument(
        "--target-region",
        choices=REGIONS,
        default=defaults.target_region,
        help="where the target training demos' goals lie",
    )
    parser.add_argument("--twins", action="store_true", help="target demos restart source demos' initial states")
    parser.add_argument("--shift", type=float, default=defaults.shift, help="strength of the target's visual shift")
    parser.add_argument("--size", type=int, default=defaults.size, help="rendered frame size in pixels")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    args = parser.parse_args(argv)
    if args.twins and args.n_target > args.n_source:
        raise ActotError(
            f"--n-target {args.n_target} exceeds --n-source {args.n_source}: with --twins every target demo needs a source twin"
        )
    if args.size % 2 or args.size < 16:
        raise ActotError(f"--size {args.size} must be even and at least 16")
    start = time.time()
    spec = SimConfig(
        n_source=args.n_source,
        n_target=args.n_target,
        n_eval=args.n_eval,
        target_region=args.target_region,
        twins=args.twins,
        shift=args.shift,
        size=args.size,
        seed=args.seed,
    )
    try:
        source, target = generate(args.out, spec)
    except ValueError as err:
        raise ActotError(f"python -m actot.sim: {err}") from err
    summary = json.loads((args.out / "actot_sim.json").read_text())
    print(
        f"source: {source}\ntarget: {target} ({spec.n_target} training demos with goals in {spec.target_region!r}, "
        f"then {spec.n_eval} held-out demos)\nexpert success: source {summary['success_rate_source']:.2f}, "
        f"target {summary['success_rate_target']:.2f}\ntook {time.time() - start:.1f}s"
    )
    print(pairing_report(source, target))
    return 0


def sim_pairing_quality(source: Path, target: Path, **pairing) -> dict[str, float]:
    """`pairing_quality` of the pairing `CoTrainData(..., **pairing)` makes, against the generator's ground
    truth: the layout ranks, and the goal gap (`goal_gap`, `goal_gap_best`) in success radii."""
    from actot.data.lerobot import LeRobotDataset
    from actot.data.pairing import pairing_quality
    from actot.data.sampler import CoTrainData
    from actot.sim.generate import load_ground_truth
    from actot.sim.task import SUCCESS_RADIUS, goal_distance, layout_distance

    truth = load_ground_truth(target)
    n_train = truth["n_train"]
    data = CoTrainData(
        LeRobotDataset(source, cameras=[]), LeRobotDataset(target, cameras=[]), n_eval_target=truth["n_eval"], **pairing
    )
    targets, sources = np.array(truth["target_initial_states"])[:n_train], np.array(truth["source_initial_states"])
    q = pairing_quality(
        data.pairing, layout_distance(targets, sources), goal_distance=goal_distance(targets, sources) / SUCCESS_RADIUS
    )
    return dict(q, n_target=n_train, n_source=len(data.src))


def pairing_report(source: Path, target: Path) -> str:
    """How well DTW pairing finds the source demos that the generator knows are similar: the default pairing
    ([state, action] alone) and the outcome-summary option (`data.pair_summary=[observation.state]`)."""
    from actot.data.pairing import OUTCOME_SUMMARY

    q = sim_pairing_quality(source, target, summary=[])
    outcome = sim_pairing_quality(source, target, summary=list(OUTCOME_SUMMARY))
    lines = [
        f"DTW pairing vs the generator's ground truth ({q['n_target']} training target demos, {q['n_source']} "
        f"source); the default ([state, action] alone), then with data.pair_summary={list(OUTCOME_SUMMARY)}:"
    ]
    lines += [
        f"  DTW's nearest is the truly nearest source demo: {q['top1']:.2f} / {outcome['top1']:.2f} "
        f"(chance {q['chance_top1']:.3f})",
        f"  DTW's nearest is among the {q['near']} truly nearest: {q['in_true_near']:.2f} / "
        f"{outcome['in_true_near']:.2f} (chance {q['chance_in_true_near']:.3f})",
        f"  true-rank percentile of the demos DTW may draw: {q['chosen_rank']:.3f} / {outcome['chosen_rank']:.3f} "
        "(chance ~0.5, best 0)",
        f"  the drawn source demo's mean layout distance: {q['drawn_distance']:.3f} / {outcome['drawn_distance']:.3f} "
        f"(always the truly nearest {q['drawn_distance_best']:.3f}); it is the truly nearest with probability "
        f"{q['true_nearest_mass']:.2f} / {outcome['true_nearest_mass']:.2f}",
        f"  goal gap (median over target demos of the drawn source demo's goal distance), in success radii: "
        f"{q['goal_gap']:.2f} / {outcome['goal_gap']:.2f} (a perfect pairing {q['goal_gap_best']:.2f}; the outcome "
        "summary's goal: at most 1)",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
