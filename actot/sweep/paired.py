"""Seeds as paired instances: every config runs on the same training seeds, beside a baseline arm, with racing.

    paired: {seeds: 2, baseline: {ot.lambda_ot: 0.0}, racing: {enabled: true, confidence: 0.9}}

`PairedSearcher` (`paired_searcher.py`) wraps the search's Optuna searcher (as Ray's `Repeater` does, but Repeater
averages repeats without pairing them, keeps no state of its own across a restore, and cannot
skip repeats). A Ray trial is one (arm, seed): its config carries `seed`, `arm` (`config` or
`baseline`) and `config_id` (`c000`, `c001`, ...; `baseline`). What it suggests, in order:

1. the baseline arm's seeds (co-training by default: the sweep's base keys plus the baseline's
   overrides, no searched knob), once per sweep, shared by every config;
2. the next seed of a config whose earlier seeds ended, unless racing says it is worse than the
   incumbent (the best config that ran all its seeds) on the seeds run so far with the stated
   confidence (`racing.py`): then its remaining seeds are skipped, recorded on its last trial
   (`raced`: the incumbent, P(beats), the seeds run and skipped, the steps saved);
3. a new config from Optuna (its first seed), while fewer than `num_configs` were started;
4. the next seed of a config still running (no core waits idle);
then FINISHED once every config and the baseline are done.

Optuna is told each config once, when its seeds end: the mean over its seeds with the seed
effect the baseline measured on the same seeds taken out (mean(x_c - x_base) + the baseline's
overall mean; the plain mean without a baseline), so a config is not flattered by easy seeds. A
config whose seed a rule stopped, or that failed, ends there (PRUNED or FAIL for Optuna). The
whole state, Optuna's study included, is saved with the Tuner, so a resumed sweep reuses the
baseline and seed trials it has.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from actot.sweep.config import SweepConfig, paired_seeds
from actot.sweepdir import FINAL_STATUSES, TrialRecord

BASELINE_ID = "baseline"
# Sweep name -> what records a racing decision (the driver's results store). A registry, not an attribute: Ray
# pickles the searcher into its Tuner state and restores it from there, and a resumed driver registers anew.
RACED_HOOKS: dict = {}


@dataclass(frozen=True)
class PairedPlan:
    """What a paired sweep runs: `num_configs` configs on `seeds`, the baseline's overrides (None: no arm).

    Built once per sweep (`paired_plan`, by the runner after pre-flight) and handed to what needs it: sweep.json's
    `paired` section, the search's budget and end, the searcher, the trials' baseline arm, the confirm stage.
    """

    seeds: tuple[int, ...]
    num_configs: int
    baseline: dict | None = None
    racing: bool = True
    confidence: float = 0.9
    total_steps: int | None = None
    floor_sd: float = 0.0  # the metric's own measurement SD (racing never assumes less noise)

    def __post_init__(self):
        object.__setattr__(self, "seeds", tuple(self.seeds))

    @property
    def trial_budget(self) -> int:
        """The most Ray trials the search can start (racing may end it with fewer)."""
        return self.num_configs * len(self.seeds) + (len(self.seeds) if self.baseline is not None else 0)

    def to_dict(self) -> dict:
        return {
            "seeds": list(self.seeds),
            "num_configs": self.num_configs,
            "baseline": self.baseline,
            "racing": {"enabled": self.racing, "confidence": self.confidence},
        }


def paired_plan(sweep_cfg: SweepConfig, base_cfg) -> PairedPlan | None:
    """The paired-seed plan of a sweep (None: one seed per config and no baseline arm, the plain search)."""
    if not sweep_cfg.paired.active:
        return None
    # Racing never assumes less noise than one success measurement has (binomial SE at p = 0.5).
    floor = (
        math.sqrt(0.25 / base_cfg.rollout_episodes)
        if sweep_cfg.metric == "eval/success" and base_cfg.rollout_episodes
        else 0.0
    )
    return PairedPlan(
        paired_seeds(sweep_cfg, base_cfg.seed),
        sweep_cfg.num_samples,
        sweep_cfg.paired.baseline,
        sweep_cfg.paired.racing.enabled,
        sweep_cfg.paired.racing.confidence,
        base_cfg.steps,
        floor,
    )


def search_complete(store, plan: PairedPlan) -> bool:
    """Whether the search stage of a paired sweep has nothing left to run, from the stored trials alone."""
    by_config: dict[str, list[TrialRecord]] = {}
    for t in store.trials.values():
        if not t.confirm_of:
            by_config.setdefault(t.config_id or "", []).append(t)
    if plan.baseline is not None:
        done = {t.seed for t in by_config.get(BASELINE_ID, []) if t.status in FINAL_STATUSES}
        if not set(plan.seeds) <= done:
            return False
    configs = [cid for cid in by_config if cid and cid != BASELINE_ID]
    return len(configs) >= plan.num_configs and all(_config_done(by_config[c], plan) for c in configs)


def _config_done(trials: list[TrialRecord], plan: PairedPlan) -> bool:
    if any(t.status not in FINAL_STATUSES for t in trials):
        return False
    if any(t.raced or t.status != "finished" for t in trials):
        return True
    return {t.seed for t in trials} >= set(plan.seeds)


def raced_json(info: dict) -> str:
    return json.dumps(info, sort_keys=True)
