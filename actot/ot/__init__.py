"""The OT branch: its config, a batched log-domain unbalanced Sinkhorn and the alignment loss. No model, no Ray.

The config loads with the package; the solver and the loss (torch) on first use (`from actot.ot import ot_loss`
imports loss.py then, through the module's `__getattr__`, PEP 562), so that `actot.config`, which reads the config,
imports no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from actot.ot.config import COSTS, EMBED_NORMS, HEURISTICS, LABELS, SOLVERS, OTConfig

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers and the import contracts (.importlinter)
    from actot.ot.loss import diagonal_prior, make_label, mean_sq_dist, ot_loss, sq_euclidean
    from actot.ot.sinkhorn import (
        SolveInfo,
        diagonal_plan,
        ott_tau_from_reg_m,
        reg_m_from_ott_tau,
        sinkhorn_unbalanced,
        sinkhorn_unbalanced_pot,
    )

_LOSS = ("diagonal_prior", "make_label", "mean_sq_dist", "ot_loss", "sq_euclidean")
_SINKHORN = (
    "SolveInfo",
    "diagonal_plan",
    "ott_tau_from_reg_m",
    "reg_m_from_ott_tau",
    "sinkhorn_unbalanced",
    "sinkhorn_unbalanced_pot",
)
_LAZY = {**dict.fromkeys(_LOSS, "loss"), **dict.fromkeys(_SINKHORN, "sinkhorn")}

__all__ = [
    "COSTS",
    "EMBED_NORMS",
    "HEURISTICS",
    "LABELS",
    "OTConfig",
    "SOLVERS",
    "SolveInfo",
    "diagonal_plan",
    "diagonal_prior",
    "make_label",
    "mean_sq_dist",
    "ot_loss",
    "ott_tau_from_reg_m",
    "reg_m_from_ott_tau",
    "sinkhorn_unbalanced",
    "sinkhorn_unbalanced_pot",
    "sq_euclidean",
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value  # loaded once: later lookups find it in the module
    return value
