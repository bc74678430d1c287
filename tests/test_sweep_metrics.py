"""Every metric that `metric=` accepts works as the sweep metric, in its direction(s), through real Ray; and every
metric a trial reports has its entry in the vocabulary.

The session's one Ray instance (`ray_session`, tests/conftest.py); each case is an in-process sweep of the two
starting points, two steps each. Before the fix, any metric but eval/avg_l1 ended the sweep at the step-0 report
(Ray rejects a report without the sweep metric).
"""

import math

import optuna
import pyarrow.parquet as pq
import pytest

from actot.metrics import METRICS, REPORTED_METRICS, SWEEP_METRICS, direction
from actot.sweepdir import TRIAL_COLUMNS  # per-trial columns (status, seed, confirm_of, ...), not metrics
from tests.test_sweep_ray import SPACE, TINY_SWEEP

SWEEP = """num_samples: 2
max_concurrent: 1
resources: {cpu: 1, gpu: 0}
rules: [non_finite]
train: {steps: 2, log_every: 1, checkpoint_every: 2, wandb.mode: disabled, eval_frames: 32}
"""


def test_every_reported_metric_has_a_declared_direction_in_the_vocabulary():
    # What the trainer logs (the test below checks a real run logs nothing else) is ranked, or not, by what
    # actot/metrics.py declares for it: 'min', 'max' or None (a diagnostic), never a default.
    assert REPORTED_METRICS and set(SWEEP_METRICS) <= set(REPORTED_METRICS)
    for key in REPORTED_METRICS:
        assert key in METRICS, key
        assert METRICS[key].direction in ("min", "max", None), (key, METRICS[key].direction)
        assert direction(key) == METRICS[key].direction
    assert direction("eval/success") == "max" and direction("eval/avg_l1") == "min" and direction("ot_loss") is None


# A metric with a better end is optimised that way only (another mode is refused: test_sweep_bad_input);
# a diagnostic is optimised either way when mode= says which.
CASES = [
    (metric, mode)
    for metric in SWEEP_METRICS
    for mode in ((direction(metric),) if direction(metric) else ("min", "max"))
]


# What the untrained model's evaluation reports at step 0 (the held-out offline metrics); the rest start at step 1.
AT_STEP_0 = ("eval/avg_l1", "eval/l1_first", "eval/l1_exec", "eval/l1_end", "eval/source_l1", "eval/l1_combo")


@pytest.mark.slow
@pytest.mark.parametrize("metric,mode", CASES)
def test_every_accepted_metric_works_as_the_sweep_metric(metric, mode, ray_session, small_sim, tmp_path):
    from run_sweep import main

    source, target = small_sim
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    rollouts = "rollout_episodes=1" if metric == "eval/success" else "rollout_episodes=0"
    args = [
        f"space={tmp_path / 'space.yaml'}",
        f"sweep={tmp_path / 'sweep.yaml'}",
        f"storage={tmp_path / 'out'}",
        "name=m",
        f"metric={metric}",
        f"mode={mode}",
        f"data.source={source}",
        f"data.target={target}",
        *TINY_SWEEP,
        rollouts,
        "data.n_eval_source=2",
    ]  # held-out source demos: eval/source_l1, eval/l1_combo
    assert main(args) == 0
    sweep_dir = tmp_path / "out" / "m"
    rows = pq.read_table(sweep_dir / "results.parquet").to_pylist()
    trials = {r["trial_id"] for r in rows}
    assert len(trials) == 2 and {r["status"] for r in rows} == {"finished"}
    finals = {}
    for trial_id in trials:
        history = sorted((r for r in rows if r["trial_id"] == trial_id), key=lambda r: r["step"])
        assert [r["step"] for r in history] == [0, 1, 2]
        assert history[-1][metric] is not None and math.isfinite(history[-1][metric])
        if metric not in AT_STEP_0:  # the NaN that stood in for Ray at step 0 is not stored as a value
            assert history[0][metric] is None
        finals[trial_id] = history[-1][metric]
    study = optuna.load_study(study_name="m", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    assert study.direction == (
        optuna.study.StudyDirection.MINIMIZE if mode == "min" else optuna.study.StudyDirection.MAXIMIZE
    )
    assert {t.user_attrs["ray_trial_id"]: t.value for t in study.trials} == finals
    best = (min if mode == "min" else max)(finals.values())
    report = (sweep_dir / "report.md").read_text()
    first = next(line for line in report.splitlines() if line.startswith("1 "))
    assert f"{best:.4g}" in first and "best value" in first
    # Everything a trial reported is a metric that rules may name.
    reported = {c for c in rows[0] if c not in (*TRIAL_COLUMNS, "step") and not c.startswith("param/")}
    assert reported <= set(REPORTED_METRICS) | {"non_finite"}, reported - set(REPORTED_METRICS)


@pytest.mark.slow
def test_every_trial_reports_the_l1_trend_and_not_converged_flags_its_last_report(
    ray_session, small_sim, tmp_path, capsys
):
    from run_sweep import main

    source, target = small_sim
    (tmp_path / "space.yaml").write_text(SPACE)
    # A threshold every trend meets: the flag shows at which report the rule may act (the last only).
    (tmp_path / "sweep.yaml").write_text(
        SWEEP.replace("rules: [non_finite]", 'rules: [{use: not_converged, when: "eval/l1_trend < 100"}]').replace(
            "steps: 2", "steps: 8"
        )
    )
    args = [
        f"space={tmp_path / 'space.yaml'}",
        f"sweep={tmp_path / 'sweep.yaml'}",
        f"storage={tmp_path / 'out'}",
        "name=trend",
        f"data.source={source}",
        f"data.target={target}",
        *TINY_SWEEP,
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    rows = pq.read_table(tmp_path / "out" / "trend" / "results.parquet").to_pylist()
    trials = {r["trial_id"] for r in rows}
    assert len(trials) == 2 and {r["flags"] for r in rows} == {"not_converged"}
    for trial_id in trials:
        history = sorted((r for r in rows if r["trial_id"] == trial_id), key=lambda r: r["step"])
        assert [r["eval/l1_trend"] is not None for r in history] == [False] * 6 + [True] * 3  # from the 6th report
        assert f"rule not_converged flags trial {trial_id}: eval/l1_trend=" in out
    assert out.count("rule not_converged flags trial") == 2 and out.count("< 100 for 1 report(s) at step 8") == 2
