"""Run a sweep: pre-flight, open its folder, run its stages (search, then confirm), finish.

    outcome = run_sweep(space, sweep_cfg, argv, hooks)

- pre-flight (`preflight.py`): everything is checked before a folder or a Ray process exists;
  `dry_run=true` stops there, printing the resolved config; what it resolved and the paired plan
  are kept in one `StageSettings` (`stage.py`) that the folder and both stages are handed;
- the folder (`open_folder`): created, or on `resume=true` checked against `sweep.json` (the
  truth on resume, `resume.py`), locked by this driver (`driver.lock`, an flock the kernel
  releases when the driver dies), the data loaded once so that trials read the caches;
- the search stage: seeded TPE + optional ASHA over `trainable.run_trial` (`tuner.py`); results
  are written as trials end (`store.py`, through `actot.sweepdir`); a `fit()` that returns with
  unfinished trials (Ctrl-C) is reported as interrupted with the command that resumes it;
- the confirm stage (`confirm.py`), when asked for: the search's leaders again with new seeds;
- finish: `hooks.finish` (the report layer's table, advice, report and dashboard: this layer
  does not import it), then the upload to object storage.

A sweep survives its parts: a trial that raises, goes non-finite or cannot load its data is
recorded (`error`, `non_finite`, with the reason) and the others go on. On a cluster
(`ray_address`) every node is checked for the data before any trial starts (`cluster.py`) and
`max_failures` retries a lost node's trial from its last checkpoint; `storage=s3://...` keeps
Ray's state and checkpoints in the bucket and the driver's files in a local mirror synced with
it (`storage.py`). Only the driver writes the sweep's own files.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from actot import sweepdir
from actot.errors import ActotError
from actot.sweep.cluster import make_writable_dir
from actot.sweep.config import SweepConfig
from actot.sweep.paired import RACED_HOOKS, PairedPlan, paired_plan, raced_json, search_complete
from actot.sweep.preflight import check_data, check_resources, prepare
from actot.sweep.resume import check_same_config, lock_sweep_dir, resolved_config
from actot.sweep.space import SearchSpace, space_warnings
from actot.sweep.stage import StageSettings
from actot.sweep.storage import RemoteSweep, is_uri, open_remote
from actot.sweep.store import ResultsStore
from actot.sweep.trainable import TrialSetup
from actot.sweepdir import say


@dataclass
class SweepHooks:
    """What the layer above adds to a sweep (the report layer, wired in by `actot.pipeline`).

    callbacks(sweep_dir): extra Tune callbacks for each stage (e.g. a live dashboard);
    leaders(sweep_dir, top_k, ahead_only): the confirm stage's configs, as (search trial ids, metric, scope);
    confirm_look(sweep_dir): a sequential confirm stage's decision after a look, as (the search trial ids of the
    configs still undecided, the lines that say it);
    finish(outcome, sweep_cfg): what the end of a sweep prints and writes.
    """

    callbacks: Callable[[Path], list] = lambda sweep_dir: []
    leaders: Callable[[Path, int, bool], tuple[list[str], str, str]] | None = None
    confirm_look: Callable[[Path], tuple[list[str], list[str]]] | None = None
    finish: Callable[["SweepOutcome", SweepConfig], None] | None = None


@dataclass
class SweepOutcome:
    sweep_dir: Path
    finished: bool
    counts: dict
    store: object
    name: str = ""
    argv: list = field(default_factory=list)
    confirm: tuple | None = None  # (every confirm trial ended, how many ended, how many in all), when it ran


@dataclass
class SweepFolder:
    name: str
    path: Path
    store: ResultsStore
    lock: object
    remote: RemoteSweep | None = None


def resume_command(argv: list[str], name: str) -> str:
    words = [w for w in argv if not w.startswith(("name=", "resume="))]
    return shlex.join(["python", "run_sweep.py", *words, f"name={name}", "resume=true"])


def dry_run(settings: StageSettings, warnings: list[str], cost: bool = True) -> SweepOutcome:
    """Everything validated (by `prepare`): print the resolved config and the warnings; no Ray, no files."""
    sweep_cfg = settings.sweep_cfg
    print("resolved config:\n" + json.dumps(resolved_config(settings), indent=2, default=str))
    for line in warnings:
        print(f"[sweep] warning: {line}")
    if cost:
        say_cost(sweep_cfg, settings.base_cfg, search_budget(sweep_cfg, settings.plan) + confirm_budget(sweep_cfg))
    print(
        f"[sweep] dry run: space, sweep, rules and every starting point are valid ({len(warnings)} warning(s)); "
        "nothing was started" + (" (a few steps were timed for the cost line)" if cost else ""),
        flush=True,
    )
    return SweepOutcome(Path(sweep_cfg.storage), True, {}, None)


def confirm_budget(sweep_cfg: SweepConfig) -> int:
    """The confirm stage's trials, at most (with confirm.if_ahead it may run none): top_k configs x seeds (a sequential
    stage's cap, max_seeds), and the baseline arm on the same fresh seeds."""
    confirm = sweep_cfg.confirm
    seeds = confirm.sequential.max_seeds if confirm.sequential.enabled else confirm.seeds
    return (confirm.top_k + (sweep_cfg.paired.baseline is not None)) * seeds


def say_cost(sweep_cfg: SweepConfig, base_cfg, trials: int, data=None) -> None:
    """The cost line (actot/cost.py), timed on the device the trials get: a GPU only where they ask for one."""
    import torch

    from actot.cost import measure, sweep_line

    if trials <= 0:
        return
    device = torch.device("cpu")
    if sweep_cfg.resources.gpu > 0 and base_cfg.device != "cpu":
        if not torch.cuda.is_available():
            say(
                f"cost: not measured: trials run on a GPU (resources.gpu={sweep_cfg.resources.gpu:g}) and this machine has "
                "none; a dry run on a machine with one says it"
            )
            return
        device = torch.device("cuda" if base_cfg.device == "auto" else base_cfg.device)
    say(sweep_line(measure(base_cfg, data=data, device=device), base_cfg, trials, sweep_cfg.max_concurrent))


def open_folder(settings: StageSettings, argv: list[str]) -> SweepFolder:
    """The sweep's folder, created or (resume, confirm) checked against sweep.json, locked by this driver."""
    sweep_cfg = settings.sweep_cfg
    name = sweep_cfg.name or f"{settings.space.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    remote = None
    if is_uri(sweep_cfg.storage):  # object storage is the truth; the driver works in a local mirror (storage.py)
        remote = open_remote(sweep_cfg.storage, name, sweep_cfg.resume or sweep_cfg.stage == "confirm")
        path = remote.local_dir
    else:
        path = (Path(sweep_cfg.storage).expanduser() / name).resolve()
    if sweep_cfg.stage == "confirm":
        if not sweep_cfg.name or not (path / sweepdir.SPEC_FILE).is_file():
            raise ActotError(
                f"stage=confirm: {path} holds no sweep; pass the name= of a finished sweep (and its "
                "space=, sweep= and keys)"
            )
        sweep_cfg.resume = True  # the search's settings are checked against sweep.json as on a resume
    if sweep_cfg.resume and not path.is_dir() and remote is None:
        raise ActotError(f"resume=true but {path} does not exist; pass the name= of an earlier sweep")
    created = not path.exists()
    try:
        make_writable_dir(path)
    except OSError as err:
        raise ActotError(
            f"storage={sweep_cfg.storage}: cannot write in {path} ({err.strerror or err}); "
            "pick a writable storage= folder"
        ) from err
    lock = lock_sweep_dir(path)  # held until this process ends; the kernel drops it if killed
    if remote is not None:
        pulled = remote.refresh_mirror()
        say(
            f"storage {remote.uri}; the driver's local mirror: {path}"
            + (f" (pulled {', '.join(pulled)})" if pulled else "")
        )
    try:
        store = _open_store(settings, name, path, argv)
        if remote is not None and not sweep_cfg.resume:
            remote.push()
    except BaseException:
        lock.close()
        if created:  # nothing of a sweep was written: leave no empty folder behind
            (path / sweepdir.LOCK_FILE).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                path.rmdir()
        raise
    return SweepFolder(name, path, store, lock, remote)


def _open_store(settings: StageSettings, name: str, sweep_dir: Path, argv: list[str]) -> ResultsStore:
    """Check a resume against sweep.json, or check the data and write sweep.json; return the store."""
    import optuna

    sweep_cfg, base_cfg, plan = settings.sweep_cfg, settings.base_cfg, settings.plan
    resolved = resolved_config(settings)
    if sweep_cfg.resume:
        check_same_config(sweep_dir, resolved, argv)
    elif (sweep_dir / sweepdir.SPEC_FILE).exists():
        raise ActotError(f"{sweep_dir} already holds a sweep; add resume=true to continue it, or pick another name=")
    if sweep_cfg.verbose:
        print("resolved config:\n" + json.dumps(resolved, indent=2, default=str), flush=True)
    else:
        say(f"settings: {sweep_dir / sweepdir.SPEC_FILE} (verbose=true prints them)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = ResultsStore(
        sweep_dir,
        settings.space,
        sweep_cfg.metric,
        sweep_cfg.mode,
        name,
        total_steps=base_cfg.steps,
        score_last_k=sweep_cfg.score_last_k,
    )
    store.load()
    if sweep_cfg.stage == "confirm" and not search_done(store, sweep_cfg, plan):
        words = [w for w in argv if not w.startswith(("stage=", "top_k=", "seeds=", "confirm."))]
        raise ActotError(
            f"stage=confirm: the search of {sweep_dir} has not finished ({store.search_ended()} of "
            f"{search_budget(sweep_cfg, plan)} trials ended); finish it first: {resume_command(words, name)}"
        )
    if not search_done(store, sweep_cfg, plan):
        say("preparing data (generated or decoded once, then shared by every trial through the cache)")
        check_data(settings.space, base_cfg)
    if not sweep_cfg.resume:
        sweepdir.write_spec(sweep_dir, resolved)
    if sweep_cfg.resume:
        sweepdir.heal_study(sweep_dir)
    return store


def search_budget(sweep_cfg: SweepConfig, plan: PairedPlan | None) -> int:
    """How many trials the search starts at most: num_samples, or (paired) its configs x seeds + the baseline's."""
    return sweep_cfg.num_samples if plan is None else plan.trial_budget


def search_done(store: ResultsStore, sweep_cfg: SweepConfig, plan: PairedPlan | None) -> bool:
    """Whether the search has nothing left to run (a paired sweep's raced configs skip seeds: `paired.py`)."""
    if plan is None:
        return store.search_ended() >= sweep_cfg.num_samples
    return search_complete(store, plan)


def run_search(settings: StageSettings, folder: SweepFolder, hooks: SweepHooks) -> bool:
    """Start or restore the search's Tuner and run it; return whether every trial ended."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from actot.sweep.callbacks import ResultsRecorder, StorageSync
    from actot.sweep.cluster import check_nodes, node_requirements
    from actot.sweep.tuner import build_tuner, make_searcher, ray_session

    remote, sweep_dir, store = folder.remote, folder.path, folder.store
    sweep_cfg, base_cfg, plan = settings.sweep_cfg, settings.base_cfg, settings.plan
    setup = TrialSetup(
        settings.space,
        settings.base_overrides,
        settings.rules,
        folder.name,
        None if remote else sweep_dir / sweepdir.TRIALS_DIR,
        sweep_cfg.metric,
        shadow=sweep_cfg.rules_shadow,
        sweep_uri=remote.uri if remote else None,
        baseline=plan.baseline if plan else None,
    )
    budget = search_budget(sweep_cfg, plan)
    callbacks = [
        ResultsRecorder(store, budget, seed=settings.base_overrides["seed"], remote=remote),
        *hooks.callbacks(sweep_dir),
    ]
    if plan is not None:
        RACED_HOOKS[folder.name] = lambda trial_id, info: _record_race(store, trial_id, info)
    if remote is not None:
        callbacks.append(StorageSync(remote))
    with ray_session(sweep_cfg):
        if sweep_cfg.ray_address:
            paths, writable = node_requirements(base_cfg, None if remote else str(sweep_dir))
            nodes = check_nodes(paths, writable)
            say(f"joined the Ray cluster at {sweep_cfg.ray_address}: {nodes} node(s) can run trials")
        # Ray's state and checkpoints: beside the driver's files, or in object storage (through our pyarrow
        # filesystem, so that an endpoint override reaches Ray too).
        tuner = build_tuner(
            sweep_cfg,
            setup,
            name=folder.name,
            callbacks=callbacks,
            num_samples=budget,
            storage_path=str(sweep_dir.parent) if remote is None else remote.storage_path,
            storage_fs=None if remote is None else remote.storage_fs,
            restore=sweep_cfg.resume,
            search_alg=make_searcher(settings.space, sweep_cfg, folder.name, base_cfg.steps, plan),
            scheduler=(
                ASHAScheduler(
                    time_attr="step",
                    max_t=base_cfg.steps,
                    grace_period=sweep_cfg.asha.grace_period,
                    reduction_factor=sweep_cfg.asha.reduction_factor,
                )
                if sweep_cfg.asha.enabled
                else FIFOScheduler()
            ),
            max_failures=sweep_cfg.max_failures,
        )
        try:
            grid = tuner.fit()
        finally:
            RACED_HOOKS.pop(folder.name, None)
    store.load()
    ended = search_done(store, sweep_cfg, plan) if plan else grid.num_terminated + grid.num_errors >= budget
    return ended and not any(t.status in sweepdir.OPEN_STATUSES for t in store.trials.values() if not t.confirm_of)


def _record_race(store: ResultsStore, trial_id: str, info: dict) -> None:
    """A config raced out: its last trial records the decision, and the sweep says it."""
    try:
        store.mark(trial_id, raced=raced_json(info))
    except ActotError as err:
        say(f"WARNING: {err}")
    say(
        f"racing: config {store.trials[trial_id].config_id} is worse than {info['vs']} on seeds "
        f"{info['seeds_run']} (P(beats) = {info['p']:.3f}); its seeds {info['seeds_skipped']} are skipped "
        f"({info['steps_saved']} steps saved)"
    )


def _catch_up_mirror(store: ResultsStore) -> None:
    """optuna.db gets the ended trials whose mirroring failed (a locked database): the report reads it next."""
    if any(t.status in sweepdir.FINAL_STATUSES for t in store.trials.values()):
        try:
            store.mirror()
        except ActotError as err:
            say(f"WARNING: {err}")


def run_sweep(
    space: SearchSpace, sweep_cfg: SweepConfig, argv: list[str], hooks: SweepHooks | None = None, cost: bool = True
) -> SweepOutcome:
    """The sweep, from pre-flight to its report (see the module docstring); `cost`: time a few steps first and say
    what the sweep will cost (actot/cost.py)."""
    hooks = hooks or SweepHooks()
    base_overrides, rules, base_cfg = prepare(space, sweep_cfg)
    check_resources(sweep_cfg)  # trials that no node can run would wait forever, without a word
    warnings = space_warnings(space, base_cfg.ot.heuristic)
    settings = StageSettings(space, sweep_cfg, base_overrides, rules, base_cfg, paired_plan(sweep_cfg, base_cfg))
    if sweep_cfg.dry_run:
        return dry_run(settings, warnings, cost)
    for line in warnings:
        say(f"warning: {line}")
    folder = open_folder(settings, argv)
    store, plan = folder.store, settings.plan
    try:
        if sweep_cfg.resume and search_done(store, sweep_cfg, plan):
            if sweep_cfg.stage == "search":
                say(f"all {store.search_ended()} trials of {folder.name} have ended; nothing to resume")
            finished = True
        else:
            from actot.run_data import load_data

            # the driver loaded the data when it opened the folder: the cost is timed on it
            if cost:
                say_cost(
                    sweep_cfg,
                    base_cfg,
                    search_budget(sweep_cfg, plan)
                    - store.search_ended()
                    + (confirm_budget(sweep_cfg) if sweep_cfg.stage == "search" else 0),
                    load_data(base_cfg)[0],
                )
            finished = run_search(settings, folder, hooks)
        confirm = None
        if finished and (sweep_cfg.stage == "confirm" or sweep_cfg.confirm.top_k > 0):
            from actot.sweep.confirm import run_confirm

            confirm = run_confirm(settings, folder=folder, hooks=hooks)
            finished = confirm[0] if confirm is not None else finished
        _catch_up_mirror(store)
        outcome = SweepOutcome(folder.path, finished, store.counts(), store, folder.name, list(argv), confirm)
        if hooks.finish is not None:
            hooks.finish(outcome, sweep_cfg)
        if folder.remote is not None:
            folder.remote.push()
            say(f"uploaded to {folder.remote.uri}")
        if not finished and confirm is not None:
            say(
                f"INTERRUPTED: {confirm[1]} of {confirm[2]} trials of the confirm stage ended; it is not finished. "
                f"Resume with:\n  {resume_command(argv, folder.name)}"
            )
        elif not finished:
            say(
                f"INTERRUPTED: {store.search_ended()} of {search_budget(sweep_cfg, plan)} trials ended; the sweep is not "
                "finished. "
                f"Resume with:\n  {resume_command(argv, folder.name)}"
            )
    finally:
        folder.lock.close()
    return outcome
