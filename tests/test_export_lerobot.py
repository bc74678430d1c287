"""`python -m actot export ... format=lerobot`: a folder in LeRobot's own format (issue 31 item 6).

LeRobot needs torchvision, which has no build for our CPU torch here, and pins torch below ours: where it
cannot be imported, the folder is checked against LeRobot's schema written below as data, derived by
reading huggingface/lerobot at commit 7427f31801f944f5ec9ce53cda02862ce7d1638b (version 0.6.2; the ACT and
processor files used here are as in v0.4.4): src/lerobot/policies/act/configuration_act.py and
modeling_act.py (the parameters `ACTPolicy.state_dict()` holds), configs/policies.py (config.json: draccus
parses ACTConfig's fields and refuses others), policies/pretrained.py (from_pretrained reads config.json and
model.safetensors), processor/factory.py, pipeline.py and normalize_processor.py (policy_preprocessor.json,
policy_postprocessor.json and their stats files). Where LeRobot imports, the same folder is loaded with
`ACTPolicy.from_pretrained` and run against ours.
"""

import json
import shutil

import pytest
import torch

from actot.__main__ import main as actot_main
from actot.errors import ActotError
from actot.export import export_trial, load_policy
from actot.policy import lerobot_format, preset
from real_sweep import new_sweep

LEROBOT_COMMIT = "7427f31801f944f5ec9ce53cda02862ce7d1638b"

# configs/policies.py (PreTrainedConfig) and policies/act/configuration_act.py (ACTConfig): the fields
# config.json may hold besides "type" (draccus refuses any other key).
LEROBOT_CONFIG_FIELDS = {
    "n_obs_steps",
    "input_features",
    "output_features",
    "device",
    "use_amp",
    "use_peft",
    "push_to_hub",
    "repo_id",
    "private",
    "tags",
    "license",
    "pretrained_path",
    "pretrained_revision",
    "chunk_size",
    "n_action_steps",
    "normalization_mapping",
    "vision_backbone",
    "pretrained_backbone_weights",
    "replace_final_stride_with_dilation",
    "pre_norm",
    "dim_model",
    "n_heads",
    "dim_feedforward",
    "feedforward_activation",
    "n_encoder_layers",
    "n_decoder_layers",
    "use_vae",
    "latent_dim",
    "n_vae_encoder_layers",
    "temporal_ensemble_coeff",
    "dropout",
    "kl_weight",
    "optimizer_lr",
    "optimizer_weight_decay",
    "optimizer_lr_backbone",
}


def lerobot_act_schema(c: dict, state_dim: int, action_dim: int) -> dict[str, tuple]:
    """The names and shapes of `ACTPolicy(config).state_dict()` for a config with `observation.state`, images
    and an action, as modeling_act.py builds them (its network under `model.`)."""
    d, ff, latent, chunk = c["dim_model"], c["dim_feedforward"], c["latent_dim"], c["chunk_size"]
    out: dict[str, tuple] = {}

    def linear(name, fan_in, fan_out):
        out[f"{name}.weight"], out[f"{name}.bias"] = (fan_out, fan_in), (fan_out,)

    def layer_norm(name, width=d):
        out[f"{name}.weight"], out[f"{name}.bias"] = (width,), (width,)

    def attention(name):  # nn.MultiheadAttention(dim_model, n_heads)
        out[f"{name}.in_proj_weight"], out[f"{name}.in_proj_bias"] = (3 * d, d), (3 * d,)
        linear(f"{name}.out_proj", d, d)

    def encoder(name, layers):  # ACTEncoder: layers of ACTEncoderLayer, a LayerNorm only under pre_norm
        for i in range(layers):
            attention(f"{name}.layers.{i}.self_attn")
            linear(f"{name}.layers.{i}.linear1", d, ff)
            linear(f"{name}.layers.{i}.linear2", ff, d)
            layer_norm(f"{name}.layers.{i}.norm1")
            layer_norm(f"{name}.layers.{i}.norm2")
        if c["pre_norm"]:
            layer_norm(f"{name}.norm")

    def frozen_bn(name, width):  # torchvision.ops.misc.FrozenBatchNorm2d: four buffers
        for buffer in ("weight", "bias", "running_mean", "running_var"):
            out[f"{name}.{buffer}"] = (width,)

    if c["use_vae"]:
        encoder("model.vae_encoder", c["n_vae_encoder_layers"])
        out["model.vae_encoder_cls_embed.weight"] = (1, d)
        linear("model.vae_encoder_robot_state_input_proj", state_dim, d)
        linear("model.vae_encoder_action_input_proj", action_dim, d)
        linear("model.vae_encoder_latent_output_proj", d, 2 * latent)
        out["model.vae_encoder_pos_enc"] = (1, chunk + 2, d)  # [cls, robot state, actions]
    # IntermediateLayerGetter(torchvision resnet18, return_layers={"layer4": ...}): conv1 .. layer4
    out["model.backbone.conv1.weight"] = (64, 3, 7, 7)
    frozen_bn("model.backbone.bn1", 64)
    inplanes = 64
    for index, planes in enumerate((64, 128, 256, 512), start=1):
        for block in (0, 1):
            name = f"model.backbone.layer{index}.{block}"
            out[f"{name}.conv1.weight"] = (planes, inplanes if block == 0 else planes, 3, 3)
            frozen_bn(f"{name}.bn1", planes)
            out[f"{name}.conv2.weight"] = (planes, planes, 3, 3)
            frozen_bn(f"{name}.bn2", planes)
            if block == 0 and index > 1:
                out[f"{name}.downsample.0.weight"] = (planes, inplanes, 1, 1)
                frozen_bn(f"{name}.downsample.1", planes)
        inplanes = planes
    encoder("model.encoder", c["n_encoder_layers"])
    for i in range(c["n_decoder_layers"]):  # ACTDecoder: ACTDecoderLayer, then a LayerNorm always
        name = f"model.decoder.layers.{i}"
        attention(f"{name}.self_attn")
        attention(f"{name}.multihead_attn")
        linear(f"{name}.linear1", d, ff)
        linear(f"{name}.linear2", ff, d)
        for norm in ("norm1", "norm2", "norm3"):
            layer_norm(f"{name}.{norm}")
    layer_norm("model.decoder.norm")
    linear("model.encoder_robot_state_input_proj", state_dim, d)
    linear("model.encoder_latent_input_proj", latent, d)
    out["model.encoder_img_feat_input_proj.weight"] = (d, 512, 1, 1)  # resnet18's fc.in_features -> dim_model
    out["model.encoder_img_feat_input_proj.bias"] = (d,)
    out["model.encoder_1d_feature_pos_embed.weight"] = (2, d)  # latent, robot state
    out["model.decoder_pos_embed.weight"] = (chunk, d)
    linear("model.action_head", d, action_dim)
    return out


@pytest.fixture(scope="module")
def sweep(small_sim, tmp_path_factory):
    """Trials LeRobot's ACT can be: `w` with LeRobot's backbone (torchvision's resnet18 width), an action queue;
    `e` the same with temporal ensembling and pre-norm layers."""
    built = new_sweep(small_sim, tmp_path_factory.mktemp("lerobot"))
    built.run("w", {"ot.reg": 1.0}, overrides={"policy.backbone_width": 64})
    built.run(
        "e",
        {"ot.reg": 0.5},
        overrides={"policy.backbone_width": 64, "policy.pre_norm": True, "policy.temporal_ensemble_coeff": 0.01},
    )
    return built


@pytest.fixture(scope="module")
def exported(sweep, tmp_path_factory):
    """trial -> (the format=lerobot folder, the format=actot folder) of the same weights."""
    root = tmp_path_factory.mktemp("exports")
    out = {}
    for trial in ("w", "e"):
        out[trial] = root / trial / "lerobot", root / trial / "actot"
        export_trial(sweep.dir, trial=trial, out=out[trial][0], format="lerobot")
        export_trial(sweep.dir, trial=trial, out=out[trial][1])
    return out


def observations(policy, steps: int, seed: int) -> list[dict]:
    """Unbatched observations as LeRobot gives them: float state, images float (3, H, W) in [0, 1] at the
    trained resolution (quantised: camera frames are uint8)."""
    g = torch.Generator().manual_seed(seed)
    h, w = policy.resolution
    return [
        {
            "observation.state": torch.randn(policy.state_dim, generator=g),
            **{cam: torch.randint(0, 256, (3, h, w), generator=g).float() / 255 for cam in policy.camera_keys},
        }
        for _ in range(steps)
    ]


@pytest.mark.parametrize("trial", ["w", "e"])
def test_the_lerobot_folder_has_lerobots_files_names_and_shapes(exported, trial):
    from safetensors.torch import load_file

    folder = exported[trial][0]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [
            "README.md",
            "actot_export.json",
            "actot_train_config.json",
            "config.json",
            "model.safetensors",
            "policy_preprocessor.json",
            "policy_preprocessor_step_3_normalizer_processor.safetensors",
            "policy_postprocessor.json",
            "policy_postprocessor_step_0_unnormalizer_processor.safetensors",
        ]
    )
    config = json.loads((folder / "config.json").read_text())
    assert config.pop("type") == "act" and set(config) <= LEROBOT_CONFIG_FIELDS
    # ACTConfig.__post_init__ / validate_features: what LeRobot checks on loading
    assert config["vision_backbone"] == "resnet18" and config["n_obs_steps"] == 1
    assert config["n_action_steps"] <= config["chunk_size"]
    assert config["temporal_ensemble_coeff"] is None or config["n_action_steps"] == 1
    assert config["pretrained_backbone_weights"] is None  # nothing to download: the backbone is in the weights
    features = config["input_features"]
    cameras = [k for k, f in features.items() if f["type"] == "VISUAL"]
    assert cameras and all(k.startswith("observation.images.") and len(features[k]["shape"]) == 3 for k in cameras)
    assert features["observation.state"]["type"] == "STATE"
    assert set(config["output_features"]) == {"action"} and config["output_features"]["action"]["type"] == "ACTION"
    assert config["normalization_mapping"] == {"VISUAL": "MEAN_STD", "STATE": "MEAN_STD", "ACTION": "MEAN_STD"}
    state_dim, action_dim = features["observation.state"]["shape"][0], config["output_features"]["action"]["shape"][0]

    weights = load_file(folder / "model.safetensors")
    got = {k: tuple(v.shape) for k, v in weights.items()}
    assert got == lerobot_act_schema(config, state_dim, action_dim)
    assert all(v.dtype == torch.float32 for v in weights.values())

    pre = json.loads((folder / "policy_preprocessor.json").read_text())
    post = json.loads((folder / "policy_postprocessor.json").read_text())
    assert pre["name"] == "policy_preprocessor" and post["name"] == "policy_postprocessor"
    assert [s["registry_name"] for s in pre["steps"]] == [
        "rename_observations_processor",
        "to_batch_processor",
        "device_processor",
        "normalizer_processor",
    ]
    assert [s["registry_name"] for s in post["steps"]] == ["unnormalizer_processor", "device_processor"]
    normalizer, unnormalizer = pre["steps"][3], post["steps"][0]
    assert normalizer["state_file"] == "policy_preprocessor_step_3_normalizer_processor.safetensors"
    assert unnormalizer["state_file"] == "policy_postprocessor_step_0_unnormalizer_processor.safetensors"
    assert normalizer["config"]["features"] == {**features, **config["output_features"]}
    assert unnormalizer["config"]["features"] == config["output_features"]
    for step in (normalizer, unnormalizer):
        assert set(step["config"]) <= {
            "features",
            "norm_map",
            "stats",
            "device",
            "dtype",
            "eps",
            "normalize_observation_keys",
        }  # NormalizerProcessorStep's fields
        assert step["config"]["norm_map"] == config["normalization_mapping"]
        stats = load_file(folder / step["state_file"])  # "<feature>.<stat>", as _NormalizationMixin.state_dict
        expected = {
            f"{k}.{s}": (3, 1, 1) if k in cameras else (features.get(k) or config["output_features"][k])["shape"]
            for k in [*features, "action"]
            for s in ("mean", "std")
        }
        assert {k: list(v.shape) for k, v in stats.items()} == {k: list(v) for k, v in expected.items()}


@pytest.mark.parametrize("trial", ["w", "e"])
def test_lerobots_normalisation_of_the_written_stats_is_ours(exported, trial):
    """LeRobot normalises (x - mean) / (std + eps) and un-normalises y * std + mean (normalize_processor.py):
    with the written stats and eps, these are our numbers bit for bit, images included (ImageNet's, which our
    network applies inside)."""
    from safetensors.torch import load_file

    lerobot, ours = exported[trial]
    policy = load_policy(ours)
    pre = json.loads((lerobot / "policy_preprocessor.json").read_text())["steps"][3]
    eps = pre["config"]["eps"]
    stats = load_file(lerobot / pre["state_file"])
    obs = observations(policy, 1, seed=3)[0]
    state = (obs["observation.state"] - stats["observation.state.mean"]) / (stats["observation.state.std"] + eps)
    assert torch.equal(state[None], policy._state(obs)[0])
    y = torch.randn(3, policy.action_dim)
    assert torch.equal(y * stats["action.std"] + stats["action.mean"], y * policy.action_denom + policy.action_mean)
    cam = policy.camera_keys[0]
    image = (obs[cam] - stats[f"{cam}.mean"]) / (stats[f"{cam}.std"] + eps)
    assert torch.equal(image, ((obs[cam] - policy.model.image_mean) / policy.model.image_std)[0])


@pytest.mark.parametrize("trial", ["w", "e"])
def test_the_lerobot_folder_acts_as_the_actot_folder(exported, trial):
    """Our loader reads the LeRobot-format folder back (LeRobot's names mapped to ours, strictly): every
    parameter made the trip, and the actions are those of the actot-format folder, bit for bit."""
    lerobot, ours = (load_policy(p) for p in exported[trial])
    assert (lerobot.cfg.temporal_ensemble_coeff is not None) == (trial == "e")
    for a, b in zip(lerobot.model.state_dict().values(), ours.model.state_dict().values()):
        assert torch.equal(a, b)
    lerobot.reset(), ours.reset()
    for obs in observations(ours, 8, seed=1):
        assert torch.equal(lerobot.select_action(obs), ours.select_action(obs))


@pytest.mark.parametrize("trial", ["w", "e"])
def test_lerobot_loads_it_and_acts_as_ours(exported, trial):
    """LeRobot's own ACTPolicy.from_pretrained and processors, where LeRobot can be imported."""
    try:
        from lerobot.policies.act.modeling_act import ACTPolicy
        from lerobot.policies.factory import make_pre_post_processors
    except Exception as err:  # not installed, or its torchvision cannot load beside this torch
        pytest.skip(
            f"LeRobot cannot be imported here ({type(err).__name__}: {str(err).splitlines()[0][:120]}); "
            "the schema tests above stand in"
        )
    lerobot, ours = exported[trial]
    policy = ACTPolicy.from_pretrained(lerobot)
    preprocess, postprocess = make_pre_post_processors(policy.config, pretrained_path=str(lerobot))
    theirs = {k: tuple(v.shape) for k, v in policy.state_dict().items()}
    ours_policy = load_policy(ours)
    assert theirs == lerobot_act_schema(
        json.loads((lerobot / "config.json").read_text()), ours_policy.state_dim, ours_policy.action_dim
    )
    policy.reset(), ours_policy.reset()
    for step, obs in enumerate(observations(ours_policy, 8, seed=2)):
        action = postprocess(policy.select_action(preprocess(dict(obs))))
        assert action.shape == (1, ours_policy.action_dim)
        torch.testing.assert_close(action[0], ours_policy.select_action(obs), rtol=1e-5, atol=1e-5, msg=str(step))


def test_settings_lerobots_act_lacks_are_refused_in_one_line():
    small = preset("act_small")
    for cfg, cameras, fragment in (
        (preset("act"), 0, "no camera (state only)"),
        (preset("act", image_pooling="keypoints"), 1, "policy.image_pooling=keypoints has no LeRobot equivalent"),
        (small, 1, f"policy.backbone_width={small.backbone_width} has no LeRobot equivalent"),
    ):
        why = lerobot_format.refusal(cfg, cameras)
        assert fragment in why and "format=actot" in why and "\n" not in why
    assert lerobot_format.refusal(preset("act"), 2) is None


def test_an_existing_lerobot_export_is_replaced_only_with_overwrite(sweep, exported, tmp_path, capsys):
    out = exported["w"][0]
    assert actot_main(["export", str(sweep.dir), "trial=w", f"out={out}", "format=lerobot"]) == 2
    assert "already holds an exported policy; add overwrite=true" in capsys.readouterr().err
    assert actot_main(["export", str(sweep.dir), "trial=w", f"out={out}", "format=lerobot", "overwrite=true"]) == 0
    printed = capsys.readouterr().out
    assert "ACTPolicy.from_pretrained" in printed
    readme = (out / "README.md").read_text()
    assert "ACTPolicy.from_pretrained" in readme and "make_pre_post_processors" in readme and "format=lerobot" in readme
    foreign = tmp_path / "lerobots_own"  # a LeRobot folder actot did not write: not ours to load or replace
    shutil.copytree(out, foreign)
    (foreign / "actot_export.json").unlink()
    with pytest.raises(ActotError, match="type 'act' is not 'actot_act'"):
        load_policy(foreign)
    assert actot_main(["export", str(sweep.dir), "trial=w", f"out={foreign}", "overwrite=true"]) == 2
    assert "holds files that are not an exported policy" in capsys.readouterr().err
