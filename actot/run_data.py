"""A run's data: what training reads, said and checked before any step.

Loading (`load_data`: both datasets, paired, kept between the trials a Ray actor runs; `build_data` without that
cache), the data keys a user leaves null derived from the data (`derive_data_defaults`, with a line saying each; the
`policy=act` preset for a LeRobot dataset, `derive_preset`), the held-out split (`target_split`, `held_out_target`,
`held_out_source`), the pre-flight that refuses from metadata alone what would fail once training starts
(`preflight_data`), and the sampler that draws each step's batch (`make_sampler`). The training loop, its CLI, a
sweep's pre-flight, the cost estimate and the exporter all read the data through here, so that they derive and split
it alike.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from actot.config import TrainConfig, resolve_policy
from actot.data.lerobot import LeRobotDataset
from actot.data.sampler import CoTrainData, CoTrainSampler, check_window_length
from actot.errors import ActotError
from actot.sim.config import SimConfig
from actot.sim.generate import ensure_sim, load_ground_truth, load_sim_spec, load_true_pairs

_DATA_CACHE: dict[str, tuple] = {}  # a reused Ray actor keeps its datasets between trials


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
    data = CoTrainData(
        source,
        target,
        held_out_target(cfg, spec),
        held_out_source(cfg, spec),
        d.sharpness,
        d.cutoff,
        d.top_k,
        cache_dir=d.cache_dir,  # the driver of a sweep pairs; its trials read the cache
        summary=d.pair_summary,
        summary_weight=d.pair_summary_weight,
        summary_frames=d.pair_summary_frames,
        scale=d.pair_scale,
        cost=d.pair_cost,
    )
    truth = load_ground_truth(target_root)
    if truth is not None and "target_covered" in truth:
        data.mark_covered(truth["target_covered"], truth.get("eval_split") == "covered")
    return data, load_true_pairs(target_root), spec


# What --help says of the keys whose null default is derived from the data.
DERIVED = {
    "data.resolution": "  (null: the sim's [32, 32]; LeRobot frames scaled to 128 px on the long side, "
    "480x640 -> [96, 128])",
    "data.n_eval_target": "  (null: the sim's held-out demos; for a LeRobot dataset a tenth of its target "
    "episodes, rounded, at least 1 and leaving 1 to train on: 100 -> 10, 4 -> 1, 2 -> 1)",
    "data.eval_target_episodes": "  (null: the last data.n_eval_target; else e.g. [0-9] or [3, 17, 42]: held out "
    "and removed from the training target episodes)",
    "data.source_episodes": "  (null: all; e.g. 0-79, [0-39, 80-99] or [1, 2, 4])",
    "data.target_episodes": "  (null: all; e.g. 0-79, [0-39, 80-99] or [1, 2, 4])",
    "data.pair_scale": "  (null: absolute on the embedded sim and the datasets it writes; nearest on a LeRobot "
    "dataset)",
    "policy_preset": "  (policy=NAME: act_small for the sim; act for a LeRobot dataset unless policy= is given)",
}
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
        raise ActotError(
            f"{where}: data.eval_target_episodes=[{episodes_text(held)}] names episode(s) "
            f"{episodes_text(lacking[:5])} that {name} lacks (it has {episodes_text(available)}); "
            "name episodes it has"
        )
    chosen = d.target_episodes if d.target_episodes is not None else available
    held_set = set(held)
    train = [e for e in chosen if e not in held_set]
    if not train:
        given = (
            f"data.target_episodes=[{episodes_text(chosen)}]"
            if d.target_episodes is not None
            else f"all {len(chosen)} episodes of {name}"
        )
        raise ActotError(
            f"{where}: data.eval_target_episodes=[{episodes_text(held)}] holds out every training target "
            f"episode ({given}), which leaves none to train on; hold out fewer, or add training episodes "
            "with data.target_episodes"
        )
    return dataclasses.replace(
        cfg, data=dataclasses.replace(d, target_episodes=train + list(held), n_eval_target=len(held))
    )


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
    return (
        {"policy": REAL_DATA_PRESET, **overrides},
        f"policy={REAL_DATA_PRESET}: LeRobot's ACT for a LeRobot dataset (set policy=act_small for a small, fast "
        "policy, e.g. on a CPU)",
    )


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
            said.append(
                f"data.eval_target_episodes=[{episodes_text(held)}]: {len(held)} target episode(s) held out "
                f"for eval/avg_l1, never trained on; {n_train} train (data.target_episodes=["
                f"{episodes_text(cfg.data.target_episodes[:n_train])}])"
            )
    d = cfg.data
    if d.source is None:
        changes = {
            "resolution": list(SIM_RESOLUTION) if d.resolution is None else d.resolution,
            "pair_scale": SIM_PAIR_SCALE if d.pair_scale is None else d.pair_scale,
        }
        return dataclasses.replace(cfg, data=dataclasses.replace(d, **changes)), said
    spec = load_sim_spec(d.target)
    target = LeRobotDataset(d.target, episodes=d.target_episodes, cameras=d.cameras, cache_dir=d.cache_dir, load=False)
    changes = {}
    if d.pair_scale is None:
        changes["pair_scale"] = SIM_PAIR_SCALE if spec is not None else DATA_PAIR_SCALE
        if spec is None:
            said.append(
                f"data.pair_scale={DATA_PAIR_SCALE}: the pairing weights read each DTW cost relative to the "
                f"target demo's nearest, whatever the costs' scale (set data.pair_scale={SIM_PAIR_SCALE} for "
                "the first rule, which reads the costs themselves)"
            )
    if d.resolution is None:
        if spec is not None or not target.cameras:
            changes["resolution"] = list(SIM_RESOLUTION)
        else:
            h, w = target.frame_size  # the stored size of the first chosen camera
            scale = LONG_SIDE / max(h, w)
            changes["resolution"] = [max(8, round(h * scale)), max(8, round(w * scale))]
            said.append(
                f"data.resolution={changes['resolution']}: {target.cameras[0]}'s {h}x{w} frames scaled to "
                f"{LONG_SIDE} px on the long side (set data.resolution to choose)"
            )
    if d.n_eval_target is None and spec is None:
        n = len(target.episode_indices)
        held = changes["n_eval_target"] = held_out_target(cfg, None, n)
        said.append(
            f"data.n_eval_target={held}: the last {held} of the {n} target episodes "
            f"{'is' if held == 1 else 'are'} held out for eval/avg_l1 ({held_out_words(held, n)}); "
            "set data.n_eval_target=N or data.eval_target_episodes=[...] to choose"
        )
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
            raise ActotError(
                f"{where}: data.n_eval_source={held_out_source(cfg, d.sim)} holds out every one of the "
                f"sim's {n_source} source demos, which leaves none to train on; set data.n_eval_source"
                f"={n_source - 1} or lower, or leave it unset (data.sim.n_eval_source demos are held out)"
            )
        from actot.sim.task import CAMERAS

        cameras = CAMERAS if d.cameras is None else d.cameras
        resolve_policy(cfg, len(cameras), tuple(d.resolution or SIM_RESOLUTION), where)
        return
    spec = load_sim_spec(d.target)
    common = dict(
        cameras=d.cameras, resolution=tuple(d.resolution) if d.resolution else None, cache_dir=d.cache_dir, load=False
    )
    datasets = {}
    for key, root, episodes in (("source", d.source, d.source_episodes), ("target", d.target, d.target_episodes)):
        try:
            dataset = datasets[key] = LeRobotDataset(root, episodes=episodes, **common)
        except ActotError as err:
            raise ActotError(f"{where}: data.{key}={root}: {err}") from err
        if not dataset.episode_indices:
            raise ActotError(
                f"{where}: data.{key}_episodes={episodes!r} selects no episode of {root}; name at least one"
            )
        lost = dataset.missing_data_files()
        if lost:
            eps = [ep for ep, _ in lost]
            raise ActotError(
                f"{where}: data.{key}={root}: no state/action file for episode(s) "
                f"{episodes_text(eps[:20])} (e.g. {lost[0][1]} is missing); restore the files, or choose "
                f"other episodes with data.{key}_episodes"
            )
        for cam, missing in dataset.missing_videos().items():
            have = dataset.episodes_with_video(cam)
            eps = [ep for ep, _ in missing]
            shown = ", ".join(map(str, eps[:5])) + (f", ... ({len(eps)} in all)" if len(eps) > 5 else "")
            fix = f"choose episodes that have it, e.g. data.{key}_episodes={have[:8]}" if have else "no episode has it"
            raise ActotError(
                f"{where}: data.{key}={root}: camera {cam} has no video for episode(s) {shown} "
                f"(e.g. {missing[0][1]} is missing); {fix}, or train on state and action only with "
                f"data.cameras=[]"
            )
        if key == "source" and held_out_source(cfg, spec) >= len(dataset.episode_indices):
            n = len(dataset.episode_indices)
            raise ActotError(
                f"{where}: data.n_eval_source={held_out_source(cfg, spec)} holds out {held_out_source(cfg, spec)} "
                f"of the source's {n} episodes, which leaves none to train on; set "
                f"data.n_eval_source={max(0, n - 1)} or lower"
            )
        if key == "target":
            held_out = held_out_target(cfg, spec, len(dataset.episode_indices))
            if len(dataset.episode_indices) <= held_out:
                setting = (
                    "data.n_eval_target" if d.n_eval_target is not None else "data.n_eval_target (unset: the default)"
                )
                raise ActotError(
                    f"{where}: {setting}={held_out} holds out {held_out} of the target's "
                    f"{len(dataset.episode_indices)} episodes, which leaves none to train on; "
                    f"set data.n_eval_target={max(0, len(dataset.episode_indices) - 1)} or lower, or "
                    f"select more target episodes (data.target_episodes)"
                )
    source, target = datasets["source"], datasets["target"]
    if (source.state_dim, source.action_dim) != (target.state_dim, target.action_dim):
        raise ActotError(
            f"{where}: data.source={d.source} has state/action sizes ({source.state_dim}, "
            f"{source.action_dim}) but data.target={d.target} has ({target.state_dim}, {target.action_dim}): "
            "co-training needs one robot's state and action spaces; choose a source and a target of the "
            "same robot"
        )
    if len(source.cameras) != len(target.cameras):
        raise ActotError(
            f"{where}: data.source={d.source} has {len(source.cameras)} camera(s) {source.cameras} but "
            f"data.target={d.target} has {len(target.cameras)} {target.cameras}: the policy reads the same "
            "number from both; name as many of each with data.cameras (a camera's key must be in both), "
            "or data.cameras=[] for state and action only"
        )
    summary = list(d.pair_summary) if d.pair_summary_weight else []
    for key, dataset in (("source", source), ("target", target)):
        lacking = [name for name in summary if name not in dataset.features]
        if lacking:
            raise ActotError(
                f"{where}: data.pair_summary={summary}: {lacking[0]!r} is not a feature of data.{key}="
                f"{dataset.root}; choose from {[k for k in summary if k in dataset.features]} (or [] for "
                "[state, action] alone)"
            )
    lengths = list(source.episode_lengths().values())
    trained = lengths[: len(lengths) - held_out_source(cfg, spec)]
    if trained and None not in trained:
        check_window_length(cfg.ot.window_size, max(trained), where)
    derived = derive_data_defaults(cfg)[0]
    resolve_policy(derived, len(target.cameras), tuple(derived.data.resolution), where)


def make_sampler(cfg: TrainConfig, data: CoTrainData, true_pairs: dict | None = None) -> CoTrainSampler:
    """What draws each step's batch [OT source | OT target | BC rows], seeded by the run's seed."""
    return CoTrainSampler(
        data,
        cfg.policy.chunk_size,
        cfg.batch_size,
        cfg.ot.batch_size,
        cfg.ot.window_size,
        seed=cfg.seed,
        true_pairs=true_pairs,
        bc_src_weight=cfg.bc_src_weight,
        ot_in_bc=cfg.ot_rows == "bc",
    )
