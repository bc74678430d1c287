"""actot: ACT policies co-trained with an optimal-transport alignment loss, tuned by Ray Tune + Optuna.

Floors, each importing only the ones below it (docs/architecture.md; `.importlinter` checks them, `make lint`):
data | policy | ot -> sim -> config -> train -> sweep | report, where | joins parts that import neither each other.
"""

__version__ = "0.1.0"
