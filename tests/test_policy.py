"""ACT: shapes, the padding mask, the KL term, temporal ensembling, torchvision weights."""

import dataclasses

import pytest
import torch

from actot.policy import ACT, TemporalEnsembler, act_loss, preset
from actot.policy.backbone import ResNet18Backbone

TINY = dict(
    dim_model=32,
    n_heads=2,
    dim_feedforward=64,
    n_encoder_layers=1,
    n_vae_encoder_layers=1,
    latent_dim=8,
    backbone_width=8,
    chunk_size=6,
    n_action_steps=3,
)


def batch(b=4, cams=2, res=32, chunk=6, state=5, action=3):
    out = {
        "state": torch.randn(b, state),
        "action": torch.randn(b, chunk, action),
        "action_is_pad": torch.zeros(b, chunk, dtype=torch.bool),
    }
    if cams:
        out["images"] = torch.randint(0, 256, (b, cams, res, res, 3), dtype=torch.uint8)
    return out


def test_presets_follow_lerobot_defaults():
    cfg = preset("act")
    assert (cfg.chunk_size, cfg.dim_model, cfg.n_heads, cfg.dim_feedforward) == (100, 512, 8, 3200)
    assert (cfg.n_encoder_layers, cfg.n_decoder_layers, cfg.latent_dim, cfg.n_vae_encoder_layers) == (4, 1, 32, 4)
    assert (cfg.kl_weight, cfg.dropout, cfg.lr, cfg.lr_backbone, cfg.weight_decay, cfg.grad_clip_norm) == (
        10.0,
        0.1,
        1e-5,
        1e-5,
        1e-4,
        10.0,
    )
    model = ACT(cfg, 14, 14, 1)
    assert 51e6 < sum(p.numel() for p in model.parameters()) < 53e6  # LeRobot's ACT: ~52M


@pytest.mark.parametrize("cams", [0, 1, 3])
def test_output_shapes(cams):
    model = ACT(preset("act_small", **TINY), 5, 3, cams)
    actions, (mu, logvar), emb = model(batch(cams=cams))
    assert actions.shape == (4, 6, 3) and mu.shape == (4, 8) and logvar.shape == (4, 8)
    assert emb.shape == (4, max(cams, 1), 32)
    model.eval()
    actions, (mu, _), _ = model({k: v for k, v in batch(cams=cams).items() if k not in ("action", "action_is_pad")})
    assert actions.shape == (4, 6, 3) and mu is None


def test_padded_actions_do_not_count():
    torch.manual_seed(0)
    cfg = preset("act_small", **TINY, use_vae=False)
    model = ACT(cfg, 5, 3, 1).eval()
    b = batch(cams=1)
    b["action_is_pad"][:, 4:] = True
    actions, stats, _ = model(b)
    loss_a, _ = act_loss(cfg, actions, stats, b)
    b["action"][:, 4:] += 100.0
    loss_b, _ = act_loss(cfg, actions, stats, b)
    assert torch.allclose(loss_a, loss_b)
    # LeRobot: the mean over ALL entries, padded ones counted as zeros (not / the valid count).
    manual = (actions[:, :4] - b["action"][:, :4]).abs().sum() / actions.numel()
    assert torch.allclose(loss_a, manual)
    valid_count_mean = (actions[:, :4] - b["action"][:, :4]).abs().mean()  # the old, 1.5x larger value here
    assert not torch.allclose(loss_a, valid_count_mean)


def test_vae_encoder_ends_with_a_layernorm_under_pre_norm():
    torch.manual_seed(0)
    model = ACT(preset("act_small", **TINY, pre_norm=True, dropout=0.0), 5, 3, 0)
    assert isinstance(model.vae_encoder_norm, torch.nn.LayerNorm)
    b = batch(cams=0)
    torch.manual_seed(1)
    _, (mu_a, _), _ = model(b)
    with torch.no_grad():
        model.vae_encoder_norm.weight.mul_(3.0)
    torch.manual_seed(1)
    _, (mu_b, _), _ = model(b)
    assert not torch.allclose(mu_a, mu_b)  # the norm is on the path to the latent
    assert isinstance(ACT(preset("act_small", **TINY), 5, 3, 0).vae_encoder_norm, torch.nn.Identity)


def test_backbone_convolutions_use_torchvisions_kaiming_init():
    torch.manual_seed(0)
    backbone = ResNet18Backbone(16)
    for conv in (backbone.layer1[0].conv1, backbone.layer2[0].conv1, backbone.layer4[1].conv2):
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        assert float(conv.weight.detach().std()) == pytest.approx((2.0 / fan_out) ** 0.5, rel=0.05)


def test_ot_embeddings_match_the_forward_pass_and_name_their_parameters():
    torch.manual_seed(0)
    model = ACT(preset("act_small", **TINY), 5, 3, 2).eval()
    b = batch(cams=2)
    _, _, emb = model(b)
    assert torch.allclose(model.ot_embeddings(b), emb, atol=1e-6)
    shared = {id(p) for p in model.ot_parameters()}
    assert shared == {id(p) for p in [*model.backbone.parameters(), *model.encoder_img_feat_input_proj.parameters()]}
    state_only = ACT(preset("act_small", **TINY), 5, 3, 0)
    assert {id(p) for p in state_only.ot_parameters()} == {
        id(p) for p in state_only.encoder_state_input_proj.parameters()
    }


def test_vae_encoder_padding_mask_hides_padded_actions():
    torch.manual_seed(0)
    model = ACT(preset("act_small", **TINY, dropout=0.0), 5, 3, 0)
    b = batch(cams=0)
    b["action_is_pad"][:, 3:] = True
    torch.manual_seed(1)
    _, (mu_a, _), _ = model(b)
    b["action"][:, 3:] = 50.0
    torch.manual_seed(1)
    _, (mu_b, _), _ = model(b)
    assert torch.allclose(mu_a, mu_b, atol=1e-5)


def test_kl_term():
    cfg = preset("act_small", **TINY)
    b = batch(cams=0)
    actions = torch.zeros(4, 6, 3)
    zero = torch.zeros(4, 8)
    _, parts = act_loss(cfg, actions, (zero, zero), b)
    assert float(parts["kld_loss"]) == pytest.approx(0.0)
    mu = torch.ones(4, 8)
    loss, parts = act_loss(cfg, actions, (mu, zero), b)
    assert float(parts["kld_loss"]) == pytest.approx(0.5 * 8)  # sum over latent dims of mu^2 / 2
    assert float(loss) == pytest.approx(float(parts["l1_loss"]) + 10.0 * 4.0)


def test_coefficient_zero_means_uniform_ensembling_not_off():
    from actot.policy import make_ensembler

    assert make_ensembler(preset("act_small", **TINY)) is None  # None: off
    ens = make_ensembler(preset("act_small", **TINY, temporal_ensemble_coeff=0.0))
    assert ens is not None
    ens.update(torch.zeros(1, 6, 1))
    assert float(ens.update(torch.full((1, 6, 1), 3.0))) == pytest.approx(1.5)  # the plain mean


def test_temporal_ensembler_weights_older_chunks_more():
    ens = TemporalEnsembler(coeff=0.5, chunk_size=3)
    first = ens.update(torch.zeros(1, 3, 1))
    second = ens.update(torch.ones(1, 3, 1))
    w0, w1 = 1.0, torch.exp(torch.tensor(-0.5)).item()
    assert float(first) == 0.0 and float(second) == pytest.approx(w1 / (w0 + w1))


def test_loads_torchvision_format_weights(tmp_path):
    source = ResNet18Backbone(64)
    state = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in source.state_dict().items()}
    # torchvision's resnet18 also carries num_batches_tracked and the classifier.
    for key in [k for k in state if k.endswith("running_var")]:
        state[key] = state[key].abs() + 0.1
        state[key.replace("running_var", "num_batches_tracked")] = torch.tensor(0)
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)
    torch.save(state, tmp_path / "resnet18.pth")
    cfg = dataclasses.replace(preset("act"), pretrained_backbone_weights=str(tmp_path / "resnet18.pth"))
    model = ACT(cfg, 4, 2, 1)
    assert torch.equal(model.backbone.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
    assert torch.equal(model.backbone.bn1.running_var, state["bn1.running_var"])


def test_frozen_batchnorm_has_no_trainable_parameters():
    backbone = ResNet18Backbone(8)
    names = [n for n, _ in backbone.named_parameters()]
    assert names and all("bn" not in n and "downsample.1" not in n for n in names)
