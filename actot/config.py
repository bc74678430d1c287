"""Typed configuration of a training run, and `key=value` overrides checked against it.

A run's config is a tree of dataclasses (`TrainConfig`) whose branches each part owns: the
policy's in `actot/policy/config.py`, the OT loss's in `actot/ot/config.py` (with the allowed
values of its choices), the embedded sim's in `actot/sim/config.py`. OmegaConf checks the type of
every override. `policy=NAME` picks an ACT preset (`act`, `act_small`) before `policy.FIELD=...`
overrides apply. Unknown keys fail with the closest valid key; values are parsed with YAML's
safe loader (never evaluated).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from actot.data.pairing import (
    COSTS,
    DEFAULT_SUMMARY,
    DEFAULT_SUMMARY_FRAMES,
    DEFAULT_SUMMARY_WEIGHT,
    SCALES,
    SUMMARY_KEYS,
)
from actot.errors import ActotError
from actot.optim import SCHEDULES
from actot.ot.config import CHOICES as OT_CHOICES
from actot.ot.config import OTConfig
from actot.policy.config import IMAGE_POOLINGS, PRESETS, ACTConfig, feature_map_size
from actot.sim.config import EVAL_SPLITS, SimConfig
from actot.sim.task import REGIONS


@dataclass
class DataConfig:
    """source/target: LeRobot dataset roots; both None -> the embedded two-domain sim.

    resolution: the working [H, W] of camera frames; null (the default) derives it: the embedded
    sim's [32, 32], a LeRobot dataset's own frame size scaled to 128 px on its long side (480x640
    frames: [96, 128]).
    source_episodes, target_episodes: the episodes to load (null: all); a list of indices and ranges,
    e.g. 0-79, [0-39, 80-99] or [1, 2, 4-5] (a range includes both ends).
    n_eval_target: the last target episodes held out for eval/avg_l1; null (the default) derives
    it: a dataset made by our sim holds out its `n_eval` held-out demos, any other a tenth of its
    target episodes, rounded, at least 1 and leaving at least one to train on (4 episodes: 1).
    eval_target_episodes: the target episodes held out for eval/avg_l1, chosen by the user (indices
    and ranges, as target_episodes), instead of the last n_eval_target. They are removed from the
    training target episodes (data.target_episodes, or all of the dataset's), so a held-out episode
    is never trained on; they must leave at least one to train on.
    n_eval_source: the last source episodes held out for eval/source_l1 (the source side's held-out
    L1); null (the default) derives it: the embedded sim's `n_eval_source`, 0 for a LeRobot dataset.
    sharpness, cutoff, top_k: how the OT batch draws a target demo's source partner from the DTW costs:
    each of the top_k nearest source demos weighs 1 / (1 + exp(sharpness * (x - cutoff))), where x is
    read as `pair_scale` says (actot.data.pairing.pairing_weights).
    pair_scale: `absolute`: x is the DTW cost itself (the first rule; its meaning depends on the costs'
    size: on the embedded sim's small costs it draws mostly each target's nearest; on G1's large ones
    every weight underflows and top_k becomes the nearest alone); `nearest`: x is the excess over the
    target's nearest cost in tenths of it (0 for the nearest, 5 for a demo 50% costlier), the same at
    any cost scale. null (the default) derives it: `absolute` on the embedded sim (and a dataset it
    wrote), whose results were measured with it and where it draws the truly nearest demo more often
    than `nearest` does; `nearest` on a LeRobot dataset, whose cost scale nothing fixes (the figures:
    docs/data.md "The weights' scale", bench/RESULTS.md session 9 "pairing that cannot silently
    collapse"; bench/pairing_scale.py).
    pair_cost: `sum` (the default): a pair's DTW cost is the summed frame distance along the best
    alignment, so it grows with the demos' lengths; `mean`: that sum over the alignment's length (its
    number of cells), the mean frame distance, which follows the source demo's length less on G1 but
    finds the sim's truly nearest demos no better (bench/RESULTS.md session 9 "pairing that cannot
    silently collapse"; docs/data.md).
    Every run prints the pairing's health (distinct partners, effective partners per target, the
    largest share one source demo takes) and a warning naming the key to change when it has collapsed.
    pair_summary: the features (LeRobot keys: observation.state, action) whose mean over a demo's last
    `pair_summary_frames` frames is the demo's outcome, appended times `pair_summary_weight` to every
    frame DTW compares, so that demos are paired by where they go, not only by where they are (on the
    embedded sim it brings the drawn partner's goal much closer: docs/data.md "Pairing on situation").
    [] (the default: OT on those pairs did worse than on state-only ones, bench/RESULTS.md session 8
    "the transfer study's screen completed") or weight 0: DTW over [state, action] alone.
    """

    source: Optional[str] = None
    target: Optional[str] = None
    source_episodes: Optional[list[int]] = None
    target_episodes: Optional[list[int]] = None
    cameras: Optional[list[str]] = None
    resolution: Optional[list[int]] = None
    n_eval_target: Optional[int] = None
    eval_target_episodes: Optional[list[int]] = None
    n_eval_source: Optional[int] = None
    sharpness: float = 1.0
    cutoff: float = 5.0
    top_k: int = 5
    pair_scale: Optional[str] = None
    pair_cost: str = "sum"
    pair_summary: list[str] = field(default_factory=lambda: list(DEFAULT_SUMMARY))
    pair_summary_weight: float = DEFAULT_SUMMARY_WEIGHT
    pair_summary_frames: int = DEFAULT_SUMMARY_FRAMES
    cache_dir: Optional[str] = None
    sim: SimConfig = field(default_factory=SimConfig)


@dataclass
class WandbConfig:
    """mode: auto (online with an API key, else offline), online, offline or disabled."""

    mode: str = "auto"
    project: str = "actot"
    entity: Optional[str] = None
    group: Optional[str] = None


# Training aligns unit-length embeddings by default (OTConfig's own default, 'none', is the method's raw cost): with raw
# embeddings every ot_full config shrank them and lost the uncovered half, even on perfect pairs (bench/RESULTS.md
# session 6 "can OT transfer?", bench/transfer_study.py); `ot.embed_norm=none` brings the method's cost back.
TRAIN_EMBED_NORM = "l2"


@dataclass
class TrainConfig:
    """One training run. `policy_preset` names the ACT preset that `policy` started from.

    batch_size: behaviour-cloning rows per step, source and target together; bc_src_weight of
    them come from the source domain (the reference's mix; 0.7-0.9 in the seed authors'
    configs). The OT rows (ot.batch_size pairs) feed the OT loss only, unless bc_on_ot_rows.
    ot_rows: `separate` (the method's): the OT pairs are rows of their own, through the image encoder
        for L_ot only; `bc`: the OT pairs are drawn as part of the BC rows (their ot.batch_size target
        frames and source partners replace as many of each domain's BC rows), so their embeddings come
        from the BC forward pass and no extra row goes through the ResNet (docs/ot.md). Needs
        ot.batch_size <= each domain's BC rows.
    rollout_episodes, rollout_seed: closed-loop success episodes (embedded sim), on fixed episodes.
    rollout_every: also measure success at log steps that are multiples of it (0: last step only),
        e.g. so that a scheduler or a study can read success curves. Success in the source domain
        (`eval/success_source`, same episodes) is measured with it: "did not learn the task" vs
        "did not transfer".
    lr_schedule: `cosine` (the default): a linear warm-up over `warmup_steps`, then a cosine decay
        from the base rates (policy.lr, policy.lr_backbone) to lr_min_ratio of them at the last step;
        `constant`: the base rates after the warm-up (LeRobot's ACT: lr_schedule=constant,
        ema_decay=0). The schedule follows `steps`: resuming with a larger `steps` stretches it.
    warmup_steps: null (the default) is 5% of `steps` under cosine and none under constant; a
        number sets it for either, in [0, steps).
    lr_min_ratio: the cosine's last learning rate over the base rate, in [0, 1] (0.1, as LeRobot's
        cosine-with-warm-up preset for pi0: 2.5e-6 after 2.5e-5).
    ema_decay: an exponential moving average of the weights, with the decay ramped up as
        min(ema_decay, (1 + n) / (10 + n)) at the n-th update (actot/ema.py); evaluation
        (eval/avg_l1, rollouts) runs on it and checkpoints save it. In [0, 1); 0 turns it off.
    """

    policy_preset: str = "act_small"
    policy: ACTConfig = field(default_factory=lambda: dataclasses.replace(PRESETS["act_small"]))
    data: DataConfig = field(default_factory=DataConfig)
    ot: OTConfig = field(default_factory=lambda: OTConfig(embed_norm=TRAIN_EMBED_NORM))
    wandb: WandbConfig = field(default_factory=WandbConfig)
    steps: int = 300
    lr_schedule: str = "cosine"
    warmup_steps: Optional[int] = None
    lr_min_ratio: float = 0.1
    ema_decay: float = 0.999
    batch_size: int = 16
    bc_src_weight: float = 0.5
    bc_on_ot_rows: bool = False
    ot_rows: str = "separate"
    log_every: int = 25
    eval_frames: int = 256
    rollout_episodes: int = 100
    rollout_seed: int = 12345
    rollout_every: int = 0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    threads: int = 0
    gpu_memory_fraction: float = 0.0  # cap this process's share of the GPU's memory (0: no cap); trials sharing a GPU
    out_dir: str = "runs"
    name: Optional[str] = None
    checkpoint_every: int = 100
    resume: bool = False


OT_ROWS = ("separate", "bc")  # where the OT pairs' rows come from (TrainConfig.ot_rows)

CHOICES = {
    **{f"ot.{name}": allowed for name, allowed in OT_CHOICES.items()},
    "wandb.mode": ("auto", "online", "offline", "disabled"),
    "device": None,
    "policy.feedforward_activation": ("relu", "gelu"),
    "policy.image_pooling": (None, *IMAGE_POOLINGS),
    "data.sim.target_region": REGIONS,
    "data.sim.eval_split": EVAL_SPLITS,
    "data.pair_scale": (None, *SCALES),
    "data.pair_cost": COSTS,
    "lr_schedule": SCHEDULES,
    "ot_rows": OT_ROWS,
}


def dotted_keys(node: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf key of a dataclass tree, dotted, with its current value."""
    out = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            out.update(dotted_keys(value, key + "."))
        else:
            out[key] = value
    return out


def unknown_key_error(key: str, valid: list[str], where: str = "override") -> ActotError:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    if not close:  # a wrong prefix: match on the last part of the key
        tails = {k.rsplit(".", 1)[-1]: k for k in valid}
        hit = difflib.get_close_matches(key.rsplit(".", 1)[-1], list(tails), n=1, cutoff=0.6)
        close = [tails[hit[0]]] if hit else []
    hint = f"; did you mean '{close[0]}'?" if close else "; run with --help to list the keys"
    return ActotError(f"{where}: unknown key '{key}'{hint}")


def parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text) if text != "" else ""
    except yaml.YAMLError:
        return text


def parse_switch(word: str) -> bool:
    """dry_run=true|false, cost=true|false: a command's on/off words (the training and sweep CLIs'), not training
    keys."""
    key, text = word.split("=", 1)
    value = parse_value(text)
    if not isinstance(value, bool):
        raise ActotError(f"command line: {word} must be {key}=true or {key}=false")
    return value


EPISODE_KEYS = ("data.source_episodes", "data.target_episodes", "data.eval_target_episodes")
# Keys that name a file or folder: `~` is expanded wherever they are set (command line, sweep file, space).
PATH_KEYS = ("data.source", "data.target", "data.cache_dir", "out_dir")


def parse_episodes(key: str, value: Any, where: str = "override") -> Any:
    """Episode indices as a user writes them, as a list: 0-79, [0-39, 80-99], [1, 2, 4-5], "1,2,4" or 7.

    Runs before OmegaConf's type check, which would only say that '0-79' is not a list of ints."""
    if value is None:
        return None
    items = (
        value
        if isinstance(value, (list, tuple))
        else ([p for p in value.split(",")] if isinstance(value, str) else [value])
    )
    example = f"e.g. {key}=0-79, {key}=[0-39,80-99] or {key}=[1,2,4]"
    out: list[int] = []
    for item in items:
        if isinstance(item, bool):
            raise ActotError(f"{where}: {key}={value!r}: {item!r} is not an episode index; {example}")
        if isinstance(item, int):
            out.append(item)
            continue
        text = str(item).strip().strip("[]").strip()
        lo, sep, hi = text.partition("-")
        if not sep and text.isdigit():
            out.append(int(text))
            continue
        if not (sep and lo.strip().isdigit() and hi.strip().isdigit()):
            raise ActotError(
                f"{where}: {key}={value!r}: {item!r} is neither an episode index nor a range FIRST-LAST; {example}"
            )
        first, last = int(lo), int(hi)
        if first > last:
            raise ActotError(
                f"{where}: {key}={value!r}: the range {item!r} runs backwards; write it low to high, "
                f"{first}-{last} -> {last}-{first}"
            )
        out.extend(range(first, last + 1))
    if any(e < 0 for e in out):
        raise ActotError(f"{where}: {key}={value!r}: episode indices start at 0; {example}")
    twice = sorted({e for e in out if out.count(e) > 1})
    if twice:
        raise ActotError(f"{where}: {key}={value!r} names episode(s) {twice[:5]} more than once; name each once")
    return out


def normalise_value(key: str, value: Any, where: str = "override") -> Any:
    """Accept the seed log's spellings: heuristic=True/False, a scalar tau (tied pair); episode ranges; `~` in paths."""
    if key in EPISODE_KEYS:
        return parse_episodes(key, value, where)
    if key in PATH_KEYS and isinstance(value, str) and value.startswith("~"):
        return str(Path(value).expanduser())
    if key == "ot.heuristic" and isinstance(value, bool):
        return "hard" if value else "none"
    if key == "ot.tau" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value), float(value)]
    if key in ("ot.weight_embed",) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    if key == "data.resolution" and isinstance(value, int) and not isinstance(value, bool):
        return [value, value]
    return value


def apply_overrides(cfg: TrainConfig, overrides: dict[str, Any], where: str = "override") -> TrainConfig:
    """Return a copy of `cfg` with dotted `overrides` applied, type-checked."""
    overrides = dict(overrides)
    if "policy" in overrides:  # a preset name: replace the whole policy first
        name = overrides.pop("policy")
        if name not in PRESETS:
            raise ActotError(f"{where}: policy={name} is not a preset; choose one of {sorted(PRESETS)}")
        cfg = dataclasses.replace(cfg, policy=dataclasses.replace(PRESETS[name]), policy_preset=name)
    valid = dotted_keys(cfg)
    conf = OmegaConf.structured(cfg)
    for key, raw in overrides.items():
        if key not in valid:
            raise unknown_key_error(key, list(valid), where)
        value = normalise_value(key, raw, where)
        choices = CHOICES.get(key)
        if choices and value not in choices:
            raise ActotError(f"{where}: {key}={raw!r} is not allowed; choose one of {list(choices)}")
        try:
            OmegaConf.update(conf, key, value, merge=False)
        except OmegaConfBaseException as err:
            expected = type(valid[key]).__name__ if valid[key] is not None else "value"
            raise ActotError(
                f"{where}: {key}={raw!r} has the wrong type (expected {expected}, "
                f"default {valid[key]!r}): {str(err).splitlines()[0]}"
            ) from err
    try:
        out = OmegaConf.to_object(conf)
    except (OmegaConfBaseException, ValueError) as err:
        raise ActotError(f"{where}: {str(err).splitlines()[0]}") from err
    validate(out, where)
    return out


def validate(cfg: TrainConfig, where: str = "config") -> None:
    """Ranges the types cannot express; each failure names the key and the value."""
    checks = [
        ("steps", cfg.steps >= 1, ">= 1"),
        ("log_every", cfg.log_every >= 1, ">= 1"),
        ("batch_size", cfg.batch_size >= 1, ">= 1"),
        ("ot.batch_size", cfg.ot.batch_size >= 2, ">= 2"),
        ("ot.reg", cfg.ot.reg > 0, "> 0"),
        ("ot.window_size", cfg.ot.window_size >= 0, ">= 0"),
        ("ot.tau", len(cfg.ot.tau) == 2 and min(cfg.ot.tau) > 0, "a pair of numbers > 0, e.g. [5, 5]"),
        ("ot.lambda_ot", cfg.ot.lambda_ot >= 0, ">= 0"),
        ("ot.weight_label", cfg.ot.weight_label >= 0, ">= 0"),
        (
            "ot.weight_embed",
            all(w >= 0 for w in cfg.ot.weight_embed) and len(cfg.ot.weight_embed) >= 1,
            "a list of numbers >= 0",
        ),
        (
            "data.resolution",
            cfg.data.resolution is None or (len(cfg.data.resolution) == 2 and min(cfg.data.resolution) >= 8),
            "null (derived from the data) or [H, W], each >= 8",
        ),
        ("data.n_eval_target", cfg.data.n_eval_target is None or cfg.data.n_eval_target >= 0, "null or >= 0"),
        (
            "data.n_eval_target",
            cfg.data.eval_target_episodes is None
            or cfg.data.n_eval_target is None
            or cfg.data.n_eval_target == len(cfg.data.eval_target_episodes),
            f"null (or {len(cfg.data.eval_target_episodes or [])}) with data.eval_target_episodes, which names the "
            "held-out episodes itself: set one of the two",
        ),
        ("data.n_eval_source", cfg.data.n_eval_source is None or cfg.data.n_eval_source >= 0, "null or >= 0"),
        ("data.sim.n_eval_source", cfg.data.sim.n_eval_source >= 0, ">= 0"),
        ("data.pair_summary_weight", cfg.data.pair_summary_weight >= 0, ">= 0 (0: DTW over [state, action] alone)"),
        ("data.pair_summary_frames", cfg.data.pair_summary_frames >= 1, ">= 1 (the demo's last frames averaged)"),
        ("bc_src_weight", 0.0 <= cfg.bc_src_weight <= 1.0, "in [0, 1]"),
        ("ot.max_iters", cfg.ot.max_iters >= 1, ">= 1"),
        ("ot.tol", cfg.ot.tol > 0, "> 0"),
        ("ot.check_every", cfg.ot.check_every >= 1, ">= 1"),
        (
            "ot.label_dims",
            cfg.ot.label_dims is None
            or (len(cfg.ot.label_dims) == 2 and 0 <= cfg.ot.label_dims[0] < cfg.ot.label_dims[1]),
            "null or [start, stop] with 0 <= start < stop",
        ),
        ("rollout_episodes", cfg.rollout_episodes >= 0, ">= 0"),
        ("gpu_memory_fraction", 0.0 <= cfg.gpu_memory_fraction <= 1.0, "in [0, 1] (0: no cap)"),
        ("rollout_every", cfg.rollout_every >= 0, ">= 0 (0: closed-loop success at the last step only)"),
        ("data.sim.n_source", cfg.data.sim.n_source >= 1, ">= 1"),
        ("data.sim.n_target", cfg.data.sim.n_target >= 1, ">= 1"),
        ("data.sim.n_eval", cfg.data.sim.n_eval >= 0, ">= 0"),
        ("data.sim.eval_min_distance", cfg.data.sim.eval_min_distance >= 0, ">= 0"),
        (
            "data.sim.appearance",
            cfg.data.sim.appearance is None or cfg.data.sim.appearance >= 0,
            "null (follows data.sim.shift) or >= 0",
        ),
        (
            "data.sim.geometry",
            cfg.data.sim.geometry is None or cfg.data.sim.geometry >= 0,
            "null (follows data.sim.shift) or >= 0",
        ),
        (
            "warmup_steps",
            cfg.warmup_steps is None or 0 <= cfg.warmup_steps < cfg.steps,
            f"null (5% of steps under cosine) or a whole number in [0, steps={cfg.steps})",
        ),
        ("lr_min_ratio", 0.0 <= cfg.lr_min_ratio <= 1.0, "in [0, 1] (the cosine's last lr over the base lr, e.g. 0.1)"),
        ("ema_decay", 0.0 <= cfg.ema_decay < 1.0, "in [0, 1) (0: no EMA; e.g. 0.999)"),
    ]
    for key, ok, rule in checks:
        if not ok:
            raise ActotError(f"{where}: {key}={dotted_keys(cfg)[key]!r} is out of range; it must be {rule}")
    unknown = [k for k in cfg.data.pair_summary if k not in SUMMARY_KEYS]
    if unknown:
        raise ActotError(
            f"{where}: data.pair_summary={cfg.data.pair_summary!r}: {unknown[0]!r} is not a feature pairing "
            f"reads; choose from {list(SUMMARY_KEYS)} (or [] for [state, action] alone)"
        )
    if cfg.ot.embedding == "keypoints" and cfg.policy.image_pooling == "map":
        raise ActotError(
            f"{where}: ot.embedding=keypoints aligns the keypoints the policy reads, but "
            "policy.image_pooling=map reads none; set policy.image_pooling=keypoints or null (derived), or "
            "choose ot.embedding from ['mean', 'tokens']"
        )
    if cfg.data.cameras == [] and "keypoints" in (cfg.ot.embedding, cfg.policy.image_pooling):
        key, value = (
            ("ot.embedding", cfg.ot.embedding)
            if cfg.ot.embedding == "keypoints"
            else ("policy.image_pooling", cfg.policy.image_pooling)
        )
        raise ActotError(
            f"{where}: {key}={value} needs cameras, but data.cameras=[]; choose {key} from "
            f"{['mean', 'tokens'] if key == 'ot.embedding' else ['map', None]} or name cameras"
        )
    if cfg.ot_rows == "bc":
        n_src = int(round(cfg.bc_src_weight * cfg.batch_size))  # as the sampler splits the BC rows
        room = min(n_src, cfg.batch_size - n_src)
        if cfg.ot.batch_size > room:
            raise ActotError(
                f"{where}: ot.batch_size={cfg.ot.batch_size} is too large for ot_rows=bc, which draws the "
                f"OT pairs among the BC rows: batch_size={cfg.batch_size} at bc_src_weight="
                f"{cfg.bc_src_weight} has {n_src} source and {cfg.batch_size - n_src} target rows; set "
                f"ot.batch_size={room} or lower, or batch_size={2 * cfg.ot.batch_size} or higher"
            )
    if (cfg.data.source is None) != (cfg.data.target is None):
        raise ActotError(
            f"{where}: give both data.source and data.target (LeRobot roots), or neither for the embedded sim"
        )
    try:
        ACTConfig(**dataclasses.asdict(cfg.policy))
    except ValueError as err:
        raise ActotError(f"{where}: policy: {err}") from err


def resolve_policy(cfg: TrainConfig, n_cameras: int, frame_size: tuple[int, int], where: str = "data") -> TrainConfig:
    """`cfg` with policy.image_pooling derived when null (keypoints under ot.embedding=keypoints, else map),
    checked against the data: keypoints need cameras and a layer-4 map of at least 2x2 positions."""
    pooling = cfg.policy.image_pooling or ("keypoints" if cfg.ot.embedding == "keypoints" else "map")
    asked = (
        ("ot.embedding", cfg.ot.embedding)
        if cfg.policy.image_pooling is None
        else ("policy.image_pooling", cfg.policy.image_pooling)
    )
    if pooling == "keypoints":
        choices = ["mean", "tokens"] if asked[0] == "ot.embedding" else ["map", None]
        if not n_cameras:
            raise ActotError(
                f"{where}: {asked[0]}={asked[1]} needs cameras, but the data has none (a state-only dataset or "
                f"data.cameras=[]); choose {asked[0]} from {choices}"
            )
        h, w = feature_map_size(*frame_size)
        if min(h, w) < 2:
            raise ActotError(
                f"{where}: {asked[0]}={asked[1]}: data.resolution={list(frame_size)} gives a {h}x{w} feature map "
                "(ResNet-18 downsamples 32x), where keypoints cannot move; set data.resolution to 64 or more "
                f"per side (a 2x2 map or larger), or choose {asked[0]} from {choices}"
            )
    return dataclasses.replace(cfg, policy=dataclasses.replace(cfg.policy, image_pooling=pooling))


def parse_cli(args: list[str], cfg: TrainConfig | None = None, where: str = "command line") -> TrainConfig:
    """`key=value` words -> a checked TrainConfig."""
    overrides = {}
    for word in args:
        if "=" not in word:
            raise ActotError(f"{where}: '{word}' is not key=value (for example steps=200)")
        key, text = word.split("=", 1)
        overrides[key.strip()] = parse_value(text)
    return apply_overrides(cfg or TrainConfig(), overrides, where)


def to_dict(cfg: TrainConfig) -> dict:
    return dataclasses.asdict(cfg)


REPO_ROOT = Path(__file__).resolve().parents[1]


def resolve_named_yaml(name: str, folder: str) -> Path:
    """`name` as a path, else `<cwd>/<folder>/<name>.yaml`, else the shipped `<folder>/<name>.yaml`."""
    path = Path(name).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    local = Path.cwd() / folder / f"{name}.yaml"
    return local if local.is_file() else REPO_ROOT / folder / f"{name}.yaml"


def available_yaml(folder: str) -> list[str]:
    return sorted({p.stem for d in (REPO_ROOT / folder, Path.cwd() / folder) for p in d.glob("*.yaml")})


def read_yaml_mapping(name: str, folder: str, what: str) -> tuple[dict, Path]:
    """Safely load a named YAML file that must hold a mapping; errors name the file."""
    path = resolve_named_yaml(name, folder)
    if not path.is_file():
        raise ActotError(f"{what} '{name}' not found ({path}); available: {available_yaml(folder)}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ActotError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from err
    if not isinstance(raw, dict):
        raise ActotError(f"{path}: must be a mapping of keys to values")
    return raw, path
