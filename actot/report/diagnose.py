"""The seed log's rules applied to each trial and to the sweep: what went wrong, what is healthy, what to try.

The thresholds are the seed authors' (their log and their own fork's hand rules): a plan whose
mass `ot_pi_sum` ends below 0.1 has collapsed (OT is nearly off: raise reg or tau); a large plan
(> 0.3) whose `ot_cost(state)` falls by less than 10% aligns the wrong things (lower weight_label
or go embed-only); a finished run with a healthy plan and an offline eval L1 down by at least 10%
is stable, ready for a larger lambda_ot; an eval L1 that moved by less than 2% has stalled; large
gradients want a larger reg and a smaller lr. One rule is ours, from the benchmark
(bench/RESULTS.md): camera embeddings that end below a tenth of their untrained size
(`ot_embed_shrink`) mean OT lowers its loss by shrinking them, not by aligning them; such a run is
not "stable, ready for a larger lambda_ot". Each finding carries a code and English and Chinese
text; the advisor reads the codes (collapsed, stable) when it writes the next search space.

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
"""

from __future__ import annotations

from dataclasses import dataclass

from actot.report.load import Sweep, Trial
from actot.rules import first_decisions, parse_rule

COLLAPSE_BELOW = 0.1
LARGE_PLAN_ABOVE = 0.3
COST_FALL_NEEDED = -0.10
STABLE_L1_GAIN = 0.10
STALLED_L1_GAIN = 0.02
GRAD_GROWTH = 1.0        # last train/grad_norm above this multiple of the trial's own early level
GRAD_EARLY_REPORTS = 3   # the early level: the median of this many first reports
EMBED_COLLAPSE = parse_rule("embed_collapse")  # ours, not the seed's: the built-in rule's test (bench/RESULTS.md)

# The seed log's advice per rule that stopped trials (the console's end-of-sweep lines).
ADVICE = {
    "pi_collapse": "the plan lost its mass: raise ot.reg (e.g. to 3) or ot.tau (e.g. to 20), keep the diagonal prior",
    "ot_cost_diverging": "the state-space OT cost kept rising: lower ot.weight_label, or try embed-only (weight_label=0), "
                         "or lower ot.reg slightly",
    "non_finite": "a metric became NaN/Inf: lower the learning rate or lambda_ot, or raise ot.reg",
    "embed_collapse": "OT lowers its loss by shrinking the camera embeddings, not by aligning them: set "
                      "ot.embed_norm=l2 (on the embedded benchmark it keeps them and co-training's success), "
                      "or lower lambda_ot (docs/ot.md)",
    "asha": "ASHA judged these behind their peers at a rung; more steps or a larger grace_period would tell more",
}


@dataclass
class Finding:
    code: str            # collapsed, large_plan_flat_cost, stable, l1_stalled, grad_norm_large, non_finite, diverging
    trial_id: str
    en: str
    zh: str


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


def diagnose_trial(trial: Trial) -> list[Finding]:
    out = []
    _, pi_last = _first_last(trial, "ot_pi_sum")
    cost_change = _change(*_first_last(trial, "ot_cost(state)"))
    l1_first, l1_last = _first_last(trial, "eval/avg_l1")
    l1_gain = None if _change(l1_first, l1_last) is None else -_change(l1_first, l1_last)
    grad = grad_norm_growth(trial)
    tid = trial.trial_id
    collapsed = trial.stop_rule == "pi_collapse" or (pi_last is not None and pi_last < COLLAPSE_BELOW)
    if trial.status == "non_finite" or trial.stop_rule == "non_finite":
        out.append(Finding("non_finite", tid, "a metric became NaN/Inf: lower lr or lambda_ot, or raise reg",
                           "指标出现 NaN/Inf：降低学习率或 λ_ot，或提高 reg"))
    if collapsed:
        out.append(Finding("collapsed", tid,
                           f"collapsed plan (ot_pi_sum last={pi_last:.3g} < {COLLAPSE_BELOW}): raise reg (e.g. to 3) "
                           "or tau (e.g. to 20), keep heuristic",
                           f"π 塌缩（π总和 末={pi_last:.3g} < {COLLAPSE_BELOW}）：提高 reg（如到 3.0）或 tau（如到 20），"
                           "并保持 heuristic") if pi_last is not None else
                   Finding("collapsed", tid, "collapsed plan (stopped by pi_collapse): raise reg or tau",
                           "π 塌缩（被 pi_collapse 停止）：提高 reg 或 tau"))
    elif pi_last is not None and pi_last > LARGE_PLAN_ABOVE and cost_change is not None and cost_change > COST_FALL_NEEDED:
        out.append(Finding("large_plan_flat_cost", tid,
                           f"large plan (ot_pi_sum last={pi_last:.3g}) but ot_cost(state) changed {cost_change:+.1%}, "
                           "not down 10%: lower weight_label (x0.5) or try embed-only (weight_label=0); lower reg slightly",
                           f"π 较大（π总和 末={pi_last:.3g}）但 OT cost(state) 变化 {cost_change:+.1%}，未降 10%："
                           "减小 weight_label（×0.5）或仅用 embedding 做对照；必要时略降 reg"))
    shrunk = first_decisions([EMBED_COLLAPSE], trial.history) if trial.finite("ot_embed_shrink") else []
    if shrunk:  # the same test as the rule's, so the report and the sweep's flag agree
        _, shrink = _first_last(trial, "ot_embed_shrink")
        out.append(Finding("embed_collapse", tid,
                           f"embeddings shrank below {EMBED_COLLAPSE.value:g} of their untrained size ({shrunk[0].reason}; "
                           f"last {shrink:.2g}): " + ADVICE["embed_collapse"],
                           f"embedding 收缩到初始大小的 {EMBED_COLLAPSE.value:g} 以下（末={shrink:.2g}）：OT 靠缩小而非对齐 "
                           "embedding 降低损失；设 ot.embed_norm=l2"))
    if trial.stop_rule == "ot_cost_diverging":
        out.append(Finding("diverging", tid, ADVICE["ot_cost_diverging"],
                           "OT cost(state) 持续上升：减小 weight_label，或仅用 embedding，或略降 reg"))
    if l1_gain is not None and l1_gain < STALLED_L1_GAIN and trial.status == "finished":
        out.append(Finding("l1_stalled", tid, f"offline eval L1 improved only {l1_gain:.1%} (< 2%): more steps, or lr x1.4",
                           f"离线评估L1 仅改善 {l1_gain:.1%}（< 2%）：增加步数，或学习率 ×1.4"))
    if grad is not None and grad[0] > GRAD_GROWTH * grad[1]:
        out.append(Finding("grad_norm_large", tid,
                           f"train/grad_norm grew: last {grad[0]:.3g} > its early level {grad[1]:.3g} (median of its "
                           f"first {GRAD_EARLY_REPORTS} reports): reg x1.3, lr x0.7",
                           f"梯度范数在训练中变大：末={grad[0]:.3g} > 初期水平 {grad[1]:.3g}（前 {GRAD_EARLY_REPORTS} 次上报"
                           "的中位数）：reg ×1.3，学习率 ×0.7"))
    healthy = (trial.status == "finished" and not collapsed and pi_last is not None
               and not any(f.code in ("large_plan_flat_cost", "grad_norm_large", "non_finite", "embed_collapse")
                           for f in out))
    if healthy and l1_gain is not None and l1_gain >= STABLE_L1_GAIN:
        out.append(Finding("stable", tid,
                           f"stable (ot_pi_sum last={pi_last:.3g}, eval L1 down {l1_gain:.1%}): ready for a larger "
                           "lambda_ot (e.g. 0.1 -> 0.2)",
                           f"稳定（π总和 末={pi_last:.3g}，离线评估L1 下降 {l1_gain:.1%}）：可把 λ_ot 提升（如 0.1→0.2）"
                           "放大 OT 作用"))
    return out


def diagnose(sweep: Sweep) -> list[Finding]:
    return [f for trial in sweep.trials for f in diagnose_trial(trial)]


def rule_advice(sweep: Sweep) -> list[str]:
    """One line per rule that stopped or flagged trials: how many, where in the space, what to do."""
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
        lines.append(f"{rule} {verb} {len(trials)} trial(s) ({', '.join(where)}): {ADVICE.get(rule, 'see the rule')}")
    return lines
