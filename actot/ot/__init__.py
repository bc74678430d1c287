"""The OT branch: a batched log-domain unbalanced Sinkhorn and the alignment loss. No model, no Ray."""

from actot.ot.loss import HEURISTICS, OTSettings, diagonal_prior, mean_sq_dist, ot_loss
from actot.ot.sinkhorn import ott_tau_from_reg_m, reg_m_from_ott_tau, sinkhorn_unbalanced, sinkhorn_unbalanced_pot

__all__ = ["HEURISTICS", "OTSettings", "diagonal_prior", "mean_sq_dist", "ot_loss", "ott_tau_from_reg_m",
           "reg_m_from_ott_tau", "sinkhorn_unbalanced", "sinkhorn_unbalanced_pot"]
