"""Does `ot_rows=bc` learn as well as the method's separate OT rows? The default sweep's trial, both ways, a few seeds.

    python -m bench.ot_rows --seeds 2 --jobs 2 --out bench/data/ot_rows_cpu.jsonl   # then the table is printed
    python -m bench.ot_rows --quick --out /tmp/ot_rows.jsonl                          # tiny model and sim: checks the script

The trial is the default sweep's first starting point (`ot_reg`: banded prior, reg 2, tau 10) with the
sweep file's training keys (1,500 steps, closed-loop success over 100 fixed episodes at the end).
`separate`: the method's 32 OT pairs of their own through the image encoder; `bc`: `ot_rows=bc` with as
many pairs as the 16 BC rows hold (8), their embeddings from the BC pass. Same seeds for both, so the
per-seed difference is paired. Runs already in --out are not run again.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ARMS = {"separate": {}, "bc": {"ot_rows": "bc", "ot.batch_size": 8}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs-dir", default="/tmp/actot-ot-rows")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)

    from actot.sweep.config import load_sweep
    from actot.sweep.space import load_space
    from bench.runs import TINY, final, run_jobs

    space = load_space("ot_reg")
    common = {**space.fixed, **space.to_overrides(space.starting_points[0]), **load_sweep("local")[0].train}
    arms = dict(ARMS)
    if args.quick:
        common.update(TINY, steps=20, log_every=10, rollout_episodes=4)
        arms["bc"] = {"ot_rows": "bc", "ot.batch_size": 2}
    jobs = [
        {
            "id": f"{arm}-s{seed}",
            "group": "ot_rows",
            "name": arm,
            "overrides": change,
            "seed": seed,
            "common": common,
            "out_dir": args.runs_dir,
        }
        for arm, change in arms.items()
        for seed in range(args.seeds)
    ]
    run_jobs(jobs, args.out, args.jobs)
    rows = {json.loads(line)["id"]: json.loads(line) for line in args.out.read_text().splitlines()}
    keys = ("eval/success", "eval/success_covered", "eval/success_uncovered", "eval/success_source", "eval/avg_l1")
    print(f"\n| ot_rows | seeds | {' | '.join(keys)} | s/run |\n|---|---|" + "---|" * (len(keys) + 1))
    for arm in arms:
        done = [rows[j["id"]] for j in jobs if j["name"] == arm and j["id"] in rows]
        cells = []
        for key in keys:
            values = [v for v in (final(r, key) for r in done) if v is not None]
            cells.append(f"{np.mean(values):.3f} ({' '.join(f'{v:.2f}' for v in values)})" if values else "-")
        seconds = np.mean([r["seconds"] for r in done]) if done else float("nan")
        print(f"| {arm} | {len(done)} | {' | '.join(cells)} | {seconds:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
