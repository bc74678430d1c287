"""Can OT transfer on the embedded benchmark? The oracle on twins, the screen of variants, the best against co-training.

    python -m bench.transfer_study run --out bench/data/transfer_cpu.jsonl --jobs 2
    python -m bench.transfer_study analyse bench/data/transfer_cpu.jsonl --probe --plot bench/transfer.png
    python -m bench.transfer_study run --quick --out /tmp/t.jsonl && python -m bench.transfer_study analyse /tmp/t.jsonl --probe --quick

Every run is a converged trial (the training defaults: 1,500 steps, cosine schedule, EMA weights, success from
100 fixed rollouts at the last step, in the target and the source domain), and every arm is paired with
co-training (`ot.lambda_ot=0`) on the same seeds and the same data, so a difference is read per seed.
OT runs at the shipped OT defaults unless an arm says otherwise. Arms, in the order they run (what is most
worth knowing first, so a study cut short keeps it: the oracle's first half, the screen's first arms, the oracle
with unit-length embeddings, best, the oracle's second half (unit-length), the oracle at 10x lambda_ot, the screen's
unit-length arms at 10x lambda_ot and with the soft prior, keypoints, shift 1, tokens (unit-length), the screen's
state-only unit-length arm, keypoints with state-only pairing, the screen's raw soft arms, tokens with state-only
pairing and with the soft prior, shift 1's soft and state-only unit-length arms, unit-length keypoints (what the
`ot_embedding` space runs), the oracle's second half with raw embeddings, tokens with raw embeddings, keypoints with
the soft prior):

1. `oracle`: the twin sim (`data.sim.twins=true`: every target demo restarts a source demo's layout, so its
   twin is the perfect OT partner), co-training vs OT drawing each target frame's partner from its true twin
   only (`bench/twins_oracle.py`'s oracle pairing), with the method's raw embeddings and with unit-length ones
   (`ot.embed_norm=l2`, the training default), --oracle-seeds seeds; with unit-length ones at lambda_ot 1.0
   (`-x10`) on half of them. Can alignment win here at all?
2. `screen`: the default sim, co-training vs OT with state-only DTW pairing (`data.pair_summary_weight=0`:
   the pairing before the outcome summary, and again the default since this study) and with the outcome summary
   (`data.pair_summary=[observation.state]`, every arm's pairing unless it says otherwise), hard prior;
   then with unit-length embeddings (`ot.embed_norm=l2`: every `ot_full` config shrinks the mean embedding to
   ~6% of its size, bench/RESULTS.md), alone, at 10x lambda_ot, with the soft (banded) prior and with state-only
   pairing, then both pairings of the raw embedding with the soft prior; --seeds seeds.
3. `kp`: 64 px frames (keypoints need a 2x2 feature map), a keypoint-pooling policy: co-training vs OT on the
   keypoints the policy reads (`ot.embedding=keypoints`, raw: keypoints are bounded), with the outcome-summary
   pairing (combined), with state-only pairing (keypoints alone) and with the outcome summary and the soft prior;
   then unit-length keypoints with the outcome summary (the training default's `ot.embed_norm=l2`).
4. `shift1`: the default sim at domain shift 1 (`data.sim.shift=1`): co-training vs today's OT (raw, state-only
   pairing) and unit-length OT with the outcome summary (hard and soft prior) and with state-only pairing.
5. `best`: the arms chosen with --best (after reading the screen) on --best-seeds further seeds, their
   co-training on the same seeds (one run a seed, shared). --extend does the same for an arm of another group
   (keypoints, tokens: their own co-training) in that group, before the rest.
6. `tokens`: 64 px, map tokens: co-training vs OT on the flattened tokens the transformer reads, unit-length and raw
   with the outcome summary, unit-length with state-only pairing (tokens alone) and with the soft prior.

One JSON line per finished run is appended to --out (a second `run` skips what is there). `analyse` prints, per
group, success overall / covered / uncovered / source with 95% t-intervals over seeds and each OT arm's paired
difference to its co-training (uncovered half, and overall) with the 95% t-interval of the per-seed differences;
`--probe` adds the goal-decoding probe of each run's saved weights (`bench/goal_probe.py`): the median goal error
(success radii) on the target's uncovered and covered halves.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

# analyse counts the runs the built-in `not_converged` rule flags and repeats each difference without them,
# because the 1,500-step budget was chosen on success, not on this signal.
from actot.convergence import NOT_CONVERGED_BELOW, TREND_KEY
from bench.runs import TINY, final, mean_ci, read_rows, run_jobs

# Every arm's base: the study began when DTW pairing added the outcome summary by default (it is off by default
# since this study); rows written then carry no such key, so `as_run` adds it when rows and arms are compared.
OUTCOME_PAIRING = {"data.pair_summary": ["observation.state"]}
COTRAIN = {"ot.lambda_ot": 0.0}
RAW = {
    "ot.embed_norm": "none"
}  # the method's cost on raw embeddings (the training default was this when the study began)
STATE_PAIRING = {"data.pair_summary_weight": 0.0, **RAW}
SOFT = {"ot.heuristic": "soft"}
PX64 = {"data.resolution": [64, 64]}
TWINS = {"data.sim.twins": True}
SHIFT1 = {"data.sim.shift": 1.0}
UNIT = {"ot.embed_norm": "l2"}  # unit-length embeddings: the cost cannot fall by shrinking them
STRONG = {
    "ot.lambda_ot": 1.0
}  # 10x the default: unit-length costs are small (<= 4), so OT's gradient is ~5% of BC's at 0.1
KEYPOINTS = {**PX64, "policy.image_pooling": "keypoints"}

# group -> arm -> (training overrides, pairing: dtw or oracle). Each group's first arm is its co-training.
GROUPS = {
    "oracle": {
        "cotrain": ({**TWINS, **COTRAIN}, "dtw"),
        "OT-oracle": ({**TWINS, **RAW}, "oracle"),
        "OT-oracle-l2": ({**TWINS, **UNIT}, "oracle"),
        "OT-oracle-l2-x10": ({**TWINS, **UNIT, **STRONG}, "oracle"),
    },
    "screen": {
        "cotrain": (COTRAIN, "dtw"),
        "OT-state": (STATE_PAIRING, "dtw"),
        "OT-summary": (RAW, "dtw"),
        "OT-state-soft": ({**STATE_PAIRING, **SOFT}, "dtw"),
        "OT-summary-soft": ({**RAW, **SOFT}, "dtw"),
        "OT-summary-l2": (UNIT, "dtw"),
        "OT-summary-l2-soft": ({**UNIT, **SOFT}, "dtw"),
        "OT-state-l2": ({**STATE_PAIRING, **UNIT}, "dtw"),
        "OT-summary-l2-x10": ({**UNIT, **STRONG}, "dtw"),
    },
    "kp": {
        "cotrain": ({**KEYPOINTS, **COTRAIN}, "dtw"),
        "OT-keypoints": ({**KEYPOINTS, **RAW, "ot.embedding": "keypoints"}, "dtw"),
        "OT-keypoints-state": ({**KEYPOINTS, **STATE_PAIRING, "ot.embedding": "keypoints"}, "dtw"),
        "OT-keypoints-l2": ({**KEYPOINTS, **UNIT, "ot.embedding": "keypoints"}, "dtw"),
        "OT-keypoints-soft": ({**KEYPOINTS, **RAW, **SOFT, "ot.embedding": "keypoints"}, "dtw"),
    },
    "shift1": {
        "cotrain": ({**SHIFT1, **COTRAIN}, "dtw"),
        "OT-state": ({**SHIFT1, **STATE_PAIRING}, "dtw"),
        "OT-summary-l2": ({**SHIFT1, **UNIT}, "dtw"),
        "OT-summary-l2-soft": ({**SHIFT1, **UNIT, **SOFT}, "dtw"),
        "OT-state-l2": ({**SHIFT1, **STATE_PAIRING, **UNIT}, "dtw"),
    },
    "tokens": {
        "cotrain": ({**PX64, **COTRAIN}, "dtw"),
        "OT-tokens-l2": ({**PX64, **UNIT, "ot.embedding": "tokens"}, "dtw"),
        "OT-tokens": ({**PX64, **RAW, "ot.embedding": "tokens"}, "dtw"),
        "OT-tokens-l2-state": ({**PX64, **STATE_PAIRING, **UNIT, "ot.embedding": "tokens"}, "dtw"),
        "OT-tokens-l2-soft": ({**PX64, **UNIT, **SOFT, "ot.embedding": "tokens"}, "dtw"),
    },
}
KEYS = ("eval/success", "eval/success_covered", "eval/success_uncovered", "eval/success_source")
# OT against OT on the same seeds: what one option does with the rest held (table, arm, the arm it differs from).
CONTRASTS = [
    ("best+screen", "OT-state-l2", "OT-summary-l2"),
    ("tokens", "OT-tokens-l2-state", "OT-tokens-l2"),
    ("shift1", "OT-state-l2", "OT-summary-l2"),
    ("screen", "OT-state", "OT-summary"),
    ("kp", "OT-keypoints-state", "OT-keypoints"),
    ("best+screen", "OT-summary-l2-soft", "OT-summary-l2"),
    ("tokens", "OT-tokens-l2-soft", "OT-tokens-l2"),
    ("shift1", "OT-summary-l2-soft", "OT-summary-l2"),
    ("screen", "OT-summary-soft", "OT-summary"),
    ("screen", "OT-state-soft", "OT-state"),
    ("kp", "OT-keypoints-l2", "OT-keypoints"),
]
# Does OT act? Its share of the gradient at the last step (whether pairs end closer: --probe's pair ratios).
ACTS = ("ot_grad_ratio",)


def as_run(overrides: dict) -> dict:
    """An arm's overrides as its runs ran them: on the outcome-summary pairing unless the arm says otherwise."""
    return {**OUTCOME_PAIRING, **overrides}


def run_arm(job: dict) -> dict:
    """One run; the oracle arm first sets the process's cached pairing to the true twins, and a DTW arm after it
    sets DTW's back (the datasets stay cached from one job to the next)."""
    from bench.twins_oracle import run_with_pairing

    return run_with_pairing(job)


def plan(args) -> list[dict]:
    """The runs in the order they start: see the module's docstring."""
    common = {
        "rollout_episodes": args.rollouts,
        "threads": 1,
        "log_every": args.log_every,
        **({"steps": args.steps} if args.steps else {}),
        **(TINY if args.quick else {}),
    }
    out_dir = str(Path(args.runs_dir).resolve())

    def jobs(group: str, seeds, arms=None) -> list[dict]:
        chosen = {a: v for a, v in GROUPS[group].items() if arms is None or a in arms}
        return [
            {
                "id": f"{group}/{arm}/s{seed}",
                "group": group,
                "name": arm,
                "overrides": as_run(overrides),
                "seed": seed,
                "pairing": pairing,
                "common": common,
                "out_dir": out_dir,
            }
            for seed in seeds
            for arm, (overrides, pairing) in chosen.items()
        ]

    half = (args.oracle_seeds + 1) // 2
    order = jobs("oracle", range(half), ["cotrain", "OT-oracle"])
    order += jobs("screen", range(args.seeds), ["cotrain", "OT-state", "OT-summary", "OT-summary-l2"])
    order += jobs("oracle", range(half), ["OT-oracle-l2"])
    best_arms = args.best.split(",") if args.best else []
    if len({b.split("/")[0] for b in best_arms}) > 1:  # best/cotrain/sN is one run: its home group must be one
        raise SystemExit(f"--best {args.best}: the arms must come from one group (their co-training is shared)")
    for best in best_arms:
        group, arm = best.split("/")
        extra = range(args.seeds, args.seeds + args.best_seeds)
        order += [
            {**j, "id": j["id"].replace(f"{group}/", "best/", 1), "group": "best"}
            for j in jobs(group, extra, ["cotrain", arm])
        ]
    order = list({j["id"]: j for j in order}.values())  # two best arms share their co-training: run it once
    for extend in args.extend.split(",") if args.extend else []:  # in its own group, first
        group, arm = extend.split("/")
        order += jobs(group, range(args.seeds, args.seeds + args.best_seeds), ["cotrain", arm])
    order += jobs("oracle", range(half, args.oracle_seeds), ["cotrain", "OT-oracle-l2"])
    order += jobs("oracle", range(half), ["OT-oracle-l2-x10"])
    order += jobs("screen", range(args.seeds), ["OT-summary-l2-x10", "OT-summary-l2-soft"])
    order += jobs("kp", range(args.seeds), ["cotrain", "OT-keypoints"])
    order += jobs("shift1", range(args.seeds), ["cotrain", "OT-summary-l2", "OT-state"])
    order += jobs("tokens", range(args.seeds), ["cotrain", "OT-tokens-l2"])
    order += jobs("screen", range(args.seeds), ["OT-state-l2"]) + jobs("kp", range(args.seeds), ["OT-keypoints-state"])
    order += jobs("screen", range(args.seeds), ["OT-summary-soft", "OT-state-soft"])
    order += jobs("tokens", range(args.seeds), ["OT-tokens-l2-state", "OT-tokens-l2-soft"])
    order += jobs("shift1", range(args.seeds), ["OT-summary-l2-soft", "OT-state-l2"])
    order += jobs("kp", range(args.seeds), ["OT-keypoints-l2"])
    order += jobs("oracle", range(half, args.oracle_seeds), ["OT-oracle"]) + jobs(
        "tokens", range(args.seeds), ["OT-tokens"]
    )
    order += jobs("kp", range(args.seeds), ["OT-keypoints-soft"])
    wanted = set(args.only.split(",")) if args.only else None
    return [j for j in order if wanted is None or j["group"] in wanted]


def still_falling(run: dict) -> bool:
    """The `not_converged` rule's flag at the run's last report: held-out L1 still falling (actot/convergence.py)."""
    trend = final(run, TREND_KEY)
    return trend is not None and trend < NOT_CONVERGED_BELOW


def paired_difference(arm: list[dict], base: list[dict], key: str, keep=lambda run: True) -> tuple[float, float, int]:
    """Mean and 95% t half-width of arm - co-training over the seeds both ran (and both pass `keep`)."""
    by_seed = {r["seed"]: final(r, key) for r in base if keep(r)}
    diffs = [
        final(r, key) - by_seed[r["seed"]]
        for r in arm
        if by_seed.get(r["seed"]) is not None and final(r, key) is not None and keep(r)
    ]
    if not diffs:
        return math.nan, math.nan, 0
    mean, half, _ = mean_ci(diffs)
    return mean, half, len(diffs)


def show(mean: float, half: float, signed: bool = True) -> str:
    """'mean [lo, hi]' (signed: a difference, each number with its sign)."""
    if mean != mean:
        return "-"
    form = "+.3f" if signed else ".3f"
    lo, hi = (format(v, form.replace("3", "2")) for v in (mean - half, mean + half))
    return f"{mean:{form}} [{lo}, {hi}]" if half == half else f"{mean:{form}}"


def cached_probe(
    run_dir: Path, name: str = "goal_probe", oracle: bool = False, pairs_from: Path | None = None, quick: bool = False
):
    """A probe of a run's final weights, kept beside its checkpoint (NAME.json) so that a second analyse reads it;
    recomputed when the checkpoint is newer (a rerun). `goal_probe`: goal decoding (goal_probe.probe); `pair_ratio`:
    pairs against strangers on the pairs of `pairs_from`'s data (its co-training's: the same pairs for every arm of a
    group) or the twins (`oracle`) (goal_probe.pair_ratio). `quick`: on goal_probe.QUICK's smaller samples, kept as
    NAME.quick.json."""
    from bench import goal_probe

    size = goal_probe.QUICK[name] if quick else {}
    cache, ckpt = run_dir / f"{name}{'.quick' if quick else ''}.json", run_dir / "checkpoint"
    if cache.is_file() and ckpt.exists() and cache.stat().st_mtime >= max(p.stat().st_mtime for p in ckpt.iterdir()):
        return json.loads(cache.read_text())
    result = (
        goal_probe.probe(run_dir, **size)
        if name == "goal_probe"
        else goal_probe.pair_ratio(run_dir, oracle=oracle, pairs_from=pairs_from, **size)
    )
    if result is not None:
        cache.write_text(json.dumps(result))
    return result


def tables(finished: list[dict]) -> list[tuple[str, list[dict]]]:
    """(label, runs) per group; the best arm's seeds also joined with its arm's seeds in the group it came from
    (with both co-trainings), labelled 'best+GROUP': the comparison on every seed."""
    out = [(group, [r for r in finished if r["group"] == group]) for group in [*GROUPS, "best"]]
    best = dict(out)["best"]
    joined: dict[str, set] = {}  # home group -> its arms in best (one table: they share best's co-training)
    for arm in dict.fromkeys(r["name"] for r in best if r["name"] != "cotrain"):
        overrides = as_run(next(r["overrides"] for r in best if r["name"] == arm))
        home = next((g for g, arms in GROUPS.items() if arm in arms and as_run(arms[arm][0]) == overrides), None)
        if home is not None:
            joined.setdefault(home, {"cotrain"}).add(arm)
    out += [(f"best+{home}", [r for r in best + dict(out)[home] if r["name"] in arms]) for home, arms in joined.items()]
    return [(label, runs) for label, runs in out if runs]


def analyse(args) -> None:
    rows = read_rows(args.file)
    finished = [r for r in rows if r["status"] == "finished" and final(r) is not None]
    probe, pairs = {}, {}
    if args.probe:
        for r in finished:
            probe[r["id"]] = cached_probe(Path(args.runs_dir) / r["id"], quick=args.quick)
            cotrain = Path(args.runs_dir) / r["group"] / "cotrain" / f"s{r['seed']}"
            pairs[r["id"]] = cached_probe(
                Path(args.runs_dir) / r["id"],
                "pair_ratio",
                oracle=bool(r["overrides"].get("data.sim.twins")),
                pairs_from=cotrain if (cotrain / "config.json").is_file() else None,
                quick=args.quick,
            )
    print(
        f"{Path(args.file).name}: final success (EMA weights, 100 fixed rollouts), mean [95% t-interval] over seeds;"
        " diff = OT - co-training per seed, mean [95% t-interval]; grad ratio (ot_grad_ratio: OT's gradient / BC's)"
        " at the last step, mean over seeds; flagged: runs whose held-out L1 still fell at the end (the not_converged"
        " rule), diff uncovered without them: the pairs where neither run is flagged"
    )
    header = (
        "| group | arm | n | success | covered | uncovered | source | diff uncovered | diff overall | grad ratio |"
        " flagged | diff uncovered, unflagged pairs |"
    )
    header += " goal probe: uncovered | covered | pairs/strangers: unit | raw |" if args.probe else ""
    print(header + "\n|" + "---|" * (header.count("|") - 1))
    summary = []
    for group, runs in tables(finished):
        base = [r for r in runs if r["name"] == "cotrain"]
        for arm in dict.fromkeys(r["name"] for r in sorted(runs, key=lambda r: r["name"] != "cotrain")):
            these = [r for r in runs if r["name"] == arm]
            cells = []
            for key in KEYS:
                values = [final(r, key) for r in these if final(r, key) is not None]
                cells.append(show(*mean_ci(values)[:2], signed=False) if values else "-")
            du = paired_difference(these, base, "eval/success_uncovered") if arm != "cotrain" else (math.nan,) * 3
            do = paired_difference(these, base, "eval/success") if arm != "cotrain" else (math.nan,) * 3
            line = (
                f"| {group} | {arm} | {len(these)} | " + " | ".join(cells) + f" | {show(*du[:2])} | {show(*do[:2])} |"
            )
            for key in ACTS:
                values = [final(r, key) for r in these if final(r, key) is not None]
                line += f" {sum(values) / len(values):.3f} |" if values else " - |"
            clean = (
                paired_difference(these, base, "eval/success_uncovered", lambda r: not still_falling(r))
                if arm != "cotrain"
                else (math.nan, math.nan, 0)
            )
            line += f" {sum(map(still_falling, these))} | {show(*clean[:2])}" + (
                f" (n={clean[2]}) |" if clean[2] else " |"
            )
            if args.probe:
                for part in ("target", "covered"):
                    errors = [probe[r["id"]][part] for r in these if probe.get(r["id"]) is not None]
                    line += f" {show(*mean_ci(errors)[:2], signed=False)} |" if errors else " - |"
                for space in ("unit", "raw"):
                    ratios = [pairs[r["id"]][space] for r in these if pairs.get(r["id"]) is not None]
                    line += f" {show(*mean_ci(ratios)[:2], signed=False)} |" if ratios else " - |"
            print(line)
            summary.append((group, arm, these, du))
    print("\n| table | arm | against | n | diff uncovered | diff overall |\n|---|---|---|---|---|---|")
    tabled = dict(tables(finished))
    for label, arm, other in CONTRASTS:
        runs = tabled.get(label, [])
        a, b = ([r for r in runs if r["name"] == name] for name in (arm, other))
        du, do = (paired_difference(a, b, key) for key in ("eval/success_uncovered", "eval/success"))
        if du[2]:
            print(f"| {label} | {arm} | {other} | {du[2]} | {show(*du[:2])} | {show(*do[:2])} |")
    chance = sorted({round(p["chance"], 2) for p in probe.values() if p is not None})
    if chance:
        print(
            f"\ngoal probe: median goal error in success radii of a ridge map fitted on source embeddings, read on the "
            f"target expert's frames of the uncovered / covered half (bench/goal_probe.py); guessing the mean goal "
            f"scores {', '.join(map(str, chance))} on the uncovered half"
        )
        print(
            "pairs/strangers: ot_pair_ratio of the final weights on 16 OT batches drawn alike for every run of a "
            "group (its co-training's pairing; the oracle's: its twins), of unit-length (what the cost compares under ot.embed_norm=l2) and raw "
            "embeddings; co-training's is what encoding alone does (goal_probe.pair_ratio)"
        )
    failed = [r["id"] for r in rows if r["status"] != "finished"]
    if failed:
        print(f"\nnot finished: {failed}")
    if args.plot:
        plot(summary, args.plot)


def plot(summary, path: str) -> None:
    """Per arm: the per-seed differences to co-training on the uncovered half, with the mean and its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [(g, a, du) for g, a, these, du in summary if a != "cotrain" and du[2]]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(arms) + 1.2))
    for i, (group, arm, (mean, half, n)) in enumerate(arms):
        ax.errorbar([mean], [i], xerr=[[0 if half != half else half]], fmt="o", capsize=4, color="tab:blue")
        ax.text(1.02, i, f"n={n}", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    ax.axvline(0, color="gray", lw=1)
    ax.axvline(0.10, color="tab:green", lw=1, ls="--", label="goal: +0.10")
    ax.set_yticks(range(len(arms)), [f"{g}/{a}" for g, a, _ in arms])
    ax.set_xlabel(
        "uncovered-half success, OT - co-training on the same seed\n(mean and 95% t-interval of the differences)"
    )
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", required=True)
    r.add_argument("--runs-dir", default="runs/transfer")
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--seeds", type=int, default=5)
    r.add_argument("--oracle-seeds", type=int, default=10)
    r.add_argument(
        "--best",
        help="GROUP/ARM[,GROUP/ARM] to run on --best-seeds more seeds with its co-training, e.g. screen/OT-summary",
    )
    r.add_argument(
        "--extend",
        help="GROUP/ARM[,...] to run on --best-seeds more seeds in its own group, with the "
        "group's co-training (for an arm whose co-training is not the screen's, e.g. tokens/OT-tokens-l2)",
    )
    r.add_argument("--best-seeds", type=int, default=5)
    r.add_argument(
        "--steps", type=int, default=1500, help="training steps (1,500: the converged budget of the local sweep)"
    )
    r.add_argument("--rollouts", type=int, default=100)
    r.add_argument("--log-every", type=int, default=100)
    r.add_argument("--only", help="comma-separated groups: oracle,screen,kp,shift1,best,tokens (default all)")
    r.add_argument("--quick", action="store_true", help="a CI-sized run: tiny model, a few steps, 1 seed")
    a = sub.add_parser("analyse")
    a.add_argument("file")
    a.add_argument("--runs-dir", default="runs/transfer")
    a.add_argument("--probe", action="store_true", help="the goal-decoding probe on each run's saved weights")
    a.add_argument(
        "--quick", action="store_true", help="the probes on smaller samples (goal_probe.QUICK): for run --quick"
    )
    a.add_argument("--plot")
    args = parser.parse_args(argv)
    if args.command == "analyse":
        analyse(args)
        return 0
    if args.quick:
        args.steps, args.seeds, args.oracle_seeds, args.best_seeds, args.rollouts, args.log_every = 6, 1, 1, 1, 4, 3
    started = time.perf_counter()
    run_jobs(plan(args), Path(args.out), args.jobs, shown="eval/success_uncovered", runner=run_arm)
    print(f"done in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
