"""The ranked table: configs ordered by one metric, with 95% intervals where a config ran with several seeds.

Trials are grouped by their searched config (the knobs in `param/*`; a training `seed` or
`confirm_of` column does not split a group), so that repeats of one config are ranked by their
mean with a bootstrap interval (`stats.py`). A trial's value is its metric under a `scope`:
`last` (last finite report), `best` (best finite report, in the metric's direction) or
`mean_last_k` (mean of its last k finite reports). Finished configs come first, then
rule-stopped, non-finite, unfinished and errored ones: a stopped trial's flattering early value
never outranks a finished one.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field

from actot.errors import ActotError
from actot.metrics import direction_for_ranking
from actot.report.load import Sweep, Trial
from actot.report.labels import SCOPE_WORDS, TABLE, Note, label, status_word
from actot.report.stats import MIN_INTERVAL_N, Interval, mean_interval, overlaps, prob_beats

SCOPES = ("last", "best", "mean_last_k")
STATUS_ORDER = {"finished": 0, "stopped": 1, "non_finite": 2, "running": 3, "interrupted": 3, "error": 4}


def trial_value(trial: Trial, metric: str, scope: str, better: str, k: int = 3) -> float | None:
    """One number per trial under `scope`; None when it never reported a finite value."""
    values = [v for _, v in trial.finite(metric)]
    if not values:
        return None
    if scope == "last":
        return values[-1]
    if scope == "best":
        return min(values) if better == "min" else max(values)
    tail = values[-k:]
    return sum(tail) / len(tail)


def best_at(trial: Trial, metric: str, better: str | None) -> tuple[float, int] | None:
    points = trial.finite(metric)
    if not points or better is None:
        return None
    step, value = (min if better == "min" else max)(points, key=lambda p: p[1])
    return value, step


def config_key(trial: Trial, knobs: list[str]) -> tuple:
    def norm(v):
        return float(f"{v:.12g}") if isinstance(v, float) else v
    return tuple((k, norm(trial.params.get(k))) for k in knobs)


@dataclass
class Group:
    """One config: its trials, the trials whose values count, their mean and interval."""

    config: dict
    trials: list[Trial]
    status: str = ""
    counted: list[Trial] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    interval: Interval | None = None
    p_leader_beats: float | None = None  # P(the leader's value beats this config's), both with >= 2 values

    @property
    def order(self) -> int:
        return STATUS_ORDER.get(self.status, 5)


@dataclass
class Ranking:
    metric: str
    better: str
    scope: str
    k: int
    groups: list[Group]
    notes: list[Note]                # English text, each with its Chinese (`Note.zh`)


def rank(sweep: Sweep, metric: str | None = None, scope: str | None = None, k: int | None = None,
         mode: str | None = None, leaders: int = 3) -> Ranking:
    """Configs ranked by one number per trial. scope/k default to the sweep's own score: the mean of the last
    `score_last_k` values when the sweep set it above 1 (`mean_last_k`), else the last value."""
    metric = metric or sweep.metric
    own_k = int((sweep.resolved.get("sweep") or {}).get("score_last_k") or 1)
    if scope is None:
        scope = "mean_last_k" if own_k > 1 and metric == sweep.metric else "last"
    if k is None:
        k = own_k if own_k > 1 else 3
    if scope not in SCOPES:
        raise ActotError(f"command line: scope={scope!r} must be one of {', '.join(SCOPES)}")
    if k < 1:
        raise ActotError(f"command line: k={k} must be >= 1 (the reports averaged by scope=mean_last_k)")
    better = direction_for_ranking(metric, mode if mode is not None else (sweep.mode if metric == sweep.metric
                                                                            else None))
    groups: dict[tuple, Group] = {}
    for trial in sweep.trials:
        key = config_key(trial, sweep.knobs)
        groups.setdefault(key, Group(config=dict(key), trials=[])).trials.append(trial)
    sign = 1.0 if better == "min" else -1.0
    for group in groups.values():
        group.status = min((t.status for t in group.trials), key=lambda s: STATUS_ORDER.get(s, 5))
        for trial in group.trials:
            value = trial_value(trial, metric, scope, better, k)
            if trial.status == group.status and value is not None:
                group.counted.append(trial)
                group.values.append(value)
        if group.values:
            group.interval = mean_interval(group.values)
    ordered = sorted(groups.values(), key=lambda g: (g.order, sign * g.interval.mean if g.interval else math.inf))
    notes = _confidence(ordered, better, leaders) + convergence_notes(sweep)
    return Ranking(metric, better, scope, k, ordered, notes)


def still_improving(sweep: Sweep) -> tuple[list[Trial], object]:
    """(finished trials whose held-out L1 was still falling at their last report, the rule that says so):
    flagged by `not_converged`, or (a sweep that did not run that rule) past the rule's own threshold."""
    from actot.rules import parse_rule

    rule = parse_rule("not_converged")
    out = []
    for trial in sweep.trials:
        trend = trial.finite(rule.metric)
        flagged = rule.name in (trial.flags or "").split(",")
        if trial.status == "finished" and (flagged or (trend and trend[-1][1] < rule.value)):
            out.append(trial)
    return out, rule


def convergence_notes(sweep: Sweep) -> list[Note]:
    improving, rule = still_improving(sweep)
    if not improving:
        return []
    finished = sum(t.status == "finished" for t in sweep.trials)
    return [Note(f"{len(improving)} of {finished} finished trial(s) were still improving when training stopped "
                 f"({rule.name}: held-out eval/avg_l1 over the last third of training more than {abs(rule.value):.0%} "
                 f"below the third before, {rule.metric} {rule.op} {rule.value:g}): their values read the step where "
                 f"training stopped, and more steps= could change the order.",
                 f"{finished} 个完成的试验中有 {len(improving)} 个在训练结束时仍在改善（{rule.name}：训练最后三分之一的"
                 f"离线评估L1 比之前三分之一低 {abs(rule.value):.0%} 以上，{rule.metric} {rule.op} {rule.value:g}）："
                 "它们的值取自训练停止的那一步，增加 steps= 可能改变排名。")]


def _confidence(groups: list[Group], better: str, leaders: int) -> list[Note]:
    """P(leader beats runner-up) and the 'cannot be told apart' verdicts for the leading configs; intervals are
    compared only where both configs have one (n >= 3): an n = 2 config is said to be unsettled instead."""
    ranked = [g for g in groups if g.interval is not None and g.status == "finished"]
    if not ranked:
        return [Note("No finished config has a finite value of this metric: nothing to rank yet.",
                     "没有完成的配置给出该指标的有限值：尚无可排名的结果。")]
    if all(g.interval.n == 1 for g in ranked):
        return [Note("Each config ran with one training seed: the order rests on one noisy number per config; "
                     "repeat the leaders with several seeds (a confirm stage) to get intervals.",
                     "每个配置只用一个训练种子：排名只依赖每个配置的一个有噪声的数；用多个种子复跑领先的配置"
                     "（confirm 阶段）才能得到区间。")]
    leader, notes, tied, unsettled = ranked[0], [], [], []
    for pos, group in enumerate(ranked[1:leaders], start=2):
        if leader.interval.n >= 2 and group.interval.n >= 2:
            group.p_leader_beats = prob_beats(leader.values, group.values, better)
        if not (leader.interval.has_width and group.interval.has_width):
            unsettled.append(f"#{pos} (n={group.interval.n})")
        elif overlaps(leader.interval, group.interval):
            tied.append(f"#{pos}")
    if leader.interval.n < 2:
        notes.append(Note("The leader ran with one seed: it has no interval; repeat it with several seeds.",
                          "第一名只用一个种子：没有区间；用多个种子复跑它。"))
    elif not leader.interval.has_width:
        notes.append(Note(f"The leader ran with {leader.interval.n} seeds: too few for a 95% interval (it takes "
                          f"{MIN_INTERVAL_N}); its order is not settled at this budget.",
                          f"第一名只有 {leader.interval.n} 个种子：不足以给出 95% 区间（需要 {MIN_INTERVAL_N} 个）；"
                          "在此预算下名次未定。"))
    else:
        if tied:
            notes.append(Note(f"#1 and {', '.join(tied)} cannot be told apart at this budget: their 95% intervals "
                              "overlap.", f"#1 与 {', '.join(tied)} 在此预算下无法区分：95% 区间重叠。"))
        if unsettled:
            notes.append(Note(f"{', '.join(unsettled)}: too few trials for a 95% interval (it takes "
                              f"{MIN_INTERVAL_N}), so whether #1 is better is not settled at this budget.",
                              f"{', '.join(unsettled)}：试验太少，不足以给出 95% 区间（需要 {MIN_INTERVAL_N} 个），"
                              "在此预算下不能断定 #1 更好。"))
        if not tied and not unsettled and len(ranked) > 1:
            notes.append(Note("#1's 95% interval overlaps none of the next configs' intervals.",
                              "#1 的 95% 区间与其后配置的区间都不重叠。"))
    return notes


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def why(trial: Trial, first: bool, lang: str = "en") -> str:
    w = TABLE[lang]
    text = _why(trial, first, lang)
    retries = trial.extra.get("retries")
    if retries:
        resumed = trial.extra.get("resumed_from")
        text += w["retried"].format(n=retries) + (w["resumed"].format(step=resumed) if resumed is not None else "")
    return text


def _why(trial: Trial, first: bool, lang: str) -> str:
    """Why the trial sits where it does; a rule's reason and the shadow rules' words stay as the rule wrote them."""
    w = TABLE[lang]
    if trial.status == "stopped":
        return w["stopped_at"].format(rule=trial.stop_rule, step=trial.stop_step, reason=trial.stop_reason)
    if trial.status == "finished":
        text = w["best_value"] if first else w["finished"]
        shadow = ", ".join(f"{d['rule']} would {d['action']} at step {d['step']}" for d in trial.shadow_decisions())
        return (text + (w["flagged"].format(rules=trial.flags) if trial.flags else "")
                + (w["shadow"].format(what=shadow) if shadow else ""))
    if trial.status in ("non_finite", "error") and trial.stop_reason:
        return f"{status_word(trial.status, lang)}: {trial.stop_reason}"
    return status_word(trial.status, lang)


def _with_se(trial: Trial, key: str) -> str | None:
    """The last finite value of `key`, with its standard error (`key_se`, same report) when logged and above 0.

    An SE of 0 is no measurement of spread: eval/avg_l1_se is 0 when one episode is held out (no spread
    across one), eval/success_se when every rollout failed or every one succeeded. So no `±0`."""
    row = next((r for r in reversed(trial.history) if isinstance(r.get(key), float) and math.isfinite(r[key])), None)
    if row is None:
        return None
    se = row.get(f"{key}_se")
    return f"{row[key]:.4g}" + (f"±{se:.2g}" if isinstance(se, float) and math.isfinite(se) and se > 0 else "")


def _has_se(sweep: Sweep, key: str) -> bool:
    return any(v > 0 for t in sweep.trials for _, v in t.finite(f"{key}_se"))


def interval_cell(iv: Interval | None, lang: str = "en") -> str:
    if iv is None or iv.n < 2:
        return "-"
    return f"[{iv.low:.4g}, {iv.high:.4g}]" if iv.has_width else TABLE[lang]["no_interval"].format(n=iv.n)


def table_rows(ranking: Ranking, sweep: Sweep, lang: str = "en") -> tuple[list[str], list[dict]]:
    """Header and one row (dict by header) per config: what the console, Markdown and HTML tables show."""
    w = TABLE[lang]
    knobs = sweep.knobs
    has_success = any(t.finite("eval/success") for t in sweep.trials)
    extra = "eval/success" if ranking.metric != "eval/success" and has_success else None
    # one trial's last value carries its own standard error (over rollouts or held-out episodes); one held-out
    # episode has none, and the header says so instead of a ±0 in every row
    one_episode = ranking.metric == "eval/avg_l1" and sweep.held_out_episodes() == 1
    own_se = ranking.scope == "last" and not one_episode and _has_se(sweep, ranking.metric)
    value_head = (f"{SCOPE_WORDS[lang][ranking.scope]} {label(ranking.metric, lang)}" + (w["own_se"] if own_se else "")
                  + (w["one_episode"] if one_episode else ""))
    header = ["#", w["trial"], w["status"], "n", value_head, w["interval"], w["p_beats"], w["best_at"],
              *([label(extra, lang) + w["se"]] if extra else []), *[k.split(".", 1)[-1] for k in knobs], w["why"]]
    rows = []
    for pos, group in enumerate(ranking.groups, start=1):
        lead = group.counted[0] if group.counted else group.trials[0]
        best = best_at(lead, ranking.metric, ranking.better)
        success = _with_se(lead, extra) if extra else None
        iv = group.interval
        value = _with_se(lead, ranking.metric) if own_se and len(group.values) == 1 else _fmt(iv.mean if iv else None)
        cells = [str(pos), lead.display_name(lang) + (f" +{len(group.trials) - 1}" if len(group.trials) > 1 else ""),
                 status_word(group.status, lang), str(len(group.values)), value, interval_cell(iv, lang),
                 f"{group.p_leader_beats:.2f}" if group.p_leader_beats is not None else "-",
                 f"{best[0]:.4g}@{best[1]}" if best else "-", *([_fmt(success)] if extra else []),
                 *[_fmt(group.config.get(k)) for k in knobs], why(lead, pos == 1, lang)]
        rows.append(dict(zip(header, cells)))
    return header, rows


def _width(text: str) -> int:
    """Columns `text` takes in a monospaced table: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def format_table(ranking: Ranking, sweep: Sweep, limit: int = 20, lang: str = "en") -> str:
    """The ranked table as text, in `lang` (en or zh): headers, statuses, footer and notes."""
    w = TABLE[lang]
    header, rows = table_rows(ranking, sweep, lang)
    cells = [header] + [[r[h] for h in header] for r in rows[:limit]]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(header) - 1)]
    lines = ["  ".join(c + " " * (n - _width(c)) for c, n in zip(r[:-1], widths)) + "  " + r[-1] for r in cells]
    lines.insert(1, "-" * min(160, _width(lines[0])))
    if len(rows) > limit:
        lines.append(w["more"].format(n=len(rows) - limit))
    scope = SCOPE_WORDS[lang][ranking.scope] + ("" if ranking.scope != "mean_last_k" else f" (k={ranking.k})")
    lines.append(w["footer"].format(scope=scope, metric=label(ranking.metric, lang),
                                    better=w["lower"] if ranking.better == "min" else w["higher"]))
    return "\n".join(lines + [note.in_lang(lang) if isinstance(note, Note) else note for note in ranking.notes])
