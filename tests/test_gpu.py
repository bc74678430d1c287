"""CUDA checks: the solver on the GPU matches POT, and a bf16 training step runs. Skipped without CUDA."""

import math

import numpy as np
import ot
import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_solver_on_gpu_matches_pot():
    from actot.ot import diagonal_prior, sinkhorn_unbalanced

    M = torch.rand(4, 32, 32, dtype=torch.float64) * 2
    c = diagonal_prior(32, "soft", dtype=torch.float64)
    ours = sinkhorn_unbalanced(M.cuda(), 0.5, (5.0, 2.0), c=c.cuda(), max_iters=20000, tol=1e-12, check_every=10).cpu()
    for i in range(4):
        ref = ot.unbalanced.sinkhorn_unbalanced(
            np.full(32, 1 / 32),
            np.full(32, 1 / 32),
            M[i].numpy(),
            0.5,
            (5.0, 2.0),
            c=c.numpy(),
            numItermax=100000,
            stopThr=1e-15,
        )
        assert np.abs(ours[i].numpy() - ref).max() < 1e-6


def test_bf16_training_steps_on_gpu(small_sim, tmp_path):
    from actot.config import parse_cli
    from actot.train import train

    source, target = small_sim
    cfg = parse_cli(
        [
            f"data.source={source}",
            f"data.target={target}",
            "data.resolution=32",
            "steps=60",
            "log_every=20",
            "device=cuda",
            "amp=true",
            "rollout_episodes=0",
            "wandb.mode=disabled",
            f"out_dir={tmp_path}",
            "name=gpu",
        ]
    )
    result = train(cfg, progress=False)
    assert result.status == "finished" and all(math.isfinite(v) for v in result.metrics.values())
    assert result.history[-1]["train/l1_loss"] < result.history[1]["train/l1_loss"]  # it learns
