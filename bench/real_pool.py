"""A multi-seed pool on real LeRobot data, ranked as a real-data sweep ranks (the held-out `eval/avg_l1`), for the
selection calibration's replays on real data (`bench.selection_calibration`, pool `g1-l1`; issue 29).

    python -m bench.real_pool run --out bench/data/real_pool_cpu.jsonl --jobs 2
    python -m bench.real_pool analyse bench/data/real_pool_cpu.jsonl
    python -m bench.real_pool run --quick --out /tmp/g.jsonl && python -m bench.real_pool analyse /tmp/g.jsonl

The pool is the reproducibility study's (co-training, the `ot_full` space's starting points, then seeded random
draws of it: `bench.reproducibility.pool`) trained on the G1 dataset of ../shared/datasets (Unitree G1 picking a
bottle, LeRobot v2.1, 26-D state and action; state only, since 96 of its 100 episodes have no video): episodes 0-59
are the source domain, 60-99 the target, of which the product's default holds out the last tenth (4 episodes) for
`eval/avg_l1`. Every config runs on the same seeds, at the sweep's training settings (sweeps/local.yaml: 1500 steps,
a log every 100) with the small ACT (`policy=act_small`: the full one is too slow for a pool on a CPU).

`analyse` prints the pool's own figures (bench.reproducibility's: split-half Spearman, ICC, seed SD, same-seed
correlation) on `eval/avg_l1`, then each OT config's paired difference from co-training over all seeds and over each
half of them, and whether the configs' order repeats from one half to the other.
"""

from __future__ import annotations

from pathlib import Path

from bench.reproducibility import pool, spearman, summarise
from bench.runs import TINY, final, read_rows, run_jobs, study_common, study_job, study_main, study_parser

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "g1_pick_bottle_v21"
GROUP = "g1"
METRIC = "eval/avg_l1"


def data_overrides(root: Path, quick: bool) -> dict:
    """The source and target split of the G1 dataset (a few episodes each with --quick)."""
    source, target = ("0-3", "[60-63]") if quick else ("0-59", "[60-99]")
    return {
        "data.source": str(root),
        "data.source_episodes": source,
        "data.target": str(root),
        "data.target_episodes": target,
        "data.cameras": [],
        "policy": "act_small",
    }


def run(args) -> None:
    common = study_common(args, **data_overrides(Path(args.data), args.quick), rollout_episodes=0)
    if args.quick:
        common = {k: v for k, v in common.items() if not k.startswith("data.sim.") and k != "data.resolution"}
        common.update({k: v for k, v in TINY.items() if k.startswith("policy.")})
    configs = pool(min(args.configs, 3) if args.quick else args.configs)
    seeds = min(args.seeds, 2) if args.quick else args.seeds
    jobs = [
        study_job(args, common, GROUP, name, overrides, seed) for seed in range(seeds) for name, overrides in configs
    ]
    print(f"{len(configs)} configs x {seeds} seeds on {args.data}, {common['steps']} steps", flush=True)
    run_jobs(jobs, Path(args.out), args.jobs, shown=METRIC)


def analyse(args) -> None:
    rows = read_rows(args.file)
    s = summarise([r for r in rows if r["group"] == GROUP], METRIC)
    print(f"real pool, {Path(args.file).name}: {METRIC} (lower is better) over configs x seeds")
    if s is None:
        print("fewer than 3 configs with every seed, or fewer than 2 seeds: nothing to summarise yet")
        return
    print(
        f"{'configs':>7} {'seeds':>5} {'split-half':>10} {'1-seed':>6} {'ICC':>6} {'seed SD':>8} {'same-seed r':>11} {'mean':>6}"
    )
    print(
        f"{s['configs']:>7} {s['seeds']:>5} {s['split_half']:>10.2f} {s['one_seed']:>6.2f} {s['icc']:>6.2f} "
        f"{s['seed_sd']:>8.3f} {s['same_seed']:>11.2f} {s['mean']:>6.3f}"
    )
    print_paired_halves(rows)


def print_paired_halves(rows: list[dict]) -> None:
    """Each OT config's mean paired difference from co-training (positive: a higher L1, worse), over all seeds and
    over each half of them, and whether the configs' order repeats from one half to the other (Spearman)."""
    by: dict[str, dict[int, float]] = {}
    for row in rows:
        value = final(row, METRIC)
        if row["group"] == GROUP and row["status"] == "finished" and value is not None:
            by.setdefault(row["name"], {})[row["seed"]] = value
    base = by.pop("cotrain", {})
    seeds = sorted(set(base).intersection(*by.values())) if by else []
    if len(seeds) < 4:
        return
    first, second = seeds[: len(seeds) // 2], seeds[len(seeds) // 2 :]
    diff = {name: {s: values[s] - base[s] for s in seeds} for name, values in by.items()}
    mean = {
        name: {part: sum(d[s] for s in part) / len(part) for part in (tuple(seeds), tuple(first), tuple(second))}
        for name, d in diff.items()
    }
    everyone = set(base).union(*by.values())
    dropped = (
        f" ({len(everyone) - len(seeds)} left out: not finished by every config)" if len(everyone) > len(seeds) else ""
    )
    print(
        f"\npaired difference from co-training ({METRIC}) on {len(seeds)} seeds{dropped}, halves: seeds "
        f"{seed_span(first)} and {seed_span(second)}:"
    )
    print(f"{'config':<20} {'all':>8} {'1st half':>8} {'2nd half':>8}")
    for name in sorted(mean, key=lambda n: mean[n][tuple(seeds)]):
        m = mean[name]
        print(f"{name:<20} {m[tuple(seeds)]:>+8.4f} {m[tuple(first)]:>+8.4f} {m[tuple(second)]:>+8.4f}")
    if len(mean) >= 3:  # the order of two configs says little
        rho = spearman([m[tuple(first)] for m in mean.values()], [m[tuple(second)] for m in mean.values()])
        print(f"the {len(mean)} configs' order, 1st half against 2nd: Spearman {rho:.2f}")


def seed_span(seeds: list[int]) -> str:
    """'8-15' for a run of consecutive seeds, else the list."""
    if seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def main(argv=None) -> int:
    parser, run_args, _ = study_parser(__doc__, runs_dir="runs/real_pool", seeds=8, steps=1500, log_every=100)
    run_args.add_argument("--configs", type=int, default=12)
    run_args.add_argument("--data", default=str(DATA), help="the G1 dataset's folder")
    return study_main(parser, argv, run, analyse)


if __name__ == "__main__":
    raise SystemExit(main())
