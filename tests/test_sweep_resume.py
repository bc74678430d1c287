"""Resume is exact: a changed setting refuses in one line, a killed driver leaves no ghost and no
duplicate, and a second driver on the same sweep folder is refused (the lock of a killed one is not stuck).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from actot.sweep.config import apply_cli, load_sweep
from actot.sweep.paired import paired_plan
from actot.sweep.resume import resolved_config
from actot.sweep.preflight import prepare
from actot.sweep.space import load_space
from actot.sweep.stage import StageSettings
from tests.test_sweep_ray import SPACE, SWEEP, TINY_SWEEP

ROOT = Path(__file__).resolve().parents[1]


def _stored_sweep(tmp_path, words):
    """A sweep folder as `run_sweep` leaves it before Ray starts: sweep.json of these settings."""
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "sweep.yaml").write_text(SWEEP.format(n=2, c=1, steps=20))
    space = load_space(str(tmp_path / "space.yaml"))
    cfg = apply_cli(load_sweep(str(tmp_path / "sweep.yaml"))[0], words)
    base, rules, base_cfg = prepare(space, cfg)
    sweep_dir = tmp_path / "out" / "s"
    sweep_dir.mkdir(parents=True)
    settings = StageSettings(space, cfg, base, rules, base_cfg, paired_plan(cfg, base_cfg))
    (sweep_dir / "sweep.json").write_text(json.dumps(resolved_config(settings)))
    return [
        f"space={tmp_path / 'space.yaml'}",
        f"sweep={tmp_path / 'sweep.yaml'}",
        f"storage={tmp_path / 'out'}",
        "name=s",
        "resume=true",
    ]


@pytest.mark.parametrize(
    "change,expected",
    [
        ("steps=40", "train.steps 20 -> 40"),
        ("seed=5", "train.seed 0 -> 5"),
        ("num_samples=9", "sweep.num_samples 2 -> 9"),
        ("ot.heuristic=soft", 'train.ot.heuristic "hard" -> "soft"'),
        ("space:ot.reg high 5.0 -> 9.0", "space.params.ot.reg.attributes.high 5.0 -> 9.0"),
        ("rule:pi_collapse after 10 -> 20", "rule_settings.pi_collapse.after 10 -> 20"),
    ],
)
def test_resume_with_a_changed_key_refuses_in_one_line(tmp_path, capsys, change, expected):
    from run_sweep import main

    base_words = ["ot.window_size=2"]
    args = _stored_sweep(tmp_path, base_words)
    words = list(base_words)
    if change.startswith("space:"):
        (tmp_path / "space.yaml").write_text(SPACE.replace("high: 5.0", "high: 9.0"))
    elif change.startswith("rule:"):
        (tmp_path / "sweep.yaml").write_text(SWEEP.format(n=2, c=1, steps=20).replace("after: 10", "after: 20"))
    else:
        words.append(change)
    assert main(args + words) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert (
        "sweep.json was started with other settings" in err[0] and "drop resume=true and pick another name=" in err[0]
    )
    assert not (tmp_path / "out" / "s" / "results.parquet").exists()


def test_resume_with_the_same_settings_and_another_runtime_key_passes(tmp_path, capsys):
    from run_sweep import main

    args = _stored_sweep(tmp_path, ["ot.window_size=2"])
    _ended_trials(tmp_path)
    assert main(args + ["ot.window_size=2", "experiment_save_s=5", "max_concurrent=1"]) == 0
    out = capsys.readouterr()
    assert "nothing to resume" in out.out and out.err == ""


def _ended_trials(tmp_path):
    from actot.sweep.store import ResultsStore

    store = ResultsStore(
        tmp_path / "out" / "s", load_space(str(tmp_path / "space.yaml")), "eval/avg_l1", "min", "s", 20
    )
    for trial_id in ("a", "b"):
        store.start(trial_id, {"ot.reg": 1.0, "ot.tau": 1.0})
        store.add_result(trial_id, {}, {"step": 20, "eval/avg_l1": 0.5})
        store.finish(trial_id)


def test_resume_by_name_alone_runs_the_stored_settings(tmp_path, capsys):
    """No space=, no sweep=, no training keys: sweep.json's settings, none compared with the defaults."""
    from run_sweep import main

    _stored_sweep(tmp_path, ["ot.window_size=2", "ot.heuristic=hard", "rollout_episodes=0"])
    _ended_trials(tmp_path)
    assert main([f"storage={tmp_path / 'out'}", "name=s", "resume=true"]) == 0
    out = capsys.readouterr()
    assert "nothing to resume" in out.out and out.err == ""
    # A key given with its stored value is no change either.
    assert main([f"storage={tmp_path / 'out'}", "name=s", "resume=true", "steps=20", "ot.window_size=2"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "given,expected",
    [
        ("steps=40", "train.steps 20 -> 40"),
        ("num_samples=9", "sweep.num_samples 2 -> 9"),
        ("ot.window_size=3", "train.ot.window_size 2 -> 3"),
    ],
)
def test_resume_by_name_with_a_differing_key_refuses_in_one_line(tmp_path, capsys, given, expected):
    from run_sweep import main

    _stored_sweep(tmp_path, ["ot.window_size=2"])
    _ended_trials(tmp_path)
    assert main([f"storage={tmp_path / 'out'}", "name=s", "resume=true", given]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].split("other settings: ", 1)[1].split(". Resume", 1)[0] == expected, err
    assert "leave these out: name=s resume=true alone runs them" in err[0]


def test_resume_by_name_of_no_sweep_says_so(tmp_path, capsys):
    from run_sweep import main

    assert main([f"storage={tmp_path / 'out'}", "name=never_ran", "resume=true"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "never_ran holds no sweep.json" in err[0] and "space=NAME" in err[0], err


class Driver:
    """A `run_sweep.py` process in its own session whose console is read line by line."""

    def __init__(self, args, log: Path):
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "run_sweep.py", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            start_new_session=True,
        )

    def kill_after(self, pattern: str, count: int = 1) -> str:
        """SIGKILL the driver as soon as `count` console lines have matched `pattern`; return the last."""
        with open(self.log, "a") as log:
            for line in self.proc.stdout:
                log.write(line)
                if re.search(pattern, line):
                    count -= 1
                    if count == 0:
                        self.kill()
                        return line
        self.kill()
        raise AssertionError(f"the driver ended before printing /{pattern}/; see {self.log}")

    def kill(self):
        try:
            os.kill(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=60)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # what Ray started for this driver
        except ProcessLookupError:
            pass

    def finish(self) -> int:
        out, _ = self.proc.communicate(timeout=400)
        with open(self.log, "a") as log:
            log.write(out)
        self.kill()
        return self.proc.returncode


@pytest.mark.slow
def test_killed_drivers_leave_no_ghost_no_duplicate_and_no_stuck_lock(small_sim, tmp_path):
    source, target = small_sim
    # Two starting points that pi_collapse stops at step 10, before any checkpoint, then a healthy one.
    (tmp_path / "space.yaml").write_text(
        SPACE.replace("  - {name: healthy", "  - {name: collapse2, ot.reg: 0.006, ot.tau: 0.01}\n  - {name: healthy")
    )
    # Ray saves its state when it starts, when a trial checkpoints (at its last step here) and
    # every 1000 s: the second collapsed trial is recorded by us and never saved by Ray.
    (tmp_path / "sweep.yaml").write_text(
        SWEEP.format(n=4, c=1, steps=20).replace("checkpoint_every: 5", "checkpoint_every: 20")
        + "experiment_save_s: 1000\n"
    )
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    args = [
        f"space={tmp_path / 'space.yaml'}",
        f"sweep={tmp_path / 'sweep.yaml'}",
        f"storage={tmp_path / 'out'}",
        "name=k",
        f"ray_temp_dir={ray_tmp}",
        f"data.source={source}",
        f"data.target={target}",
        *TINY_SWEEP,
        "wandb.mode=disabled",  # W&B across kills and resumes: tests/test_sweep_resume_index.py (W&B offline)
    ]
    sweep_dir = tmp_path / "out" / "k"
    log = tmp_path / "drivers.log"
    try:
        # 1. Killed right after the second trial ends (stopped by pi_collapse, unknown to Ray's saved state).
        Driver(args, log).kill_after(r"\[sweep\] trial \S+ (finished|stopped) ", count=2)
        # 2. Killed right after a trial starts.
        Driver(args + ["resume=true"], log).kill_after(r"\[sweep\] trial \S+ started")
        # 3. A second driver on the same folder is refused while this one runs; then this one is
        #    killed right after a trial ends.
        fourth = Driver(args + ["resume=true"], log)
        line = ""
        with open(log, "a") as out:
            for line in fourth.proc.stdout:
                out.write(line)
                if "started" in line:
                    break
        second = subprocess.run(
            [sys.executable, "run_sweep.py", *args, "resume=true"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert second.stderr.strip().splitlines() == [
            f"error: {sweep_dir} is in use by another driver (pid {fourth.proc.pid}); wait for it to end, or stop it "
            "and resume with resume=true"
        ]
        fourth.kill_after(r"\[sweep\] trial \S+ (finished|stopped) ")
        # 4. Resumed to the end.
        rc = Driver(args + ["resume=true"], log).finish()
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    text = log.read_text()
    assert rc == 0, text[-4000:]
    assert "not yet in Ray's saved state when the driver died: dropped" in text  # the ghost case happened

    rows = pq.read_table(sweep_dir / "results.parquet").to_pylist()
    trials = {}
    for row in rows:
        trials.setdefault(row["trial_id"], row)
    assert len(trials) == 4, {t: r["status"] for t, r in trials.items()}
    assert all(r["status"] in ("finished", "stopped") for r in trials.values())
    configs = [(r["param/ot.reg"], r["param/ot.tau"]) for r in trials.values()]
    assert len(set(configs)) == 4, f"a config ran twice: {configs}"
    assert {0.005, 0.006, 2.0} <= {reg for reg, _ in configs}  # the starting points, once each
    for trial_id in trials:
        steps = [r["step"] for r in rows if r["trial_id"] == trial_id]
        assert len(steps) == len(set(steps)) and steps[0] == 0, (trial_id, steps)
    # Ray's own state knows exactly these trials, and our trial folders are theirs.
    state = json.loads(max(sweep_dir.glob("experiment_state-*.json")).read_text())
    ray_ids = {json.loads(t[0])["trial_id"] for t in state["trial_data"]}
    assert ray_ids == set(trials)
    assert {p.name for p in (sweep_dir / "trials").iterdir()} == set(trials)


def test_a_damaged_index_and_optuna_mirror_heal_from_the_trial_folders(tmp_path, capsys):
    """Truncated results.parquet and optuna.db: rank, report, dashboard and resume still work, nothing lost."""
    import optuna

    from actot.__main__ import main as actot_main
    from actot.run_log import write_history
    from actot.sweep.store import ResultsStore
    from run_sweep import main

    args = _stored_sweep(tmp_path, ["ot.window_size=2"])
    sweep_dir = tmp_path / "out" / "s"
    space = load_space(str(tmp_path / "space.yaml"))
    store = ResultsStore(sweep_dir, space, "eval/avg_l1", "min", "s", 20)
    for trial_id, reg, rule in (("a", 1.0, None), ("b", 0.01, "pi_collapse")):
        store.start(trial_id, {"ot.reg": reg, "ot.tau": 1.0}, {"seed": 0})
        rows = [
            {
                "step": s,
                "eval/avg_l1": 1.0 / (s + 1 + reg),
                "ot_pi_sum": 0.9 if rule is None else 0.01,
                "time/step_s": 0.1,
            }
            for s in (0, 10, 20)
        ]
        for row in rows:
            result = dict(row)
            if rule and row["step"] == 20:
                result.update(stop_rule=rule, stop_step=20, stop_reason="ot_pi_sum=0.01 < 0.1")
            store.add_result(trial_id, {}, result)
        write_history(sweep_dir / "trials" / trial_id / "history.parquet", rows)  # as the trainer writes it
        store.finish(trial_id)
    before = pq.read_table(sweep_dir / "results.parquet").to_pylist()
    assert actot_main(["rank", str(sweep_dir)]) == 0
    table = capsys.readouterr().out
    for name in ("results.parquet", "optuna.db"):
        data = (sweep_dir / name).read_bytes()
        (sweep_dir / name).write_bytes(data[: len(data) // 2])
    assert actot_main(["rank", str(sweep_dir)]) == 0
    out = capsys.readouterr()
    assert out.out.count("rebuilt") == 2 and "Traceback" not in out.out + out.err
    assert out.out.splitlines()[-len(table.splitlines()) :] == table.splitlines()  # the same ranking
    after = pq.read_table(sweep_dir / "results.parquet").to_pylist()
    key = lambda r: (r["trial_id"], r["step"])  # noqa: E731
    assert sorted(after, key=key) == sorted(before, key=key)  # nothing lost
    assert len(list(sweep_dir.glob("results.parquet.damaged-*"))) == 1
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    assert sorted(t.user_attrs["ray_trial_id"] for t in study.trials) == ["a", "b"]
    for command in ("report", "dashboard"):
        assert actot_main([command, str(sweep_dir)]) == 0
    (sweep_dir / "results.parquet").write_bytes(b"PAR1 torn write")
    assert main(args + ["ot.window_size=2"]) == 0  # resume: the index is rebuilt, both trials had ended
    out = capsys.readouterr()
    assert "rebuilt from the 2 trial folder(s)" in out.out and "nothing to resume" in out.out and out.err == ""
