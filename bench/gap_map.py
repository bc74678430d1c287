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

from pathlib import Path

import numpy as np

from bench.runs import final, mean_ci, read_rows, run_jobs, study_common, study_job, study_main, study_parser
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
    common = study_common(args)
    # Seeds outermost: a map cut short has every cell on its first seeds.
    return [
        study_job(
            args,
            common,
            "map",
            cell_name(cell),
            {**COTRAIN, "data.sim.appearance": cell[0], "data.sim.geometry": cell[1]},
            seed,
        )
        for seed in range(args.seeds)
        for cell in cells()
    ]


def summarise(rows: list[dict]) -> dict[str, dict]:
    """cell name -> {metric: (mean, half-width, SD) over its finished seeds, 'seeds': [...]}."""
    by: dict[str, list[dict]] = {}
    for row in rows:
        if row["status"] == "finished":
            by.setdefault(row["name"], []).append(row)
    summary = {}
    for name, runs in by.items():
        summary[name] = {key: mean_ci([final(r, key) for r in runs if final(r, key) is not None]) for key in SHOWN}
        summary[name]["seeds"] = sorted(r["seed"] for r in runs)
    return summary


def room(summary: dict[str, dict], cell: tuple[float, float]) -> tuple[float, bool]:
    """(the ceiling's uncovered success minus the cell's, whether the cell has room: that much >= ROOM with its
    covered half learnt)."""
    ceiling, s = summary[cell_name(CEILING)], summary[cell_name(cell)]
    gap = ceiling["eval/success_uncovered"][0] - s["eval/success_uncovered"][0]
    return gap, bool(gap >= ROOM and s["eval/success_covered"][0] >= LEARNT)


def chosen_cells(summary: dict[str, dict]) -> tuple[list[tuple[float, float]], str]:
    """The two cells deliverable 3 runs, by the rule pre-registered in bench/RESULTS.md, and which branch of it
    chose them: among cells with room, the appearance-only one (geometry 0) with the most room, then the one with
    the most room among the rest; with no appearance-only cell with room, the two with the most room; with no
    cell with room at all, the one with the most room (said so)."""
    measured = [c for c in cells() if c != CEILING and cell_name(c) in summary]
    by_room = sorted(measured, key=lambda c: -room(summary, c)[0])
    roomy = [c for c in by_room if room(summary, c)[1]]
    if not roomy:
        return by_room[:1], "no cell has room: the cell with the most room, named as such"
    appearance_only = [c for c in roomy if c[1] == 0]
    if not appearance_only:
        return roomy[:2], "no appearance-only cell has room: the two cells with the most room"
    first = appearance_only[0]
    return [first, *[c for c in roomy if c != first][:1]], "the appearance-only cell with the most room, then the next"


def analyse(args) -> None:
    summary = summarise(read_rows(args.file))
    has_ceiling = cell_name(CEILING) in summary
    print(f"co-training's closed-loop success per cell: mean over seeds, +- the 95% t half-width ({args.file})")
    table = []
    for cell in cells():
        s = summary.get(cell_name(cell))
        if s is None:
            continue
        gap, has_room = room(summary, cell) if has_ceiling else (float("nan"), False)
        table.append(
            [
                f"{cell[0]:g}",
                f"{cell[1]:g}",
                ",".join(map(str, s["seeds"])),
                *(_cell(s[key]) for key in SHOWN),
                f"{gap:+.2f}",
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
    if has_ceiling and len(summary) > 1:
        chosen, why = chosen_cells(summary)
        print(f"cells for the arms (bench.gap_arms): {', '.join(cell_name(c) for c in chosen)} ({why})")


def _cell(stats: tuple[float, float, float]) -> str:
    mean, half, _ = stats
    return f"{mean:.2f}" if not np.isfinite(half) else f"{mean:.2f} +- {half:.2f}"


def run(args) -> None:
    if args.quick:
        args.seeds, args.rollouts = 1, 4
    run_jobs(jobs_for(args), Path(args.out), args.jobs)


def main(argv=None) -> int:
    parser, _, _ = study_parser(__doc__, runs_dir="runs/gap_map", seeds=3)
    return study_main(parser, argv, run, analyse)


if __name__ == "__main__":
    raise SystemExit(main())
