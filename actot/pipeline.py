"""The sweep command end to end: the sweep layer runs it, the report layer says what it found.

The one module that imports both `actot.sweep` and `actot.report` (which do not import each
other): it hands the sweep the report's live dashboard, the ranking the confirm stage picks its
leaders by, a sequential confirm stage's decision after each look, and the end of a sweep (the
ranked table, the rules' advice, the confirm table, the report, next_space.yaml, the dashboard
and the W&B ranking).
"""

from __future__ import annotations

from pathlib import Path

from actot.errors import ActotError
from actot.sweep.config import SweepConfig
from actot.sweep.runner import SweepHooks, SweepOutcome, run_sweep
from actot.sweep.space import SearchSpace
from actot.sweepdir import say


def live_callbacks(sweep_dir: Path) -> list:
    from actot.report.live import DashboardRefresher

    return [DashboardRefresher(sweep_dir)]


def confirm_leaders(sweep_dir: Path, top_k: int, ahead_only: bool = False):
    from actot.report.confirm import leaders

    return leaders(sweep_dir, top_k, ahead_only)


def confirm_look(sweep_dir: Path):
    from actot.report.confirm import look_decision

    return look_decision(sweep_dir)


def finish(outcome: SweepOutcome, sweep_cfg: SweepConfig) -> dict:
    """What the end of a sweep prints and writes, from its folder alone."""
    from actot.report import advice, finish_sweep, ranked_table

    sweep_dir = outcome.sweep_dir
    print()
    print(ranked_table(sweep_dir))  # with the confirm stage's own table when one has run
    for line in advice(sweep_dir):
        say(line)
    try:
        written = finish_sweep(sweep_dir, sweep_cfg.lang, outcome.finished)
    except OSError as err:
        raise ActotError(
            f"{sweep_dir}: cannot write the report or the dashboard ({err.strerror or err}); the results "
            f"are in results.parquet; free space, then run again with resume=true to write them"
        ) from err
    reports = ", ".join(str(path) for key, path in written.items() if key.startswith("report_"))
    say(
        f"results: {sweep_dir / 'results.parquet'}; report: {reports}; "
        f"dashboard: {written['dashboard']}; next search space: {written['next_space']}; "
        f"Optuna study: optuna-dashboard sqlite:///{sweep_dir / 'optuna.db'}"
    )
    return written


def run(space: SearchSpace, sweep_cfg: SweepConfig, argv: list[str], cost: bool = True) -> SweepOutcome:
    return run_sweep(
        space,
        sweep_cfg,
        argv,
        SweepHooks(callbacks=live_callbacks, leaders=confirm_leaders, confirm_look=confirm_look, finish=finish),
        cost=cost,
    )
