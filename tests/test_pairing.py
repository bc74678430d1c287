"""DTW pairing: the banded DTW against a plain reference, and the on-disk pairing cache across processes."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import actot.data.pairing as pairing
from actot.data import LeRobotDataset
from actot.data.pairing import band_offsets, dtw_costs, dtw_match, dtw_pairs, pair_demos
from actot.data.sampler import CoTrainData
from actot.run_data import load_data

REPO = Path(__file__).resolve().parents[1]


def reference_dtw(query, candidate, allowed=lambda i, j: True):
    """The textbook recurrence, cell by cell: (cost, first matched candidate frame per query frame)."""
    return reference_alignment(query, candidate, allowed)[:2]


def reference_alignment(query, candidate, allowed=lambda i, j: True):
    """(cost, first matched candidate frame per query frame, cells on the optimal path), cell by cell:
    acc[i, j] = |q[i-1] - c[j-1]| + min(acc[i-1, j-1], acc[i-1, j], acc[i, j-1]); ties go diagonal, up, left."""
    q, c = np.asarray(query, np.float64), np.asarray(candidate, np.float64)
    n, m = len(q), len(c)
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if allowed(i - 1, j - 1):
                cost = np.sqrt(((q[i - 1] - c[j - 1]) ** 2).sum())
                acc[i, j] = cost + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    match = np.zeros(n, np.int64)
    i, j = n, m
    cells = 0
    while i > 0 and j > 0:
        match[i - 1] = j - 1
        cells += 1
        step = np.argmin([acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]])
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
    return acc[n, m], match, cells


def random_demos(rng, count, dim, dtype=np.float64, shortest=1, longest=40):
    return [rng.normal(size=(int(rng.integers(shortest, longest + 1)), dim)).astype(dtype) for _ in range(count)]


@pytest.mark.parametrize("seed", range(6))
def test_unbanded_dtw_equals_the_reference_to_the_last_bit(seed):
    rng = np.random.default_rng(seed)
    dim = int(rng.integers(1, 30))  # 8 or more features exercise numpy's pairwise summation
    dtype = np.float32 if seed % 2 else np.float64  # the trajectories are float32 in training
    query, candidates = random_demos(rng, 1, dim, dtype)[0], random_demos(rng, 5, dim, dtype)
    expected = [reference_dtw(query, c) for c in candidates]
    assert np.array_equal(dtw_costs(query, candidates), [cost for cost, _ in expected])
    for c, (_, match) in zip(candidates, expected):
        assert np.array_equal(dtw_match(query, c), match)


def test_dtw_of_a_stretched_copy_is_zero_and_matches_the_first_copy():
    a = np.linspace(0, 1, 20)[:, None]
    stretched = np.repeat(a, 2, axis=0)
    assert dtw_costs(a, [stretched, a + 0.5])[0] == 0.0
    assert np.array_equal(dtw_match(a, stretched), 2 * np.arange(20))  # exact ties: the first of two copies


def test_many_pairs_in_small_batches_give_what_one_pair_at_a_time_gives(monkeypatch):
    rng = np.random.default_rng(7)
    queries, candidates = random_demos(rng, 3, 4, longest=30), random_demos(rng, 5, 4, longest=30)
    pairs = [(q, c) for q in range(3) for c in range(5)]
    expected = [reference_dtw(queries[q], candidates[c]) for q, c in pairs]
    monkeypatch.setattr(pairing, "MAX_BATCH_BYTES", 30_000)  # a few pairs per batch
    batches = []
    costs, matches = dtw_pairs(queries, candidates, pairs, band=None, matches=True, progress=batches.append)
    assert len(batches) > 2 and sum(batches) == len(pairs)
    assert np.array_equal(costs, [cost for cost, _ in expected])
    assert all(np.array_equal(found, match) for found, (_, match) in zip(matches, expected))


@pytest.mark.parametrize("band", [0.0, 0.05, 0.2])
def test_band_always_has_a_path_and_never_lowers_the_cost(band):
    rng = np.random.default_rng(3)
    for _ in range(4):
        # very unequal lengths included: 1 frame against 40
        query, candidates = random_demos(rng, 1, 3, longest=40)[0], random_demos(rng, 6, 3, longest=40)
        free = dtw_costs(query, candidates)
        banded = dtw_costs(query, candidates, band)
        assert np.all(np.isfinite(banded)) and np.all(banded >= free)
        for c, cost in zip(candidates, banded):
            lo, hi = band_offsets(len(query), len(c), band)
            expected, match = reference_dtw(query, c, allowed=lambda i, j: lo <= j - i <= hi)
            assert cost == expected
            found = dtw_match(query, c, band)
            assert np.array_equal(found, match)
            assert found[0] == 0 and np.all(np.diff(found) >= 0)
            assert np.all((found - np.arange(len(query)) >= lo) & (found - np.arange(len(query)) <= hi))


def test_band_width_follows_the_longer_demo_and_the_length_difference():
    assert band_offsets(100, 100, 0.1) == (-10, 10)
    assert band_offsets(100, 150, 0.1) == (-15, 65)  # w = 15, widened by 50 towards the end cell
    assert band_offsets(150, 100, 0.1) == (-65, 15)
    assert band_offsets(5, 40, 0.0) == (0, 35)
    assert band_offsets(30, 40, None) == (-29, 39)  # no band: every cell
    with pytest.raises(ValueError, match="band=-0.1"):
        band_offsets(10, 10, -0.1)


def test_a_wide_band_pairs_as_no_band():
    rng = np.random.default_rng(11)
    target, source = random_demos(rng, 3, 2, shortest=10), random_demos(rng, 8, 2, shortest=10)
    wide, free = pair_demos(target, source, band=1.0), pair_demos(target, source, band=None)
    assert np.array_equal(wide.costs, free.costs) and np.array_equal(wide.probs, free.probs)
    assert wide.matches.keys() == free.matches.keys()
    assert all(np.array_equal(wide.matches[k], free.matches[k]) for k in free.matches)


# ---------------------------------------------------------------- the pairing cache


def co_train_data(sim, cache_dir, target_episodes=None, top_k=5):
    source, target = sim
    return CoTrainData(
        LeRobotDataset(source, cameras=[], cache_dir=cache_dir),
        LeRobotDataset(target, cameras=[], cache_dir=cache_dir, episodes=target_episodes),
        n_eval_target=2,
        top_k=top_k,
        cache_dir=cache_dir,
    )


def pairing_files(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "pairing").glob("*.npz"))


def same_pairing(a, b) -> bool:
    return (
        np.array_equal(a.costs, b.costs)
        and np.array_equal(a.probs, b.probs)
        and a.matches.keys() == b.matches.keys()
        and all(np.array_equal(a.matches[k], b.matches[k]) for k in a.matches)
    )


def test_pairing_is_computed_once_then_read_by_another_process(small_sim, tmp_path, capfd):
    first = co_train_data(small_sim, tmp_path)
    assert not first.pairing_cached
    assert "pairing: DTW of 6 target x 30 source demos (180 pairs" in capfd.readouterr().out
    [entry] = pairing_files(tmp_path)
    written = entry.stat().st_mtime_ns
    source, target = small_sim
    # Another process, as a sweep's trial: load_data with the same data config.
    script = (
        "import sys, numpy as np\n"
        "from actot.config import TrainConfig, apply_overrides\n"
        "from actot.run_data import load_data\n"
        f"cfg = apply_overrides(TrainConfig(), {{'data.source': {str(source)!r}, 'data.target': {str(target)!r}, "
        f"'data.cameras': [], 'data.n_eval_target': 2, 'data.cache_dir': {str(tmp_path)!r}}})\n"
        "data = load_data(cfg)[0]\n"
        "np.save(sys.argv[1], data.pairing.probs)\n"
        "print('cached' if data.pairing_cached else 'computed')\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "probs.npy")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "cached" and "pairing: DTW" not in out.stdout + out.stderr
    assert "pairing health: 6 target x 30 source demos" in out.stdout  # a cached pairing's health is printed too
    assert entry.stat().st_mtime_ns == written and pairing_files(tmp_path) == [entry]
    assert np.array_equal(np.load(tmp_path / "probs.npy"), first.pairing.probs)


def test_load_data_passes_its_cache_dir_to_the_pairing(small_sim, tmp_path):
    from actot.config import TrainConfig, apply_overrides

    source, target = small_sim
    cfg = apply_overrides(
        TrainConfig(),
        {
            "data.source": str(source),
            "data.target": str(target),
            "data.cameras": [],
            "data.n_eval_target": 2,
            "data.cache_dir": str(tmp_path),
        },
    )
    data = load_data(cfg)[0]
    assert len(pairing_files(tmp_path)) == 1 and same_pairing(data.pairing, co_train_data(small_sim, tmp_path).pairing)


@pytest.mark.parametrize("damage", [b"", b"not a zip file", "truncated"])
def test_a_damaged_entry_is_computed_again(small_sim, tmp_path, damage):
    first = co_train_data(small_sim, tmp_path)
    [entry] = pairing_files(tmp_path)
    entry.write_bytes(entry.read_bytes()[:200] if damage == "truncated" else damage)
    again = co_train_data(small_sim, tmp_path)
    assert not again.pairing_cached and same_pairing(again.pairing, first.pairing)
    third = co_train_data(small_sim, tmp_path)  # the entry was replaced by a good one
    assert third.pairing_cached and pairing_files(tmp_path) == [entry]


def test_other_episodes_or_top_k_miss_the_cache(small_sim, tmp_path):
    co_train_data(small_sim, tmp_path)
    assert co_train_data(small_sim, tmp_path).pairing_cached
    other_k = co_train_data(small_sim, tmp_path, top_k=3)
    assert not other_k.pairing_cached and (other_k.pairing.probs > 0).sum(1).max() <= 3
    fewer = co_train_data(small_sim, tmp_path, target_episodes=[0, 1, 2, 3, 6, 7])
    assert not fewer.pairing_cached and fewer.pairing.costs.shape == (4, 30)
    assert len(pairing_files(tmp_path)) == 3


def test_other_weights_read_the_cached_dtw_costs_and_pair_as_a_fresh_computation(small_sim, tmp_path, capfd):
    co_train_data(small_sim, tmp_path)
    assert "pairing: DTW of 6 target x 30 source demos (180 pairs" in capfd.readouterr().out
    [costs] = sorted((tmp_path / "pairing" / "costs").glob("*.npz"))
    other_k = co_train_data(small_sim, tmp_path, top_k=3)  # only the weights differ: the costs are read
    out = capfd.readouterr().out
    assert not other_k.pairing_cached
    assert "pairing: DTW costs of 6 target x 30 source demos read from the cache" in out and "180 pairs" not in out
    fresh = co_train_data(small_sim, tmp_path / "fresh", top_k=3)
    assert "pairing: DTW of 6 target x 30 source demos (180 pairs" in capfd.readouterr().out
    assert same_pairing(other_k.pairing, fresh.pairing)
    assert sorted((tmp_path / "pairing" / "costs").glob("*.npz")) == [costs]  # one costs entry serves both
    costs.write_bytes(b"not a zip file")  # a damaged costs entry is computed again
    again = co_train_data(small_sim, tmp_path, top_k=2)
    assert "pairing: DTW of 6 target x 30 source demos (180 pairs" in capfd.readouterr().out
    assert np.array_equal(again.pairing.costs, fresh.pairing.costs)
    fewer = co_train_data(small_sim, tmp_path, target_episodes=[0, 1, 2, 3, 6, 7], top_k=3)  # other data: computed
    assert "pairing: DTW of 4 target x 30 source demos (120 pairs" in capfd.readouterr().out
    assert fewer.pairing.costs.shape == (4, 30)


def test_pairing_without_cache_writes_nothing(small_sim, tmp_path):
    source, target = small_sim
    data = CoTrainData(
        LeRobotDataset(source, cameras=[], cache_dir=tmp_path),
        LeRobotDataset(target, cameras=[], cache_dir=tmp_path),
        n_eval_target=2,
        cache_dir=tmp_path,
        cache=False,
    )
    assert not data.pairing_cached and not (tmp_path / "pairing").exists()


# ---------------------------------------------------------------- the outcome summary (pairing on situation)


def test_the_outcome_summary_pairs_target_demos_with_source_demos_that_go_to_the_same_goal(small_sim, tmp_path):
    """The sim's goal is in no state: [state, action] DTW draws partners whose goals are far off; adding
    where each demo ended (data.pair_summary=[observation.state]) brings them close, measured on the generator's
    ground truth."""
    from actot.data.pairing import OUTCOME_SUMMARY
    from actot.sim.__main__ import sim_pairing_quality

    source, target = small_sim
    alone = sim_pairing_quality(source, target, cache=False)  # the default: [state, action] alone
    outcome = sim_pairing_quality(source, target, summary=list(OUTCOME_SUMMARY), cache=False)  # last 5 states, x4
    print(
        f"\ngoal gap in success radii: state/action alone {alone['goal_gap']:.2f}, with the outcome "
        f"{outcome['goal_gap']:.2f}, a perfect pairing {outcome['goal_gap_best']:.2f}"
    )
    assert outcome["goal_gap"] < 0.7 * alone["goal_gap"]
    assert outcome["goal_gap_best"] <= outcome["goal_gap"]


def test_the_outcome_summary_is_part_of_the_cache_key_and_weight_zero_is_state_action_alone(small_sim, tmp_path):
    source, target = small_sim

    def data(**summary):
        return CoTrainData(
            LeRobotDataset(source, cameras=[], cache_dir=tmp_path),
            LeRobotDataset(target, cameras=[], cache_dir=tmp_path),
            n_eval_target=2,
            cache_dir=tmp_path,
            **summary,
        )

    outcome = ["observation.state"]
    default = data(summary=outcome)
    assert not data(summary=outcome, summary_weight=2.0).pairing_cached
    assert not data(summary=outcome, summary_frames=1).pairing_cached
    assert not data(summary=["observation.state", "action"]).pairing_cached
    assert data(summary=outcome).pairing_cached and same_pairing(data(summary=outcome).pairing, default.pairing)
    off = data(summary=outcome, summary_weight=0.0)
    assert not off.pairing_cached and not same_pairing(off.pairing, default.pairing)
    assert same_pairing(data(summary=[]).pairing, off.pairing)  # no key and weight 0: one and the same entry
    assert data().pairing_cached and same_pairing(data().pairing, off.pairing)  # the default: no summary
    assert len(pairing_files(tmp_path)) == 5
    # weight 0 is the pairing of [state, action] alone, as before the summary existed
    plain = pair_demos(
        *([np.concatenate([e["state"], e["action"]], 1) for e in demos] for demos in (off.tgt_train, off.src))
    )
    assert same_pairing(off.pairing, plain)


def test_the_outcome_summary_pairs_a_real_lerobot_dataset_and_a_key_it_lacks_is_one_line(tmp_path):
    from actot.errors import ActotError
    from tests.conftest import G1, SO101, need

    for root, eps in ((need(G1), (list(range(10)), list(range(10, 16)))), (need(SO101), ([0, 1], [2, 3]))):
        source = LeRobotDataset(root, episodes=eps[0], cameras=[], cache_dir=tmp_path)
        target = LeRobotDataset(root, episodes=eps[1], cameras=[], cache_dir=tmp_path)
        both = CoTrainData(source, target, n_eval_target=1, cache=False, summary=["observation.state", "action"])
        alone = CoTrainData(source, target, n_eval_target=1, cache=False, summary_weight=0.0)
        assert np.isfinite(both.pairing.costs).all() and (both.pairing.costs > alone.pairing.costs).any()
        with pytest.raises(ActotError) as err:
            CoTrainData(source, target, n_eval_target=1, cache=False, summary=["observation.environment_state"])
        message = str(err.value)
        assert "\n" not in message and "data.pair_summary" in message and "observation.environment_state" in message
        assert "['observation.state', 'action']" in message


@pytest.mark.parametrize(
    "word, fragment",
    [
        ("data.pair_summary=[observation.environment_state]", "choose from ['observation.state', 'action']"),
        ("data.pair_summary_weight=-1", "data.pair_summary_weight=-1.0 is out of range"),
        ("data.pair_summary_frames=0", "data.pair_summary_frames=0 is out of range"),
    ],
)
def test_bad_pairing_summary_keys_give_one_line_errors(word, fragment):
    from actot.config import parse_cli
    from actot.errors import ActotError

    with pytest.raises(ActotError) as err:
        parse_cli([word])
    assert fragment in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------- the weights' scale, the cost's kind, the health line


@pytest.mark.parametrize("band", [None, 0.1])
def test_the_mean_cost_is_the_sum_over_the_reference_paths_cells(band):
    rng = np.random.default_rng(5)
    for _ in range(3):
        query, candidates = random_demos(rng, 1, 3, longest=30)[0], random_demos(rng, 5, 3, longest=30)
        means = dtw_costs(query, candidates, band, cost="mean")
        assert np.array_equal(dtw_costs(query, candidates, band), dtw_costs(query, candidates, band, cost="sum"))
        for c, mean in zip(candidates, means):
            lo, hi = band_offsets(len(query), len(c), band)
            total, _, cells = reference_alignment(query, c, allowed=lambda i, j: lo <= j - i <= hi)
            assert max(len(query), len(c)) <= cells <= len(query) + len(c) - 1
            assert mean == total / cells


def test_the_mean_cost_does_not_grow_with_the_demos_length_where_the_sum_does():
    """What data.pair_cost=mean promises: a source demo that moves like another but slower (every frame twice)
    costs twice as much summed, and the same as a mean."""
    rng = np.random.default_rng(2)
    target = np.cumsum(rng.normal(size=(30, 4)), 0)
    near = target + 0.1  # every frame 0.2 away
    slow = np.repeat(near, 2, axis=0)
    summed, mean = dtw_costs(target, [near, slow]), dtw_costs(target, [near, slow], cost="mean")
    assert summed[1] == pytest.approx(2 * summed[0]) and mean[1] == pytest.approx(mean[0]) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="cost='path'"):
        dtw_costs(target, [near], cost="path")


def test_the_nearest_scale_weighs_the_same_at_any_cost_scale_and_the_absolute_one_does_not():
    costs = np.array([20.0, 21.0, 24.0, 27.0, 40.0, 60.0])  # the embedded sim's scale
    nearest = pairing.pairing_weights(costs, 1.0, 5.0, 5, "nearest")
    for factor in (1e-3, 50.0, 300.0):  # G1's costs are ~900-6,500
        assert np.allclose(pairing.pairing_weights(factor * costs, 1.0, 5.0, 5, "nearest"), nearest)
    assert np.count_nonzero(nearest) == 5 and nearest[5] == 0 and np.all(np.diff(nearest[:5]) < 0)
    # 20 -> 40 is 10 tenths of the nearest: past the cutoff (5), so it weighs far less than the nearest, 24 (2 tenths) not
    assert nearest[4] < 0.05 * nearest[0] < nearest[2]
    absolute = pairing.pairing_weights(50.0 * costs, 1.0, 5.0, 5, "absolute")
    assert absolute[0] == 1.0 and np.count_nonzero(absolute) == 1  # every weight underflows: the nearest alone
    assert np.array_equal(
        pairing.pairing_weights(costs, 1.0, 5.0, 5), pairing.pairing_weights(costs, 1.0, 5.0, 5, "absolute")
    )
    identical = pairing.pairing_weights(np.array([0.0, 3.0, 0.0, 5.0]), 1.0, 5.0, 3, "nearest")
    assert np.array_equal(identical, [0.5, 0.0, 0.5, 0.0])  # cost 0: an identical demo, and only those
    with pytest.raises(ValueError, match="scale='relative'"):
        pairing.pairing_weights(costs, 1.0, 5.0, 5, "relative")


def test_pairing_health_counts_partners_and_shares():
    from actot.data.pairing import Pairing, collapse_reasons, health_lines, pairing_health

    costs = np.arange(12.0).reshape(3, 4) + 1
    one = Pairing(costs, np.array([[1.0, 0, 0, 0]] * 3), {})
    h = pairing_health(one)
    assert (h["distinct"], h["effective_median"], h["top_share"], h["top_source"]) == (1, 1.0, 1.0, 0)
    assert collapse_reasons(h, top_k=5) == ["one source demo takes most draws", "one partner each"]
    assert collapse_reasons(h, top_k=1) == ["one source demo takes most draws"]  # one partner each is what top_k=1 asks
    spread = Pairing(costs, np.array([[0.5, 0.5, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0.5, 0.5]]), {})
    h = pairing_health(spread)
    assert h["distinct"] == 4 and h["effective_median"] == pytest.approx(2.0) and h["top_share"] == pytest.approx(1 / 3)
    assert collapse_reasons(h, top_k=5) == []
    summary, warning = health_lines(spread, 1.0, 5.0, 5, "nearest", source_names=[10, 11, 12, 13])
    assert warning is None and "4 distinct partners" in summary and "2.00 effective partners per target" in summary
    assert "source episode 11 takes 33% of all draws" in summary and "DTW costs 1-12" in summary
    summary, warning = health_lines(one, 1.0, 5.0, 5, "absolute", source_names=[10, 11, 12, 13])
    assert "1 distinct partner (" in summary and "source episode 10 takes 100%" in summary
    assert warning.startswith("pairing WARNING: collapsed") and "set data.pair_scale=nearest" in warning
    assert "data.cutoff=5 at data.sharpness=1" in warning and "\n" not in warning
    assert "raise data.cutoff or lower data.sharpness" in health_lines(one, 1.0, 5.0, 5, "nearest")[1]
    shared = Pairing(costs, np.array([[0.6, 0.4, 0, 0]] * 3), {})  # spread, but source 0 takes 60% of all draws
    assert collapse_reasons(pairing_health(shared), top_k=5) == ["one source demo takes most draws"]
    warning = health_lines(shared, 1.0, 5.0, 5, "absolute")[1]
    assert "source demo 0 (by position) is near every target demo; raise data.top_k or data.cutoff" in warning


def test_the_scale_and_the_cost_are_part_of_the_cache_key(small_sim, tmp_path):
    def data(**rule):
        return CoTrainData(
            LeRobotDataset(small_sim[0], cameras=[], cache_dir=tmp_path),
            LeRobotDataset(small_sim[1], cameras=[], cache_dir=tmp_path),
            n_eval_target=2,
            cache_dir=tmp_path,
            **rule,
        )

    default = data()
    assert data(scale="absolute", cost="sum").pairing_cached  # the defaults are the first rule
    nearest, mean = data(scale="nearest"), data(cost="mean")
    assert not nearest.pairing_cached and not mean.pairing_cached and len(pairing_files(tmp_path)) == 3
    assert np.array_equal(nearest.pairing.costs, default.pairing.costs)
    assert not np.array_equal(nearest.pairing.probs, default.pairing.probs)
    assert not np.array_equal(mean.pairing.costs, default.pairing.costs)
    from actot.errors import ActotError

    for rule, fragment in (
        ({"scale": "relative"}, "data.pair_scale='relative'"),
        ({"cost": "path"}, "data.pair_cost='path'"),
    ):
        with pytest.raises(ActotError) as err:
            data(**rule)
        assert fragment in str(err.value) and "choose from" in str(err.value) and "\n" not in str(err.value)


def test_the_scale_is_derived_absolute_on_the_sim_and_nearest_on_a_lerobot_dataset(small_sim):
    from actot.config import parse_cli
    from actot.run_data import derive_data_defaults
    from tests.conftest import G1, need

    assert derive_data_defaults(parse_cli([]))[0].data.pair_scale == "absolute"  # the embedded sim: as before
    sim = [f"data.source={small_sim[0]}", f"data.target={small_sim[1]}"]
    assert derive_data_defaults(parse_cli(sim))[0].data.pair_scale == "absolute"  # a dataset our sim wrote
    g1 = [f"data.source={need(G1)}", f"data.target={G1}", "data.cameras=[]"]
    derived, said = derive_data_defaults(parse_cli(g1))
    assert derived.data.pair_scale == "nearest" and any(line.startswith("data.pair_scale=nearest") for line in said)
    assert derive_data_defaults(parse_cli([*g1, "data.pair_scale=absolute"]))[0].data.pair_scale == "absolute"
    assert parse_cli(["data.pair_cost=mean"]).data.pair_cost == "mean" and parse_cli([]).data.pair_cost == "sum"


@pytest.mark.parametrize(
    "word, fragment",
    [
        (
            "data.pair_scale=relative",
            "data.pair_scale='relative' is not allowed; choose one of [None, 'absolute', 'nearest']",
        ),
        ("data.pair_cost=path", "data.pair_cost='path' is not allowed; choose one of ['sum', 'mean']"),
    ],
)
def test_bad_pairing_rules_give_one_line_errors(word, fragment):
    from actot.config import parse_cli
    from actot.errors import ActotError

    with pytest.raises(ActotError) as err:
        parse_cli([word])
    assert fragment in str(err.value) and "\n" not in str(err.value)


def g1_pairing(tmp_path, sources, **rule):
    """G1 state-only through the real reader: `sources` against target episodes 80-99 (2 held out), as a user pairs it."""
    from tests.conftest import G1, need

    return CoTrainData(
        LeRobotDataset(need(G1), episodes=sources, cameras=[], cache_dir=tmp_path),
        LeRobotDataset(G1, episodes=list(range(80, 100)), cameras=[], cache_dir=tmp_path),
        n_eval_target=2,
        cache_dir=tmp_path,
        **rule,
    )


def test_g1_pairing_collapses_under_the_absolute_scale_with_a_warning_and_not_under_the_nearest(tmp_path, capfd):
    """Issue 31: G1's costs (~900-6,500) make every absolute weight underflow, so all 18 target demos draw source
    episode 79 alone; relative to each target's nearest, top_k=5 keeps several partners each."""
    from actot.data.pairing import pairing_health

    old = g1_pairing(tmp_path, list(range(80)), scale="absolute")
    out = capfd.readouterr().out
    h = pairing_health(old.pairing)
    assert (h["distinct"], h["effective_median"], h["top_share"]) == (1, 1.0, 1.0)
    assert old.src[h["top_source"]]["index"] == 79
    [warning] = [line for line in out.splitlines() if line.startswith("pairing WARNING")]
    assert "source episode 79 takes 100% of all draws" in warning and "set data.pair_scale=nearest" in warning
    new = g1_pairing(tmp_path, list(range(80)), scale="nearest")
    out = capfd.readouterr().out
    h = pairing_health(new.pairing)
    print(f"\n{out}")
    assert "pairing health: 18 target x 80 source demos (data.pair_scale=nearest" in out and "WARNING" not in out
    assert "pairing: DTW costs of 18 target x 80 source demos read from the cache" in out  # the advice costs no DTW
    assert h["distinct"] >= 5 and h["effective_median"] > 2 and h["top_share"] < 0.5
    assert np.array_equal(new.pairing.nearest(), old.pairing.nearest())  # the same costs: only the weights differ
    # a cache hit says the same again (a sweep's trials read the driver's pairing)
    assert g1_pairing(tmp_path, list(range(80)), scale="absolute").pairing_cached
    assert warning in capfd.readouterr().out


def test_g1_mean_cost_follows_the_source_demos_length_less_than_the_sum(tmp_path):
    """data.pair_cost=mean on G1 (sources 0-39): the summed cost rises with the source demo's length, so shorter demos
    win; the mean over the path follows length much less."""
    from scipy.stats import spearmanr

    sources = list(range(40))
    summed, mean = (
        g1_pairing(tmp_path, sources, scale="nearest"),
        g1_pairing(tmp_path, sources, scale="nearest", cost="mean"),
    )
    lengths = np.array([len(e["state"]) for e in summed.src])

    def follows_length(costs):
        return spearmanr(costs.ravel(), np.tile(lengths, len(costs))).correlation

    print(
        f"\nSpearman of the cost with the source demo's length: sum {follows_length(summed.pairing.costs):.2f}, "
        f"mean {follows_length(mean.pairing.costs):.2f}"
    )
    assert follows_length(summed.pairing.costs) > 0.7 and follows_length(mean.pairing.costs) < 0.6
    assert np.median(lengths[mean.pairing.nearest()]) > np.median(lengths[summed.pairing.nearest()])
