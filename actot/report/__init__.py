"""What a sweep tells a researcher, read from its folder only: ranking, seed-format report, advice, dashboard.

    python -m actot rank SWEEP_DIR [metric=...] [scope=last|best|mean_last_k] [k=3] [mode=min|max]
    python -m actot report SWEEP_DIR [lang=en|zh]
    python -m actot dashboard SWEEP_DIR

Modules: `load` (the sweep folder, through `actot.sweepdir`), `labels` (metric labels in English and
Chinese, the seed log's order), `stats` (intervals, P(beats)), `rank`, `baseline` (each config against
the baseline arm on the same seeds: the line every table leads with), `importance` (PED-ANOVA),
`diagnose` (the seed log's rules), `seedlog` (report.md), `advisor` (next_space.yaml), `dashboard`
(dashboard.html), `curves` (curves.png), `live` (rewrites the dashboard as trials end), `confirm`
(the confirm stage's table and its pick of leaders), `replay` (a sweep's runs for the rule audit),
`wandb_ranking` (the ranking as a W&B Table, each trial run's rank in its summary). This package
and the sweep layer import neither each other: `actot.pipeline` hands this package's pieces to a
running sweep; the shared pieces (the folder's format, rules, metric vocabulary, knob names) sit
beneath both.
"""

from __future__ import annotations

from pathlib import Path

from actot.report.load import Sweep, load_sweep_dir


def analyse(
    sweep_dir, metric: str | None = None, scope: str | None = None, k: int | None = None, mode: str | None = None
):
    """(sweep, ranking, importance) for a sweep folder."""
    from actot.report.importance import knob_importance
    from actot.report.rank import rank

    sweep = load_sweep_dir(sweep_dir)
    ranking = rank(sweep, metric=metric, scope=scope, k=k, mode=mode)
    importance = knob_importance(
        sweep.path, sweep.name, ranking.better if ranking.metric == sweep.metric else sweep.mode
    )
    return sweep, ranking, importance


def ranked_table(
    sweep_dir, metric: str | None = None, scope: str | None = None, k: int | None = None, mode: str | None = None
) -> str:
    from actot.report.confirm import confirm_text
    from actot.report.rank import format_table, rank

    sweep = load_sweep_dir(sweep_dir)
    table = format_table(rank(sweep, metric=metric, scope=scope, k=k, mode=mode), sweep)
    if sweep.resolved.get("confirm"):  # the fresh seeds' own table: they never join the search's rows
        table += "\n\n" + confirm_text(sweep)
    return table


def advice(sweep_dir) -> list[str]:
    from actot.report.diagnose import rule_advice

    return rule_advice(load_sweep_dir(sweep_dir))


def write_report(sweep_dir, lang: str = "en", finished: bool = True, path: Path | None = None) -> Path:
    """report.md (or report.zh.md) in the seed log's layout, with next_space.yaml beside it."""
    from actot.errors import ActotError
    from actot.report.advisor import write_next_space
    from actot.report.seedlog import LANGS, report_file, write_seed_report

    if lang not in LANGS:
        raise ActotError(f"command line: lang={lang!r} must be one of {', '.join(LANGS)}")
    sweep, ranking, importance = analyse(sweep_dir)
    space = write_next_space(sweep, ranking, importance)
    path = Path(path or sweep.path / report_file(lang))
    return write_seed_report(sweep, ranking, importance, path, lang, finished, next_space=space)


def write_dashboard(sweep_dir, path: Path | None = None) -> Path:
    from actot.report.dashboard import write_dashboard as write

    sweep, ranking, importance = analyse(sweep_dir)
    return write(sweep, ranking, importance, path)


def finish_sweep(sweep_dir, lang: str = "en", finished: bool = True) -> dict:
    """Everything the end of a sweep (or of its confirm stage) writes: curves.png, next_space.yaml, dashboard.html,
    report.md, the report in `lang`, and every other report already in the folder: a confirm stage run without
    the search's lang=zh still refreshes its report.zh.md, which would otherwise keep the search's ranking."""
    from actot.report.advisor import write_next_space
    from actot.report.curves import plot_curves
    from actot.report.dashboard import write_dashboard as write
    from actot.report.seedlog import LANGS, report_file, write_seed_report

    sweep, ranking, importance = analyse(sweep_dir)
    out = {"curves": plot_curves(sweep), "next_space": write_next_space(sweep, ranking, importance)}
    present = [one for one in LANGS if (sweep.path / report_file(one)).is_file()]
    for one in dict.fromkeys(("en", lang, *present)):
        out[f"report_{one}"] = write_seed_report(
            sweep, ranking, importance, sweep.path / report_file(one), one, finished, next_space=out["next_space"]
        )
    out["dashboard"] = write(sweep, ranking, importance)
    out["wandb"] = _publish_to_wandb(sweep, ranking)
    return out


def refresh_reports(sweep_dir) -> list[Path]:
    """Write again the sweep's reports (report.md and every other language already there) and its dashboard, as
    when a robot verdict on one of its shortlists has changed (their "On the robot" section)."""
    from actot.report.advisor import write_next_space
    from actot.report.dashboard import write_dashboard as write
    from actot.report.seedlog import LANGS, report_file, write_seed_report
    from actot.sweepdir import OPEN_STATUSES

    sweep, ranking, importance = analyse(sweep_dir)
    space = write_next_space(sweep, ranking, importance)
    finished = not any(t.status in OPEN_STATUSES for t in sweep.trials)
    out = [
        write_seed_report(sweep, ranking, importance, sweep.path / report_file(one), one, finished, next_space=space)
        for one in LANGS
        if one == "en" or (sweep.path / report_file(one)).is_file()
    ]
    return [*out, write(sweep, ranking, importance)]


def _publish_to_wandb(sweep, ranking):
    """The ranking as a W&B Table and each trial run's rank (when the sweep uses W&B); a failure is said, not fatal."""
    import sys

    from actot.report.confirm import confirm_ranking
    from actot.report.wandb_ranking import publish

    try:
        return publish(sweep, ranking, confirm_ranking(sweep))
    except Exception as err:  # noqa: BLE001 - W&B unreachable or not logged in: every file above is written
        print(
            f"[sweep] W&B ranking not sent: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
            file=sys.stdout,
            flush=True,
        )
        return None


__all__ = [
    "Sweep",
    "load_sweep_dir",
    "analyse",
    "ranked_table",
    "advice",
    "write_report",
    "write_dashboard",
    "finish_sweep",
]
