"""Our ACT in LeRobot's own format: the folder `ACTPolicy.from_pretrained` and `make_pre_post_processors` load.

Read from huggingface/lerobot at commit 7427f31801f944f5ec9ce53cda02862ce7d1638b (version 0.6.2;
src/lerobot/policies/act/{configuration_act,modeling_act}.py, policies/pretrained.py, configs/policies.py,
processor/{pipeline,normalize_processor,factory}.py), whose ACT files match v0.4.4 in everything used here.

LeRobot's ACT is the network ours follows (actot/policy/act.py): the same encoder/decoder layers, token order,
2-D sine positions, VAE and heads. Parameter for parameter, ours maps onto `ACTPolicy.state_dict()`:

    ours                              LeRobot (`ACTPolicy`, its network under `model.`)
    encoder.{i}.*                     model.encoder.layers.{i}.*
    encoder_norm.* (pre_norm)         model.encoder.norm.*
    decoder.{i}.cross_attn.*          model.decoder.layers.{i}.multihead_attn.*
    decoder.{i}.* (the rest)          model.decoder.layers.{i}.*
    decoder_norm.*                    model.decoder.norm.*
    vae_encoder.{i}.*                 model.vae_encoder.layers.{i}.*
    vae_encoder_norm.* (pre_norm)     model.vae_encoder.norm.*
    vae_encoder_state_input_proj.*    model.vae_encoder_robot_state_input_proj.*
    encoder_state_input_proj.*        model.encoder_robot_state_input_proj.*
    backbone.* (torchvision layout)   model.backbone.* (torchvision's resnet18 up to layer4)
    any other name                    model.<the same name>
    (not saved: a fixed table)        model.vae_encoder_pos_enc, (1, chunk_size + 2, dim_model), written here

Where ours differs, LeRobot's files say the same thing another way, or the export refuses (`refusal`):

- Images: our network normalises uint8 / 255 with ImageNet's mean and std inside; LeRobot's preprocessor
  does it, with the same numbers as each camera's stats (LeRobot's `use_imagenet_stats`). LeRobot takes
  frames at the trained resolution and resizes nothing.
- State and action: ours divides by max(std, std_floor); LeRobot divides by std + eps. The stats are written
  with std already floored and eps = 0, so LeRobot computes the same numbers.
- Temporal ensembling: LeRobot requires n_action_steps = 1 with it; ours executes one action per step under
  ensembling whatever n_action_steps says, so 1 is written.
- Cameras named differently on the target robot: the preprocessor's rename step maps them to the policy's.
- The OT embedding is no module of the network (under image_pooling=map it is the camera tokens, averaged
  or flattened): nothing to drop. Training-only settings LeRobot's policy config lacks (grad_clip_norm,
  n_keypoints, the OT settings) are not in config.json; the export's README and actot_export.json keep them.
- Refused: a policy with no camera (LeRobot's ACT needs an image or an environment state),
  image_pooling=keypoints (LeRobot's ACT reads the whole feature map), backbone_width other than 64
  (LeRobot builds torchvision's resnet18).
"""

from __future__ import annotations

import re

import numpy as np
import torch

from actot.policy.act import IMAGENET_MEAN, IMAGENET_STD
from actot.policy.config import ACTConfig

LEROBOT_COMMIT = "7427f31801f944f5ec9ce53cda02862ce7d1638b"  # huggingface/lerobot, version 0.6.2
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
PREPROCESSOR = "policy_preprocessor"
POSTPROCESSOR = "policy_postprocessor"
PREPROCESSOR_STATS = f"{PREPROCESSOR}_step_3_normalizer_processor.safetensors"
POSTPROCESSOR_STATS = f"{POSTPROCESSOR}_step_0_unnormalizer_processor.safetensors"
NORMALIZATION_MAPPING = {"VISUAL": "MEAN_STD", "STATE": "MEAN_STD", "ACTION": "MEAN_STD"}
TORCHVISION_RESNET18_WIDTH = 64

# (our name's pattern, LeRobot's) in order; the first that matches renames.
_RENAMES = [
    (r"encoder\.(\d+)\.", r"model.encoder.layers.\1."),
    (r"encoder_norm\.", "model.encoder.norm."),
    (r"decoder\.(\d+)\.cross_attn\.", r"model.decoder.layers.\1.multihead_attn."),
    (r"decoder\.(\d+)\.", r"model.decoder.layers.\1."),
    (r"decoder_norm\.", "model.decoder.norm."),
    (r"vae_encoder\.(\d+)\.", r"model.vae_encoder.layers.\1."),
    (r"vae_encoder_norm\.", "model.vae_encoder.norm."),
    (r"vae_encoder_state_input_proj\.", "model.vae_encoder_robot_state_input_proj."),
    (r"encoder_state_input_proj\.", "model.encoder_robot_state_input_proj."),
    (
        r"(backbone|vae_encoder_cls_embed|vae_encoder_action_input_proj|vae_encoder_latent_output_proj|"
        r"encoder_latent_input_proj|encoder_1d_feature_pos_embed|encoder_img_feat_input_proj|decoder_pos_embed|"
        r"action_head)\.",
        r"model.\1.",
    ),
]
POS_ENC_KEY = "model.vae_encoder_pos_enc"


def refusal(cfg: ACTConfig, n_cameras: int) -> str | None:
    """Why this policy has no LeRobot ACT equivalent, in one line naming the setting and the fix; None if it has."""
    fix = "export it with format=actot (actot.export.load_policy runs it)"
    if not n_cameras:
        return (
            "format=lerobot: this policy has no camera (state only), and LeRobot's ACT needs an image or an "
            f"environment state; {fix}, or train with cameras"
        )
    if (cfg.image_pooling or "map") != "map":
        return (
            f"format=lerobot: policy.image_pooling={cfg.image_pooling} has no LeRobot equivalent (LeRobot's ACT "
            f"reads every feature-map position as a token, image_pooling=map); {fix}, or train with "
            "policy.image_pooling=map"
        )
    if cfg.backbone_width != TORCHVISION_RESNET18_WIDTH:
        return (
            f"format=lerobot: policy.backbone_width={cfg.backbone_width} has no LeRobot equivalent (LeRobot's ACT "
            f"builds torchvision's resnet18, width {TORCHVISION_RESNET18_WIDTH}); {fix}, or train with "
            f"policy.backbone_width={TORCHVISION_RESNET18_WIDTH} (the `act` preset)"
        )
    return None


def lerobot_name(name: str) -> str:
    """LeRobot's `ACTPolicy.state_dict()` name for one of ours."""
    for pattern, replacement in _RENAMES:
        if re.match(pattern, name):
            return re.sub(f"^{pattern}", replacement, name)
    raise KeyError(f"{name}: no LeRobot ACT equivalent")


def actot_name(name: str) -> str | None:
    """Ours for a LeRobot name (None for the fixed position table, which ours computes and does not save)."""
    if name == POS_ENC_KEY:
        return None
    inverse = {
        "model.encoder.layers.": "encoder.",
        "model.encoder.norm.": "encoder_norm.",
        "model.decoder.norm.": "decoder_norm.",
        "model.vae_encoder.layers.": "vae_encoder.",
        "model.vae_encoder.norm.": "vae_encoder_norm.",
        "model.vae_encoder_robot_state_input_proj.": "vae_encoder_state_input_proj.",
        "model.encoder_robot_state_input_proj.": "encoder_state_input_proj.",
    }
    if name.startswith("model.decoder.layers."):
        return "decoder." + name.removeprefix("model.decoder.layers.").replace(".multihead_attn.", ".cross_attn.", 1)
    for prefix, ours in inverse.items():
        if name.startswith(prefix):
            return ours + name.removeprefix(prefix)
    if not name.startswith("model."):
        raise KeyError(f"{name}: not a LeRobot ACT parameter")
    return name.removeprefix("model.")


def vae_pos_encoding(chunk_size: int, dim_model: int) -> torch.Tensor:
    """LeRobot's `model.vae_encoder_pos_enc` buffer, (1, chunk_size + 2, dim_model): the 1-D sine table it saves
    with the weights (position / 10000^(2 * (j // 2) / dim), sin on even j, cos on odd, in float64, then float32).
    Training's VAE encoder reads it; acting does not."""
    positions = np.arange(chunk_size + 2, dtype=np.float64)[:, None]
    table = positions / np.power(10000, 2 * (np.arange(dim_model) // 2) / dim_model)
    table[:, 0::2], table[:, 1::2] = np.sin(table[:, 0::2]), np.cos(table[:, 1::2])
    return torch.from_numpy(table).float()[None]


def to_lerobot_state_dict(tensors: dict[str, torch.Tensor], cfg: ACTConfig) -> dict[str, torch.Tensor]:
    """Our network's state dict in LeRobot's names (plus the VAE encoder's position table LeRobot saves)."""
    out = {lerobot_name(k): v for k, v in tensors.items()}
    if cfg.use_vae:
        out[POS_ENC_KEY] = vae_pos_encoding(cfg.chunk_size, cfg.dim_model)
    return out


def from_lerobot_state_dict(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """LeRobot's names back to ours (the position table left out): a written folder is checked with it."""
    return {name: v for k, v in tensors.items() if (name := actot_name(k)) is not None}


def lerobot_config(cfg: ACTConfig, input_features: dict, output_features: dict, device: str = "cpu") -> dict:
    """config.json as LeRobot's `PreTrainedConfig.from_pretrained` parses it (`type: act`, ACTConfig's fields
    only: its parser refuses any other key)."""
    return {
        "type": "act",
        "n_obs_steps": 1,
        "input_features": input_features,
        "output_features": output_features,
        "device": device,
        "use_amp": False,
        "chunk_size": cfg.chunk_size,
        # LeRobot runs temporal ensembling only with n_action_steps=1; ours executes one action per step then.
        "n_action_steps": 1 if cfg.temporal_ensemble_coeff is not None else cfg.n_action_steps,
        "normalization_mapping": dict(NORMALIZATION_MAPPING),
        "vision_backbone": cfg.backbone,
        "pretrained_backbone_weights": None,  # the trained backbone is in model.safetensors: nothing to download
        "replace_final_stride_with_dilation": False,
        "pre_norm": cfg.pre_norm,
        "dim_model": cfg.dim_model,
        "n_heads": cfg.n_heads,
        "dim_feedforward": cfg.dim_feedforward,
        "feedforward_activation": cfg.feedforward_activation,
        "n_encoder_layers": cfg.n_encoder_layers,
        "n_decoder_layers": cfg.n_decoder_layers,
        "use_vae": cfg.use_vae,
        "latent_dim": cfg.latent_dim,
        "n_vae_encoder_layers": cfg.n_vae_encoder_layers,
        "temporal_ensemble_coeff": cfg.temporal_ensemble_coeff,
        "dropout": cfg.dropout,
        "kl_weight": cfg.kl_weight,
        "optimizer_lr": cfg.lr,
        "optimizer_weight_decay": cfg.weight_decay,
        "optimizer_lr_backbone": cfg.lr_backbone,
    }


def lerobot_stats(stats: dict[str, torch.Tensor], std_floor: float, camera_keys: list[str]) -> dict[str, torch.Tensor]:
    """The normaliser's state (`feature.stat` keys, float32): state and action mean with std floored as ours
    divides, and ImageNet's mean and std, (3, 1, 1), for each camera (what our network applies inside)."""
    floor = torch.tensor(std_floor, dtype=torch.float32)
    out = {}
    for key, value in stats.items():
        value = torch.as_tensor(value, dtype=torch.float32)
        out[key] = torch.maximum(value, floor) if key.endswith(".std") else value
    for cam in camera_keys:
        out[f"{cam}.mean"] = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
        out[f"{cam}.std"] = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
    return {k: v.contiguous() for k, v in out.items()}


def processor_configs(
    input_features: dict, output_features: dict, rename_map: dict[str, str], device: str = "cpu"
) -> tuple[dict, dict]:
    """(policy_preprocessor.json, policy_postprocessor.json): LeRobot's default policy pipelines (rename ->
    batch -> device -> normalise; un-normalise -> CPU), as `make_default_pre_post_processors` builds and
    `PolicyProcessorPipeline.save_pretrained` writes them. eps = 0: the std is floored already."""
    norm = {"eps": 0.0, "norm_map": dict(NORMALIZATION_MAPPING)}
    pre = {
        "name": PREPROCESSOR,
        "steps": [
            {"registry_name": "rename_observations_processor", "config": {"rename_map": dict(rename_map)}},
            {"registry_name": "to_batch_processor", "config": {}},
            {"registry_name": "device_processor", "config": {"device": device, "float_dtype": None}},
            {
                "registry_name": "normalizer_processor",
                "config": {**norm, "features": {**input_features, **output_features}},
                "state_file": PREPROCESSOR_STATS,
            },
        ],
    }
    post = {
        "name": POSTPROCESSOR,
        "steps": [
            {
                "registry_name": "unnormalizer_processor",
                "config": {**norm, "features": dict(output_features)},
                "state_file": POSTPROCESSOR_STATS,
            },
            {"registry_name": "device_processor", "config": {"device": "cpu", "float_dtype": None}},
        ],
    }
    return pre, post
