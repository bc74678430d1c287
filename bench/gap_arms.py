"""Can alignment fill the room co-training leaves? OT, and OT with perfect pairs, against co-training in the gap
map's chosen cells (issue 32, deliverable 3).

    python -m bench.gap_arms run --map bench/data/gap_map.jsonl --out bench/data/gap_arms.jsonl --jobs 2
    python -m bench.gap_arms run --map bench/data/gap_map.jsonl --out bench/data/gap_arms.jsonl --seeds 10
    python -m bench.gap_arms analyse bench/data/gap_arms.jsonl --probe
    python -m bench.gap_arms run --quick --cells 2,0 --out /tmp/a.jsonl && python -m bench.gap_arms analyse /tmp/a.jsonl

The cells are the two `bench.gap_map`'s `chosen_cells` picks from the finished map (--map), by the rule written in
bench/RESULTS.md before the map ran, or --cells A,G [A,G]. In each cell, on the same training seeds, at today's
training defaults: `cotrain` (co-training, `ot.lambda_ot=0`), `OT` (today's default OT: what a user gets),
`twins-cotrain` and `OT-oracle` (the cell's twin sim, `data.sim.twins=true`, where every target demo restarts a
source demo's layout; the oracle draws each target demo's partner from its true twin only). Each OT arm is read
against the co-training on its own sim, per seed.

Seeds: `run` trains seeds 0-4 of every arm; with --seeds 10 it adds seeds 5-9 only for an OT arm whose first 5 lead
(mean paired difference on the uncovered half above 0) and its co-training: the pre-registered extension. One JSON
line per finished run is appended to --out (a second `run` skips what is there). `analyse` prints per cell and arm
success (overall, covered, uncovered), each OT arm's paired difference with its 95% t-interval, and with --probe the
goal probe (median goal error on the uncovered half's target frames, success radii) and the pair ratio (pairs
against strangers in the unit-length cost space, on the true twins on the twin sim: co-training's is what encoding
alone does).
"""

from __future__ import annotations

from pathlib import Path

from bench.gap_map import cell_name, chosen_cells, summarise
from bench.runs import final, mean_ci, read_rows, run_jobs, study_common, study_job, study_main, study_parser
from bench.tables import text_table

COTRAIN = {"ot.lambda_ot": 0.0}
TWINS = {"data.sim.twins": True}
# arm -> (overrides, pairing, the co-training it is read against)
ARMS = {
    "cotrain": (COTRAIN, "dtw", None),
    "OT": ({}, "dtw", "cotrain"),
    "twins-cotrain": ({**TWINS, **COTRAIN}, "dtw", None),
    "OT-oracle": (TWINS, "oracle", "twins-cotrain"),
}
FIRST_SEEDS = 5
KEYS = ("eval/success", "eval/success_covered", "eval/success_uncovered")
WIN = 0.10  # the bar of deliverable 4 on the uncovered half (with the interval above 0, 10 seeds)


def run_arm(job: dict) -> dict:
    """One run; the oracle arm first sets the process's cached pairing to the true twins, and a DTW arm after it
    sets DTW's back (the datasets stay cached from one job to the next)."""
    from bench.twins_oracle import run_with_pairing

    return run_with_pairing(job)


def cells_for(args) -> list[tuple[float, float]]:
    if args.cells:
        return [tuple(float(v) for v in c.split(",")) for c in args.cells]
    if not args.map:
        raise SystemExit("gap_arms: name the finished map (--map FILE) or the cells (--cells A,G ...)")
    chosen, why = chosen_cells(summarise(read_rows(args.map)))
    print(f"cells from {args.map}: {', '.join(cell_name(c) for c in chosen)} ({why})")
    return chosen


def paired(rows: list[dict], cell: str, arm: str, key: str, seeds=None) -> list[float]:
    """Per seed (both runs finished), the arm's final value minus its co-training's."""
    base = ARMS[arm][2]
    by = {(r["name"], r["seed"]): final(r, key) for r in rows if r["group"] == cell and r["status"] == "finished"}
    shared = sorted(s for (a, s) in by if a == arm and (base, s) in by and (seeds is None or s in seeds))
    return [by[(arm, s)] - by[(base, s)] for s in shared if by[(arm, s)] is not None and by[(base, s)] is not None]


def leading(rows: list[dict], cell: str) -> list[str]:
    """The OT arms whose paired uncovered difference over seeds 0-4 (all five finished) is above 0."""
    out = []
    for arm, (_, _, base) in ARMS.items():
        diffs = paired(rows, cell, arm, "eval/success_uncovered", range(FIRST_SEEDS)) if base else []
        if len(diffs) == FIRST_SEEDS and sum(diffs) / len(diffs) > 0:
            out += [base, arm]
    return out


def jobs_for(args, cells, rows) -> list[dict]:
    common = study_common(args)

    def job(cell, arm, seed):
        overrides, pairing, _ = ARMS[arm]
        cell_overrides = {**overrides, "data.sim.appearance": cell[0], "data.sim.geometry": cell[1]}
        return study_job(args, common, cell_name(cell), arm, cell_overrides, seed, pairing=pairing)

    first = [job(cell, arm, seed) for cell in cells for seed in range(min(args.seeds, FIRST_SEEDS)) for arm in ARMS]
    more = [
        job(cell, arm, seed)
        for cell in cells
        for seed in range(FIRST_SEEDS, args.seeds)
        for arm in leading(rows, cell_name(cell))
    ]
    return first + more


def run(args) -> None:
    if args.quick:
        args.seeds, args.rollouts = min(args.seeds, 2), 4
    cells = cells_for(args)
    out = Path(args.out)
    rows = read_rows(out) if out.exists() else []
    if args.seeds > FIRST_SEEDS:
        for cell in cells:
            print(f"{cell_name(cell)}: arms leading on seeds 0-4, extended: {leading(rows, cell_name(cell)) or 'none'}")
    run_jobs(jobs_for(args, cells, rows), out, args.jobs, shown="eval/success_uncovered", runner=run_arm)


def _show(values: list[float], signed: bool = False) -> str:
    if not values:
        return "-"
    mean, half, _ = mean_ci(values)
    form = "+.3f" if signed else ".3f"
    if half != half:
        return format(mean, form)
    return f"{mean:{form}} [{mean - half:+.2f}, {mean + half:+.2f}]" if signed else f"{mean:.3f} +- {half:.2f}"


def analyse(args) -> None:
    rows = [r for r in read_rows(args.file) if r["status"] == "finished"]
    probes, pairs = {}, {}
    if args.probe:
        from bench.transfer_study import cached_probe

        for r in rows:
            run_dir = Path(args.runs_dir) / r["id"]
            probes[r["id"]] = cached_probe(run_dir)
            pairs[r["id"]] = cached_probe(run_dir, "pair_ratio", oracle=bool(r["overrides"].get("data.sim.twins")))
    print(
        f"{args.file}: final success (EMA weights, 100 fixed rollouts), mean +- the 95% t half-width over seeds; "
        f"diff = the OT arm - its co-training per seed, mean [95% t-interval]"
    )
    for cell in dict.fromkeys(r["group"] for r in rows):
        mine = [r for r in rows if r["group"] == cell]
        table = []
        for arm, (_, _, base) in ARMS.items():
            runs = sorted((r for r in mine if r["name"] == arm), key=lambda r: r["seed"])
            if not runs:
                continue
            diffs = {key: paired(mine, cell, arm, key) for key in KEYS} if base else {}
            probe = [probes[r["id"]]["target"] for r in runs if probes.get(r["id"])]
            ratio = [pairs[r["id"]]["unit"] for r in runs if pairs.get(r["id"])]
            table.append(
                [
                    arm,
                    ",".join(str(r["seed"]) for r in runs),
                    *(_show([final(r, k) for r in runs if final(r, k) is not None]) for k in KEYS),
                    _show(diffs.get("eval/success_uncovered", []), signed=True) if base else "",
                    _show(diffs.get("eval/success", []), signed=True) if base else "",
                    " ".join(f"{d:+.2f}" for d in diffs.get("eval/success_uncovered", [])),
                    f"{sum(probe) / len(probe):.2f}" if probe else "-",
                    f"{sum(ratio) / len(ratio):.3f}" if ratio else "-",
                ]
            )
        print(f"\n{cell}")
        print(
            text_table(
                [
                    "arm",
                    "seeds",
                    "success",
                    "covered",
                    "uncovered",
                    "diff uncovered",
                    "diff overall",
                    "per seed (uncovered)",
                    "goal probe (uncovered)",
                    "pair ratio (unit)",
                ],
                table,
            )
        )
        for arm, (_, _, base) in ARMS.items():
            diffs = paired(mine, cell, arm, "eval/success_uncovered") if base else []
            if len(diffs) >= 2:
                mean, half, _ = mean_ci(diffs)
                wins = len(diffs) >= 10 and mean >= WIN and mean - half > 0
                print(
                    f"{arm} vs {base}, {len(diffs)} seeds: {'meets' if wins else 'does not meet'} the win bar "
                    f"(>= +{WIN:.2f} on the uncovered half, interval above 0, 10 seeds)"
                )


def main(argv=None) -> int:
    parser, run_args, analyse_args = study_parser(__doc__, runs_dir="runs/gap_arms", seeds=FIRST_SEEDS)
    run_args.add_argument("--map", help="the finished gap map (bench.gap_map's file): its chosen cells")
    run_args.add_argument("--cells", nargs="+", help="cells as APPEARANCE,GEOMETRY instead of the map's choice")
    analyse_args.add_argument("--probe", action="store_true", help="the goal probe and pair ratio of each run")
    analyse_args.add_argument("--runs-dir", default="runs/gap_arms")
    return study_main(parser, argv, run, analyse)


if __name__ == "__main__":
    raise SystemExit(main())
