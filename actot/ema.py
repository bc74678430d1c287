"""The exponential moving average (EMA) of a model's weights that evaluation and checkpoints use.

Its decay is a pure function of the number of updates so far, which the checkpoint saves with the averaged weights,
so that a resumed run continues the same average bit for bit. LeRobot's ACT trains with no EMA (`ema_decay=0`).
"""

from __future__ import annotations

import copy

import torch


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
