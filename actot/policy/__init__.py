"""The ACT policy: configuration presets, the ResNet-18 backbone, the transformer, and the closed-loop `Policy`
(`select_action`) that evaluation's rollouts and the exported policy both act through.

The configs load with the package; the torch parts on first use (`from actot.policy import ACT` imports act.py then,
through the module's `__getattr__`, PEP 562). `actot.config` reads the configs, so a sweep's driver and the report
commands start without importing torch (about 1.4 s of CPU for each such process).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from actot.policy.config import PRESETS, ACTConfig, preset

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers and the import contracts (.importlinter)
    from actot.policy.act import ACT, TemporalEnsembler, act_loss, make_ensembler
    from actot.policy.closed_loop import Policy

_LAZY = {"ACT": "act", "TemporalEnsembler": "act", "act_loss": "act", "make_ensembler": "act", "Policy": "closed_loop"}

__all__ = ["ACT", "ACTConfig", "PRESETS", "Policy", "TemporalEnsembler", "act_loss", "make_ensembler", "preset"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value  # loaded once: later lookups find it in the module
    return value
