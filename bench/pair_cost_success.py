"""Does the length-normalised DTW cost (data.pair_cost=mean) change what OT training achieves? Success over paired
training seeds, against today's summed cost (issue 31, deliverable 1).

    python -m bench.pair_cost_success run --out bench/data/pair_cost.jsonl --jobs 2
    python -m bench.pair_cost_success analyse bench/data/pair_cost.jsonl
    python -m bench.pair_cost_success run --quick --out /tmp/p.jsonl && python -m bench.pair_cost_success analyse /tmp/p.jsonl

bench/pairing_scale.py measures the pairs themselves (how near a drawn partner is); this trains on them. Two arms at
today's training defaults with the default OT loss (`ot.lambda_ot` 0.1, 1,500 steps, EMA, 100 closed-loop episodes):
`sum` (`data.pair_cost=sum`, the default) and `mean` (`data.pair_cost=mean`), on the same training seeds, so each
seed gives one paired difference (mean - sum) of closed-loop success: overall, on the covered half and on the
uncovered half (the goals no target demo reaches, where pairing is meant to help). The pre-registration is in
bench/RESULTS.md (session 10).
"""

from __future__ import annotations

from pathlib import Path

from bench.runs import final, mean_ci, read_rows, run_jobs, study_common, study_job, study_main, study_parser
from bench.tables import text_table

ARMS = {"sum": {"data.pair_cost": "sum"}, "mean": {"data.pair_cost": "mean"}}
SHOWN = ("eval/success", "eval/success_covered", "eval/success_uncovered", "ot_true_pair_mass", "eval/avg_l1")


def jobs_for(args) -> list[dict]:
    common = study_common(args)
    return [
        study_job(args, common, "pair_cost", arm, overrides, seed)
        for seed in range(args.seeds)
        for arm, overrides in ARMS.items()
    ]


def analyse(args) -> None:
    rows = [r for r in read_rows(args.file) if r["status"] == "finished"]
    by = {(r["name"], r["seed"]): r for r in rows}
    seeds = sorted(s for (arm, s) in by if arm == "sum" and ("mean", s) in by)
    print(f"{args.file}: {len(rows)} finished runs; seeds with both arms: {seeds}")
    table = []
    for key in SHOWN:
        values = {arm: [final(by[(arm, s)], key) for s in seeds] for arm in ARMS}
        if not seeds or any(v is None for vs in values.values() for v in vs):
            continue
        diffs = [m - s for m, s in zip(values["mean"], values["sum"])]
        d_mean, half, _ = mean_ci(diffs)
        table.append(
            [
                key,
                *(f"{mean_ci(values[arm])[0]:.3f}" for arm in ARMS),
                f"{d_mean:+.3f}",
                f"[{d_mean - half:+.3f}, {d_mean + half:+.3f}]" if half == half else "-",
                " ".join(f"{d:+.2f}" for d in diffs),
            ]
        )
    print(text_table(["metric", "sum (mean over seeds)", "mean", "mean - sum", "95% t interval", "per seed"], table))


def run(args) -> None:
    if args.quick:
        args.seeds, args.rollouts = 2, 4
    run_jobs(jobs_for(args), Path(args.out), args.jobs)


def main(argv=None) -> int:
    parser, _, _ = study_parser(__doc__, runs_dir="runs/pair_cost", seeds=5)
    return study_main(parser, argv, run, analyse)


if __name__ == "__main__":
    raise SystemExit(main())
