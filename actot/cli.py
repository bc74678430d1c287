"""`python -m actot rank|report|dashboard|export|shortlist SWEEP_DIR [key=value ...]`, `robot-eval FOLDER`: the
report layer, the export and the road to the robot (actot/robot.py).

It sits above them, so that the report layer never imports the export (which reads the ranking).
"""

from __future__ import annotations

import os

from actot.errors import ActotError

USAGE = """usage: python -m actot COMMAND SWEEP_DIR [key=value ...]

commands:
  rank SWEEP_DIR [metric=eval/avg_l1] [scope=last|best|mean_last_k] [k=3] [mode=min|max]
      the ranked table: configs by one metric; configs run with several seeds by their mean, with a
      95% bootstrap interval and P(#1 beats); says when the leaders cannot be told apart.
      metric defaults to the sweep's; mode is needed only for a metric with no better end (ot_pi_sum).
  report SWEEP_DIR [lang=en|zh]
      report.md (report.zh.md for zh) in the seed log's layout: per trial its config and every metric's
      first / last / best@step / delta, the diagnosis, knob importance; and next_space.yaml.
  dashboard SWEEP_DIR
      dashboard.html: one self-contained page (opens offline from disk, no server).
  export SWEEP_DIR [trial=ID] [out=DIR] [weights=ema|raw] [format=actot|lerobot] [overwrite=true] [unfinished=true]
         [metric=...] [scope=...]
      a self-contained policy folder (config.json, model.safetensors, normalization.safetensors, train_config.json,
      README.md), by default SWEEP_DIR/export/<trial>/pretrained_model. trial defaults to the ranking's leader
      (finished trials; of a config run with several seeds, the seed closest to its mean); weights to the EMA
      when the checkpoint has it. Load it with actot.export.load_policy(DIR). format=lerobot writes LeRobot's own
      folder instead (ACTPolicy.from_pretrained loads it; refused, in one line, for a setting LeRobot's ACT lacks).
      See docs/export.md.

  shortlist SWEEP_DIR [k=3] [out=DIR] [conditions=10|FILE] [seed=N] [alpha=0.05] [beta=0.2] [worth=0.75]
            [weights=ema|raw] [overwrite=true]
      the top k configs (confirmed ones first) and co-training (the sweep's baseline arm) as policy folders under
      one folder (default SWEEP_DIR/shortlist), with README.md (how each was chosen, its offline numbers) and a
      blinded, paired evaluation sheet: sheet.csv, every start condition run with every policy, in a seeded,
      balanced order, policies named P1..Pn (key.json says which is which). conditions: a count (on the embedded
      sim, drawn from the task) or a file with one start condition per line. alpha, beta, worth: the stopping
      rule's error rates and the effect worth having, stated before the first episode. See docs/robot-eval.md.
  robot-eval FOLDER [SHEET.csv] [blind=true] [more=N|FILE] [--simulate]
      the verdict on a (partly) filled sheet: each policy's success with an exact interval and P(best), each against
      co-training paired by start condition (exact McNemar, P(better), an anytime-valid e-value), whether to stop
      or how many more start conditions it takes, and how the sweep's offline order agreed with the robot's.
      Written to FOLDER/verdict.md and verdict.zh.md. blind=true: only stop or go on, for the person running the
      robot, nothing written. more: append N start conditions (or a file of new ones) to the plan and the sheet,
      when the verdict needs more than the sheet holds. --simulate: fill the empty rows in the benchmark's target
      domain first (sweeps on the embedded sim).

SWEEP_DIR is a folder run_sweep.py wrote, e.g. sweeps_out/NAME. See docs/report.md."""

KEYS = {
    "rank": {"metric", "scope", "k", "mode"},
    "report": {"lang"},
    "dashboard": set(),
    "export": {"trial", "out", "weights", "format", "overwrite", "unfinished", "metric", "scope"},
    "shortlist": {"k", "out", "conditions", "seed", "alpha", "beta", "worth", "weights", "overwrite"},
    "robot-eval": {"blind", "more"},
}
FLAGS = ("overwrite", "unfinished", "blind")  # true/false keys
NUMBERS = ("alpha", "beta", "worth")  # shortlist's stopping rule
SIMULATE = "--simulate"


def parse(command: str, words: list[str]) -> tuple[str, dict]:
    if not words or "=" in words[0]:
        raise ActotError(
            f"command line: {command} needs a sweep folder first, e.g. python -m actot {command} sweeps_out/NAME"
        )
    # a quoted "~/..." reaches us unexpanded (the shell expands only a bare ~), as does out=~/...
    sweep_dir, opts = os.path.expanduser(words[0]), {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if command == "robot-eval" and word == SIMULATE:
            opts["simulate"] = True
            continue
        if command == "robot-eval" and not sep and "sheet" not in opts:  # the sheet, where it is not the folder's
            opts["sheet"] = os.path.expanduser(word)
            continue
        if not sep:
            raise ActotError(f"command line: '{word}' is not key=value (for example scope=best)")
        if key not in KEYS[command]:
            allowed = ", ".join(sorted(KEYS[command])) or "none"
            raise ActotError(f"command line: unknown key '{key}' for {command}; allowed: {allowed}")
        opts[key] = value
    if "out" in opts:
        opts["out"] = os.path.expanduser(opts["out"])
    for key in FLAGS:
        if key in opts:
            if opts[key] not in ("true", "false"):
                raise ActotError(f"command line: {key}={opts[key]!r} must be true or false")
            opts[key] = opts[key] == "true"
    what = {"k": "reports averaged" if command == "rank" else "configs shortlisted", "seed": "the sheet's order"}
    for key in ("k", "seed"):
        if key in opts:
            try:
                opts[key] = int(opts[key])
            except ValueError:
                raise ActotError(f"command line: {key}={opts[key]!r} must be a whole number ({what[key]})") from None
    for key in NUMBERS:
        if key in opts:
            try:
                opts[key] = float(opts[key])
            except ValueError:
                raise ActotError(f"command line: {key}={opts[key]!r} must be a number") from None
    return sweep_dir, opts


def main(argv: list[str]) -> int:
    import actot.report as report

    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in KEYS:
        raise ActotError(
            f"command line: unknown command '{command}'; use rank, report, dashboard, export, shortlist or "
            "robot-eval (see --help)"
        )
    if any(w in ("-h", "--help") for w in rest):
        print(USAGE)
        return 0
    sweep_dir, opts = parse(command, rest)
    if command == "rank":
        print(report.ranked_table(sweep_dir, **opts))
    elif command == "report":
        path = report.write_report(sweep_dir, lang=opts.get("lang", "en"))
        print(f"report: {path}")
        print(f"next search space: {path.parent / 'next_space.yaml'}")
    elif command == "dashboard":
        print(f"dashboard: {report.write_dashboard(sweep_dir)} (open it in a browser; it needs no server)")
    elif command == "export":
        import shlex

        from actot.export import export_trial, said

        print(said(export_trial(sweep_dir, command=shlex.join(["python", "-m", "actot", command, *rest]), **opts)))
    elif command == "shortlist":
        import shlex

        from actot.robot import said, shortlist

        print(said(shortlist(sweep_dir, command=shlex.join(["python", "-m", "actot", command, *rest]), **opts)))
    else:
        robot_eval(sweep_dir, opts)
    return 0


def robot_eval(folder: str, opts: dict) -> None:
    from actot.report.robot_eval import write_verdict

    if "more" in opts:
        from actot.robot import extend

        done = extend(folder, opts["more"], opts.get("sheet"))
        print(
            f"extended: {done['conditions']} start condition(s), episodes {done['from']} to "
            f"{done['from'] + done['episodes'] - 1} appended to {done['sheet']}; the filled rows are as they were"
        )
    if opts.get("simulate"):
        from actot.robot import simulate

        done = simulate(folder, opts.get("sheet"))
        print(
            f"simulated: {done['filled']} empty row(s) of {done['sheet']} run in the benchmark's target domain, "
            f"{done['successes']} success(es); filled rows kept as they were"
        )
    verdict = write_verdict(folder, opts.get("sheet"), blind=opts.get("blind", False))
    print(verdict["text"].rstrip())
    for path in verdict["files"]:
        print(f"verdict: {path}")
    if verdict.get("sweep_dir"):  # the sweep's own report and dashboard show the verdict too
        from actot.report import refresh_reports
        from actot.sweepdir import register_shortlist

        register_shortlist(verdict["sweep_dir"], folder)  # a copy of the shortlist judged elsewhere, too
        for path in refresh_reports(verdict["sweep_dir"]):
            print(f"sweep report: {path}")
