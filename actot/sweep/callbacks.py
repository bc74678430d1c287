"""Ray Tune callbacks of a sweep: Ray's hooks into a running sweep, apart from the modules that load without Ray.

`ResultsRecorder` records every trial's start, reports, rule decisions, retries and end in the
`ResultsStore`, prints them as they happen (with a progress line every `heartbeat_s`), and after a
restore makes the store agree with the trials Ray kept. `StorageSync` pushes the driver's files to
object storage as trials end (`storage.py` does the pushing). Other callbacks (the report layer's
live dashboard) are handed to the Tuner by the caller.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from ray.tune import Callback

from actot.errors import ActotError
from actot.sweep.storage import RemoteSweep
from actot.sweep.store import ResultsStore
from actot.sweepdir import ARM_BASELINE, ARM_CONFIG, CONFIRM_KEYS, FINAL_STATUSES, TRIALS_DIR, say


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class ResultsRecorder(Callback):
    """Tune callback: feeds a ResultsStore and prints progress and every rule decision."""

    def __init__(
        self,
        store: ResultsStore,
        num_samples: int,
        heartbeat_s: float = 20.0,
        seed: int | None = None,
        stage: str = "search",
        seeds=None,
        remote: RemoteSweep | None = None,
    ):
        self.store, self.num_samples, self.heartbeat_s = store, num_samples, heartbeat_s
        # remote: object storage, where each trial uploads its history when it ends (`storage.py`)
        self.remote = remote
        # seed: the training seed of trials whose config names none (the search's); stage: whose trials these are;
        # seeds: a sequential confirm stage's look (its own Tuner) owns only its fresh seeds' trials.
        self.seed, self.stage = seed, stage
        self.seeds = None if seeds is None else frozenset(int(s) for s in seeds)
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
            self.find_lost_checkpoints(trials)  # before Ray starts a restored trial from its checkpoint

    def find_lost_checkpoints(self, trials) -> None:
        """Point each restored trial whose saved checkpoint is gone at the newest whole one beside it.

        Ray keeps one checkpoint per trial (`CheckpointConfig(num_to_keep=1)`): registering a trial's new checkpoint
        deletes the previous one at once, and the experiment state that names the new one is saved at the end of
        that step (`TuneController.step`). A driver killed in between leaves a saved state whose checkpoint is gone,
        and Ray fails the resumed trial ("Could not recover from checkpoint as it does not exist on storage
        anymore"), while the new checkpoint, written in full by the trial before it reported it, is there.
        """
        for trial in trials:
            if trial.status == "TERMINATED":
                continue
            try:
                result = trial.latest_checkpoint_result
                checkpoint = result.checkpoint if result is not None else None
                if checkpoint is None:
                    continue
                found = usable_checkpoint(checkpoint.filesystem, checkpoint.path)
                if found is None or found == checkpoint.path:
                    continue
                from ray import tune

                result.checkpoint = tune.Checkpoint(found, filesystem=checkpoint.filesystem)
                step = (result.checkpoint.get_metadata() or {}).get("step")
                if _number(step):
                    result.metrics = {**(result.metrics or {}), "step": int(step)}
                trial.run_metadata.invalidate_cache()
                say(
                    f"trial {trial.trial_id}: the checkpoint Ray's saved state names is gone (the driver died while Ray "
                    f"replaced it with a newer one); it resumes from that newer one, {found.rstrip('/').rsplit('/', 1)[-1]}"
                )
            except Exception as err:  # noqa: BLE001 - Ray's restore then says what is wrong with the trial
                say(f"WARNING: trial {trial.trial_id}: its checkpoint could not be checked ({err})")

    def reconcile(self, ray_trials: dict[str, str]) -> None:
        """Make the store agree with the trials Ray restored (the truth after a killed driver).

        Ray saves its state every `experiment_save_s`; a driver killed after we recorded a trial
        but before Ray saved it leaves a trial Ray will never resume, and its searcher proposes
        that config again under a new id. Such a trial is dropped here (its config runs again),
        and a trial Ray saved as ended that we never saw end is closed now.
        """
        changed = False
        for trial_id in list(self.store.trials):
            if not self._mine(self.store.trials[trial_id]):
                continue  # the other stage's (or look's) trials: another Tuner's state, not this one's
            status = ray_trials.get(trial_id)
            if status is None:
                del self.store.trials[trial_id]
                shutil.rmtree(self.store.sweep_dir / TRIALS_DIR / trial_id, ignore_errors=True)
                say(
                    f"trial {trial_id} was recorded but not yet in Ray's saved state when the driver died: "
                    "dropped; its config runs again under a new id"
                )
                changed = True
            elif status in ("TERMINATED", "ERROR") and self.store.trials[trial_id].status not in FINAL_STATUSES:
                self._pull(trial_id)
                self._saved(self.store.finish, trial_id, error=status == "ERROR", reason="recorded as an error by Ray")
                changed = True
        trials_dir = self.store.sweep_dir / TRIALS_DIR
        for folder in trials_dir.iterdir() if trials_dir.is_dir() else ():
            if folder.name not in ray_trials and folder.name not in self.store.trials:
                shutil.rmtree(folder, ignore_errors=True)  # a trial started but saved by no one
        if changed:
            self._saved(self.store.write)

    def _params(self, trial) -> dict:
        # A baseline trial of the confirm stage has every knob declared as None (Ray's fixed point list): none is its.
        return {k: v for k, v in trial.config.items() if k in self.store.space.distributions and v is not None}

    def _short(self, trial) -> str:
        arm, seed = trial.config.get("arm"), trial.config.get("seed")
        if arm == ARM_BASELINE:  # a paired sweep's baseline arm: no knob of its own
            return f"baseline, seed {seed}"
        parts = [f"{trial.config['config_id']} seed {seed}:"] if arm == ARM_CONFIG else []
        for k, v in self._params(trial).items():
            parts.append(f"{k.split('.', 1)[-1]}={v:.3g}" if _number(v) else f"{k.split('.', 1)[-1]}={v}")
        return " ".join(parts)

    def _pull(self, trial_id: str) -> None:
        """With object storage, the ended trial's history as it uploaded it, into the local mirror: the index takes the
        trial's steps from it (a trial resumed from a checkpoint reported only the steps after it)."""
        remote = getattr(self, "remote", None)  # a recorder restored from an older sweep's Tuner state has none
        if remote is None:
            return
        try:
            remote.pull_trial(trial_id)
        except Exception as err:  # noqa: BLE001 - network, credentials: the steps this driver saw still stand
            say(
                f"WARNING: trial {trial_id}: its history could not be read from {remote.uri} "
                f"({str(err).splitlines()[0] if str(err) else type(err).__name__}); the index keeps the steps it reported"
            )

    def _saved(self, action, *args, **kwargs) -> None:
        """Run a store update that writes files; a failed write (full disk) is said, not fatal."""
        try:
            action(*args, **kwargs)
        except ActotError as err:
            say(f"WARNING: {err} (results are kept in memory and written again at the next trial end)")

    def on_trial_start(self, iteration, trials, trial, **info):
        # its columns from its Ray config (a search trial's config names no seed: the search's)
        self.store.start(
            trial.trial_id,
            self._params(trial),
            {k: trial.config.get(k, self.seed if k == "seed" else None) for k in CONFIRM_KEYS},
        )
        step = checkpoint_step(trial)
        how = "started" if step is None else f"resumed from step {step}"
        say(f"trial {trial.trial_id} {how}: {self._short(trial)}")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        shadowed = self.store.add_result(trial.trial_id, self._params(trial), result)
        for d in shadowed:
            say(
                f"shadow: rule {d['rule']} would {d['action']} trial {trial.trial_id} at step {d['step']}: "
                f"{d['reason']} [{self._short(trial)}]"
            )
        if shadowed:
            self._saved(self.store.write)
        if result.get("stop_rule"):
            say(
                f"rule {result['stop_rule']} stops trial {trial.trial_id} at step {result.get('stop_step')}: "
                f"{result.get('stop_reason')} [{self._short(trial)}]"
            )
            self._saved(self.store.write)
        for name, reason in zip(
            (result.get("flags") or "").split(","), (result.get("flag_reasons") or "").split(" | ")
        ):
            if name and (trial.trial_id, name) not in self._flagged:
                self._flagged.add((trial.trial_id, name))
                say(f"rule {name} flags trial {trial.trial_id}: {reason}")
        now = time.monotonic()
        if now - self._last_beat > self.heartbeat_s:
            self._last_beat = now
            running = [t for t in trials if t.status == "RUNNING"]
            done = sum(t.status in ("TERMINATED", "ERROR") for t in trials)
            best = self.store.best_so_far()
            steps = ", ".join(f"{t.trial_id}@{(t.last_result or {}).get('step', 0)}" for t in running)
            so_far = f"; best {self.store.metric} so far {best:.4g}" if best is not None else ""
            say(f"progress: {done}/{self.num_samples} done, running {steps or '-'}{self._pace(running, done)}{so_far}")

    def _pace(self, running: list, done: int) -> str:
        """'; S s/step, ETA T': the running trials' latest s/step, and the steps left in the stage at that pace."""
        from actot.run_log import duration

        paces = [(t.last_result or {}).get("time/step_s") for t in running]
        paces = [p for p in paces if _number(p) and p > 0]
        total = self.store.total_steps
        if not paces or not total:
            return ""
        pace = sum(paces) / len(paces)
        left = sum(total - int((t.last_result or {}).get("step", 0)) for t in running)
        left += max(0, self.num_samples - done - len(running)) * total
        return f"; {pace:.3f} s/step, ETA {duration(left * pace / max(1, len(running)))}"

    def on_trial_recover(self, iteration, trials, trial, **info):
        count = self.store.retried(trial.trial_id, self._params(trial))
        self._saved(self.store.write)
        say(
            f"trial {trial.trial_id} lost ({error_reason(trial)}): retry {count} of {trial.max_failures}, from its "
            "last checkpoint"
        )

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._pull(trial.trial_id)
        self._saved(self.store.finish, trial.trial_id)
        t = self.store.trials[trial.trial_id]
        final = self.store.final_metric(t)
        done = self._done()
        value = f"{self.store.metric}={final:.4g}" if final is not None else "no metric"
        say(f"trial {trial.trial_id} {t.status} ({value}) [{done}/{self.num_samples}]")

    def _mine(self, record) -> bool:
        """Whether a recorded trial is this Tuner's: its stage's, and (a look of a sequential confirm stage) its seeds'."""
        if bool(record.confirm_of) != (self.stage == "confirm"):
            return False
        return self.seeds is None or (record.seed is not None and int(record.seed) in self.seeds)

    def _done(self) -> int:
        return sum(x.status in FINAL_STATUSES for x in self.store.trials.values() if self._mine(x))

    def on_trial_error(self, iteration, trials, trial, **info):
        self.store.entry(trial.trial_id, self._params(trial))
        reason = error_reason(trial)
        self._pull(trial.trial_id)
        self._saved(self.store.finish, trial.trial_id, error=True, reason=reason)
        done = self._done()
        say(
            f"trial {trial.trial_id} error: {reason} [{self._short(trial)}] [{done}/{self.num_samples}]; "
            f"the sweep goes on (details: {trial.local_path or 'its trial folder'}/error.txt)"
        )


def usable_checkpoint(fs, path: str) -> str | None:
    """The checkpoint folder a restored trial can continue from: `path` (the one Ray's saved state names) when it holds
    the trainer's state.pt; else the newest `checkpoint_*` folder beside it that holds a whole one (on a local disk,
    a worker that died while copying a checkpoint leaves a torn file: a zip archive without its end); None if none."""
    import posixpath
    import zipfile

    import pyarrow.fs as pafs

    from actot.checkpoint import CHECKPOINT_FILE

    def whole(folder: str) -> bool:
        file = f"{folder}/{CHECKPOINT_FILE}"
        if fs.get_file_info(file).type != pafs.FileType.File:
            return False
        return not isinstance(fs, pafs.LocalFileSystem) or zipfile.is_zipfile(file)  # an object store writes whole

    if whole(path):
        return path
    beside = fs.get_file_info(pafs.FileSelector(posixpath.dirname(path.rstrip("/")), allow_not_found=True))
    folders = [i.path for i in beside if i.type == pafs.FileType.Directory and i.base_name.startswith("checkpoint_")]
    return next((folder for folder in sorted(folders, reverse=True) if whole(folder)), None)


def checkpoint_step(trial) -> int | None:
    """The step of the checkpoint a (re)started trial resumes from (a restored or retried trial), or None."""
    result = trial.latest_checkpoint_result  # Ray keeps the metrics reported with each checkpoint
    if result is None or result.checkpoint is None:
        return None
    step = (result.metrics or {}).get("step")
    return int(step) if _number(step) else None


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
    return (
        text
        if text.startswith(type(cause).__name__) or isinstance(cause, ActotError)
        else f"{type(cause).__name__}: {text}"
    )


class StorageSync(Callback):
    """Tune callback, after the results recorder and the dashboard: push the driver's files as trials end."""

    def __init__(self, remote: RemoteSweep):
        self.remote = remote

    def _push(self) -> None:
        try:
            self.remote.push()
        except Exception as err:  # noqa: BLE001 - a network blip must not end the sweep; the next end retries
            print(
                f"[sweep] WARNING: could not upload the sweep's files to {self.remote.uri} "
                f"({str(err).splitlines()[0]}); retried when the next trial ends",
                flush=True,
            )

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._push()

    def on_trial_error(self, iteration, trials, trial, **info):
        self._push()
