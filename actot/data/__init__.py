"""Data layer: the LeRobot reader, source/target pairing by DTW, and the co-training sampler."""

from actot.data.lerobot import Episode, LeRobotDataset
from actot.data.stats import FeatureStats

__all__ = ["Episode", "LeRobotDataset", "FeatureStats"]
