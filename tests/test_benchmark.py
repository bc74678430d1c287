"""The embedded benchmark poses the paper's problem, and its evaluation can rank: regions, no twins,
held-out demos without near-duplicates, rollouts that see the training frames, errors of the metrics."""

import dataclasses

import numpy as np
import pytest
import torch

from actot.config import TrainConfig, parse_cli
from actot.data.lerobot import LeRobotDataset
from actot.data.pairing import pairing_quality
from actot.data.sampler import CoTrainData
from actot.data.video import resize_frames
from actot.errors import ActotError
from actot.evaluate import eval_l1, eval_layouts, rollout_metrics, success_metrics
from actot.policy.act import ACT
from actot.policy.config import PRESETS
from actot.sim.config import SimConfig
from actot.sim.generate import load_ground_truth, load_sim_spec, sample_layouts, source_env, target_env
from actot.sim.task import CAMERAS, in_region, layout_distance


def test_target_demos_cover_one_region_source_and_held_out_cover_all(small_sim):
    _, target = small_sim
    truth = load_ground_truth(target)
    inits = np.array(truth["target_initial_states"])
    n_train = truth["n_train"]
    assert truth["target_region"] == "left_half" and (inits[:n_train, 2] < 0).all()
    assert truth["target_covered"][:n_train] == [True] * n_train
    source_goals = np.array(truth["source_initial_states"])[:, 2:4]
    assert (source_goals[:, 0] < 0).any() and (source_goals[:, 0] > 0).any()
    # The held-out demos (and the rollouts) come from the whole task, not from the region.
    layouts = sample_layouts(SimConfig(n_source=30, n_target=6, n_eval=40, seed=1))
    assert 0.2 < in_region(layouts["held_out"][:, 2:4], "left_half").mean() < 0.8
    assert 0.3 < in_region(eval_layouts(100)[:, 2:4], "left_half").mean() < 0.7
    assert in_region(
        sample_layouts(SimConfig(n_source=30, n_target=8, seed=1, target_region="lower_left"))["target"][:, 2:4],
        "lower_left",
    ).all()


def test_source_demos_start_from_their_own_states_unless_twins(small_sim, twin_sim):
    truth = load_ground_truth(small_sim[1])
    distance = layout_distance(np.array(truth["target_initial_states"]), np.array(truth["source_initial_states"]))
    assert distance.min() > 1e-3  # no exact twin anywhere
    assert [truth["target_to_source"][str(t)] for t in range(len(distance))] == distance.argmin(1).tolist()
    twins = load_ground_truth(twin_sim[1])
    n_train = twins["n_train"]
    target = np.array(twins["target_initial_states"])[:n_train]
    source = np.array(twins["source_initial_states"])
    for t in range(n_train):  # old behaviour by key: a target demo restarts its twin's initial state
        assert np.array_equal(target[t], source[twins["target_to_source"][str(t)]])


def test_held_out_demos_have_no_near_duplicate_in_training(small_sim, tmp_path):
    source, target = small_sim
    truth = load_ground_truth(target)
    spec = load_sim_spec(target)
    inits = np.array(truth["target_initial_states"])
    training = np.concatenate([inits[: truth["n_train"]], np.array(truth["source_initial_states"])])
    held_out = inits[truth["n_train"] :]
    assert len(held_out) == spec.n_eval == 2
    assert layout_distance(held_out, training).min() >= spec.eval_min_distance > 0
    # The stored held-out episodes are those layouts: they start where the ground truth says.
    ds = LeRobotDataset(target, cameras=[], cache_dir=tmp_path)
    starts = np.array([e.state[0, :2] for e in ds.episodes])
    assert np.allclose(starts, inits[:, :2], atol=1e-6)


def test_rollout_frames_equal_the_stored_training_frames(small_sim, tmp_path):
    """Same texture seed, same frame path: a frame rendered for a demo's state is the stored frame."""
    _, target = small_sim
    spec, truth = load_sim_spec(target), load_ground_truth(target)
    inits = np.array(truth["target_initial_states"])
    ds = LeRobotDataset(target, resolution=32, cache_dir=tmp_path)
    for part, rows in ((0, slice(0, spec.n_target)), (1, slice(spec.n_target, None))):
        obs = target_env(spec, len(inits[rows]), spec.seed * 10 + part).reset(inits[rows])
        for k, episode in enumerate(ds.episodes[rows]):
            for cam in CAMERAS:
                assert np.array_equal(resize_frames(obs[cam], (32, 32))[k], episode.frames[cam][0]), (part, k, cam)
    # The check can fail: another texture seed (what rollouts used before) renders other pixels.
    other = target_env(dataclasses.replace(spec, seed=spec.seed + 1), spec.n_target, spec.seed * 10).reset(
        inits[: spec.n_target]
    )
    assert not np.array_equal(
        resize_frames(other[CAMERAS[0]], (32, 32)),
        np.stack([e.frames[CAMERAS[0]][0] for e in ds.episodes[: spec.n_target]]),
    )


def test_dtw_pairing_finds_the_truly_similar_demos_well_above_chance(small_sim, tmp_path):
    source, target = small_sim
    truth = load_ground_truth(target)
    data = CoTrainData(
        LeRobotDataset(source, cameras=[], cache_dir=tmp_path),
        LeRobotDataset(target, cameras=[], cache_dir=tmp_path),
        n_eval_target=truth["n_eval"],
    )
    distance = layout_distance(
        np.array(truth["target_initial_states"])[: truth["n_train"]], np.array(truth["source_initial_states"])
    )
    q = pairing_quality(data.pairing, distance)
    print(
        f"\nDTW vs ground truth: in 5 truly nearest {q['in_true_near']:.2f} (chance {q['chance_in_true_near']:.2f}), "
        f"chosen rank {q['chosen_rank']:.3f} (chance 0.5)"
    )
    assert q["in_true_near"] >= 3 * q["chance_in_true_near"] and q["chosen_rank"] < 0.2
    shuffled = pairing_quality(data.pairing, distance[:, np.random.default_rng(0).permutation(distance.shape[1])])
    assert shuffled["chosen_rank"] > 0.25  # against a meaningless ground truth the score is near chance


def test_success_metrics_split_covered_and_give_binomial_errors():
    success = np.array([1, 1, 0, 0, 1, 0, 0, 0], bool)
    covered = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)
    m = success_metrics(success, covered)
    assert m["eval/success"] == 0.375 and m["eval/success_covered"] == 0.5 and m["eval/success_uncovered"] == 0.25
    assert m["eval/success_se"] == pytest.approx(np.sqrt(0.375 * 0.625 / 8))
    assert m["eval/success_uncovered_se"] == pytest.approx(np.sqrt(0.25 * 0.75 / 4))
    assert "eval/success_uncovered" not in success_metrics(success, np.ones(8, bool))  # region 'all'


@pytest.fixture(scope="module")
def small_model_and_data(small_sim, tmp_path_factory):
    source, target = small_sim
    cache = tmp_path_factory.mktemp("frames")
    data = CoTrainData(
        LeRobotDataset(source, resolution=16, cache_dir=cache),
        LeRobotDataset(target, resolution=16, cache_dir=cache),
        n_eval_target=load_sim_spec(target).n_eval,
    )
    torch.manual_seed(0)
    model = ACT(
        dataclasses.replace(PRESETS["act_small"], dim_model=32, n_heads=2, dim_feedforward=64, backbone_width=8),
        data.state_dim,
        data.action_dim,
        len(data.cameras),
    )
    return model, data, load_sim_spec(target)


def test_eval_l1_is_a_mean_over_held_out_episodes_with_its_standard_error(small_model_and_data):
    model, data, _ = small_model_and_data
    full = eval_l1(model, data, 10, torch.device("cpu"), max_frames=10_000)
    held_out = data.tgt_eval
    per_episode = []
    for episode in held_out:
        data.tgt_eval = [episode]
        per_episode.append(eval_l1(model, data, 10, torch.device("cpu"), max_frames=10_000)["eval/avg_l1"])
    data.tgt_eval = held_out
    assert full["eval/avg_l1"] == pytest.approx(np.mean(per_episode), rel=1e-5)
    assert full["eval/avg_l1_se"] == pytest.approx(np.std(per_episode, ddof=1) / np.sqrt(len(per_episode)), rel=1e-4)


def test_rollouts_run_the_same_fixed_episodes_for_every_trial(small_model_and_data):
    model, data, spec = small_model_and_data
    a = rollout_metrics(model, data, torch.device("cpu"), spec, 12)
    b = rollout_metrics(model, data, torch.device("cpu"), spec, 12)
    assert a == b and {"eval/success", "eval/success_se", "eval/success_covered", "eval/success_uncovered_se"} <= set(a)
    assert np.array_equal(eval_layouts(12), eval_layouts(12)) and not np.array_equal(
        eval_layouts(12), eval_layouts(12, seed=1)
    )


def test_source_rollouts_see_the_source_demos_frames_and_give_source_success(small_sim, small_model_and_data, tmp_path):
    """eval/success_source runs the same episodes in the source domain, rendered as the source demos were."""
    source, target = small_sim
    spec, truth = load_sim_spec(target), load_ground_truth(target)
    inits = np.array(truth["source_initial_states"])
    ds = LeRobotDataset(source, resolution=32, cache_dir=tmp_path)
    obs = source_env(spec, len(inits), seed=12345).reset(inits)  # the source style has no noise: any seed
    for k, episode in enumerate(ds.episodes):
        for cam in CAMERAS:
            assert np.array_equal(resize_frames(obs[cam], (32, 32))[k], episode.frames[cam][0]), (k, cam)
    model, data, spec = small_model_and_data
    m = rollout_metrics(model, data, torch.device("cpu"), spec, 12, domain="source")
    assert set(m) == {"eval/success_source", "eval/success_source_se"}
    p = m["eval/success_source"]
    assert 0.0 <= p <= 1.0 and m["eval/success_source_se"] == pytest.approx(np.sqrt(p * (1 - p) / 12))
    assert rollout_metrics(model, data, torch.device("cpu"), spec, 12, domain="source") == m


def test_freezing_finished_copies_leaves_the_others_frames_unchanged():
    from actot.sim.task import ReachEnv, expert_action

    plain, frozen = (ReachEnv(6, "target", seed=4, freeze_finished=f) for f in (False, True))
    inits = eval_layouts(6, seed=4)
    obs_a, obs_b = plain.reset(inits), frozen.reset(inits)
    rng = np.random.default_rng(0)
    froze = False
    for _ in range(60):
        action = expert_action(plain.state, plain.init, rng, 0.0)
        obs_a, success, _ = plain.step(action)
        obs_b, _, _ = frozen.step(action)
        live = ~success
        for cam in CAMERAS:
            assert np.array_equal(obs_a[cam][live], obs_b[cam][live])
        froze |= bool(success.any() and live.any())
    assert froze  # some copies had finished while others still ran


def test_steps_without_frames_leave_the_next_frames_as_drawing_every_step_would():
    from actot.sim.task import ReachEnv, expert_action

    every, lazy = (ReachEnv(6, "target", seed=4, freeze_finished=True) for _ in range(2))
    inits = eval_layouts(6, seed=4)
    every.reset(inits), lazy.reset(inits)
    rng = np.random.default_rng(0)
    for t in range(40):
        action = expert_action(every.state, every.init, rng, 0.0)
        before = ~every.success
        obs_a, success, _ = every.step(action)
        obs_b, success_b, _ = lazy.step(action, render=t % 5 == 4)  # frames every 5th step, as evaluation asks
        assert np.array_equal(success, success_b) and np.array_equal(
            obs_a["observation.state"], obs_b["observation.state"]
        )
        if t % 5 != 4:
            assert set(obs_b) == {"observation.state"}
            continue
        live = ~success & before
        for cam in CAMERAS:  # the target style's noise included
            assert np.array_equal(obs_a[cam][live], obs_b[cam][live])


def test_rollouts_act_as_if_every_step_were_drawn(small_model_and_data, monkeypatch):
    """Evaluation draws frames only when the policy looks: the same actions (for the copies still running)
    and the same metrics as drawing every step."""
    import actot.evaluate as evaluate

    model, data, spec = small_model_and_data
    real_env = evaluate.target_env
    runs = {}
    for every_step in (False, True):
        sent = []

        def recording_env(*args, **kwargs):
            env = real_env(*args, **kwargs)
            step = env.step

            def record(action, render=True):
                sent.append((np.array(action, copy=True), ~env.success))
                return step(action, render=render or every_step)

            env.step = record
            return env

        monkeypatch.setattr(evaluate, "target_env", recording_env)
        runs[every_step] = rollout_metrics(model, data, torch.device("cpu"), spec, 12), sent
    (lazy, lazy_sent), (full, full_sent) = runs[False], runs[True]
    assert lazy == full and len(lazy_sent) == len(full_sent) > 10
    for (a, live), (b, _) in zip(lazy_sent, full_sent):
        assert np.array_equal(a[live], b[live])


def test_sim_keys_reach_the_generator_and_are_checked():
    cfg = parse_cli(["data.sim.target_region=all", "data.sim.twins=true", "data.sim.n_eval=5"])
    spec = SimConfig(**dataclasses.asdict(cfg.data.sim))
    assert (spec.target_region, spec.twins, spec.n_eval) == ("all", True, 5)
    assert dataclasses.asdict(TrainConfig().data.sim).keys() <= {f.name for f in dataclasses.fields(SimConfig)}
    with pytest.raises(ActotError, match="data.sim.target_region"):
        parse_cli(["data.sim.target_region=top"])
    assert TrainConfig().rollout_episodes >= 100 and TrainConfig().data.sim.n_eval >= 5


def test_sweep_table_shows_success_with_its_standard_error(tmp_path):
    from actot.report import ranked_table
    from actot.sweep.store import ResultsStore
    from actot.sweep.space import load_space

    store = ResultsStore(tmp_path, load_space("ot_reg"), "eval/avg_l1", "min", "demo")
    store.start("a", {"ot.reg": 2.0, "ot.tau": 5.0})
    store.add_result(
        "a",
        {"ot.reg": 2.0, "ot.tau": 5.0},
        {"step": 400, "eval/avg_l1": 0.3, "eval/success": 0.52, "eval/success_se": 0.04996},
    )
    store.finish("a")
    (tmp_path / "sweep.json").write_text('{"sweep": {"metric": "eval/avg_l1", "mode": "min", "name": "demo"}}')
    table = ranked_table(tmp_path)
    assert "eval/success±se" in table and "0.52±0.05" in table
    # the default sweep ranks by eval/success itself: its cell carries the standard error
    (tmp_path / "sweep.json").write_text('{"sweep": {"metric": "eval/success", "mode": "max", "name": "demo"}}')
    table = ranked_table(tmp_path)
    assert "last eval/success (±se of one trial)" in table and "0.52±0.05" in table


def test_impossible_sim_parameters_give_a_one_line_error(tmp_path):
    from actot.sim.generate import ensure_sim

    with pytest.raises(ActotError, match="data.sim: could not place 3 held-out demos .* lower eval_min_distance"):
        ensure_sim(SimConfig(n_source=5, n_target=2, n_eval=3, eval_min_distance=5.0), out=tmp_path / "sim")
