"""Which knobs matter: Optuna's PED-ANOVA importance on the sweep's mirrored study (`optuna.db`).

PED-ANOVA (Watanabe et al., IJCAI 2023) compares each knob's distribution among the top
trials with its distribution over all trials; it needs no extra dependency. Optuna computes it
on COMPLETE trials with a finite value only (rule-stopped trials are PRUNED and do not count),
so every result says how many trials it used. The top share is 10% by default, which on a small
sweep is a single trial; we use max(10%, 2 / n) so that at least two trials form the top.
It needs MIN_CONFIGS distinct configs, not trials: a paired sweep runs each config on several seeds,
and the seeds of one config are one point of the space (two configs on two seeds each gave a
"0.51 / 0.49" that said nothing); below that, the note says why there is none.
The direction ("lower ot.reg did better") is the sign of Spearman's rank correlation between
the knob and the value over the same trials (on a log scale where the knob is searched on one).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from actot.strings import Note, note, text
from actot.sweepdir import ARM_BASELINE, study_storage

MIN_CONFIGS = 4  # distinct finished configs; below this, importances are noise: say so instead
# A knob's direction as `Importance.direction` records it, and its words in a report (actot/strings.py); any other
# ("<choice> did better") has its " did better" said in the report's language.
WAYS = {
    "lower did better": "importance.way.lower",
    "higher did better": "importance.way.higher",
    "no clear direction": "importance.way.unclear",
}


@dataclass
class Importance:
    n_trials: int  # COMPLETE trials with a finite value
    values: dict[str, float] = field(default_factory=dict)  # knob -> importance (sums to 1), largest first
    direction: dict[str, str] = field(default_factory=dict)  # knob -> "lower" / "higher" / a best choice
    correlation: dict[str, float] = field(default_factory=dict)
    note: str = ""  # a Note: English, with its Chinese text
    n_configs: int = 0  # distinct configs among those trials

    @property
    def enough(self) -> bool:
        """Whether there were configs enough for importance (and so for advice and a narrowed space built on it)."""
        return self.n_configs >= MIN_CONFIGS


def _load_study(db: Path, name: str):
    import optuna

    storage = study_storage(db)
    names = optuna.get_all_study_names(storage)
    if not names:
        return None
    return optuna.load_study(study_name=name if name in names else names[0], storage=storage)


def knob_importance(sweep_dir, study_name: str, better: str = "min") -> Importance:
    """Importance of each searched knob for the sweep's metric, or an Importance with a note saying why not."""
    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
    from scipy.stats import spearmanr

    db = Path(sweep_dir) / "optuna.db"
    if not db.is_file():
        return Importance(0, note=note("importance.no_db"))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _load_study(db, study_name)
    if study is None:
        return Importance(0, note=note("importance.no_study"))
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if t.value is not None and math.isfinite(t.value)
    ]
    # the baseline arm (a paired sweep's co-training runs, mirrored with no knob) says nothing about the knobs
    done = [t for t in complete if t.user_attrs.get("arm") != ARM_BASELINE]
    n = len(done)
    configs = len({tuple(sorted((k, repr(v)) for k, v in t.params.items())) for t in done})
    if configs < MIN_CONFIGS:
        return Importance(
            n, n_configs=configs, note=note("importance.too_few", configs=configs, n=n, needed=MIN_CONFIGS)
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # with baseline trials, name the knobs: Optuna then uses only the trials that have them all (its default,
        # the knobs every trial shares, would be none); without, as Optuna chooses (it tolerates changed ranges)
        knobs = sorted(set.intersection(*(set(t.params) for t in done))) if len(done) < len(complete) else None
        values = get_param_importances(
            study, evaluator=PedAnovaImportanceEvaluator(target_quantile=max(0.1, 2.0 / n)), params=knobs
        )
    result = Importance(
        n, values=dict(values), n_configs=configs, note=note("importance.ped_anova", n=n, configs=configs)
    )
    for knob in values:
        points = [(t.params[knob], t.value) for t in done if knob in t.params]
        dist = done[0].distributions.get(knob)
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            means = {}
            for choice, value in points:
                means.setdefault(choice, []).append(value)
            pick = (min if better == "min" else max)(means, key=lambda c: sum(means[c]) / len(means[c]))
            result.direction[knob] = f"{pick} did better"
            continue
        xs = [math.log(x) if getattr(dist, "log", False) else float(x) for x, _ in points]
        ys = [v for _, v in points]
        if len(set(xs)) < 3:
            continue
        rho = float(spearmanr(xs, ys).statistic)
        if not math.isfinite(rho):
            continue
        result.correlation[knob] = rho
        if abs(rho) >= 0.3:
            higher_is_worse = rho > 0 if better == "min" else rho < 0
            result.direction[knob] = "lower did better" if higher_is_worse else "higher did better"
    return result


def importance_lines(imp: Importance, lang: str = "en") -> list[str]:
    note = imp.note.in_lang(lang) if isinstance(imp.note, Note) else imp.note
    if not imp.values:
        return [note]
    lines = [note]
    for knob, value in imp.values.items():
        rho = imp.correlation.get(knob)
        way = imp.direction.get(knob, "no clear direction")
        corr = f", Spearman ρ={rho:+.2f}" if rho is not None else ""
        way = (
            text(WAYS[way], lang)
            if way in WAYS
            else way.replace(" did better", text("importance.way.did_better", lang))
        )
        lines.append(text("importance.line", lang, knob=knob, value=value, way=way, corr=corr))
    return lines
