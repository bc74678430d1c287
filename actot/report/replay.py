"""A sweep folder's finished trials as runs for the rule and ASHA replay (`actot/rules/replay.py`).

The replay itself is pure and lives with the rules; this is the reading side: a sweep run with
`rules.shadow=true` holds every trial's full history, which `python -m bench.rule_audit --sweep` replays.
"""

from __future__ import annotations

from actot.errors import ActotError
from actot.report.load import load_sweep_dir
from actot.rules.replay import Run


def runs_from_sweep(path) -> tuple[list[Run], list[str]]:
    """The finished trials of a sweep folder as runs, and a line for each trial left out (and why)."""
    sweep = load_sweep_dir(path)
    notes = []
    if not sweep.resolved.get("sweep", {}).get("rules_shadow"):
        notes.append(
            f"{sweep.path} did not run with rules.shadow=true: its rule-stopped trials have no full "
            "history and are left out, which hides exactly the runs the audit is about"
        )
    seed = sweep.resolved.get("train", {}).get("seed", 0)
    runs = []
    for trial in sweep.trials:
        if trial.status != "finished":
            notes.append(f"trial {trial.trial_id} left out: {trial.status} (no full history)")
            continue
        runs.append(
            Run(
                sweep.name,
                dict(trial.params),
                int(trial.seed if trial.seed is not None else seed),
                list(trial.history),
                f"{sweep.path}/{trial.trial_id}",
            )
        )
    if not runs:
        raise ActotError(f"{sweep.path}: no finished trial to replay; run the sweep with rules.shadow=true")
    return runs, notes
