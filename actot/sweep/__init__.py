"""The sweep layer: search spaces, pre-flight, the trial, the Ray Tune + Optuna stages, the results store."""
