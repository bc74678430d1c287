"""Ray's OptunaSearch, told the truth about trials that a rule stopped, that failed, or that were retried.

Ray's `OptunaSearch` reports every trial that ends without an error as COMPLETE with its last
value, so a trial cut short by `pi_collapse` would enter the study as a normal, often
flattering, result. Here:

- a trial that raised, went non-finite, or ends without a finite metric is told as FAIL;
- a trial stopped by a rule, or by the scheduler (ASHA) before its last step, as PRUNED (Optuna
  keeps its intermediate values, and TPE counts pruned trials among the bad ones);
- an errored trial that Ray retries on resume (same id) gets its new outcome as a new study
  trial with the same knobs: Optuna cannot change an ended trial, and leaving only the FAIL
  would hide the retry's result from TPE.

Intermediate values that are not finite (the NaN stand-ins of a missing metric) are not reported.
A COMPLETE trial's value is its score: the mean of its last `score_last_k` finite values (1: the last).
"""

from __future__ import annotations

import math

import optuna
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch


def tail_mean(values: dict[int, float], k: int) -> float | None:
    """The mean of the last k values by step (a trial's score); None when there is none."""
    tail = [values[s] for s in sorted(values)][-k:]
    return sum(tail) / len(tail) if tail else None


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class RuleAwareOptunaSearch(OptunaSearch):
    def __init__(self, *args, total_steps: int | None = None, score_last_k: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.total_steps = total_steps
        self.score_last_k = score_last_k
        # trial -> step -> finite value, saved with the searcher (Ray pickles its __dict__); by step, so that a
        # retry that resumes from a checkpoint replaces the steps it repeats instead of counting them twice
        self._values: dict[str, dict[int, float]] = {}
        self._failed: set[str] = set()
        self._retry_values: dict[str, dict[int, float]] = {}

    def on_trial_result(self, trial_id: str, result: dict):
        if not _finite(result.get(self.metric)):
            return
        self._values.setdefault(trial_id, {})[int(result.get("step", 0))] = float(result[self.metric])
        if trial_id in self._completed_trials:  # a retried trial: its study trial has ended
            self._retry_values.setdefault(trial_id, {})[int(result.get("step", 0))] = float(result[self.metric])
            return
        super().on_trial_result(trial_id, result)

    def outcome(self, result: dict, error: bool, trial_id: str | None = None) -> tuple[TrialState, float | None]:
        stopped_early = self.total_steps is not None and result.get("step", self.total_steps) < self.total_steps
        if (
            error
            or result.get("non_finite")
            or (not _finite(result.get(self.metric)) and not result.get("stop_rule") and not stopped_early)
        ):
            return TrialState.FAIL, None
        if result.get("stop_rule") or stopped_early:
            return TrialState.PRUNED, None
        values = self._values.get(trial_id, {})
        score = tail_mean(values, self.score_last_k) if self.score_last_k > 1 else None
        return TrialState.COMPLETE, (score if score is not None else float(result[self.metric]))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        if trial_id not in self._ot_trials:
            return super().on_trial_complete(trial_id, result, error)
        state, value = self.outcome(result or {}, error, trial_id)
        ot_trial = self._ot_trials[trial_id]
        if trial_id in self._completed_trials:
            if trial_id in self._failed and not error:  # a retry of an errored trial ended
                self._ot_study.add_trial(
                    optuna.trial.create_trial(
                        params=ot_trial.params,
                        distributions=ot_trial.distributions,
                        value=value,
                        state=state,
                        intermediate_values=self._retry_values.pop(trial_id, {}),
                        user_attrs={"ray_trial_id": trial_id, "retry_of_failed": True},
                    )
                )
                self._failed.discard(trial_id)
            return None
        self._ot_study.tell(ot_trial, value, state=state)
        self._completed_trials.add(trial_id)
        if state == TrialState.FAIL:
            self._failed.add(trial_id)
        return None
