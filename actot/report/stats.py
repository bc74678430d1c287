"""Confidence for a ranking: bootstrap intervals of a mean and the probability that one config beats another.

Pure functions of numbers (no sweep, no files), so that the confirm stage's arithmetic is tested
on known values:

- `mean_interval(x)`: the mean of x and its percentile-bootstrap 95% interval (resample x with
  replacement `reps` times, take the 2.5th and 97.5th percentiles of the resampled means;
  Efron & Tibshirani 1993). Only n >= 3 values make an interval (`MIN_INTERVAL_N`): from two
  values the resampled means take three values and the "95% interval" is just [min, max], a
  range, not a confidence statement; reports show such a config's values instead. (With three
  values it is still their range, since each extreme is drawn three times with probability
  1/27 > 2.5%; it narrows from four on.)
- `prob_beats(x, y, better)`: P(X beats Y) for one draw of each, ties counting half, i.e. the
  Mann-Whitney U statistic over n_x * n_y (rliable's "probability of improvement",
  Agarwal et al., NeurIPS 2021).
- `overlaps(a, b)`: whether two intervals share a point: the leaders "cannot be told apart at
  this budget".
- `pooled_sd(samples)`: one SD from several small samples that share a spread (each sample's
  deviations around its own mean, df = sum(n_i - 1)); `t_interval(values, sd, df)`: the mean's
  Student-t interval with that SD (se = sd / sqrt(n)), and `prob_above_zero(mean, se, df)`: the
  t distribution's P(delta > 0). With 2 or 3 training seeds per config one sample's own SD rests
  on 1 or 2 degrees of freedom (t = 12.7 or 4.3 for 95%); pooled over the sweep's configs it rests
  on many, at the price of assuming they share one spread (`baseline.py` uses them).
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np

MIN_INTERVAL_N = 3  # fewer values than this: no interval is shown or compared


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    @property
    def has_width(self) -> bool:
        """Whether this is an interval a report may show and compare (n >= MIN_INTERVAL_N)."""
        return self.n >= MIN_INTERVAL_N


def mean_interval(values, level: float = 0.95, reps: int = 10_000, seed: int = 0) -> Interval:
    """Mean of `values` with a percentile-bootstrap interval (deterministic for a given seed)."""
    x = np.asarray([float(v) for v in values], dtype=float)
    if x.size == 0:
        raise ValueError("mean_interval needs at least one value")
    mean = float(x.mean())
    if x.size == 1:
        return Interval(mean, mean, mean, 1)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(reps, x.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(mean, float(low), float(high), int(x.size))


def prob_beats(x, y, better: str = "min") -> float:
    """P(a value drawn from x is better than one drawn from y), ties counting half."""
    a = np.asarray([float(v) for v in x], dtype=float)[:, None]
    b = np.asarray([float(v) for v in y], dtype=float)[None, :]
    if a.size == 0 or b.size == 0:
        raise ValueError("prob_beats needs values on both sides")
    wins = (a < b) if better == "min" else (a > b)
    return float(wins.mean() + 0.5 * (a == b).mean())


def overlaps(a: Interval, b: Interval) -> bool:
    return a.low <= b.high and b.low <= a.high


def pooled_sd(samples) -> tuple[float, int]:
    """(pooled SD, its degrees of freedom) of several samples assumed to share one spread: the squared deviations
    of each sample around its own mean, summed over samples, over df = sum(n_i - 1). (nan, 0) when no sample has
    two values. A sample of one value adds nothing (no deviation from its own mean is measured)."""
    ss, df = 0.0, 0
    for sample in samples:
        x = np.asarray([float(v) for v in sample], dtype=float)
        if x.size >= 2:
            ss += float(((x - x.mean()) ** 2).sum())
            df += int(x.size) - 1
    return (math.sqrt(ss / df), df) if df else (math.nan, 0)


def t_interval(values, sd: float, df: float, level: float = 0.95) -> Interval | None:
    """The mean of `values` with its Student-t interval, mean +- t(df) * sd / sqrt(n), for an SD measured elsewhere
    (pooled) on df degrees of freedom (fractional from an approximation such as Satterthwaite's); None when df < 1
    (no spread measured: no interval)."""
    from scipy.stats import t

    x = [float(v) for v in values]
    if not x:
        raise ValueError("t_interval needs at least one value")
    if df < 1 or not math.isfinite(sd):
        return None
    mean = sum(x) / len(x)
    half = float(t.ppf(0.5 + level / 2.0, df)) * sd / math.sqrt(len(x))
    return Interval(mean, mean - half, mean + half, len(x))


def prob_above_zero(mean: float, se: float, df: int) -> float:
    """P(delta > 0) where delta ~ mean + se * T(df) (the t interval's distribution, flat prior): T's cdf at mean/se.
    An se of 0 (every difference equal) is certain of its sign."""
    from scipy.stats import t

    if se <= 0:
        return 1.0 if mean > 0 else 0.0 if mean < 0 else 0.5
    return float(t.cdf(mean / se, df))
