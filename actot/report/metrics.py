"""What each metric means for a report: which way is better (if any) and its name in English and Chinese.

Only metrics with a direction can be ranked or have a "best": `ot_pi_sum`, `ot_pi_diag`,
`ot_grad_ratio` and `train/grad_norm` have a healthy range, not a better end, so a report gives
their lowest and highest values instead, and `rank` refuses them unless told `mode=`.
The Chinese labels are the seed log's own (../shared/seed/000_*.txt).
"""

from __future__ import annotations

from actot.errors import ActotError

# key: (better, English label, Chinese label); better is "min", "max" or None (no better end).
METRICS: dict[str, tuple[str | None, str, str]] = {
    "train/loss": ("min", "train/loss", "训练总损失"),
    "train/l1_loss": ("min", "train/l1_loss", "训练L1"),
    "eval/avg_l1": ("min", "eval/avg_l1", "离线评估L1"),
    "ot_loss": ("min", "ot_loss", "OT损失"),
    "ot_pi_sum": (None, "ot_pi_sum", "π总和"),
    "ot_pi_diag": (None, "ot_pi_diag", "π对角和"),
    "ot_cost(state)": ("min", "ot_cost(state)", "OT cost(state)"),
    "eval/success": ("max", "eval/success", "闭环成功率"),
    "train/kld_loss": ("min", "train/kld_loss", "训练KL"),
    "ot_loss_embed": ("min", "ot_loss_embed", "OT损失(embedding)"),
    "ot_loss_label": ("min", "ot_loss_label", "OT损失(label)"),
    "ot_sinkhorn_err": ("min", "ot_sinkhorn_err", "Sinkhorn误差"),
    "ot_grad_ratio": (None, "ot_grad_ratio", "OT/BC梯度比"),
    "train/grad_norm": (None, "train/grad_norm", "梯度范数"),
    "ot_align_acc": ("max", "ot_align_acc", "对齐准确率"),
}
# The seed log's seven, in its order; any other metric follows in the order first seen.
SEED_ORDER = ("train/loss", "train/l1_loss", "eval/avg_l1", "ot_loss", "ot_pi_sum", "ot_pi_diag", "ot_cost(state)")

WORDS = {
    "en": {"first": "first", "last": "last", "best": "best", "delta": "Δ", "low": "lowest", "high": "highest"},
    "zh": {"first": "首", "last": "末", "best": "最优", "delta": "Δ", "low": "最低", "high": "最高"},
}


def better(key: str) -> str | None:
    return METRICS[key][0] if key in METRICS else _guess(key)


def _guess(key: str) -> str | None:
    # A metric we do not know yet: losses and errors fall, anything else has no declared direction.
    return "min" if any(w in key for w in ("loss", "l1", "err", "cost")) else None


def label(key: str, lang: str) -> str:
    en, zh = METRICS.get(key, (None, key, key))[1:]
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
