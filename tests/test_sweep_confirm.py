"""The confirm stage: the top configs re-run with new seeds as trials of the same sweep, ranked with intervals.

Known numbers on the hand-built fixture; then a real tiny sweep (real Ray, Optuna, parquet, W&B
offline): search then confirm in one command. A confirm stage interrupted with SIGINT, killed with
SIGKILL and resumed without re-running or duplicating a trial is in tests/test_sweep_paired.py.
"""

import json
from pathlib import Path

import optuna
import pyarrow.parquet as pq
import pytest
from sweep_fixture import build
from wandb_files import wandb_summary
from test_sweep_ray import TINY_SWEEP, ray_tmp, sweep_files  # noqa: F401 - ray_tmp is a fixture

from actot.errors import ActotError
from actot.report import load_sweep_dir
from actot.report.confirm import confirm_ranking, confirm_table
from actot.report.rank import rank
from actot.report.baseline import compare

ROOT = Path(__file__).resolve().parents[1]


def test_confirm_table_on_known_numbers(tmp_path):
    from actot import sweepdir

    folder = build(tmp_path / "fixture")  # t3-5: reg 1 tau 5, last 0.30 0.31 0.32; t6-7: reg 0.5 tau 2, 0.315 0.34
    spec = json.loads((folder / "sweep.json").read_text())
    spec["confirm"] = {
        "top_k": 2,
        "seeds": 2,
        "metric": "eval/avg_l1",
        "scope": "last",
        "search_seed": 0,
        "new_seeds": [1, 2],
        "configs": ["t3", "t6"],
        "points": [{}] * 3,
    }
    (folder / "sweep.json").write_text(json.dumps(spec))
    rows = sweepdir.read_rows(folder)  # seeds 1 and 2 are the confirm stage's repeats of t3 and t6
    for row in rows:
        if row["trial_id"] in ("t4", "t5", "t7"):
            row["confirm_of"] = "t6" if row["trial_id"] == "t7" else "t3"
    sweepdir.write_rows(folder, rows)
    ranking = confirm_ranking(load_sweep_dir(folder))
    # the confirm seeds alone: the search trials (t3, t6) that chose the configs never join their groups
    assert [sorted(t.trial_id for t in g.trials) for g in ranking.groups] == [["t4", "t5"], ["t7"]]
    assert ranking.groups[0].interval.mean == pytest.approx(0.315)
    assert ranking.groups[1].interval.mean == pytest.approx(0.34)
    text = confirm_table(folder)
    assert "confirm stage: the search's top 2 config(s)" in text and "fresh seeds 1, 2" in text
    row = next(line for line in text.splitlines() if line.startswith("t3") or "reg=1," in line)
    cells = [c.strip() for c in row.split("  ") if c.strip()]
    assert cells[1:5] == ["0", "0.3", "1, 2", "0.315"]  # search seed and value apart from the confirm seeds'


def test_confirm_keys_are_checked_before_anything_runs():
    from actot.sweep.config import SweepConfig, apply_cli

    for words, named in (
        (["stage=confirm"], "confirm.top_k=0"),
        (["stage=confirm", "top_k=2"], "confirm.seeds=0"),
        (["confirm.top_k=2"], "confirm.seeds=0"),
        (["stage=check"], "stage='check'"),
        (["seeds=-1"], "confirm.seeds=-1"),
    ):
        with pytest.raises(ActotError, match=named.replace("(", r"\(").replace("'", "'")):
            apply_cli(SweepConfig(), words)
    cfg = apply_cli(SweepConfig(), ["stage=confirm", "top_k=3", "seeds=5"])
    assert (cfg.stage, cfg.confirm.top_k, cfg.confirm.seeds) == ("confirm", 3, 5)
    # confirming "ahead of co-training" needs co-training: refused in one line without a baseline arm
    with pytest.raises(ActotError, match=r"confirm.if_ahead=true .* no baseline arm; add paired.baseline") as err:
        apply_cli(SweepConfig(), ["confirm.top_k=1", "confirm.seeds=2", "confirm.if_ahead=true"])
    assert "\n" not in str(err.value)
    cfg = apply_cli(
        SweepConfig(),
        ["confirm.top_k=1", "confirm.seeds=2", "confirm.if_ahead=true", "paired.baseline={ot.lambda_ot: 0.0}"],
    )
    assert cfg.confirm.if_ahead


def test_if_ahead_confirms_only_configs_ahead_of_co_training_on_the_search_seeds(tmp_path):
    from actot.report.confirm import leaders
    from sweep_fixture import BEATS, paired_sweep

    folder = paired_sweep(tmp_path / "beats", BEATS)  # c000 ahead by 0.12, c001 behind by 0.02
    assert leaders(folder, 2)[0] == ["c0s3", "c1s3"]
    assert leaders(folder, 2, ahead_only=True)[0] == ["c0s3"]
    behind = paired_sweep(
        tmp_path / "behind", {"baseline": {3: 0.30, 4: 0.35}, "c000": {3: 0.40, 4: 0.37}, "c001": {3: 0.43, 4: 0.51}}
    )
    assert leaders(behind, 2, ahead_only=True)[0] == []  # no fresh seeds spent


@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")  # an in-process sweep: the session's one Ray
def test_search_then_confirm_in_one_command(small_sim, tmp_path, ray_tmp, capsys):  # noqa: F811
    from run_sweep import main

    source, target = small_sim
    args = sweep_files(tmp_path, n=3, c=1, steps=20) + [
        "name=conf",
        f"ray_temp_dir={ray_tmp}",
        f"data.source={source}",
        f"data.target={target}",
        *TINY_SWEEP,
    ]
    with open(tmp_path / "sweep.yaml", "a") as f:
        f.write("confirm: {top_k: 2, seeds: 2}\n")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "confirm stage: 2 config(s) x 2 new seed(s)" in out and "confirm stage: the search's top 2 config(s)" in out

    sweep_dir = tmp_path / "out" / "conf"
    rows = pq.read_table(sweep_dir / "results.parquet").to_pylist()
    trials = {r["trial_id"]: r for r in rows}
    search = {t: r for t, r in trials.items() if not r["confirm_of"]}
    confirm = {t: r for t, r in trials.items() if r["confirm_of"]}
    assert len(search) == 3 and len(confirm) == 4
    finished = [t for t, r in search.items() if r["status"] == "finished"]  # the collapse point is stopped
    assert len(finished) == 2 and all(search[t]["seed"] == 0 for t in search)
    for origin in finished:
        repeats = [r for r in confirm.values() if r["confirm_of"] == origin]
        assert sorted(r["seed"] for r in repeats) == [1, 2]
        assert all(
            (r["param/ot.reg"], r["param/ot.tau"]) == (search[origin]["param/ot.reg"], search[origin]["param/ot.tau"])
            for r in repeats
        )
    assert all(r["status"] == "finished" for r in confirm.values())

    # The confirm seeds alone (never pooled with the search trial that chose the config): n = 2 each.
    sweep = load_sweep_dir(sweep_dir)
    ranking = confirm_ranking(sweep)
    assert [len(g.values) for g in ranking.groups] == [2, 2]
    lead, second = ranking.groups
    assert lead.interval.mean <= second.interval.mean
    lead_seeds, second_seeds = ({t.seed: v for t, v in zip(g.counted, g.values)} for g in (lead, second))
    paired = compare({"second": second_seeds}, lead_seeds, "min")["second"]  # P(#1 beats) paired on seeds 1, 2
    assert second.p_leader_beats == pytest.approx(1 - paired.p_beats)

    study = optuna.load_study(study_name="conf", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    mirrored = {t.user_attrs["ray_trial_id"]: t.user_attrs.get("confirm_of") for t in study.trials}
    assert {t: c for t, c in mirrored.items() if c} == {t: r["confirm_of"] for t, r in confirm.items()}

    # W&B (offline): the ranking as a Table, each trial run's rank in its summary, in the table's order.
    tables = list(sweep_dir.glob("wandb/offline-run-*/files/media/table/ranking_*.table.json"))
    assert len(tables) == 1
    table = json.loads(tables[0].read_text())
    assert [row[0] for row in table["data"]] == [1, 2, 3] and [row[4] for row in table["data"]] == [1, 1, 1]
    assert list(sweep_dir.glob("wandb/offline-run-*/files/media/table/confirm_ranking_*.table.json"))
    order = {t.trial_id: pos for pos, g in enumerate(rank(sweep).groups, start=1) for t in g.trials}
    for trial_id, pos in order.items():
        summary = wandb_summary(sweep_dir / "trials" / trial_id)
        assert summary["sweep/rank"] == pos and summary["status"] == trials[trial_id]["status"]

    # Resuming the finished sweep runs nothing again; another top_k is refused in one line.
    assert main(args + ["resume=true"]) == 0
    assert "4 of 4 trial(s) ended before" in capsys.readouterr().out
    assert pq.read_table(sweep_dir / "results.parquet").to_pylist() == rows
    assert main(args + ["stage=confirm", "top_k=1", "seeds=2"]) == 2
    assert "was started with other settings: top_k 2 -> 1" in capsys.readouterr().err
