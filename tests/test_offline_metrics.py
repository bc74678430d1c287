"""The offline metrics a real-data sweep can rank by (issue 27): held-out data as a lab has it, each candidate logged
and finite on the EMA weights, and the study's analysis against hand-computed statistics."""

import hashlib
import json
import math
from dataclasses import asdict

import numpy as np
import pytest
import torch

from actot.metrics import METRICS, OFFLINE_CANDIDATES, SWEEP_METRICS
from actot.sim import SimConfig, generate
from actot.sim.config import SIM_VERSION
from actot.sim.generate import load_ground_truth, sample_layouts
from actot.sim.task import in_region
from actot.train import train
from tests.test_train import tiny

OFFLINE_KEYS = (
    "eval/avg_l1",
    "eval/avg_l1_window",
    "eval/l1_first",
    "eval/l1_exec",
    "eval/l1_end",
    "eval/source_l1",
    "eval/l1_combo",
    "eval/avg_l1_covered",
    "eval/avg_l1_uncovered",
)


@pytest.fixture(scope="module")
def lab_sim(tmp_path_factory):
    """The small benchmark with a lab's held-out split: 3 covered + 3 uncovered held-out target demos, 2 held-out
    source demos."""
    out = tmp_path_factory.mktemp("sim") / "lab"
    spec = SimConfig(n_source=30, n_target=6, n_eval=3, seed=1, eval_split="covered", n_eval_source=2)
    return generate(out, spec)


def test_every_candidate_has_a_direction_and_the_lab_ones_can_rank_a_sweep():
    for key in (*OFFLINE_CANDIDATES, "eval/avg_l1_covered", "eval/avg_l1_uncovered"):
        assert METRICS[key].direction == "min", key
    assert set(OFFLINE_CANDIDATES) <= set(SWEEP_METRICS)


def test_covered_held_out_demos_never_include_an_uncovered_goal(lab_sim):
    truth = load_ground_truth(lab_sim[1])
    goals = np.array(truth["target_initial_states"])[:, 2:4]
    n_train, spec = truth["n_train"], SimConfig.from_dict(truth["spec"])
    assert truth["eval_split"] == "covered" and truth["n_eval"] == 6
    held_out = goals[n_train:]
    assert in_region(held_out[:3], spec.target_region).all()  # a lab's held-out demos: where it collected
    assert not in_region(held_out[3:], spec.target_region).any()  # the benchmark's uncovered ones
    assert truth["target_covered"][n_train:] == [True] * 3 + [False] * 3


def test_new_sim_fields_at_their_defaults_keep_todays_data_and_cache_key():
    old_key = hashlib.sha1(
        json.dumps(
            {
                **{
                    k: v
                    for k, v in asdict(SimConfig()).items()
                    if k not in ("eval_split", "n_eval_source", "appearance", "geometry")
                },
                "version": SIM_VERSION,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:12]
    assert SimConfig().key() == old_key
    assert SimConfig(eval_split="covered").key() != old_key and SimConfig(n_eval_source=4).key() != old_key
    base = sample_layouts(SimConfig(n_source=30, n_target=6, n_eval=3, seed=1))
    lab = sample_layouts(SimConfig(n_source=30, n_target=6, n_eval=3, seed=1, n_eval_source=2))
    for part in ("source", "target", "held_out"):  # held-out source demos are drawn after everything else
        assert np.array_equal(base[part], lab[part]), part
    assert len(lab["source_held_out"]) == 2 and len(base["source_held_out"]) == 0


def test_offline_metrics_are_logged_finite_and_read_on_the_ema_weights(lab_sim, tmp_path):
    from actot.evaluate import eval_l1
    from actot.policy.act import ACT
    from actot.run_data import load_data

    cfg = tiny(
        lab_sim,
        tmp_path,
        "steps=6",
        "log_every=2",
        "checkpoint_every=2",
        "ema_decay=0.5",
        "name=lab",
        "wandb.mode=disabled",
    )
    rows = {}

    def keep(metrics, checkpoint, history):
        if checkpoint is not None:
            rows[metrics["step"]] = (torch.load(checkpoint / "state.pt", weights_only=True), metrics)

    result = train(cfg, report=keep, progress=False)
    for row in result.history[1:]:
        for key in OFFLINE_KEYS:
            assert isinstance(row.get(key), float) and math.isfinite(row[key]), (row["step"], key)
    data, _, _ = load_data(cfg)
    assert len(data.src_eval) == 2 and len(data.src) == 30 and len(data.tgt_eval) == 6
    assert data.headline_eval().tolist() == [True] * 3 + [False] * 3
    state, logged = rows[6]
    model = ACT(cfg.policy, data.state_dim, data.action_dim, len(data.cameras))
    model.load_state_dict(state["ema"]["model"])
    again = eval_l1(model, data, cfg.policy.chunk_size, torch.device("cpu"), cfg.eval_frames)
    for key in again:
        assert again[key] == logged[key], key
    # Under the lab's split the headline is the covered held-out demos alone.
    assert logged["eval/avg_l1"] == logged["eval/avg_l1_covered"] != logged["eval/avg_l1_uncovered"]
    assert logged["eval/l1_combo"] == pytest.approx((logged["eval/avg_l1"] + logged["eval/source_l1"]) / 2)
    windowed = [r["eval/avg_l1"] for r in result.history if r["step"] in (2, 4, 6)]
    assert logged["eval/avg_l1_window"] == pytest.approx(np.mean(windowed))
    model.load_state_dict(state["model"])
    assert (
        eval_l1(model, data, cfg.policy.chunk_size, torch.device("cpu"), cfg.eval_frames)["eval/avg_l1"]
        != logged["eval/avg_l1"]
    )


def test_a_held_out_split_that_leaves_no_source_to_train_on_is_one_line(lab_sim, tmp_path):
    from actot.errors import ActotError
    from actot.run_data import preflight_data

    cfg = tiny(lab_sim, tmp_path, "data.n_eval_source=32")
    with pytest.raises(ActotError) as err:
        preflight_data(cfg, "command line")
    message = str(err.value)
    assert "data.n_eval_source=32" in message and "data.n_eval_source=31" in message and "\n" not in message


def _row(name: str, seed: int, **final) -> dict:
    return {
        "id": f"s/{name}/s{seed}",
        "group": "default",
        "name": name,
        "seed": seed,
        "status": "finished",
        "history": [{"step": 0, "eval/avg_l1": 1.0}, {"step": 10, **final}],
    }


def test_the_study_reproduces_a_hand_computed_spearman_and_top_pick():
    from bench.offline_study import analyse_rows

    # Five configs x 2 seeds; config means of eval/avg_l1: a 0.1, b 0.2, c 0.3, d 0.4, e 0.5; success means:
    # a 0.5, b 0.7, c 0.4, d 0.3, e 0.1 -> ranks of L1 1..5 against success ranks 4, 5, 3, 2, 1:
    # d = [-3, -3, 0, 2, 4], sum d^2 = 38, rho = 1 - 6 * 38 / (5 * 24) = -0.9.
    l1 = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4, "e": 0.5}
    success = {"a": 0.5, "b": 0.7, "c": 0.4, "d": 0.3, "e": 0.1}
    rows = [
        _row(
            n,
            s,
            **{
                "eval/avg_l1": l1[n] + (0.01 if s else -0.01),
                "eval/success": success[n] + (0.1 if s else -0.1),
                "eval/success_uncovered": 1 - success[n],
            },
        )
        for n in l1
        for s in (0, 1)
    ]
    table = {t["metric"]: t for t in analyse_rows(rows)["all"]}["eval/avg_l1"]
    assert table["configs"] == 5 and table["spearman"] == pytest.approx(-0.9)
    assert table["spearman_uncovered"] == pytest.approx(0.9)
    assert table["pick"] == "a" and table["pick_success"] == pytest.approx(0.5) and table["gap"] == pytest.approx(0.2)
    assert table["lo"] <= table["spearman"] <= table["hi"]
    assert not table["passes"]  # right direction and strong, but its pick is 0.2 below the best


def test_metric_auto_and_the_validity_lines_are_what_results_recorded():
    """`metric: auto` on LeRobot data ranks by the metric bench/RESULTS.md names as the LeRobot default, and each
    validity line's Spearman figures are the ones the study's tables printed, setting by setting."""
    import re
    from pathlib import Path

    from actot.metrics import RANKING_VALIDITY, REAL_DATA_METRIC
    from actot.sweep.config import SweepConfig, resolve_objective

    results = (Path(__file__).resolve().parents[1] / "bench" / "RESULTS.md").read_text()
    named = re.search(r"\*\*The LeRobot default\*\* \(`metric: auto` on LeRobot data\): `([^`]+)`", results)
    assert named and named.group(1) == REAL_DATA_METRIC
    cfg = SweepConfig()
    cfg.metric, cfg.mode = "auto", None
    said = resolve_objective(cfg, has_rollouts=False)
    assert cfg.metric == REAL_DATA_METRIC and said.startswith(f"metric=auto: {REAL_DATA_METRIC}")
    tables = {}
    for setting in ("default", "lower_left"):
        start = results.index(f"{setting}: 56 runs, seeds [0, 1, 2, 3]")
        tables[setting] = results[start : results.index("OT configs alone", start)]
    for metric, (english, _) in RANKING_VALIDITY.items():
        figures = re.findall(
            r"Spearman ([+-]\d\.\d\d \[[+-]\d\.\d\d, [+-]\d\.\d\d\])|and ([+-]\d\.\d\d \[[^]]+\]) with", english
        )
        shown = [a or b for a, b in figures]
        assert len(shown) == 2, english
        for setting, figure in zip(("default", "lower_left"), shown):
            rho, interval = figure.split(" ", 1)
            row = next(line for line in tables[setting].splitlines() if line.startswith(metric + " "))
            assert rho in row and interval in row, (metric, setting, figure)
