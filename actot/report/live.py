"""A Ray Tune callback that rewrites the sweep's dashboard.html each time a trial ends."""

from __future__ import annotations

import sys
from pathlib import Path

from ray.tune import Callback


class DashboardRefresher(Callback):
    """Runs after the results recorder (callbacks are called in order), so the folder is current."""

    def __init__(self, sweep_dir: Path):
        self.sweep_dir = Path(sweep_dir)

    def _refresh(self) -> None:
        from actot.report import write_dashboard

        try:
            write_dashboard(self.sweep_dir)
        except Exception as err:  # noqa: BLE001 - a page that cannot be drawn must not stop the sweep
            print(f"[sweep] dashboard not updated: {type(err).__name__}: {err}", file=sys.stdout, flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._refresh()

    def on_trial_error(self, iteration, trials, trial, **info):
        self._refresh()
