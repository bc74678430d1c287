"""Which offline metric ranks configs as closed-loop success does? The study behind a real-data sweep's ranking.

    python -m bench.offline_study run --out bench/data/offline_cpu.jsonl --setting default --jobs 2
    python -m bench.offline_study analyse bench/data/offline_cpu.jsonl --setting default
    python -m bench.offline_study run --out bench/data/offline_cpu.jsonl --setting lower_left --jobs 2   # after the choice
    python -m bench.offline_study run --quick --out /tmp/o.jsonl && python -m bench.offline_study analyse /tmp/o.jsonl

On a lab's own data a sweep can only rank by an offline metric (actot/metrics.py OFFLINE_CANDIDATES).
The benchmark has what the lab lacks, a simulator of the target domain, so it can measure how well
each candidate's order of configs agrees with the order of closed-loop success.

The pool, at today's training defaults (1,500 steps, cosine, EMA, unit-length OT embeddings,
state-only pairing): co-training (`ot.lambda_ot=0`), target-only BC (`bc_src_weight=0`), and 12 OT
configs drawn from the shipped spaces (the first starting point, then 3 seeded random draws, of
`ot_reg`, `ot_full` and `lambda`), every config on the same --seeds training seeds. Held-out data as a
lab has it (`data.sim.eval_split=covered`: eval/avg_l1 on held-out target demos where the target demos
were collected; the uncovered ones are logged apart) and 8 held-out source demos (eval/source_l1).
Settings: `default` (the default benchmark) and `lower_left` (the target demos cover a quarter of the
goals instead of a half: another covered region and a larger uncovered part). The metric is chosen on
`default` and checked on `lower_left`, which runs after the choice is written in bench/RESULTS.md.

One JSON line per finished run is appended to --out (a study cut short resumes; seeds run in order, so a
partial pool is balanced). `analyse` prints, per candidate: the config-level Spearman of config means
(metric against success, overall and on the uncovered half; negative is right for a lower-is-better
metric) with a 95% bootstrap interval over configs, the success of the metric's top pick against the
pool's best, for the whole pool and for OT configs alone; and whether it passes the issue's bar
(Spearman <= -0.6 on overall success with the interval clear of 0, the top pick within 0.05 of the best).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from actot.metrics import OFFLINE_CANDIDATES, direction
from bench.runs import final, read_rows, run_jobs, space_configs, study_common, study_job, study_main, study_parser
from bench.tables import text_table

LAB_DATA = {"data.sim.eval_split": "covered", "data.sim.n_eval_source": 8}
SETTINGS = {"default": dict(LAB_DATA), "lower_left": {**LAB_DATA, "data.sim.target_region": "lower_left"}}
BASELINES = [("cotrain", {"ot.lambda_ot": 0.0}), ("target-BC", {"bc_src_weight": 0.0, "ot.lambda_ot": 0.0})]
SPACES = ("ot_reg", "ot_full", "lambda")
# Benchmark-only figures shown beside the candidates: what a lab cannot compute, for reference.
REFERENCE = ("eval/avg_l1_uncovered",)
# The bar a metric must clear on both settings to become what `metric: auto` ranks by on LeRobot data.
PASS_SPEARMAN, PASS_TOP_GAP = -0.6, 0.05
BOOTSTRAP = 2000


def pool(per_space: int) -> list[tuple[str, dict]]:
    """Co-training, target-only BC, then per_space configs of each shipped space (its first starting point, the
    seed log's, then seeded random draws: the starting points alone sit close together): the same list for every
    setting."""
    from actot.sweep.space import load_space

    out = list(BASELINES)
    for space in SPACES:
        starts = len(load_space(space).starting_points)
        drawn = space_configs(space, starts + per_space - 1, seed=0)
        out += [drawn[0], *drawn[starts:]]
    return out


def jobs_for(args) -> list[dict]:
    common = study_common(args, **SETTINGS[args.setting])
    if args.quick:
        common.update({"data.sim.n_eval": 2, "data.sim.n_eval_source": 2})
    return [
        study_job(args, common, args.setting, name, overrides, seed)
        for seed in range(args.seeds)
        for name, overrides in pool(args.per_space)
    ]


def is_ot(name: str) -> bool:
    return name not in dict(BASELINES)


def config_means(rows: list[dict], keys: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """config -> {key: mean over its seeds of the final value}, over configs with every key on every seed present."""
    by: dict[str, list[dict]] = {}
    for row in rows:
        if row["status"] == "finished":
            by.setdefault(row["name"], []).append(row)
    seeds = {r["seed"] for runs in by.values() for r in runs}
    out = {}
    for name, runs in by.items():
        values = {key: [final(r, key) for r in runs] for key in keys}
        if {r["seed"] for r in runs} == seeds and all(v is not None for vs in values.values() for v in vs):
            out[name] = {key: float(np.mean(vs)) for key, vs in values.items()}
    return out


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(spearmanr(a, b).statistic)


def bootstrap_interval(a, b, n: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the Spearman correlation over configs resampled with replacement."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(a, float), np.asarray(b, float)
    values = [spearman(a[i], b[i]) for i in (rng.integers(0, len(a), len(a)) for _ in range(n))]
    values = np.array([v for v in values if math.isfinite(v)])
    return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))) if len(values) else (math.nan,) * 2


def candidate_row(means: dict[str, dict[str, float]], key: str, names: list[str]) -> dict:
    """The figures of one candidate over the configs `names`."""
    metric = [means[n][key] for n in names]
    success = [means[n]["eval/success"] for n in names]
    uncovered = [means[n]["eval/success_uncovered"] for n in names]
    better = min if direction(key) == "min" else max
    pick = better(names, key=lambda n: means[n][key])
    rho = spearman(metric, success)
    lo, hi = bootstrap_interval(metric, success)
    sign = -1 if direction(key) == "min" else 1  # a right-direction correlation is negative for an error
    gap = max(success) - means[pick]["eval/success"]
    return {
        "metric": key,
        "configs": len(names),
        "spearman": rho,
        "lo": lo,
        "hi": hi,
        "spearman_uncovered": spearman(metric, uncovered),
        "pick": pick,
        "pick_success": means[pick]["eval/success"],
        "best_success": max(success),
        "gap": gap,
        "passes": bool(
            math.isfinite(rho)
            and sign * rho >= -PASS_SPEARMAN
            and (hi < 0 if sign < 0 else lo > 0)
            and gap <= PASS_TOP_GAP
        ),
    }


def analyse_rows(rows: list[dict]) -> dict[str, list[dict]]:
    """{'all': a row per candidate over the whole pool, 'ot': over OT configs alone}."""
    keys = tuple(dict.fromkeys((*OFFLINE_CANDIDATES, *REFERENCE, "eval/success", "eval/success_uncovered")))
    present = [k for k in keys if any(final(r, k) is not None for r in rows)]
    means = config_means(rows, tuple(present))
    out = {}
    for part, names in (("all", sorted(means)), ("ot", sorted(n for n in means if is_ot(n)))):
        out[part] = (
            [
                candidate_row(means, key, names)
                for key in present
                if key not in ("eval/success", "eval/success_uncovered")
            ]
            if len(names) >= 3
            else []
        )
    return out


def analyse(args) -> None:
    import warnings

    warnings.simplefilter("ignore")
    rows = read_rows(args.file)
    settings = [args.setting] if args.setting else sorted({r["group"] for r in rows})
    for setting in settings:
        mine = [r for r in rows if r["group"] == setting]
        seeds = sorted({r["seed"] for r in mine})
        print(
            f"\n{setting}: {len(mine)} runs, seeds {seeds}; Spearman of config means against closed-loop success "
            f"(negative = right for an error), 95% bootstrap over configs; top pick's success vs the pool's best"
        )
        for part, table in analyse_rows(mine).items():
            if not table:
                continue
            print(f"\n{'whole pool' if part == 'all' else 'OT configs alone'} ({table[0]['configs']} configs)")
            print(
                text_table(
                    [
                        "metric",
                        "Spearman (success)",
                        "95% interval",
                        "Spearman (uncovered)",
                        "top pick",
                        "its success",
                        "best",
                        "gap",
                        "passes",
                    ],
                    [
                        [
                            t["metric"],
                            f"{t['spearman']:+.2f}",
                            f"[{t['lo']:+.2f}, {t['hi']:+.2f}]",
                            f"{t['spearman_uncovered']:+.2f}",
                            t["pick"],
                            f"{t['pick_success']:.3f}",
                            f"{t['best_success']:.3f}",
                            f"{t['gap']:.3f}",
                            "yes" if t["passes"] else "no",
                        ]
                        for t in table
                    ],
                )
            )


def run(args) -> None:
    if args.quick:
        args.per_space, args.seeds, args.rollouts = 1, min(args.seeds, 2), 4
    run_jobs(jobs_for(args), Path(args.out), args.jobs)


def main(argv=None) -> int:
    parser, run_args, analyse_args = study_parser(__doc__, runs_dir="runs/offline_study", seeds=4)
    run_args.add_argument("--setting", choices=sorted(SETTINGS), default="default")
    run_args.add_argument("--per-space", type=int, default=4, help="configs drawn from each of " + ", ".join(SPACES))
    analyse_args.add_argument("--setting", choices=sorted(SETTINGS), default=None)
    return study_main(parser, argv, run, analyse)


if __name__ == "__main__":
    raise SystemExit(main())
