"""The embedded task as an environment: vectorised reset/step, success, the two visual domains."""

import numpy as np

from actot.sim.task import CAMERAS, MAX_STEPS, ReachEnv, expert_action, sample_initial_states


def test_vectorised_env_and_expert_reach_the_goal():
    env = ReachEnv(6, domain="source", seed=3)
    obs = env.reset()
    assert obs["observation.state"].shape == (6, 4)
    for cam in CAMERAS:
        assert obs[cam].shape == (6, 64, 64, 3) and obs[cam].dtype == np.uint8
    rng = np.random.default_rng(0)
    done, steps = False, 0
    while not done:
        obs, success, done = env.step(expert_action(env.state, env.init, rng, noise=0.1))
        steps += 1
    assert success.all() and steps < MAX_STEPS


def test_idle_policy_fails_and_episode_ends_at_max_steps():
    env = ReachEnv(3, domain="target", seed=1, max_steps=5)
    env.reset()
    for _ in range(5):
        _, success, done = env.step(np.zeros((3, 2)))
    assert done and not success.any()


def test_domains_render_the_same_world_differently():
    inits = sample_initial_states(np.random.default_rng(5), 2)
    src = ReachEnv(2, domain="source", seed=0).reset(inits)
    tgt = ReachEnv(2, domain="target", shift=1.0, seed=0).reset(inits)
    same = ReachEnv(2, domain="target", shift=0.0, seed=0).reset(inits)
    cam = "observation.images.top"
    assert np.array_equal(src["observation.state"], tgt["observation.state"])
    assert np.abs(src[cam].astype(float) - tgt[cam]).mean() > 10
    assert np.array_equal(src[cam], same[cam])  # shift 0: no domain gap


def test_goal_is_visible_only_in_images():
    inits = sample_initial_states(np.random.default_rng(2), 2)
    inits[1, 2:4] = -inits[0, 2:4]  # same robot start, goal elsewhere
    inits[1, :2] = inits[0, :2]
    obs = ReachEnv(2, domain="source", seed=0).reset(inits)
    assert np.array_equal(obs["observation.state"][0], obs["observation.state"][1])
    assert not np.array_equal(obs["observation.images.top"][0], obs["observation.images.top"][1])


def test_several_processes_generating_the_same_sim_at_once(tmp_path):
    """Six processes ask for the same (uncached) sim folder at once: all get complete, readable data."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = (
        "import sys; from actot.sim import SimConfig, generate; from actot.data.lerobot import LeRobotDataset\n"
        "s, t = generate(sys.argv[1], SimConfig(n_source=6, n_target=2, n_eval=1, size=16, seed=5))\n"
        "assert len(LeRobotDataset(s, resolution=(16, 16)).episodes) == 6\n"
        "assert len(LeRobotDataset(t, resolution=(16, 16)).episodes) == 3  # 2 training + 1 held-out\n"
    )
    out = tmp_path / "sim"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(out)],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(6)
    ]
    results = [(p.wait(timeout=300), p.stdout.read()) for p in procs]
    assert all(rc == 0 for rc, _ in results), [text[-1500:] for rc, text in results if rc]
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["sim"]  # no temporary folder left
