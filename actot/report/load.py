"""A sweep folder read into plain trials for the report layer (through `actot.sweepdir`, the format's owner).

`load_sweep_dir` gives a `Sweep`: its resolved settings (sweep.json) and its trials, each with
its status, rule decisions, knobs, extra per-trial columns (`seed`, `confirm_of`, `retries`,
`resumed_from`) and its history of metrics by step. A damaged index or Optuna mirror is rebuilt
on the way (and said in one line), so every report command works on what the trials recorded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from actot import sweepdir
from actot.sweepdir import is_metric

# Per-trial columns that are not knobs and not metrics: a confirm stage's seed and the trial it repeats,
# how often Ray retried the trial (its node died) and the checkpoint step its last retry resumed from.
EXTRA_COLUMNS = ("seed", "confirm_of", "retries", "resumed_from")
@dataclass
class Trial:
    trial_id: str
    params: dict
    status: str
    stop_rule: str | None = None
    stop_step: int | None = None
    stop_reason: str | None = None
    flags: str | None = None
    shadow: str | None = None        # rules.shadow=true: JSON list of each rule's first {rule, action, step, reason}
    extra: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)  # rows sorted by step: {'step': int, metric: float}

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
    knobs: list[str]                 # searched keys as Optuna names them (ot.reg, ot.tau_a, ot.weight_embed.0)
    trials: list[Trial]
    resolved: dict                   # sweep.json as written

    @property
    def space(self) -> dict:
        return self.resolved.get("space", {})

    @property
    def total_steps(self) -> int | None:
        return self.resolved.get("train", {}).get("steps")

    def held_out_episodes(self) -> int | None:
        """How many held-out target episodes eval/avg_l1 (and its _se) is taken over: data.n_eval_target as the
        sweep resolved it, else the embedded sim's n_eval; None when sweep.json does not say."""
        data = self.resolved.get("train", {}).get("data") or {}
        if data.get("n_eval_target") is not None:
            return int(data["n_eval_target"])
        if data.get("source") is None and isinstance(data.get("sim"), dict) and data["sim"].get("n_eval") is not None:
            return int(data["sim"]["n_eval"])
        return None

    def trial(self, trial_id: str) -> Trial:
        return next(t for t in self.trials if t.trial_id == trial_id)


def load_sweep_dir(path) -> Sweep:
    """The sweep in `path`; a one-line ActotError when it is not a sweep folder."""
    path = Path(path)
    resolved = sweepdir.read_spec(path)
    sweep_cfg = resolved.get("sweep", {})
    records = sweepdir.trials_of(sweepdir.read_rows(path))
    sweepdir.heal_study(path)
    trials = [Trial(trial_id=trial_id, params=record["params"], status=record.get("status") or "unknown",
                    stop_rule=record.get("stop_rule"), stop_step=record.get("stop_step"),
                    stop_reason=record.get("stop_reason"), flags=record.get("flags"), shadow=record.get("shadow"),
                    extra={k: record[k] for k in EXTRA_COLUMNS if record.get(k) is not None},
                    history=[{k: v for k, v in r.items() if k == "step" or is_metric(k)} for r in record["history"]])
              for trial_id, record in records.items()]
    knobs = list((resolved.get("space", {}).get("params") or {}).keys())
    knobs += [k for k in dict.fromkeys(p for t in trials for p in t.params) if k not in knobs]
    return Sweep(path=path, name=sweep_cfg.get("name") or path.name, metric=sweep_cfg.get("metric", "eval/avg_l1"),
                 mode=sweep_cfg.get("mode") or "min", knobs=knobs, trials=trials, resolved=resolved)
