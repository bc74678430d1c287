"""The embedded two-domain simulator: a vision-dependent reaching task, its renderer and demos."""

from actot.sim.config import SimConfig
from actot.sim.generate import ensure_sim, generate, load_ground_truth, load_true_pairs, target_env
from actot.sim.task import CAMERAS, REGIONS, ReachEnv

__all__ = [
    "SimConfig",
    "ensure_sim",
    "generate",
    "load_ground_truth",
    "load_true_pairs",
    "target_env",
    "CAMERAS",
    "REGIONS",
    "ReachEnv",
]
