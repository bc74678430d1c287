"""Generate the embedded two-domain datasets: scripted-expert demos written as LeRobot v3.0.

The benchmark poses the paper's problem (Cheng et al., 2025): the few target ("real") demos
cover one region of the task (goals in `target_region`), the many source ("sim") demos cover
all of it, each from its own initial state. After the `n_target` training demos, the target
dataset holds `n_eval` held-out demos, none within `eval_min_distance` of a training demo (source
or target) in the ground-truth layout space, for `eval/avg_l1`: from the whole task, or under
`eval_split=covered` from the covered region as a lab's are, followed by as many outside it. After
the `n_source` training demos, the source dataset holds `n_eval_source` held-out ones.
`twins=true` brings back the old design: each target demo restarts a source demo's initial state.

Frames are stored losslessly (PNG `image` features), so the frames a policy trains on are bit
for bit the frames `ReachEnv(..., style_seed=spec.seed)` renders in closed-loop evaluation.
`meta/actot_pairs.json` in the target dataset records the generator's ground truth: every
demo's initial state, the similarity used (`layout_distance`), and each target demo's nearest
source demo. Generation is deterministic in its parameters (`SimConfig`, actot/sim/config.py)
and cached by them.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from actot.data.writer import write_lerobot_v30
from actot.errors import ActotError
from actot.sim.config import SIM_VERSION, SimConfig
from actot.sim.task import (
    CAMERAS,
    FPS,
    MAX_STEPS,
    TASK,
    ReachEnv,
    expert_action,
    in_region,
    layout_distance,
    sample_initial_states,
)

PAIRS_FILE = "meta/actot_pairs.json"
HOLD_STEPS = 3  # frames recorded after success, so a demo shows the robot stopping


def record_expert(env: ReachEnv, initial_states: np.ndarray, rng: np.random.Generator, noise: float) -> list[dict]:
    """Roll out the expert in every copy of `env` at once; cut each demo after success."""
    obs = env.reset(initial_states)
    n = env.num_envs
    states, actions, frames = [], [], {c: [] for c in CAMERAS}
    success_step = np.full(n, -1)
    for t in range(MAX_STEPS):
        action = expert_action(env.state, env.init, rng, noise)
        states.append(obs["observation.state"])
        actions.append(action.astype(np.float32))
        for c in CAMERAS:
            frames[c].append(obs[c])
        obs, success, _ = env.step(action)
        success_step[(success_step < 0) & success] = t + 1
        if (success_step >= 0).all() and t + 1 >= success_step.max() + HOLD_STEPS:
            break
    length = np.where(success_step >= 0, np.minimum(success_step + HOLD_STEPS, len(states)), len(states))
    states, actions = np.stack(states, axis=1), np.stack(actions, axis=1)  # (n, T, ...)
    frames = {c: np.stack(f, axis=1) for c, f in frames.items()}
    return [
        {
            "state": states[i, : length[i]],
            "action": actions[i, : length[i]],
            "frames": {c: frames[c][i, : length[i]] for c in CAMERAS},
            "success": bool(success_step[i] >= 0),
        }
        for i in range(n)
    ]


def _is_done(out: Path, spec: SimConfig) -> bool:
    marker = out / "actot_sim.json"
    try:
        return json.loads(marker.read_text()).get("key") == spec.key()
    except (OSError, ValueError):
        return False


def sample_layouts(spec: SimConfig) -> dict[str, np.ndarray]:
    """Initial states of the source demos, the target training demos and the held-out target demos."""
    rng = np.random.default_rng(spec.seed)
    source = sample_initial_states(rng, spec.n_source)
    if spec.twins:
        candidates = np.flatnonzero(in_region(source[:, 2:4], spec.target_region))
        if len(candidates) < spec.n_target:
            raise ValueError(
                f"only {len(candidates)} source demos have goals in {spec.target_region!r}; "
                f"n_target={spec.n_target} twins need as many"
            )
        target = source[rng.choice(candidates, size=spec.n_target, replace=False)]
    else:
        target = sample_initial_states(rng, spec.n_target, spec.target_region)
    training = np.concatenate([source, target])
    if spec.eval_split == "covered":  # a lab's held-out demos (where it collected), then the rest of the task's
        held_out = np.concatenate(
            [
                far_layouts(rng, spec.n_eval, training, spec, spec.target_region),
                far_layouts(rng, spec.n_eval, training, spec, spec.target_region, inside=False),
            ]
        )
    else:
        held_out = far_layouts(rng, spec.n_eval, training, spec)
    # Drawn last, so that every layout above is the same with or without held-out source demos.
    source_held_out = far_layouts(rng, spec.n_eval_source, training, spec)
    return {"source": source, "target": target, "held_out": held_out, "source_held_out": source_held_out}


def far_layouts(
    rng: np.random.Generator, n: int, training: np.ndarray, spec: SimConfig, region: str = "all", inside: bool = True
) -> np.ndarray:
    """(n, 7) layouts over the whole task whose goal is in `region` (outside it with inside=False), none
    within `spec.eval_min_distance` of a `training` layout."""
    held_out = []
    for _ in range(1000 * max(n, 1)):
        if len(held_out) == n:
            break
        candidate = sample_initial_states(rng, 1)
        if (
            in_region(candidate[:, 2:4], region)[0] == inside
            and layout_distance(candidate, training).min() >= spec.eval_min_distance
        ):
            held_out.append(candidate[0])
    if len(held_out) < n:
        where = "" if region == "all" else f" {'in' if inside else 'outside'} {region!r}"
        raise ValueError(
            f"could not place {n} held-out demos{where} at least {spec.eval_min_distance} from every "
            f"training demo; lower eval_min_distance or n_source"
        )
    return np.array(held_out).reshape(-1, 7)


def ground_truth(layouts: dict[str, np.ndarray], spec: SimConfig) -> dict:
    """What the generator knows about similarity, as stored in `meta/actot_pairs.json`."""
    target = np.concatenate([layouts["target"], layouts["held_out"]])
    distance = layout_distance(target, layouts["source"])
    return {
        "similarity": "layout_distance: Euclidean distance of [robot start xy, goal xy] (actot.sim.task)",
        "target_to_source": {str(t): int(s) for t, s in enumerate(distance.argmin(1))},
        "n_train": spec.n_target,
        "n_eval": spec.n_eval_total,
        "target_region": spec.target_region,
        "twins": spec.twins,
        "eval_split": spec.eval_split,
        "n_eval_source": spec.n_eval_source,
        "target_covered": in_region(target[:, 2:4], spec.target_region).tolist(),
        "target_initial_states": target.tolist(),
        "source_initial_states": layouts["source"].tolist(),
        "spec": asdict(spec),
        "version": SIM_VERSION,
    }


def target_env(spec: SimConfig, num_envs: int, seed: int, freeze_finished: bool = False) -> ReachEnv:
    """An env in the target domain of `spec`, rendering exactly as its target dataset was rendered.

    Demos use `seed` spec.seed * 10 (training) and spec.seed * 10 + 1 (held-out) for their
    per-frame noise; closed-loop evaluation uses its own fixed seed.
    """
    return ReachEnv(
        num_envs,
        "target",
        spec.shift,
        spec.size,
        seed=seed,
        style_seed=spec.seed,
        freeze_finished=freeze_finished,
        appearance=spec.appearance,
        geometry=spec.geometry,
    )


def source_env(spec: SimConfig, num_envs: int, seed: int, freeze_finished: bool = False) -> ReachEnv:
    """An env in the source domain of `spec`, rendering as its source dataset was rendered (the
    source style has no texture or noise, so its frames depend on the layout alone)."""
    return ReachEnv(
        num_envs,
        "source",
        spec.shift,
        spec.size,
        seed=seed,
        style_seed=spec.seed,
        freeze_finished=freeze_finished,
        appearance=spec.appearance,
        geometry=spec.geometry,
    )


def generate(out: Path, spec: SimConfig = SimConfig()) -> tuple[Path, Path]:
    """Write `out/source` and `out/target`; return their roots. Reuses a complete earlier run.

    Safe when several processes (trials, drivers, nodes sharing a cache) ask for the same folder
    at once: one generates under an flock on `.NAME.lock` beside it, into a temporary folder
    renamed into place; the others wait and then reuse its result.
    """
    out = Path(out)
    if _is_done(out, spec):
        return out / "source", out / "target"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        if not _is_done(out, spec):
            _generate(out, spec)
    return out / "source", out / "target"


def _generate(out: Path, spec: SimConfig) -> None:
    layouts = sample_layouts(spec)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    batch = 50
    source_demos = []
    starts = range(0, spec.n_source, batch)
    if sys.stderr.isatty():
        from tqdm import tqdm

        starts = tqdm(
            starts,
            desc=f"generating the embedded sim ({spec.n_source} + {spec.n_target} demos)",
            unit="batch",
            leave=False,
        )
    for start in starts:
        chunk = layouts["source"][start : start + batch]
        env = source_env(spec, len(chunk), spec.seed)
        source_demos += record_expert(env, chunk, np.random.default_rng([spec.seed, 1, start]), spec.noise)
    if spec.n_eval_source:  # a pass of their own: the training demos' noise does not depend on them
        held_out = layouts["source_held_out"]
        source_demos += record_expert(
            source_env(spec, len(held_out), spec.seed), held_out, np.random.default_rng([spec.seed, 4]), spec.noise
        )
    target_demos = []
    for part, name in enumerate(("target", "held_out")):
        if len(layouts[name]):
            target_demos += record_expert(
                target_env(spec, len(layouts[name]), spec.seed * 10 + part),
                layouts[name],
                np.random.default_rng([spec.seed, 2 + part]),
                spec.noise,
            )
    write_lerobot_v30(tmp / "source", source_demos, FPS, TASK, camera_dtype="image")
    write_lerobot_v30(tmp / "target", target_demos, FPS, TASK, camera_dtype="image")
    (tmp / "target" / PAIRS_FILE).write_text(json.dumps(ground_truth(layouts, spec)))
    (tmp / "actot_sim.json").write_text(
        json.dumps(
            {
                "key": spec.key(),
                "spec": asdict(spec),
                "success_rate_source": float(np.mean([d["success"] for d in source_demos])),
                "success_rate_target": float(np.mean([d["success"] for d in target_demos])),
            }
        )
    )
    if out.exists():  # an earlier spec's data in this folder (we hold the lock: no one reads it)
        shutil.rmtree(out)
    os.replace(tmp, out)


def default_sim_dir(spec: SimConfig) -> Path:
    base = Path(os.environ.get("ACTOT_CACHE", Path.home() / ".cache" / "actot"))
    return base / "sim" / spec.key()


def ensure_sim(spec: SimConfig = SimConfig(), out: Path | None = None) -> tuple[Path, Path]:
    """The embedded datasets for `spec`, generated on first use and cached by their parameters."""
    try:
        return generate(out or default_sim_dir(spec), spec)
    except ValueError as err:  # a layout the parameters make impossible
        raise ActotError(f"data.sim: {err}") from err


def load_ground_truth(target_root: Path) -> dict | None:
    """The generator's ground truth (see `ground_truth`), if the dataset came from our simulator."""
    path = Path(target_root) / PAIRS_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def load_true_pairs(target_root: Path) -> dict[int, int] | None:
    """Target episode -> its ground-truth nearest source episode (its twin when `twins`), if from our sim."""
    truth = load_ground_truth(target_root)
    return None if truth is None else {int(k): int(v) for k, v in truth["target_to_source"].items()}


def load_sim_spec(target_root: Path) -> SimConfig | None:
    """The spec a dataset was generated with, if it came from our simulator (for rollouts)."""
    truth = load_ground_truth(target_root)
    spec = truth.get("spec") if truth else None
    if not spec:
        return None
    if truth.get("version", 1) < 2:  # written before regions and held-out demos existed
        spec = {**spec, "twins": True, "target_region": "all", "n_eval": 0}
    return SimConfig.from_dict(spec)
