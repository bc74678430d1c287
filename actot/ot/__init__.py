"""The OT branch: its config, a batched log-domain unbalanced Sinkhorn and the alignment loss. No model, no Ray."""

from actot.ot.config import COSTS, EMBED_NORMS, HEURISTICS, LABELS, SOLVERS, OTConfig
from actot.ot.loss import diagonal_prior, make_label, mean_sq_dist, ot_loss, sq_euclidean
from actot.ot.sinkhorn import (
    SolveInfo,
    diagonal_plan,
    ott_tau_from_reg_m,
    reg_m_from_ott_tau,
    sinkhorn_unbalanced,
    sinkhorn_unbalanced_pot,
)

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
