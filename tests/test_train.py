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
        f"data.source={source}", f"data.target={target}", "data.resolution=16",
        "policy.dim_model=32", "policy.n_heads=2", "policy.dim_feedforward=64", "policy.n_encoder_layers=1",
        "policy.n_vae_encoder_layers=1", "policy.latent_dim=8", "policy.backbone_width=8",
        "batch_size=4", "ot.batch_size=8", "ot.window_size=2", "log_every=5", "rollout_episodes=0",
        "threads=1", f"out_dir={tmp_path}", "wandb.mode=offline"]


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
    result = train(tiny(small_sim, tmp_path, "steps=5", f"ot.heuristic={heuristic}", "ot.weight_label=0",
                        "ot.weight_embed=0.3333", f"name={heuristic}", "wandb.mode=disabled"), progress=False)
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
    full = train(tiny(small_sim, tmp_path, "steps=20", "name=full", "checkpoint_every=10", "wandb.mode=disabled"),
                 progress=False)
    train(tiny(small_sim, tmp_path, "steps=10", "name=split", "checkpoint_every=10", "wandb.mode=disabled"), progress=False)
    resumed = train(tiny(small_sim, tmp_path, "steps=20", "name=split", "checkpoint_every=10", "resume=true",
                         "wandb.mode=disabled"), progress=False)
    drop = lambda m: {k: v for k, v in m.items() if not k.startswith("time/")}  # noqa: E731
    assert drop(resumed.metrics) == drop(full.metrics)
    assert [r["step"] for r in resumed.history] == [0, 5, 10, 15, 20]
    a = torch.load(tmp_path / "full/checkpoint/state.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "split/checkpoint/state.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_non_finite_loss_ends_the_run_with_a_reason(small_sim, tmp_path):
    result = train(tiny(small_sim, tmp_path, "steps=20", "name=nan", "ot.lambda_ot=1e39", "wandb.mode=disabled"),
                   progress=False)
    assert result.status == "non_finite" and "train/loss" in result.reason and result.step <= 20
    assert result.metrics["non_finite"] == 1.0


def test_state_only_datasets_train(small_sim, tmp_path):
    result = train(tiny(small_sim, tmp_path, "steps=5", "name=state_only", "data.cameras=[]", "wandb.mode=disabled"),
                   progress=False)
    assert result.status == "finished" and math.isfinite(result.metrics["ot_cost(state)"])


@pytest.mark.slow
def test_short_training_lowers_target_eval_l1(small_sim, tmp_path):
    result = train(tiny(small_sim, tmp_path, "steps=150", "log_every=25", "name=learn", "wandb.mode=disabled",
                        "policy.lr=1e-3", "policy.lr_backbone=1e-3"), progress=False)
    evals = [r["eval/avg_l1"] for r in result.history]
    print("\neval/avg_l1 by log:", [round(v, 3) for v in evals])
    assert evals[-1] < 0.75 * evals[0]


def test_trains_on_a_real_lerobot_dataset_with_video(tmp_path):
    from tests.conftest import G1, need

    root = need(G1)
    cfg = parse_cli([f"data.source={root}", "data.source_episodes=[1,2]", f"data.target={root}",
                     "data.target_episodes=[4,5]", "data.n_eval_target=1", "data.resolution=[24,32]",
                     "policy.chunk_size=20", "policy.n_action_steps=10", "policy.dim_model=32", "policy.n_heads=2",
                     "policy.dim_feedforward=64", "policy.backbone_width=8", "batch_size=4", "ot.batch_size=8",
                     "steps=6", "log_every=3", "wandb.mode=disabled", f"out_dir={tmp_path}", "name=g1"])
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
    result = train(tiny(small_sim, tmp_path, "steps=2", "log_every=2", "rollout_episodes=3", f"name=roll{ensemble}",
                        f"policy.temporal_ensemble_coeff={ensemble}", "data.sim.shift=2.0", "wandb.mode=disabled"),
                   progress=False)
    assert 0.0 <= result.metrics["eval/success"] <= 1.0


def test_cli_trains_and_plots(small_sim, tmp_path, capsys):
    from actot.train import main

    cfg_words = tiny_words(small_sim, tmp_path) + ["steps=4", "log_every=2", "name=cli", "wandb.mode=disabled"]
    assert main(cfg_words) == 0
    assert "finished at step 4" in capsys.readouterr().out
    assert (tmp_path / "cli" / "curves.png").stat().st_size > 1000
    assert main(["ot.heuristic=diag"]) == 2  # a bad override: one line, exit status 2


def _model_and_batch(small_sim, tmp_path, *extra):
    from actot.data.sampler import CoTrainSampler
    from actot.evaluate import to_tensors
    from actot.policy.act import ACT
    from actot.train import load_data

    cfg = tiny(small_sim, tmp_path, *extra)
    data, true_pairs, _ = load_data(cfg)
    torch.manual_seed(0)
    model = ACT(cfg.policy, data.state_dim, data.action_dim, len(data.cameras))
    sampler = CoTrainSampler(data, cfg.policy.chunk_size, cfg.batch_size, cfg.ot.batch_size, cfg.ot.window_size, seed=0)
    return cfg, model, to_tensors(sampler.next(), torch.device("cpu"))


def test_initial_embed_norm_puts_the_samplers_draws_back(small_sim, tmp_path):
    from actot.data.sampler import CoTrainSampler
    from actot.train import initial_embed_norm, load_data

    cfg, model, _ = _model_and_batch(small_sim, tmp_path)
    data, _, _ = load_data(cfg)
    sampler = CoTrainSampler(data, cfg.policy.chunk_size, cfg.batch_size, cfg.ot.batch_size, cfg.ot.window_size, seed=0)
    untouched = CoTrainSampler(data, cfg.policy.chunk_size, cfg.batch_size, cfg.ot.batch_size, cfg.ot.window_size, seed=0)
    assert initial_embed_norm(model, sampler, cfg, torch.device("cpu")) > 0
    for _ in range(3):
        a, b = sampler.next(), untouched.next()
        assert all((a[k] == b[k]).all() for k in a)


@pytest.mark.parametrize("bc_on_ot_rows", [False, True])
def test_bc_loss_sees_the_ot_rows_only_when_asked(small_sim, tmp_path, bc_on_ot_rows):
    from actot.train import step_losses

    cfg, model, batch = _model_and_batch(small_sim, tmp_path, f"bc_on_ot_rows={bc_on_ot_rows}",
                                                   "policy.dropout=0.0", "policy.use_vae=false")
    model.eval()
    bc_a, _, ot_a, _ = step_losses(model, batch, cfg)
    n = 2 * cfg.ot.batch_size
    batch["action"][:n] += 100.0  # the OT rows' action targets only
    bc_b, _, ot_b, _ = step_losses(model, batch, cfg)
    assert torch.allclose(ot_a, ot_b)  # label=first_action is off (weight_label 0): OT unchanged
    assert torch.allclose(bc_a, bc_b) != bc_on_ot_rows


def test_grad_ratio_is_the_norm_of_ots_gradient_over_bcs_on_the_encoder(small_sim, tmp_path):
    from actot.train import backward_measuring_ot_share, step_losses

    cfg, model, batch = _model_and_batch(small_sim, tmp_path, "ot.lambda_ot=0.5")
    shared = model.ot_parameters()
    torch.manual_seed(1)
    bc, _, l_ot, _ = step_losses(model, batch, cfg)
    g_bc = torch.autograd.grad(bc, shared, retain_graph=True, allow_unused=True)
    g_ot = torch.autograd.grad(0.5 * l_ot, shared, allow_unused=True)
    norm = lambda gs: torch.sqrt(sum((g ** 2).sum() for g in gs if g is not None))  # noqa: E731
    torch.manual_seed(1)
    bc, _, l_ot, _ = step_losses(model, batch, cfg)
    ratio = backward_measuring_ot_share(bc, 0.5 * l_ot, shared)
    assert float(ratio) == pytest.approx(float(norm(g_ot) / norm(g_bc)), rel=1e-4) and float(ratio) > 0
    total = [p.grad.clone() for p in shared]  # the .grad buffers hold the usual sum of both
    assert all(torch.allclose(t, (a if a is not None else 0) + (b if b is not None else 0), atol=1e-6)
               for t, a, b in zip(total, g_bc, g_ot))


def test_grad_ratio_is_zero_without_ot_and_grad_norm_is_before_clipping(small_sim, tmp_path):
    result = train(tiny(small_sim, tmp_path, "steps=5", "ot.lambda_ot=0", "policy.grad_clip_norm=0.001",
                        "name=nolambda", "wandb.mode=disabled"), progress=False)
    assert result.metrics["ot_grad_ratio"] == 0.0
    assert result.metrics["train/grad_norm"] > 0.01  # the norm before clipping to 0.001
    assert result.metrics["ot_pi_sum"] > 0  # the plan is still solved and logged
