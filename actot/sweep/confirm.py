"""The confirm stage: re-run a finished search's top-k configs with new training seeds, as new trials of the same sweep.

    python run_sweep.py space=... name=NAME stage=confirm top_k=3 seeds=5
    confirm: {top_k: 3, seeds: 5}      # in a sweep file: the search, then this stage, in one command

The configs are the search's top k as `actot.report` ranks them (the sweep's metric, finished
configs first); each runs again with the training seeds s+1 .. s+seeds (s the search's seed) as
new trials recorded in the same `results.parquet`, with `seed` and `confirm_of` (the search
trial whose config it repeats). The report layer groups trials by config, so each confirmed
config is then ranked by its mean over 1 + seeds runs with a 95% bootstrap interval, with the
probability that the leader beats it.

The chosen configs and seeds are stored in sweep.json's `confirm` section when the stage first
starts: a resumed stage runs exactly them (the ranking moves as confirm trials end), and one that
asks for another top_k or seeds is refused. Ray keeps this stage's state in `confirm/` inside the
sweep folder (a second Tuner over the fixed list with `BasicVariantGenerator`, FIFO, the sweep's
rules; no Optuna search and no ASHA: it would compare seeds of different configs). The trials
are mirrored into `optuna.db` like the search's, with user attributes `seed` and `confirm_of`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from actot.errors import ActotError
from actot.sweep.results import FINAL_STATUSES, _say

STATE_DIR = "confirm"  # Ray's state of the confirm stage, inside the sweep folder


def stored_section(sweep_dir: Path) -> dict | None:
    return json.loads((Path(sweep_dir) / "sweep.json").read_text()).get("confirm")


def _store_section(sweep_dir: Path, section: dict) -> None:
    path = Path(sweep_dir) / "sweep.json"
    resolved = json.loads(path.read_text())
    resolved["confirm"] = section
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(resolved, indent=2, default=str))
    os.replace(tmp, path)


def choose_points(sweep_dir: Path, store, top_k: int, seeds: int, base_seed: int) -> dict | None:
    """The stage's section: the top_k finished configs of the search, each with `seeds` new training seeds.

    None when no config finished with a finite value: there is nothing to confirm.
    """
    from actot.report import load_sweep_dir
    from actot.report.rank import rank

    sweep = load_sweep_dir(sweep_dir)
    ranking = rank(sweep)
    leaders = [g for g in ranking.groups if g.status == "finished" and g.interval is not None][:top_k]
    if not leaders:
        return None
    origins = [next((t for t in g.trials if not t.extra.get("confirm_of")), g.trials[0]).trial_id for g in leaders]
    points = [{"confirm_of": origin, "seed": base_seed + i, "params": store.trials[origin]["params"]}
              for origin in origins for i in range(1, seeds + 1)]  # params typed as the space defines them
    if len(leaders) < top_k:
        _say(f"confirm: only {len(leaders)} finished config(s) to confirm (top_k={top_k})")
    return {"top_k": top_k, "seeds": seeds, "metric": ranking.metric, "scope": ranking.scope,
            "search_seed": base_seed, "configs": origins, "points": points}


def open_stage(sweep_dir: Path, cfg, store, base_seed: int) -> dict | None:
    """The stored section (a resumed stage), or a new one chosen now and stored; None when nothing can be confirmed."""
    section = stored_section(sweep_dir)
    if section is None:
        section = choose_points(sweep_dir, store, cfg.confirm.top_k, cfg.confirm.seeds, base_seed)
        if section is not None:
            _store_section(sweep_dir, section)
        return section
    changed = [f"{key} {section[key]} -> {getattr(cfg.confirm, key)}" for key in ("top_k", "seeds")
               if section[key] != getattr(cfg.confirm, key)]
    if changed:
        raise ActotError(f"stage=confirm: the confirm stage of {sweep_dir} was started with other settings: "
                         f"{'; '.join(changed)}. Resume it with top_k={section['top_k']} seeds={section['seeds']}, or "
                         "confirm other settings in a new sweep")
    return section


def confirm_trials(store) -> dict[str, dict]:
    return {tid: t for tid, t in store.trials.items() if t.get("confirm_of")}


def run_confirm(space, cfg, base: dict, rules, base_cfg, name: str, sweep_dir: Path,
                store) -> tuple[bool, int, int] | None:
    """Run (or resume) the confirm stage; return (every confirm trial ended, how many ended, how many in all).

    None when no config of the search finished: stage=confirm then fails in one line; after a
    search run in the same command the sweep ends as it would without a confirm stage.
    """
    section = open_stage(sweep_dir, cfg, store, int(base["seed"]))
    if section is None:
        text = f"{sweep_dir} has no finished trial with a finite {cfg.metric}, so there is nothing to confirm"
        if cfg.stage == "confirm":
            raise ActotError(f"stage=confirm: {text}; run a search whose trials finish first")
        _say(f"confirm stage skipped: {text}")
        return None
    total = len(section["points"])
    ended = sum(t["status"] in FINAL_STATUSES for t in confirm_trials(store).values())
    _say(f"confirm stage: {len(section['configs'])} config(s) x {section['seeds']} new seed(s) "
         f"({', '.join(section['configs'])}); {ended} of {total} trial(s) ended before")
    if ended >= total:
        return True, ended, total
    from actot.sweep.preflight import check_data

    check_data(space, base_cfg)
    _fit_confirm(space, cfg, base, rules, name, sweep_dir, store, section)
    store.load()
    mine = confirm_trials(store)
    ended = sum(t["status"] in FINAL_STATUSES for t in mine.values())
    return ended >= total and not any(t["status"] in ("running", "interrupted") for t in mine.values()), ended, total


def _fit_confirm(space, cfg, base: dict, rules, name: str, sweep_dir: Path, store, section: dict) -> None:
    import ray
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler
    from ray.tune.search import BasicVariantGenerator

    from actot.report.live import DashboardRefresher
    from actot.sweep.results import ResultsRecorder
    from actot.sweep.runner import init_ray, make_trainable

    started_ray = init_ray(cfg)
    trainable = tune.with_resources(make_trainable(space, base, rules, name, sweep_dir / "trials", cfg.metric,
                                                   shadow=cfg.rules_shadow),
                                    {"cpu": cfg.resources.cpu, "gpu": cfg.resources.gpu})
    state = sweep_dir / STATE_DIR
    try:
        if tune.Tuner.can_restore(str(state)):
            _say(f"resuming the confirm stage in {state}")
            tuner = tune.Tuner.restore(str(state), trainable, resume_unfinished=True, resume_errored=True)
        else:
            points = [{**p["params"], "seed": p["seed"], "confirm_of": p["confirm_of"]} for p in section["points"]]
            tuner = tune.Tuner(
                trainable, param_space={k: None for p in points for k in p},  # every point's keys must be declared
                tune_config=tune.TuneConfig(metric=cfg.metric, mode=cfg.mode, scheduler=FIFOScheduler(),
                                            search_alg=BasicVariantGenerator(points_to_evaluate=points),
                                            num_samples=len(points), max_concurrent_trials=cfg.max_concurrent,
                                            reuse_actors=cfg.reuse_actors),
                run_config=tune.RunConfig(
                    name=STATE_DIR, storage_path=str(sweep_dir), verbose=0,
                    callbacks=[ResultsRecorder(store, len(points), seed=base["seed"], stage="confirm"),
                               DashboardRefresher(sweep_dir)],
                    failure_config=tune.FailureConfig(max_failures=0),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
        tuner.fit()
    finally:
        if started_ray:
            ray.shutdown()
