"""ACT hyper-parameters: a dataclass apart from the model, with LeRobot's defaults and presets.

Presets: `act` (LeRobot's ACT defaults) and `act_small` (a CPU-sized model for the embedded sim).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

# How a camera's feature map becomes transformer tokens (ACTConfig.image_pooling).
IMAGE_POOLINGS = ("map", "keypoints")
# What the OT loss aligns per camera (`ACT(..., ot_embedding=...)`, the run's `ot.embedding`).
OT_EMBEDDINGS = ("mean", "keypoints", "tokens")


@dataclass
class ACTConfig:
    """Action Chunking Transformer configuration.

    Attributes:
        chunk_size: actions predicted per forward pass.
        n_action_steps: actions executed from a chunk before predicting again (closed loop).
        dim_model: transformer width; camera features are projected to it.
        n_heads, dim_feedforward, dropout, feedforward_activation, pre_norm: transformer layers.
        n_encoder_layers, n_decoder_layers: main transformer depth (LeRobot runs 1 decoder layer).
        use_vae, latent_dim, n_vae_encoder_layers, kl_weight: the CVAE over action chunks;
            loss = L1 + kl_weight * KL.
        backbone: image backbone, one shared by all cameras ("resnet18").
        backbone_width: channels of the first ResNet stage (64 is ResNet-18; smaller for CPU).
        pretrained_backbone_weights: path to a torchvision-format ResNet-18 state dict, or None.
        lr, lr_backbone, weight_decay, grad_clip_norm: AdamW and clipping.
        temporal_ensemble_coeff: if set, closed-loop inference averages overlapping chunks with
            weights exp(-coeff * i) (the original ACT used 0.01; 0 is a uniform average, as in
            LeRobot) and executes one action per step. None (the default) turns it off.
        image_pooling: how a camera's layer-4 map becomes tokens. 'map' (LeRobot's ACT): a 1x1
            convolution to dim_model, every map position one token. 'keypoints' (robomimic's, the
            method's reference policy): a spatial softmax gives `n_keypoints` expected (x, y) per
            camera, in [-1, 1], and a linear layer makes them one token per camera; it needs a map of
            at least 2x2 (frames of 33 px or more per side). None (the default): derived by the run,
            'keypoints' under ot.embedding=keypoints, else 'map'.
        n_keypoints: keypoints per camera under image_pooling='keypoints' (robomimic: 32).
    """

    chunk_size: int = 100
    n_action_steps: int = 100
    dim_model: int = 512
    n_heads: int = 8
    dim_feedforward: int = 3200
    feedforward_activation: str = "relu"
    pre_norm: bool = False
    n_encoder_layers: int = 4
    n_decoder_layers: int = 1
    use_vae: bool = True
    latent_dim: int = 32
    n_vae_encoder_layers: int = 4
    kl_weight: float = 10.0
    dropout: float = 0.1
    backbone: str = "resnet18"
    backbone_width: int = 64
    pretrained_backbone_weights: str | None = None
    lr: float = 1e-5
    lr_backbone: float = 1e-5
    weight_decay: float = 1e-4
    grad_clip_norm: float = 10.0
    temporal_ensemble_coeff: float | None = None
    image_pooling: Optional[str] = None
    n_keypoints: int = 32

    def __post_init__(self):
        if self.n_action_steps > self.chunk_size:
            raise ValueError(f"n_action_steps ({self.n_action_steps}) must be <= chunk_size ({self.chunk_size})")
        if self.dim_model % self.n_heads:
            raise ValueError(f"dim_model ({self.dim_model}) must be divisible by n_heads ({self.n_heads})")
        if self.backbone != "resnet18":
            raise ValueError(f"backbone '{self.backbone}' is not supported; use 'resnet18'")
        if self.feedforward_activation not in ("relu", "gelu"):
            raise ValueError(f"feedforward_activation '{self.feedforward_activation}' must be 'relu' or 'gelu'")
        if self.image_pooling is not None and self.image_pooling not in IMAGE_POOLINGS:
            raise ValueError(f"image_pooling {self.image_pooling!r} must be one of {list(IMAGE_POOLINGS)} or None")
        if self.n_keypoints < 1:
            raise ValueError(f"n_keypoints ({self.n_keypoints}) must be >= 1")


PRESETS: dict[str, ACTConfig] = {
    "act": ACTConfig(),
    "act_small": ACTConfig(
        chunk_size=10,
        n_action_steps=5,
        dim_model=64,
        n_heads=4,
        dim_feedforward=256,
        n_encoder_layers=2,
        n_vae_encoder_layers=2,
        latent_dim=16,
        backbone_width=16,
        dropout=0.1,
        lr=5e-4,
        lr_backbone=5e-4,
    ),
}


def preset(name: str, **overrides) -> ACTConfig:
    if name not in PRESETS:
        raise KeyError(name)
    return replace(PRESETS[name], **overrides)


def feature_map_size(height: int, width: int) -> tuple[int, int]:
    """(h, w) of the backbone's layer-4 map (backbone.py) for (height, width) frames: five stride-2 stages, each
    rounding up. Here, beside the config, so that the config checks frame sizes without importing torch."""
    for _ in range(5):
        height, width = (height + 1) // 2, (width + 1) // 2
    return height, width
