"""Unbalanced Sinkhorn in the log domain, batched over problems, on the tensors' own device.

Solves, for each problem in the batch (Chizat et al. 2016, "Scaling algorithms for unbalanced
transport problems"; POT's `ot.unbalanced.sinkhorn_unbalanced` with reg_type="kl"):

    pi* = argmin_pi <pi, M> + reg * KL(pi | c) + reg_m1 * KL(pi 1 | a) + reg_m2 * KL(pi^T 1 | b)

by the scaling iterations u = (a / K v)^(reg_m1 / (reg_m1 + reg)), v = (b / K^T u)^(reg_m2 / (reg_m2 + reg))
with K = exp(-M / reg) * c, carried out on log u and log v with logsumexp so that small `reg`
or large costs never underflow. `c` is the reference measure (default a b^T); zeros in `c`
forbid those entries exactly (log c = -inf).

Plain unbalanced Sinkhorn contracts at rate reg_m / (reg_m + reg): with reg << reg_m (say
reg / reg_m = 1e-3) it needs tens of thousands of iterations, because the total mass moves only
slowly. After each pair of updates we therefore also take the exact best translation
(f + t, g - t) of the dual potentials f = reg log u, g = reg log v, which leaves the entropic
term unchanged and fixes the mass in one step (the idea of Sejourne, Vialard and Peyre 2023,
"Faster unbalanced optimal transport: translation invariant Sinkhorn and 1-D Frank-Wolfe").
Each step still increases the dual, so the fixed point, the plan, is POT's.

Convergence: the marginal error `err` is the relative L1 gap between each marginal of the
current plan and the marginal the next scaling update would give it (for a balanced side, the
gap to a or b itself), the larger of the two sides. The loop stops once err <= tol, checking
every `check_every` iterations (one host read per check, so a GPU step that converges within
the first check syncs once), or after `max_iters`. `tol=None` runs exactly `max_iters`
iterations and never reads back.

Parameters follow POT: `reg_m` is a float or a pair (reg_m1, reg_m2); `inf` keeps that
marginal exact. OTT-JAX writes the same relaxation as tau = reg_m / (reg_m + reg) in (0, 1];
convert with `reg_m_from_ott_tau` / `ott_tau_from_reg_m`. The seed log's `tau` is POT's reg_m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


def reg_m_from_ott_tau(tau: float, reg: float) -> float:
    """POT's reg_m for OTT-JAX's tau in (0, 1]: reg_m = reg * tau / (1 - tau) (tau = 1 -> inf)."""
    return math.inf if tau >= 1.0 else reg * tau / (1.0 - tau)


def ott_tau_from_reg_m(reg_m: float, reg: float) -> float:
    return 1.0 if math.isinf(reg_m) else reg_m / (reg_m + reg)


def pair(reg_m) -> tuple[float, float]:
    if isinstance(reg_m, (tuple, list)):
        return float(reg_m[0]), float(reg_m[1])
    return float(reg_m), float(reg_m)


def _exponent(reg_m: float, reg: float) -> float:
    return 1.0 if math.isinf(reg_m) else reg_m / (reg_m + reg)


@dataclass
class SolveInfo:
    """How a solve ended: iterations run and the marginal error at exit (a tensor per problem)."""

    iterations: int
    err: Tensor


def _translation(
    log_u: Tensor, log_v: Tensor, log_a: Tensor, log_b: Tensor, reg: float, reg_m1: float, reg_m2: float
) -> Tensor:
    """The dual translation t maximising the marginal terms of D(f + t, g - t), in units of reg."""
    if math.isinf(reg_m1) and math.isinf(reg_m2):
        return torch.zeros_like(log_u[..., :1])
    side_a = torch.logsumexp(log_a if math.isinf(reg_m1) else log_a - reg * log_u / reg_m1, dim=-1, keepdim=True)
    side_b = torch.logsumexp(log_b if math.isinf(reg_m2) else log_b - reg * log_v / reg_m2, dim=-1, keepdim=True)
    if math.isinf(reg_m1):
        scale = reg_m2
    elif math.isinf(reg_m2):
        scale = reg_m1
    else:
        scale = reg_m1 * reg_m2 / (reg_m1 + reg_m2)
    t = scale * (side_a - side_b) / reg
    return torch.where(torch.isfinite(t), t, torch.zeros_like(t))


def _side_error(log_scale: Tensor, lse: Tensor, log_target: Tensor, fi: float) -> Tensor:
    """Relative L1 gap between a marginal (scale * K.) and the one the next update gives it."""
    now = (log_scale + lse).exp()
    nxt = (fi * (log_target - lse) + lse).exp()
    ok = torch.isfinite(lse)
    gap = torch.where(ok, (now - nxt).abs(), torch.zeros_like(now)).sum(-1)
    mass = torch.where(ok, now, torch.zeros_like(now)).sum(-1)
    return gap / mass.clamp_min(torch.finfo(now.dtype).tiny)


def sinkhorn_unbalanced(
    M: Tensor,
    reg: float,
    reg_m,
    a: Tensor | None = None,
    b: Tensor | None = None,
    c: Tensor | None = None,
    max_iters: int = 1000,
    tol: float | None = 1e-6,
    check_every: int = 50,
    translate: bool = True,
    return_info: bool = False,
) -> Tensor | tuple[Tensor, SolveInfo]:
    """Transport plan(s) for cost M of shape (n, m) or (B, n, m).

    Args:
        M: cost matrices; not differentiated through (pass `M.detach()`).
        reg: entropic regularisation (> 0).
        reg_m: marginal relaxation, a float or (reg_m1, reg_m2); inf = balanced on that side.
        a, b: source and target weights, (n,) / (m,) or batched; default uniform 1/n, 1/m.
        c: reference measure, (n, m) or batched, >= 0; default a b^T.
        max_iters: iteration cap.
        tol: stop once the marginal error (module docstring) is <= tol; None: run max_iters, no sync.
        check_every: iterations between two convergence checks.
        translate: take the dual translation step (much faster when reg << reg_m; same fixed point).
        return_info: also return a `SolveInfo` (iterations, marginal error at exit per problem).
    Returns:
        pi with M's shape (and the SolveInfo when asked).
    """
    if reg <= 0:
        raise ValueError(f"reg must be > 0, got {reg}")
    n, m = M.shape[-2:]
    batch_shape = M.shape[:-2]
    if a is None:
        a = torch.full((*batch_shape, n), 1.0 / n, dtype=M.dtype, device=M.device)
    if b is None:
        b = torch.full((*batch_shape, m), 1.0 / m, dtype=M.dtype, device=M.device)
    log_a, log_b = a.to(M.dtype).log(), b.to(M.dtype).log()
    log_c = (log_a[..., :, None] + log_b[..., None, :]) if c is None else c.to(M.dtype).log()
    log_k = -M / reg + log_c
    reg_m1, reg_m2 = pair(reg_m)
    fi1, fi2 = _exponent(reg_m1, reg), _exponent(reg_m2, reg)
    translate = translate and not (math.isinf(reg_m1) and math.isinf(reg_m2))
    log_u = torch.zeros_like(log_a.expand(*batch_shape, n))
    log_v = torch.zeros_like(log_b.expand(*batch_shape, m))
    iterations = 0
    for iterations in range(1, max_iters + 1):
        lse_rows = torch.logsumexp(log_k + log_v[..., None, :], dim=-1)
        # A row that c forbids entirely carries no mass: keep its scaling finite.
        log_u = torch.where(torch.isfinite(lse_rows), fi1 * (log_a - lse_rows), torch.zeros_like(lse_rows))
        lse_cols = torch.logsumexp(log_k + log_u[..., :, None], dim=-2)
        log_v = torch.where(torch.isfinite(lse_cols), fi2 * (log_b - lse_cols), torch.zeros_like(lse_cols))
        if translate:
            t = _translation(log_u, log_v, log_a, log_b, reg, reg_m1, reg_m2)
            log_u, log_v = log_u + t, log_v - t
        if tol is not None and iterations % check_every == 0:
            if float(_errors(log_k, log_u, log_v, log_a, log_b, fi1, fi2).max()) <= tol:
                break
    pi = torch.exp(log_u[..., :, None] + log_k + log_v[..., None, :])
    if not return_info:
        return pi
    return pi, SolveInfo(iterations, _errors(log_k, log_u, log_v, log_a, log_b, fi1, fi2))


def _errors(log_k, log_u, log_v, log_a, log_b, fi1, fi2) -> Tensor:
    lse_rows = torch.logsumexp(log_k + log_v[..., None, :], dim=-1)
    lse_cols = torch.logsumexp(log_k + log_u[..., :, None], dim=-2)
    return torch.maximum(_side_error(log_u, lse_rows, log_a, fi1), _side_error(log_v, lse_cols, log_b, fi2))


def diagonal_plan(
    diag_cost: Tensor, reg: float, reg_m, a: Tensor | None = None, b: Tensor | None = None, c_diag: Tensor | None = None
) -> Tensor:
    """The plan's diagonal in closed form when the reference measure c is diagonal (heuristic=hard).

    With c = diag(c_ii) every off-diagonal entry of pi is 0 and the problem splits into n
    one-entry problems; setting the derivative of each to zero gives

        log pi_ii = (reg log c_ii + reg_m1 log a_i + reg_m2 log b_i - M_ii) / (reg + reg_m1 + reg_m2)

    (uniform a = b = c_ii = 1/n: pi_ii = exp(-M_ii / (reg + reg_m1 + reg_m2)) / n). A balanced
    side (reg_m = inf) pins pi_ii to its weight. Only reg + reg_m1 + reg_m2 matters.
    diag_cost: (..., n) the costs M_ii. Returns (..., n), the diagonal of pi.
    """
    n = diag_cost.shape[-1]
    uniform = torch.full_like(diag_cost, 1.0 / n)
    a = uniform if a is None else a.to(diag_cost.dtype)
    b = uniform if b is None else b.to(diag_cost.dtype)
    c_diag = uniform if c_diag is None else c_diag.to(diag_cost.dtype)
    reg_m1, reg_m2 = pair(reg_m)
    if math.isinf(reg_m1):
        return a.clone()
    if math.isinf(reg_m2):
        return b.clone()
    total = reg + reg_m1 + reg_m2
    return torch.exp((reg * c_diag.log() + reg_m1 * a.log() + reg_m2 * b.log() - diag_cost) / total)


def sinkhorn_unbalanced_pot(
    M: Tensor,
    reg: float,
    reg_m,
    c: Tensor | None = None,
    n_iters: int = 1000,
    stop_thr: float = 1e-6,
    return_info: bool = False,
) -> Tensor | tuple[Tensor, SolveInfo]:
    """The same plans from POT itself, one problem at a time on the CPU (for parity checks).

    With `return_info`, the marginal error is ours (module docstring), from POT's final scalings.
    """
    import ot

    batched = M.dim() == 3
    costs = M.detach().cpu().double().numpy()
    refs = None if c is None else c.detach().cpu().double().numpy()
    if not batched:
        costs = costs[None]
        refs = None if refs is None else refs[None]
    plans, errors, iterations = [], [], 0
    reg_m1, reg_m2 = pair(reg_m)
    for i, cost in enumerate(costs):
        n, m = cost.shape
        ref = None if refs is None else (refs[i] if refs.ndim == 3 else refs)
        a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
        plan, log = ot.unbalanced.sinkhorn_unbalanced(
            a, b, cost, reg, (reg_m1, reg_m2), c=ref, numItermax=n_iters, stopThr=stop_thr, log=True
        )
        plans.append(plan)
        iterations = max(iterations, len(log["err"]))  # POT logs its error once per iteration
        log_c = np.log(np.outer(a, b) if ref is None else ref)
        with np.errstate(divide="ignore"):
            log_k = torch.from_numpy(-cost / reg + log_c)
        errors.append(
            _errors(
                log_k,
                torch.from_numpy(log["logu"]),
                torch.from_numpy(log["logv"]),
                torch.from_numpy(np.log(a)),
                torch.from_numpy(np.log(b)),
                _exponent(reg_m1, reg),
                _exponent(reg_m2, reg),
            )
        )
    out = torch.as_tensor(np.stack(plans), dtype=M.dtype, device=M.device)
    err = torch.stack(errors).to(M.device)
    out, err = (out, err) if batched else (out[0], err[0])
    return (out, SolveInfo(iterations, err)) if return_info else out
