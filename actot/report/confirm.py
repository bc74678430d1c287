"""The confirm stage's verdict: the confirmed configs only, ranked by their mean over seeds with 95% intervals.

Reads sweep.json's `confirm` section (the configs the stage re-ran, by the id of their search
trial) and results.parquet; each config's group holds its search trial and its confirm trials
(`rank.py` groups by the searched knobs, so a `seed` or `confirm_of` column never splits one).
The leader's P(beats) is given against every other confirmed config, not only the next two.
"""

from __future__ import annotations

from actot.report.load import load_sweep_dir
from actot.report.baseline import comparison_cell, signed
from actot.report.sequential import design_of, stop_note
from actot.report.rank import (
    _fmt,
    _width,
    config_key,
    confirm_ranking,
    confirmed_sweep,  # noqa: F401
    interval_cell,
    is_confirm,
    rank,
)


def leaders(sweep_dir, top_k: int, ahead_only: bool = False) -> tuple[list[str], str, str]:
    """The confirm stage's pick: the search trial id of each of the top_k finished configs (finite value), by the
    sweep's own ranking (with `ahead_only`, only configs whose mean difference from co-training on the search's
    seeds is above 0); with the metric and scope it ranked by."""
    ranking = rank(load_sweep_dir(sweep_dir))
    groups = [
        g
        for g in ranking.groups
        if g.status == "finished"
        and g.interval is not None
        and (not ahead_only or (g.vs_baseline is not None and (g.vs_baseline.mean or 0) > 0))
    ][:top_k]
    origins = [next((t for t in g.trials if not t.confirm_of), g.trials[0]).trial_id for g in groups]
    return origins, ranking.metric, ranking.scope


def look_decision(sweep_dir) -> tuple[list[str], list[str]]:
    """A sequential confirm stage after its latest look: (the search trial ids of the configs of that look still
    undecided, one line per config saying where it stands), as the driver says it between looks."""
    sweep = load_sweep_dir(sweep_dir)
    section = sweep.resolved.get("confirm") or {}
    looks = section.get("looks") or []
    confirmed = confirm_ranking(sweep) if looks and section.get("sequential") else None
    if confirmed is None:
        return [], []
    design = design_of(section["sequential"])
    groups = {next((t.confirm_of for t in g.trials if t.confirm_of), None): g for g in confirmed.groups}
    undecided, lines = [], []
    for origin in looks[-1]["configs"]:
        group = groups.get(origin)
        if group is None or not group.looks:
            lines.append(
                f"confirm look {len(looks)}: {origin}: no paired value on the fresh seeds yet (its trials or "
                "the baseline's did not finish with a value)"
                + (
                    ": not confirmed, the seed cap is reached"
                    if _seeds_run(looks) >= design.max_seeds
                    else "; its next look may give one"
                )
            )
            undecided.append(origin)
            continue
        one = group.looks[-1]
        lines.append(
            f"confirm: {group.describe()} vs co-training {signed(one.mean)} [{one.low:.3g}, {one.high:.3g}]: "
            f"{stop_note(one, design)}"
        )
        if one.decision == "continue":
            undecided.append(origin)
    return undecided, lines


def _seeds_run(looks: list[dict]) -> int:
    return sum(len(one["seeds"]) for one in looks)


def confirm_table(sweep_dir) -> str:
    """The console's confirm table: which configs the stage confirmed, on which fresh seeds, with the search's numbers
    (which chose them, so biased in their favour) and the confirm seeds' numbers in separate columns; led by the
    comparison with co-training on the fresh seeds where the sweep has a baseline arm."""
    return confirm_text(load_sweep_dir(sweep_dir))


def confirm_text(sweep, lang: str = "en") -> str:
    """`confirm_table` of a loaded sweep (the lead and notes in `lang`)."""
    confirmed = confirm_ranking(sweep)
    if confirmed is None:
        return "No confirm stage has run in this sweep (stage=confirm top_k=3 seeds=5 runs one)."
    section = sweep.resolved["confirm"]
    search = {config_key(g.trials[0], sweep.knobs): g for g in rank(confirmed_sweep(sweep)).groups}
    extra = sum(1 for t in sweep.trials if is_confirm(t))
    head = (
        f"confirm stage: the search's top {len(section['configs'])} config(s) by {section['scope']} "
        f"{section['metric']}, run again on fresh seeds {', '.join(map(str, section.get('new_seeds') or []))} "
        f"({extra} of {len(section['points'])} confirm trial(s) recorded); only the fresh seeds can confirm a claim"
    )
    if section.get("sequential") and section.get("looks"):
        head += (
            f"; sequential: {len(section['looks'])} look(s), {_seeds_run(section['looks'])} of at most "
            f"{section['sequential']['max_seeds']} fresh seeds"
        )
    arm = confirmed.baseline
    header = [
        "config",
        "search seeds",
        "search (selected)",
        "confirm seeds",
        "confirm mean",
        "95% interval",
        *(["vs co-training (confirm seeds)"] if arm is not None else []),
    ]
    rows = []
    for group in confirmed.groups:
        picked = search.get(config_key(group.trials[0], sweep.knobs))
        rows.append(
            [
                group.describe(),
                _seeds(picked.counted if picked else []),
                _fmt(picked.interval.mean if picked and picked.interval else None),
                _seeds(group.counted),
                _fmt(group.interval.mean if group.interval else None),
                interval_cell(group.interval),
                *([comparison_cell(group.vs_baseline)] if arm is not None else []),
            ]
        )
    if arm is not None:
        rows.append(
            [
                "co-training (baseline)",
                "",
                "",
                _seeds(arm.trials, only=list(arm.values)),
                _fmt(arm.interval.mean if arm.interval else None),
                interval_cell(arm.interval),
                "",
            ]
        )
    lines = [head, *([confirmed.lead.in_lang(lang)] if confirmed.lead is not None else []), text_table(header, rows)]
    return "\n".join(lines + [note.in_lang(lang) for note in confirmed.notes])


def text_table(header: list[str], rows: list[list[str]]) -> str:
    cells = [header, *rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join([lines[0], "-" * _width(lines[0]), *lines[1:]])


def _seeds(trials, only: list | None = None) -> str:
    seeds = sorted({int(t.seed) for t in trials if t.seed is not None})
    return ", ".join(str(s) for s in seeds if only is None or s in only) or "-"
