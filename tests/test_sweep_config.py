"""Search spaces, sweep files and command-line overrides are checked before anything starts."""

import subprocess
import sys
from pathlib import Path

import pytest

from actot.errors import ActotError
from actot.rules import parse_rules
from actot.sweep.config import apply_cli, load_sweep
from actot.sweep.preflight import check_asha_against_rules, prepare
from actot.sweep.space import available_spaces, load_space, space_warnings

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["ot_reg", "ot_full", "embed_only", "lambda", "ot_embedding"])
def test_shipped_spaces_parse(name):
    space = load_space(name)
    assert space.distributions and space.starting_points
    assert name in available_spaces()


@pytest.mark.parametrize("name", ["ot_reg", "ot_full", "embed_only", "lambda", "ot_embedding"])
def test_every_dimension_of_a_shipped_space_changes_the_plan(name):
    from actot.config import TrainConfig, apply_overrides

    space = load_space(name)
    heuristic = apply_overrides(TrainConfig(), space.fixed).ot.heuristic
    assert space_warnings(space, heuristic) == []


def test_reg_and_tau_under_the_hard_prior_warn(tmp_path):
    path = tmp_path / "box.yaml"
    path.write_text(
        "params:\n  ot.reg: {type: float, low: 0.1, high: 5, log: true}\n"
        "  ot.tau: {type: float, low: 0.5, high: 20, log: true, pair: tied}\nfixed: {ot.heuristic: hard}\n"
    )
    (warning,) = space_warnings(load_space(str(path)), "hard")
    assert "reg + tau_a + tau_b" in warning and str(path) in warning
    assert space_warnings(load_space(str(path)), "soft") == []


def test_dry_run_validates_prints_the_warning_and_starts_nothing(tmp_path):
    path = tmp_path / "box.yaml"
    path.write_text(
        "params:\n  ot.reg: {type: float, low: 0.1, high: 5, log: true}\n"
        "  ot.tau: {type: float, low: 0.5, high: 20, log: true, pair: tied}\n"
    )  # default heuristic: hard
    storage = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "run_sweep.py", f"space={path}", "dry_run=true", f"storage={storage}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "resolved config:" in done.stdout and "reg + tau_a + tau_b" in done.stdout and "dry run" in done.stdout
    assert not storage.exists() and "ray" not in done.stderr.lower()
    bad = subprocess.run(
        [sys.executable, "run_sweep.py", f"space={path}", "dry_run=true", "ot.reg=-1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "ot.reg" in bad.stderr


def test_a_cpu_sweeps_driver_checks_its_input_and_the_report_commands_load_without_importing_torch(tmp_path):
    # Importing torch costs a process about 1.4 s of CPU: a driver needs it only for the cost line (cost=true)
    # and to count a GPU a trial asks for; `python -m actot rank/report` never.
    code = (
        "import sys, run_sweep, actot.cli; rc = run_sweep.main(sys.argv[1:]); "
        "print('torch imported:', 'torch' in sys.modules); sys.exit(rc)"
    )
    storage = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-c", code, "space=ot_reg", "dry_run=true", "cost=false", f"storage={storage}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "dry run" in done.stdout and done.stdout.splitlines()[-1] == "torch imported: False", done.stdout[-2000:]


def test_separate_tau_and_per_camera_weights(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "params:\n  ot.tau: {type: float, low: 0.5, high: 20, log: true, pair: separate}\n"
        "  ot.weight_embed: {type: float, low: 0, high: 1, per_camera: 2}\n"
    )
    space = load_space(str(path))
    assert set(space.distributions) == {"ot.tau_a", "ot.tau_b", "ot.weight_embed.0", "ot.weight_embed.1"}
    overrides = space.to_overrides(
        {"ot.tau_a": 2.0, "ot.tau_b": 7.0, "ot.weight_embed.0": 0.2, "ot.weight_embed.1": 0.8}
    )
    assert overrides == {"ot.tau": [2.0, 7.0], "ot.weight_embed": [0.2, 0.8]}


@pytest.mark.parametrize(
    "params,fragment",
    [
        ("ot.reg: {type: float, low: 5, high: 1}", "low=5 must be below high=1"),
        ("ot.reg: {type: float, low: 0, high: 1, log: true}", "log scale needs low > 0"),
        ("ot.reg: {type: float, low: a, high: 1}", "'low' must be a number"),
        ("ot.reg: {type: number, low: 0.1, high: 1}", "type 'number'"),
        ("ot.rge: {type: float, low: 0.1, high: 1}", "did you mean 'ot.reg'"),
        ("ot.window_size: {type: int, low: 1.5, high: 4}", "whole numbers"),
        ("ot.heuristic: {type: categorical, choices: []}", "non-empty 'choices'"),
        ("ot.reg: {type: float, low: 0.1, high: 1, pair: tied}", "'pair' applies to ot.tau"),
        ("ot.reg: {type: float, low: 0.1, high: 1, lg: true}", "unknown field"),
        # a choice no trial could run is refused when the space loads, not when a trial draws it
        (
            "ot.embedding: {type: categorical, choices: [mean, centroid]}",
            "params.ot.embedding: 'centroid' is not allowed; choose among ['mean', 'keypoints', 'tokens']",
        ),
        ("ot.heuristic: {type: categorical, choices: [hard, sofft]}", "params.ot.heuristic: 'sofft' is not allowed"),
    ],
)
def test_bad_spaces_rejected_with_file_and_key(tmp_path, params, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(f"params:\n  {params}\n")
    with pytest.raises(ActotError) as e:
        load_space(str(path))
    assert fragment in str(e.value) and "bad.yaml" in str(e.value) and "\n" not in str(e.value)


def test_starting_points_are_checked(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "params:\n  ot.reg: {type: float, low: 0.1, high: 1}\nstarting_points:\n  - {name: far, ot.reg: 3.0}\n"
    )
    with pytest.raises(ActotError, match="far.*outside the space"):
        load_space(str(path))
    path.write_text(
        "params:\n  ot.reg: {type: float, low: 0.1, high: 1}\n"
        "starting_points:\n  - {name: extra, ot.reg: 0.5, ot.tau: 3}\n"
    )
    with pytest.raises(ActotError, match="not searched"):
        load_space(str(path))


def test_unknown_space_lists_available():
    with pytest.raises(ActotError, match="ot_reg"):
        load_space("nonexistent_space")


def test_overrides_split_between_sweep_and_train_keys():
    cfg, _ = load_sweep("local")
    cfg = apply_cli(cfg, ["num_samples=3", "resources.cpu=0.5", "steps=40", "ot.heuristic=soft", "policy=act_small"])
    assert cfg.num_samples == 3 and cfg.resources.cpu == 0.5
    assert cfg.train["steps"] == 40 and cfg.train["ot.heuristic"] == "soft"


@pytest.mark.parametrize(
    "word,fragment",
    [
        ("num_sample=3", "did you mean 'num_samples'"),
        ("ot.rge=1", "did you mean 'ot.reg'"),
        ("num_samples=many", "num_samples"),
        ("max_concurrent=0", "max_concurrent=0 is out of range"),
        ("justaword", "not key=value"),
    ],
)
def test_bad_overrides(word, fragment):
    cfg, _ = load_sweep("local")
    with pytest.raises(ActotError) as e:
        apply_cli(cfg, [word])
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_train_overrides_are_type_checked_before_ray_starts():
    cfg, _ = load_sweep("local")
    cfg = apply_cli(cfg, ["ot.reg=-2"])
    with pytest.raises(ActotError, match="ot.reg"):
        prepare(load_space("lambda"), cfg)


def test_asha_grace_period_must_exceed_rule_warmup():
    cfg, _ = load_sweep("local")
    cfg = apply_cli(cfg, ["asha.enabled=true", "asha.grace_period=50", "metric=eval/avg_l1", "mode=min"])
    with pytest.raises(ActotError, match="grace_period=50.*warm-up"):
        check_asha_against_rules(cfg, parse_rules(cfg.rules), 25)
    check_asha_against_rules(apply_cli(cfg, ["asha.grace_period=151"]), parse_rules(cfg.rules), 25)
    success = apply_cli(cfg, ["asha.grace_period=151", "metric=eval/success", "mode=max"])
    with pytest.raises(ActotError, match="rollout_every"):  # success is measured at the last step only
        check_asha_against_rules(success, parse_rules(cfg.rules), 25)
    check_asha_against_rules(success, parse_rules(cfg.rules), 25, rollout_every=100)


@pytest.mark.parametrize(
    "rule,log_every,first",
    [
        ({"use": "pi_collapse", "after": 50, "patience": 2}, 25, 75),  # two reports: 50 and 75
        ({"use": "pi_collapse", "after": 60, "patience": 3}, 25, 125),  # first report at/after 60 is 75
        ({"use": "ot_cost_diverging", "after": 50, "action": "stop"}, 50, 250),  # 50 + 4 reports x 50
    ],
)
def test_asha_check_counts_patience_log_every_and_trend_windows(rule, log_every, first):
    cfg = apply_cli(load_sweep("local")[0], ["metric=eval/avg_l1", "mode=min"])
    rules = parse_rules([rule])
    with pytest.raises(ActotError, match=f"not above step {first}, "):
        check_asha_against_rules(
            apply_cli(cfg, ["asha.enabled=true", f"asha.grace_period={max(first, 1)}"]), rules, log_every
        )
    check_asha_against_rules(apply_cli(cfg, ["asha.enabled=true", f"asha.grace_period={first + 1}"]), rules, log_every)


def test_help_lists_spaces_sweeps_and_keys():
    out = subprocess.run(
        [sys.executable, "run_sweep.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0
    for word in ("ot_reg", "embed_only", "local", "num_samples", "ot.window_size", "pi_collapse"):
        assert word in out.stdout


def test_cli_error_is_one_line_without_traceback():
    out = subprocess.run(
        [sys.executable, "run_sweep.py", "space=ot_reg", "num_sampels=3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "error: command line: unknown key 'num_sampels'; did you mean 'num_samples'?"
    ]


def test_same_seed_same_suggestions():
    import optuna

    from actot.sweep.searcher import RuleAwareOptunaSearch

    space = load_space("ot_reg")

    def suggestions(seed):
        searcher = RuleAwareOptunaSearch(
            space=space.distributions, metric="eval/avg_l1", mode="min", sampler=optuna.samplers.TPESampler(seed=seed)
        )
        return [searcher.suggest(f"t{i}") for i in range(6)]

    assert suggestions(3) == suggestions(3)
    assert suggestions(3) != suggestions(4)


@pytest.mark.parametrize("name", ["local", "gpu", "cluster"])
def test_shipped_sweeps_validate(name):
    cfg, _ = load_sweep(name)
    base, rules, train_cfg = prepare(load_space("ot_full"), cfg)
    assert rules and train_cfg.steps == cfg.train["steps"]
    if name == "cluster":
        assert train_cfg.policy_preset == "act" and train_cfg.policy.dim_model == 512


def test_the_score_window_must_fit_the_evaluations_a_trial_makes():
    from actot.sweep.preflight import evaluations

    assert evaluations("eval/avg_l1", 400, 25, 0) == 16 and evaluations("eval/avg_l1", 410, 25, 0) == 17
    assert evaluations("eval/success", 400, 25, 0) == 1 and evaluations("eval/success", 400, 25, 100) == 4
    cfg = apply_cli(load_sweep("local")[0], ["score_last_k=3"])
    with pytest.raises(
        ActotError, match=r"score_last_k=3 but a trial measures eval/success 1 time\(s\).*rollout_every"
    ):
        prepare(load_space("ot_reg"), cfg)
    prepare(load_space("ot_reg"), apply_cli(load_sweep("local")[0], ["score_last_k=3", "rollout_every=100"]))
    with pytest.raises(ActotError, match="score_last_k=0"):
        apply_cli(load_sweep("local")[0], ["score_last_k=0"])


def test_the_searcher_is_told_the_mean_of_the_last_k_values():
    from optuna.trial import TrialState

    from actot.sweep.searcher import RuleAwareOptunaSearch

    space = load_space("ot_reg")
    searcher = RuleAwareOptunaSearch(
        space=space.distributions, metric="eval/avg_l1", mode="min", total_steps=30, score_last_k=2
    )
    searcher.suggest("t")
    for i, (step, value) in enumerate(((0, 0.9), (10, 0.5), (20, 0.4), (30, 0.2), (20, 0.4))):
        # the last: a retry that resumed from a checkpoint repeats step 20; it counts once
        searcher.on_trial_result("t", {"step": step, "eval/avg_l1": value, "training_iteration": i + 1})
    assert searcher.outcome({"step": 30, "eval/avg_l1": 0.2}, False, "t") == (TrialState.COMPLETE, pytest.approx(0.3))


def test_categorical_choices_are_checked_by_name_not_against_the_other_knobs_defaults(tmp_path):
    """A choice valid only with another searched value (ot_rows=bc needs a larger batch), or one side of a split
    tau, loads: whether a drawn combination fits is each trial's check."""
    path = tmp_path / "s.yaml"
    path.write_text(
        "params:\n  ot_rows: {type: categorical, choices: [separate, bc]}\n"
        "  ot.batch_size: {type: categorical, choices: [16, 128]}\n"
        "  ot.tau: {type: categorical, choices: [1.0, 5.0], pair: separate}\n"
    )
    space = load_space(str(path))
    assert set(space.distributions) == {"ot_rows", "ot.batch_size", "ot.tau_a", "ot.tau_b"}
