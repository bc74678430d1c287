"""A sweep's results on disk, kept current while it runs, and the ranked table at its end.

- `results.parquet`: one row per (trial, report): trial_id, status, stop_rule, stop_step,
  stop_reason, flags, shadow (rules.shadow=true: what each rule would have done), seed (the
  trial's training seed), confirm_of (for a confirm-stage trial, the search trial whose config it
  repeats), every searched knob as `param/<key>`, `step` and every metric. Rewritten
  (atomically) whenever a trial reports a rule decision or ends, so a killed driver loses
  nothing that had finished.
- `optuna.db`: each finished trial mirrored into an Optuna SQLite study (COMPLETE, PRUNED for
  rule-stopped, FAIL), which `optuna-dashboard sqlite:///.../optuna.db` opens. The study the
  search runs on stays in memory: handing SQLite to OptunaSearch broke Tuner.restore after a
  SIGKILL.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import optuna
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy.exc
from ray.tune import Callback

from actot.errors import ActotError
from actot.sweep.space import SearchSpace

# A result key naming the metrics the trainable filled in as NaN (Ray rejects a report that lacks
# the sweep metric); the store drops them so that they never count as measured values.
FILLED_KEY = "filled_metrics"
# rules.shadow=true: the rules that fired at a report (JSON list of {rule, action, step, reason}); the
# trial's `shadow` column keeps each rule's first decision, i.e. what it would have done.
SHADOW_KEY = "shadow"
TRIAL_COLUMNS = ("trial_id", "status", "stop_rule", "stop_step", "stop_reason", "flags", SHADOW_KEY, "seed",
                 "confirm_of", "retries", "resumed_from")
# Keys of a trial's Ray config that are not knobs: the confirm stage's training seed and the trial it repeats.
CONFIRM_KEYS = ("seed", "confirm_of")
FINAL_STATUSES = ("finished", "stopped", "non_finite", "error")


def is_metric(key: str) -> bool:
    """Our metrics, as opposed to Ray's bookkeeping (timestamp, pid, time_total_s, ...)."""
    return key.startswith(("train/", "eval/", "ot_", "time/")) or key == "non_finite"


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class ResultsStore:
    """In-memory trials (id -> {'params', 'status', ..., 'history'}) mirrored to parquet + SQLite."""

    def __init__(self, sweep_dir: Path, space: SearchSpace, metric: str, mode: str, study_name: str,
                 total_steps: int | None = None):
        self.sweep_dir = Path(sweep_dir)
        self.total_steps = total_steps
        self.path = self.sweep_dir / "results.parquet"
        self.space, self.metric, self.mode, self.study_name = space, metric, mode, study_name
        self.trials: dict[str, dict] = {}

    # ------------------------------------------------------------------ state
    def load(self) -> None:
        """Read back what an earlier (interrupted) driver wrote."""
        self.trials = {}
        if not self.path.is_file():
            return
        try:
            rows = pq.read_table(self.path).to_pylist()
        except (pa.ArrowException, OSError) as err:
            raise ActotError(f"{self.path}: cannot be read ({err}); move it away to resume without the records it held "
                             f"(Ray still knows its trials), or start a new sweep with another name=") from err
        for row in rows:
            trial = self.trials.setdefault(row["trial_id"], {
                "params": self.typed_params({k[6:]: v for k, v in row.items() if k.startswith("param/") and v is not None}),
                **{k: row.get(k) for k in TRIAL_COLUMNS if k != "trial_id"}, "history": []})
            if row.get("step") is not None:
                trial["history"].append({k: v for k, v in row.items()
                                         if k == "step" or (k not in TRIAL_COLUMNS and not k.startswith("param/")
                                                            and v is not None)})
        for trial in self.trials.values():
            if trial["status"] not in FINAL_STATUSES:
                trial["status"] = "interrupted"  # its driver died; Ray resumes or replaces it

    def typed_params(self, params: dict) -> dict:
        """Knob values as the space defines them: parquet gives ints back as floats, mixed choices as text."""
        out = {}
        for key, value in params.items():
            dist = self.space.distributions.get(key)
            if isinstance(dist, optuna.distributions.IntDistribution):
                value = int(value)
            elif isinstance(dist, optuna.distributions.CategoricalDistribution):
                value = next((c for c in dist.choices if c == value and type(c) is type(value)),
                             next((c for c in dist.choices if str(c) == str(value)), value))
            out[key] = value
        return out

    def entry(self, trial_id: str, params: dict) -> dict:
        """The trial's record, created (as running) on first sight."""
        return self.trials.setdefault(trial_id, {"params": dict(params), "status": "running", "stop_rule": None,
                                                 "stop_step": None, "stop_reason": None, "flags": None,
                                                 SHADOW_KEY: None, "seed": None, "confirm_of": None, "retries": None,
                                                 "resumed_from": None, "history": []})

    def retried(self, trial_id: str, params: dict) -> int:
        """Ray retries the trial (its node died, or it raised with retries left); return the retry count."""
        trial = self.entry(trial_id, params)
        trial["retries"] = int(trial.get("retries") or 0) + 1
        return trial["retries"]

    def start(self, trial_id: str, params: dict, extra: dict | None = None) -> None:
        trial = self.entry(trial_id, params)
        trial.update(status="running", **(extra or {}))

    def is_confirm(self, trial_id: str) -> bool:
        return bool(self.trials[trial_id].get("confirm_of"))

    def search_ended(self) -> int:
        """How many trials of the search stage (not the confirm stage) have ended."""
        return sum(t["status"] in FINAL_STATUSES for tid, t in self.trials.items() if not self.is_confirm(tid))

    def add_result(self, trial_id: str, params: dict, result: dict) -> None:
        trial = self.entry(trial_id, params)
        row = {"step": int(result.get("step", 0))}
        filled = set((result.get(FILLED_KEY) or "").split(","))  # NaN stand-ins for Ray, not measurements
        row.update({k: float(v) for k, v in result.items() if _number(v) and is_metric(k) and k not in filled})
        trial["history"] = [r for r in trial["history"] if r["step"] < row["step"]] + [row]
        if _number(result.get("resumed_from_step")):  # a retry that resumed from its checkpoint
            trial["resumed_from"] = int(result["resumed_from_step"])
        if result.get("stop_rule"):
            trial.update(stop_rule=result["stop_rule"], stop_step=int(result.get("stop_step", row["step"])),
                         stop_reason=result.get("stop_reason"))
        if result.get("flags"):
            seen = set(filter(None, (trial.get("flags") or "").split(",")))
            trial["flags"] = ",".join(sorted(seen | set(result["flags"].split(","))))
        return self.add_shadow(trial, result.get(SHADOW_KEY))

    @staticmethod
    def add_shadow(trial: dict, text: str | None) -> list[dict]:
        """Merge a report's shadow decisions into the trial's; return those that are new (a rule's first)."""
        if not text:
            return []
        known = json.loads(trial.get(SHADOW_KEY) or "[]")
        new = [d for d in json.loads(text) if d["rule"] not in {k["rule"] for k in known}]
        if new:
            trial[SHADOW_KEY] = json.dumps(sorted(known + new, key=lambda d: (d["step"], d["rule"])))
        return new

    def finish(self, trial_id: str, error: bool = False, reason: str | None = None) -> None:
        trial = self.trials[trial_id]
        last = trial["history"][-1] if trial["history"] else {}
        if error:
            trial.update(status="error", stop_reason=reason or "the trial raised an error")
        elif last.get("non_finite"):  # before the rules: the non_finite rule fires on it as well
            bad = next((k for k, v in last.items() if isinstance(v, float) and not math.isfinite(v)), None)
            trial.update(status="non_finite", stop_step=int(last["step"]),
                         stop_reason=trial.get("stop_reason") or (f"{bad}={last[bad]} at step {last['step']}" if bad
                                                                  else f"a non-finite value at step {last['step']}"))
        elif trial.get("stop_rule"):
            trial["status"] = "stopped"
        elif self.total_steps is not None and last.get("step", self.total_steps) < self.total_steps:
            # Ended early without a rule or an error: the scheduler (ASHA) stopped it.
            trial.update(status="stopped", stop_rule="asha", stop_step=int(last["step"]),
                         stop_reason=f"the scheduler stopped it at step {last['step']} of {self.total_steps}")
        else:
            trial["status"] = "finished"
        try:
            self.write()
        finally:
            self.mirror(trial_id)

    # ------------------------------------------------------------------ files
    def write(self) -> None:
        rows = []
        for trial_id, trial in self.trials.items():
            base = {"trial_id": trial_id, **{k: trial.get(k) for k in TRIAL_COLUMNS if k != "trial_id"},
                    **{f"param/{k}": v for k, v in trial["params"].items()}}
            for row in trial["history"] or [{"step": None}]:
                rows.append({**base, **row})
        if not rows:
            return
        columns = list(dict.fromkeys(k for r in rows for k in r))
        arrays = {}
        for col in columns:
            values = [r.get(col) for r in rows]
            present = [v for v in values if v is not None]
            if col in ("step", "stop_step", "retries", "resumed_from"):
                arrays[col] = pa.array([None if v is None else int(v) for v in values], pa.int64())
            elif present and all(isinstance(v, bool) for v in present):
                arrays[col] = pa.array(values, pa.bool_())
            elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
                arrays[col] = pa.array(values, pa.int64())
            elif all(v is None or _number(v) for v in values):
                arrays[col] = pa.array([None if v is None else float(v) for v in values], pa.float64())
            else:
                arrays[col] = pa.array([None if v is None else str(v) for v in values], pa.string())
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        try:
            self.sweep_dir.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table(arrays), tmp)
            os.replace(tmp, self.path)
        except OSError as err:  # a full disk, a quota: the last complete file stays in place
            tmp.unlink(missing_ok=True)
            raise ActotError(f"{self.path}: cannot be written ({err.strerror or err}); the previous version is kept; "
                             "free space, then resume with resume=true") from err

    def mirror(self, trial_id: str) -> None:
        """Add an ended trial to the SQLite study (keyed by its Ray trial id).

        Optuna cannot change an ended trial, so when a trial's outcome changed (an errored trial
        retried on resume) the study is rebuilt from the store into a new file that replaces the old.
        """
        db = self.sweep_dir / "optuna.db"
        try:
            self._mirror(db, trial_id)
        except (OSError, sqlalchemy.exc.SQLAlchemyError) as err:
            raise ActotError(f"{db}: cannot be written ({str(err).splitlines()[0]}); results.parquet still holds "
                             "every trial; free space, then resume with resume=true") from err

    def _mirror(self, db: Path, trial_id: str) -> None:
        study = self._study(db)
        seen = {t.user_attrs.get("ray_trial_id"): t.user_attrs.get("status") for t in study.get_trials(deepcopy=False)}
        ended = [t for t, trial in self.trials.items() if trial["status"] in FINAL_STATUSES]
        if all(seen.get(t, self.trials[t]["status"]) == self.trials[t]["status"] for t in ended):
            for t in ended:  # this trial, and any whose mirroring an earlier failed write missed
                if t not in seen:
                    self._add_to(study, t)
            return
        tmp = db.with_suffix(f".{os.getpid()}.tmp.db")
        tmp.unlink(missing_ok=True)
        fresh = self._study(tmp)
        for tid, trial in self.trials.items():
            if trial["status"] in FINAL_STATUSES:
                self._add_to(fresh, tid)
        del fresh, study
        os.replace(tmp, db)

    def _study(self, db: Path):
        return optuna.create_study(study_name=self.study_name, storage=f"sqlite:///{db}", load_if_exists=True,
                                   direction="minimize" if self.mode == "min" else "maximize")

    def _add_to(self, study, trial_id: str) -> None:
        trial = self.trials[trial_id]
        values = {r["step"]: r[self.metric] for r in trial["history"]
                  if self.metric in r and math.isfinite(r[self.metric])}
        final = trial["history"][-1].get(self.metric) if trial["history"] else None
        state = {"finished": optuna.trial.TrialState.COMPLETE, "stopped": optuna.trial.TrialState.PRUNED}.get(
            trial["status"], optuna.trial.TrialState.FAIL)
        if state == optuna.trial.TrialState.COMPLETE and not (_number(final) and math.isfinite(final)):
            state = optuna.trial.TrialState.FAIL
        params = {k: v for k, v in trial["params"].items() if k in self.space.distributions}
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions={k: self.space.distributions[k] for k in params},
            value=final if state == optuna.trial.TrialState.COMPLETE else None, state=state,
            intermediate_values=values,
            user_attrs={"ray_trial_id": trial_id, "status": trial["status"],
                        "stop_rule": trial.get("stop_rule") or "", "stop_reason": trial.get("stop_reason") or "",
                        **{k: trial[k] for k in CONFIRM_KEYS if trial.get(k) is not None}}))

    # ------------------------------------------------------------------ summary
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for trial in self.trials.values():
            out[trial["status"]] = out.get(trial["status"], 0) + 1
        return out

    def ranked(self) -> list[tuple[str, dict]]:
        """Finished trials by final metric, then rule-stopped, then the rest."""
        sign = 1.0 if self.mode == "min" else -1.0
        order = {"finished": 0, "stopped": 1, "non_finite": 2, "interrupted": 3, "running": 3, "error": 4}

        def key(item):
            final = self.final_metric(item[1])
            return (order.get(item[1]["status"], 5), sign * final if final is not None else math.inf)

        return sorted(self.trials.items(), key=key)

    def best_so_far(self) -> float | None:
        """The best metric any trial has reported so far, rule-stopped trials aside (their early values flatter).

        Over every report, not each trial's latest: a leader whose latest report got worse does not
        pull the progress line's "best so far" back with it.
        """
        values = [r[self.metric] for t in self.trials.values() if t["status"] not in ("stopped", "non_finite", "error")
                  for r in t["history"] if _number(r.get(self.metric)) and math.isfinite(r[self.metric])]
        return (min if self.mode == "min" else max)(values) if values else None

    def final_metric(self, trial: dict) -> float | None:
        values = [r[self.metric] for r in trial["history"] if self.metric in r and math.isfinite(r[self.metric])]
        return values[-1] if values else None


class ResultsRecorder(Callback):
    """Tune callback: feeds a ResultsStore and prints progress and every rule decision."""

    def __init__(self, store: ResultsStore, num_samples: int, heartbeat_s: float = 20.0, seed: int | None = None,
                 stage: str = "search"):
        self.store, self.num_samples, self.heartbeat_s = store, num_samples, heartbeat_s
        # seed: the training seed of trials whose config names none (the search's); stage: whose trials these are.
        self.seed, self.stage = seed, stage
        self._last_beat = 0.0
        self._flagged: set[tuple[str, str]] = set()  # (trial, rule) pairs already printed

    def setup(self, **info):
        self.store.load()  # the disk is the truth after a restore, not this object's pickle
        self._last_beat = time.monotonic()
        self._reconciled = False

    def on_step_begin(self, iteration, trials, **info):
        if not getattr(self, "_reconciled", True):
            self._reconciled = True
            self.reconcile({t.trial_id: t.status for t in trials})

    def reconcile(self, ray_trials: dict[str, str]) -> None:
        """Make the store agree with the trials Ray restored (the truth after a killed driver).

        Ray saves its state every `experiment_save_s`; a driver killed after we recorded a trial
        but before Ray saved it leaves a trial Ray will never resume, and its searcher proposes
        that config again under a new id. Such a trial is dropped here (its config runs again),
        and a trial Ray saved as ended that we never saw end is closed now.
        """
        changed = False
        for trial_id in list(self.store.trials):
            if self.store.is_confirm(trial_id) != (self.stage == "confirm"):
                continue  # the other stage's trials: another Tuner's state, not this one's
            status = ray_trials.get(trial_id)
            if status is None:
                del self.store.trials[trial_id]
                shutil.rmtree(self.store.sweep_dir / "trials" / trial_id, ignore_errors=True)
                _say(f"trial {trial_id} was recorded but not yet in Ray's saved state when the driver died: "
                     "dropped; its config runs again under a new id")
                changed = True
            elif status in ("TERMINATED", "ERROR") and self.store.trials[trial_id]["status"] not in FINAL_STATUSES:
                self._saved(self.store.finish, trial_id, error=status == "ERROR", reason="recorded as an error by Ray")
                changed = True
        trials_dir = self.store.sweep_dir / "trials"
        for folder in trials_dir.iterdir() if trials_dir.is_dir() else ():
            if folder.name not in ray_trials and folder.name not in self.store.trials:
                shutil.rmtree(folder, ignore_errors=True)  # a trial started but saved by no one
        if changed:
            self._saved(self.store.write)

    def _params(self, trial) -> dict:
        return {k: v for k, v in trial.config.items() if k in self.store.space.distributions}

    def _short(self, trial) -> str:
        parts = []
        for k, v in self._params(trial).items():
            parts.append(f"{k.split('.', 1)[-1]}={v:.3g}" if _number(v) else f"{k.split('.', 1)[-1]}={v}")
        return " ".join(parts)

    def _saved(self, action, *args, **kwargs) -> None:
        """Run a store update that writes files; a failed write (full disk) is said, not fatal."""
        try:
            action(*args, **kwargs)
        except ActotError as err:
            _say(f"WARNING: {err} (results are kept in memory and written again at the next trial end)")

    def on_trial_start(self, iteration, trials, trial, **info):
        self.store.start(trial.trial_id, self._params(trial),
                         {"seed": trial.config.get("seed", self.seed), "confirm_of": trial.config.get("confirm_of")})
        _say(f"trial {trial.trial_id} started: {self._short(trial)}")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        shadowed = self.store.add_result(trial.trial_id, self._params(trial), result)
        for d in shadowed:
            _say(f"shadow: rule {d['rule']} would {d['action']} trial {trial.trial_id} at step {d['step']}: "
                 f"{d['reason']} [{self._short(trial)}]")
        if shadowed:
            self._saved(self.store.write)
        if result.get("stop_rule"):
            _say(f"rule {result['stop_rule']} stops trial {trial.trial_id} at step {result.get('stop_step')}: "
                 f"{result.get('stop_reason')} [{self._short(trial)}]")
            self._saved(self.store.write)
        for name, reason in zip((result.get("flags") or "").split(","), (result.get("flag_reasons") or "").split(" | ")):
            if name and (trial.trial_id, name) not in self._flagged:
                self._flagged.add((trial.trial_id, name))
                _say(f"rule {name} flags trial {trial.trial_id}: {reason}")
        now = time.monotonic()
        if now - self._last_beat > self.heartbeat_s:
            self._last_beat = now
            running = [t for t in trials if t.status == "RUNNING"]
            done = sum(t.status in ("TERMINATED", "ERROR") for t in trials)
            best = self.store.best_so_far()
            steps = ", ".join(f"{t.trial_id}@{(t.last_result or {}).get('step', 0)}" for t in running)
            so_far = f"; best {self.store.metric} so far {best:.4g}" if best is not None else ""
            _say(f"progress: {done}/{self.num_samples} done, running {steps or '-'}{so_far}")

    def on_trial_recover(self, iteration, trials, trial, **info):
        count = self.store.retried(trial.trial_id, self._params(trial))
        self._saved(self.store.write)
        _say(f"trial {trial.trial_id} lost ({error_reason(trial)}): retry {count} of {trial.max_failures}, from its "
             "last checkpoint")

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._saved(self.store.finish, trial.trial_id)
        t = self.store.trials[trial.trial_id]
        final = self.store.final_metric(t)
        done = self._done()
        value = f"{self.store.metric}={final:.4g}" if final is not None else "no metric"
        _say(f"trial {trial.trial_id} {t['status']} ({value}) [{done}/{self.num_samples}]")

    def _done(self) -> int:
        return sum(x["status"] in FINAL_STATUSES for tid, x in self.store.trials.items()
                   if self.store.is_confirm(tid) == (self.stage == "confirm"))

    def on_trial_error(self, iteration, trials, trial, **info):
        self.store.entry(trial.trial_id, self._params(trial))
        reason = error_reason(trial)
        self._saved(self.store.finish, trial.trial_id, error=True, reason=reason)
        done = self._done()
        _say(f"trial {trial.trial_id} error: {reason} [{self._short(trial)}] [{done}/{self.num_samples}]; "
             f"the sweep goes on (details: {trial.local_path or 'its trial folder'}/error.txt)")


def error_reason(trial) -> str:
    """The last line of what a trial raised (our ActotError's one line, or the exception's)."""
    import time

    err = None
    deadline = time.monotonic() + 5.0
    while err is None:  # on a loaded machine Ray may write the error file a moment after the callback
        try:  # the driver's local copy first: the storage copy is written later
            local = trial.pickled_error_file
            if local and Path(local).is_file():
                from ray import cloudpickle  # Ray's own copy: the standalone package may be absent

                err = cloudpickle.loads(Path(local).read_bytes())
            else:
                err = trial.get_pickled_error()
        except Exception:  # noqa: BLE001 - an unreadable error file must not end the sweep
            err = None
        if err is None and time.monotonic() < deadline:
            time.sleep(0.25)
        else:
            break
    cause = getattr(err, "cause", None) or err
    if cause is None:
        return "the trial raised an error"
    lines = [line for line in str(cause).strip().splitlines() if line.strip()]
    text = lines[-1].strip() if lines else type(cause).__name__
    return text if text.startswith(type(cause).__name__) or isinstance(cause, ActotError) else \
        f"{type(cause).__name__}: {text}"


def _say(line: str) -> None:
    print(f"[sweep] {line}", file=sys.stdout, flush=True)
