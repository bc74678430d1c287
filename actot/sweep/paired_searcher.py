"""The searcher of a paired sweep: the scheme `paired.py` describes, as a Ray Tune `Searcher` around Optuna's."""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field

from ray.tune.search import Searcher

from actot.sweep.paired import BASELINE_ID, RACED_HOOKS, PairedPlan
from actot.sweep.racing import race, residual_sd
from actot.sweep.searcher import tail_mean
from actot.sweepdir import ARM_BASELINE, ARM_CONFIG


@dataclass
class _Config:
    inner_id: str  # the Ray trial id Optuna knows this config by (its first seed's)
    params: dict
    trials: dict = field(default_factory=dict)  # seed -> Ray trial id
    scores: dict = field(default_factory=dict)  # seed -> score (None: the seed ended without one)
    state: str = "open"  # open, done, raced, stopped, failed


class PairedSearcher(Searcher):
    """The search's searcher for a paired sweep (see the module's text); `inner` is a RuleAwareOptunaSearch."""

    def __init__(self, inner, plan: PairedPlan, sweep_name: str, score_last_k: int = 1):
        self.inner = inner
        self.plan = plan
        self.sweep_name = sweep_name  # RACED_HOOKS[sweep_name](trial_id, info) records a racing decision
        self.score_last_k = score_last_k
        self.configs: dict[str, _Config] = {}
        self.trial_arm: dict[str, tuple[str, int]] = {}  # Ray trial id -> (config_id, seed)
        self.baseline_trials: dict[int, str] = {}
        self.baseline_scores: dict[int, float | None] = {}
        self.values: dict[str, dict[int, float]] = {}  # Ray trial id -> step -> metric value
        self.inner_done = False
        super().__init__(metric=inner.metric, mode=inner.mode)

    # ------------------------------------------------------------------ Ray's Searcher interface
    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        ok = self.inner.set_search_properties(metric, mode, config, **spec)
        if ok:
            self._metric, self._mode = self.inner.metric, self.inner.mode
        return ok

    def suggest(self, trial_id: str):
        for seed in self.plan.seeds if self.plan.baseline is not None else []:
            if seed not in self.baseline_trials:
                self.baseline_trials[seed] = trial_id
                self.trial_arm[trial_id] = (BASELINE_ID, seed)
                return {"seed": seed, "arm": ARM_BASELINE, "config_id": BASELINE_ID}
        for cid, conf in self.configs.items():  # a config whose seeds so far ended: its next seed, or a race
            if conf.state == "open" and self._next_seed(conf) is not None and self._all_ended(conf):
                if self._raced(cid, conf):
                    continue
                return self._issue(trial_id, cid, conf)
        if len(self.configs) < self.plan.num_configs and not self.inner_done:
            params = self.inner.suggest(trial_id)
            if params == Searcher.FINISHED:
                self.inner_done = True
            elif params is not None:
                cid = f"c{len(self.configs):03d}"
                self.configs[cid] = _Config(trial_id, dict(params))
                return self._issue(trial_id, cid, self.configs[cid])
            else:
                return None
        for cid, conf in self.configs.items():  # nothing else to start: a running config's next seed
            if conf.state == "open" and self._next_seed(conf) is not None:
                return self._issue(trial_id, cid, conf)
        return Searcher.FINISHED if self._all_done() else None

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        value = result.get(self.metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            self.values.setdefault(trial_id, {})[int(result.get("step", 0))] = float(value)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id not in self.trial_arm:
            return
        cid, seed = self.trial_arm[trial_id]
        result = result or {}
        failed = error or bool(result.get("non_finite"))
        stopped = bool(result.get("stop_rule")) or (
            self.plan.total_steps is not None and int(result.get("step", self.plan.total_steps)) < self.plan.total_steps
        )
        score = None if failed or stopped else self._score(trial_id, result)
        if cid == BASELINE_ID:
            self.baseline_scores[seed] = score
            return
        conf = self.configs[cid]
        conf.scores[seed] = score
        if conf.state != "open":
            return
        if stopped and not failed:  # a rule (or ASHA) stopped this seed: the config ends, PRUNED
            conf.state = "stopped"
            self._tell(conf, pruned=True)
        elif score is None:  # it raised, went non-finite, or ended without a value: the config ends, FAIL
            conf.state = "failed"
            self._tell(conf, failed=True)
        elif self._next_seed(conf) is None and self._all_ended(conf):
            conf.state = "done"
            self._tell(conf)

    def save(self, checkpoint_path: str) -> None:
        state = {k: v for k, v in self.__dict__.items() if k != "inner"}
        with open(checkpoint_path, "wb") as f:
            pickle.dump({"paired": state, "inner": self.inner.__dict__.copy()}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            saved = pickle.load(f)
        self.__dict__.update(saved["paired"])
        self.inner.__dict__.update(saved["inner"])

    # ------------------------------------------------------------------ the scheme
    def _issue(self, trial_id: str, cid: str, conf: _Config) -> dict:
        seed = self._next_seed(conf)
        conf.trials[seed] = trial_id
        self.trial_arm[trial_id] = (cid, seed)
        return {**conf.params, "seed": seed, "arm": ARM_CONFIG, "config_id": cid}

    def _next_seed(self, conf: _Config) -> int | None:
        return next((s for s in self.plan.seeds if s not in conf.trials), None)

    @staticmethod
    def _all_ended(conf: _Config) -> bool:
        return all(s in conf.scores for s in conf.trials)

    def _all_done(self) -> bool:
        baseline_done = all(s in self.baseline_scores for s in self.baseline_trials)
        return (
            baseline_done
            and all(c.state != "open" for c in self.configs.values())
            and (len(self.configs) >= self.plan.num_configs or self.inner_done)
        )

    def _score(self, trial_id: str, result: dict) -> float | None:
        score = tail_mean(self.values.get(trial_id, {}), self.score_last_k)
        if score is not None:
            return score
        value = result.get(self.metric)
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

    def table(self) -> dict[str, dict[int, float]]:
        """arm -> seed -> score over every ended seed with a score (the baseline included)."""
        out = {cid: {s: v for s, v in c.scores.items() if v is not None} for cid, c in self.configs.items()}
        if self.baseline_scores:
            out[BASELINE_ID] = {s: v for s, v in self.baseline_scores.items() if v is not None}
        return {k: v for k, v in out.items() if v}

    def adjusted_mean(self, scores: dict[int, float]) -> float:
        """The mean over the config's seeds with the seed effect the baseline measured taken out.

        A seed the baseline also ran counts as x - x_base + mean(x_base); one it has not as x.
        """
        base = {s: v for s, v in self.baseline_scores.items() if v is not None}
        if not base:
            return sum(scores.values()) / len(scores)
        base_mean = sum(base.values()) / len(base)
        return sum(v - base[s] + base_mean if s in base else v for s, v in scores.items()) / len(scores)

    def incumbent(self) -> str | None:
        done = {cid: c for cid, c in self.configs.items() if c.state == "done"}
        if not done:
            return None
        pick = max if self.mode == "max" else min
        return pick(
            done, key=lambda cid: self.adjusted_mean({s: v for s, v in done[cid].scores.items() if v is not None})
        )

    def _raced(self, cid: str, conf: _Config) -> bool:
        """Whether racing ends this config now (its remaining seeds skipped, Optuna told, the decision recorded)."""
        if not self.plan.racing:
            return False
        inc = self.incumbent()
        if inc is None or inc == cid:
            return False
        table = self.table()
        noise, df = residual_sd(table)
        result = race(table.get(cid, {}), table.get(inc, {}), noise, df, self.mode, self.plan.floor_sd)
        if result is None or result.p_beats > 1.0 - self.plan.confidence:
            return False
        conf.state = "raced"
        skipped = [s for s in self.plan.seeds if s not in conf.trials]
        info = {
            "vs": inc,
            "p": round(result.p_beats, 4),
            "seeds_run": sorted(conf.trials),
            "seeds_skipped": skipped,
            "steps_saved": len(skipped) * (self.plan.total_steps or 0),
            "mean_diff": round(result.mean_diff, 6),
            "df": result.df,
        }
        last_trial = conf.trials[max(conf.trials)]
        hook = RACED_HOOKS.get(self.sweep_name)
        if hook is not None:
            hook(last_trial, info)
        self._tell(conf)
        return True

    def _tell(self, conf: _Config, pruned: bool = False, failed: bool = False) -> None:
        """Optuna learns the config once: its adjusted mean, or that it was pruned (rule) or failed."""
        if failed:
            self.inner.on_trial_complete(conf.inner_id, None, error=True)
            return
        if pruned:
            self.inner.on_trial_complete(conf.inner_id, {"stop_rule": "paired", self.metric: math.nan, "step": 0})
            return
        scores = {s: v for s, v in conf.scores.items() if v is not None}
        self.inner.on_trial_complete(
            conf.inner_id, {self.metric: self.adjusted_mean(scores), "step": self.plan.total_steps or 0}
        )
