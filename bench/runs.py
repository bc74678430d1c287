"""What the studies with `run` / `analyse` subcommands share: the JSONL runner, the default job, reading runs back.

A study builds its jobs (one training run each: {"id", "group", "name", "overrides", "seed", "common", "out_dir"}
and whatever its own runner reads) and hands them to `run_jobs`, which trains them in a pool of worker processes (in
its own process with `--jobs 1`) and appends one JSON line per finished run to the study's file (a second `run` on
the same file skips what is there, so a study cut short resumes). Its `analyse` reads the file back (`read_rows`),
takes each run's last value of a metric (`final`) and summarises seeds with `mean_ci` (the product's statistics,
actot/report/stats.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing as mp
import time
from pathlib import Path

# A tiny model and benchmark for the --quick runs of the bench scripts (seconds per run on a CPU core).
TINY = {
    "policy.dim_model": 32,
    "policy.n_heads": 2,
    "policy.dim_feedforward": 64,
    "policy.n_encoder_layers": 1,
    "policy.n_vae_encoder_layers": 1,
    "policy.latent_dim": 8,
    "policy.backbone_width": 8,
    "data.resolution": 16,
    "batch_size": 4,
    "ot.batch_size": 8,
    "data.sim.n_source": 16,
    "data.sim.n_target": 4,
    "data.sim.n_eval": 2,
}


def space_configs(name: str, n: int, seed: int) -> list[tuple[str, dict]]:
    """The space's starting points, then random draws: (label, training overrides)."""
    import optuna

    from actot.sweep.space import load_space

    space = load_space(name)
    out = [
        (f"{name}:{label}", {**space.fixed, **space.to_overrides(point)})
        for label, point in zip(space.point_names, space.starting_points)
    ]
    sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(sampler=sampler)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    while len(out) < n:
        trial = study.ask(space.distributions)
        study.tell(trial, 0.0)
        out.append((f"{name}:r{len(out)}", {**space.fixed, **space.to_overrides(trial.params)}))
    return out[:n]


def run_one(job: dict) -> dict:
    """One training run in this worker (datasets cached between runs of the same data config)."""
    import torch

    from actot.config import TrainConfig, apply_overrides
    from actot.train import train

    torch.set_num_threads(1)
    overrides = {
        **job["common"],
        **job["overrides"],
        "seed": job["seed"],
        "name": job["id"],
        "out_dir": job["out_dir"],
        "wandb.mode": "disabled",
    }
    start = time.perf_counter()
    try:
        cfg = apply_overrides(TrainConfig(), overrides, f"run {job['id']}")
        result = train(cfg, progress=False)
        history, status = result.history, result.status
    except Exception as err:  # a failed run is recorded, the study goes on
        history, status = [], f"error: {str(err).splitlines()[0][:300]}"
    return {
        **{k: job[k] for k in ("id", "group", "name", "overrides", "seed")},
        "config": job["overrides"],
        "status": status,
        "seconds": time.perf_counter() - start,
        "history": history,
    }


def finite_or_none(value):
    """A value as a JSON line stores it: a non-finite float as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def study_parser(
    doc: str, *, runs_dir: str, seeds: int, steps=1500, log_every: int = 100, quick_help: str | None = None
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser, argparse.ArgumentParser]:
    """The `run` / `analyse` command line every study shares: (parser, its `run` subparser, its `analyse`
    subparser), so that a study adds only its own flags. `steps=None` leaves --steps to the study."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--out", required=True)
    run.add_argument("--seeds", type=int, default=seeds)
    if steps is not None:
        run.add_argument("--steps", type=int, default=steps)
    run.add_argument("--log-every", type=int, default=log_every)
    run.add_argument("--rollouts", type=int, default=100)
    run.add_argument("--jobs", type=int, default=2)
    run.add_argument("--runs-dir", default=runs_dir)
    run.add_argument("--quick", action="store_true", help=quick_help or "CI-sized: tiny model and data, a few steps")
    analyse = sub.add_parser("analyse")
    analyse.add_argument("file")
    return parser, run, analyse


def study_common(args, **extra) -> dict:
    """The training settings every run of a study shares, from its `run` command line (steps, logging, rollouts,
    one thread each) and `extra`; with --quick, the tiny model and data for 6 steps."""
    common = {
        "steps": args.steps,
        "log_every": args.log_every,
        "rollout_episodes": args.rollouts,
        "threads": 1,
        **extra,
    }
    if args.quick:
        common.update({**TINY, "steps": 6, "log_every": 2})
    return common


def study_job(args, common: dict, group: str, name: str, overrides: dict, seed: int, **more) -> dict:
    """One run of a study, as `run_jobs` takes it (id GROUP/NAME/sSEED, under --runs-dir); `more`: what the study's
    own runner reads."""
    return {
        "id": f"{group}/{name}/s{seed}",
        "group": group,
        "name": name,
        "overrides": overrides,
        "seed": seed,
        "common": common,
        "out_dir": str(Path(args.runs_dir).resolve()),
        **more,
    }


def study_main(parser: argparse.ArgumentParser, argv, run, analyse) -> int:
    """Parse argv, then `analyse(args)`, or `run(args)` with its wall-clock time printed."""
    args = parser.parse_args(argv)
    if args.command == "analyse":
        analyse(args)
        return 0
    started = time.perf_counter()
    run(args)
    print(f"done in {time.perf_counter() - started:.0f}s")
    return 0


def run_jobs(jobs: list[dict], out: Path, n_jobs: int, shown: str = "eval/success", runner=run_one) -> None:
    """Run the jobs whose id is not yet in `out` in `n_jobs` worker processes (one: in this process), appending one
    JSON line per finished run (a study cut short resumes where it stopped) and printing one line each. `runner(job)`
    runs one (default `run_one`; a study that prepares its data first passes its own, a module-level function)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {json.loads(line)["id"] for line in out.read_text().splitlines()} if out.exists() else set()
    todo = [j for j in jobs if j["id"] not in done]
    print(f"{len(todo)} of {len(jobs)} runs to do", flush=True)
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(out.open("a"))
        if n_jobs > 1:
            results = stack.enter_context(mp.get_context("spawn").Pool(n_jobs)).imap_unordered(runner, todo)
        else:  # in this process: a worker process would import torch and the product again for nothing
            results = map(runner, todo)
        for result in results:
            record = {k: v for k, v in result.items() if k != "history"}
            record["history"] = [{k: finite_or_none(v) for k, v in row.items()} for row in result["history"]]
            sink.write(json.dumps(record) + "\n")
            sink.flush()
            print(
                f"{result['id']}: {result['status']}, {shown} {final(result, shown)}, {result['seconds']:.0f}s",
                flush=True,
            )


def read_rows(path) -> list[dict]:
    """The runs of a study's file, one dict per JSON line, in the order they finished."""
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def final(row: dict, key: str = "eval/success"):
    """The run's last logged value of `key`, or None when it never logged one."""
    values = [r.get(key) for r in row["history"] if r.get(key) is not None]
    return values[-1] if values else None


def mean_ci(values) -> tuple[float, float, float]:
    """(mean, half-width of its 95% Student-t interval, SD) of a sample, from the sample's own SD on n - 1
    degrees of freedom: actot.report.stats's `pooled_sd` of the one sample and `t_interval` (scipy's t quantile,
    exact at any df). (mean, nan, nan) for a single value (no spread measured); an SD of 0 gives a half-width of 0."""
    from actot.report.stats import pooled_sd, t_interval

    x = [float(v) for v in values]
    mean = sum(x) / len(x)
    sd, df = pooled_sd([x])
    interval = t_interval(x, sd, df)
    if interval is None:
        return mean, math.nan, math.nan
    return mean, (interval.high - interval.low) / 2, sd
