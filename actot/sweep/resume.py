"""What makes a resume exact: the sweep folder's `sweep.json` is the truth, and one driver at a time.

`resume=true` (and `stage=confirm`) starts from the stored settings (`stored_settings`): the space,
the sweep keys, the rules and the training keys of sweep.json, with only what the command line gives
on top (a space= file, the keys a sweep= file sets, key=value), so `name=NAME resume=true` alone
runs the stored sweep. The resolved config is then compared with the stored one, key by key; a
difference (a key given with another value) refuses the resume in one line naming each changed key
with its stored and given value. Ray restores the search space, the searcher and the scheduler from
its own state, so a resume that mixed old and new settings would run neither sweep. Only where the
sweep runs may change: RUNTIME_KEYS; where this driver runs (PLACE_KEYS) comes from its own command.

`driver.lock` in the sweep folder is held with `flock` for the driver's life; the kernel
releases it when the driver exits or is killed, so a dead driver never leaves it stuck.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from optuna.distributions import distribution_to_json

from actot.config import to_dict
from actot.errors import ActotError
from actot.sweep.config import apply_cli, build_sweep, load_sweep
from actot.sweep.space import describe, stored_space
from actot.sweep.storage import RemoteSweep, is_uri, local_mirror
from actot.sweepdir import SPEC_FILE, read_spec

if TYPE_CHECKING:
    from actot.sweep.stage import StageSettings

# Sweep keys that say where and how a sweep runs, not what it searches: free to change on resume.
RUNTIME_KEYS = (
    "resume",
    "name",
    "storage",
    "ray_address",
    "ray_temp_dir",
    "experiment_save_s",
    "verbose",
    # The confirm stage comes after the search and keeps its own settings in sweep.json's
    # `confirm` section (checked by actot/sweep/confirm.py): adding it is not a change.
    "stage",
    "confirm",
)
# Runtime keys that say where this driver runs: a resume takes them from its own command line (or the
# sweep file it names, or sweeps/local.yaml), never from sweep.json (its temp folder or cluster may be gone).
PLACE_KEYS = ("resume", "name", "storage", "ray_address", "ray_temp_dir", "experiment_save_s", "verbose")
# Parts of sweep.json that describe rather than define (names, paths, text forms of the above).
DESCRIPTIVE = (
    "confirm",
    "space.name",
    "space.path",
    "space.description",
    "space.knobs",
    "space.starting_points",
    "rules",
    "sweep.rules",
    "sweep.train",
)


def resolved_config(settings: StageSettings) -> dict:
    """The resolved sweep, as printed and stored in sweep.json (JSON types only)."""
    space, sweep_cfg, rules = settings.space, settings.sweep_cfg, settings.rules
    resolved = {
        "space": {
            "name": space.name,
            "path": str(Path(space.path).resolve()),
            "description": space.description,
            "knobs": describe(space),
            "starting_points": space.point_names,
            "params": {k: json.loads(distribution_to_json(d)) for k, d in space.distributions.items()},
            "fixed": space.fixed,
            "points": [{"name": n, **p} for n, p in zip(space.point_names, space.starting_points)],
        },
        "sweep": dataclasses.asdict(sweep_cfg),
        "rules": [r.describe() for r in rules],
        "rule_settings": {r.name: dataclasses.asdict(r) for r in rules},
        "train": to_dict(settings.base_cfg),
    }
    if settings.plan is not None:  # the seeds and the baseline every config is compared on (the report reads them)
        resolved["paired"] = settings.plan.to_dict()
    return json.loads(json.dumps(resolved, default=str))


def _flatten(node, prefix: str = "") -> dict:
    if isinstance(node, dict) and node:
        out = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: node}


def comparable(resolved: dict) -> dict:
    """The keys that define a sweep, dotted."""
    flat = _flatten(resolved)
    skip = DESCRIPTIVE + tuple(f"sweep.{k}" for k in RUNTIME_KEYS)
    return {k: v for k, v in flat.items() if not any(k == s or k.startswith(s + ".") for s in skip)}


def check_same_config(sweep_dir: Path, resolved: dict, argv: list[str]) -> None:
    """Refuse a resume whose settings differ from the stored ones, naming every changed key."""
    path = sweep_dir / "sweep.json"
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise ActotError(
            f"resume=true but {path} is missing, so this folder's settings are unknown; "
            "start a new sweep with another name="
        ) from err
    except (OSError, ValueError) as err:
        raise ActotError(f"{path}: cannot be read ({err}); start a new sweep with another name=") from err
    old, new = comparable(stored), comparable(resolved)
    missing = object()
    changed = [
        f"{key} {_show(old.get(key, missing))} -> {_show(new.get(key, missing))}"
        for key in sorted(set(old) | set(new))
        if old.get(key, missing) != new.get(key, missing)
    ]
    if changed:
        shown = "; ".join(changed[:8]) + (f"; and {len(changed) - 8} more" if len(changed) > 8 else "")
        raise ActotError(
            f"resume=true: {path} was started with other settings: {shown}. Resume with the settings "
            f"it was started with (leave these out: name={sweep_dir.name} resume=true alone runs them), "
            "or start a new sweep with these: drop resume=true and pick another name="
        )


def read_stored(storage: str, name: str) -> dict | None:
    """sweep.json of the sweep `name` in `storage` (a folder or object storage), or None when there is none."""
    if not is_uri(storage):
        folder = (Path(storage).expanduser() / name).resolve()
        if not (folder / SPEC_FILE).is_file():
            return None
        return read_spec(folder)
    remote = RemoteSweep(storage, name, local_mirror(storage, name))
    if not remote.exists(SPEC_FILE):
        return None
    try:
        with remote.fs.open_input_stream(f"{remote.path}/{SPEC_FILE}") as stream:
            return json.loads(stream.read())
    except (OSError, ValueError) as err:
        raise ActotError(
            f"{remote.uri}/{SPEC_FILE}: cannot be read ({str(err).splitlines()[0]}); it is the sweep's "
            "settings: restore it, or start a new sweep with another name="
        ) from err


def stored_settings(space, sweep_cfg, sweep_file: str | None, words: list[str]):
    """(space, sweep config) a resume runs: sweep.json's, with what the command line gives on top.

    `space`: the space= file's, or None; `sweep_cfg`: the command line as a new sweep would read it (it says where
    the sweep is, and PLACE_KEYS); `sweep_file`: the sweep= the command line names, or None; `words`: its
    key=value words. Without a stored sweep the command line's settings stand (opening the folder says what
    is missing), unless it names no space.
    """
    stored = read_stored(sweep_cfg.storage, sweep_cfg.name) if sweep_cfg.name else None
    if stored is None:
        if space is not None:
            return space, sweep_cfg
        where = f"{sweep_cfg.storage}/{sweep_cfg.name}" if sweep_cfg.name else f"storage={sweep_cfg.storage}"
        how = "resume=true" if sweep_cfg.resume else "stage=confirm"
        raise ActotError(
            f"{how}: {where} holds no sweep.json, so there are no settings to resume; pass the name= "
            "(and storage=) of an earlier sweep, or space=NAME to start a new one"
        )
    base = {k: v for k, v in (stored.get("sweep") or {}).items() if k not in PLACE_KEYS}
    resumed = (
        load_sweep(sweep_file, base)[0]
        if sweep_file is not None
        else build_sweep({}, f"{sweep_cfg.storage}/{sweep_cfg.name}/{SPEC_FILE}", base)
    )
    resumed = apply_cli(resumed, words)
    if resumed.metric != base.get("metric") and resumed.mode == base.get("mode"):
        resumed.mode = None  # the stored direction was the stored metric's: a given metric brings its own
    for key in PLACE_KEYS:
        setattr(resumed, key, getattr(sweep_cfg, key))
    return (space if space is not None else stored_space(stored)), resumed


def _show(value) -> str:
    return "(absent)" if not isinstance(value, (str, int, float, bool, list, dict, type(None))) else json.dumps(value)


def lock_sweep_dir(sweep_dir: Path):
    """Hold `driver.lock` (flock) for this process's life; refuse if another driver holds it."""
    handle = open(sweep_dir / "driver.lock", "a+")  # not inherited by Ray's child processes (PEP 446)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as err:
        handle.seek(0)
        pid = handle.read().strip() or "unknown"
        handle.close()
        raise ActotError(
            f"{sweep_dir} is in use by another driver (pid {pid}); wait for it to end, or stop it "
            "and resume with resume=true"
        ) from err
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
