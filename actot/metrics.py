"""The metric vocabulary: every key a training run reports, and which way is better.

One table, read by training (`best/<key>` in a run's summary), the rules (a `when` may only name
a reported metric, so a misspelt `ot_pi_summ < 0.1` is refused before the sweep starts instead of
never firing), the sweep, the replay and the reports. `tests/test_sweep_metrics.py` checks that a
real training run reports nothing outside it: a new metric is added here, with its direction.

Only outcomes are ranked: losses and errors (lower is better) and success rates (higher is
better). The OT diagnostics (`ot_pi_sum`, `ot_cost(state)`, `ot_grad_ratio`, ...) describe how
OT acts, not how good a policy is: `ot_cost(state)` mostly tracks `window_size`, and a large
`ot_pi_sum` is neither good nor bad by itself. They have direction None: no "best" and no rank
unless a mode is given.

A metric's English label is its key, the seed log's own name; its Chinese label, the seed log's
word where it has one, is the string catalogue's `metric.<key>` (`actot/strings.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from actot.errors import ActotError
from actot.strings import both


@dataclass(frozen=True)
class Metric:
    """direction: 'min', 'max', or None for a diagnostic with a healthy range rather than a better end."""

    direction: str | None


METRICS: dict[str, Metric] = {
    "train/loss": Metric("min"),
    "train/l1_loss": Metric("min"),
    "train/kld_loss": Metric(None),
    "train/grad_norm": Metric(None),
    "ot_loss": Metric(None),
    "ot_loss_embed": Metric(None),
    "ot_loss_label": Metric(None),
    "ot_pi_sum": Metric(None),
    "ot_pi_diag": Metric(None),
    "ot_cost(state)": Metric(None),
    "ot_true_pair_mass": Metric(None),
    "ot_embed_norm": Metric(None),
    "ot_embed_shrink": Metric(None),
    "ot_pair_ratio": Metric(None),
    "ot_grad_ratio": Metric(None),
    "ot_sinkhorn_err": Metric(None),
    "ot_sinkhorn_iters": Metric(None),
    "eval/avg_l1": Metric("min"),
    "eval/avg_l1_se": Metric(None),
    # Candidate offline metrics (bench/offline_study.py measures how each ranks configs by success): all on the
    # EMA weights, on held-out demos (actot/evaluate.py `eval_l1`).
    "eval/avg_l1_window": Metric("min"),  # mean of the last 3 reports' eval/avg_l1
    "eval/l1_first": Metric("min"),  # the chunk's first action: the one executed now
    "eval/l1_exec": Metric("min"),  # the chunk's first n_action_steps: executed in closed loop
    "eval/l1_end": Metric("min"),  # frames in the demo's last third: reaching and stopping
    "eval/source_l1": Metric("min"),  # held-out source demos (data.n_eval_source)
    "eval/l1_combo": Metric("min"),  # (eval/avg_l1 + eval/source_l1) / 2
    # Benchmark only: the held-out target demos inside / outside the target demos' region (a lab has the first).
    "eval/avg_l1_covered": Metric("min"),
    "eval/avg_l1_uncovered": Metric("min"),
    "eval/success": Metric("max"),
    "eval/success_se": Metric(None),
    "eval/success_covered": Metric("max"),
    "eval/success_covered_se": Metric(None),
    "eval/success_uncovered": Metric("max"),
    "eval/success_uncovered_se": Metric(None),
    "eval/success_source": Metric("max"),
    "eval/success_source_se": Metric(None),
    # Whether the held-out L1 is still falling: a diagnostic of the run's end (actot/convergence.py).
    "eval/l1_trend": Metric(None),
    "train/lr": Metric(None),  # a setting, logged
    "time/step_s": Metric(None),
}

# What a trial reports: what rules may watch.
REPORTED_METRICS = tuple(METRICS)

# What a sweep's `metric=` accepts; each is tested as the sweep metric in both modes (tests/test_sweep_metrics.py).
# eval/success is only measured at a trial's last step (closed-loop rollouts); the others at every log.
# The offline metrics a lab can compute on its own data (held-out target and source demos), each a candidate
# for ranking a real-data sweep; bench/offline_study.py measures their agreement with closed-loop success.
OFFLINE_CANDIDATES = (
    "eval/avg_l1",
    "eval/avg_l1_window",
    "eval/l1_first",
    "eval/l1_exec",
    "eval/l1_end",
    "eval/source_l1",
    "eval/l1_combo",
    "train/l1_loss",
)
SWEEP_METRICS = (
    "eval/avg_l1",
    "eval/success",
    "train/loss",
    "train/l1_loss",
    "ot_loss",
    "ot_cost(state)",
    *(m for m in OFFLINE_CANDIDATES if m not in ("eval/avg_l1", "train/l1_loss")),
)
# What a metric needs that not every dataset has: held-out source demos (data.n_eval_source).
NEEDS_SOURCE_HELD_OUT = ("eval/source_l1", "eval/l1_combo")


# What `metric: auto` ranks by on LeRobot data, which has no simulator for closed-loop success.
REAL_DATA_METRIC = "eval/avg_l1"

# How well each offline metric's order of configs agreed with closed-loop success on the benchmark (config-level
# Spearman of config means, negative = the right way for an error, with its bootstrap interval over configs): the
# one line every real-data table, report and dashboard carries, so that a lab knows what its order is worth. Each
# figure is a measurement of bench/offline_study.py, recorded in bench/RESULTS.md (sessions 9 and 10, "which offline
# metric ranks configs by success"): shown to users on purpose, so they are data here, and change with those sections.


def _measured(metric: str, default: tuple[str, str, str], quarter: tuple[str, str, str]) -> tuple[str, str]:
    """The validity line of a metric measured with a lab's held-out split on two benchmark settings: the default
    (target demos on half the goals) and `lower_left` (on a quarter); each (Spearman [interval], OT configs alone,
    the top pick's success). The best config's success: 0.815 and 0.760."""
    return both(
        "validity.measured",
        metric=metric,
        spearman=default[0],
        ot_alone=default[1],
        pick=default[2],
        best="0.815",
        spearman2=quarter[0],
        ot_alone2=quarter[1],
        pick2=quarter[2],
        best2="0.760",
    )


RANKING_VALIDITY: dict[str, tuple[str, str]] = {
    "eval/avg_l1": _measured(
        "eval/avg_l1", ("-0.54 [-0.91, +0.06]", "-0.31", "0.75"), ("-0.85 [-0.99, -0.46]", "-0.76", "0.717")
    ),
    "eval/avg_l1_window": _measured(
        "eval/avg_l1_window", ("-0.50 [-0.89, +0.11]", "-0.26", "0.75"), ("-0.85 [-1.00, -0.47]", "-0.77", "0.717")
    ),
    "eval/l1_first": _measured(
        "eval/l1_first", ("-0.71 [-0.96, -0.23]", "-0.54", "0.75"), ("-0.86 [-0.97, -0.53]", "-0.78", "0.717")
    ),
    "eval/l1_exec": _measured(
        "eval/l1_exec", ("-0.55 [-0.92, +0.04]", "-0.34", "0.75"), ("-0.90 [-0.99, -0.61]", "-0.85", "0.717")
    ),
    "eval/l1_end": _measured(
        "eval/l1_end", ("-0.61 [-0.94, -0.01]", "-0.52", "0.775"), ("-0.73 [-0.97, -0.20]", "-0.63", "0.64")
    ),
    "eval/source_l1": _measured(
        "eval/source_l1", ("-0.61 [-0.92, -0.01]", "-0.37", "0.73"), ("-0.75 [-0.97, -0.30]", "-0.81", "0.727")
    ),
    "eval/l1_combo": _measured(
        "eval/l1_combo", ("-0.58 [-0.92, +0.02]", "-0.33", "0.75"), ("-0.85 [-0.99, -0.46]", "-0.76", "0.717")
    ),
    "train/l1_loss": _measured(
        "train/l1_loss", ("+0.03 [-0.63, +0.71]", "-0.38", "0.14"), ("-0.11 [-0.76, +0.62]", "-0.53", "0.107")
    ),
}


def validity_line(metric: str) -> tuple[str, str]:
    """(English, Chinese): what the benchmark says of ranking configs by `metric` instead of by success."""
    if metric in RANKING_VALIDITY:
        return RANKING_VALIDITY[metric]
    return both("validity.unmeasured", metric=metric)


def direction(key: str) -> str | None:
    """'min', 'max', or None for a diagnostic (or a key that is no metric) that has no better direction."""
    metric = METRICS.get(key)
    return metric.direction if metric is not None else None


def direction_for_ranking(metric: str, mode: str | None) -> str:
    """The direction to rank `metric` by: `mode` when given, else the metric's own; never a guess for a range."""
    if mode is not None:
        if mode not in ("min", "max"):
            raise ActotError(f"command line: mode={mode!r} must be min or max")
        return mode
    better = direction(metric)
    if better is None:
        raise ActotError(
            f"command line: metric={metric} has a healthy range, not a better end, so it cannot be "
            f"ranked as it is; pass mode=min or mode=max to rank it anyway, or rank by eval/avg_l1"
        )
    return better
