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
"""

from __future__ import annotations

from dataclasses import dataclass

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
