"""What a sweep folder holds, and the one code that reads and writes its index.

The format's one owner (as LeRobot's dataset metadata owns a dataset's layout): the sweep layer
writes through this module, the report layer reads through it, and neither imports the other.

    sweeps_out/NAME/
      sweep.json          the resolved space, sweep keys, rules and training config (the truth on resume)
      results.parquet     the index: one row per (trial, report), columns below
      optuna.db           each ended trial mirrored into an Optuna study (optuna-dashboard opens it)
      driver.lock         held by the running driver
      trials/ID/          one trial: config.json, history.parquet, summary.json (the trainer's),
                          trial.json (the driver's record of it: status, rule decisions, seed, ...)
      confirm/            Ray's state of the confirm stage (a sequential one's first look; confirm-look2/, ... the next)

`results.parquet` can always be rebuilt from the trial folders (`rebuild_rows`): a damaged index
is rebuilt and written back on the next read, with one line saying so; nothing a trial recorded
is lost. Each read also completes the index from the trial folders (`complete_rows`): a trial's
history.parquet is the truth for its steps, and the index only copies it when a trial decides or
ends, so a driver stopped mid-trial leaves steps (and trials) that only the folders hold.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path

from actot.errors import ActotError

SPEC_FILE = "sweep.json"
RESULTS_FILE = "results.parquet"
OPTUNA_FILE = "optuna.db"
LOCK_FILE = "driver.lock"
TRIALS_DIR = "trials"
CONFIRM_DIR = "confirm"  # Ray's state of the confirm stage


def confirm_dir(look: int = 1) -> str:
    """Ray's state of a confirm stage's look: `confirm` (the stage, or a sequential stage's first look), then
    `confirm-look2`, ...: each look is a Tuner of its own over its fresh seeds."""
    return CONFIRM_DIR if look <= 1 else f"{CONFIRM_DIR}-look{look}"


TRIAL_RECORD = "trial.json"  # in a trial's folder: the driver's record of the trial
TRIAL_HISTORY = "history.parquet"
TRIAL_SUMMARY = "summary.json"
TRIAL_CONFIG = "config.json"  # in a trial's folder: the trainer's training config (to_dict(TrainConfig))
SHORTLIST_DIR = "shortlist"  # `python -m actot shortlist`'s folder for the robot, by default
SHORTLISTS_FILE = "shortlists.json"  # the shortlists written elsewhere (out=...), so the report finds their verdicts
# The files only the driver writes (object storage keeps them in sync with the bucket).
DRIVER_FILES = (
    SPEC_FILE,
    RESULTS_FILE,
    OPTUNA_FILE,
    "report.md",
    "report.zh.md",
    "next_space.yaml",
    "dashboard.html",
    "curves.png",
)

# How a trial ended; `running` and `interrupted` (its driver died) are not ends.
FINAL_STATUSES = ("finished", "stopped", "non_finite", "error")
OPEN_STATUSES = ("running", "interrupted")
INT_COLUMNS = ("step", "stop_step", "retries", "resumed_from")
PARAM_PREFIX = "param/"  # a searched knob: param/ot.reg, param/ot.tau_a, param/ot.weight_embed.0
# A report key naming the metrics the trainable filled in as NaN (Ray rejects a report that lacks the
# sweep metric): never stored as values.
FILLED_KEY = "filled_metrics"
# rules.shadow=true: the rules that fired at a report (JSON list of {rule, action, step, reason}); the
# trial's `shadow` column keeps each rule's first decision, i.e. what it would have done.
SHADOW_KEY = "shadow"
# Keys of a trial's Ray config that are not knobs: its training seed, the trial a confirm trial repeats, its arm
# (ARM_CONFIG: one seed of a searched config; ARM_BASELINE: the baseline arm, e.g. co-training) and the id that
# groups a config's seeds (the paired-seed scheme, `actot.sweep.paired`).
CONFIRM_KEYS = ("seed", "confirm_of", "arm", "config_id")
ARM_CONFIG, ARM_BASELINE = "config", "baseline"
# `raced` (a trial column): JSON {"vs": incumbent config_id, "p": probability it beats the incumbent, "seeds_run":
# [...], "seeds_skipped": [...], "steps_saved": int} on the last trial of a config whose remaining seeds racing skipped.
NON_FINITE = "non_finite"  # a marker column: 1.0 on the report where a value went NaN or infinite


@dataclass
class TrialRecord:
    """One trial as the sweep folder records it: the sweep's store fills it in as the trial runs, the report layer
    reads it (`actot.report.load.Trial` adds how tables name it).

    Its fields but `params` and `history` are the per-trial columns (TRIAL_COLUMNS, in this order), repeated on each
    of the trial's index rows and kept in its trial.json; `params` are its knobs (the `param/` columns), `history`
    its reports, sorted by step.
    """

    trial_id: str
    params: dict = field(default_factory=dict)  # knob -> value: a searched key as Optuna names it (ot.reg)
    status: str | None = None  # FINAL_STATUSES, or OPEN_STATUSES while it has not ended
    stop_rule: str | None = None  # the rule (or `asha`) that stopped it, at stop_step, saying stop_reason
    stop_step: int | None = None
    stop_reason: str | None = None
    flags: str | None = None  # the rules that flagged it, comma-separated
    shadow: str | None = None  # rules.shadow=true: JSON list of each rule's first {rule, action, step, reason}
    seed: int | None = None  # its training seed (seed to config_id: CONFIRM_KEYS, from its Ray config)
    confirm_of: str | None = None  # a confirm trial: the search trial whose config it repeats
    retries: int | None = None  # how often Ray retried it (its node died)
    resumed_from: int | None = None  # the checkpoint step its last retry resumed from
    arm: str | None = None  # a paired sweep: ARM_CONFIG or ARM_BASELINE
    config_id: str | None = None  # a paired sweep: the id grouping a config's seeds (c000, ...; baseline)
    raced: str | None = None  # a paired sweep: what racing skipped (JSON, see `raced` above)
    history: list[dict] = field(default_factory=list)  # {'step': int, metric: value, ...} sorted by step

    @classmethod
    def of(cls, trial_id: str, columns: dict, params: dict, history: list[dict] | None = None) -> TrialRecord:
        """The record of a mapping that holds its columns (an index row, a trial.json); other keys are left out."""
        return cls(
            trial_id=trial_id,
            params=params,
            history=history if history is not None else [],
            **{k: columns.get(k) for k in TRIAL_COLUMNS if k != "trial_id"},
        )

    def columns(self) -> dict:
        """Its per-trial columns, TRIAL_COLUMNS in order (trial_id first)."""
        return {k: getattr(self, k) for k in TRIAL_COLUMNS}

    def update(self, **columns) -> None:
        """Set per-trial columns by name (a name that is not one is an error, not a new attribute)."""
        for key, value in columns.items():
            if key not in TRIAL_COLUMNS or key == "trial_id":
                raise KeyError(f"{key!r} is not a per-trial column of a sweep folder's index")
            setattr(self, key, value)


# Per-trial columns, repeated on each of the trial's rows: not knobs, not metrics (TrialRecord's fields, in order).
TRIAL_COLUMNS = tuple(f.name for f in fields(TrialRecord) if f.name not in ("params", "history"))


def is_metric(key: str) -> bool:
    """A measurement of the policy or of OT (train/, eval/, ot_), as opposed to Ray's bookkeeping."""
    return key.startswith(("train/", "eval/", "ot_"))


def is_stored(key: str) -> bool:
    """What the index keeps of a report: the metrics, the step timing (time/) and the non-finite marker."""
    return is_metric(key) or key.startswith("time/") or key == NON_FINITE


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def say(line: str) -> None:
    print(f"[sweep] {line}", file=sys.stdout, flush=True)


# ---------------------------------------------------------------------------------------- sweep.json
def read_spec(sweep_dir) -> dict:
    """sweep.json, with one-line errors for a folder that is not a sweep or a spec that is damaged."""
    path = Path(sweep_dir)
    spec = path / SPEC_FILE
    if not path.is_dir():
        raise ActotError(f"{path}: no such folder; pass a sweep folder such as sweeps_out/NAME")
    if not spec.is_file():
        raise ActotError(f"{path}: no {SPEC_FILE}, so this is not a sweep folder; pass one such as sweeps_out/NAME")
    try:
        return json.loads(spec.read_text())
    except (OSError, ValueError) as err:
        raise ActotError(
            f"{spec}: cannot be read ({str(err).splitlines()[0]}); was the sweep's driver killed while "
            "writing it? It is the sweep's settings: restore it, or start a new sweep with another "
            "name="
        ) from err


def write_spec(sweep_dir, resolved: dict) -> None:
    """sweep.json, atomically (a killed driver leaves the old one or the new one, never half of one)."""
    path = Path(sweep_dir) / SPEC_FILE
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(resolved, indent=2, default=str))
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------- the index
def rows_of(trials: Iterable[TrialRecord]) -> list[dict]:
    """Index rows from trial records: each report's row, or one row without a step for a trial with none."""
    rows = []
    for trial in trials:
        base = {**trial.columns(), **{f"{PARAM_PREFIX}{k}": v for k, v in trial.params.items()}}
        for row in trial.history or [{"step": None}]:
            rows.append({**base, **row})
    return rows


def trials_of(rows: list[dict]) -> dict[str, TrialRecord]:
    """Trial id -> its record, from index rows: params untyped (as parquet gives them), history sorted by step."""
    trials: dict[str, TrialRecord] = {}
    for row in rows:
        trial = trials.get(row["trial_id"])
        if trial is None:
            trial = trials[row["trial_id"]] = TrialRecord.of(
                row["trial_id"],
                row,
                {k[len(PARAM_PREFIX) :]: v for k, v in row.items() if k.startswith(PARAM_PREFIX) and v is not None},
            )
        if row.get("step") is not None:
            trial.history.append({k: v for k, v in row.items() if (k == "step" or is_stored(k)) and v is not None})
    for trial in trials.values():
        trial.history.sort(key=lambda r: r["step"])
    return trials


def write_rows(sweep_dir, rows: list[dict]) -> None:
    """results.parquet from index rows, typed per column, atomically; a failed write keeps the old file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not rows:
        return
    path = Path(sweep_dir) / RESULTS_FILE
    columns = list(dict.fromkeys(k for r in rows for k in r))
    arrays = {}
    for col in columns:
        values = [r.get(col) for r in rows]
        present = [v for v in values if v is not None]
        if col in INT_COLUMNS:
            arrays[col] = pa.array([None if v is None else int(v) for v in values], pa.int64())
        elif present and all(isinstance(v, bool) for v in present):
            arrays[col] = pa.array(values, pa.bool_())
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            arrays[col] = pa.array(values, pa.int64())
        elif all(v is None or _number(v) for v in values):
            arrays[col] = pa.array([None if v is None else float(v) for v in values], pa.float64())
        else:
            arrays[col] = pa.array([None if v is None else str(v) for v in values], pa.string())
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(arrays), tmp)
        os.replace(tmp, path)
    except OSError as err:  # a full disk, a quota: the last complete file stays in place
        tmp.unlink(missing_ok=True)
        raise ActotError(
            f"{path}: cannot be written ({err.strerror or err}); the previous version is kept; "
            "free space, then resume with resume=true"
        ) from err


def read_index(sweep_dir) -> tuple[list[dict], bool]:
    """(the index's rows completed from the trial folders, whether the folders added to it).

    A damaged index is rebuilt from the trial folders, written back, and said in one line. The driver copies
    a trial's reports into the index only when a trial decides or ends, so the trial folders hold what a
    stopped driver had not copied yet: trials it had started, and the steps before a resumed trial's
    checkpoint (`complete_rows`).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(sweep_dir) / RESULTS_FILE
    if not path.is_file():
        rows = rebuild_rows(sweep_dir) if (Path(sweep_dir) / TRIALS_DIR).is_dir() else []
        return rows, bool(rows)
    try:
        rows = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as err:
        damaged = path.with_name(f"{RESULTS_FILE}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        rows = rebuild_rows(sweep_dir)
        os.replace(path, damaged)
        if rows:
            write_rows(sweep_dir, rows)
        say(
            f"{path} could not be read ({str(err).splitlines()[0][:80]}): rebuilt from the "
            f"{len({r['trial_id'] for r in rows})} trial folder(s); the damaged file is kept as {damaged.name}"
        )
        return rows, False
    return complete_rows(sweep_dir, rows)


def read_rows(sweep_dir) -> list[dict]:
    """The index's rows, completed from the trial folders (`read_index`)."""
    return read_index(sweep_dir)[0]


# ---------------------------------------------------------------------------------------- trial folders
def shortlist_folders(sweep_dir) -> list[Path]:
    """The robot shortlists made of this sweep: its own `shortlist/` and those written elsewhere and registered
    (`register_shortlist`), in that order; only folders that still exist."""
    sweep_dir = Path(sweep_dir)
    found = [sweep_dir / SHORTLIST_DIR]
    try:
        found += [Path(p) for p in json.loads((sweep_dir / SHORTLISTS_FILE).read_text())]
    except (OSError, ValueError, TypeError):
        pass  # none registered (or an unreadable list: the default folder is still found)
    seen, out = set(), []
    for folder in found:
        key = folder.resolve()
        if key not in seen and folder.is_dir():
            seen.add(key)
            out.append(folder)
    return out


def register_shortlist(sweep_dir, folder) -> None:
    """Note a shortlist written outside the sweep folder, so the sweep's report finds its verdict."""
    sweep_dir, folder = Path(sweep_dir), Path(folder).resolve()
    if folder == (sweep_dir / SHORTLIST_DIR).resolve():
        return
    path = sweep_dir / SHORTLISTS_FILE
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = []
    if str(folder) not in known:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps([*known, str(folder)], indent=2))
        os.replace(tmp, path)


def trial_dir(sweep_dir, trial_id: str) -> Path:
    return Path(sweep_dir) / TRIALS_DIR / trial_id


def write_trial_record(sweep_dir, trial: TrialRecord) -> None:
    """The driver's record of one trial (everything of its index rows but the history), beside its history."""
    folder = trial_dir(sweep_dir, trial.trial_id)
    folder.mkdir(parents=True, exist_ok=True)
    record = {"params": trial.params, **{k: v for k, v in trial.columns().items() if k != "trial_id"}}
    tmp = folder / f"{TRIAL_RECORD}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record, default=str))
    os.replace(tmp, folder / TRIAL_RECORD)


def _history(folder: Path) -> list[dict]:
    import pyarrow.parquet as pq

    path = folder / TRIAL_HISTORY
    if not path.is_file():
        return []
    try:
        rows = pq.read_table(path).to_pylist()
    except Exception:  # noqa: BLE001 - a trial killed mid-write: its record still counts, without a history
        return []
    return sorted(
        (
            {k: (int(v) if k == "step" else v) for k, v in r.items() if (k == "step" or is_stored(k)) and v is not None}
            for r in rows
        ),
        key=lambda r: r["step"],
    )


def trial_history(sweep_dir, trial_id: str) -> list[dict]:
    """A trial's own reports (its folder's history.parquet, the truth for its steps), sorted by step; [] without one."""
    return _history(trial_dir(sweep_dir, trial_id))


def trial_config(sweep_dir, trial_id: str) -> dict | None:
    """The training config a trial ran with (its folder's config.json), or None when it wrote none."""
    try:
        config = json.loads((trial_dir(sweep_dir, trial_id) / TRIAL_CONFIG).read_text())
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def _from_config(folder: Path, knobs: list[str]) -> dict:
    """A trial's knob values from its training config (for a trial the driver never recorded)."""
    from actot.knobs import knob_value

    config = trial_config(folder.parent.parent, folder.name)
    if config is None:
        return {}
    out = {}
    for knob in knobs:
        value = knob_value(config, knob)
        if value is not None:
            out[knob] = value
    return out


def _trial_folders(sweep_dir) -> list[Path]:
    trials = Path(sweep_dir) / TRIALS_DIR
    return sorted(p for p in trials.iterdir() if p.is_dir()) if trials.is_dir() else []


def _knobs(sweep_dir) -> list[str]:
    try:
        spec = json.loads((Path(sweep_dir) / SPEC_FILE).read_text())
    except (OSError, ValueError):
        spec = {}
    return list((spec.get("space") or {}).get("params") or {})


def _folder_trial(folder: Path, knobs: list[str]) -> TrialRecord | None:
    """A trial as its folder has it: its record (or, without one, its summary and config) and its own
    history; None for a folder with neither. A trial that had not ended counts as interrupted."""
    try:
        record = json.loads((folder / TRIAL_RECORD).read_text())
    except (OSError, ValueError):
        record = None
    history = _history(folder)
    if record is None:
        try:
            summary = json.loads((folder / TRIAL_SUMMARY).read_text())
        except (OSError, ValueError):
            summary = {}
        if not history and not summary:
            return None
        record = {
            "params": _from_config(folder, knobs),
            "status": summary.get("status") or "interrupted",
            "stop_reason": summary.get("stop_reason") or None,
        }
    if record.get("status") not in FINAL_STATUSES:
        record["status"] = "interrupted"
    return TrialRecord.of(folder.name, record, record["params"], history)


def rebuild_rows(sweep_dir) -> list[dict]:
    """The index, rebuilt from the trial folders (`_folder_trial`)."""
    knobs = _knobs(sweep_dir)
    return rows_of(trial for folder in _trial_folders(sweep_dir) if (trial := _folder_trial(folder, knobs)) is not None)


def same_history(a: list[dict], b: list[dict]) -> bool:
    def same(x, y):  # a non-finite report is a value the index copies: NaN equals NaN here
        return x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))

    return len(a) == len(b) and all(r.keys() == s.keys() and all(same(r[k], s[k]) for k in r) for r, s in zip(a, b))


def complete_rows(sweep_dir, rows: list[dict]) -> tuple[list[dict], bool]:
    """(index rows completed from the trial folders, whether anything was added or replaced).

    A trial's own history.parquet is the truth for its steps (the trainer writes it at every log step,
    before it reports): where it differs from the trial's index rows, it replaces them, so a trial resumed
    from a checkpoint keeps the steps a previous driver saw and never copied. A trial recorded in its folder
    but not in the index is added. Without a readable history (object storage keeps it on the trial's node
    until it ends), the index's rows stand.
    """
    by_trial: dict[str, list[dict]] = {}
    for row in rows:
        by_trial.setdefault(row["trial_id"], []).append(row)
    knobs, completed = None, False
    for folder in _trial_folders(sweep_dir):
        indexed = by_trial.get(folder.name)
        if indexed is None:
            knobs = _knobs(sweep_dir) if knobs is None else knobs
            trial = _folder_trial(folder, knobs)
            if trial is not None:
                by_trial[folder.name] = rows_of([trial])
                completed = True
            continue
        history = _history(folder)
        if history and not same_history(history, trials_of(indexed)[folder.name].history):
            base = {k: v for k, v in indexed[0].items() if k in TRIAL_COLUMNS or k.startswith(PARAM_PREFIX)}
            by_trial[folder.name] = [{**base, **row} for row in history]
            completed = True
    return [row for trial_rows in by_trial.values() for row in trial_rows], completed


# ---------------------------------------------------------------------------------------- optuna.db
def typed_params(params: dict, distributions: dict) -> dict:
    """Knob values as the space defines them: parquet gives ints back as floats, mixed choices as text."""
    import optuna

    out = {}
    for key, value in params.items():
        dist = distributions.get(key)
        if isinstance(dist, optuna.distributions.IntDistribution):
            value = int(value)
        elif isinstance(dist, optuna.distributions.CategoricalDistribution):
            value = next(
                (c for c in dist.choices if c == value and type(c) is type(value)),
                next((c for c in dist.choices if str(c) == str(value)), value),
            )
        out[key] = value
    return out


def spec_distributions(spec: dict) -> dict:
    """Knob -> Optuna distribution, from sweep.json's space."""
    from optuna.distributions import json_to_distribution

    return {k: json_to_distribution(json.dumps(v)) for k, v in ((spec.get("space") or {}).get("params") or {}).items()}


def frozen_trial(trial: TrialRecord, metric: str, distributions: dict, score_last_k: int = 1):
    """An ended trial as Optuna sees it: COMPLETE with its score (its final value, or the mean of its last
    `score_last_k` values), PRUNED when stopped, FAIL otherwise."""
    import optuna

    values = {r["step"]: r[metric] for r in trial.history if _number(r.get(metric)) and math.isfinite(r[metric])}
    final = trial.history[-1].get(metric) if trial.history else None
    if score_last_k > 1 and _number(final) and math.isfinite(final):
        tail = [values[s] for s in sorted(values)][-score_last_k:]
        final = sum(tail) / len(tail)
    state = {"finished": optuna.trial.TrialState.COMPLETE, "stopped": optuna.trial.TrialState.PRUNED}.get(
        trial.status, optuna.trial.TrialState.FAIL
    )
    if state == optuna.trial.TrialState.COMPLETE and not (_number(final) and math.isfinite(final)):
        state = optuna.trial.TrialState.FAIL
    params = {k: v for k, v in trial.params.items() if k in distributions}
    return optuna.trial.create_trial(
        params=params,
        distributions={k: distributions[k] for k in params},
        value=final if state == optuna.trial.TrialState.COMPLETE else None,
        state=state,
        intermediate_values=values,
        user_attrs={
            "ray_trial_id": trial.trial_id,
            "status": trial.status,
            "stop_rule": trial.stop_rule or "",
            "stop_reason": trial.stop_reason or "",
            **{k: getattr(trial, k) for k in CONFIRM_KEYS if getattr(trial, k) is not None},
        },
    )


# How long a write to optuna.db waits for another connection's lock (optuna-dashboard reading it, the report layer)
# before SQLite says "database is locked" (Python's sqlite3 waits 5 s; a loaded machine can hold a lock longer).
SQLITE_TIMEOUT_S = 10.0


# Optuna storages of this process, by (file, inode), newest last: building one checks the file's schema against
# alembic's migration scripts (about 0.05 s of CPU, and a sweep's driver asked for 13), so one is kept per file.
_STORAGES: dict[tuple[str, int], object] = {}
KEPT_STORAGES = 4


def study_storage(db: Path):
    """This process's Optuna storage of the SQLite file `db`, built on first use and kept for later ones.

    Kept per inode: a file replaced (`write_study`, `heal_study`) is a new file, opened anew, and a file damaged in
    place fails at its next query as it would through a new storage. A file that does not exist yet is opened
    without keeping its storage (its inode is not known). The last KEPT_STORAGES are kept; older ones are closed."""
    import optuna

    db = Path(db).resolve()
    try:
        key = (str(db), os.stat(db).st_ino)
    except FileNotFoundError:
        key = None
    storage = _STORAGES.pop(key, None) if key else None
    if storage is None:
        storage = optuna.storages.RDBStorage(
            f"sqlite:///{db}", engine_kwargs={"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
        )
    if key:
        _STORAGES[key] = storage
    while len(_STORAGES) > KEPT_STORAGES:
        oldest = next(iter(_STORAGES))
        _STORAGES.pop(oldest).engine.dispose()
    return storage


def open_study(db: Path, name: str, mode: str):
    import optuna

    return optuna.create_study(
        study_name=name,
        storage=study_storage(db),
        load_if_exists=True,
        direction="minimize" if mode == "min" else "maximize",
    )


def write_study(
    sweep_dir,
    trials: Iterable[TrialRecord],
    metric: str,
    mode: str,
    name: str,
    distributions: dict,
    score_last_k: int = 1,
) -> None:
    """optuna.db anew from the ended trials, in a new file that replaces the old one."""
    db = Path(sweep_dir) / OPTUNA_FILE
    tmp = db.with_suffix(f".{os.getpid()}.tmp.db")
    tmp.unlink(missing_ok=True)
    fresh = open_study(tmp, name, mode)
    for trial in trials:
        if trial.status in FINAL_STATUSES:
            fresh.add_trial(frozen_trial(trial, metric, distributions, score_last_k))
    del fresh
    os.replace(tmp, db)


def study_is_readable(db: Path) -> bool:
    import optuna

    try:
        optuna.get_all_study_names(study_storage(db))
        return True
    except Exception:  # noqa: BLE001 - sqlalchemy's DatabaseError for a torn file, or Optuna's own
        return False


def heal_study(sweep_dir) -> None:
    """optuna.db is a mirror of the index: a damaged one is rebuilt from it (and said in one line)."""
    sweep_dir = Path(sweep_dir)
    db = sweep_dir / OPTUNA_FILE
    if not db.is_file() or study_is_readable(db):
        return
    spec = read_spec(sweep_dir)
    sweep = spec.get("sweep") or {}
    distributions = spec_distributions(spec)
    trials = trials_of(read_rows(sweep_dir))
    for trial in trials.values():
        trial.params = typed_params(trial.params, distributions)
    damaged = db.with_name(f"{OPTUNA_FILE}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(db, damaged)
    write_study(
        sweep_dir,
        trials.values(),
        sweep.get("metric", "eval/avg_l1"),
        sweep.get("mode") or "min",
        sweep.get("name") or sweep_dir.name,
        distributions,
        int(sweep.get("score_last_k") or 1),
    )
    say(
        f"{db} could not be read: rebuilt from the index ({len(trials)} trial(s)); the damaged file is kept as "
        f"{damaged.name}"
    )
