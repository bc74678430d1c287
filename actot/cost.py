"""What a run will cost, said before it is paid: s/step timed on the real model and device, then the run's and the sweep's time.

    est = measure(cfg)                        # a dry run: a small real subset of the data
    est = measure(cfg, data=load_data(cfg)[0], device=torch.device("cpu"))   # a sweep's driver: the loaded data
    print(run_line(est, cfg))                 # or sweep_line(est, cfg, trials, concurrency)

A step is the trainer's own (the sampler's batch and `actot.train_step.train_step`: losses, backward, the
optimiser and the EMA), on the model the run would build, so its time is the run's: one untimed warm-up step (allocation,
cuDNN's choice of kernels), then up to `steps` timed ones, fewer when they take longer than `budget_s`;
a warm-up longer than the budget is the estimate itself (a CPU step of LeRobot's ACT at 96x128 takes
~20 s: one step says enough, and the dry run waits for one). `cost=false` skips it (a dry run, a sweep). A step's cost depends
on the shapes (model, batch, frames, chunk) and not on which episodes fill them, so a dry run times it
on one source and one target episode of the real data (`timing_data`; the embedded sim: a tiny sim with
the same frames) instead of decoding and pairing everything. Evaluations (every log_every steps) and
the data's first decode are not counted: the line says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import time
from dataclasses import dataclass

import torch

from actot.config import TrainConfig

LONG_RUN_S = 10 * 60  # a run (or a sweep) longer than this on a CPU gets the line saying how to make it small


@dataclass(frozen=True)
class Estimate:
    s_per_step: float
    timed_steps: int  # 0: the warm-up step alone, which took longer than the budget (it may overstate)
    device: str
    threads: int

    def run_s(self, steps: int) -> float:
        return self.s_per_step * steps


def timing_data(cfg: TrainConfig):
    """A small real subset of the run's data with its shapes: the first training source and target episode (the
    embedded sim: a sim of one demo per domain with the same frames). Loaded apart from the run's data cache."""
    from actot.run_data import build_data, derive_data_defaults

    cfg = derive_data_defaults(cfg)[0]
    d = cfg.data
    if d.source is None:
        sim = dataclasses.replace(d.sim, n_source=1, n_target=1, n_eval=0, n_eval_source=0, eval_split="task")
        small = dataclasses.replace(
            d,
            sim=sim,
            target_episodes=[0],
            source_episodes=[0],
            eval_target_episodes=None,
            n_eval_target=0,
            n_eval_source=0,
        )
    else:
        from actot.data.lerobot import LeRobotDataset

        # the first of each list trains: held-out episodes are the last ones (target_split puts them there)
        sources = d.source_episodes or LeRobotDataset(d.source, cameras=[], load=False).episode_indices
        targets = d.target_episodes or LeRobotDataset(d.target, cameras=[], load=False).episode_indices
        small = dataclasses.replace(
            d,
            source_episodes=[sources[0]],
            target_episodes=[targets[0]],
            eval_target_episodes=None,
            n_eval_target=0,
            n_eval_source=0,
        )
    with contextlib.redirect_stdout(io.StringIO()):  # its "pairing: DTW of 1 x 1 demos" line is not the run's
        return build_data(dataclasses.replace(cfg, data=small))[0]


def measure(
    cfg: TrainConfig,
    data=None,
    device: torch.device | None = None,
    steps: int = 3,
    warmup: int = 1,
    budget_s: float = 10.0,
) -> Estimate:
    """s/step of `cfg` on `device` (default: the run's own, `cfg.device`) with `cfg.threads` CPU threads, timed as
    the module docstring says; `data`: the run's loaded data, else a small subset is loaded (`timing_data`).
    The caller's torch RNG and thread count are left as they were."""
    from actot.evaluate import to_tensors
    from actot.ema import WeightEMA
    from actot.run_data import make_sampler
    from actot.train_step import build_model, pick_device, train_step

    device = device or pick_device(cfg.device)
    data = data if data is not None else timing_data(cfg)
    threads = torch.get_num_threads()
    try:
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(cfg.seed)
            cfg, model, optimizer = build_model(cfg, data, device)
            ema = WeightEMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
            sampler = make_sampler(cfg, data)
            use_amp = cfg.amp and device.type == "cuda"
            model.train()
            times = []
            for i in range(warmup + steps):
                start = time.perf_counter()
                batch = to_tensors(sampler.next(), device)
                train_step(model, optimizer, batch, cfg, use_amp, ema)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                seconds = time.perf_counter() - start
                if i < warmup:
                    if seconds >= budget_s:  # one slow step says enough, and a second would double the wait
                        return Estimate(seconds, 0, device.type, torch.get_num_threads())
                    continue
                times.append(seconds)
                if sum(times) >= budget_s:
                    break
        return Estimate(sum(times) / len(times), len(times), device.type, torch.get_num_threads())
    finally:
        torch.set_num_threads(threads)


def duration(seconds: float) -> str:
    """1h41m, 12m05s, 40s: a time as a person reads it."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _what(est: Estimate, cfg: TrainConfig) -> str:
    frames = (
        "no camera"
        if cfg.data.cameras == []
        else (f"{cfg.data.resolution[0]}x{cfg.data.resolution[1]} frames" if cfg.data.resolution else "frames")
    )
    where = f"{est.device} ({est.threads} thread(s))" if est.device == "cpu" else est.device
    return (
        f"{est.s_per_step:.3g} s/step for policy={cfg.policy_preset}, {frames}, batch_size={cfg.batch_size} + "
        f"ot.batch_size={cfg.ot.batch_size} pairs on {where}; "
        + (
            f"timed over {est.timed_steps} step(s) after a warm-up"
            if est.timed_steps
            else "from its first step alone, which may overstate"
        )
    )


def smaller(est: Estimate, cfg: TrainConfig, run_s: float) -> str:
    """How to make a long CPU run small, naming only the settings that are not small already; '' when it is short."""
    if est.device != "cpu" or run_s <= LONG_RUN_S:
        return ""
    fixes = []
    if cfg.policy_preset != "act_small":
        fixes.append("policy=act_small")
    res = cfg.data.resolution
    if cfg.data.cameras != [] and res and max(res) > 64:
        fixes.append(f"data.resolution=[{max(8, res[0] // 2)}, {max(8, res[1] // 2)}]")
    fit = int(LONG_RUN_S / est.s_per_step) if est.s_per_step > 0 else 0
    if 1 <= fit < cfg.steps:
        fixes.append(f"steps={fit} (what fits {duration(LONG_RUN_S)} at this pace)")
    fixes.append("a machine with a GPU (device=cuda)")
    return (
        ". To make it small: "
        + ", ".join(fixes)
        + " (each cuts the time; s/step is measured again by the next dry run)"
    )


def run_line(est: Estimate, cfg: TrainConfig) -> str:
    """The one line a dry run prints: s/step, the run's time, and on a long CPU run how to make it small."""
    total = est.run_s(cfg.steps)
    return (
        f"cost: {_what(est, cfg)} -> steps={cfg.steps} take ~{duration(total)} (evaluations every "
        f"log_every={cfg.log_every} steps and the first decode of the data come on top){smaller(est, cfg, total)}"
    )


def sweep_line(est: Estimate, cfg: TrainConfig, trials: int, concurrency: int) -> str:
    """The one line a sweep prints at its start: s/step, a trial's time, and the sweep's wall time at its concurrency."""
    trial = est.run_s(cfg.steps)
    at_once = max(1, min(concurrency, trials))
    wall = math.ceil(trials / at_once) * trial
    return (
        f"cost: {_what(est, cfg)} -> a trial of steps={cfg.steps} takes ~{duration(trial)}; {trials} trial(s), "
        f"{at_once} at a time (max_concurrent={concurrency}): ~{duration(wall)} of wall time (evaluations and "
        f"racing's skipped seeds not counted){smaller(est, cfg, trial)}"
    )
