"""Trials per hour when several trials share one GPU ("packing"), against one trial at a time.

    python -m bench.packing            # GPU: act_small and act (3 cameras), 1, 2, 4, 8 trials per GPU
    python -m bench.packing --quick    # CPU, tiny model and sim, 1 and 2 trials at once, no warm-up run: checks the script
    python -m bench.packing --per-gpu 1 4 --policies act --steps 300

Each trial is a real `python -m actot.train` process on the embedded sim (what a sweep trial
runs, minus Ray): N of them start together, each capped at 1/N of the GPU's memory
(`gpu_memory_fraction`, i.e. `torch.cuda.set_per_process_memory_fraction`) and given
cores // N CPU threads (`threads=`). Trials per hour = N * 3600 / (the wall time until the last
of the N ends); the speed-up is against N = 1, one trial at a time. Start-up (imports, data
loading, the step-0 evaluation) is counted, as a sweep pays it per trial too; the table also
shows the mean training-step time inside the trials and, on a GPU, the most memory each trial held
(nvidia-smi's per-process figure, polled every half second: the CUDA context included). Needs torch,
numpy and actot only (no Ray).

Then a projection: the wall time of a sweep of --project-trials trials of --project-steps steps on one
device, for each packing, from the measured trials (a trial's fixed cost, start-up and evaluations at
its start, plus steps x its s/step, which includes the periodic evaluations; N trials at a time, in
waves). No rollouts: a LeRobot dataset has none.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
# `act` with the embedded sim's 3 cameras at 96x128; act_small at the sim's 32x32.
POLICIES = {"act_small": ["policy=act_small"], "act": ["policy=act", "data.resolution=[96,128]", "batch_size=8"]}
TINY = [
    "policy.dim_model=32",
    "policy.n_heads=2",
    "policy.dim_feedforward=64",
    "policy.n_encoder_layers=1",
    "policy.n_vae_encoder_layers=1",
    "policy.latent_dim=8",
    "policy.backbone_width=8",
    "data.resolution=[16,16]",
    "batch_size=4",
    "ot.batch_size=8",
    "ot.window_size=2",
]
QUICK_SIM = ["data.sim.n_source=20", "data.sim.n_target=4", "data.sim.n_eval=2"]


def device_line() -> str:
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return (
            f"{props.name} ({props.total_memory / 2**30:.0f} GiB), torch {torch.__version__}, CUDA {torch.version.cuda}"
        )
    return f"CPU ({platform.processor() or platform.machine()}), torch {torch.__version__}"


def gpu_memory_by_pid() -> dict[int, float]:
    """MiB of GPU memory per process, as nvidia-smi reports it ({} without nvidia-smi)."""
    try:
        text = subprocess.run(
            ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    out = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit() and parts[1].replace(".", "").isdigit():
            out[int(parts[0])] = float(parts[1])
    return out


def run_batch(n: int, args: list[str], device: str, cores: int, steps: int, out: Path, env: dict) -> dict:
    """Start n trials at once; wait for all; return wall time, the trials' mean step time and peak GPU memory."""
    threads = max(1, cores // n)
    fraction = [f"gpu_memory_fraction={0.95 / n:.4f}"] if device == "cuda" else []
    procs = []
    start = time.perf_counter()
    for i in range(n):
        run_out = out / f"n{n}"
        cmd = [
            sys.executable,
            "-m",
            "actot.train",
            *args,
            f"device={device}",
            f"threads={threads}",
            *fraction,
            f"steps={steps}",
            f"log_every={max(1, steps // 4)}",
            f"checkpoint_every={steps}",
            "rollout_episodes=0",
            "wandb.mode=disabled",
            f"seed={i}",
            f"name=t{i}",
            f"out_dir={run_out}",
        ]
        log = open(out / f"n{n}-t{i}.log", "w")
        procs.append((subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log))
    peak: dict[int, float] = {}
    stop = threading.Event()

    def poll() -> None:  # each trial's most GPU memory while they run
        while not stop.is_set():
            for pid, mib in gpu_memory_by_pid().items():
                peak[pid] = max(peak.get(pid, 0.0), mib)
            stop.wait(0.5)

    poller = threading.Thread(target=poll, daemon=True)
    if device == "cuda":
        poller.start()
    for proc, log in procs:
        proc.wait()
        log.close()
    wall = time.perf_counter() - start
    stop.set()
    mine = [peak[p.pid] for p, _ in procs if p.pid in peak]
    failed = [i for i, (p, _) in enumerate(procs) if p.returncode != 0]
    if failed:
        tail = (out / f"n{n}-t{failed[0]}.log").read_text()[-1500:]
        raise SystemExit(
            f"packing: {len(failed)} of {n} trials failed at {n} per device; trial {failed[0]}'s log:\n{tail}"
        )
    step_s = []
    for i in range(n):
        history = out / f"n{n}" / f"t{i}" / "history.parquet"
        import pyarrow.parquet as pq

        times = [r["time/step_s"] for r in pq.read_table(history).to_pylist() if r.get("time/step_s") is not None]
        step_s.append(float(np.mean(times)) if times else float("nan"))
    return {
        "n": n,
        "wall_s": wall,
        "step_s": float(np.mean(step_s)),
        "threads": threads,
        "steps": steps,
        "fraction": 0.95 / n if device == "cuda" else None,
        "gpu_mib": max(mine) if mine else None,
    }


def projection(rows: list[dict], trials: int, steps_list: list[int]) -> list[str]:
    """Markdown rows: hours for `trials` trials of each of `steps_list` steps on one device, per packing."""
    lines = [
        "| policy | trials per device | " + " | ".join(f"{s} steps: h for {trials} trials" for s in steps_list) + " |",
        "|---|---|" + "---|" * len(steps_list),
    ]
    for row in rows:
        fixed = max(0.0, row["wall_s"] - row["steps"] * row["step_s"])  # start-up, step-0 evaluation, the end
        waves = -(-trials // row["n"])
        cells = " | ".join(f"{waves * (fixed + s * row['step_s']) / 3600:.2f}" for s in steps_list)
        lines.append(f"| {row['policy']} | {row['n']} | {cells} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CPU, tiny model and sim, 1 and 2 trials at once")
    parser.add_argument("--per-gpu", type=int, nargs="+", help="trials at once per device (default 1 2 4 8)")
    parser.add_argument("--policies", nargs="+", choices=sorted(POLICIES), help="default: act_small act")
    parser.add_argument("--steps", type=int, help="training steps per trial (default 150 on GPU, 10 with --quick)")
    parser.add_argument("--cores", type=int, default=os.cpu_count(), help="CPU cores shared by the trials")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--project-trials", type=int, default=100, help="the projected sweep's trials (default 100)")
    parser.add_argument(
        "--project-steps",
        type=int,
        nargs="+",
        default=[1000, 1600],
        help="the projected trials' steps (default 1000 1600: the seed's scale)",
    )
    opts = parser.parse_args(argv)

    device = "cpu" if opts.quick or not torch.cuda.is_available() else "cuda"
    per_gpu = opts.per_gpu or ([1, 2] if opts.quick else [1, 2, 4, 8])
    policies = opts.policies or ["act_small", "act"]
    steps = opts.steps or (10 if opts.quick else 150)
    print(
        f"packing benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}: {device_line()}; device={device}, "
        f"{opts.cores} CPU cores, {steps} steps per trial{' (--quick: tiny model and sim)' if opts.quick else ''}",
        flush=True,
    )
    if device == "cpu" and not opts.quick:
        print("no CUDA device here: the figures below are CPU figures, not GPU packing", flush=True)

    out = Path(tempfile.mkdtemp(prefix="actot-packing-"))
    env = {
        **os.environ,
        "ACTOT_CACHE": os.environ.get("ACTOT_CACHE", str(out / "cache")),
        "WANDB_MODE": "disabled",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    rows = []
    try:
        for policy in policies:
            args = POLICIES[policy] + (TINY + QUICK_SIM if opts.quick else [])
            if not opts.quick:  # generate the sim (and warm the frame cache) once, outside the timings
                warm = out / f"warm-{policy}"
                warm.mkdir()
                run_batch(1, args, device, opts.cores, 1, warm, env)
            for n in per_gpu:
                (out / policy).mkdir(exist_ok=True)
                row = run_batch(n, args, device, opts.cores, steps, out / policy, env)
                row.update(policy=policy, per_hour=n * 3600.0 / row["wall_s"])
                rows.append(row)
                print(
                    f"  {policy}: {n} at once: {row['wall_s']:.1f} s wall, {row['per_hour']:.0f} trials/h", flush=True
                )
    finally:
        shutil.rmtree(out, ignore_errors=True)

    print()
    print(
        "| policy | trials per device | CPU threads each | GPU memory cap each | GPU memory used each (GiB, peak) | wall s | step s (mean) | trials/h | vs one at a time |"
    )  # noqa: E501
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        base = next(r for r in rows if r["policy"] == row["policy"] and r["n"] == min(per_gpu))
        cap = f"{row['fraction']:.2f}" if row["fraction"] else "-"
        used = f"{row['gpu_mib'] / 1024:.2f}" if row.get("gpu_mib") else "-"
        print(
            f"| {row['policy']} | {row['n']} | {row['threads']} | {cap} | {used} | {row['wall_s']:.1f} | "
            f"{row['step_s']:.4f} | {row['per_hour']:.0f} | {row['per_hour'] / base['per_hour']:.2f}x |"
        )
    print(
        f"\nProjected: {opts.project_trials} trials on one {'GPU' if device == 'cuda' else 'CPU'}, each packing "
        f"(from the {steps}-step trials above; no rollouts, as on LeRobot data)\n"
    )
    print("\n".join(projection(rows, opts.project_trials, opts.project_steps)))
    if opts.json:
        opts.json.write_text(
            json.dumps({"device": device_line(), "date": time.strftime("%Y-%m-%d"), "rows": rows}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
