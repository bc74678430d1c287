"""Where a run's wall time goes: optional, cheap timing sections of the training loop (bench/trial_profile.py).

`train(cfg, laps=Laps(device))` adds up the seconds between consecutive `lap(name)` calls of the
loop under each name (SECTIONS says what each covers); a run without it (the default, every sweep
trial) calls a no-op instead, so it pays a function call per section and, on a GPU, never waits for
the device. With it on a GPU each lap synchronises first, so that queued work is charged to the
section that queued it rather than to whichever later one happens to read a value back (slower:
for profiling only).
"""

from __future__ import annotations

import time

# The sections of actot.train.train (its step's included: actot.train_step.train_step), in loop order, and what each
# covers.
SECTIONS = {
    "setup": "seeds, data (cached per data config), model, optimiser, sampler, the run folder",
    "baseline": "the step-0 evaluation (held-out L1 and the untrained embeddings' norm)",
    "sample": "setting the step's learning rate (the schedule), drawing the step's rows (numpy gathers of frames and "
    "action chunks) and moving them to the device",
    "forward": "ACT's forward on the BC rows and L_bc",
    "ot": "the OT rows' encoder pass (if separate), the label, the cost, the plan and L_ot",
    "backward": "the backward pass (OT's part of it included; at log steps split in two for ot_grad_ratio)",
    "optimiser": "gradient clipping, AdamW and the EMA update",
    "metrics": "adding the step's metrics to the window's sums; at log steps reading them back",
    "eval_l1": "the held-out L1 at each log step",
    "rollouts": "closed-loop success episodes (target and source domain)",
    "log_start": "W&B's start (offline or online) and the run's config file",
    "logging": "each history row (parquet) and W&B log, the progress line",
    "checkpoint": "writing state.pt",
    "report": "the report hook (a sweep's rules and tune.report; Ray's checkpoint copy)",
    "finish": "the summary and W&B's finish",
}
TRAINING = ("forward", "ot", "backward", "optimiser")  # the learning itself; everything else is overhead


def no_lap(name: str) -> None:
    """The default: no timing at all."""


class Laps:
    """Seconds per section: `lap(name)` charges the time since the previous lap (or `start`) to `name`."""

    def __init__(self, device=None):
        import torch

        self.sync = torch.cuda.synchronize if device is not None and torch.device(device).type == "cuda" else None
        self.seconds: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.last = time.perf_counter()

    def start(self) -> None:
        if self.sync is not None:
            self.sync()
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        if self.sync is not None:
            self.sync()
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self.last
        self.counts[name] = self.counts.get(name, 0) + 1
        self.last = now

    def total(self) -> float:
        return sum(self.seconds.values())
