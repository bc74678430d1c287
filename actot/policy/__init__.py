"""The ACT policy: configuration presets, the ResNet-18 backbone and the transformer."""

from actot.policy.act import ACT, TemporalEnsembler, act_loss
from actot.policy.config import PRESETS, ACTConfig, preset

__all__ = ["ACT", "ACTConfig", "PRESETS", "TemporalEnsembler", "act_loss", "preset"]
