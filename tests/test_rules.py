"""Each rule on synthetic metric histories, and the rule grammar's errors. No Ray."""

import math

import pytest

from actot.errors import ActotError
from actot.rules import check_rule, check_rules, first_decisions, parse_rule, parse_rules


def history(metric, values, start=25, every=25):
    return [{"step": start + i * every, metric: v} for i, v in enumerate(values)]


def test_pi_collapse_waits_for_warmup_and_patience():
    rule = parse_rule("pi_collapse")
    assert (rule.metric, rule.op, rule.value, rule.after, rule.patience) == ("ot_pi_sum", "<", 0.1, 50, 2)
    rows = history("ot_pi_sum", [0.01, 0.02])  # steps 25, 50: only one report after warm-up
    assert check_rule(rule, rows) is None
    rows = history("ot_pi_sum", [0.01, 0.02, 0.03])  # steps 25, 50, 75
    decision = check_rule(rule, rows)
    assert decision is not None and decision.step == 75 and decision.action == "stop"
    assert "ot_pi_sum=0.03 < 0.1" in decision.reason


def test_pi_collapse_needs_consecutive_reports():
    rule = parse_rule("pi_collapse")
    assert check_rule(rule, history("ot_pi_sum", [0.9, 0.05, 0.5, 0.05])) is None
    assert check_rule(rule, history("ot_pi_sum", [0.9, 0.5, 0.05, 0.04])) is not None


def test_non_finite_fires_on_any_nan_or_inf():
    rule = parse_rule("non_finite")
    assert check_rule(rule, [{"step": 10, "train/loss": 1.0, "ot_loss": 0.3}]) is None
    decision = check_rule(rule, [{"step": 10, "train/loss": 1.0}, {"step": 20, "train/loss": math.nan}])
    assert decision is not None and decision.step == 20 and "train/loss" in decision.reason
    assert check_rule(rule, [{"step": 5, "ot_cost(state)": math.inf}]) is not None


def test_ot_cost_diverging_needs_a_monotone_rise():
    rule = parse_rule("ot_cost_diverging")
    # steps 0..150; from the warm-up (50) on: 1.0 -> 1.4 in four rising reports
    rising = history("ot_cost(state)", [0.5, 0.7, 1.0, 1.1, 1.2, 1.3, 1.4], start=0)
    decision = check_rule(rule, rising)
    assert decision is not None and decision.step == 150 and "rising" in decision.reason
    assert check_rule(rule, rising[:-1]) is None  # only three rises after the warm-up
    wobbly = history("ot_cost(state)", [0.5, 0.7, 1.0, 1.1, 1.05, 1.3, 1.4], start=0)
    assert check_rule(rule, wobbly) is None
    tiny_rise = history("ot_cost(state)", [1.0, 1.0, 1.0, 1.001, 1.002, 1.003, 1.004], start=0)
    assert check_rule(rule, tiny_rise) is None


def test_embed_collapse_flags_ots_shrink_not_co_trainings_early_dip():
    rule = parse_rule("embed_collapse")
    assert (rule.metric, rule.op, rule.value, rule.after, rule.action) == ("ot_embed_shrink", "<", 0.15, 200, "flag")
    every_50 = dict(start=50, every=50)  # steps 50 .. 400
    # OT at R1, seed 1 of the study (bench/data/study_cpu.jsonl): its highest values from step 200 on
    r1 = history("ot_embed_shrink", [0.146, 0.131, 0.112, 0.109, 0.108, 0.106, 0.108, 0.101], **every_50)
    decision = next(d for d in (check_rule(rule, r1[:i]) for i in range(1, len(r1) + 1)) if d)
    assert decision.step == 250 and decision.action == "flag"
    # co-training, seed 0: dips to 0.18 around step 100, then recovers; never flagged
    cotrain = history("ot_embed_shrink", [0.219, 0.184, 0.313, 0.588, 0.62, 0.635, 0.65, 0.668], **every_50)
    assert not any(check_rule(rule, cotrain[:i]) for i in range(1, len(cotrain) + 1))


def test_rules_ignore_rows_without_their_metric():
    rule = parse_rule({"use": "pi_collapse", "after": 0, "patience": 1})
    rows = [{"step": 0, "eval/avg_l1": 1.5}, {"step": 25, "ot_pi_sum": 0.05}]
    assert check_rule(rule, rows).step == 25
    assert check_rule(rule, rows + [{"step": 30, "eval/avg_l1": 1.0}]) is None


def test_custom_rules_and_flags():
    rules = parse_rules(
        [
            {"name": "l1_stuck", "when": "eval/avg_l1 >= 0.9", "after": 50, "patience": 2, "action": "flag"},
            {"name": "success_drop", "when": "eval/success falling over 2", "action": "stop"},
        ]
    )
    rows = [
        {"step": 25, "eval/avg_l1": 1.0, "eval/success": 0.5},
        {"step": 50, "eval/avg_l1": 0.95, "eval/success": 0.4},
        {"step": 75, "eval/avg_l1": 0.92, "eval/success": 0.2},
    ]
    decisions = check_rules(rules, rows)
    assert [d.rule for d in decisions] == ["success_drop", "l1_stuck"]  # stops first
    assert decisions[1].action == "flag"


@pytest.mark.parametrize(
    "spec,fragment",
    [
        ("pi_colapse", "unknown rule 'pi_colapse'"),
        ({"name": "x", "when": "__import__('os').system('true')"}, "cannot read when"),
        ({"name": "x", "when": "ot_pi_sum < 0.1", "action": "kill"}, "action 'kill'"),
        ({"name": "x", "when": "ot_pi_sum < 0.1", "after": -1}, "after=-1"),
        ({"name": "x", "when": "ot_pi_sum < 0.1", "patienc": 2}, "unknown field"),
        ({"use": "nope"}, "not a built-in"),
        ({"when": "ot_pi_sum < 0.1"}, "needs 'name'"),
    ],
)
def test_bad_rules_give_one_line_errors(spec, fragment):
    with pytest.raises(ActotError) as e:
        parse_rule(spec)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_duplicate_rule_names_rejected():
    with pytest.raises(ActotError, match="repeat"):
        parse_rules(["pi_collapse", {"use": "pi_collapse", "after": 10}])


def test_a_nan_report_breaks_a_run_of_matching_reports():
    rule = parse_rule({"use": "pi_collapse", "after": 0, "patience": 2})
    rows = history("ot_pi_sum", [0.05, math.nan, 0.05])
    assert check_rule(rule, rows) is None  # 0.05, NaN, 0.05 are not two consecutive matching reports
    assert check_rule(rule, rows + history("ot_pi_sum", [0.04], start=100)) is not None


def test_a_nan_report_breaks_a_trend():
    rule = parse_rule({"name": "up", "when": "ot_cost(state) rising over 2"})
    rows = history("ot_cost(state)", [1.0, math.nan, 2.0, 3.0])
    assert check_rule(rule, rows) is None  # NaN, 2, 3: the window holds a NaN
    assert check_rule(rule, rows + history("ot_cost(state)", [4.0], start=125)) is not None


@pytest.mark.parametrize(
    "field,value", [("after", 50.9), ("after", "50"), ("patience", True), ("patience", 1.5), ("min_change", "a lot")]
)
def test_rule_numbers_are_not_coerced(field, value):
    with pytest.raises(ActotError) as e:
        parse_rule({"name": "x", "when": "ot_pi_sum < 0.1", field: value})
    assert f"{field}={value!r}" in str(e.value) and "rule 'x'" in str(e.value)


@pytest.mark.parametrize(
    "when,close",
    [
        ("ot_pi_summ < 0.1", "ot_pi_sum"),
        ("eval/avg_l2 > 0.9", "eval/avg_l1"),
        ("ot_cost(stat) rising over 3", "ot_cost(state)"),
    ],
)
def test_a_misspelt_metric_in_when_is_refused(when, close):
    with pytest.raises(ActotError) as e:
        parse_rule({"name": "typo", "when": when})
    assert f"did you mean '{close}'" in str(e.value) and "rule 'typo'" in str(e.value)


def test_the_l1_trend_compares_the_last_third_of_the_reports_with_the_third_before():
    from actot.convergence import history_trend, l1_trend

    # step 0 (the untrained model) is left out; 9 reports after it: thirds of 3
    values = [1.0, 1.0, 1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8]
    rows = [{"step": 0, "eval/avg_l1": 5.0}] + history("eval/avg_l1", values)
    assert history_trend(rows) == pytest.approx((0.8 - 0.9) / 0.9)
    # 7 reports: thirds of 2, the first report left out of both windows
    assert l1_trend([9.0, 1.0, 1.0, 0.5, 0.5, 0.6, 0.6]) == pytest.approx((0.6 - 0.5) / 0.5)
    assert l1_trend([1.0] * 5) is None and l1_trend([1.0] * 6) == 0.0  # a window needs 2 reports
    assert history_trend(rows[:6] + [{"step": 150, "train/loss": 1.0}]) is None  # rows without the L1 do not count


def l1_history(values, trends):
    rows = history("eval/avg_l1", values)
    for row, trend in zip(rows, trends):
        if trend is not None:
            row["eval/l1_trend"] = trend
    return rows


def test_not_converged_flags_a_trial_still_improving_at_its_last_report_only():
    rule = parse_rule("not_converged")
    assert (rule.metric, rule.op, rule.value, rule.action, rule.last_only) == (
        "eval/l1_trend",
        "<",
        -0.05,
        "flag",
        True,
    )
    improving = l1_history([1.0, 0.9, 0.8, 0.7, 0.6, 0.5], [None] * 5 + [-0.2])  # steps 25 .. 150
    flat = l1_history([0.5] * 6, [None] * 5 + [0.01])
    decision = check_rule(rule, improving, last_step=150)
    assert decision is not None and decision.action == "flag" and decision.step == 150
    assert "eval/l1_trend=-0.2 < -0.05" in decision.reason
    assert check_rule(rule, flat, last_step=150) is None
    assert check_rule(rule, improving, last_step=300) is None  # not the trial's last report: the trial goes on
    assert check_rule(rule, improving) is None  # where the last step is not known, it never fires
    # A replay of a whole history reads its last row as the last report; a dip mid-run is not flagged.
    dip = l1_history([1.0] * 8, [None] * 5 + [-0.3, 0.0, 0.0])
    assert [(d.rule, d.step) for d in first_decisions([rule], improving)] == [("not_converged", 150)]
    assert first_decisions([rule], dip) == [] and first_decisions([rule], flat) == []
    assert "at the last report" in rule.describe()


@pytest.mark.parametrize(
    "spec,fragment",
    [
        ({"name": "x", "when": "eval/l1_trend < -0.1", "last_only": True, "action": "stop"}, "use action: flag"),
        ({"name": "x", "when": "eval/l1_trend < -0.1", "last_only": "yes", "action": "flag"}, "last_only='yes'"),
    ],
)
def test_a_last_only_rule_can_only_flag(spec, fragment):
    with pytest.raises(ActotError) as e:
        parse_rule(spec)
    assert fragment in str(e.value) and "rule 'x'" in str(e.value) and "\n" not in str(e.value)
