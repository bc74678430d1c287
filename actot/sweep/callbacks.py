"""Tune callbacks of a sweep: Ray Tune's hooks into a running sweep, apart from the modules that load without Ray.

`StorageSync` pushes the driver's files to object storage as trials end (`storage.py` does the pushing;
it is imported by trials and readers that have no use for Ray's callback classes).
"""

from __future__ import annotations

from ray.tune import Callback

from actot.sweep.storage import RemoteSweep


class StorageSync(Callback):
    """Tune callback, after the results recorder and the dashboard: push the driver's files as trials end."""

    def __init__(self, remote: RemoteSweep):
        self.remote = remote

    def _push(self) -> None:
        try:
            self.remote.push()
        except Exception as err:  # noqa: BLE001 - a network blip must not end the sweep; the next end retries
            print(f"[sweep] WARNING: could not upload the sweep's files to {self.remote.uri} "
                  f"({str(err).splitlines()[0]}); retried when the next trial ends", flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._push()

    def on_trial_error(self, iteration, trials, trial, **info):
        self._push()
