"""How a sweep runs: `sweeps/NAME.yaml` plus command-line overrides, checked before Ray starts.

    python run_sweep.py space=ot_reg sweep=local num_samples=12 resources.cpu=1 steps=400

Each `key=value` is a sweep key (below) or, failing that, a training key (`steps`,
`ot.heuristic`, `data.source`, ...: see `python -m actot.train --help`), which then applies to
every trial. A key that is neither fails with the closest valid key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from actot.config import (
    TrainConfig,
    apply_overrides,
    available_yaml,
    dotted_keys,
    parse_value,
    read_yaml_mapping,
    unknown_key_error,
)
from actot.errors import ActotError


@dataclass
class Resources:
    """Per trial; fractional GPUs share one card (e.g. gpu: 0.25 runs four trials on it)."""

    cpu: float = 1.0
    gpu: float = 0.0


@dataclass
class AshaConfig:
    """Optional ASHA on top of the rules; grace_period (steps) must exceed every rule's warm-up."""

    enabled: bool = False
    grace_period: int = 100
    reduction_factor: int = 2


# The spending functions and futility choices of a sequential confirm stage (actot/report/sequential.py's SPENDING
# and FUTILITY: this layer does not import the report; tests/test_sequential.py checks that they agree).
SPENDING = ("obrien-fleming", "pocock")
FUTILITY = (*SPENDING, "none")


@dataclass
class SequentialConfig:
    """A sequential confirm stage (docs/sweeps.md): after the first look (confirm.seeds fresh seeds), `seeds_per_look`
    more at a time until "beats co-training" is decided (actot/report/sequential.py): claimed at one-sided 2.5%
    spent over the looks by `spending`, or a gain as large as `effect` (in the metric's units, + = better: it must be
    stated) ruled out at `beta`, spent by `futility` (`none`: no futility stop); or `max_seeds` fresh seeds reached
    (the cap). The defaults are the design bench/selection_calibration.py picked (bench/RESULTS.md, issue 29)."""

    enabled: bool = False
    max_seeds: int = 4
    seeds_per_look: int = 1
    spending: str = "obrien-fleming"
    effect: Optional[float] = None
    beta: float = 0.2
    futility: str = "pocock"


@dataclass
class ConfirmConfig:
    """The confirm stage: re-run the top_k configs with `seeds` new training seeds each (0 = no confirm stage).
    if_ahead: only configs ahead of the baseline arm (co-training) on the search's seeds are confirmed, and with none
    ahead no fresh seeds are spent: the search's best already looks better than it is (it was picked on those
    numbers), so if even it is behind, fresh seeds would not make a claim (bench/selection_calibration.py).
    sequential: add fresh seeds a look at a time until the claim is decided (`seeds` is then the first look's)."""

    top_k: int = 0
    seeds: int = 0
    if_ahead: bool = False
    sequential: SequentialConfig = field(default_factory=SequentialConfig)


@dataclass
class RacingConfig:
    """Skip a config's remaining seeds once it is worse than the incumbent with this confidence (`racing.py`)."""

    enabled: bool = True
    confidence: float = 0.9


@dataclass
class PairedConfig:
    """Seeds as paired instances (`paired.py`): every config on the same `seeds` training seeds (or `seed_list`),
    beside a `baseline` arm (training overrides, e.g. {ot.lambda_ot: 0.0}: co-training; null: none)."""

    seeds: int = 1
    seed_list: Optional[list[int]] = None
    baseline: Optional[dict[str, Any]] = None
    racing: RacingConfig = field(default_factory=RacingConfig)

    @property
    def active(self) -> bool:
        return self.seeds > 1 or bool(self.seed_list and len(self.seed_list) > 1) or self.baseline is not None


@dataclass
class SweepConfig:
    """A sweep's settings. `train` holds training overrides applied to every trial."""

    name: Optional[str] = None
    storage: str = "sweeps_out"
    num_samples: int = 8
    max_concurrent: int = 2
    reuse_actors: bool = True
    seed: int = 0
    # auto (sweeps/local.yaml): eval/success where closed-loop rollouts exist (the embedded sim), else eval/avg_l1.
    metric: str = "eval/avg_l1"
    # None: the metric's own direction (actot.metrics); a set mode that contradicts it is refused.
    mode: Optional[str] = None
    resources: Resources = field(default_factory=Resources)
    asha: AshaConfig = field(default_factory=AshaConfig)
    rules: list[Any] = field(default_factory=lambda: ["pi_collapse", "non_finite", "ot_cost_diverging"])
    # `rules.shadow=true` (command line or sweep file): every rule only records what it would have
    # done (rule, step, reason; the `shadow` column) and no trial is stopped: the rule audit's input.
    rules_shadow: bool = False
    # TPE's random start-up trials before it models anything; None: min(10, max(2, num_samples // 3)),
    # so that a default 8-trial sweep is not pure random search (Optuna's own default is 10).
    n_startup_trials: Optional[int] = None
    train: dict[str, Any] = field(default_factory=dict)
    resume: bool = False
    dry_run: bool = False
    ray_address: Optional[str] = None  # auto, or HOST:PORT of an existing cluster (docs/cluster.md)
    max_failures: int = 0  # retries of a trial whose node died (or that raised), from its checkpoint
    ray_temp_dir: Optional[str] = None
    experiment_save_s: float = 1.0
    lang: str = "en"  # the end-of-sweep report's language besides English: en or zh
    verbose: bool = False  # print the whole resolved config at the start (it is always in sweep.json)
    # A trial's score (told to the searcher, and the ranking's default): the mean of its last K values of
    # the metric (K=1: the last). Each value is measured with the EMA weights (train.ema_decay).
    score_last_k: int = 1
    stage: str = "search"  # search (then confirm, when confirm.top_k and confirm.seeds are set) or confirm
    confirm: ConfirmConfig = field(default_factory=ConfirmConfig)
    paired: PairedConfig = field(default_factory=PairedConfig)


# The sweep key a user types for a field whose own name cannot be dotted under the `rules` list.
ALIASES = {"rules.shadow": "rules_shadow"}


def paired_seeds(sweep_cfg: SweepConfig, base_seed: int) -> list[int]:
    """The training seeds every config of the sweep runs on: `paired.seed_list`, or base_seed, base_seed+1, ..."""
    if sweep_cfg.paired.seed_list is not None:
        return [int(s) for s in sweep_cfg.paired.seed_list]
    return [base_seed + i for i in range(sweep_cfg.paired.seeds)]


def startup_trials(sweep_cfg: SweepConfig) -> int:
    """TPE's start-up (random) trials: `n_startup_trials`, or min(10, max(2, num_samples // 3))."""
    if sweep_cfg.n_startup_trials is not None:
        return sweep_cfg.n_startup_trials
    return min(10, max(2, sweep_cfg.num_samples // 3))


def available_sweeps() -> list[str]:
    return available_yaml("sweeps")


def build_sweep(data: dict, where: str, base: dict | None = None) -> SweepConfig:
    """A SweepConfig from `data` (a sweep file's keys) on top of `base` (a stored sweep's keys) and the defaults."""
    data = {ALIASES.get(k, k): v for k, v in data.items()}
    valid = [f.name for f in dataclasses.fields(SweepConfig)]
    for key in data:
        if key not in valid:
            raise unknown_key_error(key, valid, where)
    try:
        conf = OmegaConf.merge(OmegaConf.structured(SweepConfig), OmegaConf.create(base or {}), OmegaConf.create(data))
        return OmegaConf.to_object(conf)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None)
        named = f"{key}={getattr(err, 'value', None)!r}: " if key else ""
        raise ActotError(f"{where}: {named}{str(err).splitlines()[0]}") from err


def load_sweep(name_or_path: str, base: dict | None = None) -> tuple[SweepConfig, Path]:
    """sweeps/NAME.yaml (or a path); with `base` (a resume: sweep.json's sweep keys), only the keys the file sets
    replace the stored ones."""
    raw, path = read_yaml_mapping(name_or_path, "sweeps", "sweep")
    return build_sweep(raw, str(path), base), path


def sweep_keys(sweep_cfg: SweepConfig | None = None) -> dict[str, Any]:
    """Dotted sweep keys a command line may set (rules and train are set in the YAML or as train keys), with their
    values in `sweep_cfg` (default: the built-in defaults)."""
    sweep_cfg = sweep_cfg or SweepConfig()
    keys = {k: v for k, v in dotted_keys(sweep_cfg).items() if k not in ("rules", "train", *ALIASES.values())}
    keys.update({alias: getattr(sweep_cfg, name) for alias, name in ALIASES.items()})
    return keys


# Short command-line names: `stage=confirm top_k=3 seeds=5`.
SHORT_KEYS = {"top_k": "confirm.top_k", "seeds": "confirm.seeds"}


def apply_cli(sweep_cfg: SweepConfig, words: list[str], where: str = "sweep") -> SweepConfig:
    """Split `key=value` words into sweep keys and training keys, type-check both; `where` names the sweep file the
    words go on top of, for the errors."""
    sweep_over, train_over = {}, {}
    skeys, tkeys = sweep_keys(), dotted_keys(TrainConfig())
    for word in words:
        if "=" not in word:
            raise ActotError(f"command line: '{word}' is not key=value (for example num_samples=8)")
        key, text = word.split("=", 1)
        key = SHORT_KEYS.get(key, key)
        value = parse_value(text)
        if key in skeys:
            sweep_over[ALIASES.get(key, key)] = value
        elif key in tkeys or key == "policy":
            train_over[key] = value
        else:
            raise unknown_key_error(key, list(skeys) + list(SHORT_KEYS) + list(tkeys), "command line")
    conf = OmegaConf.structured(sweep_cfg)
    for key, value in sweep_over.items():
        try:
            OmegaConf.update(conf, key, value, merge=False)
        except OmegaConfBaseException as err:
            raise ActotError(f"command line: {key}={value!r}: {str(err).splitlines()[0]}") from err
    out: SweepConfig = OmegaConf.to_object(conf)
    out.train = {**out.train, **train_over}
    validate(out, f"{where} with the command line" if words and where != "sweep" else where)
    return out


def validate(sweep_cfg: SweepConfig, where: str = "sweep") -> None:
    checks = [
        ("num_samples", sweep_cfg.num_samples >= 1, ">= 1"),
        ("max_concurrent", sweep_cfg.max_concurrent >= 1, ">= 1"),
        ("max_failures", sweep_cfg.max_failures >= 0, ">= 0"),
        ("resources.cpu", sweep_cfg.resources.cpu > 0, "> 0"),
        ("resources.gpu", sweep_cfg.resources.gpu >= 0, ">= 0"),
        ("mode", sweep_cfg.mode in (None, "min", "max"), "min or max (or unset: the metric's own direction)"),
        ("lang", sweep_cfg.lang in ("en", "zh"), "en or zh"),
        ("asha.grace_period", sweep_cfg.asha.grace_period >= 1, ">= 1"),
        ("asha.reduction_factor", sweep_cfg.asha.reduction_factor >= 2, ">= 2"),
        (
            "n_startup_trials",
            sweep_cfg.n_startup_trials is None or sweep_cfg.n_startup_trials >= 0,
            ">= 0 (or null: automatic)",
        ),
        ("stage", sweep_cfg.stage in ("search", "confirm"), "search or confirm"),
        ("score_last_k", sweep_cfg.score_last_k >= 1, ">= 1 (1: a trial's last value)"),
        (
            "confirm.top_k",
            sweep_cfg.confirm.top_k >= (1 if sweep_cfg.stage == "confirm" else 0),
            ">= 1 with stage=confirm (e.g. top_k=3)" if sweep_cfg.stage == "confirm" else ">= 0",
        ),
        (
            "confirm.seeds",
            sweep_cfg.confirm.seeds >= (1 if sweep_cfg.stage == "confirm" else 0),
            ">= 1 with stage=confirm (e.g. seeds=5)" if sweep_cfg.stage == "confirm" else ">= 0",
        ),
    ]
    for key, ok, rule in checks:
        if not ok:
            value = dotted_keys(sweep_cfg).get(key)
            raise ActotError(f"{where}: {key}={value!r} is out of range; it must be {rule}")
    paired = sweep_cfg.paired
    if paired.seed_list is None and paired.seeds < 1:
        raise ActotError(
            f"{where}: paired.seeds={paired.seeds!r} is out of range; it must be >= 1 (the training "
            "seeds every config runs on, e.g. paired.seeds=2)"
        )
    if paired.seed_list is not None:
        if not paired.seed_list or len(set(paired.seed_list)) != len(paired.seed_list):
            raise ActotError(
                f"{where}: paired.seed_list={list(paired.seed_list)!r} must name distinct seeds (a "
                "repeated seed would pair a config with itself), e.g. [0, 1, 2]"
            )
    if not 0.0 < paired.racing.confidence < 1.0:
        raise ActotError(
            f"{where}: paired.racing.confidence={paired.racing.confidence!r} is out of range; it must "
            "be in (0, 1), e.g. 0.9"
        )
    if sweep_cfg.confirm.if_ahead and sweep_cfg.confirm.top_k > 0 and sweep_cfg.paired.baseline is None:
        raise ActotError(
            f"{where}: confirm.if_ahead=true confirms configs ahead of co-training, but the sweep has no "
            "baseline arm; add paired.baseline={ot.lambda_ot: 0.0} or set confirm.if_ahead=false"
        )
    if (sweep_cfg.confirm.top_k > 0) != (sweep_cfg.confirm.seeds > 0):
        raise ActotError(
            f"{where}: confirm.top_k={sweep_cfg.confirm.top_k} with confirm.seeds={sweep_cfg.confirm.seeds}: the "
            "confirm stage needs both (e.g. confirm: {top_k: 3, seeds: 5}), or neither"
        )
    validate_sequential(sweep_cfg, where)


def validate_sequential(sweep_cfg: SweepConfig, where: str) -> None:
    """confirm.sequential's keys, each refused in one line (where, key, value, the fix)."""
    confirm, seq = sweep_cfg.confirm, sweep_cfg.confirm.sequential
    key = "confirm.sequential"
    if not seq.enabled:
        return
    if confirm.top_k < 1 or confirm.seeds < 1:
        raise ActotError(
            f"{where}: {key}.enabled=true needs a confirm stage, but confirm.top_k={confirm.top_k} and "
            f"confirm.seeds={confirm.seeds}; set both (e.g. confirm: {{top_k: 1, seeds: 2, sequential: "
            "{enabled: true}}), or set confirm.sequential.enabled=false"
        )
    if sweep_cfg.paired.baseline is None:
        raise ActotError(
            f"{where}: {key}.enabled=true decides whether a config beats co-training, but the sweep has "
            "no baseline arm; add paired.baseline={ot.lambda_ot: 0.0} or set confirm.sequential.enabled=false"
        )
    checks = [
        (
            "max_seeds",
            seq.max_seeds,
            seq.max_seeds >= confirm.seeds,
            f">= confirm.seeds ({confirm.seeds}, the first look's fresh seeds; the cap counts them), e.g. "
            f"{key}.max_seeds={max(confirm.seeds, 6)}",
        ),
        (
            "seeds_per_look",
            seq.seeds_per_look,
            seq.seeds_per_look >= 1,
            f">= 1 (the fresh seeds each look adds), e.g. {key}.seeds_per_look=1",
        ),
        (
            "spending",
            seq.spending,
            seq.spending in SPENDING,
            f"one of {', '.join(SPENDING)}, e.g. {key}.spending=obrien-fleming",
        ),
        (
            "futility",
            seq.futility,
            seq.futility in FUTILITY,
            f"one of {', '.join(FUTILITY)}, e.g. {key}.futility=pocock",
        ),
        (
            "beta",
            seq.beta,
            0.0 < seq.beta < 0.5,
            f"in (0, 0.5): the rate at which a true win of `effect` is wrongly ruled out, e.g. {key}.beta=0.2",
        ),
        (
            "effect",
            seq.effect,
            seq.effect is None or seq.effect > 0,
            f"> 0 (the smallest gain worth claiming, in the metric's units, + = better), e.g. {key}.effect=0.2",
        ),
    ]
    for name, value, ok, rule in checks:
        if not ok:
            raise ActotError(f"{where}: {key}.{name}={value!r} is out of range; it must be {rule}")
    if seq.effect is None and seq.futility != "none":
        raise ActotError(
            f"{where}: {key}.effect=None: the futility stop rules out a gain of `effect` at beta, so it "
            f"must be stated in the metric's units (+ = better): e.g. {key}.effect=0.2 for eval/success "
            f"(20 points), or {key}.futility=none to run every undecided config to max_seeds"
        )


def resolve_objective(sweep_cfg: SweepConfig, has_rollouts: bool, where: str = "sweep") -> str | None:
    """Fix `sweep_cfg.metric` (from `auto`) and `sweep_cfg.mode` (from the metric's direction); return what to say,
    if anything.

    A sweep must never optimise the wrong way: a `mode` that contradicts a metric's known direction
    (mode=max with eval/avg_l1) is refused, and a metric without one (an OT diagnostic) needs `mode`.
    """
    from actot.metrics import REAL_DATA_METRIC, direction, validity_line

    said = None
    if sweep_cfg.metric == "auto":
        sweep_cfg.metric = "eval/success" if has_rollouts else REAL_DATA_METRIC
        said = (
            f"metric=auto: {sweep_cfg.metric} ({'higher' if sweep_cfg.metric == 'eval/success' else 'lower'} is better)"
            + (
                ""
                if has_rollouts
                else ": these datasets have no simulator for closed-loop success, so the "
                f"sweep ranks an offline metric. {validity_line(sweep_cfg.metric)[0]}"
            )
        )
    known = direction(sweep_cfg.metric)
    if sweep_cfg.mode is None:
        if known is None:
            raise ActotError(
                f"{where}: metric={sweep_cfg.metric} has a healthy range, not a better end; set mode=min or "
                f"mode=max to optimise it anyway, or use metric=eval/avg_l1"
            )
        sweep_cfg.mode = known
    elif known is not None and sweep_cfg.mode != known:
        word = "lower" if known == "min" else "higher"
        raise ActotError(
            f"{where}: mode={sweep_cfg.mode} contradicts metric={sweep_cfg.metric}, for which {word} is better; "
            f"drop mode (it follows the metric) or set mode={known}"
        )
    return said


def base_train_config(sweep_cfg: SweepConfig, fixed: dict, where: str = "sweep") -> TrainConfig:
    """Training config shared by every trial: defaults <- the space's fixed keys <- sweep train keys."""
    return apply_overrides(TrainConfig(), {**fixed, **sweep_cfg.train}, where)
