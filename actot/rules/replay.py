"""Replay rules and ASHA on finished training histories: the rule audit's and the sweep-efficiency
benchmark's common ground (`bench/rule_audit.py`, `bench/sweep_efficiency.py`).

A run is one full training history: rows of {'step': int, metric: float} exactly as
`history.parquet` has them, with the config (knob -> value) and seed it ran with. Runs come from
a JSON-lines file (one object per run: `group`, `config`, `seed`, `history`) or from a sweep
folder run with `rules.shadow=true` (its finished trials ran to their last step; the report
layer reads them, `actot/report/replay.py`).

- A rule is replayed report by report (`actot.rules.first_decisions`), exactly as the live
  check meets it: it "would have stopped" a run at the first report at which it fires. A `flag`
  rule is audited as if it stopped (the audit asks whether it could).
- A config's score is the mean over its seeds of the final metric (the value at the run's last
  report that has it; a run that went non-finite, or never measured it, scores the worst
  possible), better in the metric's direction (`actot/metrics.py`), or in `mode` for a diagnostic
  that has none. Ties are broken by the mean final `eval/avg_l1` (lower is better), so that short
  runs whose success is all zero still rank.
- ASHA is Ray's asynchronous successive halving (one bracket, `stop_last_trials`), replayed
  trial after trial: rungs at grace_period * reduction_factor^k steps below max_t; at its first
  report at or past a rung a trial is stopped when its value is below the (1 - 1/rf) percentile
  of the values earlier trials recorded there. The value at a rung is `eval/success` when that
  report has it (higher is better), else `eval/avg_l1` (lower is better); values of the two
  kinds are never compared with each other.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from actot.errors import ActotError
from actot.metrics import direction_for_ranking
from actot.rules.engine import Decision, Rule, first_decisions


@dataclass
class Run:
    group: str
    config: dict
    seed: int
    history: list[dict]
    source: str = ""  # where it was read: file:line or sweep/trial

    @property
    def key(self) -> str:
        return json.dumps(self.config, sort_keys=True, default=str)

    @property
    def total_steps(self) -> int:
        return int(self.history[-1]["step"]) if self.history else 0

    def final(self, metric: str) -> float | None:
        """The metric at the last report that has it; None when the run went non-finite or never had it."""
        if any(r.get("non_finite") for r in self.history):
            return None
        values = [r[metric] for r in self.history if _finite(r.get(metric))]
        return float(values[-1]) if values else None


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---------------------------------------------------------------------------------------------- reading
def read_runs_jsonl(path, group: str | None = None) -> list[Run]:
    """Runs of a JSON-lines file (optionally only those of `group`); errors name the file, line and key."""
    path = Path(path)
    if not path.is_file():
        raise ActotError(
            f"{path}: no such file; pass a JSON-lines file of runs (one object per line with "
            "group, config, seed, history)"
        )
    runs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ActotError(f"{where}: not valid JSON ({err.msg}); each line must be one run object") from err
        if not isinstance(obj, dict):
            raise ActotError(f"{where}: a run must be a JSON object, got {type(obj).__name__}")
        missing = [k for k in ("group", "config", "seed", "history") if k not in obj]
        if missing:
            raise ActotError(f"{where}: missing key(s) {missing}; a run has group, config, seed and history")
        if not isinstance(obj["config"], dict):
            raise ActotError(f"{where}: config={obj['config']!r} must be a mapping of knob -> value")
        history = obj["history"]
        if (
            not isinstance(history, list)
            or not history
            or not all(isinstance(r, dict) and "step" in r for r in history)
        ):
            raise ActotError(f"{where}: history must be a non-empty list of rows, each with a 'step'")
        if group is not None and obj["group"] != group:
            continue
        rows = sorted(
            (
                {k: (float(v) if _number(v) and k != "step" else v) for k, v in r.items() if v is not None}
                for r in history
            ),
            key=lambda r: r["step"],
        )
        runs.append(Run(str(obj["group"]), obj["config"], int(obj["seed"]), rows, where))
    if not runs:
        raise ActotError(
            f"{path}: no runs" + (f" of group '{group}'" if group else "") + "; check the file and --group"
        )
    return runs


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def write_runs_jsonl(runs: list[Run], path) -> None:
    with open(path, "w") as out:
        for run in runs:
            out.write(
                json.dumps({"group": run.group, "config": run.config, "seed": run.seed, "history": run.history}) + "\n"
            )


# ---------------------------------------------------------------------------------------------- scores
def group_by_config(runs: list[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for run in runs:
        out.setdefault(run.key, []).append(run)
    return out


def config_scores(runs: list[Run], metric: str = "eval/success", mode: str | None = None) -> dict[str, float]:
    """Config key -> mean over its seeds of the final metric (a run without one scores the worst, +-inf).

    mode: 'min' or 'max'; None takes the metric's own direction (a diagnostic has none: pass one)."""
    worst = math.inf if direction_for_ranking(metric, mode) == "min" else -math.inf
    out = {}
    for key, members in group_by_config(runs).items():
        finals = [run.final(metric) for run in members]
        out[key] = worst if any(v is None for v in finals) else sum(finals) / len(finals)
    return out


def ranked_configs(runs: list[Run], metric: str = "eval/success", mode: str | None = None) -> list[str]:
    """Config keys best first: by score, then by mean final eval/avg_l1."""
    scores, l1 = config_scores(runs, metric, mode), config_scores(runs, "eval/avg_l1")
    sign = 1.0 if direction_for_ranking(metric, mode) == "min" else -1.0
    return sorted(scores, key=lambda k: (sign * scores[k], l1[k]))


def top_quarter(runs: list[Run], metric: str = "eval/success", mode: str | None = None) -> set[str]:
    """The best ceil(n/4) configs."""
    ranked = ranked_configs(runs, metric, mode)
    return set(ranked[: math.ceil(len(ranked) / 4)])


# ---------------------------------------------------------------------------------------------- rules
def stop_decision(rules: list[Rule], history: list[dict], as_stop: bool = False) -> Decision | None:
    """The report at which the rules together would have ended the run (`as_stop`: flag rules too)."""
    fired = [d for d in first_decisions(rules, history) if as_stop or d.action == "stop"]
    return min(fired, key=lambda d: d.step) if fired else None


@dataclass
class AuditRow:
    rule: str
    settings: str
    stopped: int = 0  # runs it would have stopped
    false_stops: int = 0  # of those, runs of a top-quarter config
    saved: int = 0  # training steps it would not have run
    total: int = 0  # training steps of every run
    stops: list = field(default_factory=list)  # (run source, step, reason)

    @property
    def false_rate(self) -> float:
        return self.false_stops / self.stopped if self.stopped else math.nan

    @property
    def saved_share(self) -> float:
        return self.saved / self.total if self.total else math.nan


def settings_text(rule: Rule) -> str:
    if rule.kind == "threshold":
        cond = f"{rule.metric} {rule.op} {rule.value:g}, patience {rule.patience}"
    elif rule.kind == "trend":
        cond = f"{rule.metric} {rule.direction} over {rule.window} (> {rule.min_change:g})"
    else:
        cond = "any non_finite"
    return f"{cond}, {'at the last report' if rule.last_only else f'after {rule.after}'}, {rule.action}"


def audit_rule(rules: list[Rule], runs: list[Run], top: set[str], name: str | None = None) -> AuditRow:
    """What `rules` (one rule, or a set acting together) would have done to `runs`."""
    row = AuditRow(name or rules[0].name, settings_text(rules[0]) if len(rules) == 1 else "together")
    for run in runs:
        row.total += run.total_steps
        decision = stop_decision(rules, run.history, as_stop=True)
        if decision is None:
            continue
        row.stopped += 1
        row.false_stops += run.key in top
        row.saved += max(0, run.total_steps - decision.step)
        row.stops.append((run.source, decision.step, decision.reason))
    return row


def rule_variants(rule: Rule, total_steps: int) -> list[Rule]:
    """A small grid around a rule: threshold x warm-up; for a trend, window x minimum change, then warm-up.

    Warm-ups: the rule's own, 0, and 1/8, 1/4, 1/2 of the runs' length."""
    afters = sorted({rule.after, 0, *(int(total_steps * f) for f in (0.125, 0.25, 0.5))})
    if rule.last_only:  # it reads the last report alone: a warm-up changes nothing
        afters = [rule.after]
    if rule.kind == "threshold":
        values = sorted({rule.value, *(rule.value * f for f in (0.25, 0.5, 2.0))})
        grid = [dict(value=v, after=a) for v in values for a in afters]
    elif rule.kind == "trend":  # window x minimum change at the default warm-up, then the warm-ups
        grid = [
            dict(window=w, min_change=c)
            for w in sorted({rule.window, 2, 4, 8})
            for c in sorted({rule.min_change, 0.05, 0.2, 0.5})
        ]
        grid += [dict(after=a) for a in afters if a != rule.after]
    else:
        grid = [dict(after=a) for a in afters]
    return [replace(rule, **g) for g in grid]


def pareto(rows: list[AuditRow]) -> set[int]:
    """Indices of rows no other row beats on both false stops (fewer) and compute saved (more)."""
    keep = set()
    for i, a in enumerate(rows):
        if not any(
            b.false_stops <= a.false_stops
            and b.saved >= a.saved
            and (b.false_stops, b.saved) != (a.false_stops, a.saved)
            for b in rows
        ):
            keep.add(i)
    return keep


# ---------------------------------------------------------------------------------------------- ASHA
class AshaReplay:
    """Ray's ASHA bracket (see the module docstring), fed one trial's history at a time."""

    def __init__(self, grace_period: int, reduction_factor: float, max_t: int):
        if grace_period < 1 or reduction_factor < 2 or max_t <= grace_period:
            raise ActotError(
                f"ASHA: grace_period={grace_period} must be >= 1 and below max_t={max_t}, "
                f"reduction_factor={reduction_factor} >= 2"
            )
        self.rf = reduction_factor
        n = int(np.log(max_t / grace_period) / np.log(reduction_factor) + 1)
        # Milestones at max_t or beyond end a trial that is done anyway: they save nothing.
        self.milestones = [m for m in (grace_period * reduction_factor**k for k in reversed(range(n))) if m < max_t]
        self.recorded: dict[float, dict[str, list[float]]] = {m: {} for m in self.milestones}

    @staticmethod
    def rung_value(row: dict) -> tuple[str, float]:
        if _finite(row.get("eval/success")):
            return "eval/success", float(row["eval/success"])
        value = row.get("eval/avg_l1")
        return "eval/avg_l1", -float(value) if _finite(value) else math.nan

    def stop_step(self, history: list[dict]) -> int | None:
        """Feed a trial's reports in order; the step of the report at which ASHA stops it, or None."""
        seen: set[float] = set()
        for row in history:
            step = row["step"]
            for milestone in self.milestones:  # highest first, as Ray's rungs
                if step < milestone or milestone in seen:
                    continue
                seen.add(milestone)
                kind, value = self.rung_value(row)
                recorded = self.recorded[milestone].setdefault(kind, [])
                cutoff = np.nanpercentile(recorded, (1 - 1 / self.rf) * 100) if recorded else None
                if not math.isnan(value):
                    recorded.append(value)
                if cutoff is not None and not math.isnan(cutoff) and value < cutoff:
                    return int(step)
                break
        return None


def truncate(history: list[dict], step: int | None) -> list[dict]:
    return history if step is None else [r for r in history if r["step"] <= step]
