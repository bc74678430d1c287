"""Where a sweep trial's wall time goes: the training steps against everything else, alone and two at once, and Ray's part.

    python -m bench.trial_profile                    # CPU: the default sweep's trial (sweeps/local.yaml, 1,500 steps)
    python -m bench.trial_profile --steps 300        # 300 steps, extrapolated to the sweep's 1,500 (said in the table)
    python -m bench.trial_profile --device cuda      # the same on a GPU (each section synchronised: profiling only)
    python -m bench.trial_profile --quick            # tiny model and sim, a few steps: checks the script (a test runs it)

The trial is the default sweep's (`python run_sweep.py space=ot_reg`): its first starting point, the
sweep file's training keys (steps, log_every, rollout_episodes), one CPU thread per trial as the sweep
gives it, W&B as the sweep leaves it (mode auto). Each trial runs `actot.train.train` in a fresh
process with `laps` on (actot/profiling.py: the loop's own timing sections, not a copy of the loop),
first alone, then two at once (the default sweep runs two at a time on two cores). Process start-up
(imports) is counted, as a trial pays it too. Ray's part: the same trial(s) through a real Tune run
(`actot.sweep.tuner.build_tuner` over `actot.sweep.trainable.run_trial`, as a sweep builds it, with its
checkpoints), against the direct processes; `ray.init` is shown apart (a sweep pays it once, for all its
trials). With --steps below the sweep's, per-step sections are scaled by steps, per-log sections by the
number of log steps, and the rest (start-up, step-0 evaluation, rollouts at the end, Ray) kept as measured.

Run it on an idle machine. Ray starts its workers at nice 15, so any other load starves the trial through Tune, but
not the direct one, and Ray's row then measures the load. Measured with a two-process study at nice 5 beside it
(2026-12-07, 2 cores, --quick): the Tune run took 71.6 s against 6.1 s idle, with the direct trial at 5.0 s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import tempfile
import time
from pathlib import Path

PER_STEP = ("sample", "forward", "ot", "backward", "optimiser", "metrics")
PER_LOG = ("eval_l1", "logging", "checkpoint", "report")
# The table's rows: (label, sections). "imports" is the fresh process's import of torch and actot.
ROWS = [
    ("training: forward (ACT on the BC rows, L_bc)", ("forward",)),
    ("training: OT (OT rows' encoder, cost, plan, L_ot)", ("ot",)),
    ("training: backward", ("backward",)),
    ("training: optimiser (clip, AdamW, EMA)", ("optimiser",)),
    ("batch sampling and decoding", ("sample",)),
    ("metrics (window sums, read-back)", ("metrics",)),
    ("offline L1 evaluation (every log step, and step 0)", ("eval_l1", "baseline")),
    ("closed-loop rollouts (target + source)", ("rollouts",)),
    ("checkpoints", ("checkpoint",)),
    ("logging (W&B start and finish, history, summary)", ("log_start", "logging", "finish")),
    ("start-up (imports, data, model)", ("imports", "setup")),
]
TRAINING = ("forward", "ot", "backward", "optimiser")
QUICK = {"steps": 20, "log_every": 10, "rollout_episodes": 4, "checkpoint_every": 10}


def trial_overrides(quick: bool, steps: int | None, device: str) -> tuple[dict, int]:
    """The default sweep's first trial as training overrides, and the sweep's own number of steps."""
    from actot.sweep.config import load_sweep
    from actot.sweep.space import load_space

    space = load_space("ot_reg")
    sweep = load_sweep("local")[0]
    base = {
        **space.fixed,
        **space.to_overrides(space.starting_points[0]),
        **sweep.train,
        "threads": max(1, int(sweep.resources.cpu)),
        "device": device,
        "seed": sweep.seed,
    }
    target_steps = base["steps"]
    if quick:
        from bench.runs import TINY

        base.update(TINY)
        base.update(QUICK)
        target_steps = base["steps"]
    if steps:
        base["steps"] = steps
    return base, target_steps


def profile_one(job: dict) -> dict:
    """In a fresh process: import, train with laps on, return the seconds per section."""
    start = time.perf_counter()
    import torch

    from actot.config import TrainConfig, apply_overrides
    from actot.profiling import Laps
    from actot.train import train

    imports = time.perf_counter() - start
    torch.set_num_threads(job["overrides"]["threads"])
    cfg = apply_overrides(TrainConfig(), {**job["overrides"], "out_dir": job["out_dir"], "name": job["name"]})
    laps = Laps(cfg.device if cfg.device != "auto" else None)
    begun = time.perf_counter()
    result = train(cfg, progress=False, laps=laps)
    wall = time.perf_counter() - begun
    seconds = dict(laps.seconds, imports=imports)
    seconds["other"] = max(0.0, wall - laps.total())
    memory = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    return {
        "name": job["name"],
        "status": result.status,
        "steps": result.step,
        "wall": wall + imports,
        "seconds": seconds,
        "gpu_gib": memory,
    }


def run_direct(base: dict, n: int, out: Path) -> list[dict]:
    """n trials at once, each in its own spawned process (seeds differ, as a sweep's trials' draws do)."""
    share = {"gpu_memory_fraction": 0.95 / n} if base["device"] != "cpu" else {}  # as the Ray run caps them
    jobs = [
        {"overrides": {**base, **share, "seed": base["seed"] + i}, "out_dir": str(out / f"direct{n}"), "name": f"t{i}"}
        for i in range(n)
    ]
    with mp.get_context("spawn").Pool(n) as pool:
        rows = pool.map(profile_one, jobs)
    bad = [r for r in rows if r["status"] != "finished"]
    if bad:
        raise SystemExit(f"trial_profile: trial {bad[0]['name']} ended {bad[0]['status']} at step {bad[0]['steps']}")
    return rows


def run_ray(base: dict, n: int, out: Path) -> dict:
    """n trials through a Tune run as a sweep builds it (n at once); the Tuner's wall time and ray.init's."""
    start = time.perf_counter()
    import ray
    from ray import tune

    from actot.rules import parse_rules
    from actot.sweep.config import load_sweep
    from actot.sweep.space import load_space
    from actot.sweep.trainable import TrialSetup
    from actot.sweep.tuner import build_tuner, init_ray

    imports = time.perf_counter() - start
    sweep = load_sweep("local")[0]
    sweep.max_concurrent = n
    if base["device"] != "cpu":  # n trials share the one GPU, each with its share of the memory (as a sweep would)
        sweep.resources.gpu = 1.0 / n
        base = {**base, "gpu_memory_fraction": 0.95 / n}
    sweep.metric, sweep.mode = (
        "eval/avg_l1",
        "min",
    )  # the sweep's `auto`, resolved as its pre-flight would on LeRobot data
    space = load_space("ot_reg")
    knobs = dict(space.starting_points[0])
    overrides = {k: v for k, v in base.items() if k not in knobs}
    (out / "ray_trials").mkdir(parents=True, exist_ok=True)
    setup = TrialSetup(
        space=space,
        base_overrides=overrides,
        rules=parse_rules(sweep.rules, "sweep: rules"),
        sweep_name="profile",
        trials_dir=out / "ray_trials",
        metric="eval/avg_l1",
    )
    start = time.perf_counter()
    init_ray(sweep)
    ray_init = time.perf_counter() - start
    try:
        # n copies of the first starting point (the metric only orders trials; no searcher is needed here)
        first = next(iter(knobs))
        param_space = {**knobs, first: tune.grid_search([knobs[first]] * n)}
        tuner = build_tuner(
            sweep,
            setup,
            name=f"profile{n}",
            storage_path=str(out / "ray_storage"),
            callbacks=[],
            search_alg=None,
            scheduler=None,
            num_samples=1,
            max_failures=0,
            param_space=param_space,
            restore=False,
        )
        start = time.perf_counter()
        grid = tuner.fit()
        fit = time.perf_counter() - start
        errors = [r.error for r in grid if r.error is not None]
        if errors:
            raise SystemExit(f"trial_profile: a trial failed under Ray: {str(errors[0]).splitlines()[-1]}")
    finally:
        ray.shutdown()
    return {"n": n, "imports": imports, "ray_init": ray_init, "fit": fit}


def extrapolate(seconds: dict, steps: int, target: int, log_every: int) -> dict:
    """Seconds per section for a `target`-step trial from a `steps`-step one (see the module docstring)."""
    if steps == target:
        return dict(seconds)
    logs, target_logs = max(1, steps // log_every), max(1, target // log_every)
    out = {}
    for name, value in seconds.items():
        if name in PER_STEP:
            out[name] = value * target / steps
        elif name in PER_LOG:
            out[name] = value * target_logs / logs
        else:
            out[name] = value
    return out


def mean_seconds(rows: list[dict], steps: int, target: int, log_every: int) -> dict:
    scaled = [extrapolate(r["seconds"], steps, target, log_every) for r in rows]
    return {k: sum(s.get(k, 0.0) for s in scaled) / len(scaled) for k in {k for s in scaled for k in s}}


def share_table(columns: list[tuple[str, dict, float | None]]) -> list[str]:
    """Markdown rows: seconds and share of each part, per column (label, seconds per section, Ray's seconds)."""
    walls = [sum(s.values()) + (ray or 0.0) for _, s, ray in columns]
    head = " | ".join(f"{label}: s | share" for label, _, _ in columns)
    lines = [f"| part | {head} |", "|---|" + "---|---|" * len(columns)]

    def row(label: str, values: list[float], bold: bool = False) -> str:
        cells = " | ".join(f"{v:.1f} | {100 * v / w:.1f}%" for v, w in zip(values, walls))
        return f"| **{label}** | {cells} |" if bold else f"| {label} | {cells} |"

    for label, names in ROWS:
        lines.append(row(label, [sum(s.get(n, 0.0) for n in names) for _, s, _ in columns]))
    lines.append(row("other (the loop's own lines)", [s.get("other", 0.0) for _, s, _ in columns]))
    if any(ray is not None for _, _, ray in columns):
        lines.append(row("Ray (the trial through Tune, less the trial alone)", [ray or 0.0 for _, _, ray in columns]))
    training = [sum(s.get(n, 0.0) for n in TRAINING) for _, s, _ in columns]
    lines.append(row("training steps", training, True))
    lines.append(row("outside training steps", [w - t for w, t in zip(walls, training)], True))
    lines.append(row("wall time per trial", walls, True))
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help="steps to run (default: the sweep's 1,500); fewer are extrapolated")
    parser.add_argument("--device", default="cpu", help="cpu (the default sweep's), cuda or auto")
    parser.add_argument("--concurrent", type=int, nargs="+", default=[1, 2], help="trials at once (default 1 2)")
    parser.add_argument("--no-ray", action="store_true", help="skip the runs through Ray Tune")
    parser.add_argument("--quick", action="store_true", help="tiny model and sim, a few steps: checks the script")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra training keys for every trial")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args(argv)

    from actot.config import TrainConfig, apply_overrides, parse_value
    from actot.run_data import load_data

    base, target = trial_overrides(args.quick, args.steps, args.device)
    base.update({w.split("=", 1)[0]: parse_value(w.split("=", 1)[1]) for w in args.set})
    cfg = apply_overrides(TrainConfig(), base)
    steps, log_every = cfg.steps, cfg.log_every
    load_data(cfg)  # generate the sim and decode its frames into the cache once, outside the timings
    out = Path(tempfile.mkdtemp(prefix="actot-trial-profile-"))
    said = f"{steps} steps" + (f", extrapolated to {target}" if steps != target else "")
    print(
        f"trial profile, {time.strftime('%Y-%m-%d %H:%M')}: the default sweep's trial (ot_reg, first starting point), "
        f"{said}, log_every {log_every}, {cfg.rollout_episodes} rollout episodes per domain, device {args.device}, "
        f"{cfg.threads} thread(s) per trial{' (--quick: tiny model and sim)' if args.quick else ''}",
        flush=True,
    )
    record = {"steps": steps, "target_steps": target, "device": args.device, "quick": args.quick, "columns": []}
    columns = []
    try:
        for n in args.concurrent:
            rows = run_direct(base, n, out)
            seconds = mean_seconds(rows, steps, target, log_every)
            ray = None
            if not args.no_ray:
                through = run_ray(base, n, out)
                direct_wall = max(r["wall"] for r in rows)  # both runs end with their last trial
                # Ray's extra time per trial: the Tune run's wall against the direct processes' (n at once in both),
                # as measured (not extrapolated: part of it is per report, part per trial).
                ray = max(0.0, through["fit"] - direct_wall)
                print(
                    f"  {n} at once through Ray: ray.init {through['ray_init']:.1f} s (once per sweep), Tune run "
                    f"{through['fit']:.1f} s against {direct_wall:.1f} s direct",
                    flush=True,
                )
                record.setdefault("ray", []).append({**through, "direct_wall": direct_wall})
            label = "alone" if n == 1 else f"{n} at once (per trial)"
            columns.append((label, seconds, ray))
            record["columns"].append({"n": n, "seconds": seconds, "ray": ray, "rows": rows})
            print(
                f"  {n} at once: {max(r['wall'] for r in rows):.1f} s wall, {sum(seconds.values()):.1f} s per trial "
                f"{'(extrapolated)' if steps != target else ''}",
                flush=True,
            )
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print()
    print("\n".join(share_table(columns)))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
