"""How the weights move over a run: the learning-rate schedule, and the exponential moving average
(EMA) of the weights that evaluation and checkpoints use.

Both are pure functions of the step (the schedule) or of the updates so far (the EMA, whose state
is saved in the checkpoint), so that a resumed run continues the same trajectory bit for bit.
LeRobot's ACT trains at a constant learning rate with no EMA (`lr_schedule=constant ema_decay=0`).
"""

from __future__ import annotations

import copy
import math

import torch

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


def ema_decay_at(decay: float, update: int) -> float:
    """The decay of the `update`-th EMA update (1, 2, ...): min(decay, (1 + update) / (10 + update)).

    The usual warm-up of an EMA (TensorFlow's ExponentialMovingAverage with num_updates; the
    "threshold" decay of diffusers' and super-gradients' EMA): a fixed 0.999 would keep 74% of the
    step-1 weights after 300 updates, while this ramp averages over about the last ninth of the
    updates ((10 + n) / 9 of them) until `decay` takes over (from update 8,990 for 0.999).
    """
    return min(decay, (1.0 + update) / (10.0 + update))


class WeightEMA:
    """An exponential moving average of a model's parameters and floating-point buffers.

    `model` is a frozen copy (eval mode, no gradients) that evaluation runs on; after each optimiser
    step, `update(trained)` moves every float tensor of it towards the trained model's by
    1 - ema_decay_at(decay, n); integer buffers are copied. `state_dict()` holds the copy's weights
    and the number of updates, all a resumed run needs to continue the same average.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def _pairs(self, trained: torch.nn.Module) -> tuple[list, list, list, list]:
        mine = [*self.model.parameters(), *self.model.buffers()]
        theirs = [*trained.parameters(), *trained.buffers()]
        floats = [(a, b) for a, b in zip(mine, theirs) if a.is_floating_point()]
        others = [(a, b) for a, b in zip(mine, theirs) if not a.is_floating_point()]
        return [a for a, _ in floats], [b.detach() for _, b in floats], [a for a, _ in others], [b for _, b in others]

    @torch.no_grad()
    def update(self, trained: torch.nn.Module) -> None:
        self.updates += 1
        weight = 1.0 - ema_decay_at(self.decay, self.updates)
        averaged, current, kept, copied = self._pairs(trained)
        torch._foreach_lerp_(averaged, current, weight)  # one fused kernel per dtype/device, not one per tensor
        for a, b in zip(kept, copied):
            a.copy_(b)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.updates = int(state["updates"])
