"""The bad-input matrix: each mistake a user can make before or while a sweep runs gets a one-line
error naming the file, key and value (exit code 2, no traceback, no sweep folder left behind).

Runtime failures of a trial (it raises, goes NaN, cannot load its data) are recorded trial
failures instead: tests/test_sweep_survives.py. A second driver on a running sweep:
tests/test_sweep_resume.py. A full disk: see test_results_that_cannot_be_written_are_one_line.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_sweep_ray import SPACE, SWEEP, TINY_SWEEP

ROOT = Path(__file__).resolve().parents[1]
GOOD_SWEEP = SWEEP.format(n=2, c=1, steps=20)

# (case id, command-line words, space file text, sweep file text, fragments the error must hold)
CASES = [
    # command-line overrides
    ("cli-unknown-key", ["num_sampels=3"], SPACE, GOOD_SWEEP, ["unknown key 'num_sampels'", "num_samples"]),
    ("cli-num-samples-zero", ["num_samples=0"], SPACE, GOOD_SWEEP, ["num_samples=0", ">= 1"]),
    ("cli-mode", ["mode=maximize"], SPACE, GOOD_SWEEP, ["mode='maximize'", "min or max"]),
    ("cli-metric", ["metric=ot_pi_summ"], SPACE, GOOD_SWEEP, ["metric 'ot_pi_summ'", "eval/avg_l1"]),
    ("cli-cpu", ["resources.cpu=-1"], SPACE, GOOD_SWEEP, ["resources.cpu=-1"]),
    ("cli-train-range", ["ot.reg=-2"], SPACE, GOOD_SWEEP, ["ot.reg=-2"]),
    ("cli-train-type", ["steps=abc"], SPACE, GOOD_SWEEP, ["steps='abc'", "wrong type"]),
    ("cli-choice", ["ot.heuristic=maybe"], SPACE, GOOD_SWEEP, ["ot.heuristic='maybe'", "hard"]),
    ("cli-preset", ["policy=act_huge"], SPACE, GOOD_SWEEP, ["policy=act_huge", "act_small"]),
    ("cli-not-key-value", ["steps"], SPACE, GOOD_SWEEP, ["'steps' is not key=value"]),
    (
        "cli-success-no-rollouts",
        ["metric=eval/success", "rollout_episodes=0"],
        SPACE,
        GOOD_SWEEP,
        ["rollout_episodes=0", "eval/success"],
    ),
    (
        "cli-asha-success",
        ["metric=eval/success", "asha.enabled=true", "asha.grace_period=500"],
        SPACE,
        GOOD_SWEEP,
        ["asha.enabled=true", "eval/success"],
    ),
    (
        "cli-asha-grace",
        ["asha.enabled=true", "asha.grace_period=10"],
        SPACE,
        GOOD_SWEEP,
        ["asha.grace_period=10", "pi_collapse"],
    ),
    ("cli-resume-missing", ["name=never_ran", "resume=true"], SPACE, GOOD_SWEEP, ["never_ran", "does not exist"]),
    # the direction follows the metric: a contradicting mode is refused, a diagnostic needs one
    (
        "cli-mode-contradicts",
        ["metric=eval/avg_l1", "mode=max"],
        SPACE,
        GOOD_SWEEP,
        ["mode=max", "metric=eval/avg_l1", "lower is better", "mode=min"],
    ),
    (
        "sweep-mode-contradicts",
        [],
        SPACE,
        GOOD_SWEEP + "metric: eval/success\nmode: min\n",
        ["mode=min", "metric=eval/success", "higher is better"],
    ),
    ("cli-diagnostic-needs-mode", ["metric=ot_loss"], SPACE, GOOD_SWEEP, ["metric=ot_loss", "set mode=min"]),
    # pre-flight: what would hang or fail once trials start
    (
        "cli-resources",
        ["resources.cpu=10000", "resources.gpu=8"],
        SPACE,
        GOOD_SWEEP,
        ["resources.cpu=10000", "resources.gpu=8", "no node of this machine", "set resources."],
    ),
    (
        "cli-asha-above-steps",
        ["asha.enabled=true", "asha.grace_period=300"],
        SPACE,
        GOOD_SWEEP,
        ["asha.grace_period=300", "steps=20", "asha.enabled=false"],
    ),
    # search spaces
    (
        "space-bounds",
        [],
        SPACE.replace("low: 0.005, high: 5.0", "low: 5.0, high: 0.005"),
        GOOD_SWEEP,
        ["space.yaml", "ot.reg", "low=5.0 must be below high=0.005"],
    ),
    ("space-unknown-knob", [], SPACE.replace("ot.tau:", "ot.taux:"), GOOD_SWEEP, ["space.yaml", "ot.taux", "ot.tau"]),
    (
        "space-point-outside",
        [],
        SPACE.replace("ot.reg: 2.0", "ot.reg: 50.0"),
        GOOD_SWEEP,
        ["space.yaml", "healthy", "ot.reg=50.0", "outside"],
    ),
    ("space-not-yaml", [], "params: [unclosed\n", GOOD_SWEEP, ["space.yaml", "not valid YAML"]),
    ("space-top-key", [], SPACE + "extra: 1\n", GOOD_SWEEP, ["space.yaml", "extra"]),
    (
        "space-fixed-type",
        [],
        SPACE.replace("fixed: {ot.heuristic: hard}", "fixed: {ot.heuristic: sometimes}"),
        GOOD_SWEEP,
        ["space.yaml", "ot.heuristic='sometimes'"],
    ),
    # sweep files
    ("sweep-unknown-key", [], SPACE, GOOD_SWEEP + "num_sample: 4\n", ["sweep.yaml", "num_sample", "num_samples"]),
    ("sweep-type", [], SPACE, GOOD_SWEEP.replace("num_samples: 2", "num_samples: many"), ["sweep.yaml", "num_samples"]),
    ("sweep-not-mapping", [], SPACE, "- 1\n- 2\n", ["sweep.yaml", "mapping"]),
    ("sweep-train-key", [], SPACE, GOOD_SWEEP.replace("log_every: 5", "log_evry: 5"), ["log_evry", "log_every"]),
    # rules
    ("rule-unknown", [], SPACE, GOOD_SWEEP.replace("  - non_finite", "  - non_finit"), ["non_finit", "built-in"]),
    (
        "rule-metric-typo",
        [],
        SPACE,
        GOOD_SWEEP.replace("eval/avg_l1 > 100", "eval/avg_l2 > 100"),
        ["l1_watch", "eval/avg_l2", "eval/avg_l1"],
    ),
    ("rule-after-float", [], SPACE, GOOD_SWEEP.replace("after: 10", "after: 10.5"), ["pi_collapse", "after=10.5"]),
    (
        "rule-patience-bool",
        [],
        SPACE,
        GOOD_SWEEP.replace("patience: 1", "patience: true"),
        ["pi_collapse", "patience=True"],
    ),
    ("rule-duplicate", [], SPACE, GOOD_SWEEP.replace("  - non_finite", "  - non_finite\n  - non_finite"), ["repeat"]),
    (
        "rule-bad-when",
        [],
        SPACE,
        GOOD_SWEEP.replace("eval/avg_l1 > 100", "eval/avg_l1 >> 100"),
        ["l1_watch", "cannot read when"],
    ),
]
DATA_CASES = [
    # datasets (with the small sim as the good data)
    (
        "data-missing",
        ["data.source=/nonexistent/src", "data.target=/nonexistent/tgt"],
        ["/nonexistent/src", "not found"],
    ),
    ("data-one-side", ["data.source=/nonexistent/src", "data.target=null"], ["data.source", "data.target"]),
    ("data-not-lerobot", ["data.source={empty}", "data.target={target}"], ["meta/info.json", "{empty}"]),
    (
        "data-eval-episodes",
        ["data.source={source}", "data.target={target}", "data.n_eval_target=50"],
        ["data.n_eval_target=50", "8 episodes"],
    ),
    (
        "data-window",
        ["data.source={source}", "data.target={target}", "ot.window_size=100000"],
        ["ot.window_size=100000", "longest"],
    ),
    (
        "data-window-in-a-starting-point",
        ["data.source={source}", "data.target={target}"],
        ["starting point 'wide'", "ot.window_size=100000"],
    ),
    (
        "data-keypoints-on-a-1x1-map",
        ["data.source={source}", "data.target={target}", "ot.embedding=keypoints"],
        ["sweep: ot.embedding=keypoints", "data.resolution=[16, 16] gives a 1x1 feature map", "['mean', 'tokens']"],
    ),
    # runtime
    ("storage-unwritable", ["storage={a_file}/out"], ["storage=", "cannot write"]),
]


def _files(tmp_path, space, sweep):
    (tmp_path / "space.yaml").write_text(space)
    (tmp_path / "sweep.yaml").write_text(sweep)
    return [f"space={tmp_path / 'space.yaml'}", f"sweep={tmp_path / 'sweep.yaml'}", f"storage={tmp_path / 'out'}"]


def _one_line_error(capsys, fragments):
    captured = capsys.readouterr()
    _one_line_error_in(captured.out, captured.err, fragments)


def _one_line_error_in(out: str, err: str, fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in out + err


# Cases whose error depends on whether Ray is up in the driver's process: checked in a fresh `run_sweep.py` process,
# with no Ray running, as a user's driver on a machine with no Ray (its resources are checked against this machine).
# In this test process the session's Ray (conftest's `ray_session`) may be up, started by a module that ran earlier.
IN_A_FRESH_PROCESS = {"cli-resources"}


@pytest.mark.parametrize("words,space,sweep,fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(request, tmp_path, capsys, words, space, sweep, fragments):
    args = _files(tmp_path, space, sweep) + ["name=x", "ot.window_size=2", *words]
    if request.node.callspec.id in IN_A_FRESH_PROCESS:
        done = subprocess.run(
            [sys.executable, "run_sweep.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 2, done.stderr[-2000:]
        _one_line_error_in(done.stdout, done.stderr, fragments)
    else:
        from run_sweep import main

        assert main(args) == 2
        _one_line_error(capsys, fragments)
    assert not (tmp_path / "out" / "x").exists()


@pytest.mark.parametrize("words,fragments", [c[1:] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES])
def test_bad_data_and_storage_are_one_line(small_sim, tmp_path, capsys, words, fragments):
    from run_sweep import main

    source, target = small_sim
    (tmp_path / "empty").mkdir()
    (tmp_path / "a_file").write_text("not a folder")
    names = dict(source=source, target=target, empty=tmp_path / "empty", a_file=tmp_path / "a_file")
    space = SPACE
    if "starting point" in fragments[0]:
        space = (
            SPACE.replace("params:\n", "params:\n  ot.window_size: {type: int, low: 1, high: 100000}\n")
            .replace("ot.tau: 0.01}", "ot.tau: 0.01, ot.window_size: 2}")
            .replace("ot.tau: 10.0}", "ot.tau: 10.0, ot.window_size: 100000}")
            .replace("name: healthy", "name: wide")
        )
    args = _files(tmp_path, space, GOOD_SWEEP) + ["name=x", "ot.window_size=2", *TINY_SWEEP]
    assert main(args + [w.format(**names) for w in words]) == 2
    _one_line_error(capsys, [f.format(**names) for f in fragments])
    assert not (tmp_path / "out" / "x").exists()  # a sweep that never started leaves no folder


def test_corrupt_sweep_json_on_resume_is_one_line(tmp_path, capsys):
    from run_sweep import main
    from tests.test_sweep_resume import _stored_sweep

    args = _stored_sweep(tmp_path, ["ot.window_size=2"])
    sweep_dir = tmp_path / "out" / "s"
    (sweep_dir / "sweep.json").write_text("{ not json")
    assert main(args + ["ot.window_size=2"]) == 2
    _one_line_error(capsys, [str(sweep_dir / "sweep.json"), "cannot be read"])
    for command in ("rank", "report", "dashboard", "export"):
        assert actot_main([command, str(sweep_dir)]) == 2
        _one_line_error(capsys, [str(sweep_dir / "sweep.json"), "cannot be read"])


def actot_main(argv):
    from actot.__main__ import main

    return main(argv)


# Real LeRobot data (G1: videos only for episodes 1, 2, 4 and 5): what fails at the first trial is caught before.
G1_CASES = [
    (
        "g1-missing-videos",
        ["data.source_episodes=[0,1]", "data.target_episodes=[4,5]", "data.n_eval_target=1"],
        [
            "data.source=",
            "observation.images.cam_high",
            "episode(s) 0",
            "data.source_episodes=[1, 2, 4, 5]",
            "data.cameras=[]",
        ],
    ),
    (
        "g1-nothing-left-to-train",
        ["data.cameras=[]", "data.source_episodes=[0,1]", "data.target_episodes=[80,81]", "data.n_eval_target=2"],
        ["data.n_eval_target=2 holds out 2", "2 episodes", "none to train on", "data.n_eval_target=1"],
    ),
]


@pytest.mark.parametrize("words,fragments", [c[1:] for c in G1_CASES], ids=[c[0] for c in G1_CASES])
def test_real_data_preflight_is_one_line_in_sweep_and_train_dry_run(tmp_path, capsys, words, fragments):
    from actot.train import main as train_main
    from run_sweep import main
    from tests.conftest import G1, need

    data = [f"data.source={need(G1)}", f"data.target={G1}", *words]
    for dry in ("false", "true"):
        assert main(_files(tmp_path, SPACE, GOOD_SWEEP) + ["name=x", f"dry_run={dry}", *data]) == 2
        _one_line_error(capsys, fragments)
        assert not (tmp_path / "out" / "x").exists()
    assert train_main([f"out_dir={tmp_path / 'runs'}", "name=r", "dry_run=true", *data]) == 2
    _one_line_error(capsys, fragments)
    assert not (tmp_path / "runs").exists()


def test_real_data_default_metric_is_held_out_l1_and_says_so(tmp_path, capsys):
    from run_sweep import main
    from tests.conftest import G1, need

    data = [
        f"data.source={need(G1)}",
        f"data.target={G1}",
        "data.cameras=[]",
        "data.source_episodes=[0,1,2]",
        "data.target_episodes=[80,81,82,83]",
    ]
    # cost=false: LeRobot's ACT takes ~20 s a step on a CPU, and the cost line is not what this test is about
    assert (
        main(["space=ot_reg", "sweep=local", f"storage={tmp_path / 'out'}", "dry_run=true", "cost=false", *data]) == 0
    )
    out = capsys.readouterr().out
    assert "metric=auto: eval/avg_l1 (lower is better)" in out
    assert '"metric": "eval/avg_l1"' in out and '"mode": "min"' in out
    assert (
        main(
            [
                "space=ot_reg",
                "sweep=local",
                f"storage={tmp_path / 'out'}",
                "dry_run=true",
                "metric=eval/avg_l1",
                "cost=false",
                *data,
            ]
        )
        == 0
    )  # the file's direction no longer applies to another metric
    assert '"mode": "min"' in capsys.readouterr().out


def test_real_data_defaults_are_derived_from_the_dataset_and_said(tmp_path, capsys):
    from actot.train import main as train_main
    from run_sweep import main
    from tests.conftest import G1, need

    data = [
        f"data.source={need(G1)}",
        f"data.target={G1}",
        "data.source_episodes=[1,2]",
        "data.target_episodes=[4,5]",
        "cost=false",
    ]  # LeRobot's ACT at 96x128 takes ~20 s a step on a CPU: not what this test is about
    assert main(["space=ot_reg", "sweep=local", f"storage={tmp_path / 'out'}", "dry_run=true", *data]) == 0
    out = capsys.readouterr().out
    assert "data.resolution=[96, 128]: observation.images.cam_high's 480x640 frames scaled to 128 px" in out
    # half of them, said as half (it said "a tenth")
    assert (
        "data.n_eval_target=1: the last 1 of the 2 target episodes is held out for eval/avg_l1 (1 of 2, 50%: a "
        "tenth of 2 rounds to 0, and at least one is held out)"
    ) in out
    assert '"resolution": [\n        96,\n        128\n      ]' in out and '"n_eval_target": 1' in out  # in sweep.json
    assert "data.pair_scale=nearest: the pairing weights read each DTW cost relative to" in out
    assert '"pair_scale": "nearest"' in out
    assert train_main([f"out_dir={tmp_path / 'runs'}", "name=r", "dry_run=true", *data]) == 0
    assert "[train] data.resolution=[96, 128]" in capsys.readouterr().out


def test_a_lerobot_dataset_gets_lerobots_act_unless_a_preset_is_named(tmp_path, capsys):
    from actot.train import main as train_main
    from run_sweep import main
    from tests.conftest import G1, need

    data = [
        f"data.source={need(G1)}",
        f"data.target={G1}",
        "data.cameras=[]",
        "data.source_episodes=[1,2]",
        "data.target_episodes=[4,5]",
    ]
    sweep = ["space=ot_reg", "sweep=local", f"storage={tmp_path / 'out'}", "dry_run=true", "cost=false", *data]
    assert main(sweep) == 0
    out = capsys.readouterr().out
    assert "[sweep] policy=act: LeRobot's ACT for a LeRobot dataset" in out and '"policy_preset": "act"' in out
    assert main(sweep + ["policy=act_small"]) == 0
    out = capsys.readouterr().out
    assert "policy=act:" not in out and '"policy_preset": "act_small"' in out
    runs = [f"out_dir={tmp_path / 'runs'}", "dry_run=true", "cost=false", *data]  # ACT's steps: not this test
    assert train_main(runs + ["name=a", "policy.dim_model=64"]) == 0  # the user's policy.* keys apply on top
    out = capsys.readouterr().out
    assert "[train] policy=act:" in out and '"policy_preset": "act"' in out and '"dim_model": 64' in out
    assert train_main(runs + ["name=b", "policy=act_small"]) == 0
    assert '"policy_preset": "act_small"' in capsys.readouterr().out
