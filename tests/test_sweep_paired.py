"""Seeds as paired instances: racing's arithmetic on known numbers, the paired searcher on a constructed history
(real Optuna underneath), bad input, the shipped sweep file on real LeRobot data (in this process), and, in the
background (tests/background.py), a tiny real sweep (real Ray) with 2 configs x 2 seeds + the baseline arm through a
search and a sequential confirm stage whose drivers are interrupted and killed on the way and resumed without
running an arm twice or the baseline on a search seed again."""

import html
import json
import math
import shutil
import tempfile
from functools import partial
from pathlib import Path

import optuna
import pyarrow.parquet as pq
import pytest
from test_sweep_ray import TINY_MODEL, TINY_SWEEP, ray_tmp, sweep_files  # noqa: F401 - ray_tmp is a fixture

from actot.sweep.paired import BASELINE_ID, RACED_HOOKS, PairedPlan
from actot.sweep.paired_searcher import PairedSearcher
from actot.sweep.racing import race, residual_sd
from actot.sweep.searcher import RuleAwareOptunaSearch
from actot.sweepdir import ARM_BASELINE, ARM_CONFIG

METRIC = "eval/success"


def test_residual_sd_of_an_additive_table_is_its_noise():
    # x = arm effect + seed effect exactly: no noise left; one cell off by 0.1 -> a known residual
    table = {"a": {0: 0.5, 1: 0.7, 2: 0.6}, "b": {0: 0.3, 1: 0.5, 2: 0.4}, "base": {0: 0.4, 1: 0.6, 2: 0.5}}
    sd, df = residual_sd(table)
    assert df == 9 - 5 and sd == pytest.approx(0.0, abs=1e-12)
    table["a"][0] += 0.1
    sd, df = residual_sd(table)
    assert df == 4 and sd > 0
    # a single arm has no residual left: nothing to race with
    assert residual_sd({"a": {0: 0.1}}) == (pytest.approx(math.nan, nan_ok=True), 0)


def test_race_says_worse_only_with_evidence():
    incumbent = {0: 0.8, 1: 0.9}
    far = race({0: 0.3}, incumbent, noise_sd=0.05, df=6, better="max")
    assert far.p_beats < 0.01 and far.seeds == (0,) and far.mean_diff == pytest.approx(-0.5)
    near = race({0: 0.78}, incumbent, noise_sd=0.05, df=6, better="max")
    assert 0.3 < near.p_beats < 0.5
    # lower is better (eval/avg_l1): a higher error is the worse one
    assert race({0: 0.5}, {0: 0.2}, noise_sd=0.05, df=6, better="min").p_beats < 0.01
    # the floor keeps a sweep whose arms happen to agree from racing on noise
    assert race({0: 0.78}, incumbent, noise_sd=0.0, df=6, better="max", floor_sd=0.05).p_beats > 0.3
    assert race({0: 0.3}, {1: 0.9}, 0.05, 6) is None and race({0: 0.3}, incumbent, math.nan, 0) is None


def _searcher(seeds=(0, 1), configs=3, baseline=True, racing=True):
    space = {"ot.reg": optuna.distributions.FloatDistribution(0.01, 5.0, log=True)}
    inner = RuleAwareOptunaSearch(
        space=space,
        metric=METRIC,
        mode="max",
        points_to_evaluate=[{"ot.reg": 1.0}, {"ot.reg": 0.1}, {"ot.reg": 0.02}],
        sampler=optuna.samplers.TPESampler(seed=0),
        total_steps=100,
    )
    plan = PairedPlan(list(seeds), configs, {"ot.lambda_ot": 0.0} if baseline else None, racing, 0.9, 100, 0.05)
    return PairedSearcher(inner, plan, "test-sweep")


def _end(searcher, trial_id, value, **extra):
    searcher.on_trial_result(trial_id, {METRIC: value, "step": 100})
    searcher.on_trial_complete(trial_id, {METRIC: value, "step": 100, **extra})


def test_paired_searcher_runs_baseline_then_seeds_and_races_a_bad_config(tmp_path):
    s = _searcher()
    raced = []
    RACED_HOOKS["test-sweep"] = lambda tid, info: raced.append((tid, info))
    try:
        b0, b1 = s.suggest("b0"), s.suggest("b1")
        assert [b0["arm"], b1["arm"]] == [ARM_BASELINE] * 2 and [b0["seed"], b1["seed"]] == [0, 1]
        assert "ot.reg" not in b0 and b0["config_id"] == BASELINE_ID
        a0 = s.suggest("a0")  # the first config's first seed; no other seed of it before a0 ends, a new config instead
        assert a0["arm"] == ARM_CONFIG and a0["seed"] == 0 and a0["ot.reg"] == 1.0 and a0["config_id"] == "c000"
        _end(s, "b0", 0.5)
        _end(s, "b1", 0.7)
        _end(s, "a0", 0.8)
        a1 = s.suggest("a1")
        assert (a1["config_id"], a1["seed"]) == ("c000", 1)
        _end(s, "a1", 0.9)  # c000 done: the incumbent; Optuna told its adjusted mean once
        told = [t for t in s.inner._ot_study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        assert len(told) == 1 and told[0].value == pytest.approx((0.8 - 0.5 + 0.9 - 0.7) / 2 + 0.6)
        c0 = s.suggest("c0")
        assert (c0["config_id"], c0["seed"], c0["ot.reg"]) == ("c001", 0, 0.1)
        _end(s, "c0", 0.1)  # far below the incumbent's 0.8 on seed 0: raced out
        d0 = s.suggest("d0")
        assert d0["config_id"] == "c002"  # not c001's seed 1
        assert len(raced) == 1 and raced[0][0] == "c0"
        info = raced[0][1]
        assert info["vs"] == "c000" and info["seeds_run"] == [0] and info["seeds_skipped"] == [1]
        assert info["steps_saved"] == 100 and info["p"] < 0.1
        _end(s, "d0", 0.85)  # as good as the incumbent: it gets its second seed, never raced
        d1 = s.suggest("d1")
        assert (d1["config_id"], d1["seed"]) == ("c002", 1)
        assert s.suggest("x") is None  # d1 still runs: nothing to start, not finished
        _end(s, "d1", 0.95)
        assert s.suggest("y") == "FINISHED"
        states = [t.state for t in s.inner._ot_study.trials]
        assert states.count(optuna.trial.TrialState.COMPLETE) == 3  # once per config, raced included

        path = tmp_path / "searcher.pkl"  # the whole state survives Ray's save/restore
        s.save(str(path))
        fresh = _searcher()
        fresh.restore(str(path))
        assert fresh.configs.keys() == s.configs.keys() and fresh.baseline_scores == {0: 0.5, 1: 0.7}
        assert len(fresh.inner._ot_study.trials) == 3 and fresh.suggest("z") == "FINISHED"
    finally:
        RACED_HOOKS.pop("test-sweep", None)


def test_a_stopped_or_failed_seed_ends_its_config_and_the_incumbent_is_never_raced():
    s = _searcher(baseline=False, racing=True, configs=2)
    a0 = s.suggest("a0")
    assert a0["config_id"] == "c000"
    s.on_trial_complete("a0", {METRIC: math.nan, "step": 20, "stop_rule": "pi_collapse"})
    b0 = s.suggest("b0")
    assert b0["config_id"] == "c001"  # c000 ends at its stopped seed
    assert s.inner._ot_study.trials[0].state == optuna.trial.TrialState.PRUNED
    s.on_trial_complete("b0", None, error=True)
    assert s.inner._ot_study.trials[1].state == optuna.trial.TrialState.FAIL
    assert s.suggest("c") == "FINISHED"


def test_without_racing_every_seed_runs():
    s = _searcher(racing=False, baseline=False, configs=2)
    ids = {}
    for name in ("a", "b"):
        ids[name] = s.suggest(name)
    _end(s, "a", 0.9)
    _end(s, "b", 0.0)
    nxt = s.suggest("c")
    assert nxt["config_id"] == "c000" and nxt["seed"] == 1
    assert s.suggest("d")["config_id"] == "c001"


@pytest.mark.parametrize(
    "words, message",
    [
        (["paired.seeds=0"], "paired.seeds=0 is out of range"),
        (["paired.seed_list=[1,1]"], "paired.seed_list=[1, 1] must name distinct seeds"),
        (["paired.racing.confidence=1.5"], "paired.racing.confidence=1.5 is out of range"),
        (["paired.baseline={ot.lambda_otx: 0}"], "paired.baseline"),
    ],
)
def test_bad_paired_input_is_one_line(tmp_path, capsys, words, message):
    from run_sweep import main

    assert main(sweep_files(tmp_path, n=2, c=1, steps=10) + ["dry_run=true", *TINY_MODEL, *words]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")  # an in-process sweep: the session's one Ray
def test_the_shipped_sweep_file_on_real_lerobot_data_compares_with_co_training_on_held_out_l1(
    tmp_path,
    ray_tmp,  # noqa: F811
    capsys,
):
    from run_sweep import main
    from tests.conftest import SO101, need

    root = need(SO101)  # state and action only: no simulator, so the default metric is the held-out L1
    data = [
        f"data.source={root}",
        "data.source_episodes=[0,1]",
        f"data.target={root}",
        "data.target_episodes=[2,3]",
        "data.n_eval_target=1",
        "data.cameras=[]",
        "policy=act_small",
        "policy.chunk_size=10",
        "policy.n_action_steps=5",
        "policy.dim_model=32",
        "policy.n_heads=2",
        "policy.dim_feedforward=64",
        "policy.n_encoder_layers=1",
        "policy.n_vae_encoder_layers=1",
        "policy.latent_dim=8",
        "batch_size=4",
        "ot.batch_size=8",
        "ot.window_size=2",
    ]
    # confirm.if_ahead=false: the confirm stage runs whatever the search found, so both stages are exercised
    args = [
        "space=ot_reg",
        "sweep=local",
        f"storage={tmp_path / 'out'}",
        "name=real",
        f"ray_temp_dir={ray_tmp}",
        "num_samples=1",
        "max_concurrent=1",  # one trial worker per stage, reused: the shipped file's other keys are the point
        "steps=10",
        "log_every=5",
        "confirm.if_ahead=false",
        *data,
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "metric=auto: eval/avg_l1 (lower is better)" in out
    assert "+ the baseline on 2 new seed(s)" in out  # the confirm stage runs co-training on its fresh seeds only
    rows = pq.read_table(tmp_path / "out" / "real" / "results.parquet").to_pylist()
    search = sorted({(r["arm"], r["seed"]) for r in rows if not r["confirm_of"]})
    assert search == [(ARM_BASELINE, 3), (ARM_BASELINE, 4), (ARM_CONFIG, 3), (ARM_CONFIG, 4)]
    fresh = sorted({(r["arm"], r["seed"]) for r in rows if r["confirm_of"]})
    assert fresh == [(ARM_BASELINE, 5), (ARM_BASELINE, 6), (ARM_CONFIG, 5), (ARM_CONFIG, 6)]
    # the table leads with the comparison on the fresh seeds alone, never with the search's
    lead = next(line for line in out.splitlines() if "confirmed on fresh seeds 5, 6" in line)
    assert "eval/avg_l1" in lead and "n=2" in lead
    # What the order is worth, as the benchmark measured it: said at the start, under the table and in the reports.
    from actot.metrics import REAL_DATA_METRIC, validity_line

    english, chinese = validity_line(REAL_DATA_METRIC)
    assert out.count(english) >= 2
    folder = tmp_path / "out" / "real"
    from actot.report.load import load_sweep_dir
    from actot.report.rank import format_table, rank

    sweep = load_sweep_dir(folder)
    assert english in (folder / "report.md").read_text() and chinese in format_table(rank(sweep), sweep, lang="zh")
    assert html.escape(english) in (folder / "dashboard.html").read_text()


def _search_assertions(sweep_dir: Path) -> None:
    """The paired search's own: 2 configs x 2 seeds + the baseline arm, each arm once."""
    spec = json.loads((sweep_dir / "sweep.json").read_text())
    assert spec["paired"]["seeds"] == [0, 1] and spec["paired"]["baseline"] == {"ot.lambda_ot": 0.0}
    rows = pq.read_table(sweep_dir / "results.parquet").to_pylist()
    trials = {r["trial_id"]: r for r in rows}
    arms = sorted((t["arm"], t["config_id"], t["seed"]) for t in trials.values())
    assert len(arms) == len(set(arms)), f"an arm ran twice: {arms}"
    # the baseline on both seeds; the collapse point's first seed is stopped by pi_collapse, which ends that config
    # (its second seed would waste a trial); the healthy point runs both seeds
    assert len(trials) == 5 and all(t["status"] in ("finished", "stopped") for t in trials.values()), arms
    base = [t for t in trials.values() if t["arm"] == ARM_BASELINE]
    assert sorted(t["seed"] for t in base) == [0, 1] and all(t["config_id"] == BASELINE_ID for t in base)
    assert all(t["param/ot.reg"] is None for t in base)
    configs = {}
    for t in trials.values():
        if t["arm"] == ARM_CONFIG:
            configs.setdefault(t["config_id"], []).append(t)
    assert sorted(configs) == ["c000", "c001"]
    collapse, healthy = (configs[c] for c in sorted(configs, key=lambda c: configs[c][0]["param/ot.reg"]))
    assert [(t["seed"], t["status"], t["stop_rule"]) for t in collapse] == [(0, "stopped", "pi_collapse")]
    assert sorted(t["seed"] for t in healthy) == [0, 1] and all(t["status"] == "finished" for t in healthy)
    assert all(len({t["param/ot.reg"] for t in ts}) == 1 for ts in configs.values())
    lambdas = {
        tid: json.loads((sweep_dir / "trials" / tid / "config.json").read_text())["ot"]["lambda_ot"] for tid in trials
    }
    assert all(lambdas[t["trial_id"]] == 0.0 for t in base)
    assert all(lambdas[t["trial_id"]] > 0.0 for ts in configs.values() for t in ts)


def _confirm_assertions(sweep_dir: Path, resumed: str) -> None:
    """The sequential confirm stage's own, after its last driver (`resumed`: that driver's console)."""
    rows = pq.read_table(sweep_dir / "results.parquet").to_pylist()
    fresh = {r["trial_id"]: r for r in rows if r["confirm_of"]}
    assert sorted((r["arm"], r["seed"]) for r in fresh.values()) == [
        (ARM_BASELINE, 2),
        (ARM_BASELINE, 3),
        (ARM_CONFIG, 2),
        (ARM_CONFIG, 3),
    ]
    assert all(r["status"] == "finished" for r in fresh.values())
    assert len({r["trial_id"] for r in rows if r["arm"] == ARM_BASELINE}) == 4  # fresh seeds only: none again
    for t in fresh:
        steps = [r["step"] for r in rows if r["trial_id"] == t]
        assert len(steps) == len(set(steps)), f"{t} has duplicated history rows"
    section = json.loads((sweep_dir / "sweep.json").read_text())["confirm"]
    assert [one["seeds"] for one in section["looks"]] == [[2], [3]] and section["new_seeds"] == [2, 3]
    assert section["sequential"]["max_seeds"] == 2 and section["sequential"]["effect"] is None
    assert sorted(p["look"] for p in section["points"]) == [1, 1, 2, 2]
    for look, name in ((1, "confirm"), (2, "confirm-look2")):  # each look a Tuner of its own: 2 trials, none twice
        state = json.loads(max((sweep_dir / name).glob("experiment_state-*.json")).read_text())
        assert len(state["trial_data"]) == 2, look
    assert len([f for f in (sweep_dir / "trials").iterdir() if f.is_dir()]) == 5 + 4
    # the end: the confirm table's lead says at which look it stopped and why (a claim, or the cap undecided)
    lead = next(line for line in resumed.splitlines() if "on fresh seeds 2, 3" in line)
    assert "repeated 95% interval of a sequential test" in lead
    assert (
        "stopped at look 2 (2 of at most 2 fresh seeds): the claim boundary is crossed" in lead
        or "stopped at the seed cap, look 2 (2 fresh seeds): undecided" in lead
    ), lead


def _steps(rows: list[dict]) -> list[tuple]:
    return sorted((r["trial_id"], r["step"], r["status"], r.get("eval/avg_l1")) for r in rows)


def _killed_and_resumed(small_sim, tmp_path: Path, ray_dir: str) -> None:
    """A paired sweep (2 configs x 2 seeds + the baseline arm) through both stages with its drivers stopped on the
    way: the search SIGKILLed after three trials and resumed to the end; its sequential confirm stage interrupted
    (SIGINT) after its first trial, resumed, SIGKILLed in the middle of its second look, and resumed to the end; each
    ended stage resumed once more. Nothing that ended runs again, no arm runs twice; its assertions raise here."""
    import os
    import signal
    import subprocess
    import sys

    from test_sweep_ray import ROOT, _finished, _kill_group, _start, _wait_for

    source, target = small_sim
    args = sweep_files(tmp_path, n=2, c=1, steps=10) + [
        "name=pk",
        f"ray_temp_dir={ray_dir}",
        f"data.source={source}",
        f"data.target={target}",
        *TINY_SWEEP,
        "wandb.mode=disabled",  # W&B across kills and resumes: tests/test_sweep_resume_index.py (W&B offline)
        "paired.seeds=2",
        "paired.baseline={ot.lambda_ot: 0.0}",
    ]
    # One trial at a time (a kill lands between a look's two trials). The first look runs 1 fresh seed: with the
    # search's one finished config its SD rests on 1 df, so O'Brien-Fleming's first boundary (t(1) ~ 3,000) cannot
    # be crossed and, with no futility stop (futility=none), look 2 always runs; it is the last (max_seeds 2).
    confirm = args + [
        "stage=confirm",
        "top_k=1",
        "seeds=1",
        "confirm.sequential.enabled=true",
        "confirm.sequential.max_seeds=2",
        "confirm.sequential.futility=none",
    ]
    sweep_dir = tmp_path / "out" / "pk"
    results = sweep_dir / "results.parquet"
    log_path = tmp_path / "driver.log"

    def again(words) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "run_sweep.py", *words], cwd=ROOT, capture_output=True, text=True, timeout=180
        )

    with open(log_path, "w") as log:
        # The search: SIGKILL once the baseline's two seeds and the first config's first seed have ended; resume.
        proc = _start(args, log)
        _wait_for(results, 3, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        _kill_group(proc)
        proc = _start(args + ["resume=true"], log)
        rc = proc.wait(timeout=400)
        _kill_group(proc)
        assert rc == 0, log_path.read_text()[-3000:]
        _search_assertions(sweep_dir)
        ended = again(args + ["resume=true"])
        assert ended.returncode == 0 and "nothing to resume" in ended.stdout, ended.stdout[-3000:]
        searched = _steps(pq.read_table(results).to_pylist())
        mtimes = {t: (sweep_dir / "trials" / t / "history.parquet").stat().st_mtime for t in _finished(results)}

        # The confirm stage: 1. Ctrl-C once its first trial has ended.
        start = len(log_path.read_text())
        proc = _start(confirm, log)
        _wait_for(results, 1, proc, timeout=300, confirm_only=True)
        os.kill(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=180)
        _kill_group(proc)
        text = log_path.read_text()[start:]
        assert rc == 130, text[-3000:]
        assert "INTERRUPTED" in text and "of the confirm stage" in text and "stage=confirm" in text, text[-3000:]
        # 2. Resumed; SIGKILL once look 2's first trial has ended (3 confirm trials).
        proc = _start(confirm + ["resume=true"], log)
        _wait_for(results, 3, proc, timeout=300, confirm_only=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        _kill_group(proc)
        killed_at = _finished(results, confirm_only=True)
        mtimes.update({t: (sweep_dir / "trials" / t / "history.parquet").stat().st_mtime for t in killed_at})
        first = log_path.read_text()
        looks = first[start:]
        assert "confirm look 1: 1 config(s) on fresh seed(s) 2 (1 of at most 2) with the baseline" in looks, looks[
            -3000:
        ]
        assert "look 1 (1 of at most 2 fresh seeds): undecided, more seeds to come" in looks
        assert "confirm look 2: 1 config(s) on fresh seed(s) 3 (2 of at most 2) with the baseline" in looks
        # 3. Resumed to the end: it goes on from the look it was in.
        proc = _start(confirm + ["resume=true"], log)
        rc = proc.wait(timeout=400)
        _kill_group(proc)
    resumed = log_path.read_text()[len(first) :]
    assert rc == 0, resumed[-3000:]
    assert "confirm look 2:" in resumed and "of 2 trial(s) ended before" in resumed
    assert "confirm look 1:" not in resumed  # the stored looks
    _confirm_assertions(sweep_dir, resumed)
    rows = pq.read_table(results).to_pylist()
    assert _steps([r for r in rows if not r["confirm_of"]]) == searched  # the search's rows, as it left them
    for t, mtime in mtimes.items():
        assert (sweep_dir / "trials" / t / "history.parquet").stat().st_mtime == mtime, f"{t} re-ran"

    # Resuming the ended stage runs nothing; another cap is refused in one line.
    ended = again(confirm + ["resume=true"])
    assert ended.returncode == 0 and "2 of 2 trial(s) ended before" in ended.stdout, ended.stdout[-3000:]
    assert pq.read_table(results).to_pylist() == rows
    refused = again([*confirm[:-2], "confirm.sequential.max_seeds=4", "confirm.sequential.futility=none"])
    assert refused.returncode == 2, refused.stdout[-3000:] + refused.stderr[-3000:]
    assert "was started with other settings: sequential.max_seeds 2 -> 4" in refused.stderr, refused.stderr


@pytest.fixture(scope="module", autouse=True)
def _background(request, tmp_path_factory):
    """The paired sweep whose drivers are stopped on the way runs (tests/background.py) while this module's
    in-process sweep does: {"killed": its future}."""
    from background import running, selected

    ray_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths have a length limit
    scenarios = {}
    if selected(request, "test_a_paired_sweep_killed_in_both_stages_resumes_without_running_an_arm_twice"):
        scenarios["killed"] = partial(
            _killed_and_resumed, request.getfixturevalue("small_sim"), tmp_path_factory.mktemp("killed"), ray_dir
        )
    try:
        with running(scenarios) as futures:
            yield futures
    finally:
        shutil.rmtree(ray_dir, ignore_errors=True)


@pytest.mark.slow
def test_a_paired_sweep_killed_in_both_stages_resumes_without_running_an_arm_twice(
    _background,
):  # last: waits while the rest runs
    _background["killed"].result()
