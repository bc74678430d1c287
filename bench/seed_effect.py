"""How much does a training seed move every arm the same way? The seed effect in the recorded multi-seed pools.

    python -m bench.seed_effect

Racing and the paired sweep model a final value as `x[arm, seed] = mu[arm] + beta[seed] + noise`
(actot/sweep/racing.py). Paired differences on shared seeds remove `beta`; the residual SD of the two-way fit is
the noise they keep. This prints, per recorded pool (bench/selection_calibration.py's POOLS, whose configs all ran
on the same seeds): the Spearman correlation over seeds between each OT config and co-training (median and range
over configs; a config or co-training with no spread on the shared seeds is left out), and the seed's share of the
variance (the intra-class correlation ICC(3,1), consistency: how alike two arms on one seed are, their means set
aside).
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import spearmanr

from bench.selection_calibration import POOLS, load_pool
from bench.tables import text_table


def seed_share(table: np.ndarray) -> float:
    """ICC(3,1), consistency, of an arms x seeds table: the seeds' variance component over seeds' plus noise, from
    the two-way ANOVA's mean squares (arms as raters, seeds as subjects), the arms' own means set aside (a paired
    difference removes what arms share on a seed, not how far apart their means are)."""
    a, s = table.shape
    grand = table.mean()
    ms_seed = a * ((table.mean(0) - grand) ** 2).sum() / (s - 1)
    resid = table - table.mean(1, keepdims=True) - table.mean(0, keepdims=True) + grand
    ms_err = (resid**2).sum() / ((a - 1) * (s - 1))
    return float((ms_seed - ms_err) / (ms_seed + (a - 1) * ms_err))


def pool_row(name: str) -> list[str] | None:
    loaded = load_pool(name)
    if loaded is None:
        return None
    configs, baseline, _ = loaded
    seeds = sorted(baseline)
    base = [baseline[s] for s in seeds]
    rhos = [
        spearmanr(base, values).statistic
        for values in ([v[s] for s in seeds] for v in configs.values())
        if np.std(values) > 0 and np.std(base) > 0
    ]
    table = np.array([base, *([v[s] for s in seeds] for v in configs.values())])
    return [
        name,
        POOLS[name][3],
        str(len(configs)),
        str(len(seeds)),
        f"{np.median(rhos):+.2f}" if rhos else "-",
        f"{min(rhos):+.2f} .. {max(rhos):+.2f}" if rhos else "-",
        f"{seed_share(table):.2f}",
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", default=",".join(POOLS))
    args = parser.parse_args(argv)
    rows = [row for row in (pool_row(name) for name in args.pools.split(",")) if row]
    print("same-seed agreement with co-training in the recorded pools (bench/data)")
    print(
        text_table(
            ["pool", "metric", "configs", "seeds", "Spearman vs co-training (median)", "range", "seed share (ICC)"],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
