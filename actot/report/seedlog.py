"""The seed authors' report, written for a sweep: per trial its config and every metric as first / last / best@step / Δ.

Layout and labels follow the seed authors' hand-written log (`lang=zh` uses its words, the string
catalogue's `metric.` labels and `seedlog.word.` first, last, best, Δ ...). A metric with a better
end gets best@step in that direction; one with a healthy range instead (ot_pi_sum, ot_pi_diag)
gets its lowest and highest value with their steps. Then the diagnosis (the seed log's rules,
`diagnose.py`), the knob importance and the next steps.
"""

from __future__ import annotations

import math
from pathlib import Path

from actot.config import normalise_value
from actot.knobs import to_overrides
from actot.metrics import direction
from actot.report.baseline import is_baseline, paired_section
from actot.report.advisor import hold_reason
from actot.report.diagnose import diagnose, rule_advice
from actot.report.importance import Importance, importance_lines
from actot.report.labels import TABLE, WORDS, label, ordered, status_word
from actot.report.load import Sweep, Trial
from actot.report.confirm import confirm_ranking, confirm_text
from actot.report.rank import Ranking, format_table, is_confirm
from actot.report.robot_eval import sweep_lines, sweep_verdicts
from actot.strings import section, text

LANGS = ("en", "zh")


def report_file(lang: str) -> str:
    """The report's file name in the sweep folder: report.md in English, report.<lang>.md otherwise."""
    return "report.md" if lang == "en" else f"report.{lang}.md"


# The report's own words by language (`seedlog.` of actot/strings.py), and the diagnosis counted per finding.
TEXT = section("seedlog")
SUMMARY = section("seedlog.summary")
OT_LINES = (("window_size", "reg", "tau", "heuristic"), ("weight_embed", "weight_label", "lambda_ot"))


def fmt(value) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.4g}"


def metric_line(trial: Trial, key: str, lang: str) -> str | None:
    """`label: first=…, last=…, best=…@step, Δ=… (…%)` in the seed log's format; None if never reported."""
    series = trial.series(key)
    if not series:
        return None
    w = WORDS[lang]
    first, last = series[0][1], series[-1][1]
    parts = [f"{w['first']}={fmt(first)}", f"{w['last']}={fmt(last)}"]
    finite = trial.finite(key)
    better = direction(key)
    if better is None:
        lo = min(finite, key=lambda p: p[1]) if finite else None
        hi = max(finite, key=lambda p: p[1]) if finite else None
        parts += [
            f"{w['low']}={fmt(lo[1]) if lo else 'nan'}@{lo[0] if lo else None}",
            f"{w['high']}={fmt(hi[1]) if hi else 'nan'}@{hi[0] if hi else None}",
        ]
    else:
        best = (min if better == "min" else max)(finite, key=lambda p: p[1]) if finite else None
        parts.append(f"{w['best']}={fmt(best[1]) if best else 'nan'}@{best[0] if best else None}")
    delta = last - first
    pct = f" ({delta / abs(first) * 100:.2f}%)" if first != 0 and math.isfinite(delta) else ""
    parts.append(f"{w['delta']}={fmt(delta)}{pct}")
    return f"{label(key, lang)}: " + ", ".join(parts)


def ot_config(sweep: Sweep, trial: Trial) -> dict:
    """The trial's OT knobs: the sweep's training config with the trial's searched values on top (for a trial of the
    baseline arm, the arm's own overrides, e.g. ot.lambda_ot=0: it ran with those, not the base config's)."""
    ot = dict(sweep.resolved.get("train", {}).get("ot", {}))
    other = {}
    overrides = to_overrides(trial.params, tau=ot.get("tau"))
    if is_baseline(trial):
        overrides.update(paired_section(sweep).get("baseline") or {})
    for key, value in overrides.items():
        if key.startswith("ot."):
            ot[key[3:]] = normalise_value(key, value)  # a tied ot.tau is one number: the pair it sets
        else:
            other[key] = value
    return {**ot, **{f"_{k}": v for k, v in other.items()}}


def _show(value) -> str:
    if isinstance(value, list):
        if len(value) == 1:
            return fmt(value[0])
        return "(" + ",".join(fmt(v) for v in value) + ")"
    return fmt(value)


def config_lines(sweep: Sweep, trial: Trial) -> list[str]:
    ot = ot_config(sweep, trial)
    lines = [", ".join(f"{k}={_show(ot[k])}" for k in keys if k in ot) for keys in OT_LINES]
    other = [f"{k[1:]}={_show(v)}" for k, v in ot.items() if k.startswith("_")]
    if other:
        lines.append(", ".join(other))
    return [line for line in lines if line]


def trial_block(sweep: Sweep, trial: Trial, rank_no: int | None, lang: str) -> list[str]:
    """One trial's config and metric lines; `rank_no` None for a trial of the baseline arm (it is not ranked)."""
    t = TEXT[lang]
    sep = TABLE[lang]["semi"]
    status = status_word(trial.status, lang) + (
        sep + TABLE[lang]["stopped_at"].format(rule=trial.stop_rule, step=trial.stop_step, reason=trial.stop_reason)
        if trial.stop_rule
        else ""
    )
    head = (
        f"### {f'#{rank_no} ' if rank_no is not None else ''}{trial.display_name(lang)}  "
        f"({status}{sep}{Path('trials') / trial.trial_id})"
    )
    lines = [head, f"- {t['config']}{t['head_colon']}"]
    lines += [f"  - {line}" for line in config_lines(sweep, trial)]
    lines.append(f"- {t['metrics']}{t['head_colon']}")
    metric_lines = [metric_line(trial, key, lang) for key in ordered(trial.metrics())]
    lines += [f"  - {line}" for line in metric_lines if line] or [f"  - {t['no_metrics']}"]
    for d in trial.shadow_decisions():  # rules.shadow=true: what each rule would have done (not translated)
        lines.append(f"- shadow: {d['rule']} would {d['action']} at step {d['step']}: {d['reason']}")
    return lines + [""]


def write_seed_report(
    sweep: Sweep,
    ranking: Ranking,
    importance: Importance,
    path: Path,
    lang: str = "en",
    finished: bool = True,
    next_space: Path | None = None,
) -> Path:
    """The Markdown report in the seed log's layout; `lang` en or zh."""
    t = TEXT[lang]
    counts: dict[str, int] = {}
    for trial in sweep.trials:
        counts[trial.status] = counts.get(trial.status, 0) + 1
    space = sweep.space
    colon, comma, stop = t["colon"], TABLE[lang]["comma"], t["stop"]
    # a sweep with a baseline arm: its one-line answer to "does OT beat co-training?" comes first
    lead = [f"**{ranking.lead.in_lang(lang)}**", ""] if ranking.lead is not None else []
    lines = [
        f"# {t['title'].format(name=sweep.name)}",
        "",
        *lead,
        t["intro"].format(
            space=space.get("name", "?"), knobs=space.get("knobs", ""), metric=sweep.metric, mode=sweep.mode
        )
        + t["gap"]
        + f"{t['trials']}{colon}"
        + comma.join(f"{v} {status_word(k, lang)}" for k, v in sorted(counts.items()))
        + stop
        + ("" if finished else " " + t["interrupted"]),
        "",
        f"## {t['ranking']}",
        "",
        "```",
        format_table(ranking, sweep, lang=lang, lead=False),
        "```",
        "",
    ]
    order = [trial for group in ranking.groups for trial in group.trials]
    for pos, trial in enumerate(order, start=1):
        lines += trial_block(sweep, trial, pos, lang)
    for trial in ranking.baseline.trials if ranking.baseline is not None else []:
        lines += trial_block(sweep, trial, None, lang)
    repeats = [t for t in sweep.trials if is_confirm(t)]
    if repeats:  # the fresh seeds' own section: they never merge with the search's
        lines += [f"## {t['confirm_stage']}", ""]
        if confirm_ranking(sweep) is not None:
            lines += ["```", confirm_text(sweep, lang), "```", ""]
        for trial in repeats:
            lines += trial_block(sweep, trial, None, lang)
    shortlists = sweep_verdicts(sweep.path)
    if shortlists:  # what the robot said of the shortlist(s) taken from this sweep (actot/report/robot_eval.py)
        lines += [f"## {text('verdict.in_sweep', lang)}", ""]
        for item in shortlists:
            lines += [*sweep_lines(item, lang), ""]
    findings = diagnose(sweep)
    lines += [f"## {t['diagnosis']}", ""]
    names = {trial.trial_id: trial.display_name(lang) for trial in sweep.trials}
    lines += [f"- {names.get(f.trial_id, f.trial_id)}: {f.in_lang(lang)}" for f in findings] or [f"- {t['none']}"]
    summary = _sweep_summary(findings, len(sweep.trials), lang)
    lines += [f"- {t['sweep_level']}: {line}" for line in summary]
    lines += [f"- {line}" for line in rule_advice(sweep, lang)]
    lines += ["", f"### {t['importance']}", ""] + [f"- {line}" for line in importance_lines(importance, lang)]
    lines += ["", f"## {t['next']}", ""]
    # what the sweep can act on (the diagnosis above says where nothing is within reach)
    advice = list(
        dict.fromkeys(
            text("diagnose.or", lang).join(a.in_lang(lang) for a in f.actions)
            for f in findings
            if f.code != "stable" and f.actions
        )
    )
    hold = hold_reason(ranking, importance)
    if hold is not None:  # a direction for the next search needs evidence this sweep does not have: say so
        advice.append(t["hold"].format(why=hold.in_lang(lang)))
    elif any(f.code == "stable" and f.actions for f in findings):
        advice.append(t["stable_advice"])
    lines += [f"- {a}" for a in advice]
    if next_space is not None:
        lines.append(f"- {t['next_space'].format(path=next_space)}")
    if (sweep.path / "curves.png").is_file():
        lines += ["", f"![{t['curves'].format(metric=sweep.metric)}](curves.png)"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _sweep_summary(findings, n_trials: int, lang: str) -> list[str]:
    by_code: dict[str, set] = {}
    for f in findings:
        by_code.setdefault(f.code, set()).add(f.trial_id)
    names = SUMMARY[lang]
    return [f"{names.get(code, code)}: {len(ids)}/{n_trials}" for code, ids in by_code.items()]
