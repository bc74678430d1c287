"""The metric keys a trial reports: what rules may watch and which of them a sweep may optimise.

One list, so that a rule whose `when` names a misspelt metric ("ot_pi_summ < 0.1") is refused
before the sweep starts instead of never firing. `tests/test_sweep_metrics.py` checks that a
real training run reports nothing outside it: a new metric must be added here.
"""

from __future__ import annotations

REPORTED_METRICS = (
    "train/loss", "train/l1_loss", "train/kld_loss", "train/grad_norm",
    "ot_loss", "ot_loss_embed", "ot_loss_label", "ot_pi_sum", "ot_pi_diag", "ot_cost(state)", "ot_true_pair_mass",
    "ot_embed_norm", "ot_embed_shrink", "ot_pair_ratio", "ot_grad_ratio", "ot_sinkhorn_err", "ot_sinkhorn_iters",
    "eval/avg_l1", "eval/avg_l1_se", "eval/success", "eval/success_se", "eval/success_covered",
    "eval/success_covered_se", "eval/success_uncovered", "eval/success_uncovered_se", "eval/success_source",
    "eval/success_source_se", "eval/l1_trend", "train/lr", "time/step_s",
)

# What `metric=` accepts; each is tested as the sweep metric in both modes (tests/test_sweep_metrics.py).
# eval/success is only measured at a trial's last step (closed-loop rollouts); the others at every log.
SWEEP_METRICS = ("eval/avg_l1", "eval/success", "train/loss", "train/l1_loss", "ot_loss", "ot_cost(state)")
