"""Early-stopping rules: the seed log's hand rules, written in a tiny grammar and checked per report.

A rule in `sweeps/*.yaml` is a built-in name, or a mapping:

    - pi_collapse                          # built in, as is
    - {use: pi_collapse, after: 100}       # built in, with other settings
    - name: l1_stuck
      when: "eval/avg_l1 > 0.9"            # METRIC OP NUMBER  (OP: < <= > >= == !=)
      after: 100                           # warm-up: reports before this step are ignored
      patience: 2                          # consecutive reports that must match
      action: stop                         # stop the trial, or flag it and go on
    - {name: cost_up, when: "ot_cost(state) rising over 4"}   # METRIC rising|falling over N
    - {name: nan, when: "any non_finite"}                     # any metric NaN or infinite
    - {name: late, when: "eval/l1_trend < -0.05", last_only: true, action: flag}   # the last report only

Nothing is evaluated as code: `when` is matched against these three forms, and its metric must be
one a trial reports (`actot/metrics.py`). A rule is a pure function of a trial's history (rows of
{'step': int, metric: float}) and, for a `last_only` rule, of the step its last report is at (the
trial's `steps`; a replay of a whole history: its last row), so that a resumed trial decides
exactly as an uninterrupted one would. A `last_only` rule judges how a trial ended, so it can only flag.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

from actot.config import unknown_key_error
from actot.convergence import NOT_CONVERGED_BELOW, TREND_KEY
from actot.errors import ActotError
from actot.metrics import REPORTED_METRICS

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_THRESHOLD = re.compile(rf"^\s*(?P<metric>\S+)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>{_NUMBER})\s*$")
_TREND = re.compile(r"^\s*(?P<metric>\S+)\s+(?P<dir>rising|falling)\s+over\s+(?P<window>\d+)\s*$")
_NON_FINITE = re.compile(r"^\s*any\s+non_finite\s*$")
FIELDS = {"name", "use", "when", "after", "patience", "action", "min_change", "last_only"}


@dataclass(frozen=True)
class Rule:
    """A parsed rule. kind: 'threshold', 'trend' or 'non_finite'."""

    name: str
    kind: str
    metric: str = ""
    op: str = ""
    value: float = 0.0
    direction: str = ""
    window: int = 0
    min_change: float = 0.05
    after: int = 0
    patience: int = 1
    action: str = "stop"
    last_only: bool = False

    def describe(self) -> str:
        if self.kind == "threshold":
            cond = f"{self.metric} {self.op} {self.value:g}"
        elif self.kind == "trend":
            cond = f"{self.metric} {self.direction} over {self.window} reports"
        else:
            cond = "a metric is NaN or infinite"
        when = "at the last report" if self.last_only else f"after step {self.after}"
        return f"{self.name}: {cond} {when} ({self.action})"


@dataclass(frozen=True)
class Decision:
    rule: str
    action: str
    step: int
    reason: str


BUILT_IN = {
    # The seed log: "if ot_pi_sum < 0.1, the plan has collapsed: raise reg or tau".
    "pi_collapse": {"when": "ot_pi_sum < 0.1", "after": 50, "patience": 2, "action": "stop"},
    "non_finite": {"when": "any non_finite", "after": 0, "patience": 1, "action": "stop"},
    # A flag, not a stop: in the rule audit of the ot_full pool (bench/RESULTS.md, 2026-11-26 on the H200,
    # "Rule audit") it fired only at the last report, and the runs it caught were top-quarter configs no
    # more often than the base rate: ot_cost(state) follows window_size, not how good a policy gets.
    "ot_cost_diverging": {
        "when": "ot_cost(state) rising over 4",
        "after": 50,
        "patience": 1,
        "action": "flag",
        "min_change": 0.05,
    },
    # The camera embeddings below 0.15 of their untrained size from step 200 on: OT is lowering its
    # loss by shrinking the features, not by aligning them. The threshold parts OT at R1 from co-training
    # (which dips early), target-only BC and the L2-normalised cost after step 200 (bench/RESULTS.md,
    # 2026-11-26 a later session, "The study on CPU, with a candidate fix": its ot_embed_shrink table).
    "embed_collapse": {"when": "ot_embed_shrink < 0.15", "after": 200, "patience": 2, "action": "flag"},
    # Stopped while still improving: at its last report the trial's held-out L1 over the last third of
    # its reports is more than 5% below the third before (eval/l1_trend, actot/convergence.py, where
    # the threshold's provenance is; provisional until calibrated at the cosine + EMA defaults).
    "not_converged": {
        "when": f"{TREND_KEY} < {NOT_CONVERGED_BELOW}",
        "after": 0,
        "patience": 1,
        "action": "flag",
        "last_only": True,
    },
}


def parse_rule(spec, where: str = "rules") -> Rule:
    """A rule from its YAML form (a built-in name or a mapping); errors name the rule and field."""
    if isinstance(spec, str):
        if spec not in BUILT_IN:
            raise ActotError(
                f"{where}: unknown rule '{spec}'; built-in rules are {sorted(BUILT_IN)}, "
                "or write a mapping with name/when"
            )
        spec = {"use": spec}
    if not isinstance(spec, dict):
        raise ActotError(f"{where}: a rule must be a name or a mapping, got {spec!r}")
    unknown = set(spec) - FIELDS
    if unknown:
        raise ActotError(
            f"{where}: rule {spec.get('name') or spec.get('use')!r} has unknown field(s) "
            f"{sorted(unknown)}; fields are {sorted(FIELDS)}"
        )
    merged = dict(spec)
    if "use" in spec:
        base = spec["use"]
        if base not in BUILT_IN:
            raise ActotError(f"{where}: use: '{base}' is not a built-in rule; built-ins are {sorted(BUILT_IN)}")
        merged = {**BUILT_IN[base], "name": base, **{k: v for k, v in spec.items() if k != "use"}}
    name = merged.get("name")
    if not name or "when" not in merged:
        raise ActotError(f"{where}: rule {spec!r} needs 'name' and 'when' (e.g. when: \"ot_pi_sum < 0.1\")")
    where = f"{where}: rule '{name}'"
    when = str(merged["when"])
    after = _whole(merged.get("after", 0), "after", where)
    patience = _whole(merged.get("patience", 1), "patience", where)
    min_change = merged.get("min_change", 0.05)
    if not _plain_number(min_change):
        raise ActotError(f"{where}: min_change={min_change!r} must be a number (e.g. 0.05)")
    min_change = float(min_change)
    action = merged.get("action", "stop")
    if action not in ("stop", "flag"):
        raise ActotError(f"{where}: action '{action}' must be 'stop' or 'flag'")
    if after < 0 or patience < 1:
        raise ActotError(f"{where}: after={after} must be >= 0 and patience={patience} >= 1")
    last_only = merged.get("last_only", False)
    if not isinstance(last_only, bool):
        raise ActotError(f"{where}: last_only={last_only!r} must be true or false")
    if last_only and action == "stop":
        raise ActotError(
            f"{where}: last_only: true with action: stop would stop a trial that is ending anyway; use action: flag"
        )
    common = dict(
        name=str(name), after=after, patience=patience, action=action, min_change=min_change, last_only=last_only
    )
    if (m := _THRESHOLD.match(when) or _TREND.match(when)) and m["metric"] not in REPORTED_METRICS:
        raise unknown_key_error(m["metric"], list(REPORTED_METRICS), f'{where}: when: "{when}": metric')
    if m := _THRESHOLD.match(when):
        return Rule(kind="threshold", metric=m["metric"], op=m["op"], value=float(m["value"]), **common)
    if m := _TREND.match(when):
        window = int(m["window"])
        if window < 1:
            raise ActotError(f"{where}: 'over {window}' needs a window of at least 1 report")
        return Rule(kind="trend", metric=m["metric"], direction=m["dir"], window=window, **common)
    if _NON_FINITE.match(when):
        return Rule(kind="non_finite", **common)
    raise ActotError(
        f"{where}: cannot read when: \"{when}\"; write 'METRIC OP NUMBER' (e.g. ot_pi_sum < 0.1), "
        "'METRIC rising over N', or 'any non_finite'"
    )


def _plain_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value, key: str, where: str) -> int:
    """A YAML whole number; 50.9, true or "50" are refused rather than silently coerced."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ActotError(f"{where}: {key}={value!r} must be a whole number (e.g. {key}: 2)")
    return value


def parse_rules(specs, where: str = "rules") -> list[Rule]:
    rules = [parse_rule(s, f"{where}[{i}]") for i, s in enumerate(specs or [])]
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ActotError(f"{where}: rule names repeat ({names}); give each rule its own name")
    return rules


def _is_finite_number(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def check_rule(rule: Rule, history: list[dict], last_step: int | None = None) -> Decision | None:
    """Does `rule` fire at the latest row of `history`? (Rows: {'step': int, metric: value}.)

    last_step: the step of the trial's last report; a `last_only` rule fires at no other (and at
    none when it is not known)."""
    if not history:
        return None
    latest = history[-1]
    step = int(latest.get("step", 0))
    if rule.last_only and step != last_step:
        return None
    if rule.kind == "non_finite":
        bad = [k for k, v in latest.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad and step >= rule.after:
            return Decision(rule.name, rule.action, step, f"{bad[0]}={latest[bad[0]]} at step {step}")
        return None
    if step < rule.after or rule.metric not in latest:
        return None
    # Every report of the metric counts, a NaN one included: a NaN breaks a run of matching
    # reports (and a trend) rather than being skipped over.
    values = [
        (int(r.get("step", 0)), r[rule.metric]) for r in history if r.get("step", 0) >= rule.after and rule.metric in r
    ]
    if not values or values[-1][0] != step:
        return None
    if rule.kind == "threshold":
        recent = values[-rule.patience :]
        if len(recent) == rule.patience and all(
            _is_finite_number(v) and OPS[rule.op](v, rule.value) for _, v in recent
        ):
            return Decision(
                rule.name,
                rule.action,
                step,
                f"{rule.metric}={recent[-1][1]:.4g} {rule.op} {rule.value:g} for {rule.patience} report(s) "
                f"at step {step}",
            )
        return None
    window = [v for _, v in values[-(rule.window + 1) :]]
    if len(window) < rule.window + 1 or not all(_is_finite_number(v) for v in window):
        return None
    sign = 1.0 if rule.direction == "rising" else -1.0
    monotone = all(sign * (b - a) > 0 for a, b in zip(window, window[1:]))
    change = sign * (window[-1] - window[0]) / max(abs(window[0]), 1e-12)
    if monotone and change > rule.min_change:
        return Decision(
            rule.name,
            rule.action,
            step,
            f"{rule.metric} {rule.direction} {window[0]:.4g} -> {window[-1]:.4g} over {rule.window} reports "
            f"at step {step}",
        )
    return None


def check_rules(rules: list[Rule], history: list[dict], last_step: int | None = None) -> list[Decision]:
    """Every rule that fires at the latest report, stops first (`last_step`: see `check_rule`)."""
    fired = [d for d in (check_rule(r, history, last_step) for r in rules) if d is not None]
    return sorted(fired, key=lambda d: d.action != "stop")


def first_decisions(rules: list[Rule], history: list[dict], last_step: int | None = None) -> list[Decision]:
    """Each rule's first firing over the growing prefixes of `history`, as the live check would
    have met it report by report, every rule on its own (shadow mode; the rule audit's replay).

    `history` is a whole trial: its last row is the last report (`last_step`, unless given), the
    only one a `last_only` rule reads. A pure function of the history, so a resumed trial records
    the same decisions.
    """
    if last_step is None and history:
        last_step = int(history[-1].get("step", 0))
    first: dict[str, Decision] = {}
    for end in range(1, len(history) + 1):
        for decision in check_rules([r for r in rules if r.name not in first], history[:end], last_step):
            first[decision.rule] = decision
    return sorted(first.values(), key=lambda d: (d.step, d.rule))
