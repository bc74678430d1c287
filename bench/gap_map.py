"""Where does co-training leave room? Its closed-loop success over the sim's two gap knobs (issue 32, deliverable 2).

    python -m bench.gap_map run --out bench/data/gap_map.jsonl --jobs 2
    python -m bench.gap_map analyse bench/data/gap_map.jsonl
    python -m bench.gap_map run --quick --out /tmp/g.jsonl && python -m bench.gap_map analyse /tmp/g.jsonl

The embedded sim's target differs from its source in appearance (colours, texture, per-frame noise, blur:
`data.sim.appearance`) and in the static cameras' geometry (rotated and moved: `data.sim.geometry`), both in units
of the default's `shift` (2.0 is today's default for both). Co-training (`ot.lambda_ot=0`) at today's training
defaults runs on a grid of the two, --seeds seeds a cell, and once with no gap at all (appearance 0, geometry 0:
the ceiling). A cell has room for alignment where co-training's success on the uncovered half (goals no target
demo reaches) is at least ROOM below the ceiling's while the covered half is learnt (success >= LEARNT there):
the place to try OT (deliverable 3). The pre-registration is in bench/RESULTS.md (session 10).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.runs import TINY, final, mean_ci, read_rows, run_jobs
from bench.tables import text_table

APPEARANCE = (1.0, 2.0, 3.0)
GEOMETRY = (0.0, 1.0, 2.0)
CEILING = (0.0, 0.0)
COTRAIN = {"ot.lambda_ot": 0.0}
ROOM, LEARNT = 0.3, 0.5
SHOWN = ("eval/success", "eval/success_covered", "eval/success_uncovered", "eval/success_source")


def cells() -> list[tuple[float, float]]:
    """The ceiling first (every cell's reference), then the grid, appearance-only cells first."""
    grid = sorted(((a, g) for a in APPEARANCE for g in GEOMETRY), key=lambda c: (c[1], c[0]))
    return [CEILING, *grid]


def cell_name(cell: tuple[float, float]) -> str:
    return f"app{cell[0]:g}-geo{cell[1]:g}"


def jobs_for(args) -> list[dict]:
    common = {
        "steps": args.steps,
        "log_every": args.log_every,
        "rollout_episodes": args.rollouts,
        "threads": 1,
        **(TINY if args.quick else {}),
    }
    if args.quick:
        common.update({"steps": 6, "log_every": 2})
    out_dir = str(Path(args.runs_dir).resolve())
    # Seeds outermost: a map cut short has every cell on its first seeds.
    return [
        {
            "id": f"map/{cell_name(cell)}/s{seed}",
            "group": "map",
            "name": cell_name(cell),
            "overrides": {**COTRAIN, "data.sim.appearance": cell[0], "data.sim.geometry": cell[1]},
            "seed": seed,
            "common": common,
            "out_dir": out_dir,
        }
        for seed in range(args.seeds)
        for cell in cells()
    ]


def analyse(args) -> None:
    rows = [r for r in read_rows(args.file) if r["status"] == "finished"]
    by: dict[str, list[dict]] = {}
    for row in rows:
        by.setdefault(row["name"], []).append(row)
    summary = {}
    for name, runs in by.items():
        summary[name] = {key: mean_ci([final(r, key) for r in runs if final(r, key) is not None]) for key in SHOWN}
        summary[name]["seeds"] = sorted(r["seed"] for r in runs)
    ceiling = summary.get(cell_name(CEILING))
    print(f"co-training's closed-loop success per cell: mean over seeds, +- the 95% t half-width ({args.file})")
    table = []
    for cell in cells():
        s = summary.get(cell_name(cell))
        if s is None:
            continue
        room = ceiling["eval/success_uncovered"][0] - s["eval/success_uncovered"][0] if ceiling else float("nan")
        has_room = room >= ROOM and s["eval/success_covered"][0] >= LEARNT
        table.append(
            [
                f"{cell[0]:g}",
                f"{cell[1]:g}",
                ",".join(map(str, s["seeds"])),
                *(_cell(s[key]) for key in SHOWN),
                f"{room:+.2f}",
                "yes" if has_room else "no",
            ]
        )
    print(
        text_table(
            [
                "appearance",
                "geometry",
                "seeds",
                "success",
                "covered",
                "uncovered",
                "source",
                "room (ceiling - uncovered)",
                f"room >= {ROOM} and covered >= {LEARNT}",
            ],
            table,
        )
    )


def _cell(stats: tuple[float, float, float]) -> str:
    mean, half, _ = stats
    return f"{mean:.2f}" if not np.isfinite(half) else f"{mean:.2f} +- {half:.2f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", required=True)
    r.add_argument("--seeds", type=int, default=3)
    r.add_argument("--steps", type=int, default=1500)
    r.add_argument("--log-every", type=int, default=100)
    r.add_argument("--rollouts", type=int, default=100)
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--runs-dir", default="runs/gap_map")
    r.add_argument("--quick", action="store_true", help="CI-sized: tiny model and data, a few steps")
    a = sub.add_parser("analyse")
    a.add_argument("file")
    args = parser.parse_args(argv)
    if args.command == "analyse":
        analyse(args)
        return 0
    if args.quick:
        args.seeds, args.rollouts = 1, 4
    started = time.perf_counter()
    run_jobs(jobs_for(args), Path(args.out), args.jobs)
    print(f"done in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
