"""Does OT act, and does it help? Several configs x several training seeds, side by side in one run.

    python bench/bench_ot_effect.py                                  # no OT vs the shipped default (R1)
    python bench/bench_ot_effect.py --seeds 5 --steps 400 --jobs 2 \\
        --config "no-OT:ot.lambda_ot=0" --config "R1:" --config "lambda0.5:ot.lambda_ot=0.5"
    python bench/bench_ot_effect.py --quick                          # a CI-sized smoke run

Each (config, seed) is one `python -m actot.train` run (W&B disabled) on the embedded sim; the
script prints, per config, the mean over seeds of the final `eval/success`, `eval/avg_l1` and
`ot_grad_ratio` (first and last measurement) with a 95% t-interval, and the seed-to-seed
standard deviation of success. A claim that A beats B needs their intervals apart.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq

DEFAULT_CONFIGS = ["no-OT:ot.lambda_ot=0", "R1-default:"]
# two-sided 95% Student t quantiles for n - 1 degrees of freedom
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def mean_ci(values: list[float]) -> tuple[float, float, float]:
    """(mean, half-width of the 95% t-interval, sample standard deviation)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, T95.get(n - 1, 1.96) * sd / math.sqrt(n), sd


def run_one(name: str, words: list[str], seed: int, args, out: Path) -> dict:
    run = f"{name}-s{seed}"
    cmd = [sys.executable, "-m", "actot.train", f"steps={args.steps}", f"log_every={args.log_every}",
           f"seed={seed}", f"rollout_episodes={args.rollouts}", "wandb.mode=disabled", f"out_dir={out}",
           f"name={run}", f"threads={args.threads}", *args.common, *words]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if done.returncode not in (0, 3):
        raise SystemExit(f"{run} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    rows = pq.read_table(out / run / "history.parquet").to_pylist()
    last = rows[-1]
    ratios = [r["ot_grad_ratio"] for r in rows if r.get("ot_grad_ratio") is not None]
    return {"config": name, "seed": seed, "success": last.get("eval/success"), "avg_l1": last.get("eval/avg_l1"),
            "ratio_first": ratios[0] if ratios else math.nan, "ratio_last": ratios[-1] if ratios else math.nan,
            "pi_sum": last.get("ot_pi_sum"), "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", help="NAME:key=value key=value ... (repeatable)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--rollouts", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--common", nargs="*", default=[], help="key=value words for every run")
    parser.add_argument("--out", default="runs/bench_ot_effect")
    parser.add_argument("--json", help="also write every run's numbers to this file")
    parser.add_argument("--quick", action="store_true", help="2 seeds x 30 steps x 10 rollouts (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.steps, args.log_every, args.rollouts = 2, 30, 15, 10
    configs = [c.split(":", 1) for c in (args.config or DEFAULT_CONFIGS)]
    out = Path(args.out)
    jobs = [(name, words.split(), seed) for name, words in configs for seed in range(args.seeds)]
    print(f"{len(jobs)} runs ({len(configs)} configs x {args.seeds} seeds), {args.steps} steps, "
          f"{args.rollouts} rollouts each, {args.jobs} at a time", flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda job: run_one(*job, args, out), jobs))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"\n{'config':16} {'success (95% CI)':>20} {'seed sd':>8} {'eval/avg_l1 (95% CI)':>22} "
          f"{'ot_grad_ratio first -> last':>28} {'pi_sum':>7}")
    for name, _ in configs:
        rows = [r for r in results if r["config"] == name]
        succ = mean_ci([r["success"] for r in rows]) if rows[0]["success"] is not None else (math.nan,) * 3
        l1 = mean_ci([r["avg_l1"] for r in rows])
        first = mean_ci([r["ratio_first"] for r in rows])[0]
        last = mean_ci([r["ratio_last"] for r in rows])[0]
        pi = mean_ci([r["pi_sum"] for r in rows])[0]
        print(f"{name:16} {succ[0]:>9.3f} ± {succ[1]:<8.3f} {succ[2]:>8.3f} {l1[0]:>11.4f} ± {l1[1]:<8.4f} "
              f"{first:>13.4f} -> {last:<12.4f} {pi:>7.3f}")
    print("\nper run: " + "; ".join(f"{r['config']}/s{r['seed']}: success {r['success']}, "
                                    f"{r['seconds']:.0f}s" for r in results))


if __name__ == "__main__":
    main()
