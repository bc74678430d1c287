"""A Ray Tune callback that rewrites the sweep's dashboard.html as trials end, at most once every few seconds."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from ray.tune import Callback

EVERY_S = 15.0


class DashboardRefresher(Callback):
    """Runs after the results recorder (callbacks are called in order), so the folder is current.

    A page is drawn from the whole folder (ranking, curves, knob importance), so drawing it for each of many quick
    trials would cost the driver more than the trials do: a trial that ends within `every_s` of the last drawing is
    drawn at the first controller step after that interval, and the end of the sweep draws the final page."""

    def __init__(self, sweep_dir: Path, every_s: float = EVERY_S):
        self.sweep_dir = Path(sweep_dir)
        self.every_s = every_s
        self._drawn_at = -math.inf
        self._pending = False

    def _refresh(self) -> None:
        from actot.report import write_dashboard

        self._pending = False
        try:
            write_dashboard(self.sweep_dir)
        except Exception as err:  # noqa: BLE001 - a page that cannot be drawn must not stop the sweep
            print(f"[sweep] dashboard not updated: {type(err).__name__}: {err}", file=sys.stdout, flush=True)
        self._drawn_at = time.monotonic()  # the interval runs from the end of a drawing

    def _due(self) -> bool:
        return self._pending and time.monotonic() - self._drawn_at >= self.every_s

    def _ended(self) -> None:
        self._pending = True
        if self._due():
            self._refresh()

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._ended()

    def on_trial_error(self, iteration, trials, trial, **info):
        self._ended()

    def on_step_end(self, iteration, trials, **info):
        if self._due():
            self._refresh()
