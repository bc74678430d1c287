"""Slow scenarios that run in threads while the rest of their module runs: a sweep driver started, interrupted,
killed and resumed mostly waits on its own processes (its driver, its Ray, its trials), so it can run beside
another such scenario or an in-process sweep. The test that owns a scenario waits for its future, which raises
what the scenario's assertions raise; a scenario whose test the session does not run is never started."""

from __future__ import annotations

import contextlib
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterator


def selected(request, name: str, **params) -> bool:
    """Whether the session runs the requesting module's test `name` (with these parameters, when given)."""
    for item in request.session.items:
        if item.module is request.module and getattr(item, "originalname", item.name) == name:
            given = getattr(getattr(item, "callspec", None), "params", {})
            if all(given.get(k) == v for k, v in params.items()):
                return True
    return False


@contextlib.contextmanager
def running(scenarios: dict[str, Callable[[], None]]) -> Iterator[dict[str, Future]]:
    """Start each scenario in its own thread; yield {name: its future}. On the way out (the module's teardown),
    kill every driver still running that `test_sweep_ray._start` started, with what Ray started for it, so that
    a session cut short leaves none behind; then wait for the threads."""
    pool = ThreadPoolExecutor(max_workers=max(1, len(scenarios)))
    try:
        yield {name: pool.submit(scenario) for name, scenario in scenarios.items()}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        for name in ("test_sweep_ray", "tests.test_sweep_ray"):  # the file as pytest imports it, and as a package's
            if name in sys.modules:
                sys.modules[name].stop_started()
        pool.shutdown(wait=True)
