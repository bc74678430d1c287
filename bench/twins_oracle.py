"""Can OT transfer at all when its pairs are perfect? The oracle check on the twin sim (`data.sim.twins=true`).

    python -m bench.twins_oracle run --out bench/data/twins_oracle.jsonl --seeds 5 --jobs 2
    python -m bench.twins_oracle analyse bench/data/twins_oracle.jsonl
    python -m bench.twins_oracle run --quick --out /tmp/o.jsonl && python -m bench.twins_oracle analyse /tmp/o.jsonl

On the twin sim every target demo restarts a source demo's layout (same start, goal and distractor,
another rendering and another draw of the expert's noise), so its twin is the perfect OT partner. Two
pairings are compared: `dtw`, the DTW pairing training uses, and `oracle`, each
target demo drawn with its true twin only, frames matched by DTW within that pair. Conditions, each with
--seeds seeds, all at 64 px frames (keypoints need a 2x2 map):

- `cotrain` and `cotrain-kp`: co-training without OT (`ot.lambda_ot=0`), with LeRobot's map tokens and with
  keypoint pooling (the baselines of the two policies);
- `OT-<embedding>-<pairing>` for ot.embedding in mean, tokens, keypoints and both pairings, at the
  shipped OT defaults (the seed's R1).

If OT with oracle pairs does not beat co-training on the uncovered half, no pairing will make it
transfer on this benchmark, and the embedding is what to look at; if oracle beats dtw, the pairing is.
`analyse` prints success (overall, covered, uncovered) with 95% t-intervals and the pairs' embedding
distance against strangers' (`ot_pair_ratio`) at the last step. Runs append to --out (a second `run`
skips what is there; bench/runs.py's loop).
"""

from __future__ import annotations

from pathlib import Path

from bench.runs import TINY, final, mean_ci, read_rows, run_jobs, run_one, study_main, study_parser

BASE = {"data.sim.twins": True, "data.resolution": 64}
CONDITIONS = {
    "cotrain": ({"ot.lambda_ot": 0.0}, "dtw"),
    "cotrain-kp": ({"ot.lambda_ot": 0.0, "policy.image_pooling": "keypoints"}, "dtw"),
    **{
        f"OT-{embedding}-{pairing}": ({"ot.embedding": embedding}, pairing)
        for embedding in ("mean", "tokens", "keypoints")
        for pairing in ("dtw", "oracle")
    },
}


def oracle_pairing(data, true_pairs: dict[int, int]):
    """The DTW pairing's costs with every target demo's draws on its true twin alone, frames matched by DTW."""
    import numpy as np

    from actot.data.pairing import DEFAULT_BAND, Pairing, dtw_match

    def trajectory(episode):
        return np.concatenate([episode["state"], episode["action"]], 1)

    position = {e["index"]: i for i, e in enumerate(data.src)}
    probs, matches = np.zeros_like(data.pairing.probs), {}
    for t, episode in enumerate(data.tgt_train):
        s = position[true_pairs[episode["index"]]]
        probs[t, s] = 1.0
        matches[(t, s)] = dtw_match(trajectory(episode), trajectory(data.src[s]), DEFAULT_BAND)
    return Pairing(data.pairing.costs, probs, matches)


def run_with_pairing(job: dict) -> dict:
    """`run_one`, after setting the pairing of the worker's cached datasets to the job's (dtw or oracle). Every job of a
    study that has oracle jobs goes through here: the datasets stay cached in the process (a pool worker, or the
    study's own process with --jobs 1) from one job to the next, the oracle's pairing with them."""
    from actot.config import TrainConfig, apply_overrides
    from actot.run_data import load_data

    cfg = apply_overrides(TrainConfig(), {**job["common"], **job["overrides"]}, f"run {job['id']}")
    data, true_pairs, _ = load_data(cfg)
    if job["pairing"] == "oracle":
        if not hasattr(data, "dtw_pairing"):  # the cached datasets outlive the job: keep DTW's to restore it
            data.dtw_pairing = data.pairing
            data.oracle_pairing = oracle_pairing(data, true_pairs)
        data.pairing = data.oracle_pairing
    elif hasattr(data, "dtw_pairing"):  # an oracle job ran on these cached datasets before: DTW's pairing back
        data.pairing = data.dtw_pairing
    return run_one(job)


def run(args) -> None:
    from actot.config import parse_value

    common = {
        **BASE,
        "steps": args.steps,
        "log_every": args.log_every,
        "rollout_episodes": args.rollouts,
        "threads": 1,
        **{k: parse_value(v) for k, v in (pair.split("=", 1) for pair in args.set or [])},
    }
    jobs = [
        {
            "id": f"oracle/{name}/s{seed}",
            "group": "oracle",
            "name": name,
            "overrides": overrides,
            "seed": seed,
            "pairing": pairing,
            "common": common,
            "out_dir": str(Path(args.runs_dir).resolve()),
        }
        for seed in range(args.seeds)
        for name, (overrides, pairing) in CONDITIONS.items()
    ]
    run_jobs(jobs, Path(args.out), args.jobs, shown="eval/success_uncovered", runner=run_with_pairing)


def analyse(args) -> None:
    rows = read_rows(args.file)
    print(f"twin sim, {Path(args.file).name}: success at the last step, mean [95% t-interval] over seeds")
    print(f"{'condition':<20} {'n':>3}  {'success':<20} {'covered':<20} {'uncovered':<20} {'pair ratio':<10}")
    for name in CONDITIONS:
        runs = [r for r in rows if r["name"] == name and r["status"] == "finished"]
        if not runs:
            continue

        def show(key):
            values = [final(r, key) for r in runs if final(r, key) is not None]
            if not values:
                return "-"
            mean, half, _ = mean_ci(values)
            return f"{mean:.3f}" + (f" [{mean - half:.2f}, {mean + half:.2f}]" if half == half else "")

        ratio = [final(r, "ot_pair_ratio") for r in runs if final(r, "ot_pair_ratio") is not None]
        shown_ratio = f"{sum(ratio) / len(ratio):.3f}" if ratio else "-"
        print(
            f"{name:<20} {len(runs):>3}  {show('eval/success'):<20} {show('eval/success_covered'):<20} "
            f"{show('eval/success_uncovered'):<20} {shown_ratio:<10}"
        )
    failed = [r["id"] for r in rows if r["status"] != "finished"]
    if failed:
        print(f"not finished: {failed}")


def run_study(args) -> None:
    if args.quick:
        args.steps, args.seeds, args.rollouts, args.log_every = 6, 1, 4, 3
        args.set = (args.set or []) + [f"{k}={v}" for k, v in TINY.items() if k != "data.resolution"]
    run(args)


def main(argv=None) -> int:
    parser, run_args, _ = study_parser(
        __doc__,
        runs_dir="runs/twins_oracle",
        seeds=5,
        steps=1000,
        log_every=50,
        quick_help="a CI-sized run: tiny model, a few steps, 1 seed",
    )
    run_args.add_argument(
        "--set", action="append", help="another training key=value for every run (e.g. ot.lambda_ot=0.3)"
    )
    return study_main(parser, argv, run_study, analyse)


if __name__ == "__main__":
    raise SystemExit(main())
