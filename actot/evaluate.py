"""Evaluation of a policy: offline L1 on held-out target episodes, closed-loop success on the sim."""

from __future__ import annotations

import numpy as np
import torch

from actot.data.sampler import CoTrainData, frames_at
from actot.data.video import resize_frames
from actot.policy.act import ACT, TemporalEnsembler
from actot.sim.task import ReachEnv


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
def eval_avg_l1(model: ACT, data: CoTrainData, chunk_size: int, device: torch.device, max_frames: int = 256,
                batch_size: int = 64) -> float:
    """Mean L1 (normalised action units) of the predicted chunk on held-out target frames, latent 0."""
    was_training = model.training
    model.eval()
    episodes, refs = eval_frame_refs(data, max_frames)
    total = torch.zeros(2, device=device)  # [sum of |error|, number of valid action values]: read once
    for start in range(0, len(refs), batch_size):
        batch = to_tensors(frames_at(episodes, data.cameras, refs[start:start + batch_size], chunk_size), device)
        actions, _, _ = model(batch)
        valid = (~batch["action_is_pad"]).unsqueeze(-1).float()
        total += torch.stack([((actions.float() - batch["action"]).abs() * valid).sum(), valid.sum() * actions.shape[-1]])
    model.train(was_training)
    error, count = total.tolist()
    return error / max(count, 1.0)


def make_ensembler(cfg) -> TemporalEnsembler | None:
    """Temporal ensembling when `temporal_ensemble_coeff` is set (0 included: a uniform average)."""
    return None if cfg.temporal_ensemble_coeff is None else TemporalEnsembler(cfg.temporal_ensemble_coeff, cfg.chunk_size)


@torch.no_grad()
def rollout_success(model: ACT, data: CoTrainData, device: torch.device, n_episodes: int, shift: float,
                    seed: int = 12345, domain: str = "target") -> float:
    """Closed-loop success rate on the embedded sim, in `domain`, from fixed initial states."""
    cfg = model.cfg
    was_training = model.training
    model.eval()
    size = tuple(data.target.frame_size)
    env = ReachEnv(n_episodes, domain=domain, shift=shift, seed=seed)
    obs = env.reset()
    normaliser = data.normaliser
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
        obs, success, done = env.step(action)
    model.train(was_training)
    return float(success.mean())
