"""The report strings' catalogue (actot/strings.py): both languages for every name, the same fields in each, and no
report string in either language left outside it."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from actot.metrics import METRICS
from actot.strings import LANGS, ONE_LANGUAGE_FIELDS, STRINGS, Note, both, note, section, text

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile("[\u4e00-\u9fff]")


def templates(value) -> list[str]:
    return list(value) if isinstance(value, tuple) else [value]


def fields(template: str) -> set[tuple[str, str, str | None]]:
    """(name, format spec, conversion) of every field of a str.format template."""
    return {(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None}


def test_every_name_has_english_and_chinese_of_one_shape():
    for name, entry in STRINGS.items():
        assert set(entry) == set(LANGS), name
        en, zh = entry["en"], entry["zh"]
        assert isinstance(en, (str, tuple)) and type(en) is type(zh), name
        if isinstance(en, tuple):
            assert len(en) == len(zh) and all(isinstance(t, str) for t in en + zh), name


def test_the_two_languages_fill_the_same_fields():
    for name, entry in STRINGS.items():
        for en, zh in zip(templates(entry["en"]), templates(entry["zh"])):
            f_en, f_zh = fields(en), fields(zh)
            for name_, _, _ in f_en | f_zh:
                assert name_ and not name_.isdigit(), f"{name}: a field must be named: {{{name_}}}"
            assert {f[0] for f in f_en - f_zh} == ONE_LANGUAGE_FIELDS.get(name, set()), (name, f_en ^ f_zh)
            assert f_zh <= f_en, (name, f_zh - f_en)


def test_a_field_left_out_on_purpose_is_named_where_it_is_left_out():
    for name in ONE_LANGUAGE_FIELDS:
        assert name in STRINGS, name


def test_metric_labels_name_metrics_and_statuses_are_words_of_their_own():
    for name, entry in STRINGS.items():
        if name.startswith("metric."):
            key = name[len("metric.") :]
            assert key in METRICS, name
            assert entry["en"] == key, "a metric's English label is its key"
        if name.startswith("status."):
            assert entry["en"] == name[len("status.") :], "a status's English word is the status itself"


def test_lookups_fill_fields_in_each_language():
    assert text("trial.seed", "zh", origin="c001", seed=3) == "c001 种子 3"
    assert both("trial.seed", origin="c001", seed=3) == ("c001 seed 3", "c001 种子 3")
    why = Note("why", "为何")
    made = note("advisor.no_importance", why=why)
    assert str(made) == "why, so no knob importance" and made.in_lang("zh") == "为何，因此没有旋钮重要性"
    assert section("verdict.decision")["zh"]["open"] == "未定"
    assert "decision.open" not in section("verdict")["en"]  # a section holds its own names, not a sub-section's
    with pytest.raises(KeyError):
        text("trial.seed", "en", origin="c001")  # a field left empty is an error, not a blank


def test_no_report_string_in_chinese_outside_the_catalogue():
    """Every Chinese string of the package lives in actot/strings.py (English-only console messages stay where
    they are said)."""
    outside = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "actot").rglob("*.py"))
        if path.name != "strings.py" and CJK.search(path.read_text(encoding="utf-8"))
    ]
    assert outside == []
