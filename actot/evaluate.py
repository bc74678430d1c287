"""Evaluation of a policy: offline L1 on held-out target episodes, closed-loop success on the sim.

Both come with a standard error, so that a sweep's ranking can be read against the noise of
the measurement itself.
"""

from __future__ import annotations

import numpy as np
import torch

from actot.data.sampler import CoTrainData, frames_at
from actot.data.video import resize_frames
from actot.policy.act import ACT, TemporalEnsembler
from actot.sim.config import SimConfig
from actot.sim.generate import source_env, target_env
from actot.sim.task import in_region, sample_initial_states

EVAL_SEED = 12345  # closed-loop episodes' initial states and noise: one fixed set shared by every trial


def eval_frame_refs(data: CoTrainData, max_frames: int) -> tuple[list[dict], np.ndarray]:
    """Evenly spaced (episode, frame) refs over the held-out target demos (training ones if none)."""
    episodes = data.tgt_eval or data.tgt_train
    refs = np.array([(e, f) for e, ep in enumerate(episodes) for f in range(len(ep["state"]))])
    if len(refs) > max_frames:
        refs = refs[np.linspace(0, len(refs) - 1, max_frames).round().astype(int)]
    return episodes, refs


def to_tensors(batch: dict, device: torch.device) -> dict:
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device, non_blocking=True)
            for k, v in batch.items() if isinstance(v, np.ndarray)}


@torch.no_grad()
def eval_l1(model: ACT, data: CoTrainData, chunk_size: int, device: torch.device, max_frames: int = 256,
            batch_size: int = 64) -> dict[str, float]:
    """Offline L1 on held-out target demos: {'eval/avg_l1', 'eval/avg_l1_se'}.

    The L1 (normalised action units, latent 0, padded steps excluded) is averaged per episode
    first; avg_l1 is the mean over episodes and avg_l1_se its standard error across episodes
    (0 with a single episode), so a difference between trials can be read against it.
    """
    was_training = model.training
    model.eval()
    episodes, refs = eval_frame_refs(data, max_frames)
    per_episode = torch.zeros(len(episodes), 2, device=device)  # [sum of |error|, valid values]: read once
    for start in range(0, len(refs), batch_size):
        rows = refs[start:start + batch_size]
        batch = to_tensors(frames_at(episodes, data.cameras, rows, chunk_size), device)
        actions, _, _ = model(batch)
        valid = (~batch["action_is_pad"]).unsqueeze(-1).float()
        error = ((actions.float() - batch["action"]).abs() * valid).sum(dim=(1, 2))
        count = valid.sum(dim=(1, 2)) * actions.shape[-1]
        per_episode.index_add_(0, torch.from_numpy(rows[:, 0]).to(device), torch.stack([error, count], 1))
    model.train(was_training)
    sums = per_episode.cpu().numpy()
    l1 = sums[sums[:, 1] > 0, 0] / sums[sums[:, 1] > 0, 1]
    se = float(l1.std(ddof=1) / np.sqrt(len(l1))) if len(l1) > 1 else 0.0
    return {"eval/avg_l1": float(l1.mean()), "eval/avg_l1_se": se}


def eval_avg_l1(model: ACT, data: CoTrainData, chunk_size: int, device: torch.device, max_frames: int = 256) -> float:
    """`eval_l1`'s mean alone."""
    return eval_l1(model, data, chunk_size, device, max_frames)["eval/avg_l1"]


def eval_layouts(n_episodes: int, seed: int = EVAL_SEED) -> np.ndarray:
    """The fixed initial states of closed-loop evaluation: the whole task, the same for every trial."""
    return sample_initial_states(np.random.default_rng(seed), n_episodes)


def success_metrics(success: np.ndarray, covered: np.ndarray) -> dict[str, float]:
    """eval/success and its covered/uncovered parts, each with a binomial standard error (_se)."""
    out = {}
    for name, mask in (("eval/success", np.ones_like(covered)), ("eval/success_covered", covered),
                       ("eval/success_uncovered", ~covered)):
        if mask.any():
            out.update(binomial(name, success[mask]))
    return out


def binomial(name: str, success: np.ndarray) -> dict[str, float]:
    """{name: the success rate, name_se: its binomial standard error}."""
    p = float(success.mean())
    return {name: p, name + "_se": float(np.sqrt(p * (1.0 - p) / len(success)))}


def make_ensembler(cfg) -> TemporalEnsembler | None:
    """Temporal ensembling when `temporal_ensemble_coeff` is set (0 included: a uniform average)."""
    return None if cfg.temporal_ensemble_coeff is None else TemporalEnsembler(cfg.temporal_ensemble_coeff, cfg.chunk_size)


@torch.no_grad()
def rollout_metrics(model: ACT, data: CoTrainData, device: torch.device, spec: SimConfig, n_episodes: int,
                    seed: int = EVAL_SEED, domain: str = "target") -> dict[str, float]:
    """Closed-loop success on the embedded sim, all episodes at once.

    Episodes start from `eval_layouts(n_episodes, seed)`: goals over the whole task. In the target
    domain: `success_metrics`, split into covered (inside the target demos' region) and uncovered.
    In the source domain (`domain="source"`, the same episodes): `eval/success_source` and its _se,
    whether the task was learnt at all, apart from whether it transferred. The env renders as the
    dataset was rendered (`target_env`/`source_env`: same style, size and lossless frames) and its
    frames go through the loader's resize, so the policy sees in closed loop what it was trained on.
    """
    cfg = model.cfg
    was_training = model.training
    model.eval()
    size = tuple(data.target.frame_size)
    env = (target_env if domain == "target" else source_env)(spec, n_episodes, seed, freeze_finished=True)
    obs = env.reset(eval_layouts(n_episodes, seed))
    normaliser = data.normaliser
    # An exported policy's select_action (actot/export.py) runs this loop; tests/test_export.py checks that its
    # actions are these, bit for bit: change both together.
    ensembler = make_ensembler(cfg)
    queue: list[np.ndarray] = []
    done = False
    while not done:
        if ensembler is not None or not queue:
            batch = {"state": normaliser.norm_state(obs["observation.state"])}
            if data.cameras:
                batch["images"] = np.stack([resize_frames(obs[c], size) for c in data.cameras], axis=1)
            chunk, _, _ = model(to_tensors(batch, device))
            if ensembler is not None:
                queue = [ensembler.update(chunk.float()).cpu().numpy()]
            else:
                queue = list(chunk.float().cpu().numpy().transpose(1, 0, 2)[: cfg.n_action_steps])
        action = normaliser.unnorm_action(queue.pop(0))
        # Frames only for the steps the policy looks at (a new chunk; every step when ensembling): drawing
        # them is most of a rollout's time, and the frames it does see are the same either way.
        obs, success, done = env.step(action, render=ensembler is not None or not queue)
    model.train(was_training)
    if domain == "source":
        return binomial("eval/success_source", success)
    return success_metrics(success, in_region(env.init[:, 2:4], spec.target_region))
