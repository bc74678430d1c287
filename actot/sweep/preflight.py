"""Pre-flight: everything a sweep needs, checked before any folder, Ray process or trial exists.

`prepare` resolves the objective (the metric, and its direction: a sweep never optimises the
wrong way), the rules, the training config shared by every trial and each starting point's,
and checks what would otherwise fail or hang later, each as one line naming the key, the value
and the fix: a metric the data cannot measure, an ASHA grace period beyond the run's steps or
before the rules can act, and from the datasets' metadata alone, missing videos and held-out
episodes that leave nothing to train on.
`check_resources` compares what a trial asks for with the nodes there are (run after `prepare`,
which checks the files alone, shipped sweep files included). `check_data` then loads (decodes,
pairs) the data once in the driver, so that trials read caches.
"""

from __future__ import annotations

import os
from pathlib import Path

import optuna.distributions as od

from actot.config import apply_overrides, resolve_policy
from actot.errors import ActotError
from actot.sim.generate import load_sim_spec
from actot.sweep.config import SweepConfig, base_train_config, resolve_objective
from actot.metrics import SWEEP_METRICS
from actot.rules import Rule, parse_rules
from actot.sweep.space import SearchSpace
from actot.sweep.storage import is_uri

# Training keys that name a file or folder: made absolute where the command was typed.
PATH_KEYS = ("data.source", "data.target", "data.cache_dir")


def earliest_stop(rule: Rule, log_every: int) -> int:
    """The first step at which `rule` can fire: its warm-up, then patience or the trend's window in reports."""
    first = -(-rule.after // log_every) * log_every  # the first report at or after the warm-up
    if rule.kind == "threshold":
        return first + (rule.patience - 1) * log_every
    if rule.kind == "trend":
        return first + rule.window * log_every
    return first


def check_asha_against_rules(
    sweep_cfg: SweepConfig, rules: list[Rule], log_every: int, rollout_every: int = 0, steps: int | None = None
) -> None:
    if not sweep_cfg.asha.enabled:
        return
    if sweep_cfg.metric == "eval/success" and not rollout_every:
        raise ActotError(
            "sweep: asha.enabled=true with metric=eval/success: eval/success is only measured at a "
            "trial's last step, so ASHA could never compare trials; set rollout_every (e.g. "
            "rollout_every=100) to measure it along the way, use asha.enabled=false, or another metric"
        )
    if steps is not None and sweep_cfg.asha.grace_period > steps:
        raise ActotError(
            f"sweep: asha.grace_period={sweep_cfg.asha.grace_period} is above steps={steps}, so ASHA could "
            f"never compare trials; set asha.grace_period <= {steps} (above the rules' warm-up), more "
            "steps=, or asha.enabled=false"
        )
    stops = [r for r in rules if r.action == "stop"]
    if not stops:
        return
    rule = max(stops, key=lambda r: earliest_stop(r, log_every))
    step = earliest_stop(rule, log_every)
    if sweep_cfg.asha.grace_period <= step:
        raise ActotError(
            f"sweep: asha.grace_period={sweep_cfg.asha.grace_period} is not above step {step}, the first step "
            f"at which rule '{rule.name}' can stop a trial (warm-up {rule.after}, reports every "
            f"log_every={log_every} steps): ASHA would stop trials before the rules act; "
            f"set asha.grace_period > {step}"
        )


def evaluations(metric: str, steps: int, log_every: int, rollout_every: int) -> int:
    """How many values of `metric` a trial reports after step 0: success at each rollout step and the last,
    anything else at each log step and the last."""
    every = rollout_every if metric.startswith("eval/success") else log_every
    if not every:
        return 1
    return steps // every + (1 if steps % every else 0)


def check_score_window(sweep_cfg: SweepConfig, base_cfg) -> None:
    n = evaluations(sweep_cfg.metric, base_cfg.steps, base_cfg.log_every, base_cfg.rollout_every)
    if sweep_cfg.score_last_k > n:
        how = (
            "set rollout_every (e.g. rollout_every=" + str(max(1, base_cfg.steps // (2 * sweep_cfg.score_last_k))) + ")"
            if sweep_cfg.metric.startswith("eval/success")
            else "lower log_every"
        )
        raise ActotError(
            f"sweep: score_last_k={sweep_cfg.score_last_k} but a trial measures {sweep_cfg.metric} {n} time(s) "
            f"(steps={base_cfg.steps}); lower score_last_k to {n} or less, or {how}"
        )


def _absolute(path):
    """A path made absolute where the command was typed; a URI (s3://...) as given."""
    if not isinstance(path, str) or is_uri(path):
        return path
    return str(Path(path).expanduser().resolve())


def has_rollouts(base_cfg) -> bool:
    """Closed-loop success can be measured: the data comes from our simulator and rollouts are on."""
    sim = base_cfg.data.source is None or load_sim_spec(base_cfg.data.target) is not None
    return sim and base_cfg.rollout_episodes >= 1


def dotted(mapping: dict, prefix: str = "") -> dict:
    """{'ot': {'lambda_ot': 0}} and {'ot.lambda_ot': 0} alike -> {'ot.lambda_ot': 0}."""
    out = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            out.update(dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def prepare(space: SearchSpace, sweep_cfg: SweepConfig, say=print) -> tuple[dict, list[Rule], object]:
    """Validate everything a sweep needs; return (base overrides, rules, base train config)."""
    from actot.run_data import derive_data_defaults, derive_preset, preflight_data

    rules = parse_rules(sweep_cfg.rules, "sweep: rules")
    # Trials run in their own folders, maybe on other nodes: no path stays relative.
    sweep_cfg.train = {k: _absolute(v) if k in PATH_KEYS else v for k, v in sweep_cfg.train.items()}
    for key in ("storage", "ray_temp_dir"):
        setattr(sweep_cfg, key, _absolute(getattr(sweep_cfg, key)))
    base = {**space.fixed, **sweep_cfg.train, "seed": sweep_cfg.train.get("seed", sweep_cfg.seed)}
    base.update({k: _absolute(base[k]) for k in PATH_KEYS if k in base})
    base, preset_said = derive_preset(base)
    if preset_said:
        say(f"[sweep] {preset_said}")
    if "threads" not in base:
        base["threads"] = max(1, int(sweep_cfg.resources.cpu))
    if 0 < sweep_cfg.resources.gpu < 1 and "gpu_memory_fraction" not in base:
        # Ray's GPU fractions are logical: the memory cap is what keeps four 0.25-GPU trials off each other's memory.
        base["gpu_memory_fraction"] = sweep_cfg.resources.gpu
    base_cfg = base_train_config(sweep_cfg, base, "sweep")
    if sweep_cfg.metric != "auto" and sweep_cfg.metric not in SWEEP_METRICS:
        raise ActotError(
            f"sweep: metric '{sweep_cfg.metric}' is not one a sweep can optimise; use one of "
            f"auto, {', '.join(SWEEP_METRICS)}"
        )
    said = resolve_objective(sweep_cfg, has_rollouts(base_cfg))
    if said:
        say(f"[sweep] {said}")
    check_asha_against_rules(sweep_cfg, rules, base_cfg.log_every, base_cfg.rollout_every, base_cfg.steps)
    check_score_window(sweep_cfg, base_cfg)
    if sweep_cfg.paired.baseline is not None:  # dotted keys, however the YAML or the command line nested them
        sweep_cfg.paired.baseline = dotted(sweep_cfg.paired.baseline)
        apply_overrides(base_cfg, sweep_cfg.paired.baseline, "sweep: paired.baseline")
    for point, name in zip(space.starting_points, space.point_names):
        apply_overrides(base_cfg, space.to_overrides(point), f"{space.path}: starting point '{name}'")
    if (
        sweep_cfg.metric == "eval/success"
        and base_cfg.data.source is not None
        and load_sim_spec(base_cfg.data.target) is None
    ):
        raise ActotError(
            f"sweep: metric=eval/success needs closed-loop rollouts, which only our simulator's datasets "
            f"have ({base_cfg.data.target} is not one); use metric=eval/avg_l1 (or metric=auto)"
        )
    if sweep_cfg.metric == "eval/success" and base_cfg.rollout_episodes < 1:
        raise ActotError(
            f"sweep: metric=eval/success but rollout_episodes={base_cfg.rollout_episodes}, so no trial "
            "measures it; set rollout_episodes=10 or use eval/avg_l1"
        )
    check_metric_data(sweep_cfg.metric, base_cfg)
    preflight_data(base_cfg, "sweep")
    derived, said = derive_data_defaults(base_cfg)
    # trials get the derived values, and sweep.json keeps them
    for key in ("resolution", "n_eval_target", "pair_scale", "target_episodes"):
        if getattr(derived.data, key) != getattr(base_cfg.data, key):
            base[f"data.{key}"] = getattr(derived.data, key)
    for line in said:
        say(f"[sweep] {line}")
    return base, rules, derived


def check_metric_data(metric: str, base_cfg) -> None:
    """A metric read on held-out source demos needs some: refuse it before any trial starts when there are none."""
    from actot.metrics import NEEDS_SOURCE_HELD_OUT
    from actot.run_data import held_out_source

    if metric not in NEEDS_SOURCE_HELD_OUT:
        return
    spec = base_cfg.data.sim if base_cfg.data.source is None else load_sim_spec(base_cfg.data.target)
    if held_out_source(base_cfg, spec) == 0:
        sim_key = (
            "data.sim.n_eval_source"
            if base_cfg.data.source is None and base_cfg.data.n_eval_source is None
            else "data.n_eval_source"
        )
        raise ActotError(
            f"sweep: metric={metric} is read on held-out source demos, but none are held out "
            f"({sim_key}=0); set {sim_key}=8 ("
            f"{'8 more sim source demos' if sim_key.startswith('data.sim') else 'the last 8 source episodes'}"
            f", kept out of training), or rank by eval/avg_l1"
        )


THIS_MACHINE = "this machine"


def node_capacities(sweep_cfg: SweepConfig, count_gpus: bool = True) -> tuple[list[dict], str]:
    """(each node's CPU and GPU count, where they were read): the running Ray cluster's alive nodes when
    there is one (joined briefly for `ray_address`), else this machine, as the sweep's own Ray would see it.
    This machine's GPUs are counted by torch, and only with `count_gpus` (else 0): a CPU sweep's driver need not
    import torch (about 1.4 s of CPU) to learn that a trial fits."""
    import ray

    joined = False
    if not ray.is_initialized() and sweep_cfg.ray_address:
        from actot.sweep.cluster import connect

        connect(sweep_cfg.ray_address)
        joined = True
    try:
        if ray.is_initialized():
            nodes = [
                {"CPU": n["Resources"].get("CPU", 0.0), "GPU": n["Resources"].get("GPU", 0.0)}
                for n in ray.nodes()
                if n.get("Alive")
            ]
            return nodes, f"the Ray cluster{' at ' + sweep_cfg.ray_address if sweep_cfg.ray_address else ''}"
    finally:
        if joined:
            ray.shutdown()
    gpus = 0.0
    if count_gpus:
        import torch

        gpus = float(torch.cuda.device_count())
    return [{"CPU": float(os.cpu_count() or 1), "GPU": gpus}], THIS_MACHINE


def check_resources(sweep_cfg: SweepConfig) -> None:
    """A trial asks for `resources`; if no node has that much, Ray would leave every trial pending, silently."""
    want = {"CPU": sweep_cfg.resources.cpu, "GPU": sweep_cfg.resources.gpu}
    nodes, where = node_capacities(sweep_cfg, count_gpus=want["GPU"] > 0)
    if any(n["CPU"] >= want["CPU"] and n["GPU"] >= want["GPU"] for n in nodes):
        return
    if where == THIS_MACHINE and want["GPU"] == 0:  # the message says what this machine has, GPUs included
        nodes, where = node_capacities(sweep_cfg)
    have = "; ".join(f"{n['CPU']:g} CPU, {n['GPU']:g} GPU" for n in nodes[:4]) or "no alive node"
    more = f" (and {len(nodes) - 4} more nodes)" if len(nodes) > 4 else ""
    best_cpu = max((n["CPU"] for n in nodes), default=0)
    fix = (
        "resources.gpu=0 (e.g. sweep=local)"
        if want["GPU"] > 0 and not any(n["GPU"] for n in nodes)
        else f"resources.cpu<={best_cpu:g} and resources.gpu<={max((n['GPU'] for n in nodes), default=0):g}"
    )
    raise ActotError(
        f"sweep: resources.cpu={want['CPU']:g} resources.gpu={want['GPU']:g}: a trial asks for "
        f"{want['CPU']:g} CPU and {want['GPU']:g} GPU but no node of {where} has that ({have}{more}), "
        f"so no trial could ever start; set {fix}"
    )


def check_data(space: SearchSpace, base_cfg) -> None:
    """Load the data once in the driver (trials then read the frame cache) and check what depends on it."""
    from actot.data.sampler import check_window_size
    from actot.run_data import load_data

    data = load_data(base_cfg)[0]
    check_window_size(base_cfg.ot.window_size, data, "sweep")
    for point, name in zip(space.starting_points, space.point_names):  # checked as configs by `prepare`
        window = space.to_overrides(point).get("ot.window_size", base_cfg.ot.window_size)
        check_window_size(window, data, f"{space.path}: starting point '{name}'")
    # Keypoints need cameras and a 2x2 map: a trial that draws them would fail at its start, so check every choice.
    choices = {
        key: dist.choices
        for key in ("ot.embedding", "policy.image_pooling")
        if isinstance(dist := space.distributions.get(key), od.CategoricalDistribution)
    }
    for key, values in choices.items():
        for value in values:
            resolve_policy(
                apply_overrides(base_cfg, {key: value}, f"{space.path}: params.{key}"),
                len(data.cameras),
                data.source.frame_size,
                f"{space.path}: params.{key}",
            )
    resolve_policy(base_cfg, len(data.cameras), data.source.frame_size, "sweep")
