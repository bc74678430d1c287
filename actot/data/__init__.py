"""Data layer: the LeRobot reader, source/target pairing by DTW, and the co-training sampler.

The package's names load on first use (PEP 562), so that importing one light module of it
(`actot.data.video`'s resize, which an exported policy's loader needs) does not import the
dataset reader and pyarrow.
"""

__all__ = ["Episode", "LeRobotDataset", "FeatureStats"]


def __getattr__(name: str):
    if name in ("Episode", "LeRobotDataset"):
        from actot.data import lerobot

        return getattr(lerobot, name)
    if name == "FeatureStats":
        from actot.data.stats import FeatureStats

        return FeatureStats
    raise AttributeError(f"module 'actot.data' has no attribute {name!r}")
