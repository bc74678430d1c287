"""Export a sweep's trial as a policy folder and load it back: the same actions as evaluation's rollouts.

One real sweep folder, built as the driver builds it but without Ray (tests/real_sweep.py): sweep.json
from the resolved settings, each trial trained by `train()` into trials/ID (as the trainable does) and
recorded in the index through `ResultsStore`. Trial `a` finished; trial `b` ran with temporal ensembling and was
stopped by a rule at its last report; trial `c` errored before its first checkpoint.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from actot import evaluate
from actot.__main__ import main as actot_main
from actot.export import export_trial, load_policy, representative
from actot.policy import Policy
from actot.policy.act import ACT
from actot.run_data import load_data
from real_sweep import new_sweep

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sweep(small_sim, tmp_path_factory):
    """{'dir': the sweep folder, 'cfg': trial id -> its TrainConfig}."""
    built = new_sweep(small_sim, tmp_path_factory.mktemp("export"))
    built.run("a", {"ot.reg": 2.0})
    built.run(
        "b",
        {"ot.reg": 0.5},
        overrides={"policy.temporal_ensemble_coeff": 0.01},
        stop=("l1_stop", "eval/avg_l1 above the leader's"),
    )
    built.store.start("c", {"ot.reg": 0.1}, {"seed": 0})
    built.store.finish("c", error=True, reason="RuntimeError: the data would not load")
    return {"dir": built.dir, "cfg": built.cfg}


def lerobot_obs(obs: dict, cameras: list[str], row: int | None) -> dict:
    """An env observation as LeRobot feeds a policy: float state, images float (3, H, W) in [0, 1]."""
    out = {"observation.state": torch.from_numpy(obs["observation.state"].copy())}
    for cam in cameras:
        out[cam] = torch.from_numpy(obs[cam].copy()).permute(0, 3, 1, 2).float() / 255
    return {k: v if row is None else v[row] for k, v in out.items()}


def evaluation_actions(monkeypatch, model, cfg, n_episodes: int) -> tuple[list[dict], list[np.ndarray]]:
    """Run `actot.evaluate.rollout_metrics` on `model` and the training data (its normaliser); return every
    observation it saw and every action it sent to the env."""
    seen, sent = [], []
    real_env = evaluate.target_env

    def recording_env(*args, **kwargs):  # the real env, its traffic recorded
        env = real_env(*args, **kwargs)
        reset, step = env.reset, env.step

        def record_reset(*a, **k):
            obs = reset(*a, **k)
            seen.append({k: v.copy() for k, v in obs.items()})
            return obs

        def record_step(action, **kwargs):
            sent.append(np.array(action, copy=True))
            obs, success, done = step(action, **kwargs)
            # A step whose frames the policy does not look at (render=False) has none: the last ones stand in.
            seen.append({**seen[-1], **{k: v.copy() for k, v in obs.items()}})
            return obs, success, done

        env.reset, env.step = record_reset, record_step
        return env

    monkeypatch.setattr(evaluate, "target_env", recording_env)
    data, _, spec = load_data(cfg)
    evaluate.rollout_metrics(model, data, torch.device("cpu"), spec, n_episodes, seed=7)
    return seen[: len(sent)], sent


def checkpoint_model(cfg, trial_dir: Path, weights: str) -> ACT:
    """The trained network as evaluation runs it: built as train() builds it, the checkpoint's weights."""
    data, _, _ = load_data(cfg)
    model = ACT(cfg.policy, data.state_dim, data.action_dim, len(data.cameras))
    state = torch.load(trial_dir / "checkpoint" / "state.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state["ema"]["model"] if weights == "ema" else state["model"])
    return model.eval()


@pytest.mark.parametrize(
    "trial,weights,n_episodes",
    [
        ("a", "ema", 1),  # an action queue of n_action_steps per chunk; one episode, unbatched observations
        ("b", "ema", 3),  # temporal ensembling; three episodes in one batch
        ("a", "raw", 2),  # the optimiser's weights instead of their moving average
    ],
)
def test_the_exported_policy_acts_exactly_as_evaluation(sweep, tmp_path, monkeypatch, trial, weights, n_episodes):
    cfg = sweep["cfg"][trial]
    out = tmp_path / "policy"
    done = export_trial(sweep["dir"], trial=trial, out=out, weights=weights, unfinished=True)
    assert done["weights"] == weights and done["trial"] == trial
    model = checkpoint_model(cfg, sweep["dir"] / "trials" / trial, weights)
    seen, sent = evaluation_actions(monkeypatch, model, cfg, n_episodes)
    assert len(sent) >= 10
    policy = load_policy(out)
    assert isinstance(policy, Policy)  # the object evaluation's rollouts act through (evaluate.rollout_policy)
    assert (policy.cfg.temporal_ensemble_coeff is not None) == (trial == "b")
    cameras = load_data(cfg)[0].cameras
    for episode in range(2):  # twice: reset() starts a new episode from a clean queue / ensemble
        policy.reset()
        for step, (obs, action) in enumerate(zip(seen, sent)):
            if n_episodes == 1:
                got = policy.select_action(lerobot_obs(obs, cameras, row=0))
                expected = torch.from_numpy(action[0])
            else:
                got = policy.select_action(lerobot_obs(obs, cameras, row=None))
                expected = torch.from_numpy(action)
            assert got.dtype == torch.float32 and got.shape == expected.shape
            assert torch.equal(got, expected), (episode, step)


def test_the_folder_carries_the_training_stats_the_ot_settings_and_how_it_was_chosen(sweep, capsys):
    from safetensors.torch import load_file

    assert actot_main(["export", str(sweep["dir"])]) == 0
    printed = capsys.readouterr().out
    out = sweep["dir"] / "export" / "a" / "pretrained_model"
    assert f"export: {out}" in printed and "trial a: #1 of 3 configs" in printed and "EMA" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
        "normalization.safetensors",
        "train_config.json",
    ]
    config = json.loads((out / "config.json").read_text())
    train_config = json.loads((sweep["dir"] / "trials" / "a" / "config.json").read_text())
    assert config["type"] == "actot_act" and config["ot"] == train_config["ot"]
    assert json.loads((out / "train_config.json").read_text()) == train_config
    data = load_data(sweep["cfg"]["a"])[0]
    assert config["input_features"] == {
        "observation.state": {"type": "STATE", "shape": [data.state_dim]},
        **{cam: {"type": "VISUAL", "shape": [3, 32, 32]} for cam in data.cameras},
    }  # derived, as training does
    assert config["output_features"] == {"action": {"type": "ACTION", "shape": [data.action_dim]}}
    assert config["policy"]["chunk_size"] == 6 and config["policy"]["temporal_ensemble_coeff"] is None
    assert config["weights"]["kind"] == "ema" and config["weights"]["step"] == 4
    stats = load_file(out / "normalization.safetensors")
    norm = data.normaliser  # exactly the training normaliser's numbers
    for key, feature in (("observation.state", norm.state), ("action", norm.action)):
        assert np.array_equal(stats[f"{key}.mean"].numpy(), feature.mean)
        assert np.array_equal(stats[f"{key}.std"].numpy(), feature.std)
    readme = (out / "README.md").read_text()
    for fragment in (
        "sweep `s`",
        "last `eval/avg_l1` (lower is better)",
        "**#1 of 3**",
        "one seed",
        "training seed 0",
        "| `ot.reg` | 2 |",
        "| `ot.lambda_ot` | 0.1 |",
        f"python -m actot export {sweep['dir']}",
        "ema_decay 0.999",
    ):
        assert fragment in readme, fragment


@pytest.mark.parametrize(
    "words,fragment",
    [
        (["trial=zz"], "trial=zz: no such trial in"),
        (["trial=b"], "trial=b is stopped (eval/avg_l1 above the leader's), not finished"),
        (["trial=c"], "trial=c is error (RuntimeError: the data would not load), not finished"),
        (["trial=c", "unfinished=true"], "trial=c has no checkpoint"),
        (["weights=best"], "weights='best' must be ema or raw"),
        (["format=onnx"], "format='onnx' must be actot or lerobot"),
        (["trial=a", "format=lerobot"], "format=lerobot: policy.backbone_width=8 has no LeRobot equivalent"),
        (["overwrite=yes"], "overwrite='yes' must be true or false"),
        (["steps=3"], "unknown key 'steps' for export"),
    ],
)
def test_bad_exports_are_one_line_errors(sweep, capsys, words, fragment):
    assert actot_main(["export", str(sweep["dir"]), *words]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err


def test_not_a_sweep_folder_and_an_existing_out_folder_are_refused(sweep, tmp_path, capsys):
    assert actot_main(["export", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no sweep.json, so this is not a sweep folder" in err[0]
    out = tmp_path / "policy"
    assert actot_main(["export", str(sweep["dir"]), f"out={out}"]) == 0
    first = (out / "model.safetensors").read_bytes()
    assert actot_main(["export", str(sweep["dir"]), f"out={out}", "weights=raw"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds an exported policy; add overwrite=true" in err[-1]
    assert (out / "model.safetensors").read_bytes() == first  # refused: untouched
    assert actot_main(["export", str(sweep["dir"]), f"out={out}", "weights=raw", "overwrite=true"]) == 0
    assert json.loads((out / "config.json").read_text())["weights"]["kind"] == "raw"
    assert (out / "model.safetensors").read_bytes() != first
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("mine")
    assert actot_main(["export", str(sweep["dir"]), f"out={other}", "overwrite=true"]) == 2
    assert "holds files that are not an exported policy" in capsys.readouterr().err
    assert (other / "todo.txt").read_text() == "mine"


def test_observation_mistakes_are_one_line_errors(sweep, tmp_path):
    from actot.errors import ActotError

    export_trial(sweep["dir"], trial="a", out=tmp_path / "p")
    policy = load_policy(tmp_path / "p")
    cam = policy.camera_keys[0]
    good = {
        "observation.state": torch.zeros(policy.state_dim),
        **{k: torch.rand(3, 48, 40) for k in policy.camera_keys},
    }
    assert policy.select_action(good).shape == (policy.action_dim,)  # any image size is resized
    for bad, fragment in (
        ({**good, "observation.state": torch.zeros(policy.state_dim + 1)}, "has shape"),
        ({k: v for k, v in good.items() if k != cam}, f"no '{cam}' key"),
        ({**good, cam: good[cam] * 255}, "must be in [0, 1]"),
        ({**good, cam: torch.rand(48, 40, 3)}, "channels first"),
    ):
        policy.reset()
        with pytest.raises(ActotError, match=".") as err:
            policy.select_action(bad)
        assert fragment in str(err.value) and "\n" not in str(err.value)


def test_the_loader_imports_neither_ray_nor_the_sweep_nor_the_dataset_reader(sweep, tmp_path):
    export_trial(sweep["dir"], trial="a", out=tmp_path / "p")
    code = (
        f"import sys, torch; from actot.export import load_policy; p = load_policy({str(tmp_path / 'p')!r}); "
        "obs = {'observation.state': torch.zeros(p.state_dim), **{k: torch.rand(3, 32, 32) for k in p.camera_keys}}; "
        "p.select_action(obs); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'optuna', 'pyarrow', 'wandb', 'ot') "
        "or m.startswith(('actot.sweep', 'actot.report', 'actot.data.lerobot', 'actot.train'))))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_of_several_seeds_the_one_closest_to_the_mean_is_exported():
    assert representative({"s0": 0.30, "s1": 0.50, "s2": 0.42}, "min") == "s2"  # mean 0.407
    assert representative({"s0": 0.2, "s1": 0.4}, "min") == "s0"  # a tie: the better value
    assert representative({"s0": 0.2, "s1": 0.4}, "max") == "s1"
    assert representative({"only": 0.7}, "max") == "only"


def test_help_lists_export(capsys):
    assert actot_main(["export", "--help"]) == 0
    assert "export SWEEP_DIR [trial=ID] [out=DIR] [weights=ema|raw]" in capsys.readouterr().out


def test_the_readmes_interval_words_match_the_seeds(tmp_path, fixture_dir):
    """A config run on two seeds was said to have run with one (issue 31): the words follow n."""
    from sweep_fixture import BEATS, paired_sweep

    from actot.export import interval_words
    from actot.report import load_sweep_dir
    from actot.report.rank import rank

    two = rank(load_sweep_dir(paired_sweep(tmp_path / "two", BEATS))).groups[0]  # c000 on seeds 3 and 4, pooled
    words = interval_words(two)
    assert "one seed" not in words and "over 2 seeds, too few for a 95% bootstrap interval (it takes 3)" in words
    assert f"t-interval [{two.pooled.low:.4g}, {two.pooled.high:.4g}]" in words
    groups = {len(g.values): g for g in rank(load_sweep_dir(fixture_dir)).groups if g.values}
    assert interval_words(groups[1]) == "none: the config ran with one seed (a confirm stage gives intervals)"
    assert interval_words(groups[3]).startswith("mean 0.31, 95% bootstrap interval [0.3, 0.32] over 3 seeds")
