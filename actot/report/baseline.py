"""Each searched config against the baseline arm (co-training: `ot.lambda_ot=0`) on the same training seeds.

In a paired sweep every config runs on the same k training seeds and a baseline arm runs once
per seed, shared by all configs (trial columns `arm`, `config_id`, `seed`; sweep.json `paired`).
A seed then acts on both arms alike (the same data order, the same initial weights), so the
question "does OT help?" is asked seed by seed: for config c and seed s,

    d_cs = sign * (value of c on s - value of the baseline on s),  sign = +1 for a metric where
                                                                   higher is better, -1 for lower

so that d > 0 always means "the config did better than co-training on that seed" (success up,
avg_l1 down). Per config: the mean difference, its 95% Student-t interval and P(beats) =
P(delta > 0) under that t distribution. With k = 2 or 3 seeds a config's own SD rests on 1 or 2
degrees of freedom (t = 12.7 or 4.3): an interval that says nothing. So the SD is pooled over all
configs' differences (each config's deviations around its own mean difference; df = sum(n_c - 1)),
assuming the configs' differences share one spread. A config whose pool is itself alone uses its
own SD (the same formula); with df = 0 (one seed each) there is no interval and no P(beats).
A config "beats co-training" when its whole interval is above 0.

A seed whose baseline trial failed or never ran is left out of every config's pairs, and the
comparison says "no baseline for seed s". The pure arithmetic is `paired_differences` and
`compare` (numbers keyed by seed, tested on known values); `baseline_arm` reads the sweep's trials.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from actot.report.labels import TABLE
from actot.report.load import Sweep, Trial
from actot.report.stats import Interval, mean_interval, pooled_sd, prob_above_zero, t_interval
from actot.strings import LANGS, Note, text
from actot.sweepdir import ARM_BASELINE


@dataclass(frozen=True)
class Comparison:
    """A config against the baseline: `diffs` seed -> difference, + = better than the baseline; the mean with a
    95% interval (None when df = 0), P(beats) = P(delta > 0), the df of the SD used and where that SD came from
    ("pooled", "own" or "none"), and `missing`: the config's seeds that had no baseline value to pair with."""

    diffs: dict
    mean: float | None
    low: float | None = None
    high: float | None = None
    p_beats: float | None = None
    df: int = 0
    sd_from: str = "none"
    missing: tuple = ()

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def beats(self) -> bool:
        """Whether the whole 95% interval is above 0."""
        return self.low is not None and self.low > 0


def paired_differences(config: dict, baseline: dict, better: str) -> tuple[dict, tuple]:
    """(seed -> difference, seeds without a baseline value) for one config's values by seed; + = better."""
    sign = 1.0 if better == "max" else -1.0
    diffs = {s: sign * (float(v) - float(baseline[s])) for s, v in sorted(config.items()) if s in baseline}
    return diffs, tuple(s for s in sorted(config) if s not in baseline)


def compare(configs: dict, baseline: dict, better: str, level: float = 0.95, spread: list = ()) -> dict:
    """key -> Comparison for configs given as key -> {seed: value}, against baseline {seed: value}; the SD of the
    differences pooled over every config that has pairs (see the module's docstring), and over `spread`: more
    samples of differences that measure the same seed-to-seed spread but estimate no mean here (the confirm stage
    passes the search's: their means were selected on, their spread was not)."""
    pairs = {key: paired_differences(values, baseline, better) for key, values in configs.items()}
    sd, df = pooled_sd([list(diffs.values()) for diffs, _ in pairs.values()] + [list(d) for d in spread])
    with_df = [key for key, (diffs, _) in pairs.items() if len(diffs) >= 2]
    out = {}
    for key, (diffs, missing) in pairs.items():
        if not diffs:
            out[key] = Comparison({}, None, missing=missing)
            continue
        iv = t_interval(list(diffs.values()), sd, df, level)
        if iv is None:
            out[key] = Comparison(diffs, sum(diffs.values()) / len(diffs), missing=missing)
            continue
        se = sd / math.sqrt(len(diffs))
        out[key] = Comparison(
            diffs,
            iv.mean,
            iv.low,
            iv.high,
            prob_above_zero(iv.mean, se, df),
            df,
            "own" if with_df == [key] and not spread else "pooled",
            missing,
        )
    return out


# ---------------------------------------------------------------------------------------- the sweep's arms
def is_baseline(trial: Trial) -> bool:
    return trial.arm == ARM_BASELINE


def paired_section(sweep: Sweep) -> dict:
    """sweep.json's `paired` section ({} when absent or not a mapping: older sweeps)."""
    section = sweep.resolved.get("paired")
    return section if isinstance(section, dict) else {}


def has_baseline(sweep: Sweep) -> bool:
    """Whether the sweep has a baseline arm: a trial of it, or one planned in sweep.json."""
    return bool(paired_section(sweep).get("baseline")) or any(is_baseline(t) for t in sweep.trials)


def is_paired(sweep: Sweep) -> bool:
    """Whether configs share a list of seeds (a `paired` section or a baseline arm): such a sweep's tables give n = 2
    configs a pooled interval. Older sweeps are shown as they always were."""
    return bool(paired_section(sweep)) or has_baseline(sweep)


def by_seed(trials, value_of) -> dict:
    """seed -> value (the mean where one seed ran twice) of the trials that have a seed and a value."""
    seen: dict[int, list[float]] = {}
    for trial in trials:
        value, seed = value_of(trial), trial.seed
        if value is not None and seed is not None:
            seen.setdefault(int(seed), []).append(value)
    return {s: sum(v) / len(v) for s, v in sorted(seen.items())}


@dataclass
class BaselineArm:
    """The baseline arm of a sweep: its trials, the seeds it was to run, its values by seed (finished trials with a
    finite value), why a seed has none (`missing`: seed -> "not run" or the trial's status), its interval over seeds
    (bootstrap from n >= 3; `pooled` below that) and the overrides it ran with (sweep.json paired.baseline)."""

    trials: list[Trial]
    seeds: list[int]
    values: dict
    missing: dict
    status: str
    overrides: dict | None = None
    interval: Interval | None = None
    pooled: Interval | None = None

    def describe(self) -> str:
        """What the arm changes from the base config, e.g. `ot.lambda_ot=0`."""
        if not self.overrides:
            return "the base config"
        return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.overrides.items())


def baseline_arm(sweep: Sweep, value_of, status_order: dict, planned_seeds: list | None = None) -> BaselineArm | None:
    """The sweep's baseline arm, its values under `value_of(trial)` (the ranking's trial value); None without one.
    Only finished trials count: a stopped trial's early value, or an errored one's, is no baseline. The seeds it was
    to run: `planned_seeds` (the confirm stage's fresh seeds), else the search's (sweep.json paired.seeds)."""
    if not has_baseline(sweep):
        return None
    trials = [t for t in sweep.trials if is_baseline(t)]
    section = paired_section(sweep)
    # a list as the sweep resolved it; anything else says nothing about seeds
    listed = planned_seeds if planned_seeds is not None else section.get("seeds")
    planned = [int(s) for s in listed if isinstance(s, (int, float))] if isinstance(listed, list) else []
    seeds = sorted(set(planned) | {int(t.seed) for t in trials if t.seed is not None})
    finished = [t for t in trials if t.status == "finished"]
    values = by_seed(finished, value_of)
    missing = {}
    for seed in seeds:
        if seed in values:
            continue
        ran = [t for t in trials if t.seed is not None and int(t.seed) == seed]
        missing[seed] = (
            "not run"
            if not ran
            else "no finite value"
            if any(t.status == "finished" for t in ran)
            else min((t.status for t in ran), key=lambda s: status_order.get(s, 5))
        )
    status = min((t.status for t in trials), key=lambda s: status_order.get(s, 5)) if trials else "not run"
    overrides = section.get("baseline") if isinstance(section.get("baseline"), dict) else None
    arm = BaselineArm(trials, seeds, values, missing, status, overrides)
    if values:
        arm.interval = mean_interval(list(values.values()))
    return arm


def raced(trials) -> dict | None:
    """The racing record of a config (the `raced` JSON on one of its trials), or None when it was not raced out."""
    for trial in trials:
        text = trial.raced
        if not text:
            continue
        try:
            record = json.loads(text) if isinstance(text, str) else text
        except ValueError:
            continue
        if isinstance(record, dict):
            return record
    return None


def seeds_text(seeds) -> str:
    return ", ".join(str(s) for s in seeds) or "-"


def signed(value: float) -> str:
    return f"{value:+.4g}"


def comparison_text(c: Comparison, lang: str = "en") -> str:
    """`+0.12 [0.03, 0.21]`, or `+0.12, no interval` when df = 0."""
    if c.low is None:
        return f"{signed(c.mean)}{TABLE[lang]['comma']}{TABLE[lang]['no_interval_short']}"
    return f"{signed(c.mean)} [{c.low:.4g}, {c.high:.4g}]"


def comparison_cell(c: Comparison | None, lang: str = "en") -> str:
    """The table's `vs baseline` cell: `+0.12 [0.03, 0.21] P=0.97`, `+0.12, no interval`, or `-` (no pair)."""
    if c is None or c.mean is None:
        return "-"
    return comparison_text(c, lang) + (f" P={c.p_beats:.2f}" if c.p_beats is not None else "")


def raced_text(record: dict, lang: str = "en") -> str:
    """`raced out (p=0.04 vs c001, seeds run 3)`: the config's remaining seeds were skipped by racing."""
    p = record.get("p")
    return TABLE[lang]["raced"].format(
        p=f"{p:.2g}" if isinstance(p, (int, float)) else "?",
        vs=record.get("vs", "?"),
        seeds=seeds_text(record.get("seeds_run") or []),
    )


def missing_text(seeds, lang: str = "en") -> str:
    return TABLE[lang]["no_baseline_seed"].format(seeds=seeds_text(seeds))


def lead_line(best: tuple | None, beats: bool, metric_words: dict, better: str, nothing: Note | None = None) -> Note:
    """The line every ranking leads with in a sweep with a baseline arm, in both languages. `best`: (who,
    Comparison) of the config to name (the best that beats co-training, else the best at all), or None, and
    `nothing` says why there is no comparison. `metric_words`: lang -> the ranked value's words (`last eval/avg_l1`)."""
    if best is None:
        return Note(
            TABLE["en"]["lead_nothing"].format(why=nothing),
            TABLE["zh"]["lead_nothing"].format(why=nothing.in_lang("zh") if isinstance(nothing, Note) else nothing),
        )
    who, c = best
    words = {}
    for one in ("en", "zh"):
        w = TABLE[one]
        missing = (w["semi"] + missing_text(c.missing, one)) if c.missing else ""
        words[one] = w["lead_beats" if beats else "lead_none"].format(
            diff=comparison_text(c, one),
            n=w["seeds_n"].format(n=c.n) if c.n != 1 else w["seed_1"],
            p=f"{c.p_beats:.2f}" if c.p_beats is not None else "-",
            better=w["plus_max" if better == "max" else "plus_min"],
            metric=metric_words[one],
            missing=missing,
            who=who,
        )
    return Note(words["en"], words["zh"])


def _filled(key: str, best: tuple, words_of: dict, better: str, **extra) -> Note:
    """TABLE[lang][key] filled with the comparison `best` = (who, Comparison) in both languages."""
    who, c = best
    words = {}
    for one in ("en", "zh"):
        w = TABLE[one]
        missing = (w["semi"] + missing_text(c.missing, one)) if c.missing else ""
        words[one] = w[key].format(
            diff=comparison_text(c, one),
            n=w["seeds_n"].format(n=c.n) if c.n != 1 else w["seed_1"],
            p=f"{c.p_beats:.2f}" if c.p_beats is not None else "-",
            better=w["plus_max" if better == "max" else "plus_min"],
            metric=words_of[one],
            missing=missing,
            who=who,
            **extra,
        )
    return Note(words["en"], words["zh"])


def selected_line(best: tuple, metric_words: dict, better: str, command: str) -> Note:
    """The lead of a sweep whose search's best config looks better than co-training on the seeds that chose it: the
    estimate as what it is (selected, biased in its favour), and the command that confirms it on fresh seeds."""
    return _filled("lead_selected", best, metric_words, better, command=command)


def confirmed_line(
    best: tuple, beats: bool, metric_words: dict, better: str, seeds, m: int, sequential: Note | None = None
) -> Note:
    """The confirm stage's lead: the best confirmed config against co-training on the fresh seeds alone; `beats` when
    its interval, at 95% familywise over the m confirmed configs, is above 0. `sequential`: a sequential stage's
    words on where that config's looks stopped and why (its interval is then the stopping look's repeated one)."""
    if sequential is None:
        level = {
            one: text("interval.familywise", one, level=100 - 5 / m, m=m) if m > 1 else text("interval.plain", one)
            for one in LANGS
        }
    else:
        level = {
            one: text("interval.sequential_familywise", one, level=100 - 5 / m, m=m)
            if m > 1
            else text("interval.sequential", one)
            for one in LANGS
        }
    key = "lead_confirmed" if beats else "lead_unconfirmed"
    lines = [
        _filled(key, best, metric_words, better, seeds=seeds_text(seeds), level=level[one]).in_lang(one)
        for one in ("en", "zh")
    ]
    if sequential is not None:
        lines = [lines[0] + "; " + sequential.in_lang("en"), lines[1] + "；" + sequential.in_lang("zh")]
    return Note(*lines)
