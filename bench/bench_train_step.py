"""Training-step time of ACT + OT vs ACT alone (co-training BC), at the seed log's shapes, in one run.

    python -m bench.bench_train_step                       # CPU: act preset at 96x128 (see --height)
    python -m bench.bench_train_step --height 480 --width 640   # the seed's camera size (GPU)

ACT alone runs the 16 behaviour-cloning rows (3 cameras) through the model, L1 + KL, backward,
clip and AdamW. ACT + OT runs the same BC rows plus the OT pairs (B_ot = 32 target frames and
their 32 source partners) through the image encoder, the cost, the plan and sum(pi * M), exactly
as the trainer does (`actot.train_step.train_step`, the step every variant takes here): once with the shipped hard prior (closed-form
plan) and once with the banded prior (the iterative solver to tol 1e-6). Then the same two with
`ot_rows=bc`: the OT pairs are 8 of the 16 BC rows' pairs (B_ot = 8, as many as the rows allow), so
their embeddings come from the BC pass and no extra row goes through the ResNet. The ratio is the
OT overhead per step against ACT alone, all variants interleaved in one run.

    python -m bench.bench_train_step --policy act_small --height 32 --width 32   # the sim's scale, CPU
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from actot.config import TrainConfig, apply_overrides
from actot.policy import ACT, act_loss
from actot.profiling import no_lap
from actot.train_step import make_optimizer, train_step


def make_batch(n_ot: int, n_bc: int, cams: int, height: int, width: int, chunk: int, device) -> dict:
    rows = 2 * n_ot + n_bc
    g = torch.Generator().manual_seed(0)
    batch = {
        "state": torch.randn(rows, 14, generator=g),
        "action": torch.randn(rows, chunk, 14, generator=g),
        "action_is_pad": torch.zeros(rows, chunk, dtype=torch.bool),
        "images": torch.randint(0, 256, (rows, cams, height, width, 3), dtype=torch.uint8, generator=g),
    }
    return {k: v.to(device) for k, v in batch.items()}


def act_alone(model: ACT, batch: dict, cfg: TrainConfig, use_amp: bool = False, lap=no_lap):
    """The losses of ACT alone, `train_step`'s forward without OT: every row of `batch` through ACT, L1 + KL, L_ot 0."""
    with torch.autocast(device_type=batch["state"].device.type, dtype=torch.bfloat16, enabled=use_amp):
        actions, stats, _ = model(batch)
        loss, parts = act_loss(cfg.policy, actions.float(), stats, batch)
    return loss, parts, 0.0, {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", default="act")
    parser.add_argument("--height", type=int, default=96)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; a sweep trial gets 1)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    n_ot, n_bc, cams = 32, 16, 3
    soft = {"ot.heuristic": "soft", "ot.reg": 0.05, "ot.tau": 1.0}
    in_bc = {"ot_rows": "bc", "ot.batch_size": n_bc // 2}
    cfgs = {
        name: apply_overrides(
            TrainConfig(), {"policy": args.policy, "batch_size": n_bc, "ot.batch_size": n_ot, **extra}
        )
        for name, extra in (("hard", {}), ("soft", soft), ("bc hard", in_bc), ("bc soft", {**soft, **in_bc}))
    }
    cfg = cfgs["hard"]
    model = ACT(cfg.policy, 14, 14, cams).to(device)
    optimizer = make_optimizer(model, cfg)  # the trainer's: AdamW, the backbone at its own rate
    batch = make_batch(n_ot, n_bc, cams, args.height, args.width, cfg.policy.chunk_size, device)
    bc_rows = {k: v[2 * n_ot :] for k, v in batch.items()}
    amp = device.type == "cuda"

    def step(variant: str) -> None:
        if variant == "alone":
            train_step(model, optimizer, bc_rows, cfg, amp, losses=act_alone)
        else:
            c = cfgs[variant]
            # ot_rows=bc: the step's rows are the BC rows alone, the OT pairs among them
            train_step(model, optimizer, bc_rows if c.ot_rows == "bc" else batch, c, amp)

    def timed(variant: str) -> float:
        times = []
        for _ in range(args.steps):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            step(variant)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return float(np.median(times))

    variants = ("alone", "hard", "soft", "bc hard", "bc soft")
    for v in variants:
        step(v)  # warm-up every path
    # Interleave the variants so that drifting clocks or load affect them alike.
    best = {v: [] for v in variants}
    for _ in range(3):
        for v in variants:
            best[v].append(timed(v))
    base = min(best["alone"])
    print(
        f"policy={args.policy} device={device} images {cams}x{args.height}x{args.width}, "
        f"BC rows {n_bc}, OT pairs {n_ot}, threads {torch.get_num_threads()}"
    )
    names = {
        "hard": f"+ OT hard, {n_ot} own pairs",
        "soft": f"+ OT soft, {n_ot} own pairs",
        "bc hard": f"+ OT hard, ot_rows=bc ({n_bc // 2} pairs)",
        "bc soft": f"+ OT soft, ot_rows=bc ({n_bc // 2} pairs)",
    }
    print(f"| ACT alone (s/step) | {' | '.join(names[v] + ' (s/step) | ratio' for v in variants[1:])} |")
    print("|---|" + "---|---|" * (len(variants) - 1))
    cells = " | ".join(f"{min(best[v]):.4f} | {min(best[v]) / base:.3f}x" for v in variants[1:])
    print(f"| {base:.4f} | {cells} |")


if __name__ == "__main__":
    main()
