"""The Action Chunking Transformer (ACT) with LeRobot's semantics, and the embeddings OT aligns.

                                 action chunk (B, chunk, A)
                                           ^
                                   [ action head ]
                                           |
      decoder queries (chunk) -> [ transformer decoder ] <- cross-attends to encoder output
                                           ^
    [latent] [state] [cam0 tokens ...] [cam1 tokens ...] -> [ transformer encoder ]
       ^        ^          ^
       |        |     camera tokens <- ResNet-18 layer4 map (one backbone shared by all cameras)
       |        |          |            image_pooling='map': 1x1 proj, one token per map position
       |        |          |            image_pooling='keypoints': spatial softmax -> (x, y) per
       |        |          |              keypoint -> linear -> one token per camera
       |        |          +--> the OT embedding z (B, n_cam, F), per `ot_embedding`:
       |        |                 'mean': the camera's tokens averaged (F = D)
       |        |                 'tokens': the camera's tokens flattened (F = n_tokens * D)
       |        |                 'keypoints': the keypoints themselves (F = 2 * n_keypoints)
       |   state proj
   CVAE encoder over [cls, state, action chunk] (training only; zero latent at inference)

Inputs are normalised state (B, S), uint8 images (B, n_cam, H, W, 3) and, for training,
normalised actions (B, chunk, A) with `action_is_pad` (B, chunk). With no camera the OT
embedding is the state token (B, 1, D).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from actot.errors import ActotError
from actot.policy.backbone import ResNet18Backbone
from actot.policy.config import IMAGE_POOLINGS, OT_EMBEDDINGS, ACTConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def sinusoidal_1d(num_positions: int, dim: int) -> Tensor:
    position = torch.arange(num_positions, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(num_positions, dim)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div)[:, : dim // 2]
    return table


def sinusoidal_2d(height: int, width: int, dim: int, device=None) -> Tensor:
    """(dim, H, W) DETR-style 2-D sine positions: half the channels for y, half for x."""
    half = dim // 2
    scale = 2 * math.pi
    y = (torch.arange(1, height + 1, dtype=torch.float32, device=device) / (height + 1e-6)) * scale
    x = (torch.arange(1, width + 1, dtype=torch.float32, device=device) / (width + 1e-6)) * scale
    inv_freq = 10000 ** (2 * (torch.arange(half, device=device) // 2) / half)
    pos_y = y[:, None] / inv_freq  # (H, half)
    pos_x = x[:, None] / inv_freq  # (W, half)
    pos_y = torch.stack((pos_y[:, 0::2].sin(), pos_y[:, 1::2].cos()), dim=-1).flatten(1)
    pos_x = torch.stack((pos_x[:, 0::2].sin(), pos_x[:, 1::2].cos()), dim=-1).flatten(1)
    grid = torch.cat([pos_y[:, None, :].expand(height, width, half), pos_x[None, :, :].expand(height, width, half)], -1)
    return grid.permute(2, 0, 1)


class SpatialSoftmax(nn.Module):
    """Keypoints of a feature map (Levine et al. 2016; robomimic's `SpatialSoftmax`, which the method's
    reference diffusion policy conditions on).

    A 1x1 convolution makes `n_keypoints` maps; a softmax over positions turns each into a
    distribution, and its keypoint is the expected (x, y) under it, positions on a [-1, 1] grid
    (robomimic's `linspace(-1, 1, w)`). (N, C, h, w) -> (N, n_keypoints, 2), bounded: a keypoint
    can move but not shrink, so a cost on keypoints cannot be lowered by scaling features down.
    """

    def __init__(self, in_channels: int, n_keypoints: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, n_keypoints, 1)

    def forward(self, x: Tensor) -> Tensor:
        maps = self.conv(x)
        n, k, h, w = maps.shape
        attention = maps.flatten(2).float().softmax(-1)  # float: bf16 softmax over few positions is coarse
        ys, xs = torch.meshgrid(
            torch.linspace(-1.0, 1.0, h, device=x.device), torch.linspace(-1.0, 1.0, w, device=x.device), indexing="ij"
        )
        grid = torch.stack([xs.flatten(), ys.flatten()], dim=-1)  # (h * w, 2): x, y
        return attention @ grid


class EncoderLayer(nn.Module):
    def __init__(self, cfg: ACTConfig):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(cfg.dim_model, cfg.n_heads, dropout=cfg.dropout, batch_first=True)
        self.linear1 = nn.Linear(cfg.dim_model, cfg.dim_feedforward)
        self.linear2 = nn.Linear(cfg.dim_feedforward, cfg.dim_model)
        self.norm1, self.norm2 = nn.LayerNorm(cfg.dim_model), nn.LayerNorm(cfg.dim_model)
        self.dropout = nn.Dropout(cfg.dropout)
        self.activation = F.relu if cfg.feedforward_activation == "relu" else F.gelu
        self.pre_norm = cfg.pre_norm

    def forward(self, x: Tensor, pos: Tensor | None = None, key_padding_mask: Tensor | None = None) -> Tensor:
        skip = x
        if self.pre_norm:
            x = self.norm1(x)
        q = k = x if pos is None else x + pos
        x = skip + self.dropout(self.self_attn(q, k, x, key_padding_mask=key_padding_mask, need_weights=False)[0])
        if not self.pre_norm:
            x = self.norm1(x)
        skip = x
        if self.pre_norm:
            x = self.norm2(x)
        x = skip + self.dropout(self.linear2(self.dropout(self.activation(self.linear1(x)))))
        return x if self.pre_norm else self.norm2(x)


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ACTConfig):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(cfg.dim_model, cfg.n_heads, dropout=cfg.dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(cfg.dim_model, cfg.n_heads, dropout=cfg.dropout, batch_first=True)
        self.linear1 = nn.Linear(cfg.dim_model, cfg.dim_feedforward)
        self.linear2 = nn.Linear(cfg.dim_feedforward, cfg.dim_model)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(cfg.dim_model) for _ in range(3))
        self.dropout = nn.Dropout(cfg.dropout)
        self.activation = F.relu if cfg.feedforward_activation == "relu" else F.gelu
        self.pre_norm = cfg.pre_norm

    def forward(self, x: Tensor, memory: Tensor, query_pos: Tensor, memory_pos: Tensor) -> Tensor:
        skip = x
        if self.pre_norm:
            x = self.norm1(x)
        q = k = x + query_pos
        x = skip + self.dropout(self.self_attn(q, k, x, need_weights=False)[0])
        if not self.pre_norm:
            x = self.norm1(x)
        skip = x
        if self.pre_norm:
            x = self.norm2(x)
        x = skip + self.dropout(self.cross_attn(x + query_pos, memory + memory_pos, memory, need_weights=False)[0])
        if not self.pre_norm:
            x = self.norm2(x)
        skip = x
        if self.pre_norm:
            x = self.norm3(x)
        x = skip + self.dropout(self.linear2(self.dropout(self.activation(self.linear1(x)))))
        return x if self.pre_norm else self.norm3(x)


class ACT(nn.Module):
    """ACT for `state_dim`-D state, `action_dim`-D actions and `n_cameras` cameras (0 allowed).

    `ot_embedding` ('mean', 'tokens' or 'keypoints') says what `ot_embeddings` and `forward` return
    for the OT loss; 'keypoints' needs cfg.image_pooling='keypoints'. cfg.image_pooling=None is 'map'.
    """

    def __init__(self, cfg: ACTConfig, state_dim: int, action_dim: int, n_cameras: int, ot_embedding: str = "mean"):
        super().__init__()
        self.cfg, self.n_cameras = cfg, n_cameras
        self.image_pooling = cfg.image_pooling or "map"
        if self.image_pooling not in IMAGE_POOLINGS:
            raise ActotError(
                f"policy.image_pooling={cfg.image_pooling!r} is not a pooling; choose one of "
                f"{list(IMAGE_POOLINGS)} (or null)"
            )
        if ot_embedding not in OT_EMBEDDINGS:
            raise ActotError(
                f"ot.embedding={ot_embedding!r} is not an OT embedding; choose one of {list(OT_EMBEDDINGS)}"
            )
        if self.image_pooling == "keypoints" and not n_cameras:
            raise ActotError(
                "policy.image_pooling=keypoints needs cameras, and this policy has none (a state-only "
                "dataset or data.cameras=[]); choose policy.image_pooling from ['map', null]"
            )
        if ot_embedding == "keypoints" and (self.image_pooling != "keypoints" or not n_cameras):
            raise ActotError(
                f"ot.embedding=keypoints aligns the keypoints the policy reads, but policy.image_pooling="
                f"{self.image_pooling} with {n_cameras} camera(s) has none; choose ot.embedding from "
                f"{[e for e in OT_EMBEDDINGS if e != 'keypoints']} or pool by keypoints"
            )
        self.ot_embedding = ot_embedding
        d = cfg.dim_model
        if cfg.use_vae:
            self.vae_encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_vae_encoder_layers))
            # LeRobot's ACTEncoder ends with a LayerNorm under pre_norm, the VAE encoder included.
            self.vae_encoder_norm = nn.LayerNorm(d) if cfg.pre_norm else nn.Identity()
            self.vae_encoder_cls_embed = nn.Embedding(1, d)
            self.vae_encoder_state_input_proj = nn.Linear(state_dim, d)
            self.vae_encoder_action_input_proj = nn.Linear(action_dim, d)
            self.vae_encoder_latent_output_proj = nn.Linear(d, 2 * cfg.latent_dim)
            self.register_buffer("vae_encoder_pos_enc", sinusoidal_1d(2 + cfg.chunk_size, d)[None], persistent=False)
        if n_cameras:
            self.backbone = ResNet18Backbone(cfg.backbone_width)
            if cfg.pretrained_backbone_weights:
                self.backbone.load_torchvision_weights(cfg.pretrained_backbone_weights)
            if self.image_pooling == "keypoints":
                self.encoder_img_keypoints = SpatialSoftmax(self.backbone.out_channels, cfg.n_keypoints)
                self.encoder_img_keypoint_proj = nn.Linear(2 * cfg.n_keypoints, d)
                self.encoder_cam_pos_embed = nn.Embedding(n_cameras, d)  # one token per camera: which one
            else:
                self.encoder_img_feat_input_proj = nn.Conv2d(self.backbone.out_channels, d, 1)
            self.register_buffer("image_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("image_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_encoder_layers))
        self.encoder_norm = nn.LayerNorm(d) if cfg.pre_norm else nn.Identity()
        self.encoder_state_input_proj = nn.Linear(state_dim, d)
        self.encoder_latent_input_proj = nn.Linear(cfg.latent_dim, d)
        self.encoder_1d_feature_pos_embed = nn.Embedding(2, d)  # latent, state
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_decoder_layers))
        self.decoder_norm = nn.LayerNorm(d)
        self.decoder_pos_embed = nn.Embedding(cfg.chunk_size, d)
        self.action_head = nn.Linear(d, action_dim)
        for name, p in self.named_parameters():
            if p.dim() > 1 and not name.startswith("backbone."):
                nn.init.xavier_uniform_(p)

    # ------------------------------------------------------------------ parts
    def _latent(self, state: Tensor, action: Tensor | None, action_is_pad: Tensor | None):
        batch = state.shape[0]
        if not (self.cfg.use_vae and self.training and action is not None):
            zeros = torch.zeros(batch, self.cfg.latent_dim, device=state.device, dtype=state.dtype)
            return zeros, None, None
        tokens = torch.cat(
            [
                self.vae_encoder_cls_embed.weight[None].expand(batch, -1, -1),
                self.vae_encoder_state_input_proj(state)[:, None],
                self.vae_encoder_action_input_proj(action),
            ],
            dim=1,
        )
        pad = torch.cat([torch.zeros(batch, 2, dtype=torch.bool, device=state.device), action_is_pad], dim=1)
        x = tokens
        for layer in self.vae_encoder:
            x = layer(x, pos=self.vae_encoder_pos_enc, key_padding_mask=pad)
        stats = self.vae_encoder_latent_output_proj(self.vae_encoder_norm(x)[:, 0])
        mu, log_sigma_x2 = stats[:, : self.cfg.latent_dim], stats[:, self.cfg.latent_dim :]
        latent = mu + (log_sigma_x2 / 2).exp() * torch.randn_like(mu)
        return latent, mu, log_sigma_x2

    def _backbone_maps(self, images: Tensor) -> Tensor:
        """uint8 (B, n_cam, H, W, 3) -> layer-4 maps (B * n_cam, C, h, w), one backbone pass."""
        x = images.flatten(0, 1).permute(0, 3, 1, 2).float().div(255.0)
        return self.backbone((x - self.image_mean) / self.image_std)

    def camera_features(self, images: Tensor) -> Tensor:
        """uint8 (B, n_cam, H, W, 3) -> projected features (B, n_cam, D, h, w) (image_pooling='map')."""
        features = self.encoder_img_feat_input_proj(self._backbone_maps(images))
        return features.view(*images.shape[:2], *features.shape[1:])

    def camera_tokens(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """uint8 (B, n_cam, H, W, 3) -> (tokens (B, n_cam, T, D), their positions (n_cam, T, D),
        keypoints (B, n_cam, 2 * n_keypoints) or None): what the transformer reads of the cameras."""
        b, k = images.shape[:2]
        if self.image_pooling == "keypoints":
            keypoints = self.encoder_img_keypoints(self._backbone_maps(images)).view(b, k, -1)
            tokens = self.encoder_img_keypoint_proj(keypoints)[:, :, None]
            return tokens, self.encoder_cam_pos_embed.weight[:, None], keypoints
        features = self.camera_features(images)  # (B, K, D, h, w)
        d, h, w = features.shape[2:]
        tokens = features.flatten(3).transpose(2, 3)  # positions row by row, as LeRobot's ACT orders them
        positions = sinusoidal_2d(h, w, d, features.device).to(features.dtype).flatten(1).T
        return tokens, positions[None].expand(k, -1, -1), None

    def _embedding(self, tokens: Tensor, keypoints: Tensor | None) -> Tensor:
        if self.ot_embedding == "keypoints":
            return keypoints
        if self.ot_embedding == "tokens":
            return tokens.flatten(2)
        return tokens.mean(dim=2)

    def ot_embeddings(self, batch: dict[str, Tensor]) -> Tensor:
        """The OT embeddings alone (B, K, F), without the transformer: the OT rows need nothing more."""
        if self.n_cameras:
            tokens, _, keypoints = self.camera_tokens(batch["images"])
            return self._embedding(tokens, keypoints)
        return self.encoder_state_input_proj(batch["state"])[:, None]

    def ot_parameters(self) -> list[nn.Parameter]:
        """The parameters the OT embeddings depend on, shared with BC: where OT's gradient acts."""
        if not self.n_cameras:
            modules = [self.encoder_state_input_proj]
        elif self.image_pooling == "keypoints":
            modules = [self.backbone, self.encoder_img_keypoints]
            if self.ot_embedding != "keypoints":
                modules.append(self.encoder_img_keypoint_proj)
        else:
            modules = [self.backbone, self.encoder_img_feat_input_proj]
        return [p for module in modules for p in module.parameters() if p.requires_grad]

    # ------------------------------------------------------------------ forward
    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, tuple, Tensor]:
        """Returns (actions (B, chunk, A), (mu, log_sigma_x2) or Nones, OT embeddings (B, K, F))."""
        state = batch["state"]
        latent, mu, log_sigma_x2 = self._latent(state, batch.get("action"), batch.get("action_is_pad"))
        state_token = self.encoder_state_input_proj(state)
        tokens = [self.encoder_latent_input_proj(latent)[:, None], state_token[:, None]]
        positions = [self.encoder_1d_feature_pos_embed.weight[None].expand(state.shape[0], -1, -1)]
        if self.n_cameras:
            cam_tokens, cam_pos, keypoints = self.camera_tokens(batch["images"])  # (B, K, T, D), (K, T, D)
            embeddings = self._embedding(cam_tokens, keypoints)
            tokens.append(cam_tokens.flatten(1, 2))
            positions.append(cam_pos.flatten(0, 1)[None].expand(state.shape[0], -1, -1))
        else:
            embeddings = state_token[:, None]
        x = torch.cat(tokens, dim=1)
        pos = torch.cat(positions, dim=1)
        for layer in self.encoder:
            x = layer(x, pos=pos)
        memory = self.encoder_norm(x)
        query_pos = self.decoder_pos_embed.weight[None].expand(state.shape[0], -1, -1)
        y = torch.zeros_like(query_pos)
        for layer in self.decoder:
            y = layer(y, memory, query_pos, pos)
        actions = self.action_head(self.decoder_norm(y))
        return actions, (mu, log_sigma_x2), embeddings


def act_loss(cfg: ACTConfig, actions_hat: Tensor, vae_stats: tuple, batch: dict[str, Tensor]) -> tuple[Tensor, dict]:
    """L1 + kl_weight * KL(q(z | s, a) || N(0, I)), as LeRobot computes them.

    The L1 is LeRobot's: the mean over ALL entries with padded ones zeroed (not divided by the
    valid count, which would make it larger the more padding a batch has, and shift the
    effective kl_weight).
    """
    valid = (~batch["action_is_pad"]).unsqueeze(-1).to(actions_hat.dtype)
    l1 = (F.l1_loss(actions_hat, batch["action"], reduction="none") * valid).mean()
    mu, log_sigma_x2 = vae_stats
    if mu is None:
        kld = torch.zeros((), device=l1.device)
    else:
        kld = (-0.5 * (1 + log_sigma_x2 - mu.pow(2) - log_sigma_x2.exp())).sum(-1).mean()
    return l1 + cfg.kl_weight * kld, {"l1_loss": l1, "kld_loss": kld}


class TemporalEnsembler:
    """Average the overlapping chunks predicted for each time step: weight exp(-coeff * i), i = 0 oldest.

    coeff = 0 averages uniformly (as in LeRobot); `temporal_ensemble_coeff=None` turns ensembling off.
    """

    def __init__(self, coeff: float, chunk_size: int):
        self.coeff, self.chunk_size = coeff, chunk_size
        self.sums = self.weights = self.counts = None
        self.t = 0

    def reset(self) -> None:
        self.sums = self.weights = self.counts = None
        self.t = 0

    def update(self, chunk: Tensor) -> Tensor:
        """Add the chunk predicted at the current step; return the action to execute now."""
        b, c, a = chunk.shape
        if self.sums is None:
            self.sums = chunk.new_zeros(b, 0, a)
            self.weights = chunk.new_zeros(b, 0, 1)
            self.counts = chunk.new_zeros(0)
        need = self.t + c - self.sums.shape[1]
        if need > 0:
            self.sums = torch.cat([self.sums, chunk.new_zeros(b, need, a)], 1)
            self.weights = torch.cat([self.weights, chunk.new_zeros(b, need, 1)], 1)
            self.counts = torch.cat([self.counts, chunk.new_zeros(need)])
        window = slice(self.t, self.t + c)
        w = torch.exp(-self.coeff * self.counts[window]).view(1, c, 1)
        self.sums[:, window] += w * chunk
        self.weights[:, window] += w
        self.counts[window] += 1
        action = self.sums[:, self.t] / self.weights[:, self.t]
        self.t += 1
        return action


def make_ensembler(cfg: ACTConfig) -> TemporalEnsembler | None:
    """Temporal ensembling when `temporal_ensemble_coeff` is set (0 included: a uniform average)."""
    return (
        None if cfg.temporal_ensemble_coeff is None else TemporalEnsembler(cfg.temporal_ensemble_coeff, cfg.chunk_size)
    )
