"""`python -m actot.sim --out DIR`: write the embedded source and target LeRobot datasets."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from actot.errors import ActotError, run_cli
from actot.sim.generate import SimSpec, generate


def _main(argv=None) -> int:
    defaults = SimSpec()
    parser = argparse.ArgumentParser(prog="python -m actot.sim", description=__doc__)
    parser.add_argument("--out", required=True, type=Path, help="folder to write source/ and target/ into")
    parser.add_argument("--n-source", type=int, default=defaults.n_source, help="source (sim-style) demos")
    parser.add_argument("--n-target", type=int, default=defaults.n_target, help="target (real-style) demos")
    parser.add_argument("--shift", type=float, default=defaults.shift, help="strength of the target's visual shift")
    parser.add_argument("--size", type=int, default=defaults.size, help="rendered frame size in pixels")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    args = parser.parse_args(argv)
    if args.n_target > args.n_source:
        raise ActotError(f"--n-target {args.n_target} exceeds --n-source {args.n_source}: every target demo needs a source twin")
    if args.size % 2 or args.size < 16:
        raise ActotError(f"--size {args.size} must be even and at least 16 (H.264 needs even sizes)")
    start = time.time()
    spec = SimSpec(n_source=args.n_source, n_target=args.n_target, shift=args.shift, size=args.size, seed=args.seed)
    source, target = generate(args.out, spec)
    summary = json.loads((args.out / "actot_sim.json").read_text())
    print(f"source: {source}\ntarget: {target}\nexpert success: source {summary['success_rate_source']:.2f}, "
          f"target {summary['success_rate_target']:.2f}\ntook {time.time() - start:.1f}s")
    print(twin_report(source, target))
    return 0


def twin_report(source: Path, target: Path) -> str:
    """How often DTW over state/action picks each target demo's true source twin."""
    from actot.data.lerobot import LeRobotDataset
    from actot.data.pairing import twin_recovery_rate
    from actot.data.sampler import CoTrainData
    from actot.sim.generate import load_true_pairs

    data = CoTrainData(LeRobotDataset(source, cameras=[]), LeRobotDataset(target, cameras=[]), n_eval_target=0)
    pairs = load_true_pairs(target)
    rate = twin_recovery_rate(data.pairing, pairs)
    return (f"DTW picks the true source twin for {round(rate * len(pairs))}/{len(pairs)} target demos "
            f"(rate {rate:.2f}; chance {1 / len(data.src):.3f})")


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
