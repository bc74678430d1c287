"""Search spaces: what a sweep searches, read from `search_spaces/NAME.yaml` and checked first.

    description: reg and tau of the unbalanced Sinkhorn
    params:
      ot.reg: {type: float, low: 0.005, high: 5.0, log: true}
      ot.tau: {type: float, low: 0.01, high: 30.0, log: true, pair: tied}   # or pair: separate
      ot.weight_embed: {type: float, low: 0.0, high: 1.0, per_camera: 3}
      ot.heuristic: {type: categorical, choices: [hard, soft]}
      ot.window_size: {type: int, low: 5, high: 30, step: 5}
    fixed: {ot.heuristic: hard}          # train overrides for every trial of this space
    starting_points:                     # evaluated first (the seed log's configs)
      - {name: R1, ot.reg: 2.0, ot.tau: 10.0}

A `pair: separate` tau searches `ot.tau_a` and `ot.tau_b`; `per_camera: K` searches
`ot.weight_embed.0` ... `ot.weight_embed.{K-1}` (`actot/knobs.py` spells and decodes these names).
Starting points use those names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import optuna.distributions as od

from actot import knobs
from actot.config import (
    CHOICES,
    TrainConfig,
    apply_overrides,
    available_yaml,
    dotted_keys,
    normalise_value,
    read_yaml_mapping,
    unknown_key_error,
)
from actot.errors import ActotError

TOP_KEYS = {"description", "params", "fixed", "starting_points"}
PARAM_FIELDS = {"type", "low", "high", "log", "step", "choices", "pair", "per_camera"}


@dataclass
class SearchSpace:
    name: str
    path: Path
    description: str
    distributions: dict[str, od.BaseDistribution]
    fixed: dict = field(default_factory=dict)
    starting_points: list[dict] = field(default_factory=list)
    point_names: list[str] = field(default_factory=list)

    def to_overrides(self, params: dict) -> dict:
        """Searched values (Optuna's names) -> train config overrides (`actot/knobs.py`)."""
        return knobs.to_overrides(params)


def available_spaces() -> list[str]:
    return available_yaml("search_spaces")


def _distribution(key: str, spec: dict, where: str) -> od.BaseDistribution:
    kind = spec.get("type")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ActotError(f"{where}: {key}: categorical needs a non-empty 'choices' list")
        return od.CategoricalDistribution(choices)
    if kind not in ("float", "int"):
        raise ActotError(f"{where}: {key}: type '{kind}' must be float, int or categorical")
    for bound in ("low", "high"):
        if not isinstance(spec.get(bound), (int, float)) or isinstance(spec.get(bound), bool):
            raise ActotError(f"{where}: {key}: '{bound}' must be a number, got {spec.get(bound)!r}")
    low, high, log, step = spec["low"], spec["high"], bool(spec.get("log", False)), spec.get("step")
    if not low < high:
        raise ActotError(f"{where}: {key}: low={low} must be below high={high}")
    if log and low <= 0:
        raise ActotError(f"{where}: {key}: log scale needs low > 0, got low={low}")
    if log and step is not None:
        raise ActotError(f"{where}: {key}: 'step' and 'log: true' cannot be combined")
    if kind == "int":
        if int(low) != low or int(high) != high:
            raise ActotError(f"{where}: {key}: int bounds must be whole numbers, got {low}..{high}")
        return od.IntDistribution(int(low), int(high), log=log, step=int(step or 1))
    return od.FloatDistribution(float(low), float(high), log=log, step=step)


def _check_value(dist: od.BaseDistribution, value, key: str, where: str) -> None:
    if isinstance(dist, od.CategoricalDistribution):
        ok = value in dist.choices
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and dist.low <= value <= dist.high
    if not ok:
        bounds = dist.choices if isinstance(dist, od.CategoricalDistribution) else f"[{dist.low}, {dist.high}]"
        raise ActotError(f"{where}: {key}={value!r} is outside the space {bounds}")


def load_space(name_or_path: str) -> SearchSpace:
    """Read and validate a search space; every error names the file and key."""
    raw, path = read_yaml_mapping(name_or_path, "search_spaces", "search space")
    where = str(path)
    if not isinstance(raw.get("params"), dict) or not raw["params"]:
        raise ActotError(f"{where}: needs a 'params' mapping of at least one knob")
    if set(raw) - TOP_KEYS:
        raise ActotError(f"{where}: unknown top-level key(s) {sorted(set(raw) - TOP_KEYS)}; allowed {sorted(TOP_KEYS)}")
    valid = dotted_keys(TrainConfig())
    distributions: dict[str, od.BaseDistribution] = {}
    for key, spec in raw["params"].items():
        if key not in valid:
            raise unknown_key_error(key, list(valid), f"{where}: params")
        if not isinstance(spec, dict):
            raise ActotError(f"{where}: params.{key} must be a mapping like {{type: float, low: 0.1, high: 1}}")
        if set(spec) - PARAM_FIELDS:
            raise ActotError(
                f"{where}: params.{key}: unknown field(s) {sorted(set(spec) - PARAM_FIELDS)}; "
                f"allowed {sorted(PARAM_FIELDS)}"
            )
        dist = _distribution(key, spec, where)
        pair = spec.get("pair")
        cameras = spec.get("per_camera")
        if pair is not None:
            if key != "ot.tau" or pair not in ("tied", "separate"):
                raise ActotError(f"{where}: params.{key}: 'pair' applies to ot.tau only and must be tied or separate")
            if pair == "separate":
                distributions.update({knob: dist for knob in knobs.TAU_SIDES})
                continue
        if cameras is not None:
            if key != "ot.weight_embed" or not isinstance(cameras, int) or cameras < 1:
                raise ActotError(f"{where}: params.{key}: 'per_camera' applies to ot.weight_embed and is a count >= 1")
            distributions.update({knobs.camera_knob(i): dist for i in range(cameras)})
            continue
        distributions[key] = dist
    fixed = raw.get("fixed") or {}
    if not isinstance(fixed, dict):
        raise ActotError(f"{where}: 'fixed' must be a mapping of train keys to values")
    points, names = [], []
    for i, point in enumerate(raw.get("starting_points") or []):
        if not isinstance(point, dict):
            raise ActotError(f"{where}: starting_points[{i}] must be a mapping")
        point = dict(point)
        names.append(str(point.pop("name", f"point{i}")))
        missing = sorted(set(distributions) - set(point))
        extra = sorted(set(point) - set(distributions))
        if missing or extra:
            raise ActotError(
                f"{where}: starting point '{names[-1]}' must set exactly the searched knobs: "
                f"missing {missing}, not searched {extra}"
            )
        for key, value in point.items():
            _check_value(distributions[key], value, key, f"{where}: starting point '{names[-1]}'")
        points.append(point)
    space = SearchSpace(path.stem, path, str(raw.get("description", "")), distributions, fixed, points, names)
    # Type-check what trials will run: the fixed keys, and each starting point on top of them.
    apply_overrides(TrainConfig(), fixed, f"{where}: fixed")
    for key, dist in distributions.items():  # a name no trial could run stops the sweep before its first trial
        allowed = CHOICES.get(knobs.training_key(key)) if isinstance(dist, od.CategoricalDistribution) else None
        for choice in dist.choices if allowed else ():  # the name alone: whether a choice fits the others is per trial
            if normalise_value(knobs.training_key(key), choice) not in allowed:
                raise ActotError(f"{where}: params.{key}: {choice!r} is not allowed; choose among {list(allowed)}")
    for point, name in zip(points, names):
        apply_overrides(TrainConfig(), {**fixed, **space.to_overrides(point)}, f"{where}: starting point '{name}'")
    return space


def stored_space(spec: dict) -> SearchSpace:
    """The space a sweep stored in its sweep.json (`space` section), for a resume that names no space= file."""
    from actot.sweepdir import spec_distributions

    section = spec.get("space") or {}
    points = section.get("points") or []
    return SearchSpace(
        str(section.get("name") or "stored"),
        Path(section.get("path") or "sweep.json"),
        str(section.get("description") or ""),
        spec_distributions(spec),
        dict(section.get("fixed") or {}),
        [{k: v for k, v in point.items() if k != "name"} for point in points],
        [str(point.get("name")) for point in points],
    )


def space_warnings(space: SearchSpace, heuristic: str) -> list[str]:
    """Warnings about a valid space that searches in vain; `heuristic` is the trials' fixed one."""
    searched = set(space.distributions)
    heuristics = space.distributions.get("ot.heuristic")
    hard = "hard" in heuristics.choices if isinstance(heuristics, od.CategoricalDistribution) else heuristic == "hard"
    tau_keys = sorted(k for k in searched if knobs.training_key(k) == "ot.tau")
    out = []
    if hard and "ot.reg" in searched and tau_keys:
        out.append(
            f"{space.path}: under heuristic=hard the plan is pi_ii = exp(-M_ii / (reg + tau_a + tau_b)) / n, so only "
            f"reg + tau_a + tau_b matters: searching ot.reg and {', '.join(tau_keys)} sweeps a line, not a box; "
            "search one of them (e.g. ot.tau, with ot.reg fixed) or use heuristic=soft or none, where each acts"
        )
    elif hard and set(tau_keys) == set(knobs.TAU_SIDES):
        out.append(
            f"{space.path}: under heuristic=hard only tau_a + tau_b matters (with reg): search a tied ot.tau instead"
        )
    return out


def describe(space: SearchSpace) -> str:
    parts = []
    for key, dist in space.distributions.items():
        if isinstance(dist, od.CategoricalDistribution):
            parts.append(f"{key} in {list(dist.choices)}")
        else:
            scale = " (log)" if getattr(dist, "log", False) else ""
            parts.append(f"{key} in [{dist.low:g}, {dist.high:g}]{scale}")
    return "; ".join(parts)
