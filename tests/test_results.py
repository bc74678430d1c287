"""What Optuna sees of each trial, results.parquet, and the SQLite mirror served by optuna-dashboard."""

import json
import math
import subprocess
import sys
import time
import urllib.request

import optuna
import pyarrow.parquet as pq
from optuna.trial import TrialState
from ray_cluster import free_port

from actot.sweep.store import ResultsStore
from actot.sweep.searcher import RuleAwareOptunaSearch
from actot.sweep.space import load_space


def test_searcher_tells_rule_stopped_trials_as_pruned_and_nan_as_failed():
    space = load_space("ot_reg")
    searcher = RuleAwareOptunaSearch(
        space=space.distributions, metric="eval/avg_l1", mode="min", sampler=optuna.samplers.TPESampler(seed=0)
    )
    for trial_id in ("ok", "ruled", "nan"):
        searcher.suggest(trial_id)
        searcher.on_trial_result(trial_id, {"eval/avg_l1": 0.5, "training_iteration": 1, "step": 25})
    searcher.on_trial_complete("ok", {"eval/avg_l1": 0.4, "step": 50})
    searcher.on_trial_complete("ruled", {"eval/avg_l1": 0.01, "step": 50, "stop_rule": "pi_collapse"})
    searcher.on_trial_result("nan", {"eval/avg_l1": math.nan, "training_iteration": 2, "step": 50})
    searcher.on_trial_complete("nan", {"eval/avg_l1": math.nan, "step": 50, "non_finite": 1.0})
    states = [t.state for t in searcher._ot_study.trials]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL]
    searcher.total_steps = 100  # a scheduler (ASHA) stop at step 50 of 100 is no clean COMPLETE either
    searcher.suggest("asha")
    searcher.on_trial_complete("asha", {"eval/avg_l1": 0.02, "step": 50})
    assert searcher._ot_study.trials[-1].state == TrialState.PRUNED
    assert searcher._ot_study.best_value == 0.4  # the flattering 0.01 of the stopped trial is not taken


def _store(tmp_path) -> ResultsStore:
    store = ResultsStore(tmp_path, load_space("ot_reg"), "eval/avg_l1", "min", "demo")
    for trial_id, reg, rule in (("a", 2.0, None), ("b", 0.01, "pi_collapse")):
        store.start(trial_id, {"ot.reg": reg, "ot.tau": 5.0})
        for step in (0, 25, 50):
            result = {"step": step, "eval/avg_l1": 1.0 / (step + 1), "ot_pi_sum": 0.9 if rule is None else 0.01}
            if rule and step == 50:
                result.update(stop_rule=rule, stop_step=50, stop_reason="ot_pi_sum=0.01 < 0.1")
            store.add_result(trial_id, {"ot.reg": reg, "ot.tau": 5.0}, result)
        store.finish(trial_id)
    return store


def test_results_parquet_holds_every_trial_and_reloads(tmp_path):
    store = _store(tmp_path)
    rows = pq.read_table(tmp_path / "results.parquet").to_pylist()
    assert len(rows) == 6 and {r["trial_id"] for r in rows} == {"a", "b"}
    b = [r for r in rows if r["trial_id"] == "b"]
    assert all(r["status"] == "stopped" and r["stop_rule"] == "pi_collapse" and r["stop_step"] == 50 for r in b)
    assert [r["step"] for r in b] == [0, 25, 50] and b[0]["param/ot.reg"] == 0.01
    again = ResultsStore(tmp_path, store.space, "eval/avg_l1", "min", "demo")
    again.load()
    assert again.counts() == {"finished": 1, "stopped": 1}
    assert list(again.trials) == ["a", "b"] and again.trials["b"].params == {"ot.reg": 0.01, "ot.tau": 5.0}
    assert [again.final_metric(t) for t in again.trials.values()] == [1.0 / 51, 1.0 / 51]


def test_a_trial_ended_early_by_the_scheduler_is_marked_stopped(tmp_path):
    store = ResultsStore(tmp_path, load_space("ot_reg"), "eval/avg_l1", "min", "demo", total_steps=100)
    store.start("x", {"ot.reg": 1.0, "ot.tau": 5.0})
    store.add_result("x", {}, {"step": 50, "eval/avg_l1": 0.3})
    store.finish("x")
    assert store.trials["x"].status == "stopped" and store.trials["x"].stop_rule == "asha"


def test_mirror_is_served_by_optuna_dashboard(tmp_path):
    _store(tmp_path)
    port = free_port()
    serve = (
        f"from optuna_dashboard import run_server; "
        f"run_server('sqlite:///{tmp_path / 'optuna.db'}', host='127.0.0.1', port={port})"
    )
    server = subprocess.Popen([sys.executable, "-c", serve], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, studies = time.time() + 60, None
        while time.time() < deadline and studies is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as response:
                    studies = json.load(response)["study_summaries"]
            except OSError:
                time.sleep(0.3)
        assert studies is not None, "optuna-dashboard did not answer"
        assert [s["study_name"] for s in studies] == ["demo"]
        study_id = studies[0]["study_id"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{study_id}", timeout=5) as response:
            trials = json.load(response)["trials"]
        assert sorted(t["state"] for t in trials) == ["Complete", "Pruned"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/dashboard", timeout=5) as response:
            assert response.status == 200
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_non_finite_trial_is_failed_even_when_the_non_finite_rule_stopped_it(tmp_path):
    space = load_space("ot_reg")
    searcher = RuleAwareOptunaSearch(
        space=space.distributions,
        metric="eval/avg_l1",
        mode="min",
        sampler=optuna.samplers.TPESampler(seed=0),
        total_steps=50,
    )
    searcher.suggest("nan")
    searcher.on_trial_complete(
        "nan",
        {
            "eval/avg_l1": math.nan,
            "step": 10,
            "non_finite": 1.0,
            "stop_rule": "non_finite",
            "filled_metrics": "eval/avg_l1",
        },
    )
    assert searcher._ot_study.trials[-1].state == TrialState.FAIL
    store = ResultsStore(tmp_path, space, "eval/avg_l1", "min", "demo", total_steps=50)
    store.start("nan", {"ot.reg": 1.0, "ot.tau": 5.0})
    store.add_result("nan", {}, {"step": 0, "eval/avg_l1": 0.9})
    store.add_result(
        "nan",
        {},
        {
            "step": 10,
            "train/loss": math.nan,
            "non_finite": 1.0,
            "eval/avg_l1": math.nan,
            "filled_metrics": "eval/avg_l1",
            "stop_rule": "non_finite",
            "stop_reason": "train/loss=nan at step 10",
        },
    )
    store.finish("nan")
    trial = store.trials["nan"]
    assert trial.status == "non_finite" and trial.stop_reason == "train/loss=nan at step 10"
    assert "eval/avg_l1" not in trial.history[-1]  # the NaN stand-in is not a measurement
    study = optuna.load_study(study_name="demo", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert study.trials[0].state == TrialState.FAIL and study.trials[0].user_attrs["status"] == "non_finite"


def test_a_retried_errored_trial_gets_its_new_outcome(tmp_path):
    space = load_space("ot_reg")
    searcher = RuleAwareOptunaSearch(
        space=space.distributions,
        metric="eval/avg_l1",
        mode="min",
        sampler=optuna.samplers.TPESampler(seed=0),
        total_steps=50,
    )
    params = searcher.suggest("t1")
    searcher.on_trial_complete("t1", None, error=True)
    # Ray retries it under the same id after a resume (resume_errored=True).
    searcher.on_trial_result("t1", {"eval/avg_l1": 0.5, "step": 25})
    searcher.on_trial_complete("t1", {"eval/avg_l1": 0.3, "step": 50})
    trials = searcher._ot_study.trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert trials[1].params == params and trials[1].value == 0.3 and trials[1].intermediate_values == {25: 0.5}

    store = ResultsStore(tmp_path, space, "eval/avg_l1", "min", "demo", total_steps=50)
    store.start("t1", params)
    store.finish("t1", error=True, reason="ActotError: out of memory")
    store.start("t1", params)
    store.add_result("t1", params, {"step": 50, "eval/avg_l1": 0.3})
    store.finish("t1")
    study = optuna.load_study(study_name="demo", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert [(t.state, t.value, t.user_attrs["ray_trial_id"]) for t in study.trials] == [
        (TrialState.COMPLETE, 0.3, "t1")
    ]


def test_int_and_bool_knobs_come_back_typed_and_the_mirror_works_after_a_reload(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(
        "params:\n  ot.window_size: {type: int, low: 2, high: 20}\n"
        "  amp: {type: categorical, choices: [true, false]}\n"
        "  ot.heuristic: {type: categorical, choices: [hard, soft]}\n"
    )
    space = load_space(str(path))
    store = ResultsStore(tmp_path, space, "eval/avg_l1", "min", "demo")
    params = {"ot.window_size": 10, "amp": False, "ot.heuristic": "soft"}
    store.start("a", params)
    store.add_result("a", params, {"step": 0, "eval/avg_l1": 0.4})
    store.finish("a")
    again = ResultsStore(tmp_path, space, "eval/avg_l1", "min", "demo")
    again.load()
    assert again.trials["a"].params == params
    assert [type(again.trials["a"].params[k]) for k in params] == [int, bool, str]
    again.start("b", params)
    again.add_result("b", params, {"step": 0, "eval/avg_l1": 0.5})
    again.finish("b")  # the mirror rebuilds nothing and accepts the typed values
    study = optuna.load_study(study_name="demo", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert [t.params for t in study.trials] == [params, params]


def test_a_corrupt_results_file_is_rebuilt_in_one_line(tmp_path, capsys):
    """A torn index is rebuilt from the trial folders (here none), said in one line; the damaged file is kept."""
    (tmp_path / "results.parquet").write_bytes(b"PAR1 this is not parquet")
    store = ResultsStore(tmp_path, load_space("ot_reg"), "eval/avg_l1", "min", "demo")
    store.load()
    said = capsys.readouterr().out.strip().splitlines()
    assert len(said) == 1 and "results.parquet could not be read" in said[0] and "rebuilt" in said[0]
    assert store.trials == {} and len(list(tmp_path.glob("results.parquet.damaged-*"))) == 1


def test_results_that_cannot_be_written_are_one_line(tmp_path):
    """A full disk, simulated without root by a per-process file-size limit (RLIMIT_FSIZE): the write
    fails with EFBIG instead of ENOSPC, which takes the same path. A real size-limited folder (tmpfs,
    loop device) needs root."""
    script = f"""
import resource, sys
from actot.errors import ActotError
from actot.sweep.store import ResultsStore
from actot.sweep.space import load_space
store = ResultsStore({str(tmp_path)!r}, load_space("ot_reg"), "eval/avg_l1", "min", "demo")
store.start("a", {{"ot.reg": 1.0, "ot.tau": 5.0}})
store.add_result("a", {{}}, {{"step": 0, "eval/avg_l1": 0.5}})
store.finish("a")                       # small: fits
size = (store.sweep_dir / "results.parquet").stat().st_size
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 1000, size + 1000))
for step in range(1, 3000):
    store.add_result("a", {{}}, {{"step": step, "eval/avg_l1": 0.5, "train/loss": step * 1.5}})
try:
    store.write()
except ActotError as err:
    print(err)
    sys.exit(7)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 7, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{tmp_path / 'results.parquet'}: cannot be written (")
    assert "File too large" in lines[0] and lines[0].endswith("free space, then resume with resume=true")
    rows = pq.read_table(tmp_path / "results.parquet").to_pylist()  # the last complete file is intact
    assert [r["step"] for r in rows] == [0]
    assert not list(tmp_path.glob("*.tmp"))


def test_a_locked_mirror_is_tried_again_and_never_ends_the_sweep(tmp_path, monkeypatch, capsys):
    """Optuna wraps SQLAlchemy's errors at commit (a locked optuna.db under load) in StorageInternalError, which is no
    SQLAlchemyError: it escaped the store and the recorder's on_trial_complete, and Tune failed the trial that had
    just finished (or, with max_failures, ran it again). Now the write is tried again; one that stays locked is a
    WARNING line, the results stay in results.parquet, and the next trial end (or the end of the sweep) mirrors the
    trial it missed."""
    import sqlite3
    from types import SimpleNamespace

    from actot import sweepdir
    from actot.sweep import store as store_module
    from actot.sweep.callbacks import ResultsRecorder

    monkeypatch.setattr(sweepdir, "SQLITE_TIMEOUT_S", 0.2, raising=False)  # a lock is waited for this long per try
    monkeypatch.setattr(store_module, "MIRROR_BACKOFF_S", 0.01, raising=False)
    store = ResultsStore(tmp_path, load_space("ot_reg"), "eval/avg_l1", "min", "demo", total_steps=50)
    recorder = ResultsRecorder(store, num_samples=3)
    params = {"ot.reg": 1.0, "ot.tau": 5.0}

    def run(trial_id: str) -> None:
        store.start(trial_id, params)
        store.add_result(trial_id, params, {"step": 50, "eval/avg_l1": 0.25})
        recorder.on_trial_complete(0, [], SimpleNamespace(trial_id=trial_id, config=params))

    run("a")
    writer = sqlite3.connect(tmp_path / "optuna.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another connection holds the write lock (reads still work)
    run("b")  # its mirror cannot commit: said, not raised
    out = capsys.readouterr().out
    assert "[sweep] WARNING:" in out and "optuna.db: cannot be written (" in out and "locked" in out
    assert "trial b finished" in out
    assert {r["trial_id"] for r in pq.read_table(tmp_path / "results.parquet").to_pylist()} == {"a", "b"}
    writer.execute("ROLLBACK")
    writer.close()
    run("c")
    study = optuna.load_study(study_name="demo", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert sorted(t.user_attrs["ray_trial_id"] for t in study.trials) == ["a", "b", "c"]


def test_a_processs_optuna_storage_is_built_once_per_file_and_anew_for_a_replaced_file(tmp_path):
    # Building a storage checks the file's schema against alembic's migration scripts: a sweep asked for 13.
    from actot import sweepdir

    db = tmp_path / "optuna.db"
    assert sweepdir.study_storage(db) is not sweepdir.study_storage(db)  # no file yet: nothing to key it by
    sweepdir.open_study(db, "demo", "min")
    first = sweepdir.study_storage(db)
    assert sweepdir.study_storage(db) is first and sweepdir.study_is_readable(db)
    sweepdir.write_study(tmp_path, [], "eval/avg_l1", "min", "demo", {})  # a new file replaces it
    assert sweepdir.study_storage(db) is not first
    assert optuna.get_all_study_names(sweepdir.study_storage(db)) == ["demo"]
    db.write_bytes(b"not a database")  # damaged in place: the kept storage fails as a new one would
    assert not sweepdir.study_is_readable(db)
    for i in range(sweepdir.KEPT_STORAGES + 2):  # only the newest are kept
        other = tmp_path / f"other{i}.db"
        sweepdir.open_study(other, "demo", "min")
        sweepdir.study_storage(other)
    assert len(sweepdir._STORAGES) <= sweepdir.KEPT_STORAGES
