"""The seed log's rules applied to each trial and to the sweep: what went wrong, what is healthy, what to try.

The thresholds are the seed authors' (their log and their own fork's hand rules): a plan whose
mass `ot_pi_sum` ends below 0.1 has collapsed (OT is nearly off: raise reg or tau); a large plan
(> 0.3) whose `ot_cost(state)` falls by less than 10% aligns the wrong things (lower weight_label
or go embed-only); a finished run with a healthy plan and an offline eval L1 down by at least 10%
is stable, ready for a larger lambda_ot; an eval L1 that moved by less than 2% has stalled; large
gradients want a larger reg and a smaller lr. One rule is ours, from the benchmark
(bench/RESULTS.md; the threshold is the built-in rule `embed_collapse`'s, actot/rules/engine.py):
camera embeddings that end far below their untrained size (`ot_embed_shrink`) mean OT lowers its
loss by shrinking them, not by aligning them; such a run is not "stable, ready for a larger
lambda_ot". Each finding carries a code and English and Chinese text (actot/strings.py's
`diagnose.`); the advisor reads the codes (collapsed, stable) when it writes the next search space.

"Large gradients" is scaled to the trial, not the seed's fixed `train/grad_norm > 100`. A gradient
norm's size follows the policy (its parameter count: `act` is LeRobot's full size, 512 wide with a
full ResNet-18, `act_small` 64 wide; the fixed threshold flagged every `policy=act` trial on real
data, issue 20) and the data's normalisation, so no one number holds across presets and datasets,
and only `act_small` has measured values. What is wrong in every policy is gradients that grow while
training: the finding fires when a trial's last grad norm is above its own early level (the median
of its first 3 reports, once it has more than 3). In all 191 runs of bench/data (act_small, CPU and
H200, lambda_ot 0 to 0.8, 400 and 1500 steps) the last grad norm ended at 0.04-0.34 of that early
level, so 1x leaves a 3x margin. We chose this over thresholds per preset because those would need
every preset measured on every dataset, and would still miss a run whose gradients grow from a low start.

Advice names only what the sweep can act on (`AdviceScope`): never a key the space fixes (`fixed:`);
a nudge of an OT knob (reg x1.3, raise tau) only where the space searches it, since an OT knob it
leaves out is held at the training config's value as if fixed; lambda_ot's raise after stable runs
also where it is not searched, since next_space.yaml then adds it; a switch to another variant
(ot.embed_norm=l2, embed-only) where it is not already set; training settings (steps, lr) unless
fixed; and nothing about camera embeddings (embed-only, embed_norm) when the trials had no camera
(`Sweep.data_cameras`). A finding whose every remedy is out of reach says so instead of advising.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from actot.knobs import training_key
from actot.report.baseline import is_baseline
from actot.report.load import Sweep, Trial
from actot.rules import first_decisions, parse_rule
from actot.strings import STRINGS, both, text

COLLAPSE_BELOW = 0.1
LARGE_PLAN_ABOVE = 0.3
COST_FALL_NEEDED = -0.10
STABLE_L1_GAIN = 0.10
STALLED_L1_GAIN = 0.02
GRAD_GROWTH = 1.0  # last train/grad_norm above this multiple of the trial's own early level
GRAD_EARLY_REPORTS = 3  # the early level: the median of this many first reports
EMBED_COLLAPSE = parse_rule("embed_collapse")  # ours, not the seed's: the built-in rule's test (bench/RESULTS.md)


@dataclass(frozen=True)
class Action:
    """One thing to try, in both languages (`diagnose.action.<name>` in actot/strings.py), and the key it changes.

    tune: it moves an OT knob's value (x1.3, raise to 3), so the space must search the knob.
    value: a switch sets the key to this value, and is moot where the sweep already ran with it.
    cameras: it is about camera embeddings, moot on data without cameras."""

    key: str
    en: str
    zh: str
    tune: bool = False
    value: object = None
    cameras: bool = False

    def in_lang(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


def _action(key, name, **how):
    return Action(key, *both(f"diagnose.action.{name}"), **how)


def _tune(key, name):
    return _action(key, name, tune=True)


RAISE_REG = _tune("ot.reg", "raise_reg")
RAISE_TAU = _tune("ot.tau", "raise_tau")
REG_UP = _tune("ot.reg", "reg_up")
REG_DOWN = _tune("ot.reg", "reg_down")
LABEL_DOWN = _tune("ot.weight_label", "label_down")
LAMBDA_DOWN = _tune("ot.lambda_ot", "lambda_down")
EMBED_ONLY = _action("ot.weight_label", "embed_only", value=0.0, cameras=True)
EMBED_L2 = _action("ot.embed_norm", "embed_l2", value="l2", cameras=True)
LAMBDA_UP = _action("ot.lambda_ot", "lambda_up")
LR_DOWN = _action("policy.lr", "lr_down")
LR_LOWER = _action("policy.lr", "lr_lower")
LR_UP = _action("policy.lr", "lr_up")
MORE_STEPS = _action("steps", "more_steps")
GRACE = _action("asha.grace_period", "grace")

# What each finding (by code) and each rule that stopped or flagged trials advises; " or " between them.
ACTIONS = {
    "collapsed": (RAISE_REG, RAISE_TAU),
    "large_plan_flat_cost": (LABEL_DOWN, EMBED_ONLY, REG_DOWN),
    "embed_collapse": (EMBED_L2, LAMBDA_DOWN),
    "diverging": (LABEL_DOWN, EMBED_ONLY, REG_DOWN),
    "non_finite": (LR_LOWER, LAMBDA_DOWN, RAISE_REG),
    "l1_stalled": (MORE_STEPS, LR_UP),
    "grad_norm_large": (REG_UP, LR_DOWN),
    "stable": (LAMBDA_UP,),
    "asha": (MORE_STEPS, GRACE),
}
# The console's end-of-sweep line per rule says what it means (`diagnose.rule.<rule>`); the actions follow.
RULE_FINDINGS = {
    "pi_collapse": "collapsed",
    "ot_cost_diverging": "diverging",
    "non_finite": "non_finite",
    "embed_collapse": "embed_collapse",
    "asha": "asha",
}


@dataclass(frozen=True)
class AdviceScope:
    """What a sweep's advice may name: the training keys its space searches and fixes, the training config it
    ran with (sweep.json), and its cameras ([] none, None unknown). `everything()`: no sweep, no limits."""

    searched: frozenset = frozenset()
    fixed: frozenset = frozenset()
    train: dict = field(default_factory=dict)
    cameras: tuple | None = None
    limited: bool = True

    @classmethod
    def everything(cls) -> "AdviceScope":
        return cls(limited=False)

    @classmethod
    def of(cls, sweep: Sweep) -> "AdviceScope":
        cameras = sweep.data_cameras()
        return cls(
            searched=frozenset(training_key(k) for k in sweep.knobs),
            fixed=frozenset(training_key(k) for k in (sweep.space.get("fixed") or {})),
            train=sweep.resolved.get("train") or {},
            cameras=None if cameras is None else tuple(cameras),
        )

    def _current(self, key: str):
        node = self.train
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def blocked(self, action: Action) -> str | None:
        """Why the sweep cannot act on `action` (a short clause), or None when it can."""
        if not self.limited:
            return None
        if action.cameras and self.cameras == ():
            return "the data has no camera"
        if action.key in self.fixed:
            return f"{action.key} is fixed by the space"
        if action.tune and action.key.startswith("ot.") and action.key not in self.searched:
            return f"{action.key} is not searched"
        if action.value is not None and action.key not in self.searched and self._current(action.key) == action.value:
            return f"{action.key} is already {action.value}"
        return None

    def allowed(self, actions) -> tuple[list[Action], list[str]]:
        """(the actions the sweep can act on, why each other one is left out)."""
        ok, why = [], []
        for action in actions:
            reason = self.blocked(action)
            if reason is None:
                ok.append(action)
            elif reason not in why:
                why.append(reason)
        return ok, why


@dataclass
class Finding:
    code: str  # collapsed, large_plan_flat_cost, stable, l1_stalled, grad_norm_large, non_finite, diverging
    trial_id: str
    en: str  # what was seen, then what to try (or why nothing is advised)
    zh: str
    actions: list[Action] = field(default_factory=list)  # what to try, those the sweep can act on

    def in_lang(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


def _finding(code: str, trial_id: str, seen_en: str, seen_zh: str, scope: AdviceScope) -> Finding:
    actions, why = scope.allowed(ACTIONS[code])
    advice = {
        lang: text("diagnose.or", lang).join(a.in_lang(lang) for a in actions)
        if actions
        else text("diagnose.no_advice", lang, why=text("table.semi", lang).join(why))
        for lang in ("en", "zh")
    }
    return Finding(
        code,
        trial_id,
        text("diagnose.finding", "en", seen=seen_en, advice=advice["en"]),
        text("diagnose.finding", "zh", seen=seen_zh, advice=advice["zh"]),
        actions,
    )


def _first_last(trial: Trial, key: str):
    points = trial.finite(key)
    return (points[0][1], points[-1][1]) if points else (None, None)


def _change(first, last) -> float | None:
    if first is None or last is None or first == 0:
        return None
    return (last - first) / abs(first)


def grad_norm_growth(trial: Trial) -> tuple[float, float] | None:
    """(last train/grad_norm, the trial's early level: the median of its first GRAD_EARLY_REPORTS reports);
    None when it has too few reports to tell its end from its start."""
    values = [v for _, v in trial.finite("train/grad_norm")]
    if len(values) <= GRAD_EARLY_REPORTS:
        return None
    early = sorted(values[:GRAD_EARLY_REPORTS])[GRAD_EARLY_REPORTS // 2]
    return values[-1], early


def diagnose_trial(trial: Trial, scope: AdviceScope | None = None) -> list[Finding]:
    """The seed log's findings for one trial; their advice limited to what `scope` allows (none: no limit)."""
    scope = scope or AdviceScope.everything()
    out = []
    _, pi_last = _first_last(trial, "ot_pi_sum")
    cost_change = _change(*_first_last(trial, "ot_cost(state)"))
    l1_first, l1_last = _first_last(trial, "eval/avg_l1")
    l1_gain = None if _change(l1_first, l1_last) is None else -_change(l1_first, l1_last)
    grad = grad_norm_growth(trial)
    tid = trial.trial_id
    collapsed = trial.stop_rule == "pi_collapse" or (pi_last is not None and pi_last < COLLAPSE_BELOW)
    if trial.status == "non_finite" or trial.stop_rule == "non_finite":
        out.append(_finding("non_finite", tid, *both("diagnose.seen.non_finite"), scope))
    if collapsed:
        out.append(
            _finding("collapsed", tid, *both("diagnose.seen.collapsed", pi_last=pi_last, below=COLLAPSE_BELOW), scope)
            if pi_last is not None
            else _finding("collapsed", tid, *both("diagnose.seen.collapsed_stopped"), scope)
        )
    elif (
        pi_last is not None
        and pi_last > LARGE_PLAN_ABOVE
        and cost_change is not None
        and cost_change > COST_FALL_NEEDED
    ):
        out.append(
            _finding(
                "large_plan_flat_cost",
                tid,
                *both("diagnose.seen.large_plan_flat_cost", pi_last=pi_last, change=cost_change),
                scope,
            )
        )
    shrunk = first_decisions([EMBED_COLLAPSE], trial.history) if trial.finite("ot_embed_shrink") else []
    if shrunk:  # the same test as the rule's, so the report and the sweep's flag agree
        _, shrink = _first_last(trial, "ot_embed_shrink")
        out.append(
            _finding(
                "embed_collapse",
                tid,
                *both(
                    "diagnose.seen.embed_collapse", below=EMBED_COLLAPSE.value, reason=shrunk[0].reason, shrink=shrink
                ),
                scope,
            )
        )
    if trial.stop_rule == "ot_cost_diverging":
        out.append(_finding("diverging", tid, *both("diagnose.seen.diverging"), scope))
    if l1_gain is not None and l1_gain < STALLED_L1_GAIN and trial.status == "finished":
        out.append(_finding("l1_stalled", tid, *both("diagnose.seen.l1_stalled", gain=l1_gain), scope))
    if grad is not None and grad[0] > GRAD_GROWTH * grad[1]:
        out.append(
            _finding(
                "grad_norm_large",
                tid,
                *both("diagnose.seen.grad_norm_large", last=grad[0], early=grad[1], reports=GRAD_EARLY_REPORTS),
                scope,
            )
        )
    healthy = (
        trial.status == "finished"
        and not collapsed
        and pi_last is not None
        and not any(f.code in ("large_plan_flat_cost", "grad_norm_large", "non_finite", "embed_collapse") for f in out)
    )
    if healthy and l1_gain is not None and l1_gain >= STABLE_L1_GAIN:
        out.append(_finding("stable", tid, *both("diagnose.seen.stable", pi_last=pi_last, gain=l1_gain), scope))
    return out


def diagnose(sweep: Sweep) -> list[Finding]:
    """Findings of the searched trials. The baseline arm (co-training, lambda_ot = 0) is left out: its plan is solved
    for its metrics only, so "collapsed, raise reg" or "stable, raise lambda_ot" would advise OT to a run without it."""
    scope = AdviceScope.of(sweep)
    return [f for trial in sweep.trials if not is_baseline(trial) for f in diagnose_trial(trial, scope)]


def rule_advice(sweep: Sweep, lang: str = "en") -> list[str]:
    """One line per rule that stopped or flagged trials: how many, where in the space, what to do (what the sweep
    can act on, as in the diagnosis)."""
    scope = AdviceScope.of(sweep)
    lines, by_rule = [], {}
    for trial in sweep.trials:
        if trial.stop_rule:
            by_rule.setdefault((trial.stop_rule, "stopped"), []).append(trial)
        for rule in filter(None, (trial.flags or "").split(",")):
            by_rule.setdefault((rule, "flagged"), []).append(trial)
    for (rule, verb), trials in sorted(by_rule.items()):
        where = []
        for key in sweep.knobs:
            values = [t.params[key] for t in trials if isinstance(t.params.get(key), (int, float))]
            if values:
                where.append(f"{key} {min(values):.3g}..{max(values):.3g}")
        base = sum(is_baseline(t) for t in trials)
        if base:  # the baseline arm has no knob: say it is among them rather than an empty range
            where.append(text("diagnose.baseline_among", lang, n=base))
        code = RULE_FINDINGS.get(rule)
        if code is None:  # what to do about a rule that has no diagnosis of its own
            todo = text(
                f"diagnose.no_finding.{rule}"
                if f"diagnose.no_finding.{rule}" in STRINGS
                else "diagnose.no_finding.other",
                lang,
            )
        else:
            todo = _finding(code, "", *both(f"diagnose.rule.{rule}"), scope).in_lang(lang)
        lines.append(
            text(
                "diagnose.rule_line",
                lang,
                rule=rule,
                verb=text(f"diagnose.verb.{verb}", lang),
                n=len(trials),
                where=", ".join(where),
                todo=todo,
            )
        )
    return lines
