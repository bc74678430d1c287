"""How a report names and orders metrics, and the fixed words of its tables, in English or Chinese: each
metric's label, the seed log's order of its metric lines, the words of its first / last / best / Δ
columns, the ranked table's headers and statuses, and `Note`, a sentence that carries both languages.

The labels come from the metric vocabulary (`actot/metrics.py`), which also says which way each
metric is better; the Chinese words are the seed log's own.
"""

from __future__ import annotations

from actot.metrics import METRICS

# The seed log's seven, in its order; any other metric follows in the order first seen.
SEED_ORDER = ("train/loss", "train/l1_loss", "eval/avg_l1", "ot_loss", "ot_pi_sum", "ot_pi_diag", "ot_cost(state)")

WORDS = {
    "en": {"first": "first", "last": "last", "best": "best", "delta": "Δ", "low": "lowest", "high": "highest"},
    "zh": {"first": "首", "last": "末", "best": "最优", "delta": "Δ", "low": "最低", "high": "最高"},
}


def label(key: str, lang: str) -> str:
    """The metric's name in `lang` ('en' or 'zh'): its key in English, and in Chinese where it has no word."""
    metric = METRICS.get(key)
    return metric.zh or key if lang == "zh" and metric is not None else key


def ordered(keys) -> list[str]:
    keys = list(dict.fromkeys(keys))
    return [k for k in SEED_ORDER if k in keys] + [k for k in keys if k not in SEED_ORDER]


class Note(str):
    """A sentence of a report: the string itself is the English text, `zh` the Chinese one.

    A str, so that the console, the dashboard and W&B (English) use it as it is; report.zh.md asks
    `in_lang("zh")`."""

    zh: str

    def __new__(cls, en: str, zh: str | None = None):
        note = super().__new__(cls, en)
        note.zh = zh if zh is not None else en
        return note

    def in_lang(self, lang: str) -> str:
        return self.zh if lang == "zh" else str(self)
