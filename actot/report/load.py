"""Read a sweep folder (results.parquet, sweep.json) into plain trials; the report layer reads nothing else.

A sweep folder is what `run_sweep.py` writes (see docs/sweeps.md): `results.parquet` has one
row per (trial, report) with `trial_id`, `status`, `stop_rule`, `stop_step`, `stop_reason`,
`flags`, `shadow`, `param/<knob>`, `step` and every metric; `sweep.json` the resolved space, sweep and
training config. Columns that may appear later (`seed`, `confirm_of`) ride along in `extra`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from actot.errors import ActotError

TRIAL_COLUMNS = ("trial_id", "status", "stop_rule", "stop_step", "stop_reason", "flags", "shadow")
# Per-trial columns that are not knobs and not metrics: a confirm stage's seed and the trial it repeats,
# how often Ray retried the trial (its node died) and the checkpoint step its last retry resumed from.
EXTRA_COLUMNS = ("seed", "confirm_of", "retries", "resumed_from")


def is_metric(key: str) -> bool:
    return key.startswith(("train/", "eval/", "ot_")) and key != "non_finite"


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

    def trial(self, trial_id: str) -> Trial:
        return next(t for t in self.trials if t.trial_id == trial_id)


def load_sweep_dir(path) -> Sweep:
    """The sweep in `path`; a one-line ActotError when it is not a sweep folder."""
    import pyarrow.parquet as pq

    path = Path(path)
    results, spec = path / "results.parquet", path / "sweep.json"
    if not path.is_dir():
        raise ActotError(f"{path}: no such folder; pass a sweep folder such as sweeps_out/NAME")
    if not spec.is_file():
        raise ActotError(f"{path}: no sweep.json, so this is not a sweep folder; pass one such as sweeps_out/NAME")
    try:
        resolved = json.loads(spec.read_text())
    except json.JSONDecodeError as err:
        raise ActotError(f"{spec}: not valid JSON ({err.msg} at line {err.lineno}); was the sweep's driver killed "
                         "while writing it?") from err
    sweep_cfg = resolved.get("sweep", {})
    trials: dict[str, Trial] = {}
    columns: list[str] = []
    if results.is_file():
        table = pq.read_table(results)
        columns = table.column_names
        for row in table.to_pylist():
            trial = trials.get(row["trial_id"])
            if trial is None:
                trial = trials[row["trial_id"]] = Trial(
                    trial_id=row["trial_id"],
                    params={k[6:]: v for k, v in row.items() if k.startswith("param/") and v is not None},
                    status=row.get("status") or "unknown",
                    **{k: row.get(k) for k in TRIAL_COLUMNS[2:]},
                    extra={k: row[k] for k in EXTRA_COLUMNS if row.get(k) is not None})
            if row.get("step") is not None:
                trial.history.append({k: v for k, v in row.items()
                                      if (k == "step" or is_metric(k)) and v is not None})
        for trial in trials.values():
            trial.history.sort(key=lambda r: r["step"])
    knobs = list((resolved.get("space", {}).get("params") or {}).keys())
    knobs += [c[6:] for c in columns if c.startswith("param/") and c[6:] not in knobs]
    return Sweep(path=path, name=sweep_cfg.get("name") or path.name, metric=sweep_cfg.get("metric", "eval/avg_l1"),
                 mode=sweep_cfg.get("mode", "min"), knobs=knobs, trials=list(trials.values()), resolved=resolved)
