"""The sweep layer: search spaces, rules, the Ray Tune + Optuna runner, and sweep results."""
