"""Which way is better for each logged metric, so nothing is ranked in a direction it does not have.

Only outcomes are ranked: losses and errors (lower is better) and success rates (higher is
better). The OT diagnostics (`ot_pi_sum`, `ot_cost(state)`, `ot_grad_ratio`, ...) describe how
OT acts, not how good a policy is: `ot_cost(state)` mostly tracks `window_size`, and a large
`ot_pi_sum` is neither good nor bad by itself. They get no "best" and no rank; nor do `train/lr` (a
setting) and `eval/l1_trend` (whether the held-out L1 is still falling: a diagnostic of the run's end).
"""

from __future__ import annotations

LOWER_IS_BETTER = ("eval/avg_l1", "train/loss", "train/l1_loss")
HIGHER_IS_BETTER = ("eval/success", "eval/success_covered", "eval/success_uncovered", "eval/success_source")


def direction(key: str) -> str | None:
    """'min', 'max', or None for a diagnostic that has no better direction."""
    if key in LOWER_IS_BETTER:
        return "min"
    if key in HIGHER_IS_BETTER:
        return "max"
    return None
