"""Evaluation of a policy: offline L1 on held-out target episodes, closed-loop success on the sim.

Both come with a standard error, so that a sweep's ranking can be read against the noise of
the measurement itself.
"""

from __future__ import annotations

import numpy as np
import torch

from actot.data.sampler import STD_FLOOR, CoTrainData, frames_at
from actot.data.video import resize_frames
from actot.policy.act import ACT
from actot.policy.closed_loop import ACTION_KEY, STATE_KEY, Policy
from actot.sim.config import SimConfig
from actot.sim.generate import source_env, target_env
from actot.sim.task import in_region, sample_initial_states

EVAL_SEED = 12345  # closed-loop episodes' initial states and noise: one fixed set shared by every trial


END_FRACTION = 1 / 3  # eval/l1_end: the last third of a demo, where a reach approaches and stops at its goal
WINDOW = 3  # eval/avg_l1_window: the mean of the last 3 reports' eval/avg_l1


def spread_refs(episodes: list[dict], max_frames: int) -> np.ndarray:
    """Evenly spaced (episode, frame) refs over `episodes`, at most `max_frames` of them."""
    refs = np.array([(e, f) for e, ep in enumerate(episodes) for f in range(len(ep["state"]))]).reshape(-1, 2)
    if len(refs) > max_frames:
        refs = refs[np.linspace(0, len(refs) - 1, max_frames).round().astype(int)]
    return refs


def eval_frame_refs(data: CoTrainData, max_frames: int) -> tuple[list[dict], np.ndarray]:
    """Evenly spaced (episode, frame) refs over the held-out target demos (training ones if none)."""
    episodes = data.tgt_eval or data.tgt_train
    return episodes, spread_refs(episodes, max_frames)


def to_tensors(batch: dict, device: torch.device) -> dict:
    return {
        k: torch.from_numpy(np.ascontiguousarray(v)).to(device, non_blocking=True)
        for k, v in batch.items()
        if isinstance(v, np.ndarray)
    }


# The parts of a chunk's error that `episode_l1` sums separately: the whole chunk (eval/avg_l1), its first
# action (the one executed now), the actions executed before the next chunk (n_action_steps), and the whole
# chunk on frames in the demo's last third (eval/l1_end).
KINDS = ("chunk", "first", "exec", "end")


@torch.no_grad()
def episode_l1(
    model: ACT,
    episodes: list[dict],
    cameras: list[str],
    refs: np.ndarray,
    chunk_size: int,
    device: torch.device,
    batch_size: int = 64,
) -> np.ndarray:
    """(len(episodes), len(KINDS)) mean L1 per episode and kind (normalised action units, latent 0, padded
    steps excluded), NaN where an episode has no frame of that kind among `refs`."""
    n_exec = max(1, min(model.cfg.n_action_steps, chunk_size))
    sums = torch.zeros(len(episodes), len(KINDS), 2, device=device)  # [sum of |error|, values]: read once
    lengths = np.array([len(ep["state"]) for ep in episodes])
    for start in range(0, len(refs), batch_size):
        rows = refs[start : start + batch_size]
        batch = to_tensors(frames_at(episodes, cameras, rows, chunk_size), device)
        actions, _, _ = model(batch)
        valid = (~batch["action_is_pad"]).unsqueeze(-1).float()
        full = (actions.float() - batch["action"]).abs() * valid  # (rows, chunk, action dims)
        error, valid, dims = full.sum(-1), valid.squeeze(-1), actions.shape[-1]  # per chunk step
        at_end = torch.from_numpy(rows[:, 1] >= (1 - END_FRACTION) * lengths[rows[:, 0]]).to(device).float()
        chunk_error, chunk_count = full.sum(dim=(1, 2)), valid.sum(1) * dims
        parts = [
            (chunk_error, chunk_count),
            (error[:, 0], valid[:, 0] * dims),
            (error[:, :n_exec].sum(1), valid[:, :n_exec].sum(1) * dims),
            (chunk_error * at_end, chunk_count * at_end),
        ]
        values = torch.stack([torch.stack(p, 1) for p in parts], 1)  # (rows, kinds, 2)
        sums.index_add_(0, torch.from_numpy(rows[:, 0]).to(device), values)
    sums = sums.cpu().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sums[..., 1] > 0, sums[..., 0] / sums[..., 1], np.nan)


def mean_se(values: np.ndarray) -> tuple[float, float]:
    """The mean of the finite values and its standard error across them (0 with one value)."""
    values = values[np.isfinite(values)]
    se = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
    return float(values.mean()), se


@torch.no_grad()
def eval_l1(
    model: ACT, data: CoTrainData, chunk_size: int, device: torch.device, max_frames: int = 256, batch_size: int = 64
) -> dict[str, float]:
    """The offline metrics on held-out demos (actot/metrics.py names them and their direction).

    `eval/avg_l1` (and `_se`, `l1_first`, `l1_exec`, `l1_end`) is read on the held-out target demos a lab
    has (`data.headline_eval()`) over `max_frames` evenly spaced frames; the L1 is averaged per episode
    first, so avg_l1_se is the standard error across episodes (0 with a single one). Where the data knows
    which held-out demos its target demos cover (the embedded sim), `eval/avg_l1_covered` and
    `eval/avg_l1_uncovered` split them (the other demos get max_frames // 2 frames of their own); with
    held-out source demos, `eval/source_l1` (max_frames // 2 frames) and `eval/l1_combo`, the mean of the
    target and source L1: fit where the lab collected, and the whole task where the source covers it.
    """
    was_training = model.training
    model.eval()
    out: dict[str, float] = {}
    episodes = data.tgt_eval or data.tgt_train
    headline = data.headline_eval() if data.tgt_eval else np.ones(len(episodes), bool)
    per_episode = np.full((len(episodes), len(KINDS)), np.nan, np.float32)  # float32 as the sums: means as before
    for mask, frames in ((headline, max_frames), (~headline, max_frames // 2)):
        chosen = np.flatnonzero(mask)
        if len(chosen) and frames:
            part = [episodes[i] for i in chosen]
            per_episode[chosen] = episode_l1(
                model, part, data.cameras, spread_refs(part, frames), chunk_size, device, batch_size
            )
    out["eval/avg_l1"], out["eval/avg_l1_se"] = mean_se(per_episode[headline, 0])
    for kind, key in zip(KINDS[1:], ("eval/l1_first", "eval/l1_exec", "eval/l1_end")):
        out[key] = mean_se(per_episode[headline, KINDS.index(kind)])[0]
    covered = data.tgt_eval_covered if data.tgt_eval else None
    if covered is not None:
        for key, mask in (("eval/avg_l1_covered", covered), ("eval/avg_l1_uncovered", ~covered)):
            if mask.any():
                out[key] = mean_se(per_episode[mask, 0])[0]
    if data.src_eval and max_frames // 2:
        source = episode_l1(
            model,
            data.src_eval,
            data.cameras,
            spread_refs(data.src_eval, max_frames // 2),
            chunk_size,
            device,
            batch_size,
        )
        out["eval/source_l1"] = mean_se(source[:, 0])[0]
        out["eval/l1_combo"] = (out["eval/avg_l1"] + out["eval/source_l1"]) / 2
    model.train(was_training)
    return out


def windowed_l1(rows: list[dict], current: float, window: int = WINDOW) -> float:
    """eval/avg_l1_window: the mean of `current` and the previous window - 1 reports' eval/avg_l1 (the untrained
    step 0 excluded): one final number less noisy than the last report alone."""
    earlier = [r["eval/avg_l1"] for r in rows if r.get("step", 0) > 0 and isinstance(r.get("eval/avg_l1"), float)]
    values = [*earlier[-(window - 1) :], current] if window > 1 else [current]
    return float(np.mean(values))


def eval_avg_l1(model: ACT, data: CoTrainData, chunk_size: int, device: torch.device, max_frames: int = 256) -> float:
    """`eval_l1`'s mean alone."""
    return eval_l1(model, data, chunk_size, device, max_frames)["eval/avg_l1"]


def eval_layouts(n_episodes: int, seed: int = EVAL_SEED) -> np.ndarray:
    """The fixed initial states of closed-loop evaluation: the whole task, the same for every trial."""
    return sample_initial_states(np.random.default_rng(seed), n_episodes)


def success_metrics(success: np.ndarray, covered: np.ndarray) -> dict[str, float]:
    """eval/success and its covered/uncovered parts, each with a binomial standard error (_se)."""
    out = {}
    for name, mask in (
        ("eval/success", np.ones_like(covered)),
        ("eval/success_covered", covered),
        ("eval/success_uncovered", ~covered),
    ):
        if mask.any():
            out.update(binomial(name, success[mask]))
    return out


def binomial(name: str, success: np.ndarray) -> dict[str, float]:
    """{name: the success rate, name_se: its binomial standard error}."""
    p = float(success.mean())
    return {name: p, name + "_se": float(np.sqrt(p * (1.0 - p) / len(success)))}


def rollout_policy(model: ACT, data: CoTrainData, device: torch.device) -> Policy:
    """`model` as the closed-loop `Policy` (actot/policy/closed_loop.py) that rollouts act through: training's
    normaliser, the data's cameras and frame size, frames resized as the loader resized them. An exported
    policy (`actot.export.load_policy`) is the same object, built from the folder."""
    norm = data.normaliser
    stats = {
        f"{STATE_KEY}.mean": norm.state.mean,
        f"{STATE_KEY}.std": norm.state.std,
        f"{ACTION_KEY}.mean": norm.action.mean,
        f"{ACTION_KEY}.std": norm.action.std,
    }
    return Policy(
        model,
        {k: torch.from_numpy(np.asarray(v)) for k, v in stats.items()},
        STD_FLOOR,
        data.cameras,
        tuple(data.target.frame_size),
        resize=resize_frames,
        device=device,
    )


def policy_observation(obs: dict) -> dict:
    """An env observation as LeRobot feeds a policy: tensors, cameras channels first (uint8, no copy)."""
    return {k: torch.from_numpy(v).permute(0, 3, 1, 2) if v.ndim == 4 else torch.from_numpy(v) for k, v in obs.items()}


@torch.no_grad()
def rollout_metrics(
    model: ACT,
    data: CoTrainData,
    device: torch.device,
    spec: SimConfig,
    n_episodes: int,
    seed: int = EVAL_SEED,
    domain: str = "target",
) -> dict[str, float]:
    """Closed-loop success on the embedded sim, all episodes at once.

    Episodes start from `eval_layouts(n_episodes, seed)`: goals over the whole task. In the target
    domain: `success_metrics`, split into covered (inside the target demos' region) and uncovered.
    In the source domain (`domain="source"`, the same episodes): `eval/success_source` and its _se,
    whether the task was learnt at all, apart from whether it transferred. The env renders as the
    dataset was rendered (`target_env`/`source_env`: same style, size and lossless frames) and its
    frames go through the loader's resize, so the policy sees in closed loop what it was trained on.
    """
    was_training = model.training
    model.eval()
    env = (target_env if domain == "target" else source_env)(spec, n_episodes, seed, freeze_finished=True)
    obs = env.reset(eval_layouts(n_episodes, seed))
    # The exported policy (actot/export.py) is this object too: its actions are these, bit for bit
    # (tests/test_export.py).
    policy = rollout_policy(model, data, device)
    done = False
    while not done:
        action = policy.select_action(policy_observation(obs)).numpy()
        # Frames only for the steps the policy looks at (a new chunk; every step when ensembling): drawing
        # them is most of a rollout's time, and the frames it does see are the same either way.
        obs, success, done = env.step(action, render=policy.predicts_next)
    model.train(was_training)
    if domain == "source":
        return binomial("eval/success_source", success)
    return success_metrics(success, in_region(env.init[:, 2:4], spec.target_region))
