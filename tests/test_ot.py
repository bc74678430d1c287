"""The OT math against POT (the reference), the closed-form hard prior, convergence, the loss's terms and metrics.

No model, no Ray.
"""

import math

import numpy as np
import ot
import pytest
import torch

from actot.ot import (
    OTConfig,
    diagonal_plan,
    diagonal_prior,
    make_label,
    ot_loss,
    ott_tau_from_reg_m,
    reg_m_from_ott_tau,
    sinkhorn_unbalanced,
    sinkhorn_unbalanced_pot,
)


def pot_converged(M: torch.Tensor, reg, tau, c=None, iters=200000) -> np.ndarray:
    n, m = M.shape
    return ot.unbalanced.sinkhorn_unbalanced(
        np.full(n, 1 / n),
        np.full(m, 1 / m),
        M.numpy(),
        reg,
        tau,
        c=None if c is None else c.numpy(),
        method="sinkhorn",
        numItermax=iters,
        stopThr=1e-15,
    )


GRID = [
    (n, m, reg, tau, h)
    for n, m in [(5, 7), (32, 32)]
    for reg in [0.05, 0.5, 2.0]
    for tau in [0.5, 5.0, 20.0, (1.0, math.inf)]
    for h in ["none", "soft", "hard"]
    if h == "none" or n == m
]
# reg / tau down to 1e-3, and 256 x 256 problems.
GRID += [
    (32, 32, 0.001, 1.0, "none"),
    (32, 32, 0.01, 1.0, "soft"),
    (32, 32, 0.01, 10.0, "none"),
    (256, 256, 0.01, 1.0, "none"),
    (256, 256, 0.01, 10.0, "none"),
    (256, 256, 0.5, 5.0, "soft"),
]


@pytest.mark.parametrize("n,m,reg,tau,heuristic", GRID)
def test_plan_matches_converged_pot_float64(n, m, reg, tau, heuristic):
    gen = torch.Generator().manual_seed(n * 100 + m)
    M = torch.rand(n, m, generator=gen, dtype=torch.float64) * 2
    c = diagonal_prior(n, heuristic, dtype=torch.float64)
    ours, info = sinkhorn_unbalanced(M, reg, tau, c=c, max_iters=50000, tol=1e-11, check_every=10, return_info=True)
    ref = pot_converged(M, reg, tau, c, iters=200000 if n <= 32 else 30000)
    assert np.abs(ours.numpy() - ref).max() < 1e-6
    assert float(info.err.max()) <= 1e-11 and info.iterations < 50000


def test_default_solve_converges_where_100_fixed_iterations_did_not():
    # reg << tau: plain unbalanced Sinkhorn moves the plan's mass slowly. The old solver ran
    # 100 iterations; the mass was off by about 1 % against a converged POT.
    M = torch.rand(32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    ref_mass = pot_converged(M, 0.01, 1.0).sum()
    old = sinkhorn_unbalanced(M, 0.01, 1.0, max_iters=100, tol=None, translate=False)
    assert abs(float(old.sum()) / ref_mass - 1) > 5e-3
    new, info = sinkhorn_unbalanced(M, 0.01, 1.0, max_iters=5000, return_info=True)  # default tol 1e-6
    assert abs(float(new.sum()) / ref_mass - 1) < 1e-5 and float(info.err) <= 1e-6


def test_translation_step_cuts_iterations_and_keeps_the_fixed_point():
    M = torch.rand(32, 32, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2
    fast, fast_info = sinkhorn_unbalanced(M, 0.05, 5.0, max_iters=20000, tol=1e-10, check_every=10, return_info=True)
    slow, slow_info = sinkhorn_unbalanced(
        M, 0.05, 5.0, max_iters=20000, tol=1e-10, check_every=10, translate=False, return_info=True
    )
    assert torch.allclose(fast, slow, atol=1e-9)
    assert fast_info.iterations * 4 < slow_info.iterations


def test_err_reports_a_solve_stopped_by_the_cap():
    M = torch.rand(32, 32, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 2
    _, info = sinkhorn_unbalanced(M, 0.001, 1.0, max_iters=50, tol=1e-6, return_info=True)
    assert info.iterations == 50 and float(info.err) > 1e-6


def test_batched_equals_one_by_one_and_pot_solver():
    M = torch.rand(6, 8, 8, dtype=torch.float64)
    batched = sinkhorn_unbalanced(M, 0.3, (5.0, 2.0), max_iters=3000, tol=1e-14, check_every=10)
    for i in range(6):
        single = sinkhorn_unbalanced(M[i], 0.3, (5.0, 2.0), max_iters=3000, tol=1e-14, check_every=10)
        assert torch.allclose(batched[i], single, atol=1e-12)
    via_pot, info = sinkhorn_unbalanced_pot(M, 0.3, (5.0, 2.0), n_iters=100000, stop_thr=1e-15, return_info=True)
    assert torch.allclose(batched, via_pot, atol=1e-6) and float(info.err.max()) < 1e-8


def test_small_reg_stays_finite_where_linear_domain_underflows():
    M = torch.rand(16, 16, dtype=torch.float64) * 50
    pi = sinkhorn_unbalanced(M, 1e-3, 1.0, max_iters=200)
    assert torch.isfinite(pi).all() and pi.sum() > 0


def test_ott_tau_conversion_round_trips():
    assert reg_m_from_ott_tau(ott_tau_from_reg_m(5.0, 0.5), 0.5) == pytest.approx(5.0)
    assert reg_m_from_ott_tau(1.0, 0.5) == math.inf


@pytest.mark.parametrize(
    "reg,tau", [(2.0, (10.0, 10.0)), (0.01, (1.0, 1.0)), (0.5, (3.0, 0.2)), (1.0, (math.inf, 2.0))]
)
def test_hard_prior_closed_form_equals_iterative_solver_and_pot(reg, tau):
    n = 24
    M = torch.rand(n, n, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 3
    c = diagonal_prior(n, "hard", dtype=torch.float64)
    closed = torch.diag_embed(diagonal_plan(torch.diagonal(M), reg, tau))
    iterative = sinkhorn_unbalanced(M, reg, tau, c=c, max_iters=20000, tol=1e-14, check_every=10)
    assert torch.allclose(closed, iterative, atol=1e-10, rtol=0)
    assert np.abs(closed.numpy() - pot_converged(M, reg, tau, c)).max() < 1e-10


def test_under_the_hard_prior_only_reg_plus_both_taus_matters():
    diag = torch.rand(16, dtype=torch.float64) * 40
    plans = [
        diagonal_plan(diag, reg, tau)
        for reg, tau in [(2.0, (10.0, 10.0)), (4.0, (9.0, 9.0)), (22.0 - 2e-4, (1e-4, 1e-4))]
    ]
    assert torch.allclose(plans[0], plans[1], atol=1e-14) and torch.allclose(plans[0], plans[2], atol=1e-12)
    assert torch.allclose(plans[0], torch.exp(-diag / 22.0) / 16, atol=1e-15)


def _inputs(n=12, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    z_src, z_tgt = torch.randn(n, k, 16, generator=g), torch.randn(n, k, 16, generator=g)
    lab_src, lab_tgt = torch.randn(n, 6, generator=g), torch.randn(n, 6, generator=g)
    return z_src, z_tgt, lab_src, lab_tgt, lab_src[:, :4], lab_tgt[:, :4]


def test_cost_is_the_references_squared_euclidean_distance():
    z_src, z_tgt, lab_src, lab_tgt, s_src, s_tgt = _inputs()
    cfg = OTConfig(reg=1.0, tau=[5.0, 5.0], heuristic="none", weight_embed=[0.5, 1.0, 2.0], weight_label=0.3)
    loss, metrics = ot_loss(cfg, z_src, z_tgt, lab_src, lab_tgt, s_src, s_tgt)
    M = sum(w * torch.cdist(z_src[:, i], z_tgt[:, i]) ** 2 for i, w in enumerate((0.5, 1.0, 2.0)))
    M = M + 0.3 * torch.cdist(lab_src, lab_tgt) ** 2
    pi = sinkhorn_unbalanced(M.double(), 1.0, 5.0, max_iters=5000, tol=1e-12).float()
    assert float(loss) == pytest.approx(float((pi * M).sum()), rel=1e-4)
    assert float(metrics["ot_loss"]) == pytest.approx(
        float(metrics["ot_loss_embed"] + metrics["ot_loss_label"]), rel=1e-6
    )
    assert float(metrics["ot_loss_label"]) > 0


def test_label_term_carries_no_gradient_and_embed_term_does():
    z_src, z_tgt, lab_src, lab_tgt, s_src, s_tgt = _inputs()
    z_src.requires_grad_(True)
    lab_src.requires_grad_(True)
    cfg = OTConfig(reg=2.0, tau=[10.0, 10.0], heuristic="hard", weight_label=1.0)
    loss, _ = ot_loss(cfg, z_src, z_tgt, make_label("state", lab_src, lab_src[:, None]), lab_tgt, s_src, s_tgt)
    loss.backward()
    assert z_src.grad.abs().sum() > 0 and lab_src.grad is None


def test_hard_heuristic_puts_all_mass_on_the_diagonal_with_no_iterations():
    _, metrics = ot_loss(OTConfig(reg=1.0, tau=[5.0, 5.0], heuristic="hard", weight_label=0.1), *_inputs())
    assert float(metrics["ot_pi_sum"]) == pytest.approx(float(metrics["ot_pi_diag"]), rel=1e-6)
    assert float(metrics["ot_sinkhorn_iters"]) == 0 and float(metrics["ot_sinkhorn_err"]) == 0


def test_soft_heuristic_spreads_mass_off_the_diagonal():
    z_src, z_tgt, *rest = _inputs()
    cfg = OTConfig(reg=20.0, tau=[100.0, 100.0], heuristic="soft", weight_label=0.1)
    _, metrics = ot_loss(cfg, z_src, z_tgt, *rest)
    assert 0.05 < float(metrics["ot_pi_diag"]) / float(metrics["ot_pi_sum"]) < 0.95
    assert float(metrics["ot_sinkhorn_err"]) <= 1e-6 and float(metrics["ot_sinkhorn_iters"]) > 0


@pytest.mark.parametrize("heuristic", ["hard", "soft", "none"])
@pytest.mark.parametrize("weight_label", [0.0, 0.1])
@pytest.mark.parametrize("cost", ["sqeuclidean", "normalised"])
def test_no_nan_metric_in_any_mode_embed_only_included(heuristic, weight_label, cost):
    z_src, z_tgt, *rest = _inputs()
    z_src.requires_grad_(True)
    cfg = OTConfig(
        reg=0.01, tau=[1.0, 1.0], heuristic=heuristic, weight_embed=[1 / 3], weight_label=weight_label, cost=cost
    )
    loss, metrics = ot_loss(cfg, z_src, z_tgt, *rest, true_pair=torch.eye(12, dtype=torch.bool))
    assert all(math.isfinite(float(v)) for v in metrics.values()), metrics
    assert {"ot_loss_embed", "ot_loss_label", "ot_sinkhorn_err", "ot_true_pair_mass"} <= set(metrics)
    loss.backward()
    assert torch.isfinite(z_src.grad).all()


def test_plan_is_solved_on_detached_cost():
    z_src, z_tgt, *rest = _inputs()
    z_src.requires_grad_(True)
    cfg = OTConfig(reg=10.0, tau=[50.0, 50.0], heuristic="none")
    loss, _ = ot_loss(cfg, z_src, z_tgt, *rest)
    loss.backward()
    z = z_src.detach().clone().requires_grad_(True)
    M = sum(torch.cdist(z[:, i], z_tgt[:, i]) ** 2 for i in range(3))
    pi = sinkhorn_unbalanced(M.detach(), 10.0, (50.0, 50.0))
    (pi * M).sum().backward()
    assert torch.allclose(z.grad, z_src.grad, atol=1e-4)


def test_pot_solver_gives_same_loss():
    args = _inputs()
    a, _ = ot_loss(OTConfig(reg=20.0, tau=[100.0, 100.0], heuristic="soft", tol=1e-9), *args)
    b, metrics = ot_loss(OTConfig(reg=20.0, tau=[100.0, 100.0], heuristic="soft", solver="pot", tol=1e-12), *args)
    assert float(a) == pytest.approx(float(b), rel=1e-4) and math.isfinite(float(metrics["ot_sinkhorn_err"]))


def test_normalised_cost_is_scale_free_and_sqeuclidean_is_not():
    z_src, z_tgt, *rest = _inputs()
    for cost, scale_free in (("normalised", True), ("sqeuclidean", False)):
        cfg = OTConfig(reg=0.5, tau=[2.0, 2.0], heuristic="hard", weight_label=0.5, cost=cost)
        _, small = ot_loss(cfg, z_src, z_tgt, *rest)
        _, large = ot_loss(cfg, 3 * z_src, 3 * z_tgt, *rest)
        same = float(small["ot_pi_sum"]) == pytest.approx(float(large["ot_pi_sum"]), rel=1e-4)
        assert same == scale_free


def test_l2_embed_norm_makes_the_loss_blind_to_the_embeddings_scale():
    z_src, z_tgt, *rest = _inputs()
    for norm, scale_free in (("l2", True), ("none", False)):
        cfg = OTConfig(reg=0.5, tau=[2.0, 2.0], heuristic="hard", embed_norm=norm)
        small, _ = ot_loss(cfg, 0.1 * z_src, 0.1 * z_tgt, *rest)
        large, _ = ot_loss(cfg, z_src, z_tgt, *rest)
        assert (float(small) == pytest.approx(float(large), rel=1e-4)) == scale_free
    # unit vectors: every squared distance lies in [0, 4], so the loss does too
    cfg = OTConfig(reg=0.01, tau=[1.0, 1.0], heuristic="none", embed_norm="l2", weight_embed=[1 / 3])
    loss, _ = ot_loss(cfg, 50 * z_src, z_tgt, *rest)
    assert 0.0 < float(loss) <= 4.0


def test_embedding_geometry_tells_shrinking_from_aligning():
    z_src, z_tgt, *rest = _inputs()
    cfg = OTConfig(reg=0.5, tau=[2.0, 2.0])
    _, base = ot_loss(cfg, z_src, z_tgt, *rest)
    _, shrunk = ot_loss(cfg, 0.1 * z_src, 0.1 * z_tgt, *rest)
    assert float(shrunk["ot_embed_norm"]) == pytest.approx(0.1 * float(base["ot_embed_norm"]), rel=1e-5)
    assert float(shrunk["ot_pair_ratio"]) == pytest.approx(float(base["ot_pair_ratio"]), rel=1e-4)
    assert float(base["ot_pair_ratio"]) == pytest.approx(1.0, abs=0.2)  # random pairs: no closer than strangers
    _, aligned = ot_loss(cfg, z_src, z_src + 1e-3 * z_tgt, *rest)
    assert float(aligned["ot_pair_ratio"]) < 1e-3
    # every embedding one point: nothing tells pairs from strangers (1, not 0 or NaN)
    _, same = ot_loss(cfg, torch.ones_like(z_src), torch.ones_like(z_tgt), *rest)
    assert float(same["ot_pair_ratio"]) == 1.0
    # cameras weighted as in the cost: a zero-weight camera that pairs perfectly does not count
    mixed_tgt = z_tgt.clone()
    mixed_tgt[:, 0] = z_src[:, 0]
    _, ignored = ot_loss(OTConfig(reg=0.5, tau=[2.0, 2.0], weight_embed=[0.0, 1.0, 1.0]), z_src, mixed_tgt, *rest)
    _, counted = ot_loss(cfg, z_src, mixed_tgt, *rest)
    assert float(counted["ot_pair_ratio"]) < float(ignored["ot_pair_ratio"])


def test_pair_ratio_is_read_where_the_cost_compares():
    """Under embed_norm=l2 a pair that points the same way costs nothing however long each vector is: the
    ratio must say so (raw distances would call such pairs strangers), while ot_embed_norm stays the raw size."""
    z_src, z_tgt, *rest = _inputs()
    lengths = torch.rand(z_src.shape[0], 1, 1) * 10 + 0.1
    stretched = z_src.abs() * lengths  # each source row's direction, at another length
    _, unit = ot_loss(OTConfig(reg=0.5, tau=[2.0, 2.0], embed_norm="l2"), z_src.abs(), stretched, *rest)
    _, raw = ot_loss(OTConfig(reg=0.5, tau=[2.0, 2.0], embed_norm="none"), z_src.abs(), stretched, *rest)
    assert float(unit["ot_pair_ratio"]) < 1e-6 < 0.1 < float(raw["ot_pair_ratio"])
    assert float(unit["ot_embed_norm"]) == pytest.approx(float(raw["ot_embed_norm"]))


def test_make_label_kinds_and_dims():
    state = torch.arange(8.0).view(2, 4)
    action = torch.arange(2 * 3 * 5.0).view(2, 3, 5)
    assert torch.equal(make_label("first_action", state, action), action[:, 0])
    assert torch.equal(make_label("action_chunk", state, action, (1, 3)), action[:, :, 1:3].flatten(1))
    assert make_label("action_chunk", state, action).shape == (2, 15)
    assert torch.equal(make_label("state", state, action, (0, 2)), state[:, :2])
    assert torch.equal(make_label("state_first_action", state, action), torch.cat([state, action[:, 0]], 1))
    with pytest.raises(ValueError):
        make_label("ee_pos", state, action)
