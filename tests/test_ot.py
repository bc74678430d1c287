"""The OT math against POT, the three heuristic modes, and the loss's metrics. No model, no Ray."""

import math

import numpy as np
import ot
import pytest
import torch

from actot.ot import (OTSettings, diagonal_prior, ot_loss, ott_tau_from_reg_m, reg_m_from_ott_tau,
                      sinkhorn_unbalanced, sinkhorn_unbalanced_pot)

GRID = [(n, m, reg, tau, h)
        for n, m in [(5, 7), (32, 32), (16, 16)]
        for reg in [0.05, 0.5, 2.0]
        for tau in [0.5, 5.0, 20.0, (1.0, math.inf)]
        for h in ["none", "soft", "hard"] if h == "none" or n == m]


@pytest.mark.parametrize("n,m,reg,tau,heuristic", GRID)
def test_plan_matches_pot_float64(n, m, reg, tau, heuristic):
    gen = torch.Generator().manual_seed(n * 100 + m)
    M = torch.rand(n, m, generator=gen, dtype=torch.float64) * 2
    c = diagonal_prior(n, heuristic, dtype=torch.float64)
    ours = sinkhorn_unbalanced(M, reg, tau, c=c, n_iters=20000, tol=1e-15)
    ref = ot.unbalanced.sinkhorn_unbalanced(np.full(n, 1 / n), np.full(m, 1 / m), M.numpy(), reg, tau,
                                            c=None if c is None else c.numpy(), numItermax=100000, stopThr=1e-15)
    assert np.abs(ours.numpy() - ref).max() < 1e-6


def test_batched_equals_one_by_one_and_pot_solver():
    M = torch.rand(6, 8, 8, dtype=torch.float64)
    batched = sinkhorn_unbalanced(M, 0.3, (5.0, 2.0), n_iters=3000, tol=1e-14)
    for i in range(6):
        single = sinkhorn_unbalanced(M[i], 0.3, (5.0, 2.0), n_iters=3000, tol=1e-14)
        assert torch.allclose(batched[i], single, atol=1e-12)
    via_pot = sinkhorn_unbalanced_pot(M, 0.3, (5.0, 2.0), n_iters=100000, stop_thr=1e-15)
    assert torch.allclose(batched, via_pot, atol=1e-6)


def test_small_reg_stays_finite_where_linear_domain_underflows():
    M = torch.rand(16, 16, dtype=torch.float64) * 50
    pi = sinkhorn_unbalanced(M, 1e-3, 1.0, n_iters=200)
    assert torch.isfinite(pi).all() and pi.sum() > 0


def test_ott_tau_conversion_round_trips():
    assert reg_m_from_ott_tau(ott_tau_from_reg_m(5.0, 0.5), 0.5) == pytest.approx(5.0)
    assert reg_m_from_ott_tau(1.0, 0.5) == math.inf


def _inputs(n=12, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    z_src, z_tgt = torch.randn(n, k, 16, generator=g), torch.randn(n, k, 16, generator=g)
    lab_src, lab_tgt = torch.randn(n, 6, generator=g), torch.randn(n, 6, generator=g)
    return z_src, z_tgt, lab_src, lab_tgt, lab_src[:, :4], lab_tgt[:, :4]


def test_hard_heuristic_puts_all_mass_on_the_diagonal():
    _, metrics = ot_loss(OTSettings(reg=1.0, tau=(5.0, 5.0), heuristic="hard", weight_label=0.1), *_inputs())
    assert float(metrics["ot_pi_sum"]) == pytest.approx(float(metrics["ot_pi_diag"]), rel=1e-6)


def test_soft_heuristic_spreads_mass_off_the_diagonal():
    _, metrics = ot_loss(OTSettings(reg=1.0, tau=(5.0, 5.0), heuristic="soft", weight_label=0.1), *_inputs())
    assert 0.05 < float(metrics["ot_pi_diag"]) / float(metrics["ot_pi_sum"]) < 0.95


@pytest.mark.parametrize("heuristic", ["hard", "soft", "none"])
@pytest.mark.parametrize("weight_label", [0.0, 0.1])
def test_no_nan_metric_in_any_mode_embed_only_included(heuristic, weight_label):
    z_src, z_tgt, *rest = _inputs()
    z_src.requires_grad_(True)
    settings = OTSettings(reg=0.01, tau=(1.0, 1.0), heuristic=heuristic, weight_embed=(1 / 3,), weight_label=weight_label)
    loss, metrics = ot_loss(settings, z_src, z_tgt, *rest, true_pair=torch.eye(12, dtype=torch.bool))
    assert all(math.isfinite(float(v)) for v in metrics.values()), metrics
    loss.backward()
    assert torch.isfinite(z_src.grad).all() and z_src.grad.abs().sum() > 0


def test_plan_is_solved_on_detached_cost():
    z_src, z_tgt, *rest = _inputs()
    z_src.requires_grad_(True)
    settings = OTSettings(reg=1.0, tau=(5.0, 5.0), heuristic="none", normalise=False)
    loss, metrics = ot_loss(settings, z_src, z_tgt, *rest)
    loss.backward()
    # d/dz of sum(pi * M) with pi fixed: recompute with pi frozen from the same solve.
    from actot.ot.loss import mean_sq_dist
    z = z_src.detach().clone().requires_grad_(True)
    M = sum(mean_sq_dist(z[:, i], z_tgt[:, i]) for i in range(3))
    pi = sinkhorn_unbalanced(M.detach(), 1.0, (5.0, 5.0))
    (pi * M).sum().backward()
    assert torch.allclose(z.grad, z_src.grad, atol=1e-6)


def test_pot_solver_gives_same_loss():
    args = _inputs()
    a, _ = ot_loss(OTSettings(reg=1.0, tau=(5.0, 5.0), heuristic="soft", n_iters=1000), *args)
    b, _ = ot_loss(OTSettings(reg=1.0, tau=(5.0, 5.0), heuristic="soft", solver="pot"), *args)
    assert float(a) == pytest.approx(float(b), rel=1e-4)


def test_normalised_cost_is_scale_free():
    z_src, z_tgt, *rest = _inputs()
    settings = OTSettings(reg=0.5, tau=(2.0, 2.0), heuristic="soft", weight_label=0.5)
    _, small = ot_loss(settings, z_src, z_tgt, *rest)
    _, large = ot_loss(settings, 100 * z_src, 100 * z_tgt, *rest)
    assert float(small["ot_pi_sum"]) == pytest.approx(float(large["ot_pi_sum"]), rel=1e-4)


def test_loss_gradient_fades_as_embeddings_shrink():
    # A loss normalised by the detached mean cost would push harder the smaller the embeddings
    # get (gradient ~ 1 / scale): a runaway collapse. Ours is sum(pi * raw M).
    z_src, z_tgt, *rest = _inputs()
    settings = OTSettings(reg=0.5, tau=(2.0, 2.0), heuristic="hard")
    norms = []
    for scale in (1.0, 0.01):
        z = (scale * z_src).requires_grad_(True)
        loss, _ = ot_loss(settings, z, scale * z_tgt, *rest)
        loss.backward()
        norms.append(float(z.grad.norm()))
    assert norms[1] < 0.1 * norms[0]
