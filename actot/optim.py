"""The learning-rate schedule of a run: warm-up, then constant or cosine, as a pure function of the step.

A pure function of the step, so that a resumed run continues the same schedule bit for bit. LeRobot's ACT trains at
a constant learning rate (`lr_schedule=constant`). No torch here: the config (and so a sweep's driver) reads
SCHEDULES without importing torch. The weights' moving average is actot/ema.py.
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine")
AUTO_WARMUP_SHARE = 0.05  # warmup_steps=null under cosine: 5% of the steps


def resolved_warmup(schedule: str, warmup_steps: int | None, steps: int) -> int:
    """`warmup_steps`, or when null: 5% of `steps` under cosine (rounded down), none under constant."""
    if warmup_steps is not None:
        return warmup_steps
    return int(AUTO_WARMUP_SHARE * steps) if schedule == "cosine" else 0


def lr_factor(step: int, steps: int, schedule: str, warmup: int, min_ratio: float) -> float:
    """The learning rate of optimiser step `step` (1 .. steps) as a fraction of the base rate.

    Linear warm-up: step / warmup for step <= warmup (base / warmup at the first step, the base rate
    at step `warmup`). Then `constant`: 1; `cosine`: min_ratio + (1 - min_ratio) * (1 + cos(pi p)) / 2
    with p = (step - warmup) / (steps - warmup), from 1 right after the warm-up to min_ratio at the last
    step (p is capped at 1, so steps beyond `steps` stay at min_ratio).
    """
    if warmup > 0 and step <= warmup:
        return step / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
