"""The confirm stage: re-run a finished search's top-k configs with new training seeds, as new trials of the same sweep.

    python run_sweep.py space=... name=NAME stage=confirm top_k=3 seeds=5
    confirm: {top_k: 3, seeds: 5}      # in a sweep file: the search, then this stage, in one command

The configs are the search's top k as the report layer ranks them (the sweep's metric, finished
configs first; handed in as `hooks.leaders`, since this layer does not import the report); each
runs again with the training seeds s+1 .. s+seeds (s the search's seed) as new trials recorded
in the same `results.parquet`, with `seed` and `confirm_of` (the search trial whose config it
repeats). The report layer groups trials by config, so each confirmed config is then ranked by
its mean over 1 + seeds runs with a 95% bootstrap interval, with the probability that the leader
beats it.

The chosen configs and seeds are stored in sweep.json's `confirm` section when the stage first
starts: a resumed stage runs exactly them (the ranking moves as confirm trials end), and one that
asks for another top_k or seeds is refused. Ray keeps this stage's state in `confirm/` inside the
sweep folder (a second Tuner over the fixed list with `BasicVariantGenerator`, FIFO, the sweep's
rules; no Optuna search and no ASHA: it would compare seeds of different configs), built by the
same `tuner.build_tuner` as the search. The trials are mirrored into `optuna.db` like the
search's, with user attributes `seed` and `confirm_of`.

A sequential stage (`confirm.sequential.enabled`) runs in looks: the first on `seeds` fresh seeds, then, while a
confirmed config is undecided, `seeds_per_look` more for the undecided configs and the baseline, up to `max_seeds`.
After each look the report layer decides (`hooks.confirm_look`: actot/report/sequential.py's rule, the SD pooled
with the search's) and the driver says it ("confirm look 2 (3 fresh seeds): ... continue (...)"). Each look is a
Tuner of its own (`sweepdir.confirm_dir(look)`) over a fixed list stored in the `confirm` section's `looks` and
`points` (each point with its `look`) before it starts, so a killed driver resumes the look it was in; a decision is
a function of the recorded trials, so a resumed driver decides as the killed one would have.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from actot import sweepdir
from actot.errors import ActotError
from actot.sweep.paired import BASELINE_ID
from actot.sweep.stage import StageSettings
from actot.sweepdir import ARM_BASELINE, ARM_CONFIG, CONFIRM_KEYS, FINAL_STATUSES, TrialRecord, confirm_dir, say

if TYPE_CHECKING:
    from actot.sweep.runner import SweepFolder, SweepHooks


def stored_section(sweep_dir: Path) -> dict | None:
    return sweepdir.read_spec(sweep_dir).get("confirm")


def _store_section(sweep_dir: Path, section: dict) -> None:
    resolved = sweepdir.read_spec(sweep_dir)
    resolved["confirm"] = section
    sweepdir.write_spec(sweep_dir, resolved)


def choose_points(settings: StageSettings, sweep_dir: Path, store, leaders) -> dict | None:
    """The stage's section: the top_k finished configs of the search, each with `seeds` new training seeds
    (confirm.top_k, confirm.seeds; with confirm.if_ahead, only configs ahead of co-training).

    `leaders(sweep_dir, top_k, ahead_only)` ranks the search (the report layer's ranking, handed in by the caller):
    (the search trial id of each leading finished config, only those ahead of co-training on the search's seeds
    with `ahead_only`, the metric, the scope). None when there is no such config: there is nothing to confirm.
    """
    confirm, plan, base_seed = settings.sweep_cfg.confirm, settings.plan, int(settings.base_overrides["seed"])
    top_k, seeds = confirm.top_k, confirm.seeds
    origins, metric, scope = leaders(sweep_dir, top_k, confirm.if_ahead)
    if not origins:
        return None
    first = max(plan.seeds if plan is not None else [base_seed]) + 1  # seeds no search trial ran
    new_seeds = list(range(first, first + seeds))
    sequential = sequential_settings(settings)
    points = _points(settings, store, origins, new_seeds, 1 if sequential else None)
    if len(origins) < top_k:
        say(f"confirm: only {len(origins)} finished config(s) to confirm (top_k={top_k})")
    section = {
        "top_k": top_k,
        "seeds": seeds,
        "metric": metric,
        "scope": scope,
        "new_seeds": new_seeds,
        "search_seed": base_seed,
        "configs": origins,
        "points": points,
    }
    if sequential:
        section.update(sequential=sequential, looks=[{"seeds": new_seeds, "configs": origins}])
    return section


def sequential_settings(settings: StageSettings) -> dict | None:
    """confirm.sequential as the stage stores it (None when the stage is not sequential)."""
    seq = settings.sweep_cfg.confirm.sequential
    if not seq.enabled:
        return None
    return {k: v for k, v in dataclasses.asdict(seq).items() if k != "enabled"}


def _points(settings: StageSettings, store, origins: list[str], seeds: list[int], look: int | None) -> list[dict]:
    """The trials that run `origins`' configs on `seeds`, and the baseline arm on those of them it has not run; each
    with its `look` in a sequential stage."""
    plan = settings.plan
    mark = {"look": look} if look is not None else {}
    points = [
        {
            "confirm_of": origin,
            "seed": seed,
            "params": store.trials[origin].params,
            **(
                {"arm": ARM_CONFIG, "config_id": store.trials[origin].config_id}
                if store.trials[origin].config_id
                else {}
            ),
            **mark,
        }
        for origin in origins
        for seed in seeds
    ]  # params typed as the space defines them
    if plan is not None and plan.baseline is not None:  # the baseline arm on the new seeds too (those it ran: reused)
        ran = {t.seed for t in store.trials.values() if t.arm == ARM_BASELINE}
        points += [
            {
                "confirm_of": BASELINE_ID,
                "seed": seed,
                "params": {},
                "arm": ARM_BASELINE,
                "config_id": BASELINE_ID,
                **mark,
            }
            for seed in seeds
            if seed not in ran
        ]
    return points


def open_stage(settings: StageSettings, sweep_dir: Path, store, leaders) -> dict | None:
    """The stored section (a resumed stage), or a new one chosen now and stored; None when nothing can be confirmed."""
    section = stored_section(sweep_dir)
    if section is None:
        section = choose_points(settings, sweep_dir, store, leaders)
        if section is not None:
            _store_section(sweep_dir, section)
        return section
    confirm = settings.sweep_cfg.confirm
    changed = [
        f"{key} {section[key]} -> {getattr(confirm, key)}"
        for key in ("top_k", "seeds")
        if section[key] != getattr(confirm, key)
    ]
    stored, given = section.get("sequential") or {}, sequential_settings(settings) or {}
    if bool(stored) != bool(given):
        changed.append(
            f"sequential.enabled {bool(stored)} -> {bool(given)}".replace("True", "true").replace("False", "false")
        )
    elif stored != given:
        changed += [
            f"sequential.{key} {stored.get(key)} -> {given.get(key)}"
            for key in sorted(set(stored) | set(given))
            if stored.get(key) != given.get(key)
        ]
    if changed:
        how = f"top_k={section['top_k']} seeds={section['seeds']}" + (
            " "
            + " ".join(
                f"confirm.sequential.{k}={v}"
                for k, v in {"enabled": "true", **{k: ("null" if v is None else v) for k, v in stored.items()}}.items()
            )
            if stored
            else ""
        )
        raise ActotError(
            f"stage=confirm: the confirm stage of {sweep_dir} was started with other settings: "
            f"{'; '.join(changed)}. Resume it with {how}, or confirm other settings in a new sweep"
        )
    return section


def confirm_trials(store) -> dict[str, TrialRecord]:
    return {tid: t for tid, t in store.trials.items() if t.confirm_of}


def run_confirm(settings: StageSettings, *, folder: SweepFolder, hooks: SweepHooks) -> tuple[bool, int, int] | None:
    """Run (or resume) the confirm stage in the sweep's folder; return (every confirm trial ended, how many ended,
    how many in all).

    None when no config of the search finished: stage=confirm then fails in one line; after a
    search run in the same command the sweep ends as it would without a confirm stage.
    """
    sweep_cfg, sweep_dir, store = settings.sweep_cfg, folder.path, folder.store
    section = open_stage(settings, sweep_dir, store, hooks.leaders)
    if section is None:
        text = (
            f"no config of {sweep_dir} is ahead of co-training on the search's seeds (confirm.if_ahead): the "
            "search's best, favoured by its own selection, does not beat it, so no fresh seeds are spent"
            if sweep_cfg.confirm.if_ahead and any(t.status == "finished" for t in store.trials.values())
            else f"{sweep_dir} has no finished trial with a finite {sweep_cfg.metric}, so there is nothing to confirm"
        )
        if sweep_cfg.stage == "confirm":
            raise ActotError(f"stage=confirm: {text}; run a search whose trials finish first")
        say(f"confirm stage skipped: {text}")
        return None
    if section.get("sequential"):
        return _run_looks(settings, folder, section, hooks)
    total = len(section["points"])
    ended = sum(t.status in FINAL_STATUSES for t in confirm_trials(store).values())
    baseline = sum(p.get("arm") == ARM_BASELINE for p in section["points"])
    say(
        f"confirm stage: {len(section['configs'])} config(s) x {section['seeds']} new seed(s) "
        f"({', '.join(section['configs'])})"
        + (f" + the baseline on {baseline} new seed(s)" if baseline else "")
        + f"; {ended} of {total} trial(s) ended before"
    )
    if ended >= total:
        return True, ended, total
    from actot.sweep.preflight import check_data

    check_data(settings.space, settings.base_cfg)
    _fit_confirm(settings, folder, section["points"], hooks)
    store.load()
    mine = confirm_trials(store)
    ended = sum(t.status in FINAL_STATUSES for t in mine.values())
    return ended >= total and not any(t.status in sweepdir.OPEN_STATUSES for t in mine.values()), ended, total


def _run_looks(settings: StageSettings, folder: SweepFolder, section: dict, hooks: SweepHooks) -> tuple[bool, int, int]:
    """A sequential confirm stage, from the look it is in: run the look's trials, let the report layer decide, and
    add the next look (stored before it runs) while a config is undecided and the cap allows."""
    if hooks.confirm_look is None:
        raise ActotError(
            "confirm.sequential: the stage decides after each look with the report layer's rule, which "
            "this driver was not given; run it through run_sweep.py (actot.pipeline)"
        )
    sweep_dir, store, seq = folder.path, folder.store, section["sequential"]
    checked = False
    while True:
        number = len(section["looks"])
        look = section["looks"][-1]
        points = [p for p in section["points"] if p.get("look", 1) == number]
        seeds = set(look["seeds"])
        total = len(section["points"])
        ran_before = sum(len(one["seeds"]) for one in section["looks"][:-1])
        ended = _ended(store, seeds)
        say(
            f"confirm look {number}: {len(look['configs'])} config(s) on fresh seed(s) "
            f"{', '.join(map(str, look['seeds']))} ({ran_before + len(look['seeds'])} of at most {seq['max_seeds']})"
            + (" with the baseline" if any(p.get("arm") == ARM_BASELINE for p in points) else "")
            + f"; {ended} of {len(points)} trial(s) ended before"
        )
        if ended < len(points):
            if not checked:
                from actot.sweep.preflight import check_data

                check_data(settings.space, settings.base_cfg)
                checked = True
            _fit_confirm(settings, folder, points, hooks, look=number, seeds=sorted(seeds))
            store.load()
            ended = _ended(store, seeds)
            mine = [t for t in confirm_trials(store).values() if t.seed is not None and int(t.seed) in seeds]
            if ended < len(points) or any(t.status in sweepdir.OPEN_STATUSES for t in mine):
                return False, _ended(store), total
        undecided, lines = hooks.confirm_look(sweep_dir)
        for line in lines:
            say(line)
        so_far = ran_before + len(look["seeds"])
        if not undecided or so_far >= seq["max_seeds"]:
            return True, _ended(store), total
        first = max(section["new_seeds"]) + 1
        fresh = list(range(first, first + min(seq["seeds_per_look"], seq["max_seeds"] - so_far)))
        section["looks"].append({"seeds": fresh, "configs": undecided})
        section["points"] += _points(settings, store, undecided, fresh, number + 1)
        section["new_seeds"] = section["new_seeds"] + fresh
        _store_section(sweep_dir, section)


def _ended(store, seeds: set | None = None) -> int:
    """The confirm trials that ended (of `seeds`, when given)."""
    return sum(
        t.status in FINAL_STATUSES
        for t in confirm_trials(store).values()
        if seeds is None or (t.seed is not None and int(t.seed) in seeds)
    )


def _fit_confirm(
    settings: StageSettings,
    folder: SweepFolder,
    section_points: list[dict],
    hooks: SweepHooks,
    look: int = 1,
    seeds: list[int] | None = None,
) -> None:
    from ray.tune.schedulers import FIFOScheduler
    from ray.tune.search import BasicVariantGenerator

    from actot.sweep.callbacks import ResultsRecorder
    from actot.sweep.trainable import TrialSetup
    from actot.sweep.tuner import build_tuner, ray_session

    sweep_cfg, sweep_dir, store, plan = settings.sweep_cfg, folder.path, folder.store, settings.plan
    setup = TrialSetup(
        settings.space,
        settings.base_overrides,
        settings.rules,
        folder.name,
        sweep_dir / sweepdir.TRIALS_DIR,
        sweep_cfg.metric,
        shadow=sweep_cfg.rules_shadow,
        baseline=plan.baseline if plan is not None else None,
    )
    points = [{**p["params"], **{k: p[k] for k in CONFIRM_KEYS if k in p}} for p in section_points]
    with ray_session(sweep_cfg):
        tuner = build_tuner(
            sweep_cfg,
            setup,
            name=confirm_dir(look),
            storage_path=str(sweep_dir),
            num_samples=len(points),
            max_failures=0,
            callbacks=[
                ResultsRecorder(store, len(points), seed=settings.base_overrides["seed"], stage="confirm", seeds=seeds),
                *hooks.callbacks(sweep_dir),
            ],
            param_space={k: None for p in points for k in p},  # every point's keys must be declared
            search_alg=BasicVariantGenerator(points_to_evaluate=points),
            scheduler=FIFOScheduler(),
        )
        tuner.fit()
