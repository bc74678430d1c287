"""Training-step time of each OT embedding (ot.embedding: mean, tokens, keypoints), and of ACT alone under each pooling.

    python -m bench.bench_embedding                                      # act_small, 3 cameras of 64x64 (the sim)
    python -m bench.bench_embedding --policy act --height 96 --width 128 --steps 2   # LeRobot's ACT at 96x128

A step is what the trainer runs (`actot.train_step.train_step`: losses, backward, clip, AdamW) on one batch of
16 behaviour-cloning rows and 32 OT pairs, under the hard prior; "ACT alone" is the BC rows alone. Time is
the process's CPU time (`time.process_time`) on one thread (`--threads`): on a machine shared with other
jobs wall time measures the others' load (a load average of 9 on 2 cores made the same variant 2-5x slower
from one round to the next), CPU time far less. Variants are interleaved, three rounds, and each reports
its best round's median. Printed per variant: CPU s/step, its ratio to ACT alone with the same pooling, and
F, the size of one camera's embedding (the cost sums ||z_src - z_tgt||^2 over F numbers per camera).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from actot.config import TrainConfig, apply_overrides
from actot.policy import ACT, act_loss
from actot.profiling import no_lap
from actot.train_step import make_optimizer, train_step

# (name, policy.image_pooling, ot.embedding or None for ACT alone)
VARIANTS = (
    ("alone, map", "map", None),
    ("mean (map)", "map", "mean"),
    ("tokens (map)", "map", "tokens"),
    ("alone, keypoints", "keypoints", None),
    ("keypoints", "keypoints", "keypoints"),
)


def make_batch(n_ot: int, n_bc: int, cams: int, height: int, width: int, chunk: int, state: int = 14) -> dict:
    rows = 2 * n_ot + n_bc
    g = torch.Generator().manual_seed(0)
    return {
        "state": torch.randn(rows, state, generator=g),
        "action": torch.randn(rows, chunk, state, generator=g),
        "action_is_pad": torch.zeros(rows, chunk, dtype=torch.bool),
        "images": torch.randint(0, 256, (rows, cams, height, width, 3), dtype=torch.uint8, generator=g),
    }


def act_alone(model: ACT, batch: dict, cfg: TrainConfig, use_amp: bool = False, lap=no_lap):
    """The losses of ACT alone, `train_step`'s forward without OT: every row of `batch` through ACT, L1 + KL, L_ot 0."""
    actions, stats, _ = model(batch)
    loss, parts = act_loss(cfg.policy, actions, stats, batch)
    return loss, parts, 0.0, {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", default="act_small")
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--cameras", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n_ot, n_bc = 32, 16
    runs = {}
    for name, pooling, embedding in VARIANTS:
        cfg = apply_overrides(
            TrainConfig(),
            {
                "policy": args.policy,
                "policy.image_pooling": pooling,
                "batch_size": n_bc,
                "ot.batch_size": n_ot,
                "ot.embedding": embedding or "mean",
            },
        )
        torch.manual_seed(0)
        model = ACT(cfg.policy, 14, 14, args.cameras, embedding or "mean")
        optimizer = make_optimizer(model, cfg)  # the trainer's: AdamW, the backbone at its own rate
        runs[name] = (cfg, model, optimizer, embedding)
    batch = make_batch(n_ot, n_bc, args.cameras, args.height, args.width, runs["alone, map"][0].policy.chunk_size)
    bc_rows = {k: v[2 * n_ot :] for k, v in batch.items()}

    def step(name: str) -> None:
        cfg, model, optimizer, embedding = runs[name]
        if embedding is None:
            train_step(model, optimizer, bc_rows, cfg, losses=act_alone)
        else:
            train_step(model, optimizer, batch, cfg)

    def timed(name: str) -> float:
        times = []
        for _ in range(args.steps):
            start = time.process_time()
            step(name)
            times.append(time.process_time() - start)
        return float(np.median(times))

    for name in runs:
        step(name)  # warm-up every path
    best = {name: [] for name in runs}
    for _ in range(3):
        for name in runs:
            best[name].append(timed(name))
    load = os.getloadavg()[0]
    print(
        f"policy={args.policy} images {args.cameras}x{args.height}x{args.width}, BC rows {n_bc}, OT pairs {n_ot}, "
        f"threads {torch.get_num_threads()}, load average {load:.1f} on {os.cpu_count()} cores"
    )
    print(f"{'variant':>18} {'CPU s/step':>11} {'vs alone':>9} {'F per camera':>13}")
    for name, (cfg, model, _, embedding) in runs.items():
        alone = min(best["alone, keypoints" if cfg.policy.image_pooling == "keypoints" else "alone, map"])
        seconds = min(best[name])
        with torch.no_grad():
            width = model.ot_embeddings({k: v[:2] for k, v in batch.items()}).shape[-1] if embedding else "-"
        print(f"{name:>18} {seconds:>11.3f} {seconds / alone:>8.2f}x {width:>13}")


if __name__ == "__main__":
    main()
