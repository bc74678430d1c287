"""The training loop at tiny scale on the embedded sim: metrics, determinism, resume, NaN, learning."""

import math

import pyarrow.parquet as pq
import pytest
import torch

from actot.config import parse_cli
from actot.train import train

SEED_KEYS = {"train/loss", "train/l1_loss", "eval/avg_l1", "ot_loss", "ot_pi_sum", "ot_pi_diag", "ot_cost(state)"}
OT_ACTS_KEYS = {"ot_grad_ratio", "ot_loss_embed", "ot_loss_label", "ot_sinkhorn_err", "train/grad_norm"}


def tiny_words(small_sim, tmp_path) -> list[str]:
    source, target = small_sim
    return [
        f"data.source={source}",
        f"data.target={target}",
        "data.resolution=16",
        "policy.dim_model=32",
        "policy.n_heads=2",
        "policy.dim_feedforward=64",
        "policy.n_encoder_layers=1",
        "policy.n_vae_encoder_layers=1",
        "policy.latent_dim=8",
        "policy.backbone_width=8",
        "batch_size=4",
        "ot.batch_size=8",
        "ot.window_size=2",
        "log_every=5",
        "rollout_episodes=0",
        "threads=1",
        f"out_dir={tmp_path}",
        "wandb.mode=offline",
    ]


def tiny(small_sim, tmp_path, *extra):
    return parse_cli([*tiny_words(small_sim, tmp_path), *extra])


def test_metrics_have_the_seed_keys_and_are_finite(small_sim, tmp_path):
    result = train(tiny(small_sim, tmp_path, "steps=10", "name=keys"), progress=False)
    assert result.status == "finished" and result.step == 10
    assert SEED_KEYS | OT_ACTS_KEYS | {"train/kld_loss", "ot_true_pair_mass"} <= set(result.metrics)
    assert all(math.isfinite(v) for v in result.metrics.values())
    history = pq.read_table(tmp_path / "keys" / "history.parquet").to_pydict()
    assert history["step"] == [0, 5, 10] and SEED_KEYS | OT_ACTS_KEYS <= set(history)
    for key in OT_ACTS_KEYS:  # every logged row after the baseline carries them, finite
        assert all(v is not None and math.isfinite(v) for v in history[key][1:]), key
    assert all(v > 0 for v in history["ot_grad_ratio"][1:])
    assert list((tmp_path / "keys" / "wandb").glob("offline-run-*"))
    # the embeddings' size: the untrained model's at step 0, then each window's over it
    initial = history["ot_embed_norm"][0]
    assert initial > 0 and history["ot_embed_shrink"][0] is None
    for norm, shrink in zip(history["ot_embed_norm"][1:], history["ot_embed_shrink"][1:]):
        assert shrink == pytest.approx(norm / initial)


@pytest.mark.parametrize("heuristic", ["hard", "soft", "none"])
def test_heuristic_modes_in_training(small_sim, tmp_path, heuristic):
    result = train(
        tiny(
            small_sim,
            tmp_path,
            "steps=5",
            f"ot.heuristic={heuristic}",
            "ot.weight_label=0",
            "ot.weight_embed=0.3333",
            f"name={heuristic}",
            "wandb.mode=disabled",
        ),
        progress=False,
    )
    m = result.metrics
    assert all(math.isfinite(v) for v in m.values())
    if heuristic == "hard":
        assert m["ot_pi_sum"] == pytest.approx(m["ot_pi_diag"], rel=1e-5)
    else:
        assert m["ot_pi_diag"] < 0.95 * m["ot_pi_sum"]


def test_same_seed_same_metrics(small_sim, tmp_path):
    a = train(tiny(small_sim, tmp_path, "steps=10", "name=a", "wandb.mode=disabled"), progress=False)
    b = train(tiny(small_sim, tmp_path, "steps=10", "name=b", "wandb.mode=disabled"), progress=False)
    c = train(tiny(small_sim, tmp_path, "steps=10", "name=c", "seed=1", "wandb.mode=disabled"), progress=False)
    strip = lambda rows: [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]  # noqa: E731
    assert strip(a.history) == strip(b.history)
    assert strip(a.history) != strip(c.history)


def test_checkpoint_resume_equals_uninterrupted(small_sim, tmp_path):
    # A finished 10-step run extended to 20 steps. Exact under a constant schedule (the EMA on, as by
    # default); a cosine follows `steps`, so there extending is a new schedule (the interrupted run
    # of the next test is the exact case).
    words = ("checkpoint_every=10", "lr_schedule=constant", "wandb.mode=disabled")
    full = train(tiny(small_sim, tmp_path, "steps=20", "name=full", *words), progress=False)
    train(tiny(small_sim, tmp_path, "steps=10", "name=split", *words), progress=False)
    resumed = train(tiny(small_sim, tmp_path, "steps=20", "name=split", "resume=true", *words), progress=False)
    drop = lambda m: {k: v for k, v in m.items() if not k.startswith("time/")}  # noqa: E731
    assert drop(resumed.metrics) == drop(full.metrics)
    assert [r["step"] for r in resumed.history] == [0, 5, 10, 15, 20]
    a = torch.load(tmp_path / "full/checkpoint/state.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "split/checkpoint/state.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_interrupted_run_resumes_bit_for_bit_with_the_schedule_and_the_ema(small_sim, tmp_path):
    """The defaults (cosine with warm-up, EMA on), N steps straight vs interrupted at N/2 and resumed to N:
    the same metrics at every report, the same trained weights, EMA weights and optimiser state."""
    words = ("steps=20", "checkpoint_every=10", "warmup_steps=3", "ema_decay=0.9", "wandb.mode=disabled")
    full = train(tiny(small_sim, tmp_path, "name=full", *words), progress=False)
    interrupt = lambda metrics, checkpoint, history: "interrupted" if metrics["step"] == 10 else None  # noqa: E731
    cut = train(tiny(small_sim, tmp_path, "name=cut", *words), report=interrupt, progress=False)
    assert cut.status == "stopped" and cut.step == 10
    resumed = train(tiny(small_sim, tmp_path, "name=cut", "resume=true", *words), progress=False)
    strip = lambda rows: [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]  # noqa: E731
    assert resumed.status == "finished" and strip(resumed.history) == strip(full.history)
    assert [r["step"] for r in resumed.history] == [0, 5, 10, 15, 20]
    a = torch.load(tmp_path / "full/checkpoint/state.pt", weights_only=True)
    b = torch.load(tmp_path / "cut/checkpoint/state.pt", weights_only=True)
    assert a["ema"]["updates"] == b["ema"]["updates"] == 20
    assert any(not torch.equal(a["ema"]["model"][k], a["model"][k]) for k in a["model"])  # an average, not a copy
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(a["ema"]["model"][k], b["ema"]["model"][k]) for k in a["ema"]["model"])
    moments = lambda s: [t for state in s["optimizer"]["state"].values() for t in state.values()]  # noqa: E731
    assert all(torch.equal(x, y) for x, y in zip(moments(a), moments(b)))
    assert [g["lr"] for g in a["optimizer"]["param_groups"]] == [g["lr"] for g in b["optimizer"]["param_groups"]]


def test_resuming_with_the_ema_on_needs_ema_weights_in_the_checkpoint(small_sim, tmp_path):
    from actot.errors import ActotError

    train(
        tiny(
            small_sim,
            tmp_path,
            "steps=4",
            "log_every=2",
            "checkpoint_every=2",
            "ema_decay=0",
            "name=noema",
            "wandb.mode=disabled",
        ),
        progress=False,
    )
    with pytest.raises(ActotError) as err:
        train(
            tiny(small_sim, tmp_path, "steps=6", "log_every=2", "resume=true", "name=noema", "wandb.mode=disabled"),
            progress=False,
        )
    assert "ema_decay=0.999" in str(err.value) and "no EMA weights" in str(err.value) and "\n" not in str(err.value)


def test_evaluation_runs_on_the_ema_of_the_weights(small_sim, tmp_path):
    """Each step's checkpoint holds the trained weights w_t and the EMA e_t: e_t = d_t e_(t-1) + (1 - d_t) w_t
    with d_t = min(decay, (1 + t) / (10 + t)), and the logged eval/avg_l1 is the EMA's, not w_t's."""
    from actot.evaluate import eval_l1
    from actot.ema import ema_decay_at
    from actot.policy.act import ACT
    from actot.run_data import load_data

    cfg = tiny(
        small_sim,
        tmp_path,
        "steps=4",
        "log_every=1",
        "checkpoint_every=1",
        "ema_decay=0.5",
        "name=ema",
        "lr_schedule=constant",
        "wandb.mode=disabled",
    )
    states = {}

    def keep(metrics, checkpoint, history):
        if checkpoint is not None:
            states[metrics["step"]] = (torch.load(checkpoint / "state.pt", weights_only=True), metrics["eval/avg_l1"])

    train(cfg, report=keep, progress=False)
    assert sorted(states) == [1, 2, 3, 4]
    for t in (2, 3, 4):
        d = ema_decay_at(0.5, t)
        before, now = states[t - 1][0]["ema"]["model"], states[t][0]
        for key, value in now["ema"]["model"].items():
            if value.is_floating_point():
                assert torch.allclose(value, d * before[key] + (1 - d) * now["model"][key], atol=1e-6, rtol=1e-5), key
    data, _, _ = load_data(cfg)
    model = ACT(cfg.policy, data.state_dim, data.action_dim, len(data.cameras))
    state, logged = states[4]
    model.load_state_dict(state["ema"]["model"])
    assert eval_l1(model, data, cfg.policy.chunk_size, torch.device("cpu"), cfg.eval_frames)["eval/avg_l1"] == logged
    model.load_state_dict(state["model"])
    assert eval_l1(model, data, cfg.policy.chunk_size, torch.device("cpu"), cfg.eval_frames)["eval/avg_l1"] != logged


def test_the_ema_averages_parameters_and_float_buffers_and_copies_the_others():
    from actot.ema import WeightEMA

    net = torch.nn.BatchNorm1d(3)  # weight, bias; running_mean/var (float) and num_batches_tracked (int)
    ema = WeightEMA(net, decay=0.9)
    expected = {k: v.clone().double() for k, v in net.state_dict().items()}
    for t in range(1, 101):
        with torch.no_grad():
            net.weight.add_(0.01 * t)
            net.running_mean.sub_(0.05)
            net.num_batches_tracked += 1
        ema.update(net)
        d = min(0.9, (1 + t) / (10 + t))  # the ramp until t = 80, then 0.9
        for key, value in net.state_dict().items():
            if value.is_floating_point():
                expected[key] = d * expected[key] + (1 - d) * value.double()
    got = ema.model.state_dict()
    for key in ("weight", "bias", "running_mean", "running_var"):
        assert torch.allclose(got[key].double(), expected[key], rtol=1e-5, atol=1e-6), key
    assert int(got["num_batches_tracked"]) == 100 and not ema.model.training
    assert all(not p.requires_grad for p in ema.model.parameters())
    assert not torch.allclose(got["weight"], net.weight)  # an average lags the trained weights


def test_learning_rate_schedules():
    from actot.optim import lr_factor, resolved_warmup

    f = lambda step, schedule="cosine", warmup=10: lr_factor(step, 110, schedule, warmup, 0.1)  # noqa: E731
    assert [f(s) for s in (1, 5, 10)] == pytest.approx([0.1, 0.5, 1.0])  # linear warm-up to the base rate
    assert f(11) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 100)))
    assert f(60) == pytest.approx(0.55) and f(110) == pytest.approx(0.1) and f(200) == pytest.approx(0.1)
    assert all(f(s) > f(s + 1) for s in range(10, 110))  # decays monotonically after the warm-up
    assert [f(s, "constant", 0) for s in (1, 50, 110)] == [1.0, 1.0, 1.0]  # LeRobot's ACT
    assert [f(s, "constant", 4) for s in (1, 4, 5, 110)] == [0.25, 1.0, 1.0, 1.0]
    assert resolved_warmup("cosine", None, 300) == 15 and resolved_warmup("constant", None, 300) == 0
    assert resolved_warmup("constant", 7, 300) == 7


def test_the_run_logs_its_learning_rate_and_from_the_sixth_report_its_l1_trend(small_sim, tmp_path):
    from actot.convergence import l1_trend
    from actot.optim import lr_factor

    cfg = tiny(
        small_sim, tmp_path, "steps=30", "warmup_steps=6", "lr_min_ratio=0.2", "name=trend", "wandb.mode=disabled"
    )
    result = train(cfg, progress=False)
    rows = result.history
    assert [r["train/lr"] for r in rows[1:]] == pytest.approx(
        [cfg.policy.lr * lr_factor(s, 30, "cosine", 6, 0.2) for s in (5, 10, 15, 20, 25, 30)]
    )
    assert rows[-1]["train/lr"] == pytest.approx(0.2 * cfg.policy.lr)
    assert all("eval/l1_trend" not in r for r in rows[:-1])  # 6 reports after step 0 are needed
    l1 = [r["eval/avg_l1"] for r in rows[1:]]
    assert rows[-1]["eval/l1_trend"] == pytest.approx(l1_trend(l1))
    assert rows[-1]["eval/l1_trend"] == pytest.approx((sum(l1[4:]) - sum(l1[2:4])) / sum(l1[2:4]))
    constant = train(
        tiny(
            small_sim, tmp_path, "steps=5", "name=lerobot", "lr_schedule=constant", "ema_decay=0", "wandb.mode=disabled"
        ),
        progress=False,
    )
    assert constant.history[-1]["train/lr"] == cfg.policy.lr  # LeRobot's ACT: no warm-up, no decay


@pytest.mark.parametrize(
    "word,fragment",
    [
        ("warmup_steps=-1", "warmup_steps=-1 is out of range"),
        (
            "warmup_steps=300",
            "warmup_steps=300 is out of range; it must be null (5% of steps under cosine) or a whole "
            "number in [0, steps=300)",
        ),
        ("warmup_steps=1.5", "warmup_steps=1.5 has the wrong type"),
        ("ema_decay=1.0", "ema_decay=1.0 is out of range; it must be in [0, 1) (0: no EMA; e.g. 0.999)"),
        ("ema_decay=-0.1", "ema_decay=-0.1 is out of range"),
        ("ema_decay=high", "ema_decay='high' has the wrong type"),
        ("lr_min_ratio=2", "lr_min_ratio=2.0 is out of range; it must be in [0, 1]"),
        ("lr_schedule=linear", "lr_schedule='linear' is not allowed; choose one of ['constant', 'cosine']"),
    ],
)
def test_bad_schedule_and_ema_keys_give_one_line_errors(word, fragment):
    from actot.errors import ActotError

    with pytest.raises(ActotError) as err:
        parse_cli([word])
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_non_finite_loss_ends_the_run_with_a_reason(small_sim, tmp_path):
    result = train(
        tiny(small_sim, tmp_path, "steps=20", "name=nan", "ot.lambda_ot=1e39", "wandb.mode=disabled"), progress=False
    )
    assert result.status == "non_finite" and "train/loss" in result.reason and result.step <= 20
    assert result.metrics["non_finite"] == 1.0


def test_state_only_datasets_train(small_sim, tmp_path):
    result = train(
        tiny(small_sim, tmp_path, "steps=5", "name=state_only", "data.cameras=[]", "wandb.mode=disabled"),
        progress=False,
    )
    assert result.status == "finished" and math.isfinite(result.metrics["ot_cost(state)"])


@pytest.mark.slow
def test_short_training_lowers_target_eval_l1(small_sim, tmp_path):
    result = train(
        tiny(
            small_sim,
            tmp_path,
            "steps=150",
            "log_every=25",
            "name=learn",
            "wandb.mode=disabled",
            "policy.lr=1e-3",
            "policy.lr_backbone=1e-3",
        ),
        progress=False,
    )
    evals = [r["eval/avg_l1"] for r in result.history]
    print("\neval/avg_l1 by log:", [round(v, 3) for v in evals])
    assert evals[-1] < 0.75 * evals[0]


def test_trains_on_a_real_lerobot_dataset_with_video(tmp_path):
    from tests.conftest import G1, need

    root = need(G1)
    cfg = parse_cli(
        [
            f"data.source={root}",
            "data.source_episodes=[1,2]",
            f"data.target={root}",
            "data.target_episodes=[4,5]",
            "data.n_eval_target=1",
            "data.resolution=[24,32]",
            "policy.chunk_size=20",
            "policy.n_action_steps=10",
            "policy.dim_model=32",
            "policy.n_heads=2",
            "policy.dim_feedforward=64",
            "policy.backbone_width=8",
            "batch_size=4",
            "ot.batch_size=8",
            "steps=6",
            "log_every=3",
            "wandb.mode=disabled",
            f"out_dir={tmp_path}",
            "name=g1",
        ]
    )
    result = train(cfg, progress=False)
    assert result.status == "finished"
    assert "ot_true_pair_mass" not in result.metrics and "eval/success" not in result.metrics  # no ground truth, no sim
    assert all(math.isfinite(v) for v in result.metrics.values())


def test_api_key_is_written_nowhere(small_sim, tmp_path, monkeypatch):
    secret = "0123456789abcdef0123456789abcdef01234567"  # the shape of a W&B key
    monkeypatch.setenv("WANDB_API_KEY", secret)
    train(tiny(small_sim, tmp_path, "steps=4", "log_every=2", "name=secret", "wandb.mode=offline"), progress=False)
    files = [p for p in (tmp_path / "secret").rglob("*") if p.is_file()]
    assert files and not [p for p in files if secret.encode() in p.read_bytes()]


@pytest.mark.parametrize("ensemble", ["null", "0.01"])
def test_closed_loop_rollouts_report_success(small_sim, tmp_path, ensemble):
    result = train(
        tiny(
            small_sim,
            tmp_path,
            "steps=2",
            "log_every=2",
            "rollout_episodes=3",
            f"name=roll{ensemble}",
            f"policy.temporal_ensemble_coeff={ensemble}",
            "data.sim.shift=2.0",
            "wandb.mode=disabled",
        ),
        progress=False,
    )
    m = result.metrics
    for key in ("eval/success", "eval/success_source"):  # the same 3 episodes in each domain
        assert 0.0 <= m[key] <= 1.0 and m[key + "_se"] == pytest.approx(math.sqrt(m[key] * (1 - m[key]) / 3))


def test_cli_trains_and_plots(small_sim, tmp_path, capsys):
    from actot.train import main

    cfg_words = tiny_words(small_sim, tmp_path) + ["steps=4", "log_every=2", "name=cli", "wandb.mode=disabled"]
    assert main(cfg_words) == 0
    out = capsys.readouterr().out
    assert "finished at step 4" in out
    # Not on a terminal (pytest captures it, as nohup or Slurm would): a line per log step with s/step and ETA.
    lines = [line for line in out.splitlines() if line.startswith("[train] cli step")]
    assert [line.split(",")[0] for line in lines] == ["[train] cli step 2/4 (50%)", "[train] cli step 4/4 (100%)"]
    assert all(" s/step, ETA " in line and "eval/avg_l1=" in line for line in lines)
    assert lines[-1].split("ETA ")[1].startswith("0m00s")
    assert (tmp_path / "cli" / "curves.png").stat().st_size > 1000
    assert main(["ot.heuristic=diag"]) == 2  # a bad override: one line, exit status 2


def _model_and_batch(small_sim, tmp_path, *extra):
    from actot.data.sampler import CoTrainSampler
    from actot.evaluate import to_tensors
    from actot.policy.act import ACT
    from actot.run_data import load_data

    cfg = tiny(small_sim, tmp_path, *extra)
    data, true_pairs, _ = load_data(cfg)
    torch.manual_seed(0)
    model = ACT(cfg.policy, data.state_dim, data.action_dim, len(data.cameras))
    sampler = CoTrainSampler(data, cfg.policy.chunk_size, cfg.batch_size, cfg.ot.batch_size, cfg.ot.window_size, seed=0)
    return cfg, model, to_tensors(sampler.next(), torch.device("cpu"))


def test_initial_embed_norm_puts_the_samplers_draws_back(small_sim, tmp_path):
    from actot.data.sampler import CoTrainSampler
    from actot.run_data import load_data
    from actot.train_step import initial_embed_norm

    cfg, model, _ = _model_and_batch(small_sim, tmp_path)
    data, _, _ = load_data(cfg)
    sampler = CoTrainSampler(data, cfg.policy.chunk_size, cfg.batch_size, cfg.ot.batch_size, cfg.ot.window_size, seed=0)
    untouched = CoTrainSampler(
        data, cfg.policy.chunk_size, cfg.batch_size, cfg.ot.batch_size, cfg.ot.window_size, seed=0
    )
    assert initial_embed_norm(model, sampler, cfg, torch.device("cpu")) > 0
    for _ in range(3):
        a, b = sampler.next(), untouched.next()
        assert all((a[k] == b[k]).all() for k in a)


@pytest.mark.parametrize("bc_on_ot_rows", [False, True])
def test_bc_loss_sees_the_ot_rows_only_when_asked(small_sim, tmp_path, bc_on_ot_rows):
    from actot.train_step import step_losses

    cfg, model, batch = _model_and_batch(
        small_sim, tmp_path, f"bc_on_ot_rows={bc_on_ot_rows}", "policy.dropout=0.0", "policy.use_vae=false"
    )
    model.eval()
    bc_a, _, ot_a, _ = step_losses(model, batch, cfg)
    n = 2 * cfg.ot.batch_size
    batch["action"][:n] += 100.0  # the OT rows' action targets only
    bc_b, _, ot_b, _ = step_losses(model, batch, cfg)
    assert torch.allclose(ot_a, ot_b)  # label=first_action is off (weight_label 0): OT unchanged
    assert torch.allclose(bc_a, bc_b) != bc_on_ot_rows


def test_ot_rows_bc_takes_the_ot_pairs_from_the_bc_rows_with_the_separate_paths_loss_and_gradients(small_sim, tmp_path):
    """ot_rows=bc: the sampler draws the OT pairs as BC rows, and the step takes their embeddings from the BC
    pass. When the separate path's BC rows are exactly those rows, losses and gradients are the same."""
    from actot.data.sampler import CoTrainSampler
    from actot.evaluate import to_tensors
    from actot.policy.act import ACT
    from actot.run_data import load_data
    from actot.train_step import step_losses

    words = ["batch_size=8", "ot.batch_size=2", "ot.lambda_ot=0.5", "ot.heuristic=soft", "ot.weight_label=0.1"]
    shared, separate = (tiny(small_sim, tmp_path, *words, f"ot_rows={rows}") for rows in ("bc", "separate"))
    data, true_pairs, _ = load_data(shared)
    sampler = CoTrainSampler(
        data, shared.policy.chunk_size, 8, 2, shared.ot.window_size, seed=0, true_pairs=true_pairs, ot_in_bc=True
    )
    drawn = sampler.next()
    assert len(drawn["state"]) == 8 and drawn["is_target"].tolist() == [0, 0, 1, 1, 0, 0, 1, 1]
    assert drawn["true_pair"].shape == (2, 2)
    batch = to_tensors(drawn, torch.device("cpu"))
    batch["true_pair"] = torch.from_numpy(drawn["true_pair"])
    # The separate path's batch: the same OT rows, then BC rows that are exactly the shared batch's rows.
    twice = {k: torch.cat([v[:4], v]) if k != "true_pair" else v for k, v in batch.items()}
    torch.manual_seed(0)
    model = ACT(shared.policy, data.state_dim, data.action_dim, len(data.cameras))
    results = []
    for cfg, rows in ((shared, batch), (separate, twice)):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)  # the same VAE noise and dropout in both
        bc, parts, l_ot, metrics = step_losses(model, rows, cfg)
        (bc + cfg.ot.lambda_ot * l_ot).backward()
        results.append(
            (
                bc.detach(),
                l_ot.detach(),
                metrics,
                {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None},
            )
        )
    (bc_a, ot_a, m_a, g_a), (bc_b, ot_b, m_b, g_b) = results
    assert torch.allclose(bc_a, bc_b, rtol=1e-5) and torch.allclose(ot_a, ot_b, rtol=1e-4) and float(ot_a) > 0
    assert all(torch.allclose(m_a[k], m_b[k], rtol=1e-4, atol=1e-6) for k in m_a)
    assert g_a.keys() == g_b.keys() and any(n.startswith("backbone.") for n in g_a)
    for name in g_a:
        assert torch.allclose(g_a[name], g_b[name], rtol=1e-3, atol=1e-6), name


def test_ot_rows_bc_needs_room_among_the_bc_rows():
    from actot.errors import ActotError

    assert parse_cli(["ot_rows=bc", "ot.batch_size=8"]).ot_rows == "bc"
    with pytest.raises(ActotError) as err:
        parse_cli(["ot_rows=bc"])
    assert str(err.value) == (
        "command line: ot.batch_size=32 is too large for ot_rows=bc, which draws the OT pairs "
        "among the BC rows: batch_size=16 at bc_src_weight=0.5 has 8 source and 8 target rows; "
        "set ot.batch_size=8 or lower, or batch_size=64 or higher"
    )
    with pytest.raises(ActotError, match=r"ot_rows='shared' is not allowed; choose one of \['separate', 'bc'\]"):
        parse_cli(["ot_rows=shared"])


def test_grad_ratio_is_the_norm_of_ots_gradient_over_bcs_on_the_encoder(small_sim, tmp_path):
    from actot.train_step import backward_measuring_ot_share, step_losses

    cfg, model, batch = _model_and_batch(small_sim, tmp_path, "ot.lambda_ot=0.5")
    shared = model.ot_parameters()
    torch.manual_seed(1)
    bc, _, l_ot, _ = step_losses(model, batch, cfg)
    g_bc = torch.autograd.grad(bc, shared, retain_graph=True, allow_unused=True)
    g_ot = torch.autograd.grad(0.5 * l_ot, shared, allow_unused=True)
    norm = lambda gs: torch.sqrt(sum((g**2).sum() for g in gs if g is not None))  # noqa: E731
    torch.manual_seed(1)
    bc, _, l_ot, _ = step_losses(model, batch, cfg)
    ratio = backward_measuring_ot_share(bc, 0.5 * l_ot, shared)
    assert float(ratio) == pytest.approx(float(norm(g_ot) / norm(g_bc)), rel=1e-4) and float(ratio) > 0
    total = [p.grad.clone() for p in shared]  # the .grad buffers hold the usual sum of both
    assert all(
        torch.allclose(t, (a if a is not None else 0) + (b if b is not None else 0), atol=1e-6)
        for t, a, b in zip(total, g_bc, g_ot)
    )


def test_grad_ratio_is_zero_without_ot_and_grad_norm_is_before_clipping(small_sim, tmp_path):
    result = train(
        tiny(
            small_sim,
            tmp_path,
            "steps=5",
            "ot.lambda_ot=0",
            "policy.grad_clip_norm=0.001",
            "name=nolambda",
            "wandb.mode=disabled",
        ),
        progress=False,
    )
    assert result.metrics["ot_grad_ratio"] == 0.0
    assert result.metrics["train/grad_norm"] > 0.01  # the norm before clipping to 0.001
    assert result.metrics["ot_pi_sum"] > 0  # the plan is still solved and logged


def test_a_run_folder_is_never_overwritten_and_an_unnamed_run_gets_a_new_one(tmp_path, capsys):
    from actot.config import parse_cli
    from actot.train import check_run_dir, main

    args = [f"out_dir={tmp_path}", "name=x", "dry_run=true"]
    assert main(args) == 0
    assert "nothing was started" in capsys.readouterr().out and not (tmp_path / "x").exists()
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "config.json").write_text("{}")
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "name=x" in err[0] and "already holds a run" in err[0] and "resume=true" in err[0]
    assert main(args + ["resume=true"]) == 0
    first = check_run_dir(parse_cli([f"out_dir={tmp_path}"]))
    (tmp_path / first.name).mkdir()
    second = check_run_dir(parse_cli([f"out_dir={tmp_path}"]))
    assert first.name.startswith("run-") and second.name != first.name
    assert main([f"out_dir={tmp_path}", "resume=true", "dry_run=true"]) == 2
    assert "resume=true needs the name=" in capsys.readouterr().err


def test_the_sweep_progress_line_carries_the_pace_and_the_eta(tmp_path):
    from types import SimpleNamespace

    from actot.sweep.callbacks import ResultsRecorder
    from actot.sweep.space import load_space
    from actot.sweep.store import ResultsStore

    store = ResultsStore(tmp_path, load_space("ot_reg"), "eval/avg_l1", "min", "p", total_steps=400)
    recorder = ResultsRecorder(store, num_samples=8)
    running = [
        SimpleNamespace(last_result={"step": 100, "time/step_s": 0.1}),
        SimpleNamespace(last_result={"step": 300, "time/step_s": 0.3}),
    ]
    # 300 + 100 steps left in the running two, 4 trials of 400 not started: 2000 steps, two at a time at 0.2 s/step
    assert recorder._pace(running, done=2) == "; 0.200 s/step, ETA 3m20s"
    assert recorder._pace([SimpleNamespace(last_result={"step": 0})], done=0) == ""
