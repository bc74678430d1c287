"""Racing over seeds: is a config, on the seeds it ran so far, worse than the incumbent with a stated confidence?

Pure functions of numbers (no Ray, no Optuna), so the decision is tested on constructed histories.

Every arm (a searched config, the baseline) runs on the same training seeds, so a value is
modelled as `x[arm, seed] = mu[arm] + beta[seed] + noise`: the seed's effect is shared by all
arms (measured in the recorded pools, `bench/seed_effect.py` in bench/RESULTS.md: that shared part is from 8% to
about half of the variance, so most of a difference's noise is often the arms' own, which the pooled residual
below measures). A config and the incumbent are compared on their common seeds by
the paired differences d_s = x[c, s] - x[inc, s] (oriented so that d > 0 means c is better);
their SD is sqrt(2) times the noise SD pooled over every arm of the sweep (the residual of the
additive two-way fit, `residual_sd`), so one seed per config is already a test with the sweep's
degrees of freedom. P(c beats the incumbent) = T_df(mean(d) / (sd_d / sqrt(n))).

Why not Optuna's `WilcoxonPruner` (a Wilcoxon signed-rank test on each pair's own instances):
with n paired seeds the smallest one-sided p-value it can reach is 2^-n (0.25 at 2 seeds, 0.125
at 3), so at the 2-3 seeds a sweep can afford it never stops anything at p <= 0.1. Pooling the
noise over the sweep's arms is what makes a race possible at that budget; it assumes the noise
SD is common to the configs (a t-test's usual assumption).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RaceResult:
    p_beats: float  # P(config beats the incumbent) on the common seeds
    seeds: tuple[int, ...]  # the common seeds compared
    mean_diff: float  # mean paired difference, oriented: > 0 = the config is better
    df: int  # degrees of freedom of the pooled noise SD


def residual_sd(table: dict[str, dict[int, float]]) -> tuple[float, int]:
    """(noise SD, degrees of freedom) of the additive fit arm + seed over every finite value of `table`.

    `table`: arm -> seed -> value. Least squares with an intercept, arm and seed effects; the
    degrees of freedom are the values left after the fit (0: no estimate, SD NaN).
    """
    cells = [
        (arm, seed, v) for arm, row in table.items() for seed, v in row.items() if v is not None and math.isfinite(v)
    ]
    if not cells:
        return math.nan, 0
    arms = sorted({a for a, _, _ in cells})
    seeds = sorted({s for _, s, _ in cells})
    x = np.zeros((len(cells), 1 + len(arms) + len(seeds)))
    y = np.array([v for _, _, v in cells], dtype=float)
    for i, (arm, seed, _) in enumerate(cells):
        x[i, 0] = 1.0
        x[i, 1 + arms.index(arm)] = 1.0
        x[i, 1 + len(arms) + seeds.index(seed)] = 1.0
    coef, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
    df = len(cells) - int(rank)
    if df <= 0:
        return math.nan, 0
    rss = float(((y - x @ coef) ** 2).sum())
    return math.sqrt(rss / df), df


def race(
    config: dict[int, float],
    incumbent: dict[int, float],
    noise_sd: float,
    df: int,
    better: str = "max",
    floor_sd: float = 0.0,
) -> RaceResult | None:
    """P(config beats incumbent) from their paired differences on common seeds; None when it cannot be said.

    `noise_sd`, `df`: from `residual_sd` over the sweep's arms; `floor_sd`: the smallest noise SD
    to assume (a measurement's own error, e.g. the binomial SE of a success rate over n rollouts),
    so that a few arms that happen to agree do not make the test overconfident.
    """
    common = tuple(sorted(s for s in config if s in incumbent and _finite(config[s]) and _finite(incumbent[s])))
    if not common or df <= 0 or not math.isfinite(noise_sd):
        return None
    sign = 1.0 if better == "max" else -1.0
    diffs = np.array([sign * (config[s] - incumbent[s]) for s in common])
    sd = max(noise_sd, floor_sd) * math.sqrt(2.0)
    mean = float(diffs.mean())
    if sd <= 0:
        return RaceResult(1.0 if mean > 0 else 0.0 if mean < 0 else 0.5, common, mean, df)
    from scipy.stats import t

    p = float(t.cdf(mean / (sd / math.sqrt(len(common))), df))
    return RaceResult(p, common, mean, df)


def _finite(v) -> bool:
    return v is not None and math.isfinite(v)
