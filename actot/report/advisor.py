"""The diagnosis as a follow-up search space: `next_space.yaml` in the sweep folder, runnable as it is.

For each searched knob the new range is the span of the best configs' values (the top third of
the finished configs that did not collapse, at least one, at most 5) widened by x2 on a log knob
or by a quarter of the old width on a linear one; it stays inside the old range except on a
side where a best config sat at the old bound, where it may go past it. Knobs with little
importance keep their range. Collapsed plans keep the low end of reg/tau above them. When the
best configs are stable (`diagnose.py`) and lambda_ot is neither searched nor fixed, lambda_ot is
added, the seed log's next step. Each knob's comment says why its range moved; the leader is the
first starting point. `python run_sweep.py space=sweeps_out/NAME/next_space.yaml` runs it.

Three things keep it from narrowing on too little (`hold_reason`): where the importance could not be
computed (too few finished configs: `importance.py`), every range is kept and its comment says why,
since a span of two or three configs, often the space's own starting points, is no evidence about
the rest of the range; where the sweep has a baseline arm and no config beat co-training, every
range is kept too (and lambda_ot is not added), since narrowing around configs that did not beat it
would aim the next search at settings where OT does not help. And where a confirm stage ran, its order (configs by their mean over seeds) comes before
the search's one-seed order: the best configs are the confirmed ones first, so the config the
confirm stage ranked first is the starting point and its values stay inside every range.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from actot.knobs import training_key
from actot.report.confirm import confirm_ranking
from actot.report.diagnose import diagnose
from actot.report.importance import Importance
from actot.report.load import Sweep
from actot.report.rank import Ranking
from actot.strings import Note, note
from actot.sweepdir import study_storage

LOW_IMPORTANCE = 0.1


def distributions(sweep: Sweep) -> dict:
    """Knob -> Optuna distribution, from sweep.json (written by the runner) or else the mirrored study."""
    import optuna

    raw = sweep.space.get("params")  # sweep.json: knob -> the distribution's JSON, parsed
    if raw:
        return {k: optuna.distributions.json_to_distribution(json.dumps(v)) for k, v in raw.items()}
    db = sweep.path / "optuna.db"
    out = {}
    if db.is_file():
        storage = study_storage(db)
        for name in optuna.get_all_study_names(storage):
            for trial in optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False):
                out.update({k: v for k, v in trial.distributions.items() if k not in out})
    return out


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() and abs(x) < 1e15 else float(f"{x:.4g}")


def _round_out(low: float, high: float) -> tuple[float, float]:
    """Round to 3 significant digits outwards, so the range still holds what it was computed from."""

    def down(x):
        if x == 0:
            return 0.0
        e = 10 ** (math.floor(math.log10(abs(x))) - 2)
        return math.floor(x / e) * e

    def up(x):
        if x == 0:
            return 0.0
        e = 10 ** (math.floor(math.log10(abs(x))) - 2)
        return math.ceil(x / e) * e

    return float(f"{down(low):.4g}"), float(f"{up(high):.4g}")


def _new_range(dist, good: list[float]) -> tuple[float, float, list[str]]:
    log = getattr(dist, "log", False)
    fwd = (lambda v: math.log(v)) if log else (lambda v: v)
    back = (lambda v: math.exp(v)) if log else (lambda v: v)
    lo_old, hi_old = fwd(dist.low), fwd(dist.high)
    width = hi_old - lo_old
    lo_g, hi_g = fwd(min(good)), fwd(max(good))
    pad = math.log(2.0) if log else 0.25 * width
    lo, hi = lo_g - pad, hi_g + pad
    why = []
    at_low, at_high = lo_g - lo_old <= 0.1 * width, hi_old - hi_g <= 0.1 * width
    if at_low and lo < lo_old:
        why.append("extended below the old low end: the best configs sat at it")
    else:
        lo = max(lo, lo_old)
    if at_high and hi > hi_old:
        why.append("extended above the old high end: the best configs sat at it")
    else:
        hi = min(hi, hi_old)
    low, high = back(lo), back(hi)
    if log:
        low = max(low, 1e-12)
    if not log and dist.low >= 0:
        low = max(low, 0.0)  # weights, windows and lambdas are never negative
    return low, high, why


def _snap(dist, low, high):
    """Integers and stepped floats stay on the old grid (Optuna requires (high - low) % step == 0)."""
    import optuna

    step = getattr(dist, "step", None)
    if isinstance(dist, optuna.distributions.IntDistribution):
        step = step or 1
        low = dist.low + math.floor((low - dist.low) / step) * step
        high = dist.low + math.ceil((high - dist.low) / step) * step
        return int(low), int(max(high, low + step))
    if step:
        low = dist.low + math.floor((low - dist.low) / step + 1e-9) * step
        high = dist.low + math.ceil((high - dist.low) / step - 1e-9) * step
        return _num(low), _num(max(high, low + step))
    low, high = _round_out(low, high)
    return low, high


def _spec(dist, low, high) -> dict:
    import optuna

    if isinstance(dist, optuna.distributions.IntDistribution):
        spec = {"type": "int", "low": int(low), "high": int(high)}
        if dist.log:
            spec["log"] = True
        elif dist.step != 1:
            spec["step"] = dist.step
        return spec
    spec = {"type": "float", "low": _num(low), "high": _num(high)}
    if dist.log:
        spec["log"] = True
    elif dist.step:
        spec["step"] = dist.step
    return spec


def hold_reason(ranking: Ranking, importance: Importance) -> Note | None:
    """Why no search-level advice (a narrowed range, a larger lambda_ot) may be drawn from this sweep, or None."""
    if not importance.values:
        return note("advisor.no_importance", why=importance.note)
    if ranking.baseline is not None and not ranking.beats_baseline:
        return note("advisor.no_beat")
    return None


def next_space(sweep: Sweep, ranking: Ranking, importance: Importance) -> tuple[str, dict]:
    """The follow-up space as YAML text with a comment per knob, and the starting point it names."""
    import optuna

    dists = distributions(sweep)
    findings = diagnose(sweep)
    collapsed = {f.trial_id for f in findings if f.code == "collapsed"}
    stable = {f.trial_id for f in findings if f.code == "stable" and f.actions}  # no actions: lambda_ot is fixed

    def healthy(groups):
        return [
            g
            for g in groups
            if g.status == "finished" and g.interval is not None and not any(t.trial_id in collapsed for t in g.counted)
        ]

    good_groups = healthy(ranking.groups)
    confirmed = confirm_ranking(sweep)
    if confirmed is not None:  # the confirm stage's order (means over seeds) outranks the search's one-seed order
        first = healthy(confirmed.groups)
        keys = {tuple(g.config.items()) for g in first}
        good_groups = first + [g for g in good_groups if tuple(g.config.items()) not in keys]
    top = good_groups[: min(5, max(2, math.ceil(len(good_groups) / 3)))]
    top_trials = [t for g in top for t in g.counted]
    best = "best config(s)" + (" (the confirm stage's order first)" if confirmed is not None else "")
    hold = hold_reason(ranking, importance)
    too_few = (
        f"kept: {hold}; narrowing it to the span of {len(top)} config(s) would be a guess" if hold is not None else None
    )
    params: dict[str, tuple[dict, str]] = {}
    for knob, dist in dists.items():
        key = training_key(knob)
        if key in params and key != knob:
            continue  # tau_b / weight_embed.1.. share the entry written for the first of them
        members = [k for k in dists if training_key(k) == key]
        old = _describe(dist)
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            spec, why = (
                ({"type": "categorical", "choices": list(dist.choices)}, too_few)
                if too_few is not None
                else _categorical(dist, members, sweep, collapsed, top_trials)
            )
        else:
            good = [t.params[k] for t in top_trials for k in members if isinstance(t.params.get(k), (int, float))]
            imp = max((importance.values.get(k, 0.0) for k in members), default=0.0)
            if too_few is not None:
                spec, why = _spec(dist, dist.low, dist.high), too_few
            elif not good:
                spec, why = _spec(dist, dist.low, dist.high), "kept: no finished, non-collapsed config to learn from"
            elif importance.values and len(importance.values) > 1 and imp < LOW_IMPORTANCE:
                spec, why = (
                    _spec(dist, dist.low, dist.high),
                    (f"kept: importance {imp:.2f} over {importance.n_trials} trials, it barely matters here"),
                )
            else:
                low, high, notes = _new_range(dist, good)
                span = f"{min(good):.3g}" if min(good) == max(good) else f"{min(good):.3g}..{max(good):.3g}"
                reasons = [f"the {len(top)} {best} had {span}"]
                bad = [
                    t.params[k]
                    for t in sweep.trials
                    if t.trial_id in collapsed
                    for k in members
                    if isinstance(t.params.get(k), (int, float))
                ]
                if bad and key in ("ot.reg", "ot.tau") and max(bad) < min(good):
                    low = min(max(low, max(bad) * 1.5), min(good))
                    reasons.append(
                        f"{len(bad)} collapsed plan(s) at <= {max(bad):.3g}, so the low end stays above them"
                    )
                if importance.values:
                    reasons.append(
                        f"importance {imp:.2f}"
                        + (f", {importance.direction[members[0]]}" if members[0] in importance.direction else "")
                    )
                low, high = _snap(dist, low, high)
                spec = _spec(dist, low, high)
                reasons += notes
                why = "; ".join(reasons)
            if len(members) > 1:
                spec["pair" if key == "ot.tau" else "per_camera"] = "separate" if key == "ot.tau" else len(members)
            elif key == "ot.tau":
                spec["pair"] = "tied"
        params[key] = (spec, f"{key} {old} -> {_describe_spec(spec)}: {why}")
    fixed = dict(sweep.space.get("fixed") or {})
    top_stable = [t for t in top_trials if t.trial_id in stable]
    if top_stable and "ot.lambda_ot" not in params and hold is None:
        current = float(sweep.resolved.get("train", {}).get("ot", {}).get("lambda_ot", 0.1))
        spec = {"type": "float", "low": _num(current), "high": _num(max(0.2, 3 * current))}
        params["ot.lambda_ot"] = (
            spec,
            f"ot.lambda_ot {current:g} -> {_describe_spec(spec)}: added, "
            f"{len(top_stable)} of the best configs were stable (healthy plan, eval L1 down "
            ">= 10%); the seed log's next step is a larger lambda_ot",
        )
    point = _starting_point(top, dists, params, fixed)
    lines = [
        f"# Follow-up to sweep {sweep.name}, written by its advisor (actot/report/advisor.py) from the diagnosis.",
        f"# Run it as it is: python run_sweep.py space={sweep.path / 'next_space.yaml'}",
        *([f"# Every range is kept: {hold}."] if hold is not None else []),
        f"description: {json.dumps(f'follow-up of {sweep.name}: ranges around its best configs')}",
        "params:",
    ]
    for key, (spec, comment) in params.items():
        lines += [f"  # {comment}", f"  {key}: {json.dumps(spec)}"]
    lines.append(f"fixed: {json.dumps(fixed)}")
    if point:
        lines += [
            "starting_points:",
            f"  - {json.dumps(point)}   # the leader of {sweep.name}"
            + (", as its confirm stage ranked it" if confirmed is not None else ""),
        ]
    return "\n".join(lines) + "\n", point


def _categorical(dist, members, sweep, collapsed, top_trials):
    seen_good = {t.params.get(k) for t in top_trials for k in members}
    finished = {
        t.params.get(k) for t in sweep.trials for k in members if t.status == "finished" and t.trial_id not in collapsed
    }
    keep = [
        c for c in dist.choices if c in finished or c not in {t.params.get(m) for t in sweep.trials for m in members}
    ]
    if not keep or not seen_good:
        return {"type": "categorical", "choices": list(dist.choices)}, "kept: no finished config to learn from"
    dropped = [c for c in dist.choices if c not in keep]
    why = (
        f"dropped {dropped}: none of their trials finished without collapsing" if dropped else "kept every choice"
    ) + f"; the best configs used {sorted(map(str, seen_good))}"
    return {"type": "categorical", "choices": keep}, why


def _starting_point(top, dists, params, fixed) -> dict:
    if not top:
        return {}
    lead = top[0].counted[0]
    point = {"name": f"leader-{lead.confirm_of or lead.trial_id}"}  # a confirm trial: the search trial it repeats
    for knob in dists:
        spec = params[training_key(knob)][0]
        value = lead.params.get(knob)
        if spec["type"] == "categorical":
            value = value if value in spec["choices"] else spec["choices"][0]
        else:
            value = min(max(value, spec["low"]), spec["high"]) if isinstance(value, (int, float)) else spec["low"]
            value = int(value) if spec["type"] == "int" else float(value)
            if spec["type"] == "int" or spec.get("step"):
                step = spec.get("step", 1)
                value = type(value)(spec["low"] + round((value - spec["low"]) / step) * step)
        point[knob] = value
    if "ot.lambda_ot" in params and "ot.lambda_ot" not in dists:
        point["ot.lambda_ot"] = params["ot.lambda_ot"][0]["low"]
    return point


def _describe(dist) -> str:
    import optuna

    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return str(list(dist.choices))
    return f"{dist.low:g}..{dist.high:g}" + (" (log)" if getattr(dist, "log", False) else "")


def _describe_spec(spec: dict) -> str:
    if spec["type"] == "categorical":
        return str(spec["choices"])
    return f"{spec['low']:g}..{spec['high']:g}" + (" (log)" if spec.get("log") else "")


def write_next_space(sweep: Sweep, ranking: Ranking, importance: Importance) -> Path:
    text, _ = next_space(sweep, ranking, importance)
    path = sweep.path / "next_space.yaml"
    path.write_text(text, encoding="utf-8")
    return path
