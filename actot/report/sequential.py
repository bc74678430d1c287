"""Sequential confirmation: fresh seeds added a look at a time until "beats co-training" is decided (issue 29).

Pure functions of numbers (no sweep, no files): the confirm stage (`rank.py`, the driver through the pipeline's
hook) and `bench/selection_calibration.py` decide with the same code.

The question at every look is the fixed confirm stage's: the paired differences d (+ = better than co-training) of
a confirmed config on the fresh seeds alone, their SD pooled with the search's differences (the search's spread,
not its selected means: `baseline.compare(spread=)`), t = mean / (sd / sqrt(n)) on df = the pooled df. What is new
is when it stops. A group-sequential design (Jennison & Turnbull, *Group Sequential Methods*, 2000):

- **Two one-sided tests, each with its own error spent over the looks.** H0: delta <= 0 at alpha (one-sided 2.5%:
  the 95% interval's claim; over m confirmed configs alpha / m, Bonferroni), and, when an `effect` delta1 is
  stated, H1: delta >= delta1 at beta (an effect as large as delta1 ruled out: futility). Each test spends its
  error with a Lan-DeMets spending function of the information fraction n / max_seeds (`spend`: O'Brien-Fleming
  type, little early and most at the cap, or Pocock type, evenly), so looks may fall anywhere (a seed whose trial
  failed moves a look, it does not break the design); at the last look (the cap) all of it is spent.
- **The boundaries** (`boundaries`): on the z scale of the canonical joint distribution (Z_j = S_j / sqrt(I_j),
  S with independent normal increments, I_j proportional to n_j), the recursive numerical integration of
  Armitage, McPherson & Rowe (1969): c_j such that P(first crossing at look j) = spent(t_j) - spent(t_{j-1}).
  The SD is estimated, so each z boundary is used as a nominal significance level on the look's t statistic
  (Jennison & Turnbull ch. 11.2: the "significance level approach"): claim when P(T_df >= t) <= 1 - Phi(c_j).
- **Futility is non-binding**: the claim's boundaries are computed as if the stage never stopped for futility,
  so stopping for it (or not) never raises the false-claim rate above alpha. Stopping for futility wrongly, when
  the true effect is delta1, happens at most beta of the time.
- **What a look says** (`Look`): the mean, the repeated confidence interval mean -+ t_j * se (its lower end is
  above 0 exactly when the claim boundary is crossed; the intervals of all looks cover delta together with
  probability >= 1 - 2 alpha), the mean at which it would claim, the mean at or below which delta1 would be ruled
  out, and the decision: `claim`, `futile` (delta1 ruled out), `cap` (the last look, undecided: not confirmed) or
  `continue`.

`bench/selection_calibration.py` measures false wins, coverage, power and compute on recorded seed pools
(bench/RESULTS.md, issue 29 "sequential").
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache

SPENDING = ("obrien-fleming", "pocock")
FUTILITY = (*SPENDING, "none")
DECISIONS = ("claim", "futile", "cap", "continue")
ALPHA = 0.025  # one-sided: the 95% interval's claim (its lower end above 0)


def spend(kind: str, total: float, t: float) -> float:
    """The error spent by information fraction t (Lan & DeMets 1983): O'Brien-Fleming type
    2 - 2 Phi(z_{1 - total/2} / sqrt(t)), or Pocock type total * ln(1 + (e - 1) t); `total` at t >= 1."""
    from scipy.stats import norm

    if t <= 0:
        return 0.0
    t = min(t, 1.0)
    if kind == "obrien-fleming":
        return float(2.0 * norm.sf(norm.isf(total / 2.0) / math.sqrt(t)))
    if kind == "pocock":
        return float(total * math.log(1.0 + (math.e - 1.0) * t))
    raise ValueError(f"spending {kind!r}: one of {', '.join(SPENDING)}")


STEP = 0.01  # the z grid's step
FLOOR = -9.0  # the grid's lower end: the continuation mass below it is negligible


def _simpson(n: int):
    import numpy as np

    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w / 3.0


def _grid(top: float):
    """An odd number of points from FLOOR to `top`, about STEP apart, and their Simpson weights."""
    import numpy as np

    n = max(3, int(math.ceil((top - FLOOR) / STEP)) // 2 * 2 + 1)
    z = np.linspace(FLOOR, top, n)
    return z, _simpson(n) * (z[1] - z[0])


@lru_cache(maxsize=4096)
def boundaries(fractions: tuple, total: float, kind: str) -> tuple:
    """z boundaries c_1..c_K for looks at information fractions `fractions` (increasing; the last may be 1): under
    the null, P(Z_1 < c_1, ..., Z_{j-1} < c_{j-1}, Z_j >= c_j) = spend(t_j) - spend(t_{j-1}). inf where a look
    spends nothing."""
    import numpy as np
    from scipy.optimize import brentq
    from scipy.stats import norm

    out: list[float] = []
    spent_before = 0.0
    z = w = f = None  # the continuation sub-density of Z_{j-1} on its grid
    info_before = 0.0
    for t in fractions:
        t = float(t)
        if t <= info_before + 1e-12:
            raise ValueError(f"information fractions must increase: {fractions}")
        target = spend(kind, total, t) - spent_before
        if f is None:  # the first look: Z_1 ~ N(0, 1)
            c = float(norm.isf(target)) if target > 0 else math.inf
        else:
            mu = z * math.sqrt(info_before / t)  # E[Z_j | Z_{j-1} = z]
            sd = math.sqrt((t - info_before) / t)  # its SD

            def exit_mass(c):
                return float(np.sum(w * f * norm.sf((c - mu) / sd)))

            if target <= 0:
                c = math.inf
            else:
                c = float(brentq(lambda c: exit_mass(c) - target, -10.0, 40.0, xtol=1e-7))
        out.append(c)
        spent_before += max(target, 0.0)
        top = min(c, 12.0)
        znew, wnew = _grid(top)
        if f is None:
            fnew = norm.pdf(znew)
        else:
            fnew = (norm.pdf((znew[:, None] - mu[None, :]) / sd) / sd) @ (w * f)
        z, w, f, info_before = znew, wnew, fnew, t
    return tuple(out)


@dataclass(frozen=True)
class Design:
    """A sequential confirm stage: looks until `max_seeds` fresh seeds (the cap; the information fraction is n /
    max_seeds), the claim's one-sided `alpha` spent by `spending`, and, with an `effect` (delta1, in the metric's
    units, + = better), futility: delta >= effect ruled out at `beta`, spent by `futility` ("none": no futility)."""

    max_seeds: int
    spending: str = "obrien-fleming"
    effect: float | None = None
    beta: float = 0.2
    futility: str = "pocock"
    alpha: float = ALPHA

    @property
    def has_futility(self) -> bool:
        return self.effect is not None and self.futility != "none"


@dataclass(frozen=True)
class Look:
    """One look of a config's sequential confirmation: `n` paired fresh seeds, the mean difference, its se and df
    (SD pooled with the search's), the repeated confidence interval [low, high], the mean at which it claims
    (`claim_at`), the mean at or below which delta1 is ruled out (`rule_out_at`, None without futility), whether
    this is the last look, and the decision (DECISIONS)."""

    look: int
    n: int
    mean: float
    se: float
    df: int
    low: float
    high: float
    claim_at: float
    rule_out_at: float | None
    final: bool
    decision: str

    @property
    def stopped(self) -> bool:
        return self.decision != "continue"


def pooled(diffs: list[float], spread=()) -> tuple[float, int]:
    """(SD, df) of `diffs` pooled with the samples of `spread`: `stats.pooled_sd` over [diffs, *spread], in plain
    Python (the bench calls it some ten million times)."""
    ss, df = 0.0, 0
    for sample in (diffs, *spread):
        if len(sample) >= 2:
            mean = sum(sample) / len(sample)
            ss += sum((x - mean) ** 2 for x in sample)
            df += len(sample) - 1
    return (math.sqrt(ss / df), df) if df else (math.nan, 0)


@lru_cache(maxsize=65536)
def _t_isf(p: float, df: int) -> float:
    from scipy.stats import t

    return float(t.isf(p, df))


@lru_cache(maxsize=4096)
def _norm_sf(c: float) -> float:
    from scipy.stats import norm

    return float(norm.sf(c))


def fractions_of(counts: list[int], max_seeds: int, final: bool) -> tuple:
    """The information fractions of looks at `counts` paired seeds (repeats dropped: a look that added no pair is
    no look); the last is 1 when it is the final look."""
    seen: list[int] = []
    for n in counts:
        if n > 0 and (not seen or n > seen[-1]):
            seen.append(n)
    out = [min(n / max_seeds, 1.0) for n in seen]
    if final and out:
        out[-1] = 1.0
    # a count at or past the cap before the last look: fractions that no longer increase are dropped
    clean: list[float] = []
    for t in out:
        if not clean or t > clean[-1] + 1e-12:
            clean.append(t)
    return tuple(round(t, 9) for t in clean)


def look(diffs, earlier: list[int], design: Design, spread=(), m: int = 1, final: bool | None = None) -> Look | None:
    """The decision after a look: `diffs` the config's paired fresh differences so far (+ = better), `earlier` how
    many there were at each earlier look, `spread` the search's differences (samples pooled into the SD), `m` the
    confirmed configs (alpha / m each). `final`: whether no seed can follow (default: n >= max_seeds). None when no
    SD can be had (no pair, or df = 0)."""
    d = [float(x) for x in diffs]
    n = len(d)
    if n == 0:
        return None
    sd, df = pooled(d, spread)
    if df < 1 or not math.isfinite(sd):
        return None
    final = n >= design.max_seeds if final is None else final
    fracs = fractions_of([*earlier, n], design.max_seeds, final)
    j = len(fracs)
    mean = sum(d) / n
    se = sd / math.sqrt(n)
    c = boundaries(fracs, design.alpha / m, design.spending)[-1]
    t_claim = _t_isf(_norm_sf(c), df) if math.isfinite(c) else math.inf
    claim_at = t_claim * se
    low, high = (mean - claim_at, mean + claim_at) if math.isfinite(claim_at) else (-math.inf, math.inf)
    rule_out_at = None
    if design.has_futility:
        f = boundaries(fracs, design.beta, design.futility)[-1]
        t_out = _t_isf(_norm_sf(f), df) if math.isfinite(f) else math.inf
        rule_out_at = design.effect - t_out * se if math.isfinite(t_out) else -math.inf
    if se <= 0:  # every difference equal: its sign decides
        claimed, ruled_out = mean > 0, design.has_futility and mean < design.effect
    else:  # strictly above: the interval's lower end is then above 0
        claimed = mean > claim_at
        ruled_out = rule_out_at is not None and mean <= rule_out_at
    decision = "claim" if claimed else "futile" if ruled_out else "cap" if final else "continue"
    return Look(j, n, mean, se, df, low, high, claim_at, rule_out_at, final, decision)


def history(
    diffs_by_look: list[list[float]], design: Design, spread=(), m: int = 1, last_final: bool | None = None
) -> list[Look]:
    """Every look of one config, in order, each from the differences it had (cumulative), up to the first that
    stopped: `diffs_by_look[j]` the differences the (j+1)th look had. `last_final`: whether the last given look is
    the last there can be (default: by its count)."""
    out: list[Look] = []
    counts: list[int] = []
    for j, diffs in enumerate(diffs_by_look):
        final = last_final if (j == len(diffs_by_look) - 1 and last_final is not None) else None
        one = look(diffs, counts, design, spread, m, final)
        if one is None:
            continue
        out.append(dataclasses.replace(one, look=j + 1))  # the stage's look, also where one added no pair
        counts.append(len(diffs))
        if one.stopped:
            break
    return out


def design_of(stored: dict) -> Design:
    """The Design of a sweep.json confirm section's `sequential` settings (confirm.sequential but `enabled`)."""
    return Design(
        int(stored["max_seeds"]),
        stored.get("spending", "obrien-fleming"),
        stored.get("effect"),
        float(stored.get("beta", 0.2)),
        stored.get("futility", "pocock"),
    )


def config_history(look_seeds: list[list[int]], diffs: dict, design: Design, spread=(), m: int = 1) -> list[Look]:
    """A confirmed config's looks: `look_seeds` the fresh seeds each of its looks added, `diffs` seed -> its paired
    difference (seeds without a pair are left out of the look that ran them). The last given look is the final one
    when the seeds run reach the cap."""
    seen: list[int] = []
    by_look = []
    for seeds in look_seeds:
        seen += [int(s) for s in seeds]
        by_look.append([float(diffs[s]) for s in seen if s in diffs])
    return history(by_look, design, spread, m, last_final=len(seen) >= design.max_seeds)


def seeds_needed(sd: float, design: Design, power: float = 0.8) -> int | None:
    """Fresh seeds a fixed-size test would need for `power` at delta1 with this SD (the normal approximation,
    z_{1-alpha} + z_{power}): what a cap below it costs in power. None without an effect."""
    from scipy.stats import norm

    if design.effect is None or design.effect <= 0 or not math.isfinite(sd) or sd <= 0:
        return None
    return int(math.ceil(((norm.isf(design.alpha) + norm.isf(1 - power)) * sd / design.effect) ** 2))


# ---------------------------------------------------------------------------------------- what a look says
def _num(x: float | None) -> str:
    return "-" if x is None else ("-inf" if x == -math.inf else "+inf" if x == math.inf else f"{x:+.3g}")


def stop_note(one: Look, design: Design):
    """Where a config's looks stand, in both languages: stopped at look j and why (claim, futility, the cap), or
    undecided with the boundaries the next look must cross."""
    from actot.strings import note

    fields = dict(look=one.look, n=one.n, cap=design.max_seeds, mean=_num(one.mean), claim_at=_num(one.claim_at))
    if one.decision == "claim":
        return note("sequential.claim", **fields)
    if one.decision == "futile":
        return note(
            "sequential.futile",
            **fields,
            effect=_num(design.effect),
            rule_out_at=_num(one.rule_out_at),
            beta=f"{design.beta:g}",
        )
    if one.decision == "cap":
        return note("sequential.cap", **{k: v for k, v in fields.items() if k != "cap"})
    futility = (
        note("sequential.futility_part", effect=_num(design.effect), rule_out_at=_num(one.rule_out_at))
        if one.rule_out_at is not None
        else ""
    )
    return note("sequential.continue", **fields, futility=futility)


def design_note(design: Design, who: str, looks: list[Look], m: int = 1, per: int = 1):
    """The ranking's note on a config's sequential confirmation: the design (`per` seeds a look after the first),
    then each look's mean, repeated interval and decision."""
    from actot.strings import note, per_lang, text

    futility = (
        note(
            "sequential.futility",
            effect=_num(design.effect),
            beta=f"{design.beta:g}",
            kind=per_lang(lambda lang: text(f"sequential.spending.{design.futility}", lang)),
        )
        if design.has_futility
        else note("sequential.no_futility")
    )

    def listed(lang: str) -> str:
        return ("; " if lang == "en" else "；").join(
            text(
                "sequential.look",
                lang,
                look=one.look,
                n=one.n,
                word=text(f"sequential.word.{one.decision}", lang),
                diff=f"{_num(one.mean)} [{one.low:.3g}, {one.high:.3g}]",
            )
            for one in looks
        )

    return note(
        "rank.sequential",
        kind=per_lang(lambda lang: text(f"sequential.spending.{design.spending}", lang)),
        alpha=100 * design.alpha / m,
        futility=futility,
        cap=design.max_seeds,
        per=per,
        who=who,
        looks=per_lang(listed),
    )
