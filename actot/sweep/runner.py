"""Run a sweep on Ray Tune: the trainable, the searcher, the scheduler, and resume.

Everything is validated before Ray starts (space, sweep, rules, the training config of every
starting point, and the data, which is generated or decoded once here so that trials read the
frame cache). Then:

- each trial runs `actot.train.train` with the space's knobs; its report hook applies the rules
  to the trial's history and, when a `stop` rule fires, ends the trial with that reason (with
  `rules.shadow=true` it only records what each rule would have done);
- `RuleAwareOptunaSearch` (TPE, seeded, in memory, `startup_trials` random trials first) proposes
  knobs, starting with the space's starting points; rule-stopped trials are told to Optuna as PRUNED;
- optional ASHA on `step`, its grace period checked against the rules' warm-up;
- `results.parquet` and the SQLite mirror are written as trials end (`results.py`);
- `resume=true` continues an interrupted sweep with `Tuner.restore`; a `fit()` that returns with
  unfinished trials (Ctrl-C) is reported as interrupted with the command that resumes it.

A sweep survives its parts: a trial that raises, goes non-finite or cannot load its data is
recorded (`error`, `non_finite`, with the reason) and the others go on; the sweep metric is
filled in as NaN in every report that lacks it, since Ray rejects such a report and would end
the whole sweep. The sweep folder is locked by its driver (`driver.lock`, an flock the kernel
releases when the driver dies), `sweep.json` is the truth on resume (`resume.py`), and every
path is made absolute here, where the command was typed: trials run in their own folders.

On a cluster (`ray_address`), every node is checked for the data before any trial starts
(`cluster.py`) and `max_failures` retries a lost node's trial from its last checkpoint;
`storage=s3://...` keeps Ray's state and checkpoints in the bucket and the driver's files in a
local mirror synced with it (`storage.py`). Only the driver writes the sweep's own files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shlex
import time
from pathlib import Path

from actot.config import apply_overrides
from actot.errors import ActotError
from actot.metrics import SWEEP_METRICS
from actot.rules import Rule, check_rules, parse_rules
from actot.sim.generate import load_sim_spec
from actot.sweep.cluster import make_writable_dir
from actot.sweep.config import SweepConfig, base_train_config, startup_trials
from actot.sweep.resume import check_same_config, lock_sweep_dir, resolved_config
from actot.sweep.space import SearchSpace, space_warnings
from actot.sweep.storage import RemoteSweep, is_uri, open_remote

# Training keys that name a file or folder: made absolute where the command was typed.
PATH_KEYS = ("data.source", "data.target", "data.cache_dir")


@dataclasses.dataclass
class SweepOutcome:
    sweep_dir: Path
    finished: bool
    counts: dict
    store: object


def make_trainable(space: SearchSpace, base_overrides: dict, rules: list[Rule], sweep_name: str,
                   trials_dir: Path | None, metric: str = "eval/avg_l1", shadow: bool = False,
                   sweep_uri: str | None = None):
    """The Ray function trainable: knobs in, `tune.report` out, rules applied per report.

    shadow: the rules act on nothing; each report carries, as `shadow` (JSON), every rule that
    fires at it, stop and flag alike, and the store keeps each rule's first decision.

    A trial writes only its own folder, `trials_dir/<id>` (a shared folder), or with object
    storage (`sweep_uri`) a folder on its node that it uploads when it ends; the sweep's own
    files are the driver's alone. A retried trial (its node died) resumes from the checkpoint
    Ray kept and reports the step it resumed from as `resumed_from_step`.
    """

    def trainable(config: dict) -> None:
        import tempfile

        from ray import tune

        from actot.config import TrainConfig
        from actot.sweep.results import CONFIRM_KEYS, FILLED_KEY, SHADOW_KEY
        from actot.train import train

        trial_id = tune.get_context().get_trial_id()
        knobs = {k: v for k, v in config.items() if k not in CONFIRM_KEYS}
        overrides = {**base_overrides, **space.to_overrides(knobs)}
        if "seed" in config:  # a confirm-stage trial: the same knobs with another training seed
            overrides["seed"] = int(config["seed"])
        cfg = apply_overrides(TrainConfig(), overrides, f"trial {trial_id}")
        out_dir = trials_dir if sweep_uri is None else Path(tempfile.gettempdir()) / "actot-trials" / sweep_name
        cfg = dataclasses.replace(cfg, name=trial_id, out_dir=str(out_dir),
                                  wandb=dataclasses.replace(cfg.wandb, group=sweep_name))
        checkpoint = tune.get_checkpoint()
        resumed_from = (checkpoint.get_metadata() or {}).get("step") if checkpoint is not None else None

        def report(metrics: dict, checkpoint_dir, history: list) -> str | None:
            decisions = check_rules(rules, history)
            payload = dict(metrics)
            if shadow:
                if decisions:
                    payload[SHADOW_KEY] = json.dumps([dataclasses.asdict(d) for d in decisions])
                decisions = []
            value = payload.get(metric)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                # Ray rejects a report without the sweep metric (the step-0 baseline, a non-finite
                # step, eval/success before the last step) and would end the sweep: a NaN stands in.
                payload.update({metric: math.nan, FILLED_KEY: metric})
            stop = next((d for d in decisions if d.action == "stop"), None)
            flags = [d for d in decisions if d.action == "flag"]
            if stop is not None:
                payload.update(stop_rule=stop.rule, stop_step=stop.step, stop_reason=stop.reason)
            if flags:
                payload.update(flags=",".join(d.rule for d in flags), flag_reasons=" | ".join(d.reason for d in flags))
            if resumed_from is not None:
                payload["resumed_from_step"] = int(resumed_from)
            saved = None
            if checkpoint_dir:
                saved = tune.Checkpoint.from_directory(str(checkpoint_dir))
                saved.set_metadata({"step": int(metrics.get("step", 0))})
            tune.report(payload, checkpoint=saved)
            return stop.reason if stop is not None else None

        try:
            if checkpoint is None:
                train(cfg, report=report, progress=False)
            else:
                with checkpoint.as_directory() as path:
                    train(cfg, report=report, progress=False, resume_from=Path(path))
        finally:
            if sweep_uri is not None:
                _upload(sweep_uri, trial_id, out_dir / trial_id)

    return trainable


def _upload(sweep_uri: str, trial_id: str, folder: Path) -> None:
    """A trial's folder to object storage; a failed upload is said, not fatal (the results are the driver's)."""
    import shutil

    from actot.sweep.storage import upload_trial_folder

    try:
        upload_trial_folder(sweep_uri, trial_id, folder)
        shutil.rmtree(folder, ignore_errors=True)
    except Exception as err:  # noqa: BLE001 - the trial's outcome matters more than its folder's copy
        print(f"[sweep] trial {trial_id}: its folder stays in {folder}: upload failed ({err})", flush=True)


def earliest_stop(rule: Rule, log_every: int) -> int:
    """The first step at which `rule` can fire: its warm-up, then patience or the trend's window in reports."""
    first = -(-rule.after // log_every) * log_every  # the first report at or after the warm-up
    if rule.kind == "threshold":
        return first + (rule.patience - 1) * log_every
    if rule.kind == "trend":
        return first + rule.window * log_every
    return first


def check_asha_against_rules(cfg: SweepConfig, rules: list[Rule], log_every: int, rollout_every: int = 0) -> None:
    if not cfg.asha.enabled:
        return
    if cfg.metric == "eval/success" and not rollout_every:
        raise ActotError("sweep: asha.enabled=true with metric=eval/success: eval/success is only measured at a "
                         "trial's last step, so ASHA could never compare trials; set rollout_every (e.g. "
                         "rollout_every=100) to measure it along the way, use asha.enabled=false, or another metric")
    stops = [r for r in rules if r.action == "stop"]
    if not stops:
        return
    rule = max(stops, key=lambda r: earliest_stop(r, log_every))
    step = earliest_stop(rule, log_every)
    if cfg.asha.grace_period <= step:
        raise ActotError(f"sweep: asha.grace_period={cfg.asha.grace_period} is not above step {step}, the first step "
                         f"at which rule '{rule.name}' can stop a trial (warm-up {rule.after}, reports every "
                         f"log_every={log_every} steps): ASHA would stop trials before the rules act; "
                         f"set asha.grace_period > {step}")


def resume_command(argv: list[str], name: str) -> str:
    words = [w for w in argv if not w.startswith(("name=", "resume="))]
    return shlex.join(["python", "run_sweep.py", *words, f"name={name}", "resume=true"])


def _absolute(path):
    """A path made absolute where the command was typed; a URI (s3://...) as given."""
    if not isinstance(path, str) or is_uri(path):
        return path
    return str(Path(path).expanduser().resolve())


def prepare(space: SearchSpace, cfg: SweepConfig) -> tuple[dict, list[Rule], object]:
    """Validate everything a sweep needs; return (base overrides, rules, base train config)."""
    rules = parse_rules(cfg.rules, "sweep: rules")
    # Trials run in their own folders, maybe on other nodes: no path stays relative.
    cfg.train = {k: _absolute(v) if k in PATH_KEYS else v for k, v in cfg.train.items()}
    for key in ("storage", "ray_temp_dir"):
        setattr(cfg, key, _absolute(getattr(cfg, key)))
    base = {**space.fixed, **cfg.train, "seed": cfg.train.get("seed", cfg.seed)}
    base.update({k: _absolute(base[k]) for k in PATH_KEYS if k in base})
    if "threads" not in base:
        base["threads"] = max(1, int(cfg.resources.cpu))
    if 0 < cfg.resources.gpu < 1 and "gpu_memory_fraction" not in base:
        # Ray's GPU fractions are logical: the memory cap is what keeps four 0.25-GPU trials off each other's memory.
        base["gpu_memory_fraction"] = cfg.resources.gpu
    base_cfg = base_train_config(cfg, base, "sweep")
    check_asha_against_rules(cfg, rules, base_cfg.log_every, base_cfg.rollout_every)
    for point, name in zip(space.starting_points, space.point_names):
        apply_overrides(base_cfg, space.to_overrides(point), f"{space.path}: starting point '{name}'")
    if cfg.metric not in SWEEP_METRICS:
        raise ActotError(f"sweep: metric '{cfg.metric}' is not one a sweep can optimise; use one of "
                         f"{', '.join(SWEEP_METRICS)}")
    if cfg.metric == "eval/success" and base_cfg.data.source is not None and load_sim_spec(base_cfg.data.target) is None:
        raise ActotError(f"sweep: metric=eval/success needs closed-loop rollouts, which only our simulator's datasets "
                         f"have ({base_cfg.data.target} is not one); use eval/avg_l1")
    if cfg.metric == "eval/success" and base_cfg.rollout_episodes < 1:
        raise ActotError(f"sweep: metric=eval/success but rollout_episodes={base_cfg.rollout_episodes}, so no trial "
                         "measures it; set rollout_episodes=10 or use eval/avg_l1")
    return base, rules, base_cfg


def check_data(space: SearchSpace, base_cfg) -> None:
    """Load the data once in the driver (trials then read the frame cache) and check what depends on it."""
    from actot.data.sampler import check_window_size
    from actot.train import load_data

    data = load_data(base_cfg)[0]
    check_window_size(base_cfg.ot.window_size, data, "sweep")
    for point, name in zip(space.starting_points, space.point_names):
        cfg = apply_overrides(base_cfg, space.to_overrides(point), f"{space.path}: starting point '{name}'")
        check_window_size(cfg.ot.window_size, data, f"{space.path}: starting point '{name}'")


def init_ray(cfg: SweepConfig) -> bool:
    """Start Ray for a stage (or join cfg.ray_address); return whether this call started it."""
    import logging

    import ray

    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", str(cfg.experiment_save_s))
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if os.environ.get("ACTOT_CACHE"):  # inherited by every trial: absolute, as typed
        os.environ["ACTOT_CACHE"] = str(Path(os.environ["ACTOT_CACHE"]).expanduser().resolve())
    # A trial's exception is recorded, with its last line, by ResultsRecorder; Ray's own
    # multi-line report of it would only bury the sweep's progress.
    logging.getLogger("ray.tune.execution.tune_controller").setLevel(logging.CRITICAL)
    if ray.is_initialized():
        return False
    if cfg.ray_address:
        from actot.sweep.cluster import connect

        connect(cfg.ray_address)
        return True
    # our own one-node cluster: no dashboard; Ray >= 2.59 turns token auth on for it
    ray.init(include_dashboard=False, configure_logging=True, logging_level="ERROR", log_to_driver=False,
             num_cpus=os.cpu_count(),
             **({"_temp_dir": str(Path(cfg.ray_temp_dir).expanduser().resolve())} if cfg.ray_temp_dir else {}))
    return True


def _fit(space: SearchSpace, cfg: SweepConfig, base: dict, rules: list[Rule], base_cfg, name: str, sweep_dir: Path,
         store, remote: RemoteSweep | None = None) -> bool:
    """Start or restore the Tuner and run it; return whether every trial ended."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from actot.report.live import DashboardRefresher
    from actot.sweep.callbacks import StorageSync
    from actot.sweep.cluster import check_nodes, node_requirements
    from actot.sweep.results import ResultsRecorder, _say

    started_ray = init_ray(cfg)
    if cfg.ray_address:
        paths, writable = node_requirements(base_cfg, None if remote else str(sweep_dir))
        nodes = check_nodes(paths, writable)
        _say(f"joined the Ray cluster at {cfg.ray_address}: {nodes} node(s) can run trials")

    trainable = tune.with_resources(
        make_trainable(space, base, rules, name, None if remote else sweep_dir / "trials", cfg.metric,
                       shadow=cfg.rules_shadow, sweep_uri=remote.uri if remote else None),
        {"cpu": cfg.resources.cpu, "gpu": cfg.resources.gpu})
    # Ray's state and checkpoints: beside the driver's files, or in object storage (through our pyarrow filesystem,
    # so that an endpoint override reaches Ray too).
    where = dict(storage_path=str(sweep_dir.parent)) if remote is None else dict(
        storage_path=remote.storage_path, storage_filesystem=remote.storage_fs)
    experiment = str(sweep_dir) if remote is None else remote.path
    callbacks = [ResultsRecorder(store, cfg.num_samples, seed=base["seed"]), DashboardRefresher(sweep_dir)]
    if remote is not None:
        callbacks.append(StorageSync(remote))
    try:
        restore_fs = {} if remote is None else {"storage_filesystem": remote.storage_fs}
        if cfg.resume and tune.Tuner.can_restore(experiment, **restore_fs):
            _say(f"resuming {remote.uri if remote else sweep_dir}")
            tuner = tune.Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=True,
                                       **restore_fs)
        else:
            searcher = make_searcher(space, cfg, name, base_cfg.steps)
            scheduler = (ASHAScheduler(time_attr="step", max_t=base_cfg.steps, grace_period=cfg.asha.grace_period,
                                       reduction_factor=cfg.asha.reduction_factor)
                         if cfg.asha.enabled else FIFOScheduler())
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(metric=cfg.metric, mode=cfg.mode, search_alg=searcher, scheduler=scheduler,
                                            num_samples=cfg.num_samples, max_concurrent_trials=cfg.max_concurrent,
                                            reuse_actors=cfg.reuse_actors),
                run_config=tune.RunConfig(
                    name=name, verbose=0, callbacks=callbacks, **where,
                    # A retry resumes from the trial's last checkpoint: a lost node costs a few steps, not the trial.
                    failure_config=tune.FailureConfig(max_failures=cfg.max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
        grid = tuner.fit()
        store.load()
        return grid.num_terminated + grid.num_errors >= cfg.num_samples and not any(
            t["status"] in ("running", "interrupted") for tid, t in store.trials.items() if not store.is_confirm(tid))
    finally:
        if started_ray:
            ray.shutdown()


def make_searcher(space: SearchSpace, cfg: SweepConfig, name: str, total_steps: int):
    """Seeded TPE, starting with the space's starting points, then `startup_trials(cfg)` random trials."""
    import optuna

    from actot.sweep.searcher import RuleAwareOptunaSearch

    return RuleAwareOptunaSearch(
        space=space.distributions, metric=cfg.metric, mode=cfg.mode, points_to_evaluate=space.starting_points or None,
        sampler=optuna.samplers.TPESampler(seed=cfg.seed, n_startup_trials=startup_trials(cfg)),
        study_name=name, total_steps=total_steps)


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


def _open_sweep(space: SearchSpace, cfg: SweepConfig, rules: list[Rule], base_cfg, name: str, sweep_dir: Path,
                argv: list[str]):
    """Check a resume against sweep.json, or check the data and write sweep.json; return the store."""
    import optuna

    from actot.sweep.results import ResultsStore, _say

    resolved = resolved_config(space, cfg, rules, base_cfg)
    if cfg.resume:
        check_same_config(sweep_dir, resolved, argv)
    elif (sweep_dir / "sweep.json").exists():
        raise ActotError(f"{sweep_dir} already holds a sweep; add resume=true to continue it, or pick another name=")
    print("resolved config:\n" + json.dumps(resolved, indent=2, default=str), flush=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = ResultsStore(sweep_dir, space, cfg.metric, cfg.mode, name, total_steps=base_cfg.steps)
    store.load()
    if cfg.stage == "confirm" and store.search_ended() < cfg.num_samples:
        words = [w for w in argv if not w.startswith(("stage=", "top_k=", "seeds=", "confirm."))]
        raise ActotError(f"stage=confirm: the search of {sweep_dir} has not finished ({store.search_ended()} of "
                         f"{cfg.num_samples} trials ended); finish it first: {resume_command(words, name)}")
    if store.search_ended() < cfg.num_samples:
        _say("preparing data (generated or decoded once, then shared by every trial through the cache)")
        check_data(space, base_cfg)
    if not cfg.resume:
        tmp = sweep_dir / "sweep.json.tmp"
        tmp.write_text(json.dumps(resolved, indent=2, default=str))
        os.replace(tmp, sweep_dir / "sweep.json")
    return store, resolved


def run_sweep(space: SearchSpace, cfg: SweepConfig, argv: list[str]) -> SweepOutcome:
    from actot.sweep.results import _say

    base, rules, base_cfg = prepare(space, cfg)
    warnings = space_warnings(space, base_cfg.ot.heuristic)
    if cfg.dry_run:
        return dry_run(space, cfg, rules, base_cfg, warnings)
    for line in warnings:
        _say(f"warning: {line}")
    name = cfg.name or f"{space.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    remote = None
    if is_uri(cfg.storage):  # object storage is the truth; the driver works in a local mirror (storage.py)
        remote = open_remote(cfg.storage, name, cfg.resume or cfg.stage == "confirm")
        sweep_dir = remote.local_dir
    else:
        sweep_dir = (Path(cfg.storage).expanduser() / name).resolve()
    if cfg.stage == "confirm":
        if not cfg.name or not (sweep_dir / "sweep.json").is_file():
            raise ActotError(f"stage=confirm: {sweep_dir} holds no sweep; pass the name= of a finished sweep (and its "
                             "space=, sweep= and keys)")
        cfg.resume = True  # the search's settings are checked against sweep.json as on a resume
    if cfg.resume and not sweep_dir.is_dir() and remote is None:
        raise ActotError(f"resume=true but {sweep_dir} does not exist; pass the name= of an earlier sweep")
    created = not sweep_dir.exists()
    try:
        make_writable_dir(sweep_dir)
    except OSError as err:
        raise ActotError(f"storage={cfg.storage}: cannot write in {sweep_dir} ({err.strerror or err}); "
                         "pick a writable storage= folder") from err
    lock = lock_sweep_dir(sweep_dir)  # held until this process ends; the kernel drops it if killed
    if remote is not None:
        pulled = remote.refresh_mirror()
        _say(f"storage {remote.uri}; the driver's local mirror: {sweep_dir}"
             + (f" (pulled {', '.join(pulled)})" if pulled else ""))
    try:
        store, resolved = _open_sweep(space, cfg, rules, base_cfg, name, sweep_dir, argv)
        if remote is not None and not cfg.resume:
            remote.push()
    except BaseException:
        lock.close()
        if created:  # nothing of a sweep was written: leave no empty folder behind
            (sweep_dir / "driver.lock").unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                sweep_dir.rmdir()
        raise
    from actot.report import advice, finish_sweep, ranked_table

    if cfg.resume and store.search_ended() >= cfg.num_samples:
        if cfg.stage == "search":
            _say(f"all {cfg.num_samples} trials of {name} have ended; nothing to resume")
        finished = True
    else:
        finished = _fit(space, cfg, base, rules, base_cfg, name, sweep_dir, store, remote)
    confirm = None  # (every confirm trial ended, how many ended, how many in all), when the stage ran
    if finished and (cfg.stage == "confirm" or cfg.confirm.top_k > 0):
        from actot.sweep.confirm import run_confirm

        confirm = run_confirm(space, cfg, base, rules, base_cfg, name, sweep_dir, store)
        finished = confirm[0] if confirm is not None else finished

    counts = store.counts()
    print()
    print(ranked_table(sweep_dir))
    for line in advice(sweep_dir):
        _say(line)
    if confirm is not None:
        from actot.report.confirm import confirm_table

        print()
        print(confirm_table(sweep_dir))
    try:
        written = finish_sweep(sweep_dir, cfg.lang, finished)
    except OSError as err:
        raise ActotError(f"{sweep_dir}: cannot write the report or the dashboard ({err.strerror or err}); the results "
                         f"are in results.parquet; free space, then run again with resume=true to write them") from err
    if remote is not None:
        remote.push()
        _say(f"uploaded to {remote.uri}")
    _say(f"results: {sweep_dir / 'results.parquet'}; report: {written[f'report_{cfg.lang}']}; "
         f"dashboard: {written['dashboard']}; next search space: {written['next_space']}; "
         f"Optuna study: optuna-dashboard sqlite:///{sweep_dir / 'optuna.db'}")
    if not finished and confirm is not None:
        _say(f"INTERRUPTED: {confirm[1]} of {confirm[2]} trials of the confirm stage ended; it is not finished. "
             f"Resume with:\n  {resume_command(argv, name)}")
    elif not finished:
        done = store.search_ended()
        _say(f"INTERRUPTED: {done} of {cfg.num_samples} trials ended; the sweep is not finished. Resume with:\n"
             f"  {resume_command(argv, name)}")
    lock.close()
    return SweepOutcome(sweep_dir, finished, counts, store)
