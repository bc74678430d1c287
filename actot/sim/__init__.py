"""The embedded two-domain simulator: a vision-dependent reaching task, its renderer and demos."""

from actot.sim.generate import SimSpec, ensure_sim, generate, load_true_pairs
from actot.sim.task import CAMERAS, ReachEnv

__all__ = ["SimSpec", "ensure_sim", "generate", "load_true_pairs", "CAMERAS", "ReachEnv"]
