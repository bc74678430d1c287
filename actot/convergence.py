"""The convergence signal: is a run's held-out L1 still falling? Computed from the run's own history.

`eval/l1_trend` at a report. Let v_1 .. v_n be the held-out `eval/avg_l1` of the run's reports after
step 0, up to and including this one (the untrained baseline at step 0 is left out), and
k = floor(n / 3). With k >= 2, that is from the 6th report on,

    eval/l1_trend = (mean(v[n-k+1 .. n]) - mean(v[n-2k+1 .. n-k])) / mean(v[n-2k+1 .. n-k]),

the relative change of the mean held-out L1 from the third of the reports before the last third
to the last third (at the last report of a run: the last third of training against the middle
third). -0.1: the last third's L1 is 10% lower, the run was still improving; about 0: flat; > 0:
getting worse. Window means rather than single reports: in the 400-step pools of bench/data the
change of held-out L1 from one report to the next has a standard deviation of about 20% of its value.

The built-in rule `not_converged` (actot/rules/engine.py) flags a trial whose value at its last
report is below -0.05. That threshold is provisional, not yet calibrated at the new defaults
(cosine + EMA). On the ten 1,500-step runs of bench/data/grid_cpu.jsonl (constant lr, no EMA) it is
crossed by 8 runs at step 800 and by 4 at step 1,500; 2 of those 4 end below 0.9 covered success, and
so do 2 of the 6 others: a sign that training was cut short, not yet a predictor of success.
"""

from __future__ import annotations

TREND_KEY = "eval/l1_trend"
OF_KEY = "eval/avg_l1"
NOT_CONVERGED_BELOW = -0.05  # the built-in `not_converged` rule's threshold (provisional: see above)
MIN_WINDOW = 2  # reports per window: the signal needs 3 * MIN_WINDOW reports after step 0


def l1_trend(values: list[float]) -> float | None:
    """The relative change of the last third's mean against the third before it (see the module
    docstring); None with fewer than 3 * MIN_WINDOW values."""
    k = len(values) // 3
    if k < MIN_WINDOW:
        return None
    last = sum(values[-k:]) / k
    before = sum(values[-2 * k : -k]) / k
    return (last - before) / before


def history_trend(rows: list[dict]) -> float | None:
    """`l1_trend` of the held-out L1 of `rows` (a run's history, {'step': int, metric: value}, the
    current report last), step 0 and rows without the L1 left out."""
    return l1_trend([r[OF_KEY] for r in rows if r.get("step", 0) > 0 and r.get(OF_KEY) is not None])
