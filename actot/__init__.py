"""actot: ACT policies co-trained with an optimal-transport alignment loss, tuned by Ray Tune + Optuna.

Layers, each importing only the ones before it:
data -> policy -> ot -> train -> sweep -> report.
"""

__version__ = "0.1.0"
