"""Training-step time of ACT + OT vs ACT alone, at the seed log's shapes, side by side in one run.

    python bench/bench_train_step.py                       # CPU: act preset at 96x128 (see --height)
    python bench/bench_train_step.py --height 480 --width 640   # the seed's camera size (GPU)

Both variants run the identical batch (B_ot = 32 target frames + their 32 partner source
frames + 8 + 8 behaviour-cloning frames, 3 cameras) through the same model, optimiser and
backward pass; ACT + OT adds the cost matrix, the unbalanced Sinkhorn and sum(pi * M). The
ratio is the OT overhead per step.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from actot.ot.loss import OTSettings, ot_loss
from actot.policy import ACT, act_loss, preset


def make_batch(n_ot: int, n_bc: int, cams: int, height: int, width: int, chunk: int, device) -> dict:
    rows = 2 * n_ot + 2 * n_bc
    g = torch.Generator().manual_seed(0)
    batch = {"state": torch.randn(rows, 14, generator=g), "action": torch.randn(rows, chunk, 14, generator=g),
             "action_is_pad": torch.zeros(rows, chunk, dtype=torch.bool),
             "images": torch.randint(0, 256, (rows, cams, height, width, 3), dtype=torch.uint8, generator=g)}
    batch["label"] = torch.cat([batch["state"], batch["action"][:, 0]], 1)
    return {k: v.to(device) for k, v in batch.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", default="act")
    parser.add_argument("--height", type=int, default=96)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    cfg = preset(args.policy)
    n_ot, n_bc, cams = 32, 8, 3
    model = ACT(cfg, 14, 14, cams).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batch = make_batch(n_ot, n_bc, cams, args.height, args.width, cfg.chunk_size, device)
    settings = OTSettings(reg=1.0, tau=(5.0, 5.0), heuristic="soft", weight_label=0.1)
    amp = device.type == "cuda"

    def step(with_ot: bool) -> None:
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            actions, stats, emb = model(batch)
            loss, _ = act_loss(cfg, actions.float(), stats, batch)
        if with_ot:
            emb = emb.float()
            l_ot, _ = ot_loss(settings, emb[:n_ot], emb[n_ot:2 * n_ot], batch["label"][:n_ot],
                              batch["label"][n_ot:2 * n_ot], batch["state"][:n_ot], batch["state"][n_ot:2 * n_ot])
            loss = loss + 0.1 * l_ot
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)
        optimizer.step()

    def timed(with_ot: bool) -> float:
        times = []
        for _ in range(args.steps):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            step(with_ot)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return float(np.median(times))

    step(True), step(False)  # warm-up both paths
    # Interleave the two variants so that drifting clocks or load affect both alike.
    act_alone, act_ot = [], []
    for _ in range(3):
        act_alone.append(timed(False))
        act_ot.append(timed(True))
    base, with_ot = min(act_alone), min(act_ot)
    print(f"policy={args.policy} device={device} images {cams}x{args.height}x{args.width}, "
          f"rows {2 * n_ot + 2 * n_bc} (B_ot {n_ot}), threads {torch.get_num_threads()}")
    print(f"{'ACT alone (s/step)':>20} {'ACT + OT (s/step)':>18} {'ratio':>7}")
    print(f"{base:>20.4f} {with_ot:>18.4f} {with_ot / base:>6.3f}x")


if __name__ == "__main__":
    main()
