"""How many steps does co-training need to converge on the embedded benchmark, at the training defaults?

    python -m bench.convergence run --out bench/data/convergence_cpu.jsonl --steps 600,1000,1500 --seeds 5 --jobs 2
    python -m bench.convergence analyse bench/data/convergence_cpu.jsonl
    python -m bench.convergence run --quick --out /tmp/c.jsonl && python -m bench.convergence analyse /tmp/c.jsonl

Co-training (`ot.lambda_ot=0`, everything else at the defaults: cosine schedule with warm-up, EMA
weights for evaluation) trained for each step budget with each seed; each budget is its own run,
since the cosine schedule is laid out over `steps`. One JSON line per finished run is appended to
--out (a second `run` skips what is there). `analyse` prints, per budget, covered-half success of
every seed (the goal: >= 0.9 on each of 5 seeds), overall, uncovered and source success, and the
wall-clock seconds per run on this machine.
"""

from __future__ import annotations

from pathlib import Path

from bench.runs import TINY, final, mean_ci, read_rows, run_jobs, study_main, study_parser

GOAL = 0.9


def run(args) -> None:
    from actot.config import parse_value

    extra = {
        "rollout_episodes": args.rollouts,
        "threads": 1,
        "log_every": args.log_every,
        **{k: parse_value(v) for k, v in (pair.split("=", 1) for pair in args.set or [])},
    }
    jobs = [
        {
            "id": f"cotrain/steps={steps}/s{seed}",
            "group": "cotrain",
            "name": f"steps={steps}",
            "overrides": {"ot.lambda_ot": 0.0, "steps": steps},
            "seed": seed,
            "common": extra,
            "out_dir": str(Path(args.runs_dir).resolve()),
        }
        for steps in (int(s) for s in args.steps.split(","))
        for seed in range(args.seeds)
    ]
    run_jobs(jobs, Path(args.out), args.jobs, shown="eval/success_covered")


def analyse(args) -> None:
    rows = read_rows(args.file)
    by: dict[int, list[dict]] = {}
    for row in rows:
        if row["status"] == "finished" and final(row) is not None:
            by.setdefault(int(row["overrides"]["steps"]), []).append(row)
    print(
        f"co-training at the defaults, {Path(args.file).name}: success at the last step (100 fixed episodes), "
        f"mean [95% t-interval]"
    )
    print(
        f"{'steps':>6} {'n':>3}  {'covered per seed':<32} {'all >= 0.9':<10} {'success':<20} {'uncovered':<20} "
        f"{'source':<20} {'s/run':>6}"
    )
    for steps in sorted(by):
        runs = sorted(by[steps], key=lambda r: r["seed"])
        covered = [final(r, "eval/success_covered") for r in runs]

        def show(key):
            values = [final(r, key) for r in runs if final(r, key) is not None]
            if not values:
                return "-"
            mean, half, _ = mean_ci(values)
            return f"{mean:.3f}" + (f" [{mean - half:.2f}, {mean + half:.2f}]" if half == half else "")

        per_seed = " ".join(f"{c:.2f}" for c in covered)
        seconds = sum(r["seconds"] for r in runs) / len(runs)
        print(
            f"{steps:>6} {len(runs):>3}  {per_seed:<32} {str(min(covered) >= GOAL):<10} {show('eval/success'):<20} "
            f"{show('eval/success_uncovered'):<20} {show('eval/success_source'):<20} {seconds:>6.0f}"
        )


def run_study(args) -> None:
    if args.quick:
        args.steps, args.seeds, args.rollouts, args.log_every = "6,12", 2, 4, 3
        args.set = (args.set or []) + [f"{k}={v}" for k, v in TINY.items()]
    run(args)


def main(argv=None) -> int:
    parser, run_args, _ = study_parser(
        __doc__,
        runs_dir="runs/convergence",
        seeds=5,
        steps=None,
        log_every=50,
        quick_help="a CI-sized run: tiny model, 2 budgets of a few steps, 2 seeds",
    )
    run_args.add_argument("--steps", default="600,1000,1500", help="comma-separated step budgets")
    run_args.add_argument(
        "--set", action="append", help="another training key=value for every run (e.g. lr_schedule=constant)"
    )
    return study_main(parser, argv, run_study, analyse)


if __name__ == "__main__":
    raise SystemExit(main())
