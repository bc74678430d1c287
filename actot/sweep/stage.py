"""What a sweep's stages run with: pre-flight's resolved settings and the paired plan, built once per sweep.

`run_sweep` builds one `StageSettings` after pre-flight (`preflight.prepare`) and hands it to each part that
needs it: the folder's sweep.json (`resume.resolved_config`), the search (`runner.run_search`) and the confirm
stage (`confirm.run_confirm`), so no part resolves the settings or the paired plan again.
"""

from __future__ import annotations

from dataclasses import dataclass

from actot.config import TrainConfig
from actot.rules import Rule
from actot.sweep.config import SweepConfig
from actot.sweep.paired import PairedPlan
from actot.sweep.space import SearchSpace


@dataclass(frozen=True)
class StageSettings:
    space: SearchSpace
    sweep_cfg: SweepConfig  # the sweep's keys (sweep.json's `sweep` section)
    base_overrides: dict  # every trial's training keys before its knobs: the space's fixed keys, train:, seed
    rules: list[Rule]
    base_cfg: TrainConfig  # base_overrides as a training config (steps, data, seed, ...)
    plan: PairedPlan | None  # the paired-seed plan (`paired.paired_plan`); None for a plain search
