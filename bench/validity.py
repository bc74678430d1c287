"""Does OT help on the embedded benchmark, and can the benchmark rank configs? The study and the calibration.

    python -m bench.validity run --out runs/validity.jsonl --jobs 14 --device cuda --deadline 420
    python -m bench.validity analyse runs/validity.jsonl --plot bench/validity.png
    python -m bench.validity run --quick --out /tmp/v.jsonl && python -m bench.validity analyse /tmp/v.jsonl

`run` trains, in a pool of worker processes (each keeps its datasets between runs), and appends
one JSON line per finished run to --out (so a run cut short keeps what it finished, and a
second `run` on the same file skips what is there):

1. study: (a) BC on the target demos only (`bc_src_weight=0 ot.lambda_ot=0`), (b) co-training
   without OT (`ot.lambda_ot=0`), (c) ACT+OT at the seed log's R1 (the shipped default), each
   with --seeds training seeds on the default benchmark;
2. pool: --pool configs drawn at random from the `ot_full` space (plus its starting points),
   --pool-seeds seeds each, success measured every 100 steps (`rollout_every`): the spread
   between configs (calibration), and the histories the rule audit and the sweep-efficiency
   replay read (`bench/rule_audit.py`, `bench/sweep_efficiency.py`);
3. best: (d) the pool's best config by mean final success, with --seeds fresh seeds;
4. reg pool: --reg-pool configs of the default sweep's `ot_reg` space, one seed each (rule audit);
5. grid: (b) and (c) over domain shift, the number of target demos and training steps, --grid-seeds seeds
   (--grid-conditions / --grid-cells pick a part of it);
6. variant: a candidate fix of OT, (e) OT at R1 with L2-normalised embeddings in the cost
   (`ot.embed_norm=l2`), --seeds seeds on the default benchmark (only with --only variant).
--deadline stops taking new runs after that many seconds.

`analyse` prints the study table (mean success overall / covered / uncovered with 95%
t-intervals), the calibration (seed standard deviation of one config against the best-vs-worst
gap across the pool) and the grid, and draws the plot.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import time
from pathlib import Path

from bench.runs import TINY, final, finite_or_none, mean_ci, read_rows, run_one, space_configs

STUDY = {"a-target-BC": {"bc_src_weight": 0.0, "ot.lambda_ot": 0.0}, "b-cotrain": {"ot.lambda_ot": 0.0}, "c-OT-R1": {}}
VARIANTS = {"e-OT-l2": {"ot.embed_norm": "l2"}}
CONDITIONS = {**STUDY, **VARIANTS}
GRID = [
    {"data.sim.shift": 1.0},
    {"data.sim.shift": 3.0},
    {"data.sim.n_target": 5},
    {"data.sim.n_target": 20},
    {"steps": 1500},
]  # longer training: does it make the seeds agree?
POOL_EVERY = 100


def run(args) -> None:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {json.loads(line)["id"] for line in out.read_text().splitlines()} if out.exists() else set()
    common = {
        "steps": args.steps,
        "log_every": args.log_every,
        "rollout_episodes": args.rollouts,
        "device": args.device,
        "threads": 1,
        **(TINY if args.quick else {}),  # a smoke run checks the script, not the model: the tiny model and sim
    }
    out_dir = str(Path(args.runs_dir).resolve())

    def job(group: str, name: str, overrides: dict, seed: int, extra: dict | None = None) -> dict:
        return {
            "id": f"{group}/{name}/s{seed}",
            "group": group,
            "name": name,
            "overrides": overrides,
            "seed": seed,
            "common": {**common, **(extra or {})},
            "out_dir": out_dir,
        }

    cells = [f"{k}={v}" for cell in GRID for k, v in cell.items()]
    wanted = args.grid_cells.split(",") if args.grid_cells else cells
    unknown = sorted(set(wanted) - set(cells)) + sorted(set(args.grid_conditions.split(",")) - set(CONDITIONS))
    if unknown:  # before anything trains
        raise SystemExit(
            f"validity.py: unknown grid cell or condition {unknown}; cells {cells}, conditions {list(CONDITIONS)}"
        )
    seeds = range(args.seeds)
    phase1 = [job("study", n, o, s) for s in seeds for n, o in STUDY.items()]
    keep = set(args.only.split(",")) if args.only else None
    pools = (
        json.loads(Path(args.configs).read_text())
        if args.configs
        else {
            "ot_full": space_configs("ot_full", args.pool, seed=0),
            "ot_reg": space_configs("ot_reg", args.reg_pool, seed=1),
        }
    )
    pool = pools["ot_full"][: args.pool]
    phase1 += [job("pool", n, o, s, {"rollout_every": POOL_EVERY}) for s in range(args.pool_seeds) for n, o in pool]
    deadline = time.monotonic() + args.deadline
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.jobs, maxtasksperchild=None) as workers, out.open("a") as sink:

        def drain(jobs: list[dict]) -> list[dict]:
            todo = [j for j in jobs if j["id"] not in done]
            results, pending = [], []
            it = iter(todo)
            for j in it:  # submit lazily so that the deadline can stop new starts
                pending.append(workers.apply_async(run_one, (j,)))
                if len(pending) >= args.jobs * 2:
                    break
            while pending:
                result = pending.pop(0).get()
                record = {k: finite_or_none(v) if not isinstance(v, list) else v for k, v in result.items()}
                record["history"] = [{k: finite_or_none(v) for k, v in row.items()} for row in result["history"]]
                sink.write(json.dumps(record) + "\n")
                sink.flush()
                done.add(result["id"])
                results.append(result)
                last = result["history"][-1] if result["history"] else {}
                print(
                    f"[{len(done)}] {result['id']}: {result['status']}, success {last.get('eval/success')}, "
                    f"{result['seconds']:.0f}s",
                    flush=True,
                )
                if time.monotonic() < deadline:
                    nxt = next(it, None)
                    if nxt is not None:
                        pending.append(workers.apply_async(run_one, (nxt,)))
            return results

        drain([j for j in phase1 if keep is None or j["group"] in keep])
        rows = read_rows(out)
        best = best_pool_config(rows)
        phase2 = []
        if best is not None and (keep is None or "best" in keep):
            name, overrides = best
            phase2 += [job("study", "d-OT-best", overrides, 100 + s) for s in seeds]
        phase2 += [job("regpool", n, o, 0, {"rollout_every": POOL_EVERY}) for n, o in pools["ot_reg"][: args.reg_pool]]
        if keep is not None and "variant" in keep:
            phase2 += [job("variant", n, o, s) for s in seeds for n, o in VARIANTS.items()]
        phase2 += [
            job("grid", f"{name}|{k}={v}", {**CONDITIONS[name], k: v}, s)
            for cell in GRID
            for k, v in cell.items()
            if f"{k}={v}" in wanted
            for s in range(args.grid_seeds)
            for name in args.grid_conditions.split(",")
        ]
        if time.monotonic() < deadline:
            drain(
                [j for j in phase2 if keep is None or j["group"] in keep or (j["group"] == "study" and "best" in keep)]
            )
    print(f"wrote {out}")


def best_pool_config(rows: list[dict]) -> tuple[str, dict] | None:
    by = {}
    for row in rows:
        if row["group"] == "pool" and final(row) is not None:
            by.setdefault(row["name"], (row["overrides"], []))[1].append(final(row))
    if not by:
        return None
    name = max(by, key=lambda n: sum(by[n][1]) / len(by[n][1]))
    return name, by[name][0]


def analyse(args) -> None:
    rows = read_rows(args.file)
    rows = [r for r in rows if r["status"] == "finished" and final(r) is not None]
    keys = ("eval/success", "eval/success_covered", "eval/success_uncovered")

    def table(group: str, names: list[str]) -> list[tuple[str, list[tuple[float, float, float]], int]]:
        out = []
        for name in names:
            runs = [r for r in rows if r["group"] == group and r["name"] == name]
            if runs:
                out.append(
                    (
                        name,
                        [mean_ci([final(r, k) for r in runs if final(r, k) is not None] or [math.nan]) for k in keys],
                        len(runs),
                    )
                )
        return out

    print("## Study (default benchmark): final success, mean over training seeds with 95% t-interval\n")
    print("| condition | seeds | success | covered | uncovered |\n|---|---|---|---|---|")
    study = table("study", [*STUDY, "d-OT-best"]) + table("variant", list(VARIANTS))
    for name, stats, n in study:
        print(f"| {name} | {n} | " + " | ".join(f"{m:.3f} ± {h:.3f}" for m, h, _ in stats) + " |")
    best = best_pool_config(read_rows(args.file))
    if best:
        print(f"\n(d) = pool config {best[0]}: {json.dumps(best[1])}")
    print("\n## Calibration\n")
    sds = {name: stats[0][2] for name, stats, n in study if n >= 2}
    for name, sd in sds.items():
        print(f"- seed standard deviation of final success, {name}: {sd:.3f}")
    pool = {}
    for r in rows:
        if r["group"] == "pool":
            pool.setdefault(r["name"], []).append(final(r))
    means = {n: sum(v) / len(v) for n, v in pool.items()}
    if means:
        hi, lo = max(means, key=means.get), min(means, key=means.get)
        seed_sd = sds.get("c-OT-R1", math.nan)
        gap = means[hi] - means[lo]
        print(
            f"- ot_full pool: {len(means)} configs x {max(len(v) for v in pool.values())} seeds; best {hi} "
            f"{means[hi]:.3f}, worst {lo} {means[lo]:.3f}: gap {gap:.3f}{in_seed_sds(gap, seed_sd)}"
        )
        within = [mean_ci(v)[2] for v in pool.values() if len(v) >= 2]
        if within:
            print(f"- mean within-config seed sd across the pool: {sum(within) / len(within):.3f}")
    if len(pool) >= 4:
        from scipy.stats import spearmanr

        print("\n## Pool: which knobs go with final success (Spearman rank correlation over config means)\n")
        print("| knob | rho | p |\n|---|---|---|")
        knobs = sorted(
            {
                k
                for r in rows
                if r["group"] == "pool"
                for k, v in r["overrides"].items()
                if isinstance(v, (int, float, list)) and not isinstance(v, bool)
            }
        )
        names = sorted(pool)
        for knob in knobs:
            xs = [_knob(rows, n, knob) for n in names]
            if len(set(xs)) > 1:
                rho, pval = spearmanr(xs, [means[n] for n in names])
                print(f"| {knob} | {rho:+.2f} | {pval:.3g} |")
        if args.plot:
            plot_pool(rows, pool, args.plot.replace(".png", "_lambda.png"))
    grid = [r for r in rows if r["group"] == "grid"]
    if grid:
        print("\n## Grid: final success (all / uncovered), mean ± 95% t-interval\n")
        conds = [c for c in CONDITIONS if any(r["name"].startswith(c + "|") for r in grid)]
        print("| cell | " + " | ".join(conds) + " |\n|" + "---|" * (len(conds) + 1))
        cells = sorted({r["name"].split("|", 1)[1] for r in grid})
        for cell in cells:
            parts = []
            for cond in conds:
                runs = [r for r in grid if r["name"] == f"{cond}|{cell}"]
                if runs:
                    a = mean_ci([final(r) for r in runs])
                    u = mean_ci(
                        [
                            final(r, "eval/success_uncovered")
                            for r in runs
                            if final(r, "eval/success_uncovered") is not None
                        ]
                        or [math.nan]
                    )
                    parts.append(f"{a[0]:.3f} ± {a[1]:.3f} / {u[0]:.3f} ± {u[1]:.3f} (n={len(runs)})")
                else:
                    parts.append("-")
            print(f"| {cell} | " + " | ".join(parts) + " |")
    diag = [r for r in rows if r["group"] in ("study", "variant")]
    if diag:
        print("\n## Why: OT diagnostics at the last log (mean over seeds)\n")
        print(
            "| condition | ot_grad_ratio | ot_pi_sum | ot_loss_embed | train/l1_loss | eval/avg_l1 |\n|---|---|---|---|---|---|"
        )
        for name in [*STUDY, "d-OT-best", *VARIANTS]:
            runs = [r for r in diag if r["name"] == name]
            if runs:
                vals = [
                    mean_ci([final(r, k) for r in runs if final(r, k) is not None] or [math.nan])[0]
                    for k in ("ot_grad_ratio", "ot_pi_sum", "ot_loss_embed", "train/l1_loss", "eval/avg_l1")
                ]
                print(f"| {name} | " + " | ".join(f"{v:.4g}" for v in vals) + " |")
    if args.plot:
        plot(study, args.plot)


def in_seed_sds(gap: float, seed_sd: float) -> str:
    """The pool's best-vs-worst gap as a multiple of c-OT-R1's seed SD, or why there is none: no spread
    (every seed scored the same: the ratio would divide by 0) or no SD measured (fewer than 2 seeds)."""
    if seed_sd != seed_sd:
        return "; no seed sd of c-OT-R1 to compare it with (fewer than 2 seeds; target >= 3x)"
    if seed_sd == 0:
        return "; no spread: c-OT-R1's seeds all scored the same (sd 0), so no ratio to the seed sd (target >= 3x)"
    return f" = {gap / seed_sd:.2f}x the seed sd of c-OT-R1 (target >= 3x)"


def _knob(rows: list[dict], name: str, knob: str) -> float:
    value = next(r["overrides"][knob] for r in rows if r["group"] == "pool" and r["name"] == name)
    return float(value[0] if isinstance(value, list) else value)


def plot_pool(rows: list[dict], pool: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in pool.items():
        lam = _knob(rows, name, "ot.lambda_ot")
        ax.scatter([lam] * len(values), values, s=12, color="tab:gray", alpha=0.6)
        ax.scatter([lam], [sum(values) / len(values)], s=30, color="tab:blue")
    study = {n: [final(r) for r in rows if r["group"] == "study" and r["name"] == n] for n in STUDY}
    if study.get("b-cotrain"):
        mean = sum(study["b-cotrain"]) / len(study["b-cotrain"])
        ax.axhline(
            mean, color="tab:orange", ls="--", label=f"co-training, no OT (mean of {len(study['b-cotrain'])} seeds)"
        )
    ax.set_xscale("log")
    ax.set_xlabel("lambda_ot")
    ax.set_ylabel("final closed-loop success")
    ax.set_title("ot_full pool: seeds (grey) and config means (blue)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def plot(study, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    labels = ["all", "covered", "uncovered"]
    width = 0.8 / max(len(study), 1)
    for i, (name, stats, n) in enumerate(study):
        xs = [j + i * width for j in range(3)]
        ax.bar(
            xs,
            [s[0] for s in stats],
            width,
            yerr=[0 if math.isnan(s[1]) else s[1] for s in stats],
            capsize=3,
            label=f"{name} (n={n})",
        )
    ax.set_xticks([j + width * (len(study) - 1) / 2 for j in range(3)], labels)
    ax.set_ylabel("final closed-loop success (95% CI)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("embedded benchmark: target-domain success by part of the task")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", default="runs/validity.jsonl")
    r.add_argument("--runs-dir", default="runs/validity")
    r.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    r.add_argument("--device", default="auto")
    r.add_argument("--seeds", type=int, default=5)
    r.add_argument("--pool", type=int, default=24)
    r.add_argument("--pool-seeds", type=int, default=2)
    r.add_argument("--reg-pool", type=int, default=16)
    r.add_argument("--grid-seeds", type=int, default=3)
    r.add_argument("--steps", type=int, default=400)
    r.add_argument("--log-every", type=int, default=25)
    r.add_argument("--rollouts", type=int, default=100)
    r.add_argument("--deadline", type=float, default=1e9, help="seconds after which no new run starts")
    r.add_argument(
        "--quick",
        action="store_true",
        help="a CPU smoke run: 2 seeds, tiny pools, tiny model and sim, 30 steps, 10 rollouts",
    )
    r.add_argument(
        "--only", help="comma-separated groups to run: study,pool,best,regpool,grid,variant (default all but variant)"
    )
    r.add_argument(
        "--grid-conditions", default="b-cotrain,c-OT-R1", help="conditions the grid runs (study or variant names)"
    )
    r.add_argument("--grid-cells", help="comma-separated cells, e.g. data.sim.shift=1.0 (default all)")
    r.add_argument("--configs", help="the pools' configs from `configs` (for a machine without Optuna)")
    c = sub.add_parser("configs", help="write the pools' configs as JSON (they need Optuna to draw)")
    c.add_argument("--pool", type=int, default=24)
    c.add_argument("--reg-pool", type=int, default=16)
    c.add_argument("--out", default="runs/validity_configs.json")
    a = sub.add_parser("analyse")
    a.add_argument("file")
    a.add_argument("--plot")
    args = parser.parse_args()
    if args.command == "run":
        if args.quick:
            args.seeds, args.pool, args.pool_seeds, args.reg_pool, args.grid_seeds = 2, 3, 1, 2, 1
            args.steps, args.log_every, args.rollouts = 30, 10, 10
            global POOL_EVERY, GRID
            POOL_EVERY, GRID = 10, GRID[:1]
        run(args)
    elif args.command == "configs":
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(
            json.dumps(
                {
                    "ot_full": space_configs("ot_full", args.pool, seed=0),
                    "ot_reg": space_configs("ot_reg", args.reg_pool, seed=1),
                },
                indent=1,
            )
        )
        print(f"wrote {args.out}")
    else:
        analyse(args)


if __name__ == "__main__":
    main()
