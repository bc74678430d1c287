"""Take a sweep's winner home: a trial exported as a self-contained policy folder, and its loader.

    python -m actot export SWEEP_DIR [trial=ID] [out=DIR] [weights=ema|raw] [format=actot|lerobot] [overwrite=true] ...

    from actot.export import load_policy
    policy = load_policy("sweeps_out/NAME/export/ID/pretrained_model")
    policy.reset()                                  # at the start of every episode
    action = policy.select_action(observation)      # LeRobot keys in, un-normalised action out

The folder follows the naming of LeRobot's `pretrained_model/` where it fits (docs/export.md):

    config.json                 the ACT config and what the loader needs (LeRobot's `input_features` /
                                `output_features`: state and action sizes, camera keys and resolution), how
                                inputs are normalised, which weights these are, the OT settings (`ot`)
    model.safetensors           the network's weights (by default the EMA weights that evaluation ran on)
    normalization.safetensors   state and action mean/std as training used them, keyed as LeRobot's
                                normaliser keys them (`observation.state.mean`, `action.std`, ...)
    train_config.json           the trial's whole training config
    README.md                   how it was chosen: sweep, metric, rank, interval, seed, knobs, the command

format=lerobot writes LeRobot's own ACT folder instead (config.json of type "act", the weights under LeRobot's
names, policy_preprocessor/postprocessor files with the stats; ours as actot_export.json and
actot_train_config.json): `ACTPolicy.from_pretrained` loads it, and so does `load_policy`. A policy LeRobot's ACT
cannot be (no camera, keypoint pooling, a backbone narrower than resnet18) is refused in one line; the mapping
and what differs: actot/policy/lerobot_format.py and docs/export.md.

The loader half of this module (`load_policy`, `ExportedPolicy`) imports only torch, safetensors, numpy,
the policy code and the frame resize that training and evaluation use (`actot.data.video`): a robot
computer needs neither Ray, nor the sweep, nor the datasets. The exporter half imports the report
layer and the datasets' metadata inside its functions.

Closed loop, the loaded policy is `actot.policy.Policy`, the object `actot.evaluate.rollout_metrics` acts
through (actot/policy/closed_loop.py): state normalised as (x - mean) / max(std, std_floor), camera frames
quantised to uint8 and area-resized to the trained resolution, one chunk per `n_action_steps` actions (or
one per step through temporal ensembling), actions un-normalised with the action stats. tests/test_export.py
checks the exported folder gives evaluation's actions bit for bit on the CPU (GPUs were not checked).
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from actot.errors import ActotError
from actot.policy.act import ACT
from actot.policy.closed_loop import ACTION_KEY, STATE_KEY, Policy
from actot.policy.config import ACTConfig

FORMAT = "actot_act"  # config.json's `type`: not LeRobot's "act" (see docs/export.md)
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
STATS_FILE = "normalization.safetensors"
TRAIN_CONFIG_FILE = "train_config.json"
README_FILE = "README.md"
EXPORT_DIR = "export"  # in a sweep folder: export/<trial>/pretrained_model/
FOLDER_NAME = "pretrained_model"
FORMATS = ("actot", "lerobot")  # format=: this layout, or LeRobot's own (actot/policy/lerobot_format.py)
# In a format=lerobot folder, config.json and train_config.json are LeRobot's names for LeRobot's files: ours
# go under these names (actot_export.json is what config.json is in an actot-format folder).
ACTOT_EXPORT_FILE = "actot_export.json"
ACTOT_TRAIN_CONFIG_FILE = "actot_train_config.json"


# ============================================================================================ loading
class ExportedPolicy(Policy):
    """An exported ACT policy: the closed-loop `actot.policy.Policy` that evaluation's rollouts act through,
    built from the folder, with its `config` (config.json) kept.

    `select_action(obs)` takes `observation.state`, a tensor (state_dim,) or (B, state_dim), and each
    camera as `observation.images.<cam>`, a float tensor (3, H, W) or (B, 3, H, W) in [0, 1] (LeRobot's
    convention; uint8 in [0, 255] is taken too) at any H, W. It returns the un-normalised action as a
    float32 CPU tensor: (action_dim,) for an unbatched state, (B, action_dim) for a batch. Call `reset()`
    at the start of each episode: it clears the queued chunk or the temporal ensemble.
    """

    def __init__(self, model: ACT, config: dict, stats: dict[str, torch.Tensor], device: torch.device):
        from actot.data.video import resize_frames  # the resize that made the training frames

        features = config["input_features"]
        cameras = [k for k, f in features.items() if f["type"] == "VISUAL"]
        resolution = tuple(int(v) for v in features[cameras[0]]["shape"][1:]) if cameras else None
        # The target robot's names for the same cameras, by position, when they differ from the source's.
        aliases = dict(zip(cameras, config.get("target_camera_keys") or cameras))
        super().__init__(
            model.eval(),
            stats,
            config["normalization"]["std_floor"],
            cameras,
            resolution,
            resize=resize_frames,
            camera_aliases=aliases,
            device=device,
        )
        self.config = config


def read_config(folder: Path) -> dict:
    """An export's config (config.json, or actot_export.json in a format=lerobot folder), with one-line errors
    for a folder that is not one."""
    path = Path(folder) / CONFIG_FILE
    if (Path(folder) / ACTOT_EXPORT_FILE).is_file():
        path = Path(folder) / ACTOT_EXPORT_FILE
    elif not path.is_file():
        raise ActotError(
            f"{folder}: no {CONFIG_FILE}, so this is not an exported policy; export one with "
            "python -m actot export SWEEP_DIR"
        )
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ActotError(f"{path}: cannot be read ({str(err).splitlines()[0]}); export the policy again") from err
    if config.get("type") != FORMAT:
        raise ActotError(
            f"{path}: type {config.get('type')!r} is not {FORMAT!r}; this loader reads folders written by "
            "python -m actot export (LeRobot's own ACT folders load with LeRobot)"
        )
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise ActotError(
            f"{path}: format_version {config['format_version']} is newer than this actot reads "
            f"({FORMAT_VERSION}); update actot"
        )
    return config


def policy_config(policy: dict) -> ACTConfig:
    """The ACTConfig of an export's `policy` section (keys this actot does not know are left out)."""
    known = {f.name for f in fields(ACTConfig)}
    return ACTConfig(**{k: v for k, v in policy.items() if k in known})


def load_policy(folder, device: str | torch.device = "cpu") -> ExportedPolicy:
    """The exported policy in `folder` (a `pretrained_model/` written by `python -m actot export`, either
    format), on `device`."""
    from safetensors.torch import load_file

    from actot.policy import lerobot_format

    folder = Path(folder).expanduser()
    config = read_config(folder)
    cfg = policy_config(config["policy"])
    features = config["input_features"]
    n_cameras = sum(f["type"] == "VISUAL" for f in features.values())
    with torch.random.fork_rng(devices=[]):  # building the network draws its initial weights: not the caller's RNG
        model = ACT(
            cfg, int(features[STATE_KEY]["shape"][0]), int(config["output_features"][ACTION_KEY]["shape"][0]), n_cameras
        )
    lerobot = config.get("layout") == "lerobot"  # LeRobot's names and files (format=lerobot)
    try:
        tensors = load_file(folder / WEIGHTS_FILE)
        model.load_state_dict(lerobot_format.from_lerobot_state_dict(tensors) if lerobot else tensors, strict=True)
    except (OSError, RuntimeError, KeyError) as err:
        raise ActotError(
            f"{folder / WEIGHTS_FILE}: does not fit the network config.json describes "
            f"({str(err).splitlines()[0][:160]}); export the policy again"
        ) from err
    # format=lerobot: the preprocessor's stats, std floored already (flooring again changes nothing).
    stats = load_file(folder / (lerobot_format.PREPROCESSOR_STATS if lerobot else STATS_FILE))
    return ExportedPolicy(model.to(device), config, stats, torch.device(device))


# ============================================================================================ exporting
# Everything below reads the sweep folder and the datasets' metadata; its imports stay inside functions
# so that the loader above never pulls them in.
WEIGHTS = ("ema", "raw")


def representative(values: dict[str, float], better: str) -> str:
    """Of one config's seeds (trial id -> value), the one to export: the seed whose value is closest to
    the config's mean (what the ranking ranked), so the exported weights are typical of the config, not
    its luckiest seed; a tie goes to the better value, then to the first id."""
    mean = sum(values.values()) / len(values)
    sign = 1.0 if better == "min" else -1.0
    scale = abs(mean) or 1.0  # distances equal up to rounding (two seeds) are a tie
    return min(values, key=lambda t: (round(abs(values[t] - mean) / scale, 9), sign * values[t], t))


def _chosen(sweep, ranking, trial_id: str | None, unfinished: bool):
    """(trial, its config's group, the group's position in the ranking, the trial's value, how it was chosen)."""
    from actot.report.rank import trial_value

    position = {t.trial_id: (pos, group) for pos, group in enumerate(ranking.groups, start=1) for t in group.trials}
    if trial_id is None:
        leader = next((g for g in ranking.groups if g.status == "finished" and g.values), None)
        if leader is None:
            raise ActotError(
                f"{sweep.path}: no finished trial has a value of {ranking.metric}, so there is no leader to "
                "export; name one with trial=ID (a stopped one also needs unfinished=true)"
            )
        values = {t.trial_id: v for t, v in zip(leader.counted, leader.values)}
        trial = sweep.trial(representative(values, ranking.better))
        how = "the ranking's leader"
        if len(values) > 1:
            how += (
                f", a config run with {len(values)} seeds: the seed whose {ranking.metric} is closest to the "
                "config's mean (typical of the config, not its luckiest seed)"
            )
    else:
        known = [t.trial_id for t in sweep.trials]
        if trial_id not in known:
            shown = ", ".join(known[:8]) + (f", ... ({len(known)} in all)" if len(known) > 8 else "")
            raise ActotError(f"trial={trial_id}: no such trial in {sweep.path}; its trials are {shown or 'none'}")
        trial = sweep.trial(trial_id)
        how = f"named (trial={trial_id})"
    if trial.status != "finished" and not unfinished:
        reason = f" ({trial.stop_reason})" if trial.stop_reason else ""
        raise ActotError(
            f"trial={trial.trial_id} is {trial.status}{reason}, not finished: its weights are not those of a "
            "completed run; add unfinished=true to export it anyway, or export a finished trial"
        )
    # The baseline arm (co-training) and the confirm stage's trials are no config of the search's ranking.
    pos, group = position.get(trial.trial_id, (None, None))
    value = trial_value(trial, ranking.metric, ranking.scope, ranking.better, ranking.k)
    return trial, group, pos, value, how


def rebuild_train_config(train: dict, where: Path):
    """The trial's TrainConfig, rebuilt from its config.json (as `actot.config.to_dict` wrote it), with the data
    keys it left null derived as training derives them (actot.train's derive_data_defaults)."""
    from actot.config import TrainConfig, apply_overrides, dotted_keys
    from actot.run_data import derive_data_defaults

    def dotted(node: dict, prefix: str = "") -> dict:
        out = {}
        for key, value in node.items():
            if isinstance(value, dict):
                out.update(dotted(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value
        return out

    flat = dotted(train)
    unknown = sorted(set(flat) - set(dotted_keys(TrainConfig())))
    if unknown:  # another version of actot trained it: its network or data may mean something else here
        raise ActotError(
            f"{where}: key(s) {', '.join(unknown[:4])} unknown to this actot (the trial was trained by "
            "another version); export it with the version that trained it"
        )
    return derive_data_defaults(apply_overrides(TrainConfig(), flat, str(where)))[0]


def _dataset_meta(cfg) -> dict:
    """What the exported policy needs from the trial's datasets, read as training reads them (actot.train's
    load_data): the camera names and frame size, and state/action stats pooled over both domains."""
    from actot.data.lerobot import LeRobotDataset
    from actot.data.sampler import Normaliser
    from actot.sim.generate import ensure_sim

    d = cfg.data
    if d.source is None:
        source_root, target_root = ensure_sim(d.sim)  # the embedded sim: cached, or generated again
    else:
        source_root, target_root = Path(d.source), Path(d.target)
    common = dict(resolution=tuple(d.resolution), cache_dir=d.cache_dir)
    meta, stats, origin = {}, {}, {}
    for key, root, episodes in (("source", source_root, d.source_episodes), ("target", target_root, d.target_episodes)):
        try:
            meta[key] = LeRobotDataset(root, episodes=episodes, cameras=d.cameras, load=False, **common)
            # Stats need state and action only: no camera is decoded.
            with_stats = LeRobotDataset(root, episodes=episodes, cameras=[], **common)
        except ActotError as err:
            raise ActotError(
                f"data.{key}={root}: {err}; the normalisation stats are read from the trial's datasets, "
                "so export on a machine that has them"
            ) from err
        stats[key] = with_stats.stats
        origin[key] = {"root": str(root), "episodes": episodes, "stats_from": with_stats.stats_source}
    normaliser = Normaliser.pooled(stats["source"], stats["target"])
    return {
        "cameras": list(meta["source"].cameras),
        "target_cameras": list(meta["target"].cameras),
        "frame_size": list(meta["target"].frame_size),
        "normaliser": normaliser,
        "origin": origin,
    }


def _weights(state: dict, weights: str | None, ckpt: Path) -> tuple[dict, str]:
    """(the state dict to export, which one): the EMA by default when the checkpoint has it."""
    if weights == "raw" or (weights is None and "ema" not in state):
        return state["model"], "raw"
    if "ema" not in state:
        raise ActotError(
            f"weights=ema, but {ckpt} holds no EMA weights (the trial ran with ema_decay=0); use "
            "weights=raw (its trained weights, which its evaluation used)"
        )
    return state["ema"]["model"], "ema"


def _check_out(out: Path, overwrite: bool) -> None:
    """Refuse an out folder that holds something, unless it is an export and overwrite=true."""
    if out.exists() and not out.is_dir():
        raise ActotError(f"out={out} is a file; pick a folder for the policy")
    if not (out.exists() and any(out.iterdir())):
        return
    try:
        ours = read_config(out) is not None
    except ActotError:
        ours = False
    if not ours:  # never delete a folder we did not write, overwrite or not
        raise ActotError(f"out={out} holds files that are not an exported policy; pick another out=")
    if not overwrite:
        raise ActotError(
            f"out={out} already holds an exported policy; add overwrite=true to replace it, or pick another out="
        )


def _replace_folder(tmp: Path, out: Path, overwrite: bool) -> None:
    import os
    import shutil

    _check_out(out, overwrite)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)


def export_trial(
    sweep_dir,
    trial: str | None = None,
    out=None,
    weights: str | None = None,
    metric: str | None = None,
    scope: str | None = None,
    overwrite: bool = False,
    unfinished: bool = False,
    command: str | None = None,
    format: str = "actot",
) -> dict:
    """Write one trial of `sweep_dir` as a policy folder (see the module docstring); return what was written.

    trial: a trial id, or None for the ranking's leader (finished trials only; see `representative`).
    out: the folder, by default SWEEP_DIR/export/<trial>/pretrained_model. weights: `ema` (the default when
    the checkpoint has them: the weights evaluation used), or `raw` (the optimiser's). metric, scope: the
    ranking, as `python -m actot rank` takes them (default: the sweep's metric, last value). format: `actot`
    (this module's layout) or `lerobot` (LeRobot's own `pretrained_model/`, which `ACTPolicy.from_pretrained`
    loads; a setting with no LeRobot equivalent is refused: actot/policy/lerobot_format.py).
    """
    import os
    import shutil

    from safetensors.torch import save_file

    from actot import sweepdir
    from actot.data.sampler import STD_FLOOR
    from actot.policy import lerobot_format
    from actot.report.load import load_sweep_dir
    from actot.config import to_dict
    from actot.report.rank import rank
    from actot.checkpoint import CHECKPOINT_FILE

    if weights is not None and weights not in WEIGHTS:
        raise ActotError(f"command line: weights={weights!r} must be ema or raw")
    if format not in FORMATS:
        raise ActotError(f"command line: format={format!r} must be actot or lerobot")
    sweep = load_sweep_dir(sweep_dir)
    ranking = rank(sweep, metric=metric, scope=scope)
    chosen, group, pos, value, how = _chosen(sweep, ranking, trial, unfinished)
    folder = sweepdir.trial_dir(sweep.path, chosen.trial_id)
    ckpt = folder / "checkpoint" / CHECKPOINT_FILE
    if not ckpt.is_file():
        raise ActotError(
            f"trial={chosen.trial_id} has no checkpoint ({ckpt} is missing): it ended before its first "
            "checkpoint, or its folder stayed on another node; export another trial"
        )
    try:
        train = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as err:
        raise ActotError(
            f"{folder / 'config.json'}: cannot be read ({str(err).splitlines()[0]}); without the trial's "
            "training config its policy cannot be rebuilt"
        ) from err
    cfg = rebuild_train_config(train, folder / "config.json")
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    tensors, kind = _weights(state, weights, ckpt)
    data = _dataset_meta(cfg)
    state_dim = int(tensors["encoder_state_input_proj.weight"].shape[1])
    action_dim = int(tensors["action_head.weight"].shape[0])
    norm = data["normaliser"]
    if (len(norm.state.mean), len(norm.action.mean)) != (state_dim, action_dim):
        raise ActotError(
            f"trial={chosen.trial_id}: its datasets now have state/action sizes ({len(norm.state.mean)}, "
            f"{len(norm.action.mean)}) but its network ({state_dim}, {action_dim}): the datasets changed "
            "since training; export where the trial's datasets are as they were"
        )
    if ("backbone.conv1.weight" in tensors) != bool(data["cameras"]):
        raise ActotError(
            f"trial={chosen.trial_id}: its network and its datasets disagree on cameras "
            f"({data['cameras'] or 'none'}); the datasets changed since training"
        )
    if format == "lerobot":
        _lerobot_refusal(cfg.policy, tensors, len(data["cameras"]))

    out_arg, out = out, Path(out) if out is not None else sweep.path / EXPORT_DIR / chosen.trial_id / FOLDER_NAME
    _check_out(out, overwrite)  # refused before any work
    trained = to_dict(cfg)
    policy = dict(
        trained["policy"], pretrained_backbone_weights=None
    )  # the backbone's weights are in model.safetensors
    height, width = data["frame_size"]
    config = {
        "type": FORMAT,
        "format_version": FORMAT_VERSION,
        "input_features": {
            STATE_KEY: {"type": "STATE", "shape": [state_dim]},
            **{cam: {"type": "VISUAL", "shape": [3, height, width]} for cam in data["cameras"]},
        },
        "output_features": {ACTION_KEY: {"type": "ACTION", "shape": [action_dim]}},
        "policy": policy,
        "normalization": {
            "file": STATS_FILE,
            "mode": "MEAN_STD",
            "std_floor": STD_FLOOR,
            "formula": "state: (x - mean) / max(std, std_floor); action: y * max(std, std_floor) + mean",
            "images": "uint8 / 255, then ImageNet mean and std, inside the network",
            "pooled_over": data["origin"],
            "count": {STATE_KEY: norm.state.count, ACTION_KEY: norm.action.count},
        },
        "weights": {
            "kind": kind,
            "step": int(state["step"]),
            "ema_decay": cfg.ema_decay,
            "ema_updates": int(state["ema"]["updates"]) if kind == "ema" else None,
        },
        "ot": trained["ot"],
        "trained_with": {
            "sweep": sweep.name,
            "trial": chosen.trial_id,
            "status": chosen.status,
            "seed": cfg.seed,
            "policy_preset": cfg.policy_preset,
            "pretrained_backbone_weights": cfg.policy.pretrained_backbone_weights,
        },
    }
    if data["target_cameras"] != data["cameras"]:
        config["target_camera_keys"] = data["target_cameras"]
    if format == "lerobot":
        config["layout"] = "lerobot"  # LeRobot's files; this config goes to actot_export.json
        config["normalization"]["file"] = lerobot_format.PREPROCESSOR_STATS
    stats = {
        f"{STATE_KEY}.mean": norm.state.mean,
        f"{STATE_KEY}.std": norm.state.std,
        f"{ACTION_KEY}.mean": norm.action.mean,
        f"{ACTION_KEY}.std": norm.action.std,
    }
    if command is None:
        given = {
            "trial": trial,
            "out": out_arg,
            "weights": weights,
            "format": format if format != "actot" else None,
            "metric": metric,
            "scope": scope,
            "overwrite": "true" if overwrite else None,
            "unfinished": "true" if unfinished else None,
        }
        command = " ".join(["python -m actot export", str(sweep_dir), *(f"{k}={v}" for k, v in given.items() if v)])
    readme = _readme(sweep, ranking, chosen, group, pos, value, how, config, cfg, command, out)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    stats = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in stats.items()}
    try:
        if format == "lerobot":
            _write_lerobot(tmp, config, tensors, stats, policy_config(policy))
            (tmp / ACTOT_EXPORT_FILE).write_text(json.dumps(config, indent=2))
            (tmp / ACTOT_TRAIN_CONFIG_FILE).write_text(json.dumps(train, indent=2))
        else:
            save_file({k: v.contiguous() for k, v in tensors.items()}, tmp / WEIGHTS_FILE, metadata={"format": "pt"})
            save_file(stats, tmp / STATS_FILE, metadata={"format": "pt"})
            (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2))
            (tmp / TRAIN_CONFIG_FILE).write_text(json.dumps(train, indent=2))
        (tmp / README_FILE).write_text(readme)
        load_policy(tmp)  # the folder loads (strictly) before it replaces anything
        _replace_folder(tmp, out, overwrite)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "out": out,
        "trial": chosen.trial_id,
        "weights": kind,
        "step": int(state["step"]),
        "rank": pos,
        "configs": len(ranking.groups),
        "metric": ranking.metric,
        "value": value,
        "how": how,
        "format": format,
    }


def _lerobot_refusal(policy: ACTConfig, tensors: dict, n_cameras: int) -> None:
    """Refuse format=lerobot, in one line naming the setting and the fix, for a network LeRobot's ACT cannot be.
    The pooling and the backbone's width are read off the weights themselves (a null image_pooling was derived)."""
    from dataclasses import replace

    from actot.policy import lerobot_format

    pooling = "keypoints" if "encoder_img_keypoint_proj.weight" in tensors else "map"
    width = (
        int(tensors["backbone.conv1.weight"].shape[0]) if "backbone.conv1.weight" in tensors else policy.backbone_width
    )
    why = lerobot_format.refusal(replace(policy, image_pooling=pooling, backbone_width=width), n_cameras)
    if why:
        raise ActotError(why)


def _write_lerobot(folder: Path, config: dict, tensors: dict, stats: dict, policy: ACTConfig) -> None:
    """LeRobot's files of a `pretrained_model/` (format=lerobot): config.json, model.safetensors in LeRobot's
    names, and the pre/post-processors with their stats (actot/policy/lerobot_format.py says what maps to what)."""
    from safetensors.torch import save_file

    from actot.policy import lerobot_format as lf

    inputs, outputs = config["input_features"], config["output_features"]
    cameras = [k for k, f in inputs.items() if f["type"] == "VISUAL"]
    (folder / lf.CONFIG_FILE).write_text(json.dumps(lf.lerobot_config(policy, inputs, outputs), indent=4))
    save_file(
        {k: v.contiguous() for k, v in lf.to_lerobot_state_dict(tensors, policy).items()},
        folder / lf.WEIGHTS_FILE,
        metadata={"format": "pt"},
    )
    norm_stats = lf.lerobot_stats(stats, config["normalization"]["std_floor"], cameras)
    # The target robot's names for the cameras, renamed to the policy's by LeRobot's first preprocessor step.
    rename = {t: s for s, t in zip(cameras, config.get("target_camera_keys") or cameras) if s != t}
    pre, post = lf.processor_configs(inputs, outputs, rename)
    for name, pipeline, stats_file in (
        (lf.PREPROCESSOR, pre, lf.PREPROCESSOR_STATS),
        (lf.POSTPROCESSOR, post, lf.POSTPROCESSOR_STATS),
    ):
        save_file(norm_stats, folder / stats_file)
        (folder / f"{name}.json").write_text(json.dumps(pipeline, indent=2))


def said(done: dict) -> str:
    """What `python -m actot export` prints of `export_trial`'s result."""
    value = f" (this trial: {done['value']:.4g})" if isinstance(done["value"], float) else ""
    weights = "the EMA of the weights" if done["weights"] == "ema" else "the trained weights (not their EMA)"
    place = f"#{done['rank']} of {done['configs']} configs" if done["rank"] is not None else "not a ranked config"
    return (
        f"export: {done['out']}\n"
        f"trial {done['trial']}: {place} by {done['metric']}{value}; "
        f"chosen as {done['how']}\n"
        f"weights: {weights}, step {done['step']}; load with actot.export.load_policy({str(done['out'])!r})"
        + (
            f"\nLeRobot's format: ACTPolicy.from_pretrained({str(done['out'])!r}) with make_pre_post_processors"
            f"(policy.config, pretrained_path={str(done['out'])!r}) (README.md)"
            if done.get("format") == "lerobot"
            else ""
        )
    )


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else "-" if value is None else str(value)


def interval_words(group) -> str:
    """The config's interval in words that match how many seeds it ran with."""
    from actot.report.stats import MIN_INTERVAL_N

    iv = group.interval
    if iv is None:
        return "none: no finite value"
    if iv.has_width:
        return f"mean {iv.mean:.4g}, 95% bootstrap interval [{iv.low:.4g}, {iv.high:.4g}] over {iv.n} seeds"
    if iv.n == 1:
        return "none: the config ran with one seed (a confirm stage gives intervals)"
    words = f"mean {iv.mean:.4g} over {iv.n} seeds, too few for a 95% bootstrap interval (it takes {MIN_INTERVAL_N})"
    if group.pooled is not None:
        words += (
            f"; with the SD pooled over the sweep's configs, a t-interval [{group.pooled.low:.4g}, "
            f"{group.pooled.high:.4g}]"
        )
    return words


def _outside_ranking(ranking, trial, value) -> tuple[str, str]:
    """(where the trial stands, its knobs' table rows) for a trial of no ranked config: the baseline arm's
    (co-training, which every config is compared with) or a confirm stage's."""
    from actot.report.baseline import is_baseline

    if is_baseline(trial) and ranking.baseline is not None:
        arm = ranking.baseline
        seeds = ", ".join(f"seed {s}={_fmt(v)}" for s, v in arm.values.items()) or "-"
        place = (
            f"this trial is the sweep's **co-training baseline** ({arm.describe()}), not a ranked config;\n  "
            f"this trial's value: **{_fmt(value)}**.\n- The arm's interval: {interval_words(arm)}. Value per "
            f"seed: {seeds}."
        )
        knobs = "\n".join(
            f"| `{k}` | {_fmt(v)} (the baseline arm's setting) |" for k, v in (arm.overrides or {}).items()
        )
        return place, knobs or "| (no searched knob) | |"
    origin = trial.confirm_of
    place = (
        f"this trial is outside the search's ranking{f' (a confirm-stage run of trial {origin})' if origin else ''}"
        f"; its value: **{_fmt(value)}**."
    )
    knobs = "\n".join(f"| `{k}` | {_fmt(v)} |" for k, v in trial.params.items()) or "| (no searched knob) | |"
    return place, knobs


def _readme(sweep, ranking, trial, group, pos, value, how, config, cfg, command, out: Path) -> str:
    """README.md: how the exported trial was chosen, what it was trained with, how to run it."""
    better = "lower" if ranking.better == "min" else "higher"
    if group is not None:
        seeds = ", ".join(f"{t.trial_id}={_fmt(v)}" for t, v in zip(group.counted, group.values)) or "-"
        versus = ""
        if group.vs_baseline is not None and group.vs_baseline.mean is not None:
            from actot.report.baseline import comparison_cell

            versus = (
                f"\n- Against co-training on the same seeds (+ = this config did better): "
                f"{comparison_cell(group.vs_baseline)} over {group.vs_baseline.n} seed(s)."
            )
        place = (
            f"its config is **#{pos} of {len(ranking.groups)}**\n  (status {group.status}); this trial's value: "
            f"**{_fmt(value)}**.\n- Interval: {interval_words(group)}. Value per seed: {seeds}.{versus}"
        )
        knobs = "\n".join(f"| `{k}` | {_fmt(v)} |" for k, v in group.config.items()) or "| (no searched knob) | |"
    else:
        place, knobs = _outside_ranking(ranking, trial, value)
    ot = "\n".join(f"| `ot.{k}` | {v} |" for k, v in config["ot"].items())
    weights, policy, features = config["weights"], config["policy"], config["input_features"]
    kind = (
        f"the exponential moving average of the weights (what the trial's evaluation ran on), ema_decay "
        f"{weights['ema_decay']}, {weights['ema_updates']} updates"
        if weights["kind"] == "ema"
        else "the trained weights (the optimiser's, no moving average)"
    )
    cams = [k for k, f in features.items() if f["type"] == "VISUAL"]
    if cams:
        cameras = (
            f"{', '.join(f'`{c}`' for c in cams)}: float (3, H, W) in [0, 1] at any size, resized to "
            f"{features[cams[0]]['shape'][1]}x{features[cams[0]]['shape'][2]} as in training"
        )
        if "target_camera_keys" in config:
            cameras += f" (the target robot's names for them are taken too: {config['target_camera_keys']})"
    else:
        cameras = "none (state only)"
    if policy["temporal_ensemble_coeff"] is not None:
        closed_loop = f"temporal ensembling (coeff {policy['temporal_ensemble_coeff']}): one chunk per step"
    else:
        closed_loop = f"{policy['n_action_steps']} actions executed per chunk"
    stop = f" ({trial.stop_reason})" if trial.stop_reason else ""
    return f"""# Policy `{trial.trial_id}` from sweep `{sweep.name}`

An ACT policy co-trained with an OT alignment loss (actot), exported by

    {command}

## How it was chosen

- Sweep `{sweep.name}` ({sweep.path}): {len(sweep.trials)} trials in {len(ranking.groups)} configs.
- Ranked by {ranking.scope} `{ranking.metric}` ({better} is better): {place}
- Chosen as {how}.
- Trial `{trial.trial_id}`: status {trial.status}{stop}; training seed {cfg.seed}, {cfg.steps} steps.
- Weights from step {weights["step"]}: {kind}.

## Its knobs

| searched knob | value |
|---|---|
{knobs}

The OT settings it was trained with (`ot` in config.json):

| key | value |
|---|---|
{ot}

## Running it

- `observation.state`: {features[STATE_KEY]["shape"][0]} values, un-normalised (as the robot gives them).
- Cameras: {cameras}.
- `action`: {config["output_features"][ACTION_KEY]["shape"][0]} values, un-normalised; chunks of {policy["chunk_size"]},
  {closed_loop}.

```python
from actot.export import load_policy

policy = load_policy("{out}")
policy.reset()                              # at the start of every episode
action = policy.select_action(observation)  # LeRobot keys; a float32 tensor (action_dim,)
```
{_files_words(config, out)}"""


def _files_words(config: dict, out: Path) -> str:
    """The README's last part: the folder's files, and for format=lerobot how LeRobot runs it."""
    if config.get("layout") != "lerobot":
        return """
Files: `config.json` (network, inputs, normalisation, weights, `ot`), `model.safetensors` (the weights),
`normalization.safetensors` (state and action mean/std), `train_config.json` (the whole training config).
What LeRobot's own tools can and cannot read of this folder: actot's docs/export.md (`format=lerobot`
writes a folder LeRobot loads).
"""
    from actot.policy import lerobot_format as lf

    features = config["input_features"]
    cams = [k for k, f in features.items() if f["type"] == "VISUAL"]
    height, width = features[cams[0]]["shape"][1:]
    renamed = ""
    if "target_camera_keys" in config:
        renamed = (
            f" The preprocessor's first step renames the target robot's camera names "
            f"({config['target_camera_keys']}) to the policy's."
        )
    return f"""
## With LeRobot (this folder is in LeRobot's format: `format=lerobot`)

LeRobot (0.4 or later: its processor files) loads it as its own ACT, with the same actions as above:

```python
from lerobot.policies.act.modeling_act import ACTPolicy
from lerobot.policies.factory import make_pre_post_processors

policy = ACTPolicy.from_pretrained("{out}")
preprocess, postprocess = make_pre_post_processors(policy.config, pretrained_path="{out}")
policy.reset()
action = postprocess(policy.select_action(preprocess(observation)))
```

- Cameras must come at the trained {height}x{width} (float (3, H, W) in [0, 1]): LeRobot resizes nothing, where
  actot's loader resizes any size.{renamed}
- Normalisation is in the processors' stats: state and action std are written floored at
  {config["normalization"]["std_floor"]} (as actot divides) with eps 0, and each camera gets ImageNet's mean and
  std, which actot's network applies inside. So LeRobot computes what actot does.
- The weights are actot's under LeRobot's names (`model.encoder.layers.0...`, `model.backbone...`); the
  mapping, and what has no LeRobot equivalent, is in actot/policy/lerobot_format.py and docs/export.md.
{"- Temporal ensembling: config.json says n_action_steps 1, as LeRobot requires with it (actot executes one action per step under ensembling too)." + chr(10) if config["policy"]["temporal_ensemble_coeff"] is not None else ""}
Files: LeRobot's `config.json`, `model.safetensors`, `{lf.PREPROCESSOR}.json` and `{lf.POSTPROCESSOR}.json` with
their stats (`{lf.PREPROCESSOR_STATS}`, `{lf.POSTPROCESSOR_STATS}`); actot's own:
`{ACTOT_EXPORT_FILE}` (what config.json is in actot's format: network, inputs, normalisation, weights, `ot`,
provenance) and `{ACTOT_TRAIN_CONFIG_FILE}` (the whole training config; `train_config.json` is LeRobot's name
for its own training config, so it is not used). `actot.export.load_policy` loads this folder too.
"""
