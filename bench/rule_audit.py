"""Rule audit: which trials would each rule have stopped, were they good ones, and what would it save?

    python -m bench.rule_audit --runs pool.jsonl [--group pool]     # runs of bench/histories.py (the GPU job)
    python -m bench.rule_audit --sweep sweeps_out/NAME               # a sweep run with rules.shadow=true
    python -m bench.rule_audit --quick                               # tiny real runs, CI-sized (~1 min on CPU)
    ... --rules '[{use: pi_collapse, after: 200}]'                   # other rules than the built-ins
    ... --no-grid                                                    # skip the retuning tables

Each rule (the built-ins of actot/rules/engine.py at their defaults, the sweep's own rules with
--sweep, or --rules) is replayed on every
run's full history report by report (actot/rules/replay.py). Per rule it prints the runs it would
have stopped, how many of those belong to a top-quarter config anyway (configs ranked by the mean
over seeds of the final --metric, ties by final eval/avg_l1): its false-stop rate; and the compute
it would have saved (training steps not run / all steps). A `flag` rule is audited as if it stopped.

The retuning tables vary each rule's threshold (a trend's window and minimum change) and warm-up
over a small grid around its default and print false stops against compute saved; '*' marks the
settings that no other setting beats on both (fewer false stops and more saved).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import yaml

from actot.errors import ActotError
from actot.report.replay import runs_from_sweep
from actot.rules import BUILT_IN, parse_rules
from actot.rules.replay import (
    AuditRow,
    audit_rule,
    config_scores,
    pareto,
    ranked_configs,
    read_runs_jsonl,
    rule_variants,
    settings_text,
    top_quarter,
)
from bench.histories import QUICK_DIR_HELP
from bench.tables import text_table


def load_rules(text: str | None):
    specs = list(BUILT_IN) if text is None else yaml.safe_load(text)
    if not isinstance(specs, list):
        raise ActotError(f"--rules={text!r}: give a YAML list of rules, e.g. '[pi_collapse, {{use: non_finite}}]'")
    return parse_rules(specs, "--rules")


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.0f}%"


def format_rows(rows: list[AuditRow], marks: dict[int, str] | None = None) -> str:
    header = ["rule", "settings", "stopped", "in top quarter", "false-stop rate", "compute saved"]
    cells = [header] + [
        [
            r.rule + (marks or {}).get(i, ""),
            r.settings,
            str(r.stopped),
            str(r.false_stops),
            _pct(r.false_rate),
            f"{r.saved}/{r.total} ({_pct(r.saved_share)})",
        ]
        for i, r in enumerate(rows)
    ]
    return text_table(cells[0], cells[1:])


def audit(runs, rules, metric: str, grid: bool, say=print, mode: str | None = None) -> list[AuditRow]:
    top = top_quarter(runs, metric, mode)
    ranked = ranked_configs(runs, metric, mode)
    scores = config_scores(runs, metric, mode)
    say(
        f"{len(runs)} runs of {len(ranked)} configs; top quarter = the best {len(top)} by mean final {metric} "
        f"(cut-off {scores[ranked[len(top) - 1]]:.4g}; best {scores[ranked[0]]:.4g}, worst {scores[ranked[-1]]:.4g})"
    )
    rows = [audit_rule([r], runs, top) for r in rules]
    rows.append(audit_rule(rules, runs, top, name="all rules"))
    say("\nRules at their settings (each alone, then together: the first to fire ends the run)\n" + format_rows(rows))
    for row in rows[:-1]:
        for source, step, reason in row.stops[:5]:
            say(f"  {row.rule} stops {source} at step {step}: {reason}")
        if len(row.stops) > 5:
            say(f"  ... {len(row.stops) - 5} more")
    if grid:
        total = max(run.total_steps for run in runs)
        for rule in rules:
            variants = rule_variants(rule, total)
            vrows = [audit_rule([v], runs, top) for v in variants]
            front = pareto(vrows)
            marks = {
                i: (" *" if i in front else "") + (" (default)" if settings_text(v) == settings_text(rule) else "")
                for i, v in enumerate(variants)
            }
            say(
                f"\nRetuning {rule.name}: false stops against compute saved ('*': not beaten on both)\n"
                + format_rows(vrows, marks)
            )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--runs", help="JSON-lines file of runs (bench/histories.py)")
    source.add_argument("--sweep", help="a sweep folder run with rules.shadow=true")
    source.add_argument("--quick", action="store_true", help="make tiny real runs first (CI-sized)")
    parser.add_argument("--quick-dir", help=QUICK_DIR_HELP)
    parser.add_argument("--group", default=None, help="only the runs of this group (--runs)")
    parser.add_argument("--metric", default="eval/success", help="what 'top quarter' ranks by (default eval/success)")
    parser.add_argument(
        "--mode",
        choices=("min", "max"),
        default=None,
        help="which way --metric is better (default: its own, actot/metrics.py; a diagnostic such "
        "as ot_loss has none and needs one)",
    )
    parser.add_argument(
        "--rules",
        default=None,
        help="YAML list of rules (default: every built-in rule; with --sweep, the sweep's own rules)",
    )
    parser.add_argument("--no-grid", action="store_true", help="skip the retuning tables")
    parser.add_argument("--configs", type=int, default=5, help="--quick: configs (default 5)")
    parser.add_argument("--seeds", type=int, default=2, help="--quick: seeds per config (default 2)")
    args = parser.parse_args(argv)
    try:
        if args.sweep and args.rules is None:  # the rules that sweep ran with, as it wrote them
            specs = (
                json.loads((Path(args.sweep) / "sweep.json").read_text())["sweep"]["rules"]
                if (Path(args.sweep) / "sweep.json").is_file()
                else list(BUILT_IN)
            )
            args.rules = json.dumps(specs)
        rules = load_rules(args.rules)
        if args.quick:
            from bench.histories import quick_folder, quick_runs

            with quick_folder(args.quick_dir, "rule-audit-") as work:
                runs = quick_runs(args.configs, args.seeds, "quick", work)
        elif args.sweep:
            runs, notes = runs_from_sweep(args.sweep)
            for line in notes:
                print(f"[audit] note: {line}")
        else:
            runs = read_runs_jsonl(args.runs, args.group)
        audit(runs, rules, args.metric, grid=not args.no_grid, mode=args.mode)
    except ActotError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
