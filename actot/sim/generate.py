"""Generate the embedded two-domain datasets: scripted-expert demos written as LeRobot v3.0.

Each target demo has a source twin that starts from the same initial state (robot, goal,
distractor, style) but draws its own expert noise; `meta/actot_pairs.json` in the target
dataset records that ground truth (target episode -> source episode). Generation is
deterministic in its parameters and cached: the same parameters reuse the same folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from actot.data.writer import write_lerobot_v30
from actot.sim.task import CAMERAS, FPS, MAX_STEPS, TASK, ReachEnv, expert_action, sample_initial_states

SIM_VERSION = 1  # bump when generated data changes, so caches are not reused across versions
PAIRS_FILE = "meta/actot_pairs.json"
HOLD_STEPS = 3  # frames recorded after success, so a demo shows the robot stopping


@dataclass(frozen=True)
class SimSpec:
    """What to generate. `shift` scales the target domain's visual difference (0 = none)."""

    n_source: int = 200
    n_target: int = 10
    shift: float = 2.0
    size: int = 64
    seed: int = 0
    noise: float = 0.15

    def key(self) -> str:
        text = json.dumps({**asdict(self), "version": SIM_VERSION}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def _record(env: ReachEnv, initial_states: np.ndarray, rng: np.random.Generator, noise: float) -> list[dict]:
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
    return [{"state": states[i, : length[i]], "action": actions[i, : length[i]],
             "frames": {c: frames[c][i, : length[i]] for c in CAMERAS}, "success": bool(success_step[i] >= 0)}
            for i in range(n)]


def _is_done(out: Path, spec: SimSpec) -> bool:
    marker = out / "actot_sim.json"
    try:
        return json.loads(marker.read_text()).get("key") == spec.key()
    except (OSError, ValueError):
        return False


def generate(out: Path, spec: SimSpec = SimSpec()) -> tuple[Path, Path]:
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


def _generate(out: Path, spec: SimSpec) -> None:
    rng = np.random.default_rng(spec.seed)
    inits = sample_initial_states(rng, spec.n_source)
    twins = rng.choice(spec.n_source, size=spec.n_target, replace=False)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    batch = 50
    source_demos = []
    starts = range(0, spec.n_source, batch)
    if sys.stderr.isatty():
        from tqdm import tqdm

        starts = tqdm(starts, desc=f"generating the embedded sim ({spec.n_source} + {spec.n_target} demos)",
                      unit="batch", leave=False)
    for start in starts:
        chunk = inits[start:start + batch]
        env = ReachEnv(len(chunk), "source", spec.shift, spec.size, seed=spec.seed)
        source_demos += _record(env, chunk, np.random.default_rng([spec.seed, 1, start]), spec.noise)
    target_env = ReachEnv(spec.n_target, "target", spec.shift, spec.size, seed=spec.seed)
    target_demos = _record(target_env, inits[twins], np.random.default_rng([spec.seed, 2]), spec.noise)
    write_lerobot_v30(tmp / "source", source_demos, FPS, TASK)
    write_lerobot_v30(tmp / "target", target_demos, FPS, TASK)
    pairs = {"target_to_source": {str(t): int(s) for t, s in enumerate(twins)},
             "initial_states": inits[twins].tolist(), "spec": asdict(spec)}
    (tmp / "target" / PAIRS_FILE).write_text(json.dumps(pairs, indent=2))
    (tmp / "actot_sim.json").write_text(json.dumps({"key": spec.key(), "spec": asdict(spec),
                                                     "success_rate_source": float(np.mean([d["success"] for d in source_demos])),
                                                     "success_rate_target": float(np.mean([d["success"] for d in target_demos]))}))
    if out.exists():  # an earlier spec's data in this folder (we hold the lock: no one reads it)
        shutil.rmtree(out)
    os.replace(tmp, out)


def default_sim_dir(spec: SimSpec) -> Path:
    base = Path(os.environ.get("ACTOT_CACHE", Path.home() / ".cache" / "actot"))
    return base / "sim" / spec.key()


def ensure_sim(spec: SimSpec = SimSpec(), out: Path | None = None) -> tuple[Path, Path]:
    """The embedded datasets for `spec`, generated on first use and cached by their parameters."""
    return generate(out or default_sim_dir(spec), spec)


def load_true_pairs(target_root: Path) -> dict[int, int] | None:
    """Ground-truth target -> source episode pairing, if the dataset came from our simulator."""
    path = Path(target_root) / PAIRS_FILE
    if not path.is_file():
        return None
    return {int(k): int(v) for k, v in json.loads(path.read_text())["target_to_source"].items()}


def load_sim_spec(target_root: Path) -> SimSpec | None:
    """The spec a dataset was generated with, if it came from our simulator (for rollouts)."""
    path = Path(target_root) / PAIRS_FILE
    if not path.is_file():
        return None
    spec = json.loads(path.read_text()).get("spec")
    return SimSpec(**spec) if spec else None
