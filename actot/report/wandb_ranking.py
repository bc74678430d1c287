"""The sweep's ranking in W&B: a Table in a `NAME-ranking` run, and each trial run's rank in its summary.

Only when the sweep's training config has W&B on (`wandb.mode` not `disabled`, `auto` resolved
as a trial resolves it). At the end of a sweep (or of its confirm stage):

- one run in the sweep's group, job type `ranking`, logs `ranking` (and `confirm_ranking` after a
  confirm stage): a `wandb.Table` of the ranked configs, numbers as numbers so that W&B sorts them;
  in a sweep with a baseline arm the table's first row is that arm (rank None), each config has
  its paired comparison to it (`vs_baseline`, `vs_low`, `vs_high`, `p_beats_baseline`, `vs_n`) and
  the run's summary leads with the line `vs_baseline` ("best OT config vs co-training: ...");
- each trial's own run is reopened by its id (`resume="allow"`) and gets `sweep/rank` (its
  config's position in the ranked table, 1 = best), `sweep/rank_value` (its config's mean, the
  value the table ranks by) and `sweep/rank_n`: sorting W&B's runs table by `sweep/rank` gives
  the sweep's order. Runs whose rank has not changed since the last publication
  (`wandb_ranks.json`) are not reopened.

Offline, each reopening writes another offline run with the trial run's id into the trial's
`wandb/` folder; `wandb sync` uploads both into one run. The API key is never passed or written:
wandb reads it from its own settings.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
from pathlib import Path

from actot.report import baseline as base
from actot.report.load import Sweep
from actot.report.rank import Ranking

RANKS_FILE = "wandb_ranks.json"
ENDED = ("finished", "stopped", "non_finite", "error")


def wandb_mode(sweep: Sweep) -> str:
    from actot.run_log import resolve_wandb_mode

    return resolve_wandb_mode((sweep.resolved.get("train", {}).get("wandb") or {}).get("mode", "disabled"))


def table_data(ranking: Ranking, sweep: Sweep) -> tuple[list[str], list[list]]:
    """Columns and rows of the W&B table: one row per config, numbers kept as numbers. With a baseline arm, its
    row first (rank None) and each config's comparison to it; an n = 2 arm's interval is then the pooled one."""
    knobs = sweep.knobs
    arm = ranking.baseline
    columns = [
        "rank",
        "trial",
        "trials",
        "status",
        "n",
        f"{ranking.scope} {ranking.metric}",
        "ci_low",
        "ci_high",
        "p_leader_beats",
        *knobs,
    ]
    if arm is not None:
        columns[9:9] = ["vs_baseline", "vs_low", "vs_high", "p_beats_baseline", "vs_n", "raced"]

    def num(value):
        return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value

    def bounds(iv, pooled):
        shown = iv if iv is not None and iv.has_width else pooled
        return [num(shown.low if shown else None), num(shown.high if shown else None)]

    rows = []
    if arm is not None:
        iv = arm.interval
        rows.append(
            [
                None,
                "baseline",
                ",".join(t.trial_id for t in arm.trials),
                arm.status,
                len(arm.values),
                num(iv.mean if iv else None),
                *bounds(iv, arm.pooled),
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                *[None for _ in knobs],
            ]
        )
    for pos, group in enumerate(ranking.groups, start=1):
        iv = group.interval
        lead = group.counted[0] if group.counted else group.trials[0]
        row = [
            pos,
            lead.trial_id,
            ",".join(t.trial_id for t in group.trials),
            group.status,
            len(group.values),
            num(iv.mean if iv else None),
            *bounds(iv, group.pooled),
            group.p_leader_beats,
            *[group.config.get(k) for k in knobs],
        ]
        if arm is not None:
            vs = group.vs_baseline
            row[9:9] = [
                num(vs.mean if vs else None),
                num(vs.low if vs else None),
                num(vs.high if vs else None),
                num(vs.p_beats if vs else None),
                vs.n if vs else 0,
                base.raced_text(group.raced) if group.raced else None,
            ]
        rows.append(row)
    return columns, rows


def trial_ranks(ranking: Ranking) -> dict[str, dict]:
    """trial id -> the summary values that sort W&B's runs table as the ranked table (ended trials only:
    an interrupted trial's run is left to the trial, which reopens it when it resumes)."""
    out = {}
    for pos, group in enumerate(ranking.groups, start=1):
        for trial in (t for t in group.trials if t.status in ENDED):
            out[trial.trial_id] = {
                "sweep/rank": pos,
                "sweep/rank_n": len(group.values),
                "sweep/rank_value": group.interval.mean if group.interval else None,
            }
    return out


def run_id_of(trial_dir: Path) -> str | None:
    """The W&B run id of a trial, from its offline/online run folders (`*run-DATE-ID`)."""
    names = sorted(Path(p).name for p in glob.glob(str(trial_dir / "wandb" / "*run-*-*")))
    return names[-1].rsplit("-", 1)[1] if names else None


def publish(sweep: Sweep, ranking: Ranking, confirm: Ranking | None = None) -> Path | None:
    """Send the ranking to W&B when the sweep uses it; return the ranks file, or None when W&B is off."""
    mode = wandb_mode(sweep)
    if mode == "disabled":
        return None
    import wandb

    # wandb.init starts a wandb-core service and names it in os.environ["WANDB_SERVICE"], which
    # every process started later inherits: Ray workers of a later sweep in this process would
    # share it, and a killed worker's run would stay "in use" there. Ours is shut down after.
    own_service = "WANDB_SERVICE" not in os.environ
    try:
        return _publish(wandb, sweep, ranking, confirm, mode)
    finally:
        if own_service:
            wandb.teardown()
            os.environ.pop("WANDB_SERVICE", None)


def _publish(wandb, sweep: Sweep, ranking: Ranking, confirm: Ranking | None, mode: str) -> Path:
    settings = sweep.resolved.get("train", {}).get("wandb") or {}
    project, entity = settings.get("project", "actot"), settings.get("entity")
    run_id = "ranking-" + hashlib.sha1(str(sweep.path.resolve()).encode()).hexdigest()[:12]
    run = wandb.init(
        project=project,
        entity=entity,
        group=sweep.name,
        name=f"{sweep.name}-ranking",
        id=run_id,
        resume="allow",
        job_type="ranking",
        dir=str(sweep.path),
        mode=mode,
        reinit="create_new",
        config={"sweep": sweep.name, "metric": ranking.metric, "scope": ranking.scope},
        # the run's description, shown above everything on its page: the answer to "does OT help?"
        notes=str(ranking.lead) if ranking.lead is not None else None,
        settings=wandb.Settings(silent=True),
    )
    try:
        tables = {"ranking": ranking, **({"confirm_ranking": confirm} if confirm is not None else {})}
        run.log({key: wandb.Table(*table_data(one, sweep)) for key, one in tables.items()})
        run.summary.update(
            {
                "leader": ranking.groups[0].trials[0].trial_id if ranking.groups else None,
                **({"vs_baseline": str(ranking.lead)} if ranking.lead is not None else {}),
            }
        )
    finally:
        run.finish()

    ranks_path = sweep.path / RANKS_FILE
    try:
        published = json.loads(ranks_path.read_text())
    except (OSError, ValueError):
        published = {}
    for trial_id, values in trial_ranks(ranking).items():
        trial_dir = sweep.path / "trials" / trial_id
        wandb_id = run_id_of(trial_dir)
        if wandb_id is None or published.get(trial_id) == values:
            continue
        trial_run = wandb.init(
            project=project,
            entity=entity,
            group=sweep.name,
            name=trial_id,
            id=wandb_id,
            resume="allow",
            dir=str(trial_dir),
            mode=mode,
            reinit="create_new",
            settings=wandb.Settings(silent=True),
        )
        try:
            trial_run.summary.update(values)
        finally:
            trial_run.finish()
        published[trial_id] = values
        ranks_path.write_text(json.dumps(published, indent=2))
    return ranks_path
