"""The ranked table: configs ordered by one metric, with 95% intervals where a config ran with several seeds.

Trials are grouped by their searched config (the knobs in `param/*`; a training `seed` or
`confirm_of` column does not split a group), so that repeats of one config are ranked by their
mean with a bootstrap interval (`stats.py`). A trial's value is its metric under a `scope`:
`last` (last finite report), `best` (best finite report, in the metric's direction) or
`mean_last_k` (mean of its last k finite reports). Finished configs come first, then
rule-stopped, non-finite, unfinished and errored ones: a stopped trial's flattering early value
never outranks a finished one.

A sweep with a baseline arm (`baseline.py`): the baseline's trials are never a config of the
ranking (never the leader); they form the `co-training (baseline)` row, each finished config gets
its paired comparison to it (`Group.vs_baseline`), and the ranking leads with one line saying
whether the best OT config beats co-training (`Ranking.lead`). In a paired sweep (a `paired`
section or a baseline arm) an arm with n = 2 values also shows a t-interval whose SD is pooled
over the arms (`Group.pooled`), marked `*`; the verdicts between configs ("cannot be told apart")
still take bootstrap intervals from n >= 3 values each. Older sweeps are ranked as they always were.
"""

from __future__ import annotations

import dataclasses

import math
import unicodedata
from dataclasses import dataclass, field

from actot.errors import ActotError
from actot.metrics import direction_for_ranking, validity_line
from actot.report import baseline as base
from actot.report import sequential as seq
from actot.report.baseline import BaselineArm, Comparison
from actot.report.load import Sweep, Trial
from actot.report.labels import SCOPE_WORDS, TABLE, label, status_word
from actot.report.stats import MIN_INTERVAL_N, Interval, mean_interval, overlaps, pooled_sd, prob_beats, t_interval
from actot.strings import STRINGS, Note, note, per_lang, text

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
    pooled: Interval | None = None  # paired sweeps, n = 2: t-interval with the SD pooled over the arms
    vs_baseline: Comparison | None = None  # sweeps with a baseline arm: the paired comparison (+ = better)
    raced: dict | None = None  # racing skipped this config's remaining seeds: its `raced` record
    collapsed: bool = False  # real data: a trial flagged embed_collapse, so it never leads
    looks: list | None = None  # a sequential confirm stage: the config's looks (sequential.Look)

    @property
    def order(self) -> int:
        return STATUS_ORDER.get(self.status, 5)

    @property
    def name(self) -> str:
        """The config's id where its trials share one (paired sweeps: c003), else its leading trial's name."""
        ids = {t.config_id for t in self.trials}
        if len(ids) == 1 and None not in ids:
            return str(ids.pop())
        return (self.counted[0] if self.counted else self.trials[0]).display_name()

    def describe(self) -> str:
        """`c003 (reg=1, tau=5)`: its name and searched values."""
        knobs = ", ".join(f"{k.split('.', 1)[-1]}={_fmt(v)}" for k, v in self.config.items() if v is not None)
        return f"{self.name} ({knobs})" if knobs else self.name


@dataclass
class Ranking:
    metric: str
    better: str
    scope: str
    k: int
    groups: list[Group]
    notes: list[Note]  # English text, each with its Chinese (`Note.zh`)
    baseline: BaselineArm | None = None  # the baseline arm, never among `groups`
    lead: Note | None = None  # with a baseline arm: the line every table leads with
    beats_baseline: bool = False  # ... and whether it names a config whose interval is above 0
    paired: bool = False  # configs share seeds: n = 2 arms get a pooled interval


def rank(
    sweep: Sweep,
    metric: str | None = None,
    scope: str | None = None,
    k: int | None = None,
    mode: str | None = None,
    leaders: int = 3,
    stage: str = "search",
    spread_from: Sweep | None = None,
    confirmation: bool = True,
) -> Ranking:
    """Configs ranked by one number per trial. scope/k default to the sweep's own score: the mean of the last
    `score_last_k` values when the sweep set it above 1 (`mean_last_k`), else the last value.

    `stage`: the trials whose values count, the search's (the default) or the confirm stage's. The two never
    merge: the search's numbers picked the leaders, so they are biased in the leaders' favour (the winner's
    curse); only seeds that played no part in the choice can confirm a claim. Where the sweep ran a confirm stage
    with a baseline arm, the search ranking leads with the confirm stage's comparison."""
    whole = sweep
    sweep = dataclasses.replace(sweep, trials=[t for t in sweep.trials if is_confirm(t) == (stage == "confirm")])
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
    better = direction_for_ranking(
        metric, mode if mode is not None else (sweep.mode if metric == sweep.metric else None)
    )
    groups: dict[tuple, Group] = {}
    for trial in (t for t in sweep.trials if not base.is_baseline(t)):  # the baseline arm is no config
        key = config_key(trial, sweep.knobs)
        groups.setdefault(key, Group(config=dict(key), trials=[])).trials.append(trial)
    sign = 1.0 if better == "min" else -1.0
    for group in groups.values():
        group.status = min((t.status for t in group.trials), key=lambda s: STATUS_ORDER.get(s, 5))
        # On real data the offline metric cannot see that OT shrank the features instead of aligning them.
        group.collapsed = sweep.real_data and any(COLLAPSE_FLAG in (t.flags or "").split(",") for t in group.trials)
        for trial in group.trials:
            value = trial_value(trial, metric, scope, better, k)
            if trial.status == group.status and value is not None:
                group.counted.append(trial)
                group.values.append(value)
        if group.values:
            group.interval = mean_interval(group.values)
    ordered = sorted(
        groups.values(), key=lambda g: (g.order, g.collapsed, sign * g.interval.mean if g.interval else math.inf)
    )
    ranking = Ranking(
        metric,
        better,
        scope,
        k,
        ordered,
        _confidence(ordered, better, leaders, base.is_paired(sweep), base.has_baseline(sweep)),
    )
    if base.is_paired(sweep) or any(base.raced(g.trials) for g in ordered):
        spread = search_spread(spread_from or whole, ranking) if stage == "confirm" else ()
        ranking.notes += _against_baseline(sweep, ranking, stage, spread)
    if stage == "search" and ranking.baseline is not None and confirmation:
        _lead_with_confirmation(whole, ranking)
    ranking.notes += convergence_notes(sweep)
    if sweep.real_data:
        ranking.notes += _real_data_notes(ranking)
    return ranking


COLLAPSE_FLAG = "embed_collapse"


def _real_data_notes(ranking: Ranking) -> list[Note]:
    """What an offline order on real data is worth (the benchmark's measurement), and which configs it demoted."""
    notes = [Note(*validity_line(ranking.metric))]
    collapsed = [g.name for g in ranking.groups if g.collapsed]
    if collapsed:
        names = ", ".join(collapsed)
        notes.append(note("rank.collapsed", metric=ranking.metric, names=names, flag=COLLAPSE_FLAG))
    return notes


def _missing_why(why: str, lang: str) -> str:
    """Why a seed has no baseline value ("not run", "no finite value" or the trial's status) in `lang`."""
    return text(f"rank.missing.{why}", lang) if f"rank.missing.{why}" in STRINGS else status_word(why, lang)


def _pooled_intervals(finished: list[Group], arm: BaselineArm | None) -> list[Note]:
    """n = 2 arms: the bootstrap's "interval" is the two values' range; a t-interval needs an SD, and one from two
    values has 1 df (t = 12.7). Pooled over every finished arm's values (the baseline's too) it has sum(n - 1)."""
    arms = [g.values for g in finished] + ([list(arm.values.values())] if arm and arm.values else [])
    sd, df = pooled_sd(arms)
    for group in finished:
        if len(group.values) == 2:
            group.pooled = t_interval(group.values, sd, df)
    if arm is not None and len(arm.values) == 2:
        arm.pooled = t_interval(list(arm.values.values()), sd, df)
    if not (any(g.pooled for g in finished) or (arm is not None and arm.pooled)):
        return []
    return [note("rank.pooled", df=df, min_n=MIN_INTERVAL_N)]


def _racing(groups: list[Group]) -> list[Note]:
    """Mark the configs racing dropped; the steps it saved, said once."""
    raced = []
    for group in groups:
        group.raced = base.raced(group.trials)
        if group.raced:
            raced.append(group)
    if not raced:
        return []
    saved = sum(int(g.raced.get("steps_saved") or 0) for g in raced)
    runs = sum(len(g.raced.get("seeds_skipped") or []) for g in raced)
    names = ", ".join(g.name for g in raced)
    return [note("rank.racing", n=len(raced), names=names, runs=runs, saved=saved)]


def is_confirm(trial: Trial) -> bool:
    """A trial of the confirm stage (a confirmed config's, or the baseline's on the stage's fresh seeds)."""
    return bool(trial.confirm_of)


def search_spread(sweep: Sweep, ranking: Ranking) -> list[list[float]]:
    """Every searched config's differences from co-training on the search's seeds: the seed-to-seed spread the
    confirm stage pools with its own (bench/selection_calibration.py: with 2 fresh seeds its own SD has 1 df)."""
    search = rank(sweep, ranking.metric, ranking.scope, ranking.k, ranking.better, confirmation=False)
    return [
        list(g.vs_baseline.diffs.values())
        for g in search.groups
        if g.vs_baseline is not None and len(g.vs_baseline.diffs) >= 2
    ]


def _against_baseline(sweep: Sweep, ranking: Ranking, stage: str = "search", spread=()) -> list[Note]:
    """Fill in what a paired sweep adds (pooled n = 2 intervals, the baseline arm, each config's comparison to it,
    racing) and return its notes; set `ranking.lead`. In the confirm stage each confirmed config is compared on the
    stage's fresh seeds, at 95% familywise over the confirmed configs (Bonferroni: each interval at 1 - 0.05/m), the SD
    of the differences pooled with the search's (`spread`)."""
    metric, better = ranking.metric, ranking.better

    def value_of(trial):
        return trial_value(trial, metric, ranking.scope, better, ranking.k)

    ranking.paired = base.is_paired(sweep)
    section = sweep.resolved.get("confirm") or {}
    planned = section.get("new_seeds") if stage == "confirm" else None
    arm = ranking.baseline = base.baseline_arm(sweep, value_of, STATUS_ORDER, planned)
    finished = [g for g in ranking.groups if g.status == "finished" and g.values]
    notes = (_pooled_intervals(finished, arm) if ranking.paired else []) + _racing(ranking.groups)
    if arm is None:
        return notes
    words = {lang: f"{SCOPE_WORDS[lang][ranking.scope]} {label(metric, lang)}" for lang in ("en", "zh")}
    planned = set(arm.seeds)
    seeds_of = {
        i: {s: v for s, v in base.by_seed(g.counted, value_of).items() if s in planned} for i, g in enumerate(finished)
    }
    sequential = stage == "confirm" and bool(section.get("sequential"))
    m = (
        (max(1, len(section.get("configs") or [])) if sequential else max(1, len(finished)))
        if stage == "confirm"
        else 1
    )
    compared = base.compare(seeds_of, arm.values, better, level=1 - 0.05 / m, spread=spread)
    for i, group in enumerate(finished):
        group.vs_baseline = compared[i]
    if sequential:
        notes += _sequential(finished, section, spread, m)
    if arm.missing:
        what = per_lang(
            lambda lang: TABLE[lang]["comma"].join(
                text("rank.missing_seed", lang, seed=s, why=_missing_why(why, lang)) for s, why in arm.missing.items()
            )
        )
        notes.append(note("rank.no_baseline_seed", what=what))
    paired = [(g, c) for g, c in ((g, g.vs_baseline) for g in finished) if c is not None and c.mean is not None]
    if not paired:
        why = (
            note("rank.no_common_seed")
            if arm.values
            else note("rank.no_baseline_finished", seeds=base.seeds_text(arm.seeds))
        )
        ranking.lead = base.lead_line(None, False, words, better, nothing=why)
        return notes
    beating = [(g, c) for g, c in paired if c.beats]
    group, best = max(beating or paired, key=lambda gc: gc[1].mean)
    if stage == "confirm":
        ranking.beats_baseline = bool(beating)
        stop = (
            seq.stop_note(group.looks[-1], seq.design_of(section["sequential"])) if sequential and group.looks else None
        )
        ranking.lead = base.confirmed_line((group.describe(), best), bool(beating), words, better, arm.seeds, m, stop)
    elif beating:  # the search's own seeds chose it: a lead to confirm, not a claim
        ranking.lead = base.selected_line((group.describe(), best), words, better, confirm_command(sweep))
    else:  # the best of several looks better than it is: if even it does not beat co-training, none does
        ranking.lead = base.lead_line((group.describe(), best), False, words, better)
    notes.append(_comparison_note(arm, best, paired, words, metric, better, len(spread)))
    return notes


def _sequential(finished: list[Group], section: dict, spread, m: int) -> list[Note]:
    """A sequential confirm stage: each confirmed config's looks (the seeds each of its looks added, from the
    section's `looks`), decided by actot/report/sequential.py's rule; its comparison with co-training then shows
    the repeated interval of the look it stopped at (or is at), whose lower end is above 0 exactly when it claimed."""
    design = seq.design_of(section["sequential"])
    looks = section.get("looks") or []
    notes = []
    for group in finished:
        c = group.vs_baseline
        origin = next((t.confirm_of for t in group.trials if t.confirm_of), None)
        if c is None or not c.diffs or origin is None:
            continue
        mine = [one["seeds"] for one in looks if origin in (one.get("configs") or [])]
        group.looks = seq.config_history(mine, c.diffs, design, spread, m) or None
        if group.looks is None:
            continue
        last = group.looks[-1]
        group.vs_baseline = dataclasses.replace(
            c, mean=last.mean, low=last.low, high=last.high, df=last.df, sd_from="pooled"
        )
        notes.append(
            seq.design_note(
                design, group.describe(), group.looks, m, int(section["sequential"].get("seeds_per_look", 1))
            )
        )
    return notes


def confirm_command(sweep: Sweep) -> str:
    """The one command that confirms a sweep's leader on fresh seeds against co-training."""
    space = (sweep.resolved.get("space") or {}).get("name") or "SPACE"
    return f"python run_sweep.py space={space} name={sweep.name} stage=confirm top_k=1 seeds=3"


def confirmed_sweep(sweep: Sweep) -> Sweep | None:
    """The sweep restricted to the trials of the confirmed configs, and of the baseline arm where there is one; None
    when no confirm stage started."""
    section = sweep.resolved.get("confirm")
    if not section:
        return None
    by_id = {t.trial_id: t for t in sweep.trials}
    keys = {config_key(by_id[tid], sweep.knobs) for tid in section.get("configs", []) if tid in by_id}
    return dataclasses.replace(
        sweep, trials=[t for t in sweep.trials if base.is_baseline(t) or config_key(t, sweep.knobs) in keys]
    )


def confirm_ranking(sweep: Sweep, **how) -> Ranking | None:
    """The confirmed configs ranked on the confirm stage's fresh seeds alone (`how`: rank's metric, scope, k)."""
    confirmed = confirmed_sweep(sweep)
    if confirmed is None:
        return None
    return rank(
        confirmed,
        leaders=max(2, len(sweep.resolved["confirm"].get("configs", []))),
        stage="confirm",
        spread_from=sweep,
        **how,
    )


def _lead_with_confirmation(sweep: Sweep, ranking: Ranking) -> None:
    """A sweep whose confirm stage compared its leaders with co-training on fresh seeds leads with that comparison."""
    if not sweep.resolved.get("confirm") or not any(is_confirm(t) for t in sweep.trials):
        return
    confirmed = confirm_ranking(sweep, metric=ranking.metric, scope=ranking.scope, k=ranking.k)
    if confirmed is not None and confirmed.lead is not None:
        ranking.lead, ranking.beats_baseline = confirmed.lead, confirmed.beats_baseline


def _comparison_note(
    arm: BaselineArm, best: Comparison, paired: list, words: dict, metric: str, better: str, searched: int = 0
) -> Note:
    """What the `vs baseline` column is, said the way round it is computed (+ always means the config did better),
    where the SD of the line's config came from, and that the best of several is picked after the fact."""
    plus = per_lang(lambda lang: TABLE[lang]["plus_min" if better == "min" else "plus_max"])
    pooled_from = sum(c.n >= 2 for _, c in paired)
    if best.low is None:
        sd = note("rank.sd.none")
    elif best.sd_from == "own":
        sd = note("rank.sd.own", df=best.df)
    else:
        also = note("rank.sd.also", n=searched) if searched else ""
        sd = note("rank.sd.pooled", n=pooled_from, also=also, df=best.df)
    order = note(f"rank.order.{better}", words=Note(words["en"], words["zh"]))
    picked = note("rank.picked", n=len(paired)) if len(paired) > 1 else ""
    return note(
        "rank.vs_baseline",
        order=order,
        arm=arm.describe(),
        plus=plus,
        metric=per_lang(lambda lang: label(metric, lang)),
        sd=sd,
        picked=picked,
    )


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
    return [
        note(
            "rank.still_improving",
            improving=len(improving),
            finished=finished,
            rule=rule.name,
            share=abs(rule.value),
            metric=rule.metric,
            op=rule.op,
            value=rule.value,
        )
    ]


def _confidence(
    groups: list[Group], better: str, leaders: int, paired: bool = False, baseline: bool = False
) -> list[Note]:
    """P(leader beats runner-up) and the 'cannot be told apart' verdicts for the leading configs; intervals are
    compared only where both configs have one (n >= 3): an n = 2 config is said to be unsettled instead. In a paired
    sweep an n = 2 config shows a pooled interval, so the words say which interval it lacks: a bootstrap one."""
    kind = note("interval.bootstrap" if paired else "interval.plain")
    ranked = [g for g in groups if g.interval is not None and g.status == "finished"]
    if not ranked:
        return [note("rank.nothing_to_rank")]
    if all(g.interval.n == 1 for g in ranked):
        return [note("rank.one_seed_each")]
    leader, tied, unsettled = ranked[0], [], []
    notes = _leader_beats(leader, ranked[1:leaders], better, baseline)
    for pos, group in enumerate(ranked[1:leaders], start=2):
        if not (leader.interval.has_width and group.interval.has_width):
            unsettled.append(f"#{pos} (n={group.interval.n})")
        elif overlaps(leader.interval, group.interval):
            tied.append(f"#{pos}")
    if leader.interval.n < 2:
        notes.append(note("rank.leader_one_seed"))
    elif not leader.interval.has_width:
        notes.append(note("rank.leader_few", n=leader.interval.n, kind=kind, min_n=MIN_INTERVAL_N))
    else:
        if tied:
            notes.append(note("rank.tied", tied=", ".join(tied)))
        if unsettled:
            notes.append(note("rank.unsettled", configs=", ".join(unsettled), kind=kind, min_n=MIN_INTERVAL_N))
        if not tied and not unsettled and len(ranked) > 1:
            notes.append(note("rank.apart"))
    return notes


def _seed_values(group: Group) -> dict | None:
    """seed -> value of a group's counted trials (the mean where a seed ran twice); None when a trial has no seed."""
    if any(t.seed is None for t in group.counted):
        return None
    values = dict(zip((id(t) for t in group.counted), group.values))
    return base.by_seed(group.counted, lambda t: values[id(t)])


def _leader_beats(leader: Group, others: list[Group], better: str, baseline: bool = False) -> list[Note]:
    """Set each config's P(#1 beats): paired like the `vs baseline` column where it shares seeds with the leader
    (the leader's and its values seed by seed, a t on their differences with the SD pooled over the configs
    compared, `baseline.compare`), so that a seed that helps both is not counted as a difference; unpaired (one
    run of each, Mann-Whitney) only where they share no seed and both ran at least twice. Return what it is."""
    lead = _seed_values(leader)
    paired = {}
    for i, group in enumerate(others):
        mine = _seed_values(group)
        if lead and mine and set(lead) & set(mine):
            paired[i] = mine
    comparisons = base.compare(paired, lead, better) if paired else {}
    df, unpaired = 0, []
    for i, group in enumerate(others):
        c = comparisons.get(i)
        if c is not None:
            if c.p_beats is not None:  # P(the config beats the leader) -> P(the leader beats it)
                group.p_leader_beats, df = 1.0 - c.p_beats, c.df
        elif leader.interval.n >= 2 and group.interval.n >= 2:
            group.p_leader_beats = prob_beats(leader.values, group.values, better)
            unpaired.append(f"#{i + 2}")
    notes = []
    if df:
        notes.append(note("rank.paired_beats", as_baseline=note("rank.as_baseline") if baseline else "", df=df))
    if unpaired:
        notes.append(note("rank.unpaired_beats", configs=", ".join(unpaired)))
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
    retries = trial.retries
    if retries:
        resumed = trial.resumed_from
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
        return (
            text
            + (w["flagged"].format(rules=trial.flags) if trial.flags else "")
            + (w["shadow"].format(what=shadow) if shadow else "")
        )
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


def interval_cell(iv: Interval | None, lang: str = "en", pooled: Interval | None = None) -> str:
    """The bootstrap interval (n >= 3), else a pooled t-interval marked `*` (paired sweeps, n = 2), else why none."""
    if iv is None or iv.n < 2:
        return "-"
    if iv.has_width:
        return f"[{iv.low:.4g}, {iv.high:.4g}]"
    if pooled is not None:
        return f"[{pooled.low:.4g}, {pooled.high:.4g}]*"
    return TABLE[lang]["no_interval"].format(n=iv.n)


def table_rows(ranking: Ranking, sweep: Sweep, lang: str = "en") -> tuple[list[str], list[dict]]:
    """Header and one row (dict by header) per config: what the console, Markdown and HTML tables show. With a
    baseline arm, a `vs baseline` column and the arm's own row first (`#` is `-`: it is not ranked)."""
    w = TABLE[lang]
    knobs = sweep.knobs
    arm = ranking.baseline
    has_success = any(t.finite("eval/success") for t in sweep.trials)
    extra = "eval/success" if ranking.metric != "eval/success" and has_success else None
    # one trial's last value carries its own standard error (over rollouts or held-out episodes); one held-out
    # episode has none, and the header says so instead of a ±0 in every row
    one_episode = ranking.metric == "eval/avg_l1" and sweep.held_out_episodes() == 1
    own_se = ranking.scope == "last" and not one_episode and _has_se(sweep, ranking.metric)
    value_head = (
        f"{SCOPE_WORDS[lang][ranking.scope]} {label(ranking.metric, lang)}"
        + (w["own_se"] if own_se else "")
        + (w["one_episode"] if one_episode else "")
    )
    header = [
        "#",
        w["trial"],
        w["status"],
        "n",
        value_head,
        w["interval"],
        w["p_beats"],
        *([w["vs_baseline"]] if arm is not None else []),
        w["best_at"],
        *([label(extra, lang) + w["se"]] if extra else []),
        *[k.split(".", 1)[-1] for k in knobs],
        w["why"],
    ]
    rows = []
    if arm is not None:
        iv = arm.interval
        why_arm = w["baseline_why"].format(what=arm.describe()) + (
            w["semi"] + base.missing_text(list(arm.missing), lang) if arm.missing else ""
        )
        cells = [
            "-",
            w["baseline_row"],
            status_word(arm.status, lang),
            str(len(arm.values)),
            _fmt(iv.mean if iv else None),
            interval_cell(iv, lang, arm.pooled),
            "-",
            "-",
            "-",
            *(["-"] if extra else []),
            *["-" for _ in knobs],
            why_arm,
        ]
        rows.append(dict(zip(header, cells)))
    for pos, group in enumerate(ranking.groups, start=1):
        lead = group.counted[0] if group.counted else group.trials[0]
        best = best_at(lead, ranking.metric, ranking.better)
        success = _with_se(lead, extra) if extra else None
        iv = group.interval
        value = _with_se(lead, ranking.metric) if own_se and len(group.values) == 1 else _fmt(iv.mean if iv else None)
        reason = why(lead, pos == 1, lang) + (w["semi"] + base.raced_text(group.raced, lang) if group.raced else "")
        cells = [
            str(pos),
            lead.display_name(lang) + (f" +{len(group.trials) - 1}" if len(group.trials) > 1 else ""),
            status_word(group.status, lang),
            str(len(group.values)),
            value,
            interval_cell(iv, lang, group.pooled),
            f"{group.p_leader_beats:.2f}" if group.p_leader_beats is not None else "-",
            *([base.comparison_cell(group.vs_baseline, lang)] if arm is not None else []),
            f"{best[0]:.4g}@{best[1]}" if best else "-",
            *([_fmt(success)] if extra else []),
            *[_fmt(group.config.get(k)) for k in knobs],
            reason,
        ]
        rows.append(dict(zip(header, cells)))
    return header, rows


def _width(text: str) -> int:
    """Columns `text` takes in a monospaced table: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def format_table(ranking: Ranking, sweep: Sweep, limit: int = 20, lang: str = "en", lead: bool = True) -> str:
    """The ranked table as text, in `lang` (en or zh): headers, statuses, footer and notes; led by the comparison
    to the baseline arm where the sweep has one (`lead=False`: by a report that already leads with it)."""
    w = TABLE[lang]
    header, rows = table_rows(ranking, sweep, lang)
    shown = rows[: limit + (ranking.baseline is not None)]  # the baseline's row is not one of the `limit` configs
    cells = [header] + [[r[h] for h in header] for r in shown]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(header) - 1)]
    lines = ["  ".join(c + " " * (n - _width(c)) for c, n in zip(r[:-1], widths)) + "  " + r[-1] for r in cells]
    lines.insert(1, "-" * min(160, _width(lines[0])))
    if len(rows) > len(shown):
        lines.append(w["more"].format(n=len(rows) - len(shown)))
    scope = SCOPE_WORDS[lang][ranking.scope] + ("" if ranking.scope != "mean_last_k" else f" (k={ranking.k})")
    lines.append(
        w["footer"].format(
            scope=scope,
            metric=label(ranking.metric, lang),
            better=w["lower"] if ranking.better == "min" else w["higher"],
        )
    )
    if lead and ranking.lead is not None:
        lines.insert(0, ranking.lead.in_lang(lang))
    return "\n".join(lines + [note.in_lang(lang) if isinstance(note, Note) else note for note in ranking.notes])
