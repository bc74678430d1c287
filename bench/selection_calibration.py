"""Does "beats co-training" survive selection? Sweeps replayed on recorded multi-seed pools through the product's own
paired arithmetic (actot/report/baseline.py `compare`).

    python -m bench.selection_calibration                       # every recorded pool, 2000 replays a cell
    python -m bench.selection_calibration --replays 200 --pools repro-new
    python -m bench.selection_calibration --sequential          # the sequential confirm stage's designs (below)

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
- `confirm-leader-sd` (added after the G1 pool's first 8 seeds showed `confirm-pooled` covering 0.84-0.89, so post
  hoc): the same fresh-seed mean, with the SD pooled over the leader's own differences only (its fresh seeds and its
  search seeds, each set centred on its own mean: (c - 1) + (s - 1) df). On G1 a config's SD grows with its distance from
  co-training (10x from the nearest config to the farthest), so the search's other configs may misstate the
  leader's (the hypothesis this design tests; RESULTS: it is not the whole cause).
- `confirm-seed-df` (added in session 14 after repro-old on 12 seeds covered 0.80-0.84, so post hoc; named in RESULTS
  before its first replay): `confirm-pooled`'s SD with its degrees of freedom counted by seeds, (c - 1) + (s - 1),
  not by config-seed pairs: on a seed every config's difference shares co-training's value.
- `confirm-satt` (session 16, post hoc as the two above; its rule written in RESULTS before its first replay):
  `confirm-pooled`'s SD with Satterthwaite's degrees of freedom from the search's two-way layout (`search_df`), plus
  c - 1: between `confirm-seed-df`'s and `confirm-pooled`'s, by how much of the search's spread the seeds share.

Per design: claims (share of sweeps that headline a win), false wins (a claim whose config's mean difference over the
other h seeds is <= 0), the winner's bias (the claimed estimate minus that other-seed mean, over all sweeps that name a
leader), coverage (the interval, widened by the other seeds' own standard error so that their noise is not counted
against it, covers their mean; `cover` widens by 1.96 of that SE; `cover.t`, added in session 13 after the G1 pool's
`cover` read 0.84-0.89 on 8 seeds, widens by its t quantile on h - 1 df, since the SE is estimated from the h other
seeds, 1-12 of them by pool), compute (trials against today's k * s + s), and power: one drawn config's recorded
differences from co-training, centred and shifted to +0.10 or +0.20 on every seed (the effect planted on recorded
noise), the share of sweeps that claim a win for it.

`--normal N` (session 13, post hoc, after the G1 pool's coverage miss): the same replays on each pool's normal model
(`normal_pool`: each config's paired differences drawn with its recorded mean and SD, on N seeds), so that the other
seeds' mean is the truth and coverage is read without the target's own noise; shown as POOL~N.

`--sequential` (issue 29, deliverable 3): designs that may run up to 8 fresh seeds, more than a pool holds apart
from its search seeds (5-10 seeds in all). So these replays take the pool as the population of seeds: the s search
seeds are drawn without replacement, and fresh seeds with replacement from the pool's other seeds (N - s of them,
`pop`), and a claim is scored against the config's mean difference over those seeds (its true effect in the
population the fresh seeds come from; coverage: the interval covers it). Every design of one replay sees the same
search and the same sequence of fresh draws. Designs:

- `search`: as above (its claim scored against the same population mean).
- `fixed-c` (c = 2, 4, 6, 8, 12): the product's fixed confirm stage (`confirm-pooled` above) with c fresh seeds.
- `seq-E-F-N`: the sequential confirm stage (`actot/report/sequential.py`, the product's decision rule): the
  leader (if ahead, as above) and co-training on 2 fresh seeds, then one more a look, up to N (4, 6 or 8); the
  claim (one-sided 2.5%, the 95% interval's) spent by E (`obf`: O'Brien-Fleming type, `poc`: Pocock type) over the
  information fraction n / N; futility F (`f20` / `f10`: +0.20 ruled out at beta = 0.2 / 0.1, Pocock-type
  spending, non-binding; `none`: no futility stop). Its
  estimate and interval are those of the look it stopped at (the repeated confidence interval).

`--by-mode` (session 17): `confirm-pooled`'s `cover` on the table's own sweeps, split by how many of co-training's
high-mode seeds (`high_mode`: above the widest gap in its values) the search and the fresh seeds drew.

`--bound`: the most power any fixed confirm stage could have within a compute budget, per cell: the planted
config's paired differences have the pool's SD (pooled over its configs, each centred on its own mean); a budget of
1.5x today's k * s + s trials leaves m = floor(0.25 (k * s + s)) fresh seeds for the leader and co-training; a
one-sided z-test at 2.5% that knows the SD and uses all s + m seeds as if the search had not selected on them has
power Phi(0.20 sqrt(s + m) / sd - 1.96). No valid fixed design does better (it pays for the unknown SD and for the
selection); `need` is the seeds and compute that bound needs for 80%.

Columns as above, plus compute.2 (the mean under the +0.20 plant: a sweep with a win spends more) and max (the
compute of a sweep that runs every look). `--summary` prints one line per design over the cells.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from scipy import stats

from actot.report.baseline import compare, paired_differences
from actot.report.sequential import Design, look
from actot.report.stats import pooled_sd, t_interval
from bench.runs import final, read_rows

DATA = Path(__file__).resolve().parent / "data"
# name -> (file, group, the baseline's name, metric): pools whose configs all ran on the same seeds.
POOLS = {
    "repro-new": ("repro_cpu.jsonl", "new", "cotrain", "eval/success"),
    "repro-old": ("repro_cpu.jsonl", "old", "cotrain", "eval/success"),
    "screen": ("transfer_cpu.jsonl", "screen", "cotrain", "eval/success"),
    # the transfer study's close arms: three unit-length OT arms and co-training on seeds 0-4 (screen) and 5-9 (best)
    "close-arms": ("transfer_cpu.jsonl", ("screen", "best"), "cotrain", "eval/success"),
    # the metric a real-data sweep ranks by: on the sim's pool, and on real LeRobot data (bench/real_pool.py)
    "repro-new-l1": ("repro_cpu.jsonl", "new", "cotrain", "eval/avg_l1"),
    "g1-l1": ("real_pool_cpu.jsonl", "g1", "cotrain", "eval/avg_l1"),
    "offline": ("offline_cpu.jsonl", "default", "cotrain", "eval/success"),
}
DESIGNS = ("search", "confirm", "confirm-pooled", "confirm-leader-sd", "confirm-seed-df", "confirm-satt")


def search_df(by_config: list[dict]) -> float:
    """Satterthwaite's degrees of freedom of `confirm-pooled`'s search variance, read from the two-way layout of the
    search (k configs' paired differences on the same s seeds, `by_config[j]`: seed -> difference).

    The pooled within-config variance equals (MS_seed + (k - 1) MS_res) / k: the seed mean square (s - 1 df: on a
    seed every config's difference shares co-training's value) and the residual mean square ((k - 1)(s - 1) df).
    Satterthwaite's df of that sum run from k (s - 1), where no seed effect is shared, down to s - 1, where it
    dominates; `confirm-seed-df` takes the lower end always, `confirm-pooled` the upper end."""
    seeds = sorted(set.intersection(*(set(d) for d in by_config)))
    x = np.array([[d[t] for t in seeds] for d in by_config], dtype=float)
    k, s = x.shape
    if s < 2:
        return 0.0
    if k < 2:
        return float(s - 1)
    seed_means, config_means, grand = x.mean(0), x.mean(1), x.mean()
    ms_seed = k * float(((seed_means - grand) ** 2).sum()) / (s - 1)
    ms_res = float(((x - config_means[:, None] - seed_means[None, :] + grand) ** 2).sum()) / ((k - 1) * (s - 1))
    a, b = ms_seed / k, (k - 1) * ms_res / k
    if a + b <= 0:
        return float(k * (s - 1))
    return (a + b) ** 2 / (a**2 / (s - 1) + b**2 / ((k - 1) * (s - 1)))


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
    configs = {
        n: {s: v[s] for s in seeds} for n, v in table.items() if n != baseline and set(v) >= seeds and n != "target-BC"
    }
    return configs, {s: table[baseline][s] for s in seeds}, "min" if metric == "eval/avg_l1" else "max"


def normal_pool(pool: tuple[dict, dict, str], n_seeds: int, seed: int = 0) -> tuple[dict, dict, str]:
    """The pool's normal model on `n_seeds` seeds: co-training's values drawn with its recorded mean and SD, each
    config's as co-training's plus an independent normal difference with the config's recorded mean and SD of its
    paired differences. With hundreds of seeds the other seeds' mean is the config's true difference, so coverage
    is read against the truth, without the few recorded seeds' own noise."""
    configs, baseline, better = pool
    rng = np.random.default_rng(seed)
    seeds = sorted(baseline)
    base = np.array([baseline[s] for s in seeds])
    drawn = rng.normal(base.mean(), base.std(ddof=1), n_seeds)
    out = {}
    for name, values in configs.items():
        diffs = np.array([values[s] - baseline[s] for s in seeds])
        out[name] = dict(enumerate(drawn + rng.normal(diffs.mean(), diffs.std(ddof=1), n_seeds)))
    return out, dict(enumerate(drawn)), better


def one_sweep(rng, configs: dict, baseline: dict, better: str, k: int, s: int, c: int, plant: tuple | None):
    """One replayed sweep: ({design: (named config or None, claimed, estimate, low, high, other-seed mean, its se)},
    the fresh trials it ran, the config planted with the effect, (its search seeds, its fresh seeds))."""
    names = list(rng.choice(sorted(configs), size=k, replace=False))
    seeds = list(rng.permutation(sorted(baseline)))
    search, fresh, other = seeds[:s], seeds[s : s + c], seeds[s + c :]
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
    best = (
        searched[beating[0] if len(beating) == 1 else max(beating, key=lambda n: searched[n].mean)]
        if beating
        else searched[leader]
    )
    out["search"] = (leader, bool(beating), best.mean, best.low, best.high, other_mean, other_se)
    if searched[leader].mean <= 0:  # confirm.if_ahead: no fresh seeds for a leader behind co-training
        for design in DESIGNS[1:]:
            out[design] = (None, False, None, None, None, other_mean, other_se)
        return out, 0, names[0], (search, fresh)
    own = compare({leader: values(leader, fresh)}, base, better)[leader]
    out["confirm"] = (leader, own.beats, own.mean, own.low, own.high, other_mean, other_se)
    pooled = compare(
        {"fresh": values(leader, fresh), **{f"search:{n}": values(n, search) for n in names}}, base, better
    )["fresh"]
    out["confirm-pooled"] = (leader, pooled.beats, pooled.mean, pooled.low, pooled.high, other_mean, other_se)
    leader_search = list(paired_differences(values(leader, search), base, better)[0].values())
    leader_sd = compare({"fresh": values(leader, fresh)}, base, better, spread=[leader_search])["fresh"]
    out["confirm-leader-sd"] = (
        leader,
        leader_sd.beats,
        leader_sd.mean,
        leader_sd.low,
        leader_sd.high,
        other_mean,
        other_se,
    )
    # the same pooled SD, its degrees of freedom counted by seeds: on a seed every config's difference shares
    # co-training's value, so k configs on s seeds measure the spread little better than one config does
    fresh_diffs = list(paired_differences(values(leader, fresh), base, better)[0].values())
    search_by_config = [paired_differences(values(n, search), base, better)[0] for n in names]
    search_diffs = [list(d.values()) for d in search_by_config]
    sd, _ = pooled_sd([fresh_diffs, *search_diffs])
    iv = t_interval(fresh_diffs, sd, (len(fresh_diffs) - 1) + (len(search) - 1))
    out["confirm-seed-df"] = (
        (leader, iv.low > 0, iv.mean, iv.low, iv.high, other_mean, other_se)
        if iv is not None
        else (leader, False, None, None, None, other_mean, other_se)
    )
    # the same SD and mean, its degrees of freedom by Satterthwaite from the search's two-way layout (`search_df`)
    iv = t_interval(fresh_diffs, sd, search_df(search_by_config) + (len(fresh_diffs) - 1))  # fractional df
    out["confirm-satt"] = (
        (leader, iv.low > 0, iv.mean, iv.low, iv.high, other_mean, other_se)
        if iv is not None
        else (leader, False, None, None, None, other_mean, other_se)
    )
    return out, 2 * c, names[0], (search, fresh)


def covers(row: tuple, widen: float = float(stats.norm.ppf(0.975))) -> bool | None:
    """Whether a design's interval covers the other seeds' mean, widened by `widen` of that mean's SE (1.96:
    `cover`; a t quantile: `cover.t`); None where the design named no interval or the other seeds have no SE."""
    _, _, estimate, low, high, other_mean, other_se = row
    if estimate is None or low is None or not math.isfinite(other_se):
        return None
    return abs(other_mean - estimate) <= math.hypot((high - low) / 2, widen * other_se)


def replay(configs, baseline, better, k, s, c, n, seed=0, plant=None) -> dict:
    rng = np.random.default_rng(seed)
    rows = {d: [] for d in DESIGNS}
    extra = []
    for _ in range(n):
        out, cost, planted, _ = one_sweep(rng, configs, baseline, better, k, s, c, plant)
        extra.append(cost)
        for design, row in out.items():
            rows[design].append((*row, planted))
    today = k * s + s
    summary = {}
    for design, results in rows.items():
        claims = [r for r in results if r[1]]
        named = [r for r in results if r[0] is not None and r[2] is not None]
        covered = [r for r in named if r[3] is not None and math.isfinite(r[6])]
        hits = [covers(r[:7]) for r in covered]
        # the other seeds' SE is itself estimated from h of them: widened by its own t quantile (h - 1 df), not z
        t_other = stats.t.ppf(0.975, len(baseline) - s - c - 1) if len(baseline) - s - c > 1 else math.nan
        hits_t = [covers(r[:7], t_other) for r in covered]
        summary[design] = {
            "claims": len(claims) / n,
            "false": sum(r[5] <= 0 for r in claims) / n,
            "false_of_claims": (sum(r[5] <= 0 for r in claims) / len(claims)) if claims else math.nan,
            "bias": float(np.mean([r[2] - r[5] for r in named])) if named else math.nan,
            "coverage": float(np.mean(hits)) if hits else math.nan,
            "coverage_t": float(np.mean(hits_t)) if hits_t else math.nan,
            "compute": 1.0 if design == "search" else (today + float(np.mean(extra))) / today,
            "power": (sum(r[1] and r[0] == r[7] for r in results) / n) if plant else math.nan,
        }
    return summary


FIXED = (2, 4, 6, 8, 12)
EFFECT = 0.20  # the futility boundary's delta1 and the power goal's effect (issue 29)
FUTILITY = {"f20": ("pocock", 0.2), "f10": ("pocock", 0.1), "none": ("none", 0.2)}
SEQUENTIAL = {
    f"seq-{e}-{f}-{n}": Design(
        n,
        spending={"obf": "obrien-fleming", "poc": "pocock"}[e],
        effect=EFFECT,
        beta=FUTILITY[f][1],
        futility=FUTILITY[f][0],
    )
    for e in ("obf", "poc")
    for f in FUTILITY
    for n in (4, 6, 8)
}
SEQ_DESIGNS = ("search", *(f"fixed-{c}" for c in FIXED), *SEQUENTIAL)


def sequential_sweep(rng, configs: dict, baseline: dict, better: str, k: int, s: int, plant: tuple | None):
    """One replayed sweep, fresh seeds drawn with replacement from the pool's non-search seeds:
    ({design: (named config or None, claimed, estimate, low, high, true effect)}, {design: fresh seeds run},
    the planted config)."""
    names = list(rng.choice(sorted(configs), size=k, replace=False))
    seeds = list(rng.permutation(sorted(baseline)))
    search, population = seeds[:s], seeds[s:]
    fresh = list(rng.choice(population, size=max(*FIXED, *(d.max_seeds for d in SEQUENTIAL.values())), replace=True))
    sign = 1.0 if better == "max" else -1.0
    if plant is not None:
        plant = (names[0], plant[1])

    def diff(name, seed):
        value = configs[name][seed]
        if plant is not None and name == plant[0]:  # its recorded noise around co-training, shifted to the effect
            centre = float(np.mean([configs[name][t] - baseline[t] for t in baseline]))
            value = value - centre + plant[1] * sign
        return sign * (value - baseline[seed])

    base = {t: baseline[t] for t in search}
    searched = compare({n: {t: baseline[t] + sign * diff(n, t) for t in search} for n in names}, base, better)
    beating = [n for n in names if searched[n].beats]
    leader = max(beating or names, key=lambda n: searched[n].mean)
    truth = float(np.mean([diff(leader, t) for t in population]))
    best = searched[max(beating, key=lambda n: searched[n].mean)] if beating else searched[leader]
    out = {"search": (leader, bool(beating), best.mean, best.low, best.high, truth)}
    ran = {"search": 0}
    if searched[leader].mean <= 0:  # confirm.if_ahead
        for design in SEQ_DESIGNS[1:]:
            out[design], ran[design] = (None, False, None, None, None, truth), 0
        return out, ran, names[0]
    spread = [[diff(n, t) for t in search] for n in names]
    d = [diff(leader, t) for t in fresh]
    for c in FIXED:
        sd, df = pooled_sd([d[:c]] + spread)
        iv = t_interval(d[:c], sd, df)
        out[f"fixed-{c}"] = (leader, iv.low > 0, iv.mean, iv.low, iv.high, truth)
        ran[f"fixed-{c}"] = c
    for name, design in SEQUENTIAL.items():
        counts: list[int] = []
        for n in range(2, design.max_seeds + 1):
            one = look(d[:n], counts, design, spread)
            counts.append(n)
            if one.stopped:
                break
        out[name] = (leader, one.decision == "claim", one.mean, one.low, one.high, truth)
        ran[name] = n
    return out, ran, names[0]


def replay_sequential(configs, baseline, better, k, s, n, seed=0, plant=None) -> dict:
    rng = np.random.default_rng(seed)
    rows = {d: [] for d in SEQ_DESIGNS}
    spent = {d: [] for d in SEQ_DESIGNS}
    for _ in range(n):
        out, ran, planted = sequential_sweep(rng, configs, baseline, better, k, s, plant)
        for design, row in out.items():
            rows[design].append((*row, planted))
            spent[design].append(ran[design])
    today = k * s + s
    summary = {}
    for design, results in rows.items():
        claims = [r for r in results if r[1]]
        named = [r for r in results if r[0] is not None and r[2] is not None]
        cap = (
            0
            if design == "search"
            else (int(design.split("-")[-1]) if design.startswith("fixed") else SEQUENTIAL[design].max_seeds)
        )
        summary[design] = {
            "claims": len(claims) / n,
            "false": sum(r[5] <= 0 for r in claims) / n,
            "false_of_claims": (sum(r[5] <= 0 for r in claims) / len(claims)) if claims else math.nan,
            "bias": float(np.mean([r[2] - r[5] for r in named])) if named else math.nan,
            "coverage": float(np.mean([r[3] <= r[5] <= r[4] for r in named])) if named else math.nan,
            "compute": (today + 2 * float(np.mean(spent[design]))) / today,
            "max": (today + 2 * cap) / today,
            "power": (sum(r[1] and r[0] == r[6] for r in results) / n) if plant else math.nan,
        }
    return summary


def cells(pools: list[str], normal: int = 0):
    """(pool, k, s, configs, baseline, better) of every cell a pool has: k = 3, 8 configs, s = 2, 3 search seeds
    (of the pool's normal model on `normal` seeds, when given)."""
    for name in pools:
        pool = load_pool(name)
        if pool is None:
            print(f"{name:<13} (not recorded, or fewer than 5 shared seeds)")
            continue
        if normal:
            pool, name = normal_pool(pool, normal), f"{name}~N"
        configs, baseline, better = pool
        for k in (3, 8):
            for s in (2, 3):
                if k <= len(configs) and len(baseline) - s >= 2:
                    yield name, k, s, configs, baseline, better


def main_sequential(args) -> int:
    head = (
        f"{'pool':<13} {'k':>2} {'s':>2} {'pop':>3} {'design':<17} {'claims':>6} {'false':>6} {'false|cl':>8} "
        f"{'bias':>7} {'cover':>6} {'compute':>7} {'cmp.2':>6} {'max':>5} {'power.1':>7} {'power.2':>7}"
    )
    print(head)
    table = {}
    for name, k, s, configs, baseline, better in cells(args.pools.split(","), args.normal):
        base = replay_sequential(configs, baseline, better, k, s, args.replays)
        powers = [
            replay_sequential(configs, baseline, better, k, s, args.replays, seed=1, plant=("", effect))
            for effect in (0.10, 0.20)
        ]
        for design in SEQ_DESIGNS:
            row = {
                **base[design],
                "power.1": powers[0][design]["power"],
                "power.2": powers[1][design]["power"],
                "cmp.2": powers[1][design]["compute"],
            }
            table[(name, k, s, design)] = row
            print(
                f"{name:<13} {k:>2} {s:>2} {len(baseline) - s:>3} {design:<17} {row['claims']:>6.3f} "
                f"{row['false']:>6.3f} {row['false_of_claims']:>8.2f} {row['bias']:>+7.3f} {row['coverage']:>6.2f} "
                f"{row['compute']:>7.2f} {row['cmp.2']:>6.2f} {row['max']:>5.2f} {row['power.1']:>7.2f} "
                f"{row['power.2']:>7.2f}",
                flush=True,
            )
    if args.summary:
        print()
        print(
            f"{'design':<17} {'false max':>9} {'cover min':>9} {'compute max':>11} {'cmp.2 max':>9} {'max':>5} "
            f"{'power.2 success mean':>20} {'min':>5} {'l1 min':>6}"
        )
        for design in SEQ_DESIGNS:
            rows = {key: r for key, r in table.items() if key[3] == design}
            success = [r["power.2"] for key, r in rows.items() if not key[0].endswith("-l1")]
            l1 = [r["power.2"] for key, r in rows.items() if key[0].endswith("-l1")]
            print(
                f"{design:<17} {max(r['false'] for r in rows.values()):>9.3f} "
                f"{min(r['coverage'] for r in rows.values() if math.isfinite(r['coverage'])):>9.2f} "
                f"{max(r['compute'] for r in rows.values()):>11.2f} {max(r['cmp.2'] for r in rows.values()):>9.2f} "
                f"{max(r['max'] for r in rows.values()):>5.2f} {float(np.mean(success)) if success else math.nan:>20.2f} "
                f"{min(success) if success else math.nan:>5.2f} {min(l1) if l1 else math.nan:>6.2f}"
            )
    return 0


def power_bound(sd: float, k: int, s: int, effect: float = 0.20, budget: float = 1.5) -> tuple[int, float, int, float]:
    """(fresh seeds m within the budget, the known-SD z-test's power on s + m seeds, the seeds it needs for 80%, the
    compute those need against today's k * s + s): `--bound`'s arithmetic."""
    z = stats.norm.ppf(0.975)
    default = k * s + s
    fresh = int((budget - 1.0) * default // 2)
    bound = float(stats.norm.cdf(effect * math.sqrt(s + fresh) / sd - z))
    need = math.ceil(((z + stats.norm.ppf(0.80)) * sd / effect) ** 2)
    return fresh, bound, need, (default + 2 * max(need - s, 0)) / default


def main_bound(args) -> int:
    print(f"{'pool':<13} {'k':>2} {'s':>2} {'sd':>6} {'m':>3} {'power bound':>11} {'need s+m':>8} {'need compute':>12}")
    for name, k, s, configs, baseline, better in cells(args.pools.split(","), args.normal):
        sign = 1.0 if better == "max" else -1.0
        sd, _ = pooled_sd([[sign * (v[t] - baseline[t]) for t in baseline] for v in configs.values()])
        fresh, bound, need, compute = power_bound(sd, k, s)
        print(f"{name:<13} {k:>2} {s:>2} {sd:>6.3f} {fresh:>3} {bound:>11.2f} {need:>8} {compute:>11.2f}x")
    return 0


def high_mode(baseline: dict) -> set:
    """Co-training's seeds above the widest gap between its sorted values (its "high mode"). On repro-old: 0.50-0.67
    on five seeds against 0.07-0.28 on seven (RESULTS, session 17)."""
    ordered = sorted(baseline.values())
    gap = max(range(len(ordered) - 1), key=lambda i: ordered[i + 1] - ordered[i])
    return {t for t, v in baseline.items() if v > ordered[gap]}


def main_by_mode(args) -> int:
    """`confirm-pooled`'s `cover` on the same sweeps as the table, split by how many of co-training's high-mode seeds
    (`high_mode`) the search drew (none, all, a mix) and the fresh seeds drew."""
    c = args.confirm_seeds
    print(f"{'pool':<11} {'k':>2} {'s':>2} {'search seeds':<13} {'fresh high':>10} {'sweeps':>6} {'cover':>6}")
    for name, k, s, configs, baseline, better in cells(args.pools.split(","), args.normal):
        if len(baseline) - s - c < 2:
            continue
        high = high_mode(baseline)
        rng = np.random.default_rng(0)  # the table's replays, sweep for sweep
        groups: dict[tuple, list[bool]] = {}
        for _ in range(args.replays):
            out, _, _, (search, fresh) = one_sweep(rng, configs, baseline, better, k, s, c, None)
            hit = covers(out["confirm-pooled"])
            if hit is None:
                continue
            n_high = sum(t in high for t in search)
            mix = "all-low" if n_high == 0 else "all-high" if n_high == len(search) else "mixed"
            for key in ((mix, "any"), ("any", sum(t in high for t in fresh)), ("any", "any")):
                groups.setdefault(key, []).append(hit)
        for (mix, fresh_high), hits in sorted(groups.items(), key=lambda kv: (kv[0][0] == "any", str(kv[0]))):
            print(f"{name:<11} {k:>2} {s:>2} {mix:<13} {fresh_high!s:>10} {len(hits):>6} {np.mean(hits):>6.2f}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=2000)
    parser.add_argument("--pools", default=",".join(POOLS))
    parser.add_argument("--confirm-seeds", type=int, default=2)
    parser.add_argument("--sequential", action="store_true", help="the sequential designs, fresh seeds resampled")
    parser.add_argument("--summary", action="store_true", help="with --sequential: one line per design")
    parser.add_argument(
        "--by-mode", action="store_true", help="confirm-pooled's cover split by co-training's high-mode seeds drawn"
    )
    parser.add_argument("--bound", action="store_true", help="the most power a fixed design has within 1.5x compute")
    parser.add_argument(
        "--normal", type=int, default=0, metavar="N", help="replay each pool's normal model on N seeds (`normal_pool`)"
    )
    args = parser.parse_args(argv)
    if args.bound:
        return main_bound(args)
    if args.sequential:
        return main_sequential(args)
    if args.by_mode:
        return main_by_mode(args)
    print(
        f"{'pool':<13} {'k':>2} {'s':>2} {'c':>2} {'h':>2} {'design':<17} {'claims':>6} {'false':>6} {'false|cl':>8} "
        f"{'bias':>7} {'cover':>6} {'cover.t':>7} {'compute':>7} {'power.1':>7} {'power.2':>7}"
    )
    c = args.confirm_seeds
    for name, k, s, configs, baseline, better in cells(args.pools.split(","), args.normal):
        h = len(baseline) - s - c
        if h < 1:
            continue
        base = replay(configs, baseline, better, k, s, c, args.replays)
        powers = [
            replay(configs, baseline, better, k, s, c, args.replays, seed=1, plant=("", effect))
            for effect in (0.10, 0.20)
        ]
        for design in DESIGNS:
            row = base[design]
            print(
                f"{name:<13} {k:>2} {s:>2} {c:>2} {h:>2} {design:<17} {row['claims']:>6.3f} {row['false']:>6.3f} "
                f"{row['false_of_claims']:>8.2f} {row['bias']:>+7.3f} {row['coverage']:>6.2f} {row['coverage_t']:>7.2f} "
                f"{row['compute']:>7.2f} {powers[0][design]['power']:>7.2f} {powers[1][design]['power']:>7.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
