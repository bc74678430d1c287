"""Sweep efficiency: training steps until a search's pick is within 2% of what random search finds.

    python -m bench.sweep_efficiency --runs pool.jsonl --space ot_full      # group `pool` of bench/histories.py
    python -m bench.sweep_efficiency --quick                                # a tiny real pool, CI-sized (~1 min)

A replay (tabular) benchmark: no training here. The pool holds fully trained configs with their
full histories (several seeds each); a search "runs" a trial by replaying one of them:

- random: a pool config drawn uniformly among those this search has not tried yet (a real random
  search never draws the same point twice; once all are tried, among all; --repeat: always all);
- tpe: Optuna's TPESampler (seeded; n_startup_trials as a sweep of --budget trials would use,
  actot.sweep.config.startup_trials) over the space's distributions (--space). Its suggestion is
  snapped to the nearest pool config not tried yet (as for random; --repeat: any): knobs scaled to [0, 1] over their range (log-scaled where
  the space says log; a categorical knob is 0 when equal, 1 when not), Euclidean distance. The
  asked trial is closed as FAIL and the snapped config is added with its outcome, so TPE learns
  from the config that really ran;
- + rules: the rules (the built-ins, or --rules) replayed on the run's history stop it at the
  first report a stop rule fires; its compute is the steps until then, and it is told as PRUNED
  (with its intermediate --metric values);
- + asha: Ray's ASHA replayed at its rungs (actot/rules/replay.py: eval/success where the
  report has it, else eval/avg_l1), after the rules; stopped trials are PRUNED too.

Seed noise: each evaluation of a config draws one of its seeds' histories at random. A search's
pick is its best COMPLETE trial by the observed final metric; its quality is that config's true
value, the mean over every seed in the pool. The target: the mean, over searcher seeds, of the
true value of the pick of a random search of --budget trials without early stopping (default:
as many trials as the pool has configs), less 2% (--tolerance) of it. Each search runs until its
pick reaches the target or --max-trials; the table gives the training steps spent by then (mean
and standard deviation over searcher seeds; a search that never reached it counts what it spent,
and `reached` says how many did) and the ratio to random's. Trials run one after another.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from actot.errors import ActotError
from actot.metrics import direction_for_ranking
from actot.rules.replay import AshaReplay, Run, config_scores, group_by_config, read_runs_jsonl, stop_decision, truncate
from actot.sweep.config import SweepConfig, startup_trials
from actot.sweep.preflight import earliest_stop
from bench.histories import QUICK_DIR_HELP
from bench.tables import text_table

METHODS = ("random", "tpe", "tpe+rules", "tpe+rules+asha")


class Pool:
    """Pool configs, their runs (seeds) and true values; snapping of a suggestion to the nearest config."""

    def __init__(self, runs: list[Run], space, metric: str, mode: str | None = None):
        self.metric, self.mode, self.space = metric, direction_for_ranking(metric, mode), space
        self.runs = group_by_config(runs)
        self.keys = list(self.runs)
        self.truth = config_scores(runs, metric, self.mode)
        self.config = {k: members[0].config for k, members in self.runs.items()}
        self.max_t = max(run.total_steps for run in runs)
        self.log_every = min(
            (
                b["step"] - a["step"]
                for run in runs
                for a, b in zip(run.history, run.history[1:])
                if b["step"] > a["step"]
            ),
            default=1,
        )
        if space is not None:
            for key in self.keys:
                missing = [k for k in space.distributions if k not in self.config[key]]
                if missing:
                    raise ActotError(
                        f"{self.runs[key][0].source}: config lacks knob(s) {missing} of space "
                        f"{space.name}; pass the --space the pool was drawn from"
                    )
            self.coords = np.array([self.coordinates(self.config[k]) for k in self.keys])

    def coordinates(self, params: dict) -> list[float]:
        out = []
        for name, dist in self.space.distributions.items():
            value = params[name]
            if isinstance(dist, CategoricalDistribution):
                out.append(float(dist.choices.index(value)) if value in dist.choices else -1.0)
                continue
            low, high, value = float(dist.low), float(dist.high), float(value)
            if getattr(dist, "log", False):
                low, high, value = math.log(low), math.log(high), math.log(max(value, 1e-300))
            out.append((value - low) / (high - low) if high > low else 0.0)
        return out

    def snap(self, params: dict, exclude: set | None = None) -> str:
        """The nearest pool config to `params`, among those not in `exclude` while any is left."""
        point = np.array(self.coordinates(params))
        cat = [isinstance(d, CategoricalDistribution) for d in self.space.distributions.values()]
        diff = np.abs(self.coords - point)
        diff[:, cat] = (diff[:, cat] > 0).astype(float)
        distance = (diff**2).sum(axis=1)
        if exclude and len(exclude) < len(self.keys):
            distance[[i for i, k in enumerate(self.keys) if k in exclude]] = np.inf
        return self.keys[int(np.argmin(distance))]

    def better(self, a: float, b: float) -> bool:
        return a < b if self.mode == "min" else a > b


@dataclass
class Outcome:
    state: TrialState
    value: float | None
    steps: int
    intermediate: dict


def evaluate(pool: Pool, key: str, rng, rules, asha: AshaReplay | None) -> Outcome:
    """Replay one seed's history of `key`, under the rules and ASHA when given."""
    members = pool.runs[key]
    run = members[int(rng.integers(len(members)))]
    history = run.history
    decision = stop_decision(rules, history) if rules else None
    stop = decision.step if decision is not None else None
    history = truncate(history, stop)
    asha_stop = asha.stop_step(history) if asha is not None else None
    if asha_stop is not None:
        stop, history = asha_stop, truncate(history, asha_stop)
    intermediate = {
        int(r["step"]): float(r[pool.metric])
        for r in history
        if isinstance(r.get(pool.metric), float) and math.isfinite(r[pool.metric])
    }
    if stop is not None and stop < run.total_steps:
        return Outcome(TrialState.PRUNED, None, int(stop), intermediate)
    final = run.final(pool.metric)
    return Outcome(TrialState.COMPLETE if final is not None else TrialState.FAIL, final, run.total_steps, intermediate)


def search(
    pool: Pool,
    method: str,
    seed: int,
    max_trials: int,
    target: float | None,
    rules,
    asha_args,
    budget: int,
    repeat: bool = False,
) -> tuple[int, bool, list[float]]:
    """Run one search; return (steps spent until its pick reached `target`, or all steps, reached?, pick per trial)."""
    rng = np.random.default_rng(seed)
    study = None
    if method != "random":
        study = optuna.create_study(
            direction="minimize" if pool.mode == "min" else "maximize",
            sampler=optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=startup_trials(SweepConfig(num_samples=budget))
            ),
        )
    asha = AshaReplay(*asha_args, pool.max_t) if method.endswith("asha") else None
    use_rules = rules if "rules" in method else None
    steps, best_obs, pick, picks, seen = 0, None, None, [], set()
    for _ in range(max_trials):
        exclude = None if repeat or len(seen) == len(pool.keys) else seen
        if study is None:
            choices = [k for k in pool.keys if not exclude or k not in exclude]
            key = choices[int(rng.integers(len(choices)))]
        else:
            asked = study.ask(pool.space.distributions)
            key = pool.snap(asked.params, exclude)
            study.tell(asked, state=TrialState.FAIL)
        seen.add(key)
        out = evaluate(pool, key, rng, use_rules, asha)
        steps += out.steps
        if study is not None:
            params = {k: pool.config[key][k] for k in pool.space.distributions}
            study.add_trial(
                optuna.trial.create_trial(
                    params=params,
                    distributions=pool.space.distributions,
                    state=out.state,
                    value=out.value if out.state == TrialState.COMPLETE else None,
                    intermediate_values=out.intermediate,
                )
            )
        if out.state == TrialState.COMPLETE and (best_obs is None or pool.better(out.value, best_obs)):
            best_obs, pick = out.value, key
        picks.append(pool.truth[pick] if pick is not None else math.nan)
        if target is not None and pick is not None and not pool.better(target, pool.truth[pick]):
            return steps, True, picks
    return steps, False, picks


def default_grace(rules, log_every: int, max_t: int) -> int:
    """Above the first step at which every stop rule can act (as the sweep demands), and at least max_t / 8."""
    stops = [earliest_stop(r, log_every) for r in rules or [] if r.action == "stop"]
    floor = max(stops, default=0) + log_every
    return max(floor, int(math.ceil(max_t / 8 / log_every)) * log_every)


def run_benchmark(
    pool: Pool,
    rules,
    seeds: int,
    budget: int,
    max_trials: int,
    tolerance: float,
    grace: int | None,
    rf: int,
    say=print,
    repeat: bool = False,
) -> dict:
    grace = grace or default_grace(rules, pool.log_every, pool.max_t)
    picks = [search(pool, "random", s, budget, None, None, None, budget, repeat)[2][-1] for s in range(seeds)]
    best = statistics.mean(picks)
    target = best - tolerance * abs(best) if pool.mode == "max" else best + tolerance * abs(best)
    say(
        f"pool: {len(pool.keys)} configs, {sum(len(m) for m in pool.runs.values())} runs, {pool.max_t} steps each; "
        f"best true {pool.metric} {max(pool.truth.values()) if pool.mode == 'max' else min(pool.truth.values()):.4g}"
    )
    say(
        f"random search of {budget} trials (no early stopping) picks a config of true {pool.metric} {best:.4g} "
        f"(mean of {seeds} searcher seeds); target within {100 * tolerance:g}%: {target:.4g}; ASHA grace {grace}, "
        f"reduction factor {rf}"
    )
    results = {}
    for method in METHODS:
        runs = [
            search(pool, method, s, max_trials, target, rules, (grace, rf), budget, repeat)[:2] for s in range(seeds)
        ]
        results[method] = runs
    base = statistics.mean(s for s, _ in results["random"])
    header = ["method", "reached", "steps to target (mean)", "sd", "ratio to random"]
    rows = [header]
    for method, runs in results.items():
        spent = [s for s, _ in runs]
        rows.append(
            [
                method,
                f"{sum(ok for _, ok in runs)}/{len(runs)}",
                f"{statistics.mean(spent):.0f}",
                f"{statistics.stdev(spent):.0f}" if len(spent) > 1 else "-",
                f"{statistics.mean(spent) / base:.2f}" if base else "-",
            ]
        )
    say("\n" + text_table(rows[0], rows[1:]))
    ratio = statistics.mean(s for s, _ in results["tpe+rules+asha"]) / base if base else math.nan
    say(
        f"\ngoal: tpe+rules+asha at most 30% of random's compute: {'met' if ratio <= 0.3 else 'NOT met'} "
        f"(ratio {ratio:.2f})"
    )
    return {"target": target, "results": results, "ratio": ratio, "grace": grace}


def main(argv=None) -> int:
    from actot.rules import BUILT_IN, parse_rules
    from actot.sweep.space import load_space
    import yaml

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--runs", help="JSON-lines file of runs (bench/histories.py)")
    source.add_argument("--quick", action="store_true", help="make a tiny pool of real runs first (CI-sized)")
    parser.add_argument("--quick-dir", help=QUICK_DIR_HELP)
    parser.add_argument("--group", default="pool")
    parser.add_argument("--space", default="ot_full", help="the space the pool was drawn from (TPE's distributions)")
    parser.add_argument("--metric", default=None, help="default eval/success (--quick: eval/avg_l1)")
    parser.add_argument(
        "--mode",
        choices=("min", "max"),
        default=None,
        help="which way --metric is better (default: its own, actot/metrics.py; a diagnostic such "
        "as ot_loss has none and needs one)",
    )
    parser.add_argument("--rules", default=None, help="YAML list of rules (default: every built-in rule)")
    parser.add_argument("--seeds", type=int, default=5, help="searcher seeds (default 5)")
    parser.add_argument(
        "--budget",
        type=int,
        default=None,
        help="trials of the reference random search (default: the pool's number of configs)",
    )
    parser.add_argument("--max-trials", type=int, default=None, help="per search (default 3 x budget)")
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("--grace", type=int, default=None, help="ASHA grace period in steps")
    parser.add_argument("--reduction-factor", type=int, default=3)
    parser.add_argument("--configs", type=int, default=8, help="--quick: pool configs (default 8)")
    parser.add_argument(
        "--repeat",
        action="store_true",
        help="draw and snap to any pool config, tried or not (default: untried ones first)",
    )
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        specs = list(BUILT_IN) if args.rules is None else yaml.safe_load(args.rules)
        if args.quick and args.rules is None:  # warm-ups fit to the 60-step runs, so that ASHA's grace fits too
            specs = [{"use": name, "after": 10} if BUILT_IN[name]["after"] else name for name in BUILT_IN]
        rules = parse_rules(specs, "--rules")
        if args.quick:
            from bench.histories import quick_folder, quick_runs

            with quick_folder(args.quick_dir, "sweep-efficiency-") as work:
                runs = quick_runs(args.configs, 2, "pool", work)
            space, metric = load_space("ot_reg"), args.metric or "eval/avg_l1"
        else:
            runs = read_runs_jsonl(args.runs, args.group)
            space, metric = load_space(args.space), args.metric or "eval/success"
        pool = Pool(runs, space, metric, args.mode)
        budget = args.budget or len(pool.keys)
        run_benchmark(
            pool,
            rules,
            args.seeds,
            budget,
            args.max_trials or 3 * budget,
            args.tolerance,
            args.grace,
            args.reduction_factor,
            repeat=args.repeat,
        )
    except ActotError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
