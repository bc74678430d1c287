"""A sweep folder read into plain trials for the report layer (through `actot.sweepdir`, the format's owner).

`load_sweep_dir` gives a `Sweep`: its resolved settings (sweep.json) and its trials, each the sweep folder's own
record of a trial (`sweepdir.TrialRecord`: its status, rule decisions, knobs, per-trial columns such as `seed`,
`confirm_of`, `retries`, `resumed_from`, `arm`, `config_id`, `raced`) with its history of metrics by step. A damaged
index or Optuna mirror is rebuilt on the way (and said in one line), so every report command works on what the
trials recorded.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from actot import sweepdir
from actot.strings import text
from actot.sweepdir import TrialRecord, is_metric


class Trial(TrialRecord):
    """A trial as the report reads it: the sweep folder's record, its history cut to the metrics by step
    ({'step': int, metric: float}), with how tables name it and read its series."""

    @classmethod
    def from_record(cls, record: TrialRecord) -> Trial:
        """The report's view of a stored record: status `unknown` where none was recorded, metrics only."""
        return cls(
            **{
                **{f.name: getattr(record, f.name) for f in dataclasses.fields(record)},
                "status": record.status or "unknown",
                "history": [{k: v for k, v in r.items() if k == "step" or is_metric(k)} for r in record.history],
            }
        )

    def display_name(self, lang: str = "en") -> str:
        """How tables name the trial: a confirm trial as `<search trial id> seed <s>`, the search trial whose
        config it repeats and its training seed (Ray's own id, e.g. 71594_00000, says neither); in a paired sweep a
        config's trial as `<config_id> seed <s>` and a baseline trial as `co-training seed <s>`; others by id."""
        origin = self.confirm_of
        if self.seed is not None:
            if self.arm == sweepdir.ARM_BASELINE:  # its confirm trials too (confirm_of "baseline")
                origin = text("trial.co_training", lang)
            elif not origin and self.config_id:
                origin = self.config_id
        if not origin:
            return self.trial_id
        seed = self.seed
        if seed is None:
            return text("trial.confirm_of", lang, origin=origin)
        return text("trial.seed", lang, origin=origin, seed=seed)

    def series(self, key: str) -> list[tuple[int, float]]:
        """(step, value) of every report that has the metric, NaN/Inf included."""
        return [(r["step"], r[key]) for r in self.history if r.get(key) is not None]

    def finite(self, key: str) -> list[tuple[int, float]]:
        return [(s, v) for s, v in self.series(key) if math.isfinite(v)]

    def shadow_decisions(self) -> list[dict]:
        return json.loads(self.shadow) if self.shadow else []

    def metrics(self) -> list[str]:
        return list(dict.fromkeys(k for r in self.history for k in r if is_metric(k)))


@dataclass
class Sweep:
    path: Path
    name: str
    metric: str
    mode: str
    knobs: list[str]  # searched keys as Optuna names them (ot.reg, ot.tau_a, ot.weight_embed.0)
    trials: list[Trial]
    resolved: dict  # sweep.json as written

    @property
    def space(self) -> dict:
        return self.resolved.get("space", {})

    @property
    def total_steps(self) -> int | None:
        return self.resolved.get("train", {}).get("steps")

    @property
    def real_data(self) -> bool:
        """Trained on LeRobot datasets with no simulator: no trial measured closed-loop success, so the sweep
        ranks an offline metric whose agreement with success is only known from the benchmark."""
        data = self.resolved.get("train", {}).get("data") or {}
        return data.get("source") is not None and not any("eval/success" in r for t in self.trials for r in t.history)

    def held_out_episodes(self) -> int | None:
        """How many held-out target episodes eval/avg_l1 (and its _se) is taken over: data.n_eval_target as the
        sweep resolved it, else the embedded sim's n_eval; None when sweep.json does not say."""
        data = self.resolved.get("train", {}).get("data") or {}
        if data.get("n_eval_target") is not None:
            return int(data["n_eval_target"])
        if data.get("source") is None and isinstance(data.get("sim"), dict) and data["sim"].get("n_eval") is not None:
            return int(data["sim"]["n_eval"])
        return None

    def data_cameras(self) -> list[str] | None:
        """The cameras the trials trained on: a list ([] for none: state and action only), or None when it
        cannot be told. Advice about camera embeddings is given unless this is [].

        From each trial's own training config (trials/ID/config.json, as the trainer ran it; sweep.json's
        training config where no trial wrote one), `data.cameras`: a list is the answer. null means every
        camera of the data: the embedded sim renders its CAMERAS; a LeRobot dataset's cameras are read from
        its meta/info.json (through `actot.data`, the format's owner) at data.target, the domain that is
        evaluated (the source must have as many). A dataset no longer there, or no data section: None.
        Read once per Sweep (a report asks several times).
        """
        if "_cameras" not in self.__dict__:
            self.__dict__["_cameras"] = self._read_cameras()
        cameras = self.__dict__["_cameras"]
        return None if cameras is None else list(cameras)

    def _read_cameras(self) -> list[str] | None:
        datas = [
            config.get("data") or {}
            for config in filter(None, (sweepdir.trial_config(self.path, t.trial_id) for t in self.trials))
        ]
        datas = datas or [self.resolved.get("train", {}).get("data") or {}]
        seen: dict[tuple, list[str] | None] = {}
        for data in datas:
            if not data:
                return None
            cameras = data.get("cameras")
            if cameras is None:
                key = (data.get("source"), data.get("target"), json.dumps(data.get("target_episodes")))
                if key not in seen:
                    seen[key] = _every_camera(data)
                cameras = seen[key]
            if cameras is None:
                return None
            if cameras:
                return list(cameras)  # one trial with a camera: camera advice applies to the sweep
        return []

    def trial(self, trial_id: str) -> Trial:
        return next(t for t in self.trials if t.trial_id == trial_id)


def _every_camera(data: dict) -> list[str] | None:
    """The cameras `data.cameras: null` takes: the sim's, or those of the LeRobot dataset at data.target."""
    if data.get("source") is None:
        from actot.sim.task import CAMERAS

        return list(CAMERAS)
    from actot.data.lerobot import LeRobotDataset
    from actot.errors import ActotError

    try:
        return LeRobotDataset(data["target"], episodes=data.get("target_episodes"), load=False).cameras
    except (ActotError, OSError, ValueError, KeyError, TypeError):
        return None  # moved, deleted or unreadable: unknown, not "none"


def load_sweep_dir(path) -> Sweep:
    """The sweep in `path`; a one-line ActotError when it is not a sweep folder."""
    path = Path(path).expanduser()
    resolved = sweepdir.read_spec(path)
    settings = resolved.get("sweep", {})  # sweep.json's sweep keys
    records = sweepdir.trials_of(sweepdir.read_rows(path))
    sweepdir.heal_study(path)
    trials = [Trial.from_record(record) for record in records.values()]
    knobs = list((resolved.get("space", {}).get("params") or {}).keys())
    knobs += [k for k in dict.fromkeys(p for t in trials for p in t.params) if k not in knobs]
    return Sweep(
        path=path,
        name=settings.get("name") or path.name,
        metric=settings.get("metric", "eval/avg_l1"),
        mode=settings.get("mode") or "min",
        knobs=knobs,
        trials=trials,
        resolved=resolved,
    )
