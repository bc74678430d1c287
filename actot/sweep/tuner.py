"""Ray and the Tuner: starting (or joining) Ray, the searcher, and the one Tuner builder both stages use.

The search stage runs seeded TPE (`RuleAwareOptunaSearch`, in memory, starting with the space's
starting points; rule-stopped trials are told to Optuna as PRUNED) with optional ASHA on `step`;
the confirm stage runs a fixed list of configs (FIFO, no search). Both go through `build_tuner`,
which restores the stage's Tuner from its saved state when there is one (a resumed sweep) and
builds it anew otherwise.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from actot.sweep.config import SweepConfig, startup_trials
from actot.sweep.paired import PairedPlan
from actot.sweep.space import SearchSpace
from actot.sweep.trainable import TrialSetup, run_trial
from actot.sweepdir import say


# Ray (its RayConfig, read from RAY_* variables) starts one idle Python worker per CPU with the first driver. A trial
# (an actor) takes one when it starts, or has one started for it; those no trial takes (fewer trials at once than
# CPUs) cost about a core-second to start and ~1% of a core each while they wait, as long as Ray runs (measured on
# 2 cores). Off for the Ray a sweep starts (and the test session's).
NO_PRESTART = ("RAY_prestart_worker_first_driver", "0")


def init_ray(sweep_cfg: SweepConfig) -> bool:
    """Start Ray for a stage (or join sweep_cfg.ray_address); return whether this call started it."""
    import ray

    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", str(sweep_cfg.experiment_save_s))
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # No JSON/CSV/TensorBoard result loggers (and no TensorBoard hint): every report is in results.parquet.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault(*NO_PRESTART)
    if os.environ.get("ACTOT_CACHE"):  # inherited by every trial: absolute, as typed
        os.environ["ACTOT_CACHE"] = str(Path(os.environ["ACTOT_CACHE"]).expanduser().resolve())
    # A trial's exception is recorded, with its last line, by ResultsRecorder; Ray's own
    # multi-line report of it would only bury the sweep's progress.
    logging.getLogger("ray.tune.execution.tune_controller").setLevel(logging.CRITICAL)
    if ray.is_initialized():
        return False
    if sweep_cfg.ray_address:
        from actot.sweep.cluster import connect

        connect(sweep_cfg.ray_address)
        return True
    # our own one-node cluster: no dashboard; Ray >= 2.59 turns token auth on for it
    ray.init(
        include_dashboard=False,
        configure_logging=True,
        logging_level="ERROR",
        log_to_driver=False,
        num_cpus=os.cpu_count(),
        **({"_temp_dir": str(Path(sweep_cfg.ray_temp_dir).expanduser().resolve())} if sweep_cfg.ray_temp_dir else {}),
    )
    return True


@contextlib.contextmanager
def ray_session(sweep_cfg: SweepConfig):
    """Ray for the duration of a stage; shut down after it only if this stage started it."""
    import ray

    started = init_ray(sweep_cfg)
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def make_searcher(
    space: SearchSpace, sweep_cfg: SweepConfig, name: str, total_steps: int, plan: PairedPlan | None = None
):
    """Seeded TPE, starting with the space's starting points, then `startup_trials(sweep_cfg)` random trials;
    wrapped in the paired-seed searcher (`paired.py`) when the sweep has a plan."""
    import optuna

    from actot.sweep.searcher import RuleAwareOptunaSearch

    inner = RuleAwareOptunaSearch(
        space=space.distributions,
        metric=sweep_cfg.metric,
        mode=sweep_cfg.mode,
        points_to_evaluate=space.starting_points or None,
        sampler=optuna.samplers.TPESampler(seed=sweep_cfg.seed, n_startup_trials=startup_trials(sweep_cfg)),
        study_name=name,
        total_steps=total_steps,
        score_last_k=sweep_cfg.score_last_k,
    )
    if plan is None:
        return inner
    from actot.sweep.paired_searcher import PairedSearcher

    return PairedSearcher(inner, plan, name, score_last_k=sweep_cfg.score_last_k)


def build_tuner(
    sweep_cfg: SweepConfig,
    setup: TrialSetup,
    *,
    name: str,
    storage_path: str,
    callbacks: list,
    search_alg,
    scheduler,
    num_samples: int,
    max_failures: int,
    storage_fs=None,
    param_space: dict | None = None,
    restore: bool = True,
):
    """The stage's Tuner: restored from `storage_path/name` when Ray saved one there (and `restore`), else new.

    A retry (max_failures) resumes from the trial's last checkpoint: a lost node costs a few steps, not the trial.
    """
    from ray import tune

    trainable = tune.with_resources(
        tune.with_parameters(run_trial, setup=setup), {"cpu": sweep_cfg.resources.cpu, "gpu": sweep_cfg.resources.gpu}
    )
    fs = {} if storage_fs is None else {"storage_filesystem": storage_fs}
    experiment = f"{storage_path.rstrip('/')}/{name}"
    if restore and tune.Tuner.can_restore(experiment, **fs):
        say(f"resuming {experiment if storage_fs is None else name}")
        return tune.Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=True, **fs)
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=sweep_cfg.metric,
            mode=sweep_cfg.mode,
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=num_samples,
            max_concurrent_trials=sweep_cfg.max_concurrent,
            reuse_actors=sweep_cfg.reuse_actors,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage_path,
            verbose=0,
            callbacks=callbacks,
            **fs,
            failure_config=tune.FailureConfig(max_failures=max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        ),
    )
