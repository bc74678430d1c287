"""Search the OT knobs of ACT + OT with Ray Tune + Optuna, stop bad trials by rule, rank the rest.

    python run_sweep.py space=ot_reg                       # the embedded sim, sweeps/local.yaml
    python run_sweep.py space=ot_full sweep=gpu data.source=/data/sim data.target=/data/real
    python run_sweep.py name=NAME resume=true              # continue an interrupted sweep (sweep.json's settings)
    python run_sweep.py space=ot_reg dry_run=true          # check everything, time a few steps: what it will cost

A sweep times a few training steps before it starts and says what a trial and the sweep will cost
(cost=false: it does not).

space=NAME picks search_spaces/NAME.yaml (or a path), sweep=NAME picks sweeps/NAME.yaml
(default local). Every other key=value sets a sweep key or a training key (see --help).
"""

from __future__ import annotations

import sys

from actot.errors import ActotError, run_cli


def _help(args: list[str]) -> str:
    """The keys with the values the sweep would run with: those of its sweep file (sweep=NAME, default local),
    each marked where the file sets it, since the file, not the built-in default, is what runs."""
    from actot.config import TrainConfig, apply_overrides, dotted_keys
    from actot.run_data import DERIVED
    from actot.rules import BUILT_IN
    from actot.sweep.config import SweepConfig, available_sweeps, load_sweep, sweep_keys
    from actot.sweep.space import available_spaces

    name = next((a.split("=", 1)[1] for a in args if a.startswith("sweep=")), "local")
    try:
        sweep_cfg, path = load_sweep(name)
        train_cfg = apply_overrides(TrainConfig(), sweep_cfg.train, str(path))
        where, said = path.name, f"the values of {path}, the sweep file that runs: sweep=NAME picks another"
    except ActotError as err:  # a broken sweep file still gets its help, with the built-in defaults
        sweep_cfg, train_cfg, where = SweepConfig(), TrainConfig(), ""
        said = f"built-in defaults ({name}: {err})"

    def shown(values: dict, defaults: dict, extra: dict) -> list[str]:
        return [
            f"  {k}={v}"
            + (f"  ({where}; built-in {defaults.get(k)})" if where and v != defaults.get(k) else "")
            + extra.get(k, "")
            for k, v in values.items()
        ]

    lines = [
        __doc__.strip(),
        "",
        f"spaces: {', '.join(available_spaces())}",
        f"sweeps: {', '.join(available_sweeps())}",
        f"built-in rules: {', '.join(sorted(BUILT_IN))}",
        "",
        f"sweep keys ({said}):",
    ]
    lines += shown(sweep_keys(sweep_cfg), sweep_keys(), {})
    lines += ["", f"training keys (applied to every trial; {said}):"]
    trained = dotted_keys(train_cfg)
    notes = dict(DERIVED)
    if "seed" not in sweep_cfg.train:  # trials start from the sweep's seed (the paired seeds count up from it)
        trained["seed"] = sweep_cfg.seed
        notes["seed"] = "  (the sweep key seed, unless train: sets one)"
    lines += shown(trained, dotted_keys(TrainConfig()), notes)
    return "\n".join(lines)


def _main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or any(a in ("-h", "--help") for a in args):
        print(_help(args))
        return 0 if args else 2
    from actot.sweep.config import apply_cli, load_sweep
    from actot.pipeline import run
    from actot.sweep.resume import stored_settings
    from actot.sweep.space import load_space

    from actot.config import parse_switch

    picks = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in args if a.startswith(("space=", "sweep="))}
    cost = all(parse_switch(a) for a in args if a.startswith("cost="))
    words = [a for a in args if not a.startswith(("space=", "sweep=", "cost="))]
    space = load_space(picks["space"]) if "space" in picks else None
    sweep_cfg, path = load_sweep(picks.get("sweep", "local"))
    sweep_cfg = apply_cli(sweep_cfg, words, str(path))
    if sweep_cfg.resume or sweep_cfg.stage == "confirm":  # sweep.json's settings, with what is given on top
        space, sweep_cfg = stored_settings(space, sweep_cfg, picks.get("sweep"), words)
    elif space is None:
        raise ActotError("command line: space=NAME is required (e.g. space=ot_reg); see --help for the spaces")
    outcome = run(space, sweep_cfg, args, cost=cost)
    return 0 if outcome.finished else 130


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
