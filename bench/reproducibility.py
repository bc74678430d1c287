"""Does a rerun rank the same? A pool of configs x seeds, at the training defaults and at the old 400-step settings.

    python -m bench.reproducibility run --out bench/data/repro_cpu.jsonl --configs 12 --seeds 6 --setting new --jobs 2
    python -m bench.reproducibility run --out bench/data/repro_cpu.jsonl --configs 12 --seeds 6 --setting old --jobs 2
    python -m bench.reproducibility analyse bench/data/repro_cpu.jsonl
    python -m bench.reproducibility run --quick --out /tmp/r.jsonl && python -m bench.reproducibility analyse /tmp/r.jsonl

The pool: co-training (`ot.lambda_ot=0`), the `ot_full` space's starting points, then random
draws of that space (seeded), the same list for both settings. Settings: `new` (the training
defaults: cosine schedule with warm-up, EMA weights, `--steps`) and `old` (400 steps, constant
learning rate, no EMA: the benchmark as the earlier sweeps ran it). One JSON line per finished
run (config, seed, setting, its whole history) is appended to --out; a second `run` skips what is
there, so a study cut short resumes, and the paired-search replay can read the histories.

`analyse` prints, per setting, on final `eval/success` (and `eval/avg_l1`):
- split-half Spearman: the configs' means over seeds 0-2 against their means over seeds 3-5
  (the goal: >= 0.8, i.e. a rerun with other seeds ranks the configs the same);
- ICC: the between-config share of the variance (one-way random effects, ICC(1));
- the seed SD within a config (pooled);
- 1-seed: the Spearman of the configs' values on one seed against another, averaged over seed pairs (what two
  reruns of a one-seed sweep agree on);
- the same-seed correlation: the Pearson correlation, across seeds, of two configs' values, averaged
  over config pairs (near 1: a seed is good or bad for every config; pairing configs on the same
  seeds then removes that shared part).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from bench.runs import TINY, final, read_rows, run_jobs, space_configs

SETTINGS = {"new": {}, "old": {"steps": 400, "lr_schedule": "constant", "ema_decay": 0.0}}


def pool(n: int) -> list[tuple[str, dict]]:
    """Co-training, then the ot_full space's starting points and random draws: n configs in all."""
    return [("cotrain", {"ot.lambda_ot": 0.0})] + space_configs("ot_full", n - 1, seed=0)


def run(args) -> None:
    common = {
        "rollout_episodes": args.rollouts,
        "threads": 1,
        "log_every": args.log_every,
        **SETTINGS[args.setting],
        **({"steps": args.steps} if args.setting == "new" else {}),
        **(TINY if args.quick else {}),
    }
    if args.quick:
        common["steps"] = 8 if args.setting == "new" else 4
    jobs = [
        {
            "id": f"{args.setting}/{name}/s{seed}",
            "group": args.setting,
            "name": name,
            "overrides": overrides,
            "seed": seed,
            "common": common,
            "out_dir": str(Path(args.runs_dir).resolve()),
        }
        for seed in range(args.seeds)
        for name, overrides in pool(args.configs)
    ]
    print(f"{args.setting}: {common.get('steps', 'default')} steps", flush=True)
    run_jobs(jobs, Path(args.out), args.jobs)


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic) if len(a) > 2 else math.nan


def icc1(table: np.ndarray) -> float:
    """ICC(1) of a (configs, seeds) table: between-config variance over between + within."""
    k = table.shape[1]
    means = table.mean(axis=1)
    ms_between = k * means.var(ddof=1)
    ms_within = ((table - means[:, None]) ** 2).sum() / (table.shape[0] * (k - 1))
    return float((ms_between - ms_within) / (ms_between + (k - 1) * ms_within))


def same_seed_correlation(table: np.ndarray) -> float:
    """Pearson correlation across seeds of two configs' values, averaged over config pairs (constant rows skipped)."""
    rows = [r for r in table if r.std() > 0]
    values = [float(np.corrcoef(a, b)[0, 1]) for i, a in enumerate(rows) for b in rows[i + 1 :]]
    return float(np.mean(values)) if values else math.nan


def summarise(rows: list[dict], key: str, max_seeds: int | None = None) -> dict | None:
    """The figures for one setting and metric, over the configs that have a value for every seed present (seeds
    below `max_seeds` only, when given: a pool still being filled, read on its first seeds)."""
    by: dict[str, dict[int, float]] = {}
    for row in rows:
        if max_seeds is not None and row["seed"] >= max_seeds:
            continue
        value = final(row, key)
        if row["status"] == "finished" and value is not None:
            by.setdefault(row["name"], {})[row["seed"]] = value
    seeds = sorted({s for values in by.values() for s in values})
    full = {name: values for name, values in by.items() if all(s in values for s in seeds)}
    if len(full) < 3 or len(seeds) < 2:
        return None
    table = np.array([[values[s] for s in seeds] for values in full.values()])
    half = len(seeds) // 2
    return {
        "configs": len(full),
        "seeds": len(seeds),
        "split_half": spearman(list(table[:, :half].mean(1)), list(table[:, half:].mean(1))) if half >= 1 else math.nan,
        "one_seed": float(
            np.nanmean(
                [
                    spearman(list(table[:, i]), list(table[:, j]))
                    for i in range(len(seeds))
                    for j in range(i + 1, len(seeds))
                ]
            )
        ),
        "icc": icc1(table),
        "seed_sd": float(np.sqrt(table.var(axis=1, ddof=1).mean())),
        "same_seed": same_seed_correlation(table),
        "mean": float(table.mean()),
    }


def analyse(args) -> None:
    import warnings

    warnings.simplefilter("ignore")  # a constant column (every run at 0 success) has no correlation: shown as nan
    rows = read_rows(args.file)
    print(
        f"reproducibility, {Path(args.file).name}: split-half Spearman of config means (first half of the seeds vs "
        f"the second), ICC(1), pooled seed SD within a config, same-seed correlation between configs"
    )
    print(
        f"{'setting':<8} {'metric':<14} {'configs':>7} {'seeds':>5} {'split-half':>10} {'1-seed':>6} {'ICC':>6} "
        f"{'seed SD':>8} {'same-seed r':>11} {'mean':>6} {'s/run':>6}"
    )
    for setting in SETTINGS:
        mine = [r for r in rows if r["group"] == setting]
        seconds = np.mean([r["seconds"] for r in mine]) if mine else math.nan
        for key in ("eval/success", "eval/avg_l1"):
            s = summarise(mine, key, args.max_seeds)
            if s is None:
                continue
            print(
                f"{setting:<8} {key:<14} {s['configs']:>7} {s['seeds']:>5} {s['split_half']:>10.2f} {s['one_seed']:>6.2f} "
                f"{s['icc']:>6.2f} "
                f"{s['seed_sd']:>8.3f} {s['same_seed']:>11.2f} {s['mean']:>6.3f} {seconds:>6.0f}"
            )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", required=True)
    r.add_argument("--setting", choices=sorted(SETTINGS), default="new")
    r.add_argument("--configs", type=int, default=12)
    r.add_argument("--seeds", type=int, default=6)
    r.add_argument("--steps", type=int, default=1500, help="steps of the new setting (the old one runs 400)")
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--rollouts", type=int, default=100)
    r.add_argument("--log-every", type=int, default=50)
    r.add_argument("--runs-dir", default="runs/reproducibility")
    r.add_argument("--quick", action="store_true", help="CI-sized: tiny model and data, a few steps")
    a = sub.add_parser("analyse")
    a.add_argument("file")
    a.add_argument("--max-seeds", type=int, default=None, help="read only seeds below this (a pool being filled)")
    args = parser.parse_args(argv)
    if args.command == "analyse":
        analyse(args)
        return 0
    if args.quick:
        args.configs, args.seeds, args.rollouts, args.log_every = min(args.configs, 3), min(args.seeds, 2), 4, 2
    started = time.perf_counter()
    run(args)
    print(f"done in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
