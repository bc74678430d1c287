"""Does "beats co-training" survive selection? Sweeps replayed on recorded multi-seed pools through the product's own
paired arithmetic (actot/report/baseline.py `compare`).

    python -m bench.selection_calibration                       # every recorded pool, 2000 replays a cell
    python -m bench.selection_calibration --replays 200 --pools repro-new

A recorded pool holds several configs and co-training, each trained on the same seeds. One replay is one sweep:
k configs drawn from the pool, s search seeds and c confirm seeds drawn from its seeds (disjoint); the seeds left
over (h of them) are the pool's other seeds, the reference the claim is scored against. Designs:

- `search`: today's headline before issue 29: the best config on the search seeds, its paired interval with the SD
  pooled over the k configs' differences; a claim when the interval is above 0.
- `confirm`: the search's leader (only when it is ahead of co-training on the search seeds: `confirm.if_ahead`) run
  again with co-training on c fresh seeds; a claim when its paired interval on those seeds alone (its own SD) is
  above 0.
- `confirm-pooled`: the same fresh-seed mean, with the SD of the differences pooled over the search's configs and the
  confirm seeds (the search's seeds estimate the spread; only the fresh seeds estimate the effect).

Per design: claims (share of sweeps that headline a win), false wins (a claim whose config's mean difference over the
other h seeds is <= 0), the winner's bias (the claimed estimate minus that other-seed mean, over all sweeps that name a
leader), coverage (the interval, widened by the other seeds' own standard error so that their noise is not counted
against it, covers their mean), compute (trials against today's k * s + s), and power: one drawn config's recorded
differences from co-training, centred and shifted to +0.10 or +0.20 on every seed (the effect planted on recorded
noise), the share of sweeps that claim a win for it.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from scipy import stats

from actot.report.baseline import compare
from bench.runs import final, read_rows

DATA = Path(__file__).resolve().parent / "data"
# name -> (file, group, the baseline's name, metric): pools whose configs all ran on the same seeds.
POOLS = {
    "repro-new": ("repro_cpu.jsonl", "new", "cotrain", "eval/success"),
    "repro-old": ("repro_cpu.jsonl", "old", "cotrain", "eval/success"),
    "screen": ("transfer_cpu.jsonl", "screen", "cotrain", "eval/success"),
    # the transfer study's close arms: three unit-length OT arms and co-training on seeds 0-4 (screen) and 5-9 (best)
    "close-arms": ("transfer_cpu.jsonl", ("screen", "best"), "cotrain", "eval/success"),
    # the metric a real-data sweep ranks by, on the same pool (no LeRobot pool with several seeds is recorded)
    "repro-new-l1": ("repro_cpu.jsonl", "new", "cotrain", "eval/avg_l1"),
    "offline": ("offline_cpu.jsonl", "default", "cotrain", "eval/success"),
}
DESIGNS = ("search", "confirm", "confirm-pooled")


def load_pool(name: str) -> tuple[dict, dict, str] | None:
    """(config -> {seed: value}, the baseline's {seed: value}, better) over the seeds every config ran."""
    file, group, baseline, metric = POOLS[name]
    path = DATA / file
    if not path.exists():
        return None
    table: dict[str, dict[int, float]] = {}
    for row in read_rows(path):
        groups = group if isinstance(group, tuple) else (group,)
        value = final(row, metric) if row["group"] in groups and row["status"] == "finished" else None
        if value is not None:
            table.setdefault(row["name"], {})[int(row["seed"])] = float(value)
    if baseline not in table:
        return None
    seeds = set(table[baseline])  # the baseline's seeds, kept where at least 3 configs ran them all
    if sum(set(v) >= seeds for n, v in table.items() if n != baseline) < 3:
        for values in table.values():
            seeds &= set(values)
    if len(seeds) < 5:
        return None
    configs = {n: {s: v[s] for s in seeds} for n, v in table.items()
               if n != baseline and set(v) >= seeds and n != "target-BC"}
    return configs, {s: table[baseline][s] for s in seeds}, "min" if metric == "eval/avg_l1" else "max"


def one_sweep(rng, configs: dict, baseline: dict, better: str, k: int, s: int, c: int, plant: tuple | None):
    """One replayed sweep: {design: (named config or None, claimed, estimate, low, high, other-seed mean, its se)}."""
    names = list(rng.choice(sorted(configs), size=k, replace=False))
    seeds = list(rng.permutation(sorted(baseline)))
    search, fresh, other = seeds[:s], seeds[s:s + c], seeds[s + c:]
    sign = 1.0 if better == "max" else -1.0

    def values(name, chosen):
        if plant is not None and name == plant[0]:  # its recorded noise around co-training, shifted to the effect
            centre = float(np.mean([configs[name][t] - baseline[t] for t in baseline]))
            return {t: configs[name][t] - centre + plant[1] * sign for t in chosen}
        return {t: configs[name][t] for t in chosen}

    if plant is not None:  # the first drawn config gets the effect
        plant = (names[0], plant[1])
    base = {t: baseline[t] for t in seeds}
    searched = compare({n: values(n, search) for n in names}, base, better)
    beating = [n for n in names if searched[n].beats]
    leader = max(beating or names, key=lambda n: searched[n].mean)
    all_other = values(leader, other)
    diffs = [sign * (all_other[t] - baseline[t]) for t in other]
    other_mean = float(np.mean(diffs))
    other_se = float(np.std(diffs, ddof=1) / math.sqrt(len(diffs))) if len(diffs) > 1 else math.nan
    out = {}
    best = searched[beating[0] if len(beating) == 1 else max(beating, key=lambda n: searched[n].mean)] if beating \
        else searched[leader]
    out["search"] = (leader, bool(beating), best.mean, best.low, best.high, other_mean, other_se)
    if searched[leader].mean <= 0:  # confirm.if_ahead: no fresh seeds for a leader behind co-training
        for design in DESIGNS[1:]:
            out[design] = (None, False, None, None, None, other_mean, other_se)
        return out, 0, names[0]
    own = compare({leader: values(leader, fresh)}, base, better)[leader]
    out["confirm"] = (leader, own.beats, own.mean, own.low, own.high, other_mean, other_se)
    pooled = compare({"fresh": values(leader, fresh), **{f"search:{n}": values(n, search) for n in names}}, base,
                     better)["fresh"]
    out["confirm-pooled"] = (leader, pooled.beats, pooled.mean, pooled.low, pooled.high, other_mean, other_se)
    return out, 2 * c, names[0]


def replay(configs, baseline, better, k, s, c, n, seed=0, plant=None) -> dict:
    rng = np.random.default_rng(seed)
    rows = {d: [] for d in DESIGNS}
    extra = []
    for _ in range(n):
        out, cost, planted = one_sweep(rng, configs, baseline, better, k, s, c, plant)
        extra.append(cost)
        for design, row in out.items():
            rows[design].append((*row, planted))
    today = k * s + s
    summary = {}
    for design, results in rows.items():
        claims = [r for r in results if r[1]]
        named = [r for r in results if r[0] is not None and r[2] is not None]
        covered = [r for r in named if r[3] is not None and math.isfinite(r[6])]
        half = [((r[4] - r[3]) / 2) for r in covered]
        z = stats.norm.ppf(0.975)
        hits = [abs(r[5] - r[2]) <= math.hypot(h, z * r[6]) for r, h in zip(covered, half)]
        summary[design] = {
            "claims": len(claims) / n, "false": sum(r[5] <= 0 for r in claims) / n,
            "false_of_claims": (sum(r[5] <= 0 for r in claims) / len(claims)) if claims else math.nan,
            "bias": float(np.mean([r[2] - r[5] for r in named])) if named else math.nan,
            "coverage": float(np.mean(hits)) if hits else math.nan,
            "compute": 1.0 if design == "search" else (today + float(np.mean(extra))) / today,
            "power": (sum(r[1] and r[0] == r[7] for r in results) / n) if plant else math.nan}
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=2000)
    parser.add_argument("--pools", default=",".join(POOLS))
    parser.add_argument("--confirm-seeds", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"{'pool':<13} {'k':>2} {'s':>2} {'c':>2} {'h':>2} {'design':<15} {'claims':>6} {'false':>6} {'false|cl':>8} "
          f"{'bias':>7} {'cover':>6} {'compute':>7} {'power.1':>7} {'power.2':>7}")
    for name in args.pools.split(","):
        pool = load_pool(name)
        if pool is None:
            print(f"{name:<13} (not recorded, or fewer than 5 shared seeds)")
            continue
        configs, baseline, better = pool
        for k in (3, 8):
            if k > len(configs):
                continue
            for s in (2, 3):
                c = args.confirm_seeds
                h = len(baseline) - s - c
                if h < 1:
                    continue
                base = replay(configs, baseline, better, k, s, c, args.replays)
                powers = [replay(configs, baseline, better, k, s, c, args.replays, seed=1, plant=("", effect))
                          for effect in (0.10, 0.20)]
                for design in DESIGNS:
                    row = base[design]
                    print(f"{name:<13} {k:>2} {s:>2} {c:>2} {h:>2} {design:<15} {row['claims']:>6.3f} {row['false']:>6.3f} "
                          f"{row['false_of_claims']:>8.2f} {row['bias']:>+7.3f} {row['coverage']:>6.2f} "
                          f"{row['compute']:>7.2f} {powers[0][design]['power']:>7.2f} {powers[1][design]['power']:>7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
