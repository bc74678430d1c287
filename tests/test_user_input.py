"""What a new user types (issue 31): episode ranges and a chosen held-out list, `~` in every path, a dry run that
refuses what the real run would, --help with the values of the sweep file that runs, and what a run will cost,
on the shared datasets (G1: 100 episodes, 26-D, videos for 1, 2, 4, 5; SO-101: 4 episodes, 6-D, no video)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from actot.config import parse_cli
from actot.cost import Estimate, measure, run_line, sweep_line
from actot.errors import ActotError
from actot.run_data import derive_data_defaults, held_out_words, load_data, preflight_data
from actot.train import main as train_main
from tests.conftest import G1, SO101, need

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "policy=act_small",
    "policy.dim_model=32",
    "policy.n_heads=2",
    "policy.dim_feedforward=64",
    "policy.n_encoder_layers=1",
    "policy.n_vae_encoder_layers=1",
    "policy.latent_dim=8",
    "policy.backbone_width=8",
    "policy.chunk_size=6",
    "batch_size=4",
    "ot.batch_size=4",
    "ot.window_size=2",
    "threads=1",
]


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def so101(*words):
    return parse_cli([f"data.source={need(SO101)}", f"data.target={SO101}", "data.cameras=[]", *TINY, *words])


# ------------------------------------------------------------------ episodes as a user writes them
def test_episode_ranges_become_lists_before_the_type_check():
    cfg = parse_cli(
        ["data.source_episodes=0-79", "data.target_episodes=[0-3, 80-82, 90]", "data.eval_target_episodes=7"]
    )
    assert cfg.data.source_episodes == list(range(80))
    assert cfg.data.target_episodes == [0, 1, 2, 3, 80, 81, 82, 90] and cfg.data.eval_target_episodes == [7]
    assert parse_cli(["data.source_episodes=1,2,4"]).data.source_episodes == [1, 2, 4]
    for word, fragment in (
        ("data.source_episodes=79-0", "runs backwards; write it low to high, 79-0 -> 0-79"),
        ("data.target_episodes=a-b", "neither an episode index nor a range FIRST-LAST; e.g. data.target_episodes=0-79"),
        ("data.target_episodes=[0-3, 2]", "names episode(s) [2] more than once"),
    ):
        with pytest.raises(ActotError) as err:
            parse_cli([word])
        assert one_line(err).startswith(f"command line: {word.split('=')[0]}=") and fragment in str(err.value)
    with pytest.raises(
        ActotError,
        match=r"data.n_eval_target=3 is out of range; it must be null \(or 2\) with "
        "data.eval_target_episodes",
    ):
        parse_cli(["data.n_eval_target=3", "data.eval_target_episodes=[1,2]"])


def test_the_sweep_reads_ranges_from_its_files_and_command_line():
    from actot.sweep.config import SweepConfig, apply_cli, base_train_config

    cfg = apply_cli(SweepConfig(), ["data.source_episodes=[0-2, 5]"])
    assert base_train_config(cfg, {"data.target_episodes": "10-12"}).data.target_episodes == [10, 11, 12]
    assert base_train_config(cfg, {}).data.source_episodes == [0, 1, 2, 5]


def test_chosen_held_out_episodes_are_removed_from_training_and_evaluated():
    cfg, said = derive_data_defaults(so101("data.eval_target_episodes=[1]"))
    assert (cfg.data.target_episodes, cfg.data.n_eval_target) == ([0, 2, 3, 1], 1)
    assert said[0].startswith(
        "data.eval_target_episodes=[1]: 1 target episode(s) held out for eval/avg_l1, never "
        "trained on; 3 train (data.target_episodes=[0, 2-3])"
    )
    assert derive_data_defaults(cfg)[0] == cfg  # trials derive it again: the same split
    data = load_data(cfg)[0]
    assert [e["index"] for e in data.tgt_eval] == [1] and [e["index"] for e in data.tgt_train] == [0, 2, 3]
    # named target episodes: the held-out ones overlapping them leave; the others are added for evaluation
    cfg = derive_data_defaults(so101("data.target_episodes=0-2", "data.eval_target_episodes=[2, 3]"))[0]
    assert (cfg.data.target_episodes, cfg.data.n_eval_target) == ([0, 1, 2, 3], 2)
    # the default is as before: the last one of four
    cfg = derive_data_defaults(so101())[0]
    assert (cfg.data.target_episodes, cfg.data.n_eval_target) == (None, 1)
    assert [e["index"] for e in load_data(cfg)[0].tgt_eval] == [3]


@pytest.mark.parametrize(
    "words,fragments",
    [
        (
            ["data.eval_target_episodes=0-3"],
            [
                "data.eval_target_episodes=[0-3] holds out every training target episode",
                "all 4 episodes of",
                "hold out fewer",
            ],
        ),
        (
            ["data.target_episodes=[1]", "data.eval_target_episodes=[1]"],
            ["data.target_episodes=[1]", "none to train on"],
        ),
        (
            ["data.eval_target_episodes=[2, 9]"],
            ["data.eval_target_episodes=[2, 9] names episode(s) 9 that", "lacks (it has 0-3); name episodes it has"],
        ),
    ],
)
def test_held_out_lists_that_cannot_work_are_one_line_errors(words, fragments, tmp_path, capsys):
    with pytest.raises(ActotError) as err:
        preflight_data(so101(*words), "command line")
    message = one_line(err)
    assert all(f in message for f in fragments), message
    args = [f"data.source={SO101}", f"data.target={SO101}", "data.cameras=[]", f"out_dir={tmp_path}", *words]
    assert train_main([*args, "dry_run=true"]) == 2  # the same line from the dry run and the real run
    assert train_main(args) == 2
    err = capsys.readouterr().err
    assert all(f in err for f in fragments) and not any(tmp_path.iterdir())


def test_the_default_held_out_count_is_said_as_it_is():
    assert held_out_words(10, 100) == "10 of 100, 10%: a tenth of them, rounded"
    assert held_out_words(1, 4) == "1 of 4, 25%: a tenth of 4 rounds to 0, and at least one is held out"
    said = [line for line in derive_data_defaults(so101())[1] if line.startswith("data.n_eval_target")]
    assert said == [
        "data.n_eval_target=1: the last 1 of the 4 target episodes is held out for eval/avg_l1 (1 of 4, "
        "25%: a tenth of 4 rounds to 0, and at least one is held out); set data.n_eval_target=N or "
        "data.eval_target_episodes=[...] to choose"
    ]
    g1 = parse_cli([f"data.source={need(G1)}", f"data.target={G1}", "data.cameras=[]"])
    said = [line for line in derive_data_defaults(g1)[1] if line.startswith("data.n_eval_target")]
    assert "(10 of 100, 10%: a tenth of them, rounded)" in said[0]


# ------------------------------------------------------------------ ~ in every path
def test_a_tilde_is_expanded_in_every_path(tmp_path):
    from sweep_fixture import build

    home = tmp_path / "home"
    build(home / "sweeps" / "fx", name="fx")
    env = {**os.environ, "HOME": str(home)}
    for command in (["rank", "~/sweeps/fx"], ["report", "~/sweeps/fx"]):  # quoted: the shell leaves ~ alone
        done = subprocess.run(
            [sys.executable, "-m", "actot", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert (home / "sweeps" / "fx" / "report.md").is_file()
    cfg = parse_cli(["out_dir=~/runs", "data.cache_dir=~/cache", "data.source=~/a", "data.target=~/b"])
    assert not any(str(v).startswith("~") for v in (cfg.out_dir, cfg.data.cache_dir, cfg.data.source, cfg.data.target))
    from actot.cli import parse

    assert parse("export", ["~/sweeps/fx", "out=~/policy"]) == (
        str(Path("~/sweeps/fx").expanduser()),
        {"out": str(Path("~/policy").expanduser())},
    )
    from actot.config import resolve_named_yaml

    assert resolve_named_yaml("~/space.yaml", "search_spaces") == Path.home() / "space.yaml"


# ------------------------------------------------------------------ the dry run refuses what the real run would
@pytest.mark.parametrize(
    "words,fragments",
    [
        (
            [f"data.source={G1}", f"data.target={SO101}", "data.cameras=[]"],
            ["has state/action sizes (26, 26) but data.target=", "has (6, 6)", "same robot"],
        ),
        (
            [f"data.source={SO101}", f"data.target={SO101}", "data.cameras=[]", "ot.window_size=400"],
            [
                "ot.window_size=400 is at least as long as every source episode (the longest has 374 frames)",
                "pick ot.window_size below 374",
            ],
        ),
        (
            [
                f"data.source={G1}",
                f"data.target={G1}",
                "data.source_episodes=[1,2]",
                "data.target_episodes=[4,5]",
                "ot.embedding=keypoints",
                "data.resolution=32",
            ],
            ["ot.embedding=keypoints: data.resolution=[32, 32] gives a 1x1 feature map", "64 or more"],
        ),
    ],
)
def test_the_dry_run_refuses_what_the_real_run_would(words, fragments, tmp_path, capsys):
    from run_sweep import main as sweep_main

    need(G1), need(SO101)
    for dry in ("true", "false"):
        assert train_main([*words, f"out_dir={tmp_path}", f"dry_run={dry}"]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and all(f in err for f in fragments), err
        assert sweep_main(["space=ot_reg", f"storage={tmp_path}", f"dry_run={dry}", *words]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and err.startswith("error: sweep: ") and all(f in err for f in fragments), err
    assert not any(tmp_path.iterdir())


def test_a_missing_data_file_is_caught_from_the_metadata(g1_copy, tmp_path, capsys):
    """g1_copy holds the data of episodes 1 and 2 only: episode 3's file would fail at the first decode."""
    words = [
        f"data.source={g1_copy}",
        f"data.target={g1_copy}",
        "data.cameras=[]",
        "data.source_episodes=[1-3]",
        "data.target_episodes=[1,2]",
        f"out_dir={tmp_path / 'runs'}",
        "dry_run=true",
    ]
    assert train_main(words) == 2
    err = capsys.readouterr().err
    assert "data.source=" in err and "no state/action file for episode(s) 3" in err and "data.source_episodes" in err


# ------------------------------------------------------------------ --help shows what runs
def test_sweep_help_shows_the_values_of_the_sweep_file_that_runs():
    from run_sweep import _help

    text = _help([])
    assert "sweep keys (the values of " in text and "local.yaml, the sweep file that runs" in text
    for line in (
        "  num_samples=2  (local.yaml; built-in 8)",
        "  seed=3  (local.yaml; built-in 0)",
        "  paired.seeds=2  (local.yaml; built-in 1)",
        "  steps=1500  (local.yaml; built-in 300)",
    ):
        assert line in text.splitlines(), line
    assert "  num_samples=32  (gpu.yaml; built-in 8)" in _help(["sweep=gpu"]).splitlines()


# ------------------------------------------------------------------ what it will cost
def test_the_cost_is_timed_on_the_real_model_and_data():
    cfg = derive_data_defaults(so101())[0]
    est = measure(cfg, steps=2)
    assert est.device == "cpu" and est.s_per_step > 0 and 1 <= est.timed_steps <= 2 and est.threads == 1
    line = run_line(est, cfg)
    assert line.startswith(f"cost: {est.s_per_step:.3g} s/step for policy=act_small, no camera, batch_size=4")
    assert "timed over" in line and "steps=300 take ~" in line and "To make it small" not in line  # a short run


def test_a_long_cpu_run_says_what_it_costs_and_how_to_make_it_small():
    cfg = parse_cli(["policy=act", "data.resolution=[96,128]"])
    est = Estimate(20.0, 1, "cpu", 2)  # LeRobot's ACT at 96x128 on a 2-core CPU
    line = run_line(est, cfg)
    assert "20 s/step for policy=act, 96x128 frames" in line and "steps=300 take ~1h40m" in line
    assert line.endswith(
        "To make it small: policy=act_small, data.resolution=[48, 64], steps=30 (what fits 10m00s "
        "at this pace), a machine with a GPU (device=cuda) (each cuts the time; s/step is measured "
        "again by the next dry run)"
    )
    sweep = sweep_line(est, parse_cli(["policy=act", "data.resolution=[96,128]", "steps=1500"]), 8, 2)
    assert (
        "a trial of steps=1500 takes ~8h20m; 8 trial(s), 2 at a time (max_concurrent=2): ~33h20m of wall time" in sweep
        and "policy=act_small" in sweep
    )
    assert "To make it small" not in run_line(Estimate(0.2, 3, "cuda", 1), cfg)


def test_dry_runs_print_the_cost_line(tmp_path, capsys):
    from run_sweep import main

    data = [f"data.source={need(SO101)}", f"data.target={SO101}", "data.cameras=[]", *TINY]
    assert train_main([*data, f"out_dir={tmp_path / 'runs'}", "dry_run=true"]) == 0
    out = capsys.readouterr().out
    assert "[train] cost: " in out and "s/step for policy=act_small" in out and not (tmp_path / "runs").exists()
    assert main(["space=ot_reg", "sweep=local", f"storage={tmp_path / 'out'}", "dry_run=true", "steps=40", *data]) == 0
    out = capsys.readouterr().out
    # local.yaml: 2 configs x 2 seeds + the baseline's 2 seeds, then at most the leader and the baseline on 2 fresh
    # seeds, two at a time
    assert "[sweep] cost: " in out and "a trial of steps=40 takes ~" in out and "10 trial(s), 2 at a time" in out
    assert (
        main(["space=ot_reg", "sweep=local", f"storage={tmp_path / 'out'}", "dry_run=true", "cost=false", *data]) == 0
    )
    assert "cost:" not in capsys.readouterr().out and not (tmp_path / "out").exists()
