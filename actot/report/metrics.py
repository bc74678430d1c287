"""What each metric means for a report: which way is better (if any) and its name in English and Chinese.

Only metrics with a direction (`actot.metrics`: losses and L1 errors down, success up) can be
ranked or have a "best": the OT diagnostics (`ot_loss`, `ot_pi_sum`, `ot_cost(state)`,
`ot_grad_ratio`, ...) and `train/grad_norm` have a healthy range, not a better end, so a report
gives their lowest and highest values instead, and `rank` refuses them unless told `mode=`.
The Chinese labels are the seed log's own (../shared/seed/000_*.txt).
"""

from __future__ import annotations

from actot.errors import ActotError
from actot.metrics import direction

# key: (English label, Chinese label). Which way is better comes from `actot.metrics` (one source for
# training, sweeps and reports): only outcomes have a better end; the OT diagnostics have none.
METRICS: dict[str, tuple[str, str]] = {
    "train/loss": ("train/loss", "训练总损失"),
    "train/l1_loss": ("train/l1_loss", "训练L1"),
    "eval/avg_l1": ("eval/avg_l1", "离线评估L1"),
    "ot_loss": ("ot_loss", "OT损失"),
    "ot_pi_sum": ("ot_pi_sum", "π总和"),
    "ot_pi_diag": ("ot_pi_diag", "π对角和"),
    "ot_cost(state)": ("ot_cost(state)", "OT cost(state)"),
    "eval/success": ("eval/success", "闭环成功率"),
    "eval/success_source": ("eval/success_source", "源域闭环成功率"),
    "eval/l1_trend": ("eval/l1_trend", "评估L1趋势"),
    "train/lr": ("train/lr", "学习率"),
    "train/kld_loss": ("train/kld_loss", "训练KL"),
    "ot_loss_embed": ("ot_loss_embed", "OT损失(embedding)"),
    "ot_loss_label": ("ot_loss_label", "OT损失(label)"),
    "ot_sinkhorn_err": ("ot_sinkhorn_err", "Sinkhorn误差"),
    "ot_grad_ratio": ("ot_grad_ratio", "OT/BC梯度比"),
    "train/grad_norm": ("train/grad_norm", "梯度范数"),
    "ot_true_pair_mass": ("ot_true_pair_mass", "真实配对质量占比"),
    "ot_embed_norm": ("ot_embed_norm", "embedding范数"),
    "ot_embed_shrink": ("ot_embed_shrink", "embedding收缩比"),
    "ot_pair_ratio": ("ot_pair_ratio", "配对/非配对距离比"),
}
# The seed log's seven, in its order; any other metric follows in the order first seen.
SEED_ORDER = ("train/loss", "train/l1_loss", "eval/avg_l1", "ot_loss", "ot_pi_sum", "ot_pi_diag", "ot_cost(state)")

WORDS = {
    "en": {"first": "first", "last": "last", "best": "best", "delta": "Δ", "low": "lowest", "high": "highest"},
    "zh": {"first": "首", "last": "末", "best": "最优", "delta": "Δ", "low": "最低", "high": "最高"},
}


def better(key: str) -> str | None:
    return direction(key)


def label(key: str, lang: str) -> str:
    en, zh = METRICS.get(key, (key, key))
    return zh if lang == "zh" else en


def ordered(keys) -> list[str]:
    keys = list(dict.fromkeys(keys))
    return [k for k in SEED_ORDER if k in keys] + [k for k in keys if k not in SEED_ORDER]


def direction_for_ranking(metric: str, mode: str | None) -> str:
    """The direction to rank `metric` by: `mode` when given, else the metric's own; never a guess for a range."""
    if mode is not None:
        if mode not in ("min", "max"):
            raise ActotError(f"command line: mode={mode!r} must be min or max")
        return mode
    direction = better(metric)
    if direction is None:
        raise ActotError(f"command line: metric={metric} has a healthy range, not a better end, so it cannot be "
                         f"ranked as it is; pass mode=min or mode=max to rank it anyway, or rank by eval/avg_l1")
    return direction
