"""OT on what the policy reads: keypoint pooling, the three OT embeddings, a few training steps of each on the
embedded sim and on the two shared LeRobot datasets, and the one-line errors of their bad inputs."""

import math

import pytest
import torch

from actot.config import parse_cli
from actot.errors import ActotError
from actot.policy import ACT, act_loss, preset
from actot.policy.act import SpatialSoftmax
from actot.policy.config import feature_map_size
from actot.train import train
from tests.conftest import G1, SO101, need

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
SMALL = [
    "policy.dim_model=32",
    "policy.n_heads=2",
    "policy.dim_feedforward=64",
    "policy.n_encoder_layers=1",
    "policy.n_vae_encoder_layers=1",
    "policy.latent_dim=8",
    "policy.backbone_width=8",
    "policy.n_keypoints=8",
    "batch_size=4",
    "ot.batch_size=6",
    "ot.window_size=2",
    "log_every=2",
    "steps=2",
    "rollout_episodes=0",
    "threads=1",
    "wandb.mode=disabled",
]


def batch(b=4, cams=2, height=64, width=96):
    torch.manual_seed(1)
    return {
        "state": torch.randn(b, 5),
        "action": torch.randn(b, 6, 3),
        "action_is_pad": torch.zeros(b, 6, dtype=torch.bool),
        "images": torch.randint(0, 256, (b, cams, height, width, 3), dtype=torch.uint8),
    }


def test_spatial_softmax_gives_the_expected_position_on_a_minus_one_to_one_grid():
    softmax = SpatialSoftmax(3, 4)
    x = torch.randn(2, 3, 5, 7) * 50  # large logits: near one-hot, still within the grid
    keypoints = softmax(x)
    assert keypoints.shape == (2, 4, 2) and keypoints.abs().max() <= 1.0
    with torch.no_grad():  # one channel peaked at row 1, column 6 (of 5 x 7): x = 1, y = -0.5
        softmax.conv.weight.zero_()
        softmax.conv.bias.zero_()
        softmax.conv.weight[0, 0] = 1.0
    peak = torch.zeros(1, 3, 5, 7)
    peak[0, 0, 1, 6] = 100.0
    assert torch.allclose(softmax(peak)[0, 0], torch.tensor([1.0, -0.5]), atol=1e-4)
    assert torch.allclose(softmax(torch.zeros(1, 3, 5, 7))[0, 0], torch.zeros(2), atol=1e-6)  # uniform: the centre


def test_keypoint_pooling_gives_bounded_coordinates_and_both_losses_reach_the_backbone():
    torch.manual_seed(0)
    model = ACT(preset("act_small", **TINY, image_pooling="keypoints", n_keypoints=8), 5, 3, 2, "keypoints")
    b = batch()
    z = model.ot_embeddings(b)
    assert z.shape == (4, 2, 16) and z.abs().max() <= 1.0
    z.pow(2).sum().backward()  # OT's path: keypoints -> spatial softmax -> backbone
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert model.encoder_img_keypoint_proj.weight.grad is None  # the keypoints come before the linear layer
    model.zero_grad()
    actions, stats, embeddings = model(b)  # BC's path: the keypoint tokens feed the transformer
    act_loss(model.cfg, actions, stats, b)[0].backward()
    assert (
        model.backbone.conv1.weight.grad.abs().sum() > 0 and model.encoder_img_keypoint_proj.weight.grad.abs().sum() > 0
    )
    assert torch.allclose(embeddings, z.detach(), atol=1e-6)
    assert not hasattr(model, "encoder_img_feat_input_proj")  # keypoints replace the map's tokens
    shared = {id(p) for p in model.ot_parameters()}
    assert shared == {id(p) for p in [*model.backbone.parameters(), *model.encoder_img_keypoints.parameters()]}


@pytest.mark.parametrize(
    "pooling, embedding, width",
    [
        ("map", "mean", 32),
        ("map", "tokens", 2 * 3 * 32),
        ("keypoints", "mean", 32),
        ("keypoints", "tokens", 32),
        ("keypoints", "keypoints", 16),
    ],
)
def test_each_embedding_is_what_the_forward_pass_gives_the_ot_loss(pooling, embedding, width):
    torch.manual_seed(0)
    model = ACT(preset("act_small", **TINY, image_pooling=pooling, n_keypoints=8), 5, 3, 2, embedding).eval()
    b = batch()  # 64 x 96 frames: a 2 x 3 map
    assert feature_map_size(64, 96) == (2, 3)
    z = model.ot_embeddings(b)
    assert z.shape == (4, 2, width) and torch.allclose(model(b)[2], z, atol=1e-6)
    if pooling == "map":
        tokens = model.camera_features(b["images"])  # (B, K, D, h, w): what the transformer reads
        expected = tokens.mean(dim=(3, 4)) if embedding == "mean" else tokens.flatten(3).transpose(2, 3).flatten(2)
        assert torch.allclose(z, expected, atol=1e-6)


def test_without_cameras_every_embedding_but_keypoints_is_the_state_token():
    model = ACT(preset("act_small", **TINY), 5, 3, 0, "tokens")
    b = {k: v for k, v in batch().items() if k != "images"}
    assert torch.allclose(model.ot_embeddings(b), model.encoder_state_input_proj(b["state"])[:, None])


def tiny_sim(small_sim, tmp_path, *extra):
    source, target = small_sim
    return parse_cli([f"data.source={source}", f"data.target={target}", *SMALL, f"out_dir={tmp_path}", *extra])


@pytest.mark.parametrize("embedding", ["keypoints", "tokens"])
def test_ot_on_keypoints_and_on_tokens_trains_on_the_sim(small_sim, tmp_path, embedding):
    cfg = tiny_sim(small_sim, tmp_path, f"ot.embedding={embedding}", "data.resolution=64", f"name={embedding}")
    result = train(cfg, progress=False)
    m = result.metrics
    assert result.status == "finished" and all(math.isfinite(v) for v in m.values())
    assert m["ot_grad_ratio"] > 0 and m["ot_loss_embed"] > 0
    pooling = (result.run_dir / "config.json").read_text()
    # the run records the pooling it derived: keypoints for ot.embedding=keypoints, LeRobot's map otherwise
    assert f'"image_pooling": "{"keypoints" if embedding == "keypoints" else "map"}"' in pooling


def g1_words(tmp_path, *extra):
    root = need(G1)
    return [
        f"data.source={root}",
        "data.source_episodes=[1,2]",
        f"data.target={root}",
        "data.target_episodes=[4,5]",
        "data.n_eval_target=1",
        "data.resolution=[48,64]",
        "policy=act_small",
        "policy.chunk_size=10",
        "policy.n_action_steps=5",
        *SMALL,
        f"out_dir={tmp_path}",
        *extra,
    ]


@pytest.mark.parametrize("embedding", ["keypoints", "tokens"])
def test_ot_on_keypoints_and_on_tokens_trains_on_the_g1_videos(tmp_path, embedding):
    result = train(parse_cli(g1_words(tmp_path, f"ot.embedding={embedding}", f"name=g1-{embedding}")), progress=False)
    assert result.status == "finished" and all(math.isfinite(v) for v in result.metrics.values())
    assert result.metrics["ot_grad_ratio"] > 0


def so101_words(tmp_path, *extra):
    root = need(SO101)  # state and action only: it ships no video
    return [
        f"data.source={root}",
        "data.source_episodes=[0,1]",
        f"data.target={root}",
        "data.target_episodes=[2,3]",
        "data.n_eval_target=1",
        "data.cameras=[]",
        "policy=act_small",
        "policy.chunk_size=10",
        "policy.n_action_steps=5",
        *SMALL,
        f"out_dir={tmp_path}",
        *extra,
    ]


def test_ot_on_tokens_trains_on_the_so101_states_and_keypoints_there_is_one_line(tmp_path):
    result = train(parse_cli(so101_words(tmp_path, "ot.embedding=tokens", "name=so101")), progress=False)
    assert result.status == "finished" and all(math.isfinite(v) for v in result.metrics.values())
    with pytest.raises(ActotError) as err:
        parse_cli(so101_words(tmp_path, "ot.embedding=keypoints"))
    assert str(err.value) == (
        "command line: ot.embedding=keypoints needs cameras, but data.cameras=[]; choose "
        "ot.embedding from ['mean', 'tokens'] or name cameras"
    )


@pytest.mark.parametrize(
    "words, fragment",
    [
        (
            ["ot.embedding=centroid"],
            "ot.embedding='centroid' is not allowed; choose one of ['mean', 'keypoints', 'tokens']",
        ),
        (
            ["policy.image_pooling=avg"],
            "policy.image_pooling='avg' is not allowed; choose one of [None, 'map', 'keypoints']",
        ),
        (["ot.embedding=keypoints", "policy.image_pooling=map"], "set policy.image_pooling=keypoints or null"),
        (
            ["policy.image_pooling=keypoints", "data.cameras=[]"],
            "policy.image_pooling=keypoints needs cameras, but data.cameras=[]; choose policy.image_pooling from ['map', None]",
        ),
    ],
)
def test_bad_pooling_and_embedding_names_give_one_line_errors(words, fragment):
    with pytest.raises(ActotError) as err:
        parse_cli(words)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_keypoints_on_a_one_by_one_map_or_a_state_only_dataset_stop_before_training(small_sim, tmp_path):
    with pytest.raises(ActotError) as err:  # the sim's default 32 px frames give a 1 x 1 map
        train(tiny_sim(small_sim, tmp_path, "ot.embedding=keypoints", "name=one"), progress=False)
    assert "data.resolution=[32, 32] gives a 1x1 feature map" in str(err.value) and "['mean', 'tokens']" in str(
        err.value
    )
    # the policy itself refuses keypoints without a camera
    with pytest.raises(ActotError, match=r"needs cameras, and this policy has none"):
        ACT(preset("act_small", **TINY, image_pooling="keypoints"), 6, 6, 0)


def test_the_ot_config_and_the_policy_name_the_same_embeddings():
    from actot.ot.config import EMBEDDINGS
    from actot.policy.config import OT_EMBEDDINGS

    assert (
        EMBEDDINGS == OT_EMBEDDINGS
    )  # the ot key's choices are what the policy computes (they import nothing of each other)
