"""Train one ACT + OT policy: the loop that the CLI and every sweep trial run.

    python -m actot.train policy=act_small steps=200                 # the embedded sim
    python -m actot.train data.source=PATH data.target=PATH ot.reg=2  # LeRobot datasets
    python -m actot.train name=NAME ... dry_run=true                  # check config and data, time a few steps
                                                                      # (cost=false: do not); start nothing

A run writes `out_dir/name` (an unnamed run gets a new, unique name); an existing run's folder is
never overwritten: `resume=true` continues that run from its checkpoint.

Per step: one batch of [OT source | OT target | BC rows]. The BC rows go through ACT for
L_bc; the OT pairs go through the image encoder only, for their embeddings and L_ot (as in the
method's reference code; `bc_on_ot_rows=true` also trains BC on them; `ot_rows=bc` draws them among
the BC rows, so that they take no extra pass through the encoder).
L = L_bc + lambda_ot * L_ot. At each log step the two gradients are taken apart on the shared
encoder parameters to log `ot_grad_ratio`, the size of OT's push against BC's.
The learning rate follows `lr_schedule` (a function of the step alone), and evaluation (held-out
L1, closed-loop success in the target and the source domain) runs on the exponential moving average
of the weights when `ema_decay` > 0 (actot/ema.py); the checkpoint holds both weights, so a resumed
run continues bit for bit. From the 6th log step on, `eval/l1_trend` says whether the held-out L1 is
still falling (actot/convergence.py), so that every run, in a sweep or not, carries that signal.
Metrics are averaged over the steps between logs, on the device, and read back once per
`log_every` steps (no host sync per step on a GPU). `report(metrics, checkpoint_dir, history)`
is the hook a sweep uses (it may return a reason to stop); the loop itself knows nothing of Ray.
"""
# (Not in the docstring: --help prints it.) This module is the loop, top to bottom (device and seeds, data, model and
# optimiser, the run's folder, the steps; at each log step the window's metrics, evaluation, the checkpoint, the
# report), and its CLI. What it stands on is its own module, so that a sweep, the exporter, the cost estimate and the
# benchmarks reach the part they need and not the loop: the run's data, its derived defaults, held-out split and
# pre-flight (actot/run_data.py), the step (actot/train_step.py), the checkpoint (actot/checkpoint.py), the history,
# W&B and progress lines (actot/run_log.py).

from __future__ import annotations

import dataclasses
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from actot.checkpoint import CHECKPOINT_FILE, restore_checkpoint, save_checkpoint
from actot.config import TrainConfig, parse_cli, parse_switch, parse_value, to_dict
from actot.convergence import TREND_KEY, history_trend
from actot.data.sampler import check_window_size
from actot.errors import ActotError, run_cli
from actot.evaluate import eval_l1, rollout_metrics, to_tensors, windowed_l1
from actot.metrics import direction
from actot.ema import WeightEMA
from actot.optim import lr_factor, resolved_warmup
from actot.profiling import Laps, no_lap
from actot.run_data import (
    DERIVED,
    REAL_DATA_PRESET,
    derive_data_defaults,
    derive_preset,
    load_data,
    make_sampler,
    preflight_data,
)
from actot.run_log import RunLog, plot_history, progress_line
from actot.train_step import build_model, initial_embed_norm, pick_device, train_step

# report(metrics, checkpoint_dir or None, history so far) -> a reason to stop early, or None
Report = Callable[[dict, "Path | None", list], "str | None"]


@dataclass
class TrainResult:
    """How a run ended: status 'finished', 'stopped' (by the report hook) or 'non_finite'."""

    status: str
    step: int
    metrics: dict
    reason: str = ""
    run_dir: Path | None = None
    history: list[dict] = field(default_factory=list)


def unique_run_name(out_dir: Path, seed: int) -> str:
    """A name no run in `out_dir` has yet: run-<date>-<time>-seed<seed>, with -2, -3, ... if taken."""
    base = f"run-{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}"
    name, n = base, 1
    while (out_dir / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def check_run_dir(cfg: TrainConfig) -> TrainConfig:
    """The run's folder must be new, or its run continued: an earlier run is never overwritten. An
    unnamed run gets a unique name (returned in the config)."""
    out_dir = Path(cfg.out_dir)
    if cfg.name is None:
        if cfg.resume:
            raise ActotError(
                f"resume=true needs the name= of the run to continue (its folder in out_dir={cfg.out_dir})"
            )
        return dataclasses.replace(cfg, name=unique_run_name(out_dir, cfg.seed))
    run_dir = out_dir / cfg.name
    if not cfg.resume and run_dir.exists() and any(run_dir.iterdir()):
        raise ActotError(
            f"name={cfg.name}: {run_dir} already holds a run; add resume=true to continue it, or pick "
            "another name= (an unnamed run gets a new folder)"
        )
    return cfg


def set_up_device(cfg: TrainConfig) -> torch.device:
    """The run's device, and this process's torch settings for it: CPU threads, a GPU's memory share, TF32."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    if device.type == "cuda":
        if cfg.gpu_memory_fraction:  # trials sharing a GPU: one that grows cannot take the others' memory
            torch.cuda.set_per_process_memory_fraction(cfg.gpu_memory_fraction, device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return device


def train(
    cfg: TrainConfig,
    report: Report | None = None,
    resume_from: Path | None = None,
    progress: bool | None = None,
    run_dir: Path | None = None,
    laps: Laps | None = None,
) -> TrainResult:
    """Run `cfg` to `cfg.steps` (or to a non-finite loss); see the module docstring. `laps` (profiling only:
    bench/trial_profile.py) adds up the wall time of each part of the loop (actot/profiling.py)."""
    lap = no_lap if laps is None else laps.lap
    if laps is not None:
        laps.start()
    device = set_up_device(cfg)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    # data, model, optimiser, EMA, sampler (in this order: the model's initialisation draws from the seeded RNG)
    data, true_pairs, spec = load_data(cfg)
    check_window_size(cfg.ot.window_size, data)
    cfg, model, optimizer = build_model(cfg, data, device)  # the run's config.json records the resolved pooling
    base_lrs = [group["lr"] for group in optimizer.param_groups]  # the schedule scales these
    warmup = resolved_warmup(cfg.lr_schedule, cfg.warmup_steps, cfg.steps)
    ema = WeightEMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    eval_model = ema.model if ema is not None else model
    sampler = make_sampler(cfg, data, true_pairs)

    # the run's folder, continued from its checkpoint when resumed
    name = cfg.name or unique_run_name(Path(cfg.out_dir), cfg.seed)
    run_dir = Path(run_dir or Path(cfg.out_dir) / name)
    start_step, history, run_id = 0, [], None
    if resume_from is None and cfg.resume and (run_dir / "checkpoint" / CHECKPOINT_FILE).is_file():
        resume_from = run_dir / "checkpoint"
    if resume_from is not None:
        start_step, history, run_id = restore_checkpoint(resume_from, model, optimizer, sampler, ema)
    lap("setup")
    log = RunLog(run_dir, name, to_dict(cfg), cfg.wandb, rows=history, run_id=run_id)
    run_id = log.wandb_run.id if log.wandb_run is not None else None
    (run_dir / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))
    lap("log_start")

    # the loop: a step on every batch; at each log step the window's metrics, evaluation, the checkpoint, the report
    use_amp = cfg.amp and device.type == "cuda"
    check_every_step = device.type == "cpu"  # a free check on CPU; on GPU only at log steps
    sums: dict[str, torch.Tensor] = {}
    count = 0
    metrics: dict = {}
    status, reason = "finished", ""
    show = sys.stderr.isatty() if progress is None else progress
    lines = progress is None and not show  # output to a file (nohup, Slurm): a line per log step instead of a bar
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=start_step, desc=name, unit="step", dynamic_ncols=True)
    lap("setup")
    if start_step == 0:  # the untrained baseline: the 'first' value the seed log compares with
        baseline = eval_l1(eval_model, data, cfg.policy.chunk_size, device, cfg.eval_frames)
        baseline["ot_embed_norm"] = initial_embed_norm(model, sampler, cfg, device)
        log.log(0, baseline)
        if report is not None:
            report(dict(baseline, step=0), None, log.rows)
    model.train()
    lap("baseline")
    step = start_step
    step_time = loop_start = time.perf_counter()
    shared = model.ot_parameters()
    for step in range(start_step + 1, cfg.steps + 1):
        factor = lr_factor(step, cfg.steps, cfg.lr_schedule, warmup, cfg.lr_min_ratio)
        for group, base in zip(optimizer.param_groups, base_lrs):
            group["lr"] = base * factor
        batch = to_tensors(sampler.next(), device)
        lap("sample")
        closes_window = step % cfg.log_every == 0 or step == cfg.steps
        loss, values, ratio = train_step(
            model, optimizer, batch, cfg, use_amp, ema, shared if closes_window else None, lap
        )
        if closes_window:
            grad_ratio = ratio
        if check_every_step and not torch.isfinite(loss):  # the run stops here: this step's weights are never saved
            status, reason = "non_finite", f"train/loss became {loss.item()} at step {step}"
            metrics = {k: v.item() for k, v in values.items()}
            break
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v.detach().float()
        count += 1
        if bar is not None:
            bar.update(1)
        lap("metrics")
        if not closes_window:
            continue
        window = torch.stack([*(v / count for v in sums.values()), grad_ratio.float()]).tolist()  # one read per log
        metrics = dict(zip([*sums, "ot_grad_ratio"], window))
        sums, count = {}, 0
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if bad:
            status, reason = "non_finite", f"{bad[0]} became {metrics[bad[0]]} by step {step}"
            break
        initial_norm = log.rows[0].get("ot_embed_norm") if log.rows else None
        if initial_norm:  # scale-free: the embeddings' size against the untrained model's
            metrics["ot_embed_shrink"] = metrics["ot_embed_norm"] / initial_norm
        metrics["train/lr"] = optimizer.param_groups[0]["lr"]
        lap("metrics")
        metrics.update(eval_l1(eval_model, data, cfg.policy.chunk_size, device, cfg.eval_frames))
        metrics["eval/avg_l1_window"] = windowed_l1(log.rows, metrics["eval/avg_l1"])
        lap("eval_l1")
        trend = history_trend([*log.rows, dict(metrics, step=step)])
        if trend is not None:
            metrics[TREND_KEY] = trend
        rollout_now = step == cfg.steps or (cfg.rollout_every and step % cfg.rollout_every == 0)
        if rollout_now and spec is not None and cfg.rollout_episodes:
            for domain in ("target", "source"):
                metrics.update(
                    rollout_metrics(eval_model, data, device, spec, cfg.rollout_episodes, cfg.rollout_seed, domain)
                )
        lap("rollouts")
        now = time.perf_counter()
        metrics["time/step_s"] = (now - step_time) / cfg.log_every
        step_time = now
        log.log(step, metrics)
        lap("logging")
        checkpoint = None
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            checkpoint = save_checkpoint(run_dir / "checkpoint", model, optimizer, sampler, step, log.rows, run_id, ema)
        lap("checkpoint")
        if bar is not None:
            bar.set_postfix(
                {
                    "l1": f"{metrics['train/l1_loss']:.3f}",
                    "eval": f"{metrics['eval/avg_l1']:.3f}",
                    "pi_sum": f"{metrics['ot_pi_sum']:.2f}",
                }
            )
        elif lines:
            print(progress_line(name, step, start_step, cfg.steps, now - loop_start, metrics), flush=True)
        lap("logging")
        if report is not None:
            stop_reason = report(dict(metrics, step=step), checkpoint, log.rows)
            lap("report")
            if stop_reason:
                status, reason = "stopped", stop_reason
                break
    if bar is not None:
        bar.close()
    if status == "non_finite":
        metrics = dict(metrics, non_finite=1.0)
        log.log(step, metrics)
        if report is not None:
            report(dict(metrics, step=step), None, log.rows)
    log.summary(
        {
            "status": status,
            "stop_reason": reason,
            **{f"last/{k}": v for k, v in metrics.items()},
            **best_values(log.rows),
        }
    )
    log.finish(exit_code=0 if status == "finished" else 1)
    lap("finish")
    return TrainResult(status, step, metrics, reason, run_dir, log.rows)


def best_values(rows: list[dict]) -> dict:
    """best/<metric> and best/<metric>_step for the metrics that have a better direction."""
    out = {}
    keys = sorted({k for r in rows for k in r if direction(k) is not None})
    for key in keys:
        points = [(r[key], r["step"]) for r in rows if isinstance(r.get(key), float) and math.isfinite(r[key])]
        if points:
            value, step = (min if direction(key) == "min" else max)(points, key=lambda p: p[0])
            out[f"best/{key}"], out[f"best/{key}_step"] = value, step
    return out


def _main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        from actot.config import dotted_keys

        print(__doc__)
        print("keys (key=value):")
        for key, value in dotted_keys(TrainConfig()).items():
            print(f"  {key}={value}{DERIVED.get(key, '')}")
        return 0
    dry = [a for a in args if a.split("=", 1)[0] == "dry_run"]
    costs = [a for a in args if a.split("=", 1)[0] == "cost"]
    args = [a for a in args if a not in dry and a not in costs]
    dry_run = bool(dry) and parse_switch(dry[-1])
    cost = not costs or parse_switch(costs[-1])
    given = {w.split("=", 1)[0]: parse_value(w.split("=", 1)[1]) for w in args if "=" in w}
    preset_said = None
    if "policy" not in given and given.get("data.source") is not None and given.get("data.target") is not None:
        preset_said = derive_preset({k: v for k, v in given.items() if k.startswith("data.")})[1]
        if preset_said:
            args = [f"policy={REAL_DATA_PRESET}", *args]  # first: the user's policy.* keys apply on top of it
    cfg = check_run_dir(parse_cli(args))
    preflight_data(cfg, "command line")
    cfg, said = derive_data_defaults(cfg)
    for line in ([preset_said] if preset_said else []) + said:
        print(f"[train] {line}", flush=True)
    if dry_run:
        from actot.cost import measure, run_line

        print("resolved config:\n" + json.dumps(to_dict(cfg), indent=2))
        if cost:
            print(f"[train] {run_line(measure(cfg), cfg)}", flush=True)
        print(
            f"dry run: the config and the data are valid; the run would write {Path(cfg.out_dir) / cfg.name}; "
            "nothing was started" + (" (a few steps were timed for the cost line)" if cost else ""),
            flush=True,
        )
        return 0
    print(f"run folder: {Path(cfg.out_dir) / cfg.name}", flush=True)
    result = train(cfg)
    summary = ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items() if isinstance(v, float))
    plot = plot_history(result.history, result.run_dir / "curves.png", result.run_dir.name)
    print(
        f"{result.status} at step {result.step}{': ' + result.reason if result.reason else ''}\n{summary}\n"
        f"history: {result.run_dir / 'history.parquet'}; plot: {plot}"
    )
    return 0 if result.status == "finished" else 3


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
