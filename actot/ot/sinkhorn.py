"""Unbalanced Sinkhorn in the log domain, batched over problems, on the tensors' own device.

Solves, for each problem in the batch (Chizat et al. 2016, "Scaling algorithms for unbalanced
transport problems"; POT's `ot.unbalanced.sinkhorn_unbalanced` with reg_type="kl"):

    pi* = argmin_pi <pi, M> + reg * KL(pi | c) + reg_m1 * KL(pi 1 | a) + reg_m2 * KL(pi^T 1 | b)

by the scaling iterations u = (a / K v)^(reg_m1 / (reg_m1 + reg)), v = (b / K^T u)^(reg_m2 / (reg_m2 + reg))
with K = exp(-M / reg) * c, carried out on log u and log v with logsumexp so that small `reg`
or large costs never underflow. `c` is the reference measure (default a b^T); zeros in `c`
forbid those entries exactly (log c = -inf).

Parameters follow POT: `reg_m` is a float or a pair (reg_m1, reg_m2); `inf` keeps that
marginal exact. OTT-JAX writes the same relaxation as tau = reg_m / (reg_m + reg) in (0, 1];
convert with `reg_m_from_ott_tau` / `ott_tau_from_reg_m`. The seed log's `tau` is POT's reg_m.

The iteration count is fixed and no value is read back to the host inside the loop, so a
training step never waits on the GPU. `tol` turns on a convergence check (a host read every
`check_every` iterations) for offline use.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


def reg_m_from_ott_tau(tau: float, reg: float) -> float:
    """POT's reg_m for OTT-JAX's tau in (0, 1]: reg_m = reg * tau / (1 - tau) (tau = 1 -> inf)."""
    return math.inf if tau >= 1.0 else reg * tau / (1.0 - tau)


def ott_tau_from_reg_m(reg_m: float, reg: float) -> float:
    return 1.0 if math.isinf(reg_m) else reg_m / (reg_m + reg)


def _pair(reg_m) -> tuple[float, float]:
    if isinstance(reg_m, (tuple, list)):
        return float(reg_m[0]), float(reg_m[1])
    return float(reg_m), float(reg_m)


def _exponent(reg_m: float, reg: float) -> float:
    return 1.0 if math.isinf(reg_m) else reg_m / (reg_m + reg)


def sinkhorn_unbalanced(M: Tensor, reg: float, reg_m, a: Tensor | None = None, b: Tensor | None = None,
                        c: Tensor | None = None, n_iters: int = 100, tol: float | None = None,
                        check_every: int = 10) -> Tensor:
    """Transport plan(s) for cost M of shape (n, m) or (B, n, m).

    Args:
        M: cost matrices; not differentiated through (pass `M.detach()`).
        reg: entropic regularisation (> 0).
        reg_m: marginal relaxation, a float or (reg_m1, reg_m2); inf = balanced on that side.
        a, b: source and target weights, (n,) / (m,) or batched; default uniform 1/n, 1/m.
        c: reference measure, (n, m) or batched, >= 0; default a b^T.
        n_iters: scaling iterations (fixed: no host synchronisation).
        tol: if given, stop once the largest change of log u and log v is below it.
    Returns:
        pi with M's shape.
    """
    if reg <= 0:
        raise ValueError(f"reg must be > 0, got {reg}")
    n, m = M.shape[-2:]
    batch_shape = M.shape[:-2]
    if a is None:
        a = torch.full((*batch_shape, n), 1.0 / n, dtype=M.dtype, device=M.device)
    if b is None:
        b = torch.full((*batch_shape, m), 1.0 / m, dtype=M.dtype, device=M.device)
    log_a, log_b = a.log(), b.log()
    log_c = (log_a[..., :, None] + log_b[..., None, :]) if c is None else c.to(M.dtype).log()
    log_k = -M / reg + log_c
    reg_m1, reg_m2 = _pair(reg_m)
    fi1, fi2 = _exponent(reg_m1, reg), _exponent(reg_m2, reg)
    log_u = torch.zeros_like(log_a.expand(*batch_shape, n))
    log_v = torch.zeros_like(log_b.expand(*batch_shape, m))
    for i in range(n_iters):
        prev_u, prev_v = log_u, log_v
        lse_rows = torch.logsumexp(log_k + log_v[..., None, :], dim=-1)
        # A row that c forbids entirely carries no mass: keep its scaling finite.
        log_u = torch.where(torch.isfinite(lse_rows), fi1 * (log_a - lse_rows), torch.zeros_like(lse_rows))
        lse_cols = torch.logsumexp(log_k + log_u[..., :, None], dim=-2)
        log_v = torch.where(torch.isfinite(lse_cols), fi2 * (log_b - lse_cols), torch.zeros_like(lse_cols))
        if tol is not None and (i + 1) % check_every == 0:
            change = torch.maximum((log_u - prev_u).abs().max(), (log_v - prev_v).abs().max())
            if change.item() < tol:
                break
    return torch.exp(log_u[..., :, None] + log_k + log_v[..., None, :])


def sinkhorn_unbalanced_pot(M: Tensor, reg: float, reg_m, c: Tensor | None = None, n_iters: int = 1000,
                            stop_thr: float = 1e-6) -> Tensor:
    """The same plans from POT itself, one problem at a time on the CPU (for parity checks)."""
    import ot

    batched = M.dim() == 3
    costs = M.detach().cpu().double().numpy()
    refs = None if c is None else c.detach().cpu().double().numpy()
    if not batched:
        costs = costs[None]
        refs = None if refs is None else refs[None]
    plans = []
    for i, cost in enumerate(costs):
        n, m = cost.shape
        ref = None if refs is None else (refs[i] if refs.ndim == 3 else refs)
        plans.append(ot.unbalanced.sinkhorn_unbalanced(
            np.full(n, 1.0 / n), np.full(m, 1.0 / m), cost, reg, _pair(reg_m), c=ref,
            numItermax=n_iters, stopThr=stop_thr))
    out = torch.as_tensor(np.stack(plans), dtype=M.dtype, device=M.device)
    return out if batched else out[0]
