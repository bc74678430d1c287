"""Our batched log-domain unbalanced Sinkhorn vs a per-problem POT loop, side by side in one run.

    python bench/bench_sinkhorn.py            # CPU, and CUDA too when present

Both run the same number of iterations (POT with stopThr=0 so it does not stop early); the
GPU rows include copying the costs to the device and the plans back, as a training step
that had its costs on the CPU would. Prints one table: time per batch and the ratio POT / ours.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import ot
import torch

from actot.ot.sinkhorn import sinkhorn_unbalanced


def timeit(fn, repeat: int) -> float:
    fn()  # warm-up (allocations, CUDA context, kernels)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def pot_loop(costs: np.ndarray, reg: float, tau: float, iters: int) -> list:
    n, m = costs.shape[1:]
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    return [ot.unbalanced.sinkhorn_unbalanced(a, b, c, reg, tau, numItermax=iters, stopThr=0.0) for c in costs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reg", type=float, default=1.0)
    parser.add_argument("--tau", type=float, default=5.0)
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, POT {ot.__version__}, {torch.get_num_threads()} CPU threads, "
          f"{args.iters} iterations, reg={args.reg}, tau={args.tau}")
    print(f"{'device':6} {'size':>8} {'batch':>5} {'POT loop (ms)':>14} {'ours (ms)':>10} {'POT/ours':>9}  max |diff|")
    rng = np.random.default_rng(0)
    for device in devices:
        for size in (32, 256):
            for batch in (1, 64):
                costs = rng.random((batch, size, size)) * 2
                pot_s = timeit(lambda: pot_loop(costs, args.reg, args.tau, args.iters), args.repeat)
                host = torch.from_numpy(costs).float()

                def ours():
                    plan = sinkhorn_unbalanced(host.to(device), args.reg, args.tau, max_iters=args.iters, tol=None)
                    return plan.cpu()  # the copy back synchronises the device: the time is complete

                ours_s = timeit(ours, args.repeat)
                diff = float(np.abs(ours().double().numpy() - np.stack(pot_loop(costs, args.reg, args.tau, args.iters))).max())
                print(f"{device:6} {size:>4}x{size:<3} {batch:>5} {pot_s * 1e3:>14.2f} {ours_s * 1e3:>10.2f} "
                      f"{pot_s / ours_s:>8.1f}x  {diff:.1e}")


if __name__ == "__main__":
    main()
