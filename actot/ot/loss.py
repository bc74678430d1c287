"""The OT alignment loss: cost matrix, diagonal prior, plan, loss and the seed log's metrics.

Rows index source frames, columns target frames; source row i was sampled as the partner of
target column i, so the diagonal is the sampler's pairing.

Cost, per pair (i, j):

    M_ij = sum_k weight_embed[k] * d(z_src[i, k], z_tgt[j, k]) + weight_label * d(y_src[i], y_tgt[j])

with d(x, y) = ||x - y||^2 / dim(x), the mean squared difference per feature.

The plan is solved on a detached cost (the method does not differentiate through the solver).
With `normalise=True` (the default) that cost divides each term by its own batch mean, so it is
O(1) whatever the scale of the embeddings or of the labels (z-scored state + first action):
weight_embed and weight_label are relative importances in the plan, and `reg` and `tau` are in
units of a typical pair's cost, the same on any dataset or model width. (The seed log's raw
squared distances made weight_label = 0.0005 necessary.) The loss is L_ot = sum(pi * M) with
the unnormalised M: its gradient fades as paired embeddings align. Normalising the loss too
would scale the gradient by 1 / mean cost and drive the embeddings into collapse.

`heuristic` (the reference measure c of the solver):
- "hard": c = I / n, the reference code's prior: every off-diagonal entry of pi is exactly 0,
  so pi_sum == pi_diag always (what the seed log shows).
- "soft": c_ij proportional to exp(-|i - j| / bandwidth): pairs near the diagonal are favoured
  but any pair can carry mass, so pi_diag / pi_sum measures agreement with the pairing.
- "none": c = a b^T (plain unbalanced OT).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from actot.ot.sinkhorn import sinkhorn_unbalanced, sinkhorn_unbalanced_pot

HEURISTICS = ("hard", "soft", "none")


def mean_sq_dist(x: Tensor, y: Tensor) -> Tensor:
    """(n, D), (m, D) -> (n, m): ||x_i - y_j||^2 / D."""
    x, y = x.float(), y.float()
    sq = (x * x).sum(-1)[:, None] + (y * y).sum(-1)[None, :] - 2.0 * x @ y.T
    return sq.clamp_min(0.0) / x.shape[-1]


def diagonal_prior(n: int, heuristic: str, bandwidth: float = 2.0, device=None, dtype=torch.float32) -> Tensor | None:
    """Reference measure c (n, n) with total mass 1, or None for the product measure."""
    if heuristic == "none":
        return None
    if heuristic == "hard":
        return torch.eye(n, device=device, dtype=dtype) / n
    if heuristic == "soft":
        idx = torch.arange(n, device=device, dtype=dtype)
        band = torch.exp(-(idx[:, None] - idx[None, :]).abs() / bandwidth)
        return band / band.sum()
    raise ValueError(f"heuristic must be one of {HEURISTICS}, got {heuristic!r}")


@dataclass
class OTSettings:
    reg: float = 0.01
    tau: tuple[float, float] = (1.0, 1.0)
    heuristic: str = "hard"
    bandwidth: float = 2.0
    weight_embed: tuple[float, ...] = (1.0,)
    weight_label: float = 0.0
    n_iters: int = 100
    solver: str = "torch"
    normalise: bool = True


def ot_loss(settings: OTSettings, z_src: Tensor, z_tgt: Tensor, label_src: Tensor, label_tgt: Tensor,
            state_src: Tensor, state_tgt: Tensor, true_pair: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """L_ot = sum(pi * M) and its metrics (tensors; read them only when logging).

    z_src, z_tgt: (n, K, D) embeddings per camera; label_*: (n, L); state_*: (n, S) normalised.
    Metrics: ot_loss, ot_pi_sum, ot_pi_diag, ot_cost(state) (state-space cost per unit of
    transported mass, finite in every mode), and ot_align_acc (mass on true twins / mass)
    when `true_pair` (n, n) is given.
    """
    n, k = z_src.shape[:2]
    weights = list(settings.weight_embed)
    if len(weights) == 1 and k > 1:
        weights = weights * k  # one number: the same weight for every camera
    terms = [(w, mean_sq_dist(z_src[:, i], z_tgt[:, i])) for i, w in enumerate(weights) if w != 0.0]
    if settings.weight_label:
        terms.append((settings.weight_label, mean_sq_dist(label_src, label_tgt)))
    if terms:
        M = sum(w * d for w, d in terms)
        # The plan sees every term divided by its batch mean: reg and tau become scale-free.
        # The loss keeps the raw M, whose gradient fades as pairs align (a normalised loss
        # would amplify it as the embeddings shrink, and collapse them).
        plan_cost = sum(w * d.detach() / d.detach().mean().clamp_min(1e-12) for w, d in terms) \
            if settings.normalise else M.detach()
    else:  # every weight zero: no alignment signal
        M = plan_cost = torch.zeros(n, n, device=z_src.device)
    c = diagonal_prior(n, settings.heuristic, settings.bandwidth, M.device)
    cost = plan_cost
    if settings.solver == "pot":
        pi = sinkhorn_unbalanced_pot(cost.double(), settings.reg, settings.tau, c=None if c is None else c.double()).float()
    else:
        pi = sinkhorn_unbalanced(cost, settings.reg, settings.tau, c=c, n_iters=settings.n_iters)
    loss = (pi * M).sum()
    mass = pi.sum()
    with torch.no_grad():
        state_cost = mean_sq_dist(state_src, state_tgt)
        metrics = {
            "ot_loss": loss.detach(),
            "ot_pi_sum": mass,
            "ot_pi_diag": torch.diagonal(pi).sum(),
            "ot_cost(state)": (pi * state_cost).sum() / mass.clamp_min(1e-12),
        }
        if true_pair is not None:
            metrics["ot_align_acc"] = (pi * true_pair.to(pi.dtype)).sum() / mass.clamp_min(1e-12)
    return loss, metrics
