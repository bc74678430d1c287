"""Where a default-sweep trial's time goes on a CPU core: the step, the EMA, the periodic evaluations, OT.

    python -m bench.trial_cost [--steps 300] [--threads 1]

Trains the default benchmark's first `ot_reg` starting point for --steps steps once per variant,
in one process (data cached after the first), rollouts off, and prints seconds per step side by
side with their ratio to the default: the default; without the EMA (`ema_decay=0`); without the
periodic held-out evaluation (`log_every=steps`); with a quarter of the evaluation frames
(`eval_frames=64`); without the OT loss (`ot.lambda_ot=0`, the plan still solved for its metrics).
"""

from __future__ import annotations

import argparse
import tempfile
import time

VARIANTS = {
    "default": {},
    "no EMA": {"ema_decay": 0.0},
    "no periodic eval": {"log_every": None},
    "eval_frames=64": {"eval_frames": 64},
    "lambda_ot=0": {"ot.lambda_ot": 0.0},
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch

    from actot.config import TrainConfig, apply_overrides
    from actot.sweep.config import load_sweep
    from actot.sweep.space import load_space
    from actot.run_data import load_data
    from actot.train import train

    torch.set_num_threads(args.threads)
    space = load_space("ot_reg")
    sweep_train = load_sweep("local")[0].train
    base = {
        **space.fixed,
        **space.to_overrides(space.starting_points[0]),
        **sweep_train,
        "steps": args.steps,
        "rollout_episodes": 0,
        "wandb.mode": "disabled",
        "threads": args.threads,
    }
    out = tempfile.mkdtemp(prefix="trial_cost")
    load_data(apply_overrides(TrainConfig(), base))  # generate/load once, outside the timings
    rows = []
    for name, change in VARIANTS.items():
        change = {k: (args.steps if v is None else v) for k, v in change.items()}
        cfg = apply_overrides(TrainConfig(), {**base, **change, "out_dir": out, "name": name.replace(" ", "_")})
        start = time.perf_counter()
        train(cfg, progress=False)
        rows.append((name, (time.perf_counter() - start) / args.steps))
        print(f"{name}: {rows[-1][1]:.4f} s/step", flush=True)
    default = rows[0][1]
    print(f"\n| variant ({args.steps} steps, {args.threads} thread(s)) | s/step | vs default |\n|---|---|---|")
    for name, per_step in rows:
        print(f"| {name} | {per_step:.4f} | {per_step / default:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
