"""Per-trial cost of W&B logging: ours (one offline run per trial, from inside the trial) vs
Ray's WandbLoggerCallback, both against no W&B at all, in one run.

    python -m bench.bench_wandb [--trials 8]

The same Tune experiment (a function trainable that reports 12 rows of 8 metrics) runs three
times; the overhead per trial is (wall time - wall time without W&B) / trials.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from types import SimpleNamespace

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402
from ray import tune  # noqa: E402

from actot.run_log import RunLog  # noqa: E402

ROWS, METRICS = (
    12,
    (
        "train/loss",
        "train/l1_loss",
        "eval/avg_l1",
        "ot_loss",
        "ot_pi_sum",
        "ot_pi_diag",
        "ot_cost(state)",
        "train/kld_loss",
    ),
)


def make_trainable(ours: bool, out: str):
    def trainable(config):
        log = None
        if ours:
            trial = tune.get_context().get_trial_id()
            log = RunLog(
                os.path.join(out, trial),
                trial,
                config,
                SimpleNamespace(mode="offline", project="bench", entity=None, group="bench"),
            )
        for step in range(1, ROWS + 1):
            metrics = {k: config["x"] / step for k in METRICS}
            if log:
                log.log(step, metrics)
            tune.report(dict(metrics, step=step))
        if log:
            log.finish()

    return trainable


def run(kind: str, trials: int, out: str) -> float:
    callbacks = []
    if kind == "callback":
        from ray.air.integrations.wandb import WandbLoggerCallback

        callbacks = [WandbLoggerCallback(project="bench", mode="offline", dir=out)]
    tuner = tune.Tuner(
        make_trainable(kind == "ours", out),
        param_space={"x": tune.uniform(0, 1)},
        tune_config=tune.TuneConfig(num_samples=trials, max_concurrent_trials=1, reuse_actors=True),
        run_config=tune.RunConfig(name=kind, storage_path=out, verbose=0, callbacks=callbacks),
    )
    start = time.perf_counter()
    tuner.fit()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        with tempfile.TemporaryDirectory() as out:
            run("none", 2, out)  # warm-up: worker start, imports
            base = run("none", args.trials, out)
            ours = run("ours", args.trials, out)
            callback = run("callback", args.trials, out)
    finally:
        ray.shutdown()
    per = lambda t: (t - base) / args.trials  # noqa: E731
    print(f"{args.trials} trials x {ROWS} reports, W&B offline, one trial at a time")
    print(
        f"{'no W&B (s)':>11} {'ours (s)':>9} {'callback (s)':>13} {'ours/trial':>11} {'callback/trial':>15} {'ratio':>6}"
    )
    print(
        f"{base:>11.2f} {ours:>9.2f} {callback:>13.2f} {per(ours):>10.2f}s {per(callback):>14.2f}s "
        f"{per(callback) / max(per(ours), 1e-9):>5.1f}x"
    )


if __name__ == "__main__":
    main()
