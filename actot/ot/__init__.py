"""The OT branch: a batched log-domain unbalanced Sinkhorn and the alignment loss. No model, no Ray."""

from actot.ot.loss import (COSTS, HEURISTICS, LABELS, OTSettings, diagonal_prior, make_label, mean_sq_dist, ot_loss,
                           sq_euclidean)
from actot.ot.sinkhorn import (SolveInfo, diagonal_plan, ott_tau_from_reg_m, reg_m_from_ott_tau, sinkhorn_unbalanced,
                               sinkhorn_unbalanced_pot)

__all__ = ["COSTS", "HEURISTICS", "LABELS", "OTSettings", "SolveInfo", "diagonal_plan", "diagonal_prior", "make_label",
           "mean_sq_dist", "ot_loss", "ott_tau_from_reg_m", "reg_m_from_ott_tau", "sinkhorn_unbalanced",
           "sinkhorn_unbalanced_pot", "sq_euclidean"]
