"""What the embedded sim generates: one dataclass, both a run's `data.sim` config and the generator's spec.

Generated datasets are cached by `SimConfig.key()`, a hash of every field and of `SIM_VERSION`, so
the same parameters reuse the same folder and a change of the generator's output makes a new one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Optional

from actot.sim.task import REGIONS

SIM_VERSION = 2  # bump when generated data changes, so caches are not reused across versions
EVAL_SPLITS = ("task", "covered")  # SimConfig.eval_split
# Fields added since SIM_VERSION 2 with the default that generates exactly the data of before.
LATER_FIELDS = {"eval_split": "task", "n_eval_source": 0, "appearance": None, "geometry": None}


@dataclass
class SimConfig:
    """The embedded sim used when no dataset is named (see `actot.sim` and docs/data.md).

    n_source: source demos, each from its own initial state, covering the whole task.
    n_target: target training demos, their goals only in `target_region` ('all', 'left_half',
        'lower_left').
    shift: strength of the target's visual difference (0 = none). size: rendered frame size in pixels.
    appearance, geometry: the appearance gap's strength (colours, texture, per-frame noise, blur) and
        the static cameras' geometric mismatch (rotated and moved; the wrist camera rotates too), each
        in units of shift; unset (null) they follow `shift`, so today's datasets and results are unchanged.
    seed: layouts, the demos' noise and the rendering style. noise: the scripted expert's action noise.
    twins=true: target demos restart source demos' initial states (the old, too easy pairing, with
        target_region=all).
    n_eval: held-out target demos, written after the training ones, none within `eval_min_distance`
        of a training demo (source or target) in `layout_distance`; they measure eval/avg_l1.
    eval_split: where those held-out demos come from. `task` (the default, as before): the whole task,
        so eval/avg_l1 includes goals no target demo covers, which a lab's own held-out demos never do;
        `covered`: n_eval demos in `target_region` (what a lab that collected there has: eval/avg_l1),
        then n_eval more outside it, which only the benchmark can score (eval/avg_l1_uncovered).
    n_eval_source: held-out source demos (whole task), written after the n_source training ones, for
        eval/source_l1: the sim side of a sim-and-real lab has those.
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
    eval_split: str = "task"
    n_eval_source: int = 0
    appearance: Optional[float] = None
    geometry: Optional[float] = None

    def __post_init__(self):
        if self.target_region not in REGIONS:
            raise ValueError(f"target_region must be one of {REGIONS}, got {self.target_region!r}")
        if self.eval_split not in EVAL_SPLITS:
            raise ValueError(f"eval_split must be one of {EVAL_SPLITS}, got {self.eval_split!r}")

    @property
    def n_eval_total(self) -> int:
        """Held-out target demos in the dataset: n_eval, and as many uncovered ones under eval_split=covered."""
        return self.n_eval * (2 if self.eval_split == "covered" else 1)

    def key(self) -> str:
        """The cache key of the datasets these parameters generate. Fields added after a dataset format
        existed count only when set away from their default, so older caches keep their keys."""
        values = {k: v for k, v in asdict(self).items() if not (k in LATER_FIELDS and v == LATER_FIELDS[k])}
        text = json.dumps({**values, "version": SIM_VERSION}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, values: dict) -> "SimConfig":
        """A config from a pairs file, ignoring keys of other versions."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})
