"""The OT alignment loss: cost matrix, diagonal prior, plan, loss and the metrics that show it acting.

Rows index source frames, columns target frames; source row i was sampled as the partner of
target column i, so the diagonal is the sampler's pairing.

Cost, per pair (i, j), as in the method's reference code (`cdist(x, y) ** 2` per term):

    M_ij = sum_k weight_embed[k] * ||z_src[i, k] - z_tgt[j, k]||^2 + weight_label * ||y_src[i] - y_tgt[j]||^2

z: one embedding per camera; y: the label (`make_label`), detached. The plan is solved on the
detached cost (the method does not differentiate through the solver) and L_ot = sum(pi * M).
So `reg`, `tau` and `lambda_ot` mean what they mean in the method and in the seed log. The
knobs arrive as the run's `OTConfig` (`actot/ot/config.py`), as they are.

`cost="normalised"` (an option, not the method) solves the plan on a copy of M whose terms are
each divided by their own batch mean, so reg and tau are in units of a typical pair's cost on
any model width; the loss still uses the raw M (a normalised loss scales its gradient by
1 / mean cost and collapses the embeddings).

`embed_norm="l2"` (the training default; OTConfig's own, the method's, is "none") scales each camera
embedding to unit length before the cost: ||z_s - z_t||^2 = 2 - 2 cos(z_s, z_t) is then in [0, 4] and L_ot can only fall
by turning paired embeddings towards each other, not by shrinking them all (which is how the
method at lambda 0.1 lowers its loss on the embedded benchmark: bench/RESULTS.md).

`heuristic` (the reference measure c of the solver):
- "hard": c = I / n, the reference code's prior. Every off-diagonal entry of pi is exactly 0
  and the plan has a closed form (`diagonal_plan`): only reg + tau_a + tau_b matters.
- "soft": c_ij proportional to exp(-|i - j| / bandwidth): pairs near the diagonal are favoured
  but any pair can carry mass, so pi_diag / pi_sum measures agreement with the pairing.
- "none": c = a b^T (plain unbalanced OT).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from actot.ot.config import EMBED_NORMS, HEURISTICS, LABELS, OTConfig
from actot.ot.sinkhorn import diagonal_plan, sinkhorn_unbalanced, sinkhorn_unbalanced_pot


def sq_euclidean(x: Tensor, y: Tensor) -> Tensor:
    """(n, D), (m, D) -> (n, m): ||x_i - y_j||^2 (the reference's cdist ** 2)."""
    x, y = x.float(), y.float()
    sq = (x * x).sum(-1)[:, None] + (y * y).sum(-1)[None, :] - 2.0 * x @ y.T
    return sq.clamp_min(0.0)


def mean_sq_dist(x: Tensor, y: Tensor) -> Tensor:
    """(n, D), (m, D) -> (n, m): ||x_i - y_j||^2 / D."""
    return sq_euclidean(x, y) / x.shape[-1]


def make_label(kind: str, state: Tensor, action: Tensor, dims: tuple[int, int] | None = None) -> Tensor:
    """The label y of the label cost, (n, L), detached.

    kind: "first_action" (a_0), "action_chunk" (the chunk flattened over time, as the seed's
    fork does), "state", or "state_first_action" ([state, a_0]). dims = (start, stop) keeps that
    slice of the feature dimension (of the action for the action kinds, of the state for "state",
    of [state, a_0] for "state_first_action") before flattening. Inputs are the normalised
    state (n, S) and action chunk (n, T, A).
    """
    window = slice(None) if dims is None else slice(int(dims[0]), int(dims[1]))
    if kind == "first_action":
        label = action[:, 0, window]
    elif kind == "action_chunk":
        label = action[:, :, window].flatten(1)
    elif kind == "state":
        label = state[:, window]
    elif kind == "state_first_action":
        label = torch.cat([state, action[:, 0]], dim=1)[:, window]
    else:
        raise ValueError(f"label kind must be one of {LABELS}, got {kind!r}")
    return label.detach().float()


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


def camera_weights(weight_embed: Sequence[float], k: int) -> list[float]:
    """One weight per camera; a single number applies to every camera."""
    weights = list(weight_embed) * k if len(weight_embed) == 1 else list(weight_embed)
    if len(weights) != k:
        raise ValueError(f"weight_embed has {len(weights)} weights but there are {k} embeddings (cameras)")
    return weights


def cost_space(cfg: OTConfig, z_src: Tensor, z_tgt: Tensor) -> tuple[Tensor, Tensor]:
    """The embeddings the cost compares: unit-length per camera under `embed_norm="l2"`, raw otherwise."""
    if cfg.embed_norm == "l2":
        return F.normalize(z_src.float(), dim=-1), F.normalize(z_tgt.float(), dim=-1)
    if cfg.embed_norm != "none":
        raise ValueError(f"embed_norm must be one of {EMBED_NORMS}, got {cfg.embed_norm!r}")
    return z_src, z_tgt


def cost_terms(
    cfg: OTConfig, z_src: Tensor, z_tgt: Tensor, label_src: Tensor, label_tgt: Tensor
) -> tuple[list[tuple[float, Tensor]], list[tuple[float, Tensor]]]:
    """([(weight, cost)] per camera with a non-zero weight, [(weight_label, label cost)] or []);
    z_src, z_tgt: the embeddings as the cost compares them (`cost_space`)."""
    k = z_src.shape[1]
    weights = camera_weights(cfg.weight_embed, k)
    embed = [(w, sq_euclidean(z_src[:, i], z_tgt[:, i])) for i, w in enumerate(weights) if w != 0.0]
    label = [(cfg.weight_label, sq_euclidean(label_src, label_tgt))] if cfg.weight_label else []
    return embed, label


def embedding_geometry(
    z_src: Tensor, z_tgt: Tensor, weights: Sequence[float] = (1.0,), compared: tuple[Tensor, Tensor] | None = None
) -> dict[str, Tensor]:
    """Scale-free signs of what OT does to the embeddings, (n, K, D) each.

    ot_embed_norm: mean ||z|| of the raw embeddings over both domains and every camera: a fall to a
    small share of its untrained size means the loss is being lowered by shrinking them, not by aligning
    (bench/RESULTS.md, "The study on CPU, with a candidate fix"; the rule `embed_collapse` draws the line).
    ot_pair_ratio: mean squared distance of the sampler's pairs (the diagonal) over that of all
    other source/target combinations, in the space the cost compares (`compared`: the unit-length
    embeddings under embed_norm=l2; the raw ones when None), cameras weighted as in the cost
    (`weights`): below 1, paired frames sit closer than strangers whatever the embeddings' scale.
    1 when every embedding is the same point (nothing tells pairs from strangers), never NaN (a NaN
    metric would stop the trial).
    """
    z_src, z_tgt = z_src.detach().float(), z_tgt.detach().float()
    c_src, c_tgt = (z_src, z_tgt) if compared is None else (compared[0].detach().float(), compared[1].detach().float())
    n = z_src.shape[0]
    dist = sum(
        w * sq_euclidean(c_src[:, i], c_tgt[:, i])
        for i, w in enumerate(camera_weights(weights, z_src.shape[1]))
        if w != 0.0
    )
    if not torch.is_tensor(dist) or n < 2:
        ratio = torch.ones((), device=z_src.device)
    else:
        paired = torch.diagonal(dist).mean()
        others = (dist.sum() - torch.diagonal(dist).sum()) / (n * n - n)
        ratio = torch.where(others > 1e-12, paired / others.clamp_min(1e-12), torch.ones_like(others))
    return {"ot_embed_norm": torch.cat([z_src, z_tgt]).norm(dim=-1).mean(), "ot_pair_ratio": ratio}


def solve_plan(cfg: OTConfig, plan_cost: Tensor) -> tuple[Tensor, Tensor, int]:
    """(pi, marginal error at exit, iterations) for a detached (n, n) cost."""
    n = plan_cost.shape[-1]
    if cfg.heuristic == "hard":  # closed form: exact, no iterations
        pi = torch.diag_embed(diagonal_plan(torch.diagonal(plan_cost), cfg.reg, cfg.tau))
        return pi, torch.zeros((), device=pi.device), 0
    c = diagonal_prior(n, cfg.heuristic, cfg.bandwidth, plan_cost.device)
    if cfg.solver == "pot":
        pi, info = sinkhorn_unbalanced_pot(
            plan_cost.double(),
            cfg.reg,
            cfg.tau,
            c=None if c is None else c.double(),
            n_iters=cfg.max_iters,
            stop_thr=cfg.tol,
            return_info=True,
        )
        return pi.float(), info.err.float(), info.iterations
    pi, info = sinkhorn_unbalanced(
        plan_cost,
        cfg.reg,
        cfg.tau,
        c=c,
        max_iters=cfg.max_iters,
        tol=cfg.tol,
        check_every=cfg.check_every,
        return_info=True,
    )
    return pi, info.err, info.iterations


def ot_loss(
    cfg: OTConfig,
    z_src: Tensor,
    z_tgt: Tensor,
    label_src: Tensor,
    label_tgt: Tensor,
    state_src: Tensor,
    state_tgt: Tensor,
    true_pair: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """L_ot = sum(pi * M) and its metrics (tensors; read them only when logging).

    z_src, z_tgt: (n, K, D) embeddings per camera; label_*: (n, L); state_*: (n, S) normalised.
    Metrics: ot_loss = ot_loss_embed + ot_loss_label (the plan-weighted embedding and label
    terms), ot_pi_sum, ot_pi_diag, ot_cost(state) (state-space cost per unit of transported
    mass), ot_sinkhorn_err (the solver's relative marginal error at exit; 0 for the closed
    form), ot_sinkhorn_iters, ot_embed_norm and ot_pair_ratio (`embedding_geometry`), and
    ot_true_pair_mass (share of the mass on pairs that the generator's ground truth calls similar)
    when `true_pair` (n, n) is given.
    """
    n = z_src.shape[0]
    compared = cost_space(cfg, z_src, z_tgt)  # once a step: the cost and the pair ratio read the same tensors
    embed, label = cost_terms(cfg, *compared, label_src, label_tgt)
    zeros = torch.zeros(n, n, device=z_src.device)
    embed_cost = sum((w * d for w, d in embed), zeros)
    label_cost = sum((w * d for w, d in label), zeros)
    M = embed_cost + label_cost
    if cfg.cost == "normalised" and (embed or label):
        plan_cost = sum(w * d.detach() / d.detach().mean().clamp_min(1e-12) for w, d in embed + label)
    else:
        plan_cost = M.detach()
    pi, err, iterations = solve_plan(cfg, plan_cost)
    loss_embed, loss_label = (pi * embed_cost).sum(), (pi * label_cost).sum()
    loss = loss_embed + loss_label
    mass = pi.sum()
    with torch.no_grad():
        state_cost = mean_sq_dist(state_src, state_tgt)
        metrics = {
            "ot_loss": loss.detach(),
            "ot_loss_embed": loss_embed.detach(),
            "ot_loss_label": loss_label.detach(),
            "ot_pi_sum": mass,
            "ot_pi_diag": torch.diagonal(pi).sum(),
            "ot_cost(state)": (pi * state_cost).sum() / mass.clamp_min(1e-12),
            "ot_sinkhorn_err": err.max().float(),
            "ot_sinkhorn_iters": torch.tensor(float(iterations), device=pi.device),
        }
        metrics.update(embedding_geometry(z_src, z_tgt, cfg.weight_embed, compared))
        if true_pair is not None:
            metrics["ot_true_pair_mass"] = (pi * true_pair.to(pi.dtype)).sum() / mass.clamp_min(1e-12)
    return loss, metrics
