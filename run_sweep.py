"""Search the OT knobs of ACT + OT with Ray Tune + Optuna, stop bad trials by rule, rank the rest.

    python run_sweep.py space=ot_reg                       # the embedded sim, sweeps/local.yaml
    python run_sweep.py space=ot_full sweep=gpu data.source=/data/sim data.target=/data/real
    python run_sweep.py name=NAME resume=true              # continue an interrupted sweep (sweep.json's settings)

space=NAME picks search_spaces/NAME.yaml (or a path), sweep=NAME picks sweeps/NAME.yaml
(default local). Every other key=value sets a sweep key or a training key (see --help).
"""

from __future__ import annotations

import sys

from actot.errors import ActotError, run_cli


def _help() -> str:
    from actot.config import TrainConfig, dotted_keys
    from actot.train import DERIVED
    from actot.rules import BUILT_IN
    from actot.sweep.config import available_sweeps, sweep_keys
    from actot.sweep.space import available_spaces

    lines = [__doc__.strip(), "", f"spaces: {', '.join(available_spaces())}", f"sweeps: {', '.join(available_sweeps())}",
             f"built-in rules: {', '.join(sorted(BUILT_IN))}", "", "sweep keys:"]
    lines += [f"  {k}={v}" for k, v in sweep_keys().items()]
    lines += ["", "training keys (applied to every trial):"]
    lines += [f"  {k}={v}{DERIVED.get(k, '')}" for k, v in dotted_keys(TrainConfig()).items()]
    return "\n".join(lines)


def _main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or any(a in ("-h", "--help") for a in args):
        print(_help())
        return 0 if args else 2
    from actot.sweep.config import apply_cli, load_sweep
    from actot.pipeline import run
    from actot.sweep.resume import stored_settings
    from actot.sweep.space import load_space

    picks = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in args if a.startswith(("space=", "sweep="))}
    words = [a for a in args if not a.startswith(("space=", "sweep="))]
    space = load_space(picks["space"]) if "space" in picks else None
    sweep_cfg, _ = load_sweep(picks.get("sweep", "local"))
    sweep_cfg = apply_cli(sweep_cfg, words)
    if sweep_cfg.resume or sweep_cfg.stage == "confirm":  # sweep.json's settings, with what is given on top
        space, sweep_cfg = stored_settings(space, sweep_cfg, picks.get("sweep"), words)
    elif space is None:
        raise ActotError("command line: space=NAME is required (e.g. space=ot_reg); see --help for the spaces")
    outcome = run(space, sweep_cfg, args)
    return 0 if outcome.finished else 130


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
