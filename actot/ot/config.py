"""The OT alignment's hyper-parameters: a dataclass apart from the loss, with the allowed values of its choices.

The loss (`actot/ot/loss.py`) takes this config as it is; the training config (`actot/config.py`)
holds it under `ot.` and takes the allowed values of its `ot.*` choices from `CHOICES` here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

HEURISTICS = ("hard", "soft", "none")
COSTS = ("sqeuclidean", "normalised")
EMBED_NORMS = ("none", "l2")
LABELS = ("first_action", "action_chunk", "state", "state_first_action")
SOLVERS = ("torch", "pot")
# What the cost compares per camera (the policy computes it: actot.policy.config.OT_EMBEDDINGS, the same names).
EMBEDDINGS = ("mean", "keypoints", "tokens")

# field -> its allowed values
CHOICES = {
    "heuristic": HEURISTICS,
    "cost": COSTS,
    "embed_norm": EMBED_NORMS,
    "label": LABELS,
    "solver": SOLVERS,
    "embedding": EMBEDDINGS,
}


@dataclass
class OTConfig:
    """The OT alignment knobs, named as in the seed log (see docs/ot.md).

    window_size: jitter half-width (frames) around the DTW-matched source frame.
    reg: entropic regularisation. tau: marginal relaxation (tau_a, tau_b), POT's reg_m.
    heuristic: diagonal prior, 'hard' (the method's and the seed's), 'soft' (banded, `bandwidth`
        wide) or 'none'.
    weight_embed: per-camera embedding-cost weights (one number applies to every camera).
    weight_label: weight of the label cost. lambda_ot: L = L_bc + lambda_ot * L_ot.
    cost: 'sqeuclidean' (the method: squared Euclidean distances) or 'normalised' (each term
        divided by its batch mean for the plan; reg and tau then in units of a typical pair).
    embed_norm: 'none' (the method, this class's default) or 'l2' (training's default, TrainConfig): each
        camera embedding scaled to unit length before the cost, so that L_ot cannot fall by shrinking the
        embeddings (bench/RESULTS.md).
    label: what the label cost compares: 'first_action', 'action_chunk' (flattened over time),
        'state' or 'state_first_action'; label_dims: [start, stop] slice of its feature dimension.
    batch_size: B_ot, target frames (and as many paired source frames) per step.
    max_iters, tol, check_every: Sinkhorn iteration cap, marginal-error tolerance, check interval
        (heuristic=hard needs none: its plan has a closed form).
    solver: 'torch' (ours, batched, log-domain) or 'pot' (POT's, for comparison).
    embedding: what z is, per camera (docs/ot.md): 'mean' (the camera's tokens averaged over the
        map, as the seed authors' fork), 'tokens' (the tokens the transformer reads, flattened) or
        'keypoints' (the spatial-softmax keypoints the policy then reads, as the method's reference
        policy; it makes the policy pool by keypoints).
    """

    window_size: int = 10
    reg: float = 2.0
    tau: list[float] = field(default_factory=lambda: [10.0, 10.0])
    heuristic: str = "hard"
    bandwidth: float = 2.0
    weight_embed: list[float] = field(default_factory=lambda: [1.0])
    weight_label: float = 0.0
    lambda_ot: float = 0.1
    cost: str = "sqeuclidean"
    embed_norm: str = "none"
    label: str = "first_action"
    label_dims: Optional[list[int]] = None
    batch_size: int = 32
    max_iters: int = 1000
    tol: float = 1e-6
    check_every: int = 50
    solver: str = "torch"
    embedding: str = "mean"

    def __post_init__(self):
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")
