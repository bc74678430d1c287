"""The confirm stage's verdict: the confirmed configs only, ranked by their mean over seeds with 95% intervals.

Reads sweep.json's `confirm` section (the configs the stage re-ran, by the id of their search
trial) and results.parquet; each config's group holds its search trial and its confirm trials
(`rank.py` groups by the searched knobs, so a `seed` or `confirm_of` column never splits one).
The leader's P(beats) is given against every other confirmed config, not only the next two.
"""

from __future__ import annotations

import dataclasses

from actot.report.baseline import is_baseline
from actot.report.load import Sweep, load_sweep_dir
from actot.report.rank import Ranking, config_key, format_table, rank


def confirmed_sweep(sweep: Sweep) -> Sweep | None:
    """The sweep restricted to the trials of the confirmed configs, and of the baseline arm where there is one (the
    confirmed configs are compared to it on every seed both ran); None when no confirm stage started."""
    section = sweep.resolved.get("confirm")
    if not section:
        return None
    by_id = {t.trial_id: t for t in sweep.trials}
    keys = {config_key(by_id[tid], sweep.knobs) for tid in section.get("configs", []) if tid in by_id}
    return dataclasses.replace(sweep, trials=[t for t in sweep.trials
                                              if is_baseline(t) or config_key(t, sweep.knobs) in keys])


def confirm_ranking(sweep: Sweep) -> Ranking | None:
    confirmed = confirmed_sweep(sweep)
    if confirmed is None:
        return None
    return rank(confirmed, leaders=max(2, len(sweep.resolved["confirm"].get("configs", []))))


def leaders(sweep_dir, top_k: int) -> tuple[list[str], str, str]:
    """The confirm stage's pick: the search trial id of each of the top_k finished configs (finite value), by the
    sweep's own ranking; with the metric and scope it ranked by."""
    ranking = rank(load_sweep_dir(sweep_dir))
    groups = [g for g in ranking.groups if g.status == "finished" and g.interval is not None][:top_k]
    origins = [next((t for t in g.trials if not t.extra.get("confirm_of")), g.trials[0]).trial_id for g in groups]
    return origins, ranking.metric, ranking.scope


def confirm_table(sweep_dir) -> str:
    """The console's confirm table, headed by what the stage ran."""
    sweep = load_sweep_dir(sweep_dir)
    ranking = confirm_ranking(sweep)
    if ranking is None:
        return "No confirm stage has run in this sweep (stage=confirm top_k=3 seeds=5 runs one)."
    section = sweep.resolved["confirm"]
    extra = sum(1 for t in sweep.trials if t.extra.get("confirm_of"))
    head = (f"confirm stage: the top {len(section['configs'])} config(s) by {section['scope']} {section['metric']}, "
            f"each run again with {section['seeds']} new training seed(s) ({extra} of "
            f"{len(section['points'])} confirm trial(s) recorded); n counts the search trial too")
    return head + "\n" + format_table(ranking, dataclasses.replace(sweep, trials=confirmed_sweep(sweep).trials))
