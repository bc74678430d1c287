"""Ray's OptunaSearch, told the truth about trials that a rule stopped.

Ray's `OptunaSearch` reports every trial that ends without an error as COMPLETE with its last
value, so a trial cut short by `pi_collapse` would enter the study as a normal, often
flattering, result. Here a trial stopped by a rule, or by the scheduler (ASHA) before its last
step, is told as PRUNED (Optuna keeps its intermediate values, and TPE counts pruned trials
among the bad ones); a trial whose metric is missing or not finite is told as FAIL.
Intermediate values that are not finite are not reported.
"""

from __future__ import annotations

import math

from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class RuleAwareOptunaSearch(OptunaSearch):
    def __init__(self, *args, total_steps: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.total_steps = total_steps

    def on_trial_result(self, trial_id: str, result: dict):
        if _finite(result.get(self.metric)):
            super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return super().on_trial_complete(trial_id, result, error)
        result = result or {}
        stopped_early = self.total_steps is not None and result.get("step", self.total_steps) < self.total_steps
        if result.get("stop_rule") or (stopped_early and not error and not result.get("non_finite")):
            state, value = TrialState.PRUNED, None
        elif error or result.get("non_finite") or not _finite(result.get(self.metric)):
            state, value = TrialState.FAIL, None
        else:
            return super().on_trial_complete(trial_id, result, error)
        self._ot_study.tell(self._ot_trials[trial_id], value, state=state)
        self._completed_trials.add(trial_id)
