"""How a report names and orders metrics, and the fixed words of its tables, in English or Chinese: each
metric's label, the seed log's order of its metric lines, the words of its first / last / best / Δ
columns, the ranked table's headers and statuses.

The words are the string catalogue's (`actot/strings.py`: `metric.`, `status.`, `scope.`, `seedlog.word.`,
`table.`); the metric vocabulary (`actot/metrics.py`) says which way each metric is better. A sentence that
carries both languages is a `Note` (the catalogue's).
"""

from __future__ import annotations

from actot.strings import STRINGS, section, text

# The seed log's seven, in its order; any other metric follows in the order first seen.
SEED_ORDER = ("train/loss", "train/l1_loss", "eval/avg_l1", "ot_loss", "ot_pi_sum", "ot_pi_diag", "ot_cost(state)")

# The metric line's words (first, last, best, Δ, lowest, highest), by language.
WORDS = section("seedlog.word")
# The ranked table's fixed words (console and report.md in English, report.zh.md in Chinese), by language.
TABLE = section("table")
SCOPE_WORDS = section("scope")


def status_word(name: str, lang: str) -> str:
    """A trial status (results.parquet's word) in `lang`."""
    return text(f"status.{name}", lang) if f"status.{name}" in STRINGS else name


def label(key: str, lang: str) -> str:
    """The metric's name in `lang` ('en' or 'zh'): its key in English, and in Chinese where it has no word."""
    return text(f"metric.{key}", lang) if f"metric.{key}" in STRINGS else key


def ordered(keys) -> list[str]:
    keys = list(dict.fromkeys(keys))
    return [k for k in SEED_ORDER if k in keys] + [k for k in keys if k not in SEED_ORDER]
