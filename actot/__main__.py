"""`python -m actot rank|report|dashboard|export|shortlist SWEEP_DIR ...`, `robot-eval FOLDER`: rank a sweep, write
its report or its dashboard, export a trial as a policy folder, shortlist policies for the robot and judge the sheet."""

from __future__ import annotations

import sys

from actot.errors import run_cli


def main(argv=None) -> int:
    from actot.cli import main as report_main

    return run_cli(report_main, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
