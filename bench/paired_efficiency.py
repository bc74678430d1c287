"""Search efficiency with paired seeds: how often a sweep recommends a config within 0.05 of the pool's best, and at what compute.

    python -m bench.paired_efficiency --runs bench/data/repro_cpu.jsonl --group new --space ot_full
    python -m bench.paired_efficiency --quick                          # a tiny real pool, CI-sized

A replay benchmark (no training): the pool holds every config of a space trained on the same
seeds (bench/reproducibility.py), co-training (`ot.lambda_ot: 0`) among them. A "trial" replays
the stored run of (config, seed). Each replay (--replays, >= 20) draws its seeds from the pool's
stored seeds (a permutation, seeded), and runs these sweeps through the product's own searcher
(`actot.sweep.paired_searcher.PairedSearcher` around Optuna; trials --concurrency at a time, the
oldest ending first, as a sweep's two slots do):

- random, 1 seed: pool configs in random order, all on the replay's first seed;
- tpe, 1 seed: Optuna's TPE (seeded; its suggestion snapped to the nearest untried pool config,
  as bench/sweep_efficiency.py does) on the first seed;
- tpe, k paired seeds (+ the co-training baseline arm on the same seeds);
- tpe, k paired seeds + racing (`actot/sweep/racing.py`, the sweep's default confidence).

A sweep's recommendation: the config with the best observed value (1 seed) or the incumbent (the
best baseline-adjusted mean over its seeds). Its quality is that config's true value, the mean
over all the pool's seeds. The table: P(recommended within --tolerance of the best true value
among the searchable configs), the mean true value recommended, and the compute (runs, a run being
a whole trial) as a share of running every pool config on every seed. ASHA is left out: the
second table shows why (how well a rung's early metric ranks runs by their final score).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys

import numpy as np
import optuna
from optuna.trial import TrialState

from actot.errors import ActotError
from actot.rules.replay import Run, group_by_config, read_runs_jsonl
from actot.sweep.config import SweepConfig, startup_trials
from actot.sweep.paired import PairedPlan
from actot.sweep.paired_searcher import PairedSearcher
from bench.sweep_efficiency import Pool
from bench.histories import QUICK_DIR_HELP
from bench.tables import text_table

POOL_KEY = "__pool_key"


def is_baseline(run: Run) -> bool:
    return float(run.config.get("ot.lambda_ot", 1.0)) == 0.0


class SnappedSearch:
    """The searcher inside PairedSearcher for a replay: TPE (or random) over the space, snapped to untried pool configs."""

    def __init__(self, pool: Pool, seed: int, num_configs: int, method: str):
        self.pool, self.metric, self.mode, self.method = pool, pool.metric, pool.mode, method
        self.rng = np.random.default_rng(seed)
        self.study = optuna.create_study(
            direction="minimize" if pool.mode == "min" else "maximize",
            sampler=optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=startup_trials(SweepConfig(num_samples=num_configs))
            ),
        )
        self.asked: dict[str, str] = {}
        self.seen: set[str] = set()

    def suggest(self, trial_id: str):
        left = [k for k in self.pool.keys if k not in self.seen]
        if not left:
            return "FINISHED"
        if self.method == "random":
            key = left[int(self.rng.integers(len(left)))]
        else:
            asked = self.study.ask(self.pool.space.distributions)
            key = self.pool.snap(asked.params, self.seen)
            self.study.tell(asked, state=TrialState.FAIL)
        self.seen.add(key)
        self.asked[trial_id] = key
        return {POOL_KEY: key}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        key = self.asked[trial_id]
        value = (result or {}).get(self.metric)
        ok = not error and not (result or {}).get("stop_rule") and value is not None and math.isfinite(value)
        params = {k: self.pool.config[key][k] for k in self.pool.space.distributions}
        self.study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions=self.pool.space.distributions,
                value=value if ok else None,
                state=TrialState.COMPLETE if ok else TrialState.FAIL,
            )
        )


def replay(
    pool: Pool,
    baseline: dict[int, Run] | None,
    method: str,
    seeds: list[int],
    num_configs: int,
    racing: bool,
    confidence: float,
    concurrency: int,
    searcher_seed: int,
) -> tuple[str | None, int]:
    """One sweep replayed; return (the recommended pool config, runs spent)."""
    inner = SnappedSearch(pool, searcher_seed, num_configs, method)
    steps = pool.max_t
    plan = PairedPlan(
        seeds,
        num_configs,
        {"ot.lambda_ot": 0.0} if baseline else None,
        racing,
        confidence,
        steps,
        math.sqrt(0.25 / 100) if pool.metric == "eval/success" else 0.0,
    )
    searcher = PairedSearcher(inner, plan, f"replay-{searcher_seed}")
    running: list[tuple[str, dict]] = []
    runs, counter = 0, 0
    while True:
        while len(running) < concurrency:
            trial_id = f"t{counter}"
            suggestion = searcher.suggest(trial_id)
            if suggestion is None or suggestion == "FINISHED":
                break
            counter += 1
            running.append((trial_id, suggestion))
        if not running:
            break
        trial_id, suggestion = running.pop(0)
        seed = suggestion["seed"]
        run = baseline[seed] if suggestion["arm"] == "baseline" else by_seed(pool, suggestion[POOL_KEY])[seed]
        value = run.final(pool.metric)
        runs += 1
        if value is None:
            searcher.on_trial_complete(trial_id, None, error=True)
            continue
        searcher.on_trial_result(trial_id, {pool.metric: value, "step": steps})
        searcher.on_trial_complete(trial_id, {pool.metric: value, "step": steps})
    if len(seeds) == 1 and baseline is None:
        observed = {c.params[POOL_KEY]: c.scores.get(seeds[0]) for c in searcher.configs.values()}
        observed = {k: v for k, v in observed.items() if v is not None}
        if not observed:
            return None, runs
        pick = (max if pool.mode == "max" else min)(observed, key=observed.get)
        return pick, runs
    incumbent = searcher.incumbent()
    return (searcher.configs[incumbent].params[POOL_KEY] if incumbent else None), runs


_BY_SEED: dict = {}


def by_seed(pool: Pool, key: str) -> dict[int, Run]:
    if (id(pool), key) not in _BY_SEED:
        _BY_SEED[(id(pool), key)] = {run.seed: run for run in pool.runs[key]}
    return _BY_SEED[(id(pool), key)]


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic) if len(a) > 2 else math.nan


def rung_table(runs: list[Run], metric: str, say=print) -> None:
    """How well an early report ranks runs by their final `metric`: what an ASHA rung would judge on."""
    from actot.metrics import direction_for_ranking

    total = max(r.total_steps for r in runs)
    orient = 1.0 if direction_for_ranking(metric, None) == "max" else -1.0  # +: better, for early and final alike
    finals = [None if r.final(metric) is None else orient * r.final(metric) for r in runs]
    rows = []
    for frac in (0.2, 0.33, 0.5, 0.67):
        step = int(total * frac)
        for name, key, sign in (
            ("held-out eval/avg_l1 (mean of last 3 reports)", "eval/avg_l1", -1.0),
            ("train/l1_loss", "train/l1_loss", -1.0),
        ):
            early = []
            for run in runs:
                values = [
                    r[key]
                    for r in run.history
                    if r["step"] <= step and isinstance(r.get(key), float) and math.isfinite(r[key])
                ]
                early.append(sign * statistics.mean(values[-3:]) if values else math.nan)
            pairs = [(e, f) for e, f in zip(early, finals) if f is not None and math.isfinite(e)]
            rho = spearman([p[0] for p in pairs], [p[1] for p in pairs])
            rows.append(
                f"  step {step:>5} ({frac:.0%}): {name:<46} Spearman with final {metric}: {rho:+.2f} (n={len(pairs)})"
            )
    say(f"\nASHA rungs: does an early report rank the runs as their final {metric} does? (+1: perfectly)")
    for row in rows:
        say(row)


def run_benchmark(
    runs: list[Run],
    space,
    metric: str,
    replays: int,
    k: int,
    num_configs: int,
    one_seed_configs: int,
    tolerance: float,
    confidence: float,
    concurrency: int,
    say=print,
) -> dict:
    base_runs = [r for r in runs if is_baseline(r)]
    pool = Pool([r for r in runs if not is_baseline(r)], space, metric)
    seeds_all = sorted({r.seed for r in runs})
    complete = [key for key in pool.keys if {r.seed for r in pool.runs[key]} >= set(seeds_all)]
    if len(complete) < len(pool.keys) or len({r.seed for r in base_runs}) < len(seeds_all):
        raise ActotError(
            f"the pool is not complete: every config (co-training included) needs every seed "
            f"{seeds_all}; finish bench/reproducibility.py first"
        )
    baseline = {r.seed: r for r in base_runs} if base_runs else None
    best = (max if pool.mode == "max" else min)(pool.truth.values())
    full = (len(pool.keys) + (1 if baseline else 0)) * len(seeds_all)
    say(
        f"pool: {len(pool.keys)} searchable configs + {'co-training' if baseline else 'no baseline'}, seeds "
        f"{seeds_all}; best true {metric} among the searchable {best:.3f}"
        + (f"; co-training's {statistics.mean(r.final(metric) for r in base_runs):.3f}" if baseline else "")
    )
    methods = [
        ("random, 1 seed", "random", 1, one_seed_configs, False, False),
        ("tpe, 1 seed", "tpe", 1, one_seed_configs, False, False),
        (f"tpe, {k} paired seeds + baseline", "tpe", k, num_configs, True, False),
        (f"tpe, {k} paired seeds + baseline + racing", "tpe", k, num_configs, True, True),
    ]
    rows, out = [], {}
    for label, method, n_seeds, n_configs, with_base, racing in methods:
        hits, values, spent = 0, [], []
        for r in range(replays):
            order = list(np.random.default_rng(1000 + r).permutation(seeds_all))
            pick, used = replay(
                pool,
                baseline if with_base else None,
                method,
                [int(s) for s in order[:n_seeds]],
                n_configs,
                racing,
                confidence,
                concurrency,
                r,
            )
            truth = pool.truth[pick] if pick is not None else (-math.inf if pool.mode == "max" else math.inf)
            hits += abs(truth - best) <= tolerance + 1e-12 or pool.better(truth, best)
            values.append(truth)
            spent.append(used / full)
        out[label] = {
            "p_within": hits / replays,
            "mean_value": statistics.mean(values),
            "compute": statistics.mean(spent),
        }
        rows.append(
            [
                label,
                f"{n_configs}",
                f"{hits / replays:.2f}",
                f"{statistics.mean(values):.3f}",
                f"{100 * statistics.mean(spent):.0f}%",
            ]
        )
    header = ["sweep", "configs", f"P(within {tolerance:g} of best)", f"true {metric} of pick", "compute"]
    say(
        f"\n{replays} replays, trials {concurrency} at a time; compute = runs / ({full} runs: every config on "
        f"every seed)\n" + text_table(header, rows)
    )
    goal = out[methods[-1][0]]
    met = goal["p_within"] >= 0.8 and goal["compute"] <= 0.5
    say(
        f"\ngoal: paired + racing within {tolerance:g} of the best in >= 80% of replays at <= 50% of the compute: "
        f"{'met' if met else 'NOT met'} ({goal['p_within']:.0%} at {100 * goal['compute']:.0f}%)"
    )
    rung_table(runs, metric, say)
    return out


def main(argv=None) -> int:
    from actot.sweep.space import load_space

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--runs", help="JSON-lines pool (bench/reproducibility.py's --out)")
    source.add_argument("--quick", action="store_true", help="make a tiny pool of real runs first (CI-sized)")
    parser.add_argument("--quick-dir", help=QUICK_DIR_HELP)
    parser.add_argument("--group", default="new")
    parser.add_argument("--space", default="ot_full")
    parser.add_argument("--metric", default="eval/success")
    parser.add_argument("--replays", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3, help="k: paired seeds per config")
    parser.add_argument("--configs", type=int, default=6, help="configs a paired sweep tries")
    parser.add_argument(
        "--one-seed-configs",
        type=int,
        default=None,
        help="configs a 1-seed sweep tries (default: all searchable configs)",
    )
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--confidence", type=float, default=0.9)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if args.quick:
            from bench.histories import quick_folder, quick_runs

            with quick_folder(args.quick_dir, "paired-efficiency-") as work:
                runs = quick_runs(3, 2, "pool", work, baseline=True)
            space, metric, replays = load_space("ot_reg"), "eval/avg_l1", min(args.replays, 20)
            configs, k = 2, 2
        else:
            runs = read_runs_jsonl(args.runs, args.group)
            space, metric, replays, configs, k = (
                load_space(args.space),
                args.metric,
                args.replays,
                args.configs,
                args.seeds,
            )
        searchable = len(group_by_config([r for r in runs if not is_baseline(r)]))
        run_benchmark(
            runs,
            space,
            metric,
            replays,
            k,
            min(configs, searchable),
            args.one_seed_configs or searchable,
            args.tolerance,
            args.confidence,
            args.concurrency,
        )
    except ActotError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
