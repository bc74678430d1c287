"""The ACT policy: configuration presets, the ResNet-18 backbone, the transformer, and the closed-loop `Policy`
(`select_action`) that evaluation's rollouts and the exported policy both act through."""

from actot.policy.act import ACT, TemporalEnsembler, act_loss, make_ensembler
from actot.policy.closed_loop import Policy
from actot.policy.config import PRESETS, ACTConfig, preset

__all__ = ["ACT", "ACTConfig", "PRESETS", "Policy", "TemporalEnsembler", "act_loss", "make_ensembler", "preset"]
