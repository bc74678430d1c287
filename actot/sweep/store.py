"""A sweep's results, kept current on disk while it runs: the driver's one writer of the sweep folder's index.

In memory: trial id -> its `TrialRecord` (the sweep folder's record of a trial, `actot.sweepdir`). On disk, through
`actot.sweepdir` (the format's owner): `results.parquet`, rewritten atomically whenever a trial
reports a rule decision or ends, so a killed driver loses nothing that had finished, and completed on
load from the trial folders (a resumed trial keeps the steps its previous driver never wrote); each trial's
`trial.json` beside its history, from which a damaged index is rebuilt; and `optuna.db`, each
ended trial mirrored into an Optuna SQLite study (COMPLETE, PRUNED for rule-stopped, FAIL), which
`optuna-dashboard sqlite:///.../optuna.db` opens. The study the search runs on stays in memory:
handing SQLite to OptunaSearch broke Tuner.restore after a SIGKILL.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import sqlalchemy.exc
from optuna.exceptions import StorageInternalError

from actot import sweepdir
from actot.errors import ActotError
from actot.sweep.space import SearchSpace
from actot.sweepdir import FILLED_KEY, FINAL_STATUSES, SHADOW_KEY, TrialRecord, say


# A mirror write that meets a locked database is tried this often, waiting MIRROR_BACKOFF_S, then twice that, ...:
# a database that stays locked holds a trial's end up for 3 x sweepdir.SQLITE_TIMEOUT_S + 3 s, then is a WARNING.
MIRROR_TRIES = 3
MIRROR_BACKOFF_S = 1.0


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cause(err: Exception) -> str:
    """The first line of what went wrong: for Optuna's StorageInternalError, the SQLAlchemy error it wraps."""
    cause = err.__cause__ if isinstance(err, StorageInternalError) and err.__cause__ is not None else err
    return str(cause).splitlines()[0] if str(cause).strip() else type(cause).__name__


class ResultsStore:
    """In-memory trials mirrored to the sweep folder's index, trial records and Optuna study."""

    def __init__(
        self,
        sweep_dir: Path,
        space: SearchSpace,
        metric: str,
        mode: str,
        study_name: str,
        total_steps: int | None = None,
        score_last_k: int = 1,
    ):
        self.sweep_dir = Path(sweep_dir)
        self.total_steps = total_steps
        self.path = self.sweep_dir / sweepdir.RESULTS_FILE
        self.space, self.metric, self.mode, self.study_name = space, metric, mode, study_name
        self.score_last_k = score_last_k
        self.trials: dict[str, TrialRecord] = {}

    # ------------------------------------------------------------------ state
    def load(self) -> None:
        """Read back what an earlier (interrupted) driver wrote, completed from the trial folders (a damaged
        index is rebuilt from them); what the folders added is written to the index at once."""
        rows, completed = sweepdir.read_index(self.sweep_dir)
        self.trials = sweepdir.trials_of(rows)
        for trial in self.trials.values():
            trial.params = sweepdir.typed_params(trial.params, self.space.distributions)
            if trial.status not in FINAL_STATUSES:
                trial.status = "interrupted"  # its driver died; Ray resumes or replaces it
        if completed:
            try:
                self.write()
            except ActotError as err:  # the folders still hold it: the next read completes the index again
                say(f"WARNING: {err}")

    def entry(self, trial_id: str, params: dict) -> TrialRecord:
        """The trial's record, created (as running) on first sight."""
        if trial_id not in self.trials:
            self.trials[trial_id] = TrialRecord(trial_id, dict(params), status="running")
        return self.trials[trial_id]

    def retried(self, trial_id: str, params: dict) -> int:
        """Ray retries the trial (its node died, or it raised with retries left); return the retry count."""
        trial = self.entry(trial_id, params)
        trial.retries = int(trial.retries or 0) + 1
        self.record(trial_id)
        return trial.retries

    def start(self, trial_id: str, params: dict, columns: dict | None = None) -> None:
        """The trial (re)starts, with per-trial columns its Ray config gives (CONFIRM_KEYS)."""
        trial = self.entry(trial_id, params)
        trial.update(status="running", **(columns or {}))
        self.record(trial_id)

    def mark(self, trial_id: str, **columns) -> None:
        """Set per-trial columns of a trial that may have ended (e.g. `raced`) and write them."""
        self.trials[trial_id].update(**columns)
        self.record(trial_id)
        self.write()

    def is_confirm(self, trial_id: str) -> bool:
        return bool(self.trials[trial_id].confirm_of)

    def search_ended(self) -> int:
        """How many trials of the search stage (not the confirm stage) have ended."""
        return sum(t.status in FINAL_STATUSES for t in self.trials.values() if not t.confirm_of)

    def add_result(self, trial_id: str, params: dict, result: dict) -> list[dict]:
        """Add one report; return the shadow decisions that are new (a rule's first)."""
        trial = self.entry(trial_id, params)
        row = {"step": int(result.get("step", 0))}
        filled = set((result.get(FILLED_KEY) or "").split(","))  # NaN stand-ins for Ray, not measurements
        row.update({k: float(v) for k, v in result.items() if _number(v) and sweepdir.is_stored(k) and k not in filled})
        trial.history = [r for r in trial.history if r["step"] < row["step"]] + [row]
        if _number(result.get("resumed_from_step")):  # a retry that resumed from its checkpoint
            trial.resumed_from = int(result["resumed_from_step"])
        if result.get("stop_rule"):
            trial.update(
                stop_rule=result["stop_rule"],
                stop_step=int(result.get("stop_step", row["step"])),
                stop_reason=result.get("stop_reason"),
            )
        if result.get("flags"):
            seen = set(filter(None, (trial.flags or "").split(",")))
            trial.flags = ",".join(sorted(seen | set(result["flags"].split(","))))
        new = self.add_shadow(trial, result.get(SHADOW_KEY))
        if result.get("stop_rule") or result.get("flags") or new:
            self.record(trial_id)
        return new

    def complete_history(self, trial: TrialRecord) -> None:
        """The trial's steps from its own history.parquet (the truth for its steps, as `sweepdir.complete_rows` has it)
        where that differs and reaches as far: a trial resumed from a checkpoint reports only the steps after it, and
        with object storage the steps before it were in no index this driver read (its history reaches the local
        mirror when it ends: `RemoteSweep.pull_trial`)."""
        own = sweepdir.trial_history(self.sweep_dir, trial.trial_id)
        seen = trial.history[-1]["step"] if trial.history else -1
        if own and own[-1]["step"] >= seen and not sweepdir.same_history(own, trial.history):
            trial.history = own

    @staticmethod
    def add_shadow(trial: TrialRecord, text: str | None) -> list[dict]:
        """Merge a report's shadow decisions into the trial's; return those that are new (a rule's first)."""
        if not text:
            return []
        known = json.loads(trial.shadow or "[]")
        new = [d for d in json.loads(text) if d["rule"] not in {k["rule"] for k in known}]
        if new:
            trial.shadow = json.dumps(sorted(known + new, key=lambda d: (d["step"], d["rule"])))
        return new

    def finish(self, trial_id: str, error: bool = False, reason: str | None = None) -> None:
        trial = self.trials[trial_id]
        self.complete_history(trial)
        last = trial.history[-1] if trial.history else {}
        if error:
            trial.update(status="error", stop_reason=reason or "the trial raised an error")
        elif last.get(sweepdir.NON_FINITE):  # before the rules: the non_finite rule fires on it as well
            bad = next((k for k, v in last.items() if isinstance(v, float) and not math.isfinite(v)), None)
            trial.update(
                status="non_finite",
                stop_step=int(last["step"]),
                stop_reason=trial.stop_reason
                or (
                    f"{bad}={last[bad]} at step {last['step']}" if bad else f"a non-finite value at step {last['step']}"
                ),
            )
        elif trial.stop_rule:
            trial.status = "stopped"
        elif self.total_steps is not None and last.get("step", self.total_steps) < self.total_steps:
            # Ended early without a rule or an error: the scheduler (ASHA) stopped it.
            trial.update(
                status="stopped",
                stop_rule="asha",
                stop_step=int(last["step"]),
                stop_reason=f"the scheduler stopped it at step {last['step']} of {self.total_steps}",
            )
        else:
            trial.status = "finished"
        try:
            self.record(trial_id)
            self.write()
        finally:
            self.mirror(trial_id)

    # ------------------------------------------------------------------ files
    def record(self, trial_id: str) -> None:
        """The trial's own record in its folder: what rebuilds the index if results.parquet is lost."""
        try:
            sweepdir.write_trial_record(self.sweep_dir, self.trials[trial_id])
        except OSError as err:
            raise ActotError(
                f"{sweepdir.trial_dir(self.sweep_dir, trial_id)}: cannot be written "
                f"({err.strerror or err}); free space, then resume with resume=true"
            ) from err

    def write(self) -> None:
        sweepdir.write_rows(self.sweep_dir, sweepdir.rows_of(self.trials.values()))

    def mirror(self, trial_id: str | None = None) -> None:
        """Add the ended trials the SQLite study lacks (keyed by their Ray trial ids): `trial_id`'s, and any whose
        mirroring failed before.

        Optuna cannot change an ended trial, so when a trial's outcome changed (an errored trial
        retried on resume), or the file cannot be read, the study is rebuilt from the store into a
        new file that replaces the old. A locked database (another connection writing, a loaded
        machine) is tried again MIRROR_TRIES times; what still fails is one ActotError, which the
        sweep says and goes on from (the next trial end mirrors what this one missed). Optuna wraps
        SQLAlchemy's errors at commit in its own StorageInternalError, which is caught here too.
        """
        db = self.sweep_dir / sweepdir.OPTUNA_FILE
        for attempt in range(MIRROR_TRIES):
            try:
                self._mirror(db)
                return
            except (StorageInternalError, sqlalchemy.exc.OperationalError) as err:
                if attempt + 1 < MIRROR_TRIES:
                    time.sleep(MIRROR_BACKOFF_S * 2**attempt)
                    continue
                raise ActotError(
                    f"{db}: cannot be written ({_cause(err)}); results.parquet still holds every trial; it is "
                    "mirrored again when the next trial ends"
                ) from err
            except (OSError, sqlalchemy.exc.SQLAlchemyError) as err:
                raise ActotError(
                    f"{db}: cannot be written ({str(err).splitlines()[0]}); results.parquet still holds "
                    "every trial; free space, then resume with resume=true"
                ) from err

    def _mirror(self, db: Path) -> None:
        distributions = self.space.distributions
        if db.is_file() and not sweepdir.study_is_readable(db):
            say(f"{db} could not be read: rebuilt from the index")
        else:
            study = sweepdir.open_study(db, self.study_name, self.mode)
            seen = {
                t.user_attrs.get("ray_trial_id"): t.user_attrs.get("status") for t in study.get_trials(deepcopy=False)
            }
            ended = [trial for trial in self.trials.values() if trial.status in FINAL_STATUSES]
            if all(seen.get(t.trial_id, t.status) == t.status for t in ended):
                for t in ended:  # this trial, and any whose mirroring an earlier failed write missed
                    if t.trial_id not in seen:
                        study.add_trial(sweepdir.frozen_trial(t, self.metric, distributions, self.score_last_k))
                return
            del study
        sweepdir.write_study(
            self.sweep_dir,
            self.trials.values(),
            self.metric,
            self.mode,
            self.study_name,
            distributions,
            self.score_last_k,
        )

    # ------------------------------------------------------------------ summary
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for trial in self.trials.values():
            out[trial.status] = out.get(trial.status, 0) + 1
        return out

    def best_so_far(self) -> float | None:
        """The best metric any trial has reported so far, rule-stopped trials aside (their early values flatter).

        Over every report, not each trial's latest: a leader whose latest report got worse does not
        pull the progress line's "best so far" back with it.
        """
        values = [
            r[self.metric]
            for t in self.trials.values()
            if t.status not in ("stopped", "non_finite", "error")
            for r in t.history
            if _number(r.get(self.metric)) and math.isfinite(r[self.metric])
        ]
        return (min if self.mode == "min" else max)(values) if values else None

    def final_metric(self, trial: TrialRecord) -> float | None:
        values = [r[self.metric] for r in trial.history if self.metric in r and math.isfinite(r[self.metric])]
        return values[-1] if values else None
