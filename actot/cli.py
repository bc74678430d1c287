"""`python -m actot rank|report|dashboard|export SWEEP_DIR [key=value ...]`: the report layer and the export.

It sits above both, so that the report layer never imports the export (which reads the ranking).
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
  export SWEEP_DIR [trial=ID] [out=DIR] [weights=ema|raw] [overwrite=true] [unfinished=true] [metric=...] [scope=...]
      a self-contained policy folder (config.json, model.safetensors, normalization.safetensors, train_config.json,
      README.md), by default SWEEP_DIR/export/<trial>/pretrained_model. trial defaults to the ranking's leader
      (finished trials; of a config run with several seeds, the seed closest to its mean); weights to the EMA
      when the checkpoint has it. Load it with actot.export.load_policy(DIR). See docs/export.md.

SWEEP_DIR is a folder run_sweep.py wrote, e.g. sweeps_out/NAME. See docs/report.md."""

KEYS = {"rank": {"metric", "scope", "k", "mode"}, "report": {"lang"}, "dashboard": set(),
        "export": {"trial", "out", "weights", "overwrite", "unfinished", "metric", "scope"}}
FLAGS = ("overwrite", "unfinished")  # export's true/false keys


def parse(command: str, words: list[str]) -> tuple[str, dict]:
    if not words or "=" in words[0]:
        raise ActotError(f"command line: {command} needs a sweep folder first, e.g. python -m actot {command} "
                         "sweeps_out/NAME")
    # a quoted "~/..." reaches us unexpanded (the shell expands only a bare ~), as does out=~/...
    sweep_dir, opts = os.path.expanduser(words[0]), {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
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
    if "k" in opts:
        try:
            opts["k"] = int(opts["k"])
        except ValueError:
            raise ActotError(f"command line: k={opts['k']!r} must be a whole number (reports averaged)") from None
    return sweep_dir, opts


def main(argv: list[str]) -> int:
    import actot.report as report

    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in KEYS:
        raise ActotError(f"command line: unknown command '{command}'; use rank, report, dashboard or export (see --help)")
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
    else:
        import shlex

        from actot.export import export_trial, said

        print(said(export_trial(sweep_dir, command=shlex.join(["python", "-m", "actot", command, *rest]), **opts)))
    return 0
