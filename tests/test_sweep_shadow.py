"""rules.shadow=true records what every rule would have done without stopping anything (a real tiny
Ray sweep), and TPE's start-up trials fit the sweep's size so a default sweep is not pure random search."""

import json
from pathlib import Path

import optuna
import pyarrow.parquet as pq
import pytest

from actot.errors import ActotError
from actot.rules import first_decisions, parse_rules
from actot.sweep.config import SweepConfig, apply_cli, startup_trials
from tests.test_sweep_ray import TINY_SWEEP, ray_tmp, sweep_files  # noqa: F401 (ray_tmp is a fixture)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")  # an in-process sweep: the session's one Ray
def test_shadow_mode_records_a_firing_rule_and_stops_nothing(small_sim, tmp_path, ray_tmp, capsys):  # noqa: F811
    from run_sweep import main

    source, target = small_sim
    args = sweep_files(tmp_path, n=2, c=1, steps=20) + [
        "name=shadow",
        "rules.shadow=true",
        f"ray_temp_dir={ray_tmp}",
        f"data.source={source}",
        f"data.target={target}",
        *TINY_SWEEP,
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "shadow: rule pi_collapse would stop trial" in out and "rule pi_collapse stops trial" not in out

    sweep_dir = tmp_path / "out" / "shadow"
    rows = pq.read_table(sweep_dir / "results.parquet").to_pylist()
    by_trial = {}
    for row in rows:
        by_trial.setdefault(row["param/ot.reg"], []).append(row)
    collapsed, healthy = by_trial[0.005], by_trial[2.0]
    # The rule fired (pi_collapse after 10, patience 1) but the trial ran to its last step.
    assert collapsed[0]["status"] == "finished" and collapsed[0]["stop_rule"] is None
    assert [r["step"] for r in collapsed] == [0, 5, 10, 15, 20]
    shadow = json.loads(collapsed[0]["shadow"])
    assert [(d["rule"], d["action"], d["step"]) for d in shadow] == [("pi_collapse", "stop", 10)]
    assert "ot_pi_sum" in shadow[0]["reason"]
    # What the live check recorded is what the offline replay (the rule audit's) finds in the history.
    rules = parse_rules(json.loads((sweep_dir / "sweep.json").read_text())["sweep"]["rules"])
    history = [
        {
            k: v
            for k, v in r.items()
            if v is not None and (k == "step" or "/" in k or k.startswith("ot_")) and not k.startswith("param/")
        }
        for r in collapsed
    ]
    assert [(d.rule, d.step) for d in first_decisions(rules, history)] == [("pi_collapse", 10)]
    assert healthy[0]["status"] == "finished" and healthy[0]["shadow"] is None
    study = optuna.load_study(study_name="shadow", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    assert {t.state for t in study.trials} == {optuna.trial.TrialState.COMPLETE}
    report = (sweep_dir / "report.md").read_text()
    assert "shadow: pi_collapse would stop at step 10" in report
    assert json.loads((sweep_dir / "sweep.json").read_text())["sweep"]["rules_shadow"] is True

    # The rule audit reads the shadow sweep's full histories and finds the same stop.
    from bench.rule_audit import main as audit

    capsys.readouterr()
    assert audit(["--sweep", str(sweep_dir), "--metric", "eval/avg_l1", "--no-grid"]) == 0
    out = capsys.readouterr().out
    trial_id = collapsed[0]["trial_id"]
    assert f"pi_collapse stops {sweep_dir}/{trial_id} at step 10" in out and "2 runs of 2 configs" in out


def test_rules_shadow_is_a_sweep_key_on_the_command_line_and_in_a_file(tmp_path):
    from actot.sweep.config import load_sweep

    assert SweepConfig().rules_shadow is False
    assert apply_cli(SweepConfig(), ["rules.shadow=true"]).rules_shadow is True
    (tmp_path / "s.yaml").write_text("num_samples: 3\nrules.shadow: true\nrules: [pi_collapse]\n")
    cfg, _ = load_sweep(str(tmp_path / "s.yaml"))
    assert cfg.rules_shadow is True and cfg.rules == ["pi_collapse"]
    with pytest.raises(ActotError, match="rules.shadow"):
        apply_cli(SweepConfig(), ["rules.shadow=maybe"])


@pytest.mark.parametrize("num_samples, expected", [(1, 2), (8, 2), (12, 4), (30, 10), (100, 10)])
def test_tpe_startup_trials_follow_the_sweep_size(num_samples, expected):
    assert startup_trials(SweepConfig(num_samples=num_samples)) == expected
    assert startup_trials(apply_cli(SweepConfig(), [f"num_samples={num_samples}", "n_startup_trials=5"])) == 5
    with pytest.raises(ActotError, match="n_startup_trials"):
        apply_cli(SweepConfig(), ["n_startup_trials=-1"])


def test_default_sweep_models_after_its_startup_trials_instead_of_sampling_at_random():
    """With Optuna's default of 10 start-up trials, an 8-trial sweep never left random search: TPE's
    relative (model-based) sample stays empty. The sweep's searcher models from the third trial on."""
    from actot.sweep.tuner import make_searcher
    from actot.sweep.space import load_space

    space = load_space("ot_reg")
    cfg = SweepConfig()  # num_samples 8
    searcher = make_searcher(space, cfg, "startup", total_steps=100)
    sampler = searcher._sampler
    study = optuna.create_study(sampler=sampler, direction="minimize")
    for value, point in zip(
        (0.5, 0.4, 0.3),
        ({"ot.reg": 0.01, "ot.tau": 0.1}, {"ot.reg": 1.0, "ot.tau": 3.0}, {"ot.reg": 0.1, "ot.tau": 20.0}),
    ):
        study.add_trial(optuna.trial.create_trial(params=point, distributions=space.distributions, value=value))
    trial = study.ask()
    relative = sampler.infer_relative_search_space(study, trial)
    assert set(sampler.sample_relative(study, trial, relative)) == {"ot.reg", "ot.tau"}
    old = optuna.samplers.TPESampler(seed=cfg.seed)  # what the runner built before
    assert old.sample_relative(study, trial, old.infer_relative_search_space(study, trial)) == {}
