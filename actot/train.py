"""Train one ACT + OT policy: the loop that the CLI and every sweep trial run.

    python -m actot.train policy=act_small steps=200                 # the embedded sim
    python -m actot.train data.source=PATH data.target=PATH ot.reg=2  # LeRobot datasets
    python -m actot.train name=NAME ... dry_run=true                  # check config and data, time a few steps
                                                                      # (cost=false: do not); start nothing

A run writes `out_dir/name` (an unnamed run gets a new, unique name); an existing run's folder is
never overwritten: `resume=true` continues that run from its checkpoint.

Per step: one batch of [OT source | OT target | BC rows]. The BC rows go through ACT for
L_bc; the OT pairs go through the image encoder only, for their embeddings and L_ot (as in the
method's reference code; `bc_on_ot_rows=true` also trains BC on them; `ot_rows=bc` draws them among
the BC rows, so that they take no extra pass through the encoder).
L = L_bc + lambda_ot * L_ot. At each log step the two gradients are taken apart on the shared
encoder parameters to log `ot_grad_ratio`, the size of OT's push against BC's.
The learning rate follows `lr_schedule` (a function of the step alone), and evaluation (held-out
L1, closed-loop success in the target and the source domain) runs on the exponential moving average
of the weights when `ema_decay` > 0 (actot/optim.py); the checkpoint holds both weights, so a resumed
run continues bit for bit. From the 6th log step on, `eval/l1_trend` says whether the held-out L1 is
still falling (actot/convergence.py), so that every run, in a sweep or not, carries that signal.
Metrics are averaged over the steps between logs, on the device, and read back once per
`log_every` steps (no host sync per step on a GPU). `report(metrics, checkpoint_dir, history)`
is the hook a sweep uses (it may return a reason to stop); the loop itself knows nothing of Ray.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from actot.config import TrainConfig, parse_cli, parse_value, resolve_policy, to_dict
from actot.convergence import TREND_KEY, history_trend
from actot.data.lerobot import LeRobotDataset
from actot.data.sampler import CoTrainData, CoTrainSampler, check_window_length, check_window_size
from actot.errors import ActotError, run_cli
from actot.evaluate import eval_l1, rollout_metrics, to_tensors, windowed_l1
from actot.metrics import direction
from actot.optim import WeightEMA, lr_factor, resolved_warmup
from actot.ot.loss import make_label, ot_loss
from actot.policy.act import ACT, act_loss
from actot.profiling import Laps, no_lap
from actot.run_log import RunLog, plot_history
from actot.sim.config import SimConfig
from actot.sim.generate import ensure_sim, load_ground_truth, load_sim_spec, load_true_pairs

# report(metrics, checkpoint_dir or None, history so far) -> a reason to stop early, or None
Report = Callable[[dict, "Path | None", list], "str | None"]
CHECKPOINT_FILE = "state.pt"

_DATA_CACHE: dict[str, tuple] = {}  # a reused Ray actor keeps its datasets between trials


@dataclass
class TrainResult:
    """How a run ended: status 'finished', 'stopped' (by the report hook) or 'non_finite'."""

    status: str
    step: int
    metrics: dict
    reason: str = ""
    run_dir: Path | None = None
    history: list[dict] = field(default_factory=list)


def load_data(cfg: TrainConfig) -> tuple[CoTrainData, dict | None, SimConfig | None]:
    """Both datasets (the embedded sim when none is named), paired; cached per data config."""
    cfg = derive_data_defaults(cfg)[0]
    key = json.dumps(dataclasses.asdict(cfg.data), sort_keys=True)
    if key not in _DATA_CACHE:
        loaded = build_data(cfg)
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = loaded
    return _DATA_CACHE[key]


def build_data(cfg: TrainConfig) -> tuple[CoTrainData, dict | None, SimConfig | None]:
    """`load_data` without its cache (the data keys already derived)."""
    d = cfg.data
    spec = None
    if d.source is None:
        spec = d.sim
        source_root, target_root = ensure_sim(spec)
    else:
        source_root, target_root = Path(d.source), Path(d.target)
        spec = load_sim_spec(target_root)  # a sim dataset named by path still gets rollouts
    common = dict(cameras=d.cameras, resolution=tuple(d.resolution), cache_dir=d.cache_dir)
    source = LeRobotDataset(source_root, episodes=d.source_episodes, **common)
    target = LeRobotDataset(target_root, episodes=d.target_episodes, **common)
    data = CoTrainData(source, target, held_out_target(cfg, spec), held_out_source(cfg, spec), d.sharpness, d.cutoff,
                       d.top_k,
                       cache_dir=d.cache_dir,  # the driver of a sweep pairs; its trials read the cache
                       summary=d.pair_summary, summary_weight=d.pair_summary_weight, summary_frames=d.pair_summary_frames,
                       scale=d.pair_scale, cost=d.pair_cost)
    truth = load_ground_truth(target_root)
    if truth is not None and "target_covered" in truth:
        data.mark_covered(truth["target_covered"], truth.get("eval_split") == "covered")
    return data, load_true_pairs(target_root), spec


# What --help says of the keys whose null default is derived from the data.
DERIVED = {"data.resolution": "  (null: the sim's [32, 32]; LeRobot frames scaled to 128 px on the long side, "
                              "480x640 -> [96, 128])",
           "data.n_eval_target": "  (null: the sim's held-out demos; for a LeRobot dataset a tenth of its target "
                                 "episodes, rounded, at least 1 and leaving 1 to train on: 100 -> 10, 4 -> 1, 2 -> 1)",
           "data.eval_target_episodes": "  (null: the last data.n_eval_target; else e.g. [0-9] or [3, 17, 42]: held out "
                                        "and removed from the training target episodes)",
           "data.source_episodes": "  (null: all; e.g. 0-79, [0-39, 80-99] or [1, 2, 4])",
           "data.target_episodes": "  (null: all; e.g. 0-79, [0-39, 80-99] or [1, 2, 4])",
           "data.pair_scale": "  (null: absolute on the embedded sim and the datasets it writes; nearest on a LeRobot "
                              "dataset)",
           "policy_preset": "  (policy=NAME: act_small for the sim; act for a LeRobot dataset unless policy= is given)"}
SIM_RESOLUTION = [32, 32]
# The pairing weights' scale (data.pair_scale) when null: the sim keeps the rule its results were measured with and
# that finds its truly nearest demos best; a LeRobot dataset's costs have no known scale (G1's made `absolute` collapse
# onto one source demo), so there they are read relative to each target's nearest (docs/data.md, bench/pairing_scale.py).
SIM_PAIR_SCALE, DATA_PAIR_SCALE = "absolute", "nearest"
LONG_SIDE = 128  # a LeRobot dataset's frames are scaled to this many pixels on their long side


def held_out_target(cfg: TrainConfig, spec: SimConfig | None, n_target: int | None = None) -> int:
    """data.n_eval_target, or the dataset's own held-out demos (our sim's n_eval), else a tenth of the
    `n_target` target episodes, rounded (at least 1, and at least one left to train on)."""
    if cfg.data.n_eval_target is not None:
        return cfg.data.n_eval_target
    if spec is not None:
        return spec.n_eval_total
    if n_target is None:
        raise ValueError("held_out_target needs the number of target episodes for a LeRobot dataset")
    return max(0, min(max(1, round(n_target / 10)), n_target - 1))


def held_out_words(held: int, n: int) -> str:
    """Why the default holds out `held` of `n` episodes, in words that match the numbers (a tenth only when it is)."""
    tenth = round(n / 10)
    share = f"{held} of {n}, {held / n:.0%}" if n else "none"
    if held == tenth:
        return f"{share}: a tenth of them, rounded"
    if held > tenth:
        return f"{share}: a tenth of {n} rounds to {tenth}, and at least one is held out"
    return f"{share}: a tenth ({tenth}) would leave none to train on"


def episodes_text(episodes: list[int]) -> str:
    """[0, 1, 2, 3, 7] -> '0-3, 7': a list as a user would write it back."""
    runs: list[list[int]] = []
    for ep in episodes:
        if runs and ep == runs[-1][1] + 1:
            runs[-1][1] = ep
        else:
            runs.append([ep, ep])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def target_split(cfg: TrainConfig, where: str = "data") -> TrainConfig:
    """`cfg` with data.eval_target_episodes applied, as the split CoTrainData makes (the last n_eval_target target
    episodes are held out): target_episodes = the training ones, then the held-out ones; n_eval_target = how many
    are held out. A held-out episode is removed from the training ones. Reads metadata only; idempotent."""
    d = cfg.data
    held = d.eval_target_episodes
    if held is None:
        return cfg
    if d.source is None:
        available = list(range(d.sim.n_target + d.sim.n_eval_total))
        name = "the embedded sim's target"
    else:
        try:
            available = LeRobotDataset(d.target, cameras=[], load=False).episode_indices
        except ActotError as err:
            raise ActotError(f"{where}: data.target={d.target}: {err}") from err
        name = str(d.target)
    have = set(available)
    lacking = [e for e in held if e not in have]
    if lacking:
        raise ActotError(f"{where}: data.eval_target_episodes=[{episodes_text(held)}] names episode(s) "
                         f"{episodes_text(lacking[:5])} that {name} lacks (it has {episodes_text(available)}); "
                         "name episodes it has")
    chosen = d.target_episodes if d.target_episodes is not None else available
    held_set = set(held)
    train = [e for e in chosen if e not in held_set]
    if not train:
        given = (f"data.target_episodes=[{episodes_text(chosen)}]" if d.target_episodes is not None
                 else f"all {len(chosen)} episodes of {name}")
        raise ActotError(f"{where}: data.eval_target_episodes=[{episodes_text(held)}] holds out every training target "
                         f"episode ({given}), which leaves none to train on; hold out fewer, or add training episodes "
                         "with data.target_episodes")
    return dataclasses.replace(cfg, data=dataclasses.replace(d, target_episodes=train + list(held),
                                                             n_eval_target=len(held)))


def held_out_source(cfg: TrainConfig, spec: SimConfig | None) -> int:
    """data.n_eval_source, or the dataset's own held-out source demos (our sim's n_eval_source), else 0."""
    if cfg.data.n_eval_source is not None:
        return cfg.data.n_eval_source
    return spec.n_eval_source if spec is not None else 0


REAL_DATA_PRESET = "act"  # LeRobot's ACT, for a LeRobot dataset; the sim's default stays act_small


def derive_preset(overrides: dict) -> tuple[dict, str | None]:
    """`overrides` with `policy=act` added when they name a LeRobot dataset (not one our sim wrote) and no
    preset; and the line that says so (None when nothing was added)."""
    source, target = overrides.get("data.source"), overrides.get("data.target")
    if source is None or target is None or "policy" in overrides or load_sim_spec(target) is not None:
        return overrides, None
    return ({"policy": REAL_DATA_PRESET, **overrides},
            f"policy={REAL_DATA_PRESET}: LeRobot's ACT for a LeRobot dataset (set policy=act_small for a small, fast "
            "policy, e.g. on a CPU)")


def derive_data_defaults(cfg: TrainConfig) -> tuple[TrainConfig, list[str]]:
    """`cfg` with the data keys the user left null derived from the data (see DataConfig), and one line
    per derived value saying what it is and why."""
    said = []
    if cfg.data.eval_target_episodes is not None:
        first = cfg.data.n_eval_target is None  # not split yet (the split sets it): say it once
        cfg = target_split(cfg)
        held = cfg.data.eval_target_episodes
        n_train = len(cfg.data.target_episodes) - len(held)
        if first:
            said.append(f"data.eval_target_episodes=[{episodes_text(held)}]: {len(held)} target episode(s) held out "
                        f"for eval/avg_l1, never trained on; {n_train} train (data.target_episodes=["
                        f"{episodes_text(cfg.data.target_episodes[:n_train])}])")
    d = cfg.data
    if d.source is None:
        changes = {"resolution": list(SIM_RESOLUTION) if d.resolution is None else d.resolution,
                   "pair_scale": SIM_PAIR_SCALE if d.pair_scale is None else d.pair_scale}
        return dataclasses.replace(cfg, data=dataclasses.replace(d, **changes)), said
    spec = load_sim_spec(d.target)
    target = LeRobotDataset(d.target, episodes=d.target_episodes, cameras=d.cameras, cache_dir=d.cache_dir, load=False)
    changes = {}
    if d.pair_scale is None:
        changes["pair_scale"] = SIM_PAIR_SCALE if spec is not None else DATA_PAIR_SCALE
        if spec is None:
            said.append(f"data.pair_scale={DATA_PAIR_SCALE}: the pairing weights read each DTW cost relative to the "
                        f"target demo's nearest, whatever the costs' scale (set data.pair_scale={SIM_PAIR_SCALE} for "
                        "the first rule, which reads the costs themselves)")
    if d.resolution is None:
        if spec is not None or not target.cameras:
            changes["resolution"] = list(SIM_RESOLUTION)
        else:
            h, w = target.frame_size  # the stored size of the first chosen camera
            scale = LONG_SIDE / max(h, w)
            changes["resolution"] = [max(8, round(h * scale)), max(8, round(w * scale))]
            said.append(f"data.resolution={changes['resolution']}: {target.cameras[0]}'s {h}x{w} frames scaled to "
                        f"{LONG_SIDE} px on the long side (set data.resolution to choose)")
    if d.n_eval_target is None and spec is None:
        n = len(target.episode_indices)
        held = changes["n_eval_target"] = held_out_target(cfg, None, n)
        said.append(f"data.n_eval_target={held}: the last {held} of the {n} target episodes "
                    f"{'is' if held == 1 else 'are'} held out for eval/avg_l1 ({held_out_words(held, n)}); "
                    "set data.n_eval_target=N or data.eval_target_episodes=[...] to choose")
    return dataclasses.replace(cfg, data=dataclasses.replace(d, **changes)), said


def preflight_data(cfg: TrainConfig, where: str = "data") -> None:
    """What would fail once training starts, checked from the metadata alone (nothing decoded or paired), so that a
    dry run refuses what the real run would: datasets or data files that are not there, episodes whose videos are
    missing, source and target of different robots (state/action sizes) or camera counts, pairing features the data
    lacks, held-out episodes that leave none to train on, a jitter window as long as every source episode, and
    policy settings the frames cannot carry (keypoints). The embedded sim is generated to fit its config: only its
    held-out split and the policy are checked."""
    cfg = target_split(cfg, where)
    d = cfg.data
    if d.source is None:
        n_source = d.sim.n_source + d.sim.n_eval_source
        if held_out_source(cfg, d.sim) >= n_source:
            raise ActotError(f"{where}: data.n_eval_source={held_out_source(cfg, d.sim)} holds out every one of the "
                             f"sim's {n_source} source demos, which leaves none to train on; set data.n_eval_source"
                             f"={n_source - 1} or lower, or leave it unset (data.sim.n_eval_source demos are held out)")
        from actot.sim.task import CAMERAS

        cameras = CAMERAS if d.cameras is None else d.cameras
        resolve_policy(cfg, len(cameras), tuple(d.resolution or SIM_RESOLUTION), where)
        return
    spec = load_sim_spec(d.target)
    common = dict(cameras=d.cameras, resolution=tuple(d.resolution) if d.resolution else None, cache_dir=d.cache_dir,
                  load=False)
    datasets = {}
    for key, root, episodes in (("source", d.source, d.source_episodes), ("target", d.target, d.target_episodes)):
        try:
            dataset = datasets[key] = LeRobotDataset(root, episodes=episodes, **common)
        except ActotError as err:
            raise ActotError(f"{where}: data.{key}={root}: {err}") from err
        if not dataset.episode_indices:
            raise ActotError(f"{where}: data.{key}_episodes={episodes!r} selects no episode of {root}; "
                             f"name at least one")
        lost = dataset.missing_data_files()
        if lost:
            eps = [ep for ep, _ in lost]
            raise ActotError(f"{where}: data.{key}={root}: no state/action file for episode(s) "
                             f"{episodes_text(eps[:20])} (e.g. {lost[0][1]} is missing); restore the files, or choose "
                             f"other episodes with data.{key}_episodes")
        for cam, missing in dataset.missing_videos().items():
            have = dataset.episodes_with_video(cam)
            eps = [ep for ep, _ in missing]
            shown = ", ".join(map(str, eps[:5])) + (f", ... ({len(eps)} in all)" if len(eps) > 5 else "")
            fix = (f"choose episodes that have it, e.g. data.{key}_episodes={have[:8]}" if have
                   else "no episode has it")
            raise ActotError(f"{where}: data.{key}={root}: camera {cam} has no video for episode(s) {shown} "
                             f"(e.g. {missing[0][1]} is missing); {fix}, or train on state and action only with "
                             f"data.cameras=[]")
        if key == "source" and held_out_source(cfg, spec) >= len(dataset.episode_indices):
            n = len(dataset.episode_indices)
            raise ActotError(f"{where}: data.n_eval_source={held_out_source(cfg, spec)} holds out {held_out_source(cfg, spec)} "
                             f"of the source's {n} episodes, which leaves none to train on; set "
                             f"data.n_eval_source={max(0, n - 1)} or lower")
        if key == "target":
            held_out = held_out_target(cfg, spec, len(dataset.episode_indices))
            if len(dataset.episode_indices) <= held_out:
                setting = ("data.n_eval_target" if d.n_eval_target is not None
                           else "data.n_eval_target (unset: the default)")
                raise ActotError(f"{where}: {setting}={held_out} holds out {held_out} of the target's "
                                 f"{len(dataset.episode_indices)} episodes, which leaves none to train on; "
                                 f"set data.n_eval_target={max(0, len(dataset.episode_indices) - 1)} or lower, or "
                                 f"select more target episodes (data.target_episodes)")
    source, target = datasets["source"], datasets["target"]
    if (source.state_dim, source.action_dim) != (target.state_dim, target.action_dim):
        raise ActotError(f"{where}: data.source={d.source} has state/action sizes ({source.state_dim}, "
                         f"{source.action_dim}) but data.target={d.target} has ({target.state_dim}, {target.action_dim}): "
                         "co-training needs one robot's state and action spaces; choose a source and a target of the "
                         "same robot")
    if len(source.cameras) != len(target.cameras):
        raise ActotError(f"{where}: data.source={d.source} has {len(source.cameras)} camera(s) {source.cameras} but "
                         f"data.target={d.target} has {len(target.cameras)} {target.cameras}: the policy reads the same "
                         "number from both; name as many of each with data.cameras (a camera's key must be in both), "
                         "or data.cameras=[] for state and action only")
    summary = list(d.pair_summary) if d.pair_summary_weight else []
    for key, dataset in (("source", source), ("target", target)):
        lacking = [name for name in summary if name not in dataset.features]
        if lacking:
            raise ActotError(f"{where}: data.pair_summary={summary}: {lacking[0]!r} is not a feature of data.{key}="
                             f"{dataset.root}; choose from {[k for k in summary if k in dataset.features]} (or [] for "
                             "[state, action] alone)")
    lengths = list(source.episode_lengths().values())
    trained = lengths[:len(lengths) - held_out_source(cfg, spec)]
    if trained and None not in trained:
        check_window_length(cfg.ot.window_size, max(trained), where)
    derived = derive_data_defaults(cfg)[0]
    resolve_policy(derived, len(target.cameras), tuple(derived.data.resolution), where)


def unique_run_name(out_dir: Path, seed: int) -> str:
    """A name no run in `out_dir` has yet: run-<date>-<time>-seed<seed>, with -2, -3, ... if taken."""
    base = f"run-{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}"
    name, n = base, 1
    while (out_dir / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def check_run_dir(cfg: TrainConfig) -> TrainConfig:
    """The run's folder must be new, or its run continued: an earlier run is never overwritten. An
    unnamed run gets a unique name (returned in the config)."""
    out_dir = Path(cfg.out_dir)
    if cfg.name is None:
        if cfg.resume:
            raise ActotError("resume=true needs the name= of the run to continue (its folder in out_dir="
                             f"{cfg.out_dir})")
        return dataclasses.replace(cfg, name=unique_run_name(out_dir, cfg.seed))
    run_dir = out_dir / cfg.name
    if not cfg.resume and run_dir.exists() and any(run_dir.iterdir()):
        raise ActotError(f"name={cfg.name}: {run_dir} already holds a run; add resume=true to continue it, or pick "
                         "another name= (an unnamed run gets a new folder)")
    return cfg


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ActotError(f"device={name} but CUDA is not available here; use device=cpu or device=auto")
    return torch.device(name)


def make_optimizer(model: ACT, cfg: TrainConfig) -> torch.optim.Optimizer:
    backbone = [p for n, p in model.named_parameters() if n.startswith("backbone.") and p.requires_grad]
    rest = [p for n, p in model.named_parameters() if not n.startswith("backbone.") and p.requires_grad]
    groups = [{"params": rest, "lr": cfg.policy.lr}]
    if backbone:
        groups.append({"params": backbone, "lr": cfg.policy.lr_backbone})
    return torch.optim.AdamW(groups, lr=cfg.policy.lr, weight_decay=cfg.policy.weight_decay)


def build_model(cfg: TrainConfig, data: CoTrainData, device) -> tuple[TrainConfig, ACT, torch.optim.Optimizer]:
    """(cfg with the policy's pooling resolved for the data, the ACT model on `device`, its optimiser)."""
    cfg = resolve_policy(cfg, len(data.cameras), data.source.frame_size)
    model = ACT(cfg.policy, data.state_dim, data.action_dim, len(data.cameras), cfg.ot.embedding).to(device)
    return cfg, model, make_optimizer(model, cfg)


def make_sampler(cfg: TrainConfig, data: CoTrainData, true_pairs: dict | None = None) -> CoTrainSampler:
    return CoTrainSampler(data, cfg.policy.chunk_size, cfg.batch_size, cfg.ot.batch_size, cfg.ot.window_size,
                          seed=cfg.seed, true_pairs=true_pairs, bc_src_weight=cfg.bc_src_weight,
                          ot_in_bc=cfg.ot_rows == "bc")


def gradient_step(model: ACT, optimizer: torch.optim.Optimizer, batch: dict, cfg: TrainConfig, use_amp: bool,
                  shared: list | None = None, lap=no_lap) -> tuple[torch.Tensor, dict, torch.Tensor | None]:
    """One step's loss, its gradients (clipped) and the values a log window averages: (loss, values, OT's share of
    the gradient on `shared` when given, else None). The optimiser's own step is the caller's."""
    bc_loss, parts, l_ot, ot_metrics = step_losses(model, batch, cfg, use_amp, lap)
    ot_term = cfg.ot.lambda_ot * l_ot
    loss = bc_loss + ot_term
    optimizer.zero_grad(set_to_none=True)
    grad_ratio = None
    if shared is not None:
        grad_ratio = backward_measuring_ot_share(bc_loss, ot_term, shared)
    else:
        loss.backward()
    lap("backward")
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.policy.grad_clip_norm)
    values = {"train/loss": loss, "train/l1_loss": parts["l1_loss"], "train/kld_loss": parts["kld_loss"],
              "train/grad_norm": grad_norm, **ot_metrics}
    return loss, values, grad_ratio


def initial_embed_norm(model: ACT, sampler, cfg: TrainConfig, device) -> float:
    """`ot_embed_norm` of the untrained model on the first OT batch; the sampler's draws are put back,
    so training sees the same batches as without this measurement."""
    state = sampler.state_dict()
    batch = to_tensors(sampler.next(), device)
    sampler.load_state_dict(state)
    rows = {k: v[:2 * cfg.ot.batch_size] for k, v in batch.items() if k != "true_pair"}
    with torch.no_grad():
        return float(model.ot_embeddings(rows).float().norm(dim=-1).mean())


def step_losses(model: ACT, batch: dict, cfg: TrainConfig, use_amp: bool = False, lap=no_lap):
    """(L_bc, its parts, L_ot, OT metrics) for one batch [OT source | OT target | BC rows].

    BC sees the BC rows only (all rows with `bc_on_ot_rows`); the OT pairs go through the image
    encoder alone. With `ot_rows=bc` the OT pairs are BC rows (the sampler drew them so): every row goes
    through ACT once and the OT embeddings are those of that pass. With lambda_ot = 0 the plan is still
    solved, for its metrics, without a graph.
    """
    n_ot = cfg.ot.batch_size
    rows = {k: v for k, v in batch.items() if k != "true_pair"}
    ot_rows = {k: v[:2 * n_ot] for k, v in rows.items()}
    ot_in_bc = cfg.bc_on_ot_rows or cfg.ot_rows == "bc"
    bc_rows = rows if ot_in_bc else {k: v[2 * n_ot:] for k, v in rows.items()}
    device_type = batch["state"].device.type
    with torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=use_amp):
        actions, vae_stats, bc_embeddings = model(bc_rows)
        bc_loss, parts = act_loss(cfg.policy, actions.float(), vae_stats, bc_rows)
        lap("forward")
        if ot_in_bc:
            embeddings = bc_embeddings[:2 * n_ot]
        else:
            with torch.set_grad_enabled(cfg.ot.lambda_ot > 0 and torch.is_grad_enabled()):
                embeddings = model.ot_embeddings(ot_rows)
    embeddings = embeddings.float()
    label = make_label(cfg.ot.label, ot_rows["state"], ot_rows["action"], cfg.ot.label_dims)
    l_ot, ot_metrics = ot_loss(cfg.ot, embeddings[:n_ot], embeddings[n_ot:], label[:n_ot], label[n_ot:],
                               ot_rows["state"][:n_ot], ot_rows["state"][n_ot:], batch.get("true_pair"))
    lap("ot")
    return bc_loss, parts, l_ot, ot_metrics


def backward_measuring_ot_share(bc_loss: torch.Tensor, ot_term: torch.Tensor, shared: list) -> torch.Tensor:
    """Backpropagate bc_loss + ot_term; return ||grad ot_term|| / ||grad bc_loss|| on `shared`.

    Two backward passes into the same .grad buffers (the sum is the usual gradient); the BC part
    is copied in between. Costs one copy of the shared gradients, so it runs at log steps only.
    """
    bc_loss.backward(retain_graph=ot_term.requires_grad)
    bc_grads = [None if p.grad is None else p.grad.detach().clone() for p in shared]
    if ot_term.requires_grad:
        ot_term.backward()
    zero = bc_loss.new_zeros(())
    bc_sq = sum((g.float().pow(2).sum() for g in bc_grads if g is not None), zero)
    ot_sq = sum(((p.grad - g if g is not None else p.grad).float().pow(2).sum()
                 for p, g in zip(shared, bc_grads) if p.grad is not None), zero)
    return ot_sq.sqrt() / bc_sq.sqrt().clamp_min(1e-12)


def save_checkpoint(path: Path, model, optimizer, sampler, step: int, history: list[dict], run_id: str | None,
                    ema: WeightEMA | None = None) -> Path:
    """Everything a resumed run needs: the trained weights ("model"), their EMA ("ema": the weights
    evaluation used, and its number of updates), optimiser, RNGs, sampler, history."""
    path.mkdir(parents=True, exist_ok=True)
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
             "torch_rng": torch.get_rng_state(), "sampler": sampler.state_dict(), "history": history,
             "run_id": run_id or ""}
    if ema is not None:
        state["ema"] = ema.state_dict()
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    tmp = path / (CHECKPOINT_FILE + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path / CHECKPOINT_FILE)
    return path


def load_checkpoint(path: Path) -> dict:
    file = Path(path) / CHECKPOINT_FILE
    if not file.is_file():
        raise ActotError(f"no checkpoint at {file}; start without resume=true or point to a run folder that has one")
    return torch.load(file, map_location="cpu", weights_only=True)


def train(cfg: TrainConfig, report: Report | None = None, resume_from: Path | None = None,
          progress: bool | None = None, run_dir: Path | None = None, laps: Laps | None = None) -> TrainResult:
    """Run `cfg` to `cfg.steps` (or to a non-finite loss); see the module docstring. `laps` (profiling only:
    bench/trial_profile.py) adds up the wall time of each part of the loop (actot/profiling.py)."""
    lap = no_lap if laps is None else laps.lap
    if laps is not None:
        laps.start()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    if device.type == "cuda":
        if cfg.gpu_memory_fraction:  # trials sharing a GPU: one that grows cannot take the others' memory
            torch.cuda.set_per_process_memory_fraction(cfg.gpu_memory_fraction, device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    data, true_pairs, spec = load_data(cfg)
    check_window_size(cfg.ot.window_size, data)
    cfg, model, optimizer = build_model(cfg, data, device)  # the run's config.json records the resolved pooling
    base_lrs = [group["lr"] for group in optimizer.param_groups]  # the schedule scales these
    warmup = resolved_warmup(cfg.lr_schedule, cfg.warmup_steps, cfg.steps)
    ema = WeightEMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    eval_model = ema.model if ema is not None else model
    sampler = make_sampler(cfg, data, true_pairs)
    name = cfg.name or unique_run_name(Path(cfg.out_dir), cfg.seed)
    run_dir = Path(run_dir or Path(cfg.out_dir) / name)
    start_step, history, run_id = 0, [], None
    if resume_from is None and cfg.resume and (run_dir / "checkpoint" / CHECKPOINT_FILE).is_file():
        resume_from = run_dir / "checkpoint"
    if resume_from is not None:
        state = load_checkpoint(resume_from)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None:
            if "ema" not in state:
                raise ActotError(f"ema_decay={cfg.ema_decay}, but the checkpoint in {resume_from} has no EMA weights "
                                 "(it was trained with ema_decay=0); resume it with ema_decay=0")
            ema.load_state_dict(state["ema"])
        sampler.load_state_dict(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        start_step, history, run_id = int(state["step"]), list(state["history"]), state["run_id"] or None
    lap("setup")
    log = RunLog(run_dir, name, to_dict(cfg), cfg.wandb, rows=history, run_id=run_id)
    run_id = log.wandb_run.id if log.wandb_run is not None else None
    (run_dir / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))
    lap("log_start")

    use_amp = cfg.amp and device.type == "cuda"
    check_every_step = device.type == "cpu"  # a free check on CPU; on GPU only at log steps
    sums: dict[str, torch.Tensor] = {}
    count = 0
    metrics: dict = {}
    status, reason = "finished", ""
    show = sys.stderr.isatty() if progress is None else progress
    lines = progress is None and not show  # output to a file (nohup, Slurm): a line per log step instead of a bar
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=start_step, desc=name, unit="step", dynamic_ncols=True)
    lap("setup")
    if start_step == 0:  # the untrained baseline: the 'first' value the seed log compares with
        baseline = eval_l1(eval_model, data, cfg.policy.chunk_size, device, cfg.eval_frames)
        baseline["ot_embed_norm"] = initial_embed_norm(model, sampler, cfg, device)
        log.log(0, baseline)
        if report is not None:
            report(dict(baseline, step=0), None, log.rows)
    model.train()
    lap("baseline")
    step = start_step
    step_time = loop_start = time.perf_counter()
    shared = model.ot_parameters()
    for step in range(start_step + 1, cfg.steps + 1):
        batch = to_tensors(sampler.next(), device)
        lap("sample")
        closes_window = step % cfg.log_every == 0 or step == cfg.steps
        loss, values, ratio = gradient_step(model, optimizer, batch, cfg, use_amp, shared if closes_window else None,
                                            lap)
        if closes_window:
            grad_ratio = ratio
        if check_every_step and not torch.isfinite(loss):
            status, reason = "non_finite", f"train/loss became {loss.item()} at step {step}"
            metrics = {k: v.item() for k, v in values.items()}
            break
        factor = lr_factor(step, cfg.steps, cfg.lr_schedule, warmup, cfg.lr_min_ratio)
        for group, base in zip(optimizer.param_groups, base_lrs):
            group["lr"] = base * factor
        optimizer.step()
        if ema is not None:
            ema.update(model)
        lap("optimiser")
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v.detach().float()
        count += 1
        if bar is not None:
            bar.update(1)
        lap("metrics")
        if not closes_window:
            continue
        window = torch.stack([*(v / count for v in sums.values()), grad_ratio.float()]).tolist()  # one read per log
        metrics = dict(zip([*sums, "ot_grad_ratio"], window))
        sums, count = {}, 0
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if bad:
            status, reason = "non_finite", f"{bad[0]} became {metrics[bad[0]]} by step {step}"
            break
        initial_norm = log.rows[0].get("ot_embed_norm") if log.rows else None
        if initial_norm:  # scale-free: the embeddings' size against the untrained model's
            metrics["ot_embed_shrink"] = metrics["ot_embed_norm"] / initial_norm
        metrics["train/lr"] = optimizer.param_groups[0]["lr"]
        lap("metrics")
        metrics.update(eval_l1(eval_model, data, cfg.policy.chunk_size, device, cfg.eval_frames))
        metrics["eval/avg_l1_window"] = windowed_l1(log.rows, metrics["eval/avg_l1"])
        lap("eval_l1")
        trend = history_trend([*log.rows, dict(metrics, step=step)])
        if trend is not None:
            metrics[TREND_KEY] = trend
        rollout_now = step == cfg.steps or (cfg.rollout_every and step % cfg.rollout_every == 0)
        if rollout_now and spec is not None and cfg.rollout_episodes:
            for domain in ("target", "source"):
                metrics.update(rollout_metrics(eval_model, data, device, spec, cfg.rollout_episodes, cfg.rollout_seed,
                                               domain))
        lap("rollouts")
        now = time.perf_counter()
        metrics["time/step_s"] = (now - step_time) / cfg.log_every
        step_time = now
        log.log(step, metrics)
        lap("logging")
        checkpoint = None
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            checkpoint = save_checkpoint(run_dir / "checkpoint", model, optimizer, sampler, step, log.rows, run_id, ema)
        lap("checkpoint")
        if bar is not None:
            bar.set_postfix({"l1": f"{metrics['train/l1_loss']:.3f}", "eval": f"{metrics['eval/avg_l1']:.3f}",
                             "pi_sum": f"{metrics['ot_pi_sum']:.2f}"})
        elif lines:
            print(progress_line(name, step, start_step, cfg.steps, now - loop_start, metrics), flush=True)
        lap("logging")
        if report is not None:
            stop_reason = report(dict(metrics, step=step), checkpoint, log.rows)
            lap("report")
            if stop_reason:
                status, reason = "stopped", stop_reason
                break
    if bar is not None:
        bar.close()
    if status == "non_finite":
        metrics = dict(metrics, non_finite=1.0)
        log.log(step, metrics)
        if report is not None:
            report(dict(metrics, step=step), None, log.rows)
    log.summary({"status": status, "stop_reason": reason, **{f"last/{k}": v for k, v in metrics.items()},
                 **best_values(log.rows)})
    log.finish(exit_code=0 if status == "finished" else 1)
    lap("finish")
    return TrainResult(status, step, metrics, reason, run_dir, log.rows)


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def progress_line(name: str, step: int, start_step: int, steps: int, elapsed_s: float, metrics: dict) -> str:
    """One log step for a log file: where the run is, its s/step (evaluations included) and when it ends."""
    per_step = elapsed_s / max(1, step - start_step)
    shown = " ".join(f"{k}={metrics[k]:.4g}" for k in ("train/l1_loss", "eval/avg_l1", "ot_pi_sum", "eval/success")
                     if isinstance(metrics.get(k), float))
    return (f"[train] {name} step {step}/{steps} ({100 * step / steps:.0f}%), {per_step:.3f} s/step, "
            f"ETA {duration(per_step * (steps - step))}: {shown}")


def best_values(rows: list[dict]) -> dict:
    """best/<metric> and best/<metric>_step for the metrics that have a better direction."""
    out = {}
    keys = sorted({k for r in rows for k in r if direction(k) is not None})
    for key in keys:
        points = [(r[key], r["step"]) for r in rows if isinstance(r.get(key), float) and math.isfinite(r[key])]
        if points:
            value, step = (min if direction(key) == "min" else max)(points, key=lambda p: p[0])
            out[f"best/{key}"], out[f"best/{key}_step"] = value, step
    return out


def _main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        from actot.config import dotted_keys

        print(__doc__)
        print("keys (key=value):")
        for key, value in dotted_keys(TrainConfig()).items():
            print(f"  {key}={value}{DERIVED.get(key, '')}")
        return 0
    dry = [a for a in args if a.split("=", 1)[0] == "dry_run"]
    costs = [a for a in args if a.split("=", 1)[0] == "cost"]
    args = [a for a in args if a not in dry and a not in costs]
    dry_run = bool(dry) and parse_dry_run(dry[-1])
    cost = not costs or parse_dry_run(costs[-1])
    given = {w.split("=", 1)[0]: parse_value(w.split("=", 1)[1]) for w in args if "=" in w}
    preset_said = None
    if "policy" not in given and given.get("data.source") is not None and given.get("data.target") is not None:
        preset_said = derive_preset({k: v for k, v in given.items() if k.startswith("data.")})[1]
        if preset_said:
            args = [f"policy={REAL_DATA_PRESET}", *args]  # first: the user's policy.* keys apply on top of it
    cfg = check_run_dir(parse_cli(args))
    preflight_data(cfg, "command line")
    cfg, said = derive_data_defaults(cfg)
    for line in ([preset_said] if preset_said else []) + said:
        print(f"[train] {line}", flush=True)
    if dry_run:
        from actot.cost import measure, run_line

        print("resolved config:\n" + json.dumps(to_dict(cfg), indent=2))
        if cost:
            print(f"[train] {run_line(measure(cfg), cfg)}", flush=True)
        print(f"dry run: the config and the data are valid; the run would write {Path(cfg.out_dir) / cfg.name}; "
              "nothing was started" + (" (a few steps were timed for the cost line)" if cost else ""), flush=True)
        return 0
    print(f"run folder: {Path(cfg.out_dir) / cfg.name}", flush=True)
    result = train(cfg)
    summary = ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items() if isinstance(v, float))
    plot = plot_history(result.history, result.run_dir / "curves.png", result.run_dir.name)
    print(f"{result.status} at step {result.step}{': ' + result.reason if result.reason else ''}\n{summary}\n"
          f"history: {result.run_dir / 'history.parquet'}; plot: {plot}")
    return 0 if result.status == "finished" else 3


def parse_dry_run(word: str) -> bool:
    """dry_run=true|false, cost=true|false: the words of a command, not training keys."""
    key, text = word.split("=", 1)
    value = parse_value(text)
    if not isinstance(value, bool):
        raise ActotError(f"command line: {word} must be {key}=true or {key}=false")
    return value


def main(argv=None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
