"""Early-stopping rules: the rule engine (`engine.py`) and its replay on stored histories (`replay.py`).

Pure functions of a trial's history, below both the sweep (which checks them live, or records them
in shadow mode) and the reports (which diagnose with them); no Ray here.
"""

from actot.rules.engine import (
    BUILT_IN,
    Decision,
    Rule,
    check_rule,
    check_rules,
    first_decisions,
    parse_rule,
    parse_rules,
)

__all__ = ["BUILT_IN", "Decision", "Rule", "check_rule", "check_rules", "first_decisions", "parse_rule", "parse_rules"]
