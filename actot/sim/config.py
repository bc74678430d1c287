"""What the embedded sim generates: one dataclass, both a run's `data.sim` config and the generator's spec.

Generated datasets are cached by `SimConfig.key()`, a hash of every field and of `SIM_VERSION`, so
the same parameters reuse the same folder and a change of the generator's output makes a new one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass

from actot.sim.task import REGIONS

SIM_VERSION = 2  # bump when generated data changes, so caches are not reused across versions


@dataclass
class SimConfig:
    """The embedded sim used when no dataset is named (see `actot.sim` and docs/data.md).

    n_source: source demos, each from its own initial state, covering the whole task.
    n_target: target training demos, their goals only in `target_region` ('all', 'left_half',
        'lower_left').
    shift: strength of the target's visual difference (0 = none). size: rendered frame size in pixels.
    seed: layouts, the demos' noise and the rendering style. noise: the scripted expert's action noise.
    twins=true: target demos restart source demos' initial states (the old, too easy pairing, with
        target_region=all).
    n_eval: held-out target demos, written after the training ones, from the whole task and none
        within `eval_min_distance` of a training demo (source or target) in `layout_distance`; they
        measure eval/avg_l1, and for the sim replace data.n_eval_target.
    """

    n_source: int = 200
    n_target: int = 10
    shift: float = 2.0
    size: int = 64
    seed: int = 0
    noise: float = 0.15
    target_region: str = "left_half"
    twins: bool = False
    n_eval: int = 8
    eval_min_distance: float = 0.2

    def __post_init__(self):
        if self.target_region not in REGIONS:
            raise ValueError(f"target_region must be one of {REGIONS}, got {self.target_region!r}")

    def key(self) -> str:
        """The cache key of the datasets these parameters generate."""
        text = json.dumps({**asdict(self), "version": SIM_VERSION}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, values: dict) -> "SimConfig":
        """A config from a pairs file, ignoring keys of other versions."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})
