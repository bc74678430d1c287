"""Run a sweep on Ray Tune: the trainable, the searcher, the scheduler, and resume.

Everything is validated before Ray starts (space, sweep, rules, the training config of every
starting point, and the data, which is generated or decoded once here so that trials read the
frame cache). Then:

- each trial runs `actot.train.train` with the space's knobs; its report hook applies the rules
  to the trial's history and, when a `stop` rule fires, ends the trial with that reason;
- `RuleAwareOptunaSearch` (TPE, seeded, in memory) proposes knobs, starting with the space's
  starting points; rule-stopped trials are told to Optuna as PRUNED;
- optional ASHA on `step`, its grace period checked against the rules' warm-up;
- `results.parquet` and the SQLite mirror are written as trials end (`results.py`);
- `resume=true` continues an interrupted sweep with `Tuner.restore`; a `fit()` that returns with
  unfinished trials (Ctrl-C) is reported as interrupted with the command that resumes it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import time
from pathlib import Path

from actot.config import apply_overrides, to_dict
from actot.errors import ActotError
from actot.sweep.config import SweepConfig, base_train_config
from actot.sweep.rules import Rule, check_rules, parse_rules
from actot.sim.generate import load_sim_spec
from actot.sweep.space import SearchSpace, describe, space_warnings


@dataclasses.dataclass
class SweepOutcome:
    sweep_dir: Path
    finished: bool
    counts: dict
    store: object


def make_trainable(space: SearchSpace, base_overrides: dict, rules: list[Rule], sweep_name: str, trials_dir: Path):
    """The Ray function trainable: knobs in, `tune.report` out, rules applied per report."""

    def trainable(config: dict) -> None:
        from ray import tune

        from actot.config import TrainConfig
        from actot.train import train

        trial_id = tune.get_context().get_trial_id()
        overrides = {**base_overrides, **space.to_overrides(config)}
        cfg = apply_overrides(TrainConfig(), overrides, f"trial {trial_id}")
        cfg = dataclasses.replace(cfg, name=trial_id, out_dir=str(trials_dir),
                                  wandb=dataclasses.replace(cfg.wandb, group=sweep_name))

        def report(metrics: dict, checkpoint_dir, history: list) -> str | None:
            decisions = check_rules(rules, history)
            payload = dict(metrics)
            stop = next((d for d in decisions if d.action == "stop"), None)
            flags = [d for d in decisions if d.action == "flag"]
            if stop is not None:
                payload.update(stop_rule=stop.rule, stop_step=stop.step, stop_reason=stop.reason)
            if flags:
                payload.update(flags=",".join(d.rule for d in flags), flag_reasons=" | ".join(d.reason for d in flags))
            checkpoint = tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
            tune.report(payload, checkpoint=checkpoint)
            return stop.reason if stop is not None else None

        checkpoint = tune.get_checkpoint()
        if checkpoint is None:
            train(cfg, report=report, progress=False)
        else:
            with checkpoint.as_directory() as path:
                train(cfg, report=report, progress=False, resume_from=Path(path))

    return trainable


def check_asha_against_rules(cfg: SweepConfig, rules: list[Rule]) -> None:
    if not cfg.asha.enabled or not rules:
        return
    warmup = max(r.after for r in rules)
    if cfg.asha.grace_period <= warmup:
        raise ActotError(f"sweep: asha.grace_period={cfg.asha.grace_period} is not above the rules' warm-up "
                         f"({warmup} steps, rule '{max(rules, key=lambda r: r.after).name}'): ASHA would stop trials "
                         f"before the rules act; set asha.grace_period > {warmup}")


def resume_command(argv: list[str], name: str) -> str:
    words = [w for w in argv if not w.startswith(("name=", "resume="))]
    return shlex.join(["python", "run_sweep.py", *words, f"name={name}", "resume=true"])


def prepare(space: SearchSpace, cfg: SweepConfig) -> tuple[dict, list[Rule], object]:
    """Validate everything a sweep needs; return (base overrides, rules, base train config)."""
    rules = parse_rules(cfg.rules, "sweep: rules")
    check_asha_against_rules(cfg, rules)
    base = {**space.fixed, **cfg.train, "seed": cfg.train.get("seed", cfg.seed)}
    if "threads" not in base:
        base["threads"] = max(1, int(cfg.resources.cpu))
    base_cfg = base_train_config(cfg, base, "sweep")
    for point, name in zip(space.starting_points, space.point_names):
        apply_overrides(base_cfg, space.to_overrides(point), f"{space.path}: starting point '{name}'")
    if cfg.metric not in ("eval/avg_l1", "eval/success", "train/loss", "train/l1_loss", "ot_loss", "ot_cost(state)"):
        raise ActotError(f"sweep: metric '{cfg.metric}' is not reported by trials; use eval/avg_l1, eval/success, "
                         "train/loss, train/l1_loss, ot_loss or ot_cost(state)")
    if cfg.metric == "eval/success" and base_cfg.data.source is not None and load_sim_spec(base_cfg.data.target) is None:
        raise ActotError(f"sweep: metric=eval/success needs closed-loop rollouts, which only our simulator's datasets "
                         f"have ({base_cfg.data.target} is not one); use eval/avg_l1")
    return base, rules, base_cfg


def _fit(space: SearchSpace, cfg: SweepConfig, base: dict, rules: list[Rule], base_cfg, name: str, sweep_dir: Path,
         store) -> bool:
    """Start or restore the Tuner and run it; return whether every trial ended."""
    import optuna
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from actot.report.live import DashboardRefresher
    from actot.sweep.results import ResultsRecorder, _say
    from actot.sweep.searcher import RuleAwareOptunaSearch
    from actot.train import load_data

    _say("preparing data (generated or decoded once, then shared by every trial through the cache)")
    load_data(base_cfg)

    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", str(cfg.experiment_save_s))
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    started_ray = False
    if not ray.is_initialized():
        init = dict(include_dashboard=False, configure_logging=True, logging_level="ERROR", log_to_driver=False)
        if cfg.ray_address:
            init["address"] = cfg.ray_address
        else:
            init["num_cpus"] = os.cpu_count()
            if cfg.ray_temp_dir:
                init["_temp_dir"] = str(Path(cfg.ray_temp_dir).resolve())
        ray.init(**init)
        started_ray = True

    trainable = tune.with_resources(make_trainable(space, base, rules, name, sweep_dir / "trials"),
                                    {"cpu": cfg.resources.cpu, "gpu": cfg.resources.gpu})
    try:
        if cfg.resume and tune.Tuner.can_restore(str(sweep_dir)):
            _say(f"resuming {sweep_dir}")
            tuner = tune.Tuner.restore(str(sweep_dir), trainable, resume_unfinished=True, resume_errored=True)
        else:
            searcher = RuleAwareOptunaSearch(
                space=space.distributions, metric=cfg.metric, mode=cfg.mode,
                points_to_evaluate=space.starting_points or None,
                sampler=optuna.samplers.TPESampler(seed=cfg.seed), study_name=name, total_steps=base_cfg.steps)
            scheduler = (ASHAScheduler(time_attr="step", max_t=base_cfg.steps, grace_period=cfg.asha.grace_period,
                                       reduction_factor=cfg.asha.reduction_factor)
                         if cfg.asha.enabled else FIFOScheduler())
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(metric=cfg.metric, mode=cfg.mode, search_alg=searcher, scheduler=scheduler,
                                            num_samples=cfg.num_samples, max_concurrent_trials=cfg.max_concurrent,
                                            reuse_actors=cfg.reuse_actors),
                run_config=tune.RunConfig(
                    name=name, storage_path=str(sweep_dir.parent), verbose=0,
                    callbacks=[ResultsRecorder(store, cfg.num_samples), DashboardRefresher(sweep_dir)],
                    failure_config=tune.FailureConfig(max_failures=0),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
        grid = tuner.fit()
        store.load()
        return grid.num_terminated + grid.num_errors >= cfg.num_samples and not any(
            t["status"] in ("running", "interrupted") for t in store.trials.values())
    finally:
        if started_ray:
            ray.shutdown()


def resolved_config(space: SearchSpace, cfg: SweepConfig, rules: list[Rule], base_cfg) -> dict:
    import optuna

    return {"space": {"name": space.name, "path": str(space.path), "knobs": describe(space),
                      "starting_points": space.point_names, "fixed": space.fixed,
                      "distributions": {k: optuna.distributions.distribution_to_json(d)
                                        for k, d in space.distributions.items()}},
            "sweep": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "train"},
            "rules": [r.describe() for r in rules], "train": to_dict(base_cfg)}


def dry_run(space: SearchSpace, cfg: SweepConfig, rules: list[Rule], base_cfg, warnings: list[str]) -> SweepOutcome:
    """Everything validated (by `prepare`): print the resolved config and the warnings; no Ray, no files."""
    for key in ("source", "target"):
        root = getattr(base_cfg.data, key)
        if root is not None and not (Path(root) / "meta" / "info.json").is_file():
            raise ActotError(f"data.{key}={root}: no LeRobot dataset there (meta/info.json missing); "
                             "give the dataset's root folder")
    print("resolved config:\n" + json.dumps(resolved_config(space, cfg, rules, base_cfg), indent=2, default=str))
    for line in warnings:
        print(f"[sweep] warning: {line}")
    print(f"[sweep] dry run: space, sweep, rules and every starting point are valid ({len(warnings)} warning(s)); "
          "nothing was started", flush=True)
    return SweepOutcome(Path(cfg.storage), True, {}, None)


def run_sweep(space: SearchSpace, cfg: SweepConfig, argv: list[str]) -> SweepOutcome:
    from actot.sweep.results import _say

    base, rules, base_cfg = prepare(space, cfg)
    warnings = space_warnings(space, base_cfg.ot.heuristic)
    if cfg.dry_run:
        return dry_run(space, cfg, rules, base_cfg, warnings)
    for line in warnings:
        _say(f"warning: {line}")
    name = cfg.name or f"{space.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    sweep_dir = (Path(cfg.storage) / name).resolve()
    if cfg.resume and not sweep_dir.is_dir():
        raise ActotError(f"resume=true but {sweep_dir} does not exist; pass the name= of an earlier sweep")
    if not cfg.resume and (sweep_dir / "sweep.json").exists():
        raise ActotError(f"{sweep_dir} already holds a sweep; add resume=true to continue it, or pick another name=")

    resolved = resolved_config(space, cfg, rules, base_cfg)
    print("resolved config:\n" + json.dumps(resolved, indent=2, default=str), flush=True)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    if not cfg.resume:
        (sweep_dir / "sweep.json").write_text(json.dumps(resolved, indent=2, default=str))

    import optuna

    from actot.report import advice, finish_sweep, ranked_table
    from actot.sweep.results import FINAL_STATUSES, ResultsStore

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = ResultsStore(sweep_dir, space, cfg.metric, cfg.mode, name, total_steps=base_cfg.steps)
    store.load()
    ended = sum(t["status"] in FINAL_STATUSES for t in store.trials.values())
    if cfg.resume and ended >= cfg.num_samples:
        _say(f"all {cfg.num_samples} trials of {name} have ended; nothing to resume")
        finished = True
    else:
        finished = _fit(space, cfg, base, rules, base_cfg, name, sweep_dir, store)

    counts = store.counts()
    print()
    print(ranked_table(sweep_dir))
    for line in advice(sweep_dir):
        _say(line)
    written = finish_sweep(sweep_dir, cfg.lang, finished)
    _say(f"results: {sweep_dir / 'results.parquet'}; report: {written[f'report_{cfg.lang}']}; "
         f"dashboard: {written['dashboard']}; next search space: {written['next_space']}; "
         f"Optuna study: optuna-dashboard sqlite:///{sweep_dir / 'optuna.db'}")
    if not finished:
        done = sum(v for k, v in counts.items() if k in FINAL_STATUSES)
        _say(f"INTERRUPTED: {done} of {cfg.num_samples} trials ended; the sweep is not finished. Resume with:\n"
             f"  {resume_command(argv, name)}")
    return SweepOutcome(sweep_dir, finished, counts, store)
