"""Our batched log-domain unbalanced Sinkhorn vs a per-problem POT loop, side by side in one run.

    python -m bench.bench_sinkhorn            # CPU, and CUDA too when present
    python -m bench.bench_sinkhorn --convergence   # iterations to converge, ours vs POT

Speed: both run the same number of iterations (POT with stopThr=0 so it does not stop early).
Convergence: iterations each needs to reach its tolerance on (reg, tau) pairs down to
reg / tau = 1e-3, ours with and without the translation step and POT (checks every 10), and
the distance of our plan (default tol 1e-6) from POT's converged plan.

The GPU rows include copying the costs to the device and the plans back, as a training step
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


def convergence(device: str) -> None:
    print(f"\nconvergence on {device} (float64, costs uniform in [0, 2], soft prior off):")
    print(
        f"{'size':>8} {'reg':>6} {'tau':>5} {'ours':>6} {'ours, no translation':>21} {'POT':>7} "
        f"{'ours (ms)':>10} {'max |ours - POT converged|':>27}"
    )
    rng = np.random.default_rng(0)
    for size in (32, 256):
        cost = rng.random((size, size)) * 2
        a = np.full(size, 1.0 / size)
        for reg, tau in [(1.0, 5.0), (0.05, 5.0), (0.01, 1.0), (0.01, 10.0), (0.001, 1.0)]:
            M = torch.from_numpy(cost).to(device)
            start = time.perf_counter()
            plan, info = sinkhorn_unbalanced(M, reg, tau, max_iters=100000, tol=1e-6, check_every=10, return_info=True)
            ms = (time.perf_counter() - start) * 1e3
            _, plain = sinkhorn_unbalanced(
                M, reg, tau, max_iters=100000, tol=1e-6, check_every=10, translate=False, return_info=True
            )
            ref, log = ot.unbalanced.sinkhorn_unbalanced(
                a, a, cost, reg, tau, numItermax=200000, stopThr=1e-12, log=True
            )
            _, pot_log = ot.unbalanced.sinkhorn_unbalanced(
                a, a, cost, reg, tau, numItermax=200000, stopThr=1e-6, log=True
            )
            diff = float(np.abs(plan.cpu().numpy() - ref).max())
            print(
                f"{size:>4}x{size:<3} {reg:>6g} {tau:>5g} {info.iterations:>6} {plain.iterations:>21} "
                f"{len(pot_log['err']):>7} {ms:>10.1f} {diff:>27.1e}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reg", type=float, default=1.0)
    parser.add_argument("--tau", type=float, default=5.0)
    parser.add_argument("--convergence", action="store_true", help="print the convergence table instead")
    args = parser.parse_args()
    if args.convergence:
        for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
            convergence(device)
        return
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(
        f"torch {torch.__version__}, POT {ot.__version__}, {torch.get_num_threads()} CPU threads, "
        f"{args.iters} iterations, reg={args.reg}, tau={args.tau}"
    )
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
                diff = float(
                    np.abs(ours().double().numpy() - np.stack(pot_loop(costs, args.reg, args.tau, args.iters))).max()
                )
                print(
                    f"{device:6} {size:>4}x{size:<3} {batch:>5} {pot_s * 1e3:>14.2f} {ours_s * 1e3:>10.2f} "
                    f"{pot_s / ours_s:>8.1f}x  {diff:.1e}"
                )


if __name__ == "__main__":
    main()
