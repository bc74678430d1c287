"""Full training histories for the rule audit and the sweep-efficiency replay, as JSON lines.

    python -m bench.histories --space ot_full --configs 24 --seeds 3 --group pool --out pool.jsonl \\
        steps=2000 log_every=50 rollout_episodes=100 device=cuda
    python -m bench.histories --quick --out quick.jsonl        # tiny real runs on a small sim (CPU, ~1 min)

Each config is a space's starting point, then configs drawn at random from the space (Optuna's
RandomSampler, seeded); each runs with seeds 0..N-1 to its last step, no rule acting, one run at a
time in this process. Every line of --out is one run: {"group", "config" (knob -> value as the space
names it), "seed", "history" (the rows of history.parquet)}: what bench/rule_audit.py and
bench/sweep_efficiency.py read. The extra `key=value` words are training keys for every run.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import sys
import tempfile
import time
from pathlib import Path

from actot.rules.replay import Run, write_runs_jsonl

# The tiny model and data of tests/test_train.py: a run of 60 steps takes a few seconds on one core.
TINY = [
    "data.resolution=16",
    "data.n_eval_target=1",
    "policy.dim_model=32",
    "policy.n_heads=2",
    "policy.dim_feedforward=64",
    "policy.n_encoder_layers=1",
    "policy.n_vae_encoder_layers=1",
    "policy.latent_dim=8",
    "policy.backbone_width=8",
    "batch_size=4",
    "ot.batch_size=8",
    "ot.window_size=2",
    "log_every=5",
    "rollout_episodes=10",
    "threads=1",
]
QUICK_STEPS = 60


def pick_configs(space, n: int, seed: int, corners: bool = False) -> list[dict]:
    """The space's starting points, (optionally) its all-low corner, then random draws: n in all."""
    import optuna

    configs = [dict(p) for p in space.starting_points]
    if corners:  # the all-low corner: under the OT spaces a collapsed plan, which the rules are for
        configs.insert(
            0,
            {
                k: d.choices[0] if isinstance(d, optuna.distributions.CategoricalDistribution) else d.low
                for k, d in space.distributions.items()
            },
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    while len(configs) < n:
        trial = study.ask(space.distributions)
        configs.append(dict(trial.params))
        study.tell(trial, 0.0)
    return configs[:n]


def collect(
    space, configs: list[dict], seeds: int, words: list[str], group: str, out_dir: Path, say=print, on_run=None
) -> list[Run]:
    """Train every (config, seed) to its last step with no rule; return the runs (`on_run(run)`: called as each one
    finishes)."""
    from actot.config import apply_overrides, parse_cli
    from actot.train import train

    base = parse_cli([*words, f"out_dir={out_dir}", "wandb.mode=disabled"])
    base = apply_overrides(base, space.fixed, str(space.path))
    runs = []
    for i, config in enumerate(configs):
        for seed in range(seeds):
            start = time.perf_counter()
            cfg = apply_overrides(
                base, {**space.to_overrides(config), "seed": seed, "name": f"c{i}-s{seed}"}, f"config {i}"
            )
            result = train(cfg, progress=False)
            runs.append(Run(group, config, seed, [dict(r) for r in result.history], f"config {i} seed {seed}"))
            if on_run is not None:
                on_run(runs[-1])
            say(
                f"[histories] config {i + 1}/{len(configs)} seed {seed}: {result.status} at step {result.step} "
                f"({time.perf_counter() - start:.1f} s)"
            )
    return runs


@contextlib.contextmanager
def quick_folder(path: str | None, prefix: str):
    """Where --quick keeps its sim and runs: `path` (--quick-dir, kept and shared), else a temporary folder."""
    if path:
        folder = Path(path).expanduser().resolve()  # the runs' settings name the sim by this path
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
    else:
        with tempfile.TemporaryDirectory(prefix=prefix) as work:
            yield Path(work)


QUICK_DIR_HELP = (
    "--quick: keep the sim and the tiny runs here, and reuse those already there (scripts share one pool; runs of "
    "other settings are not reused, but runs of older code are: use a new folder after changing the code)"
)


def quick_runs(
    n_configs: int,
    seeds: int,
    group: str,
    work: Path,
    space_name: str = "ot_reg",
    say=print,
    baseline: bool = False,
) -> list[Run]:
    """Tiny but real runs on a small generated sim: the --quick input of the bench scripts (`baseline`: co-training,
    ot.lambda_ot = 0, on the same seeds too).

    The sim and the runs stay in `work` (`quick_runs.jsonl`, each run with the settings it was trained at), and a run
    found there is read, not trained again: scripts given the same folder (`--quick-dir`) share one pool, each taking
    the configs it asks for (the configs are a prefix of one list: `pick_configs`). Scripts take turns (an flock): the
    second waits while the first trains what it lacks, then reads it. A run is kept as soon as it finishes, so a
    script killed midway loses only the run it was training."""
    from actot.sim import SimConfig, generate
    from actot.sweep.space import load_space

    source, target = generate(work / "sim", SimConfig(n_source=30, n_target=6, n_eval=2, seed=1))
    words = [f"data.source={source}", f"data.target={target}", *TINY, f"steps={QUICK_STEPS}"]
    space = load_space(space_name)
    configs = ([{"ot.lambda_ot": 0.0}] if baseline else []) + pick_configs(space, n_configs, seed=0, corners=True)
    settings = json.dumps({"space": space_name, "words": words})
    kept = work / "quick_runs.jsonl"

    def key(config: dict, seed: int) -> tuple[str, int]:
        return json.dumps(config, sort_keys=True), seed

    with open(work / ".quick_runs.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        done = {}
        text = kept.read_text() if kept.is_file() else ""
        for line in text.splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # the last line of a script killed while writing it
                continue
            if row["settings"] == settings:
                done[key(row["config"], row["seed"])] = row["history"]
        missing = [c for c in configs if any(key(c, s) not in done for s in range(seeds))]
        if missing:
            with kept.open("a") as out:
                if text and not text.endswith("\n"):
                    out.write("\n")

                def keep(run: Run) -> None:
                    if key(run.config, run.seed) not in done:
                        done[key(run.config, run.seed)] = run.history
                        record = {"settings": settings, "config": run.config, "seed": run.seed, "history": run.history}
                        out.write(json.dumps(record) + "\n")
                        out.flush()

                (work / "runs").mkdir(exist_ok=True)
                # a folder of its own per call: `collect` names the runs by their place in `missing`
                calls = Path(tempfile.mkdtemp(prefix="call-", dir=work / "runs"))
                collect(space, missing, seeds, words, group, calls, say, on_run=keep)
        if len(missing) < len(configs):
            say(f"[histories] {len(configs) - len(missing)} of {len(configs)} configs read from {kept}")
    return [
        Run(group, config, seed, done[key(config, seed)], f"config {i} seed {seed}")
        for i, config in enumerate(configs)
        for seed in range(seeds)
    ]


def main(argv=None) -> int:
    from actot.errors import ActotError
    from actot.sweep.space import load_space

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="ot_full")
    parser.add_argument("--configs", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--group", default="pool")
    parser.add_argument("--sample-seed", type=int, default=0, help="seed of the random config draws")
    parser.add_argument("--out", required=True, help="JSON-lines file to write")
    parser.add_argument("--quick", action="store_true", help="tiny real runs on a generated small sim")
    parser.add_argument("words", nargs="*", help="training keys for every run (key=value)")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="histories-") as work:
            if args.quick:
                runs = quick_runs(args.configs, args.seeds, args.group, Path(work), "ot_reg")
            else:
                space = load_space(args.space)
                runs = collect(
                    space,
                    pick_configs(space, args.configs, args.sample_seed),
                    args.seeds,
                    args.words,
                    args.group,
                    Path(work),
                )
        write_runs_jsonl(runs, args.out)
    except ActotError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"[histories] {len(runs)} runs -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
