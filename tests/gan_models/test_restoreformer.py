"""RestoreFormer and RestoreFormer++: the official layouts (plain, params_ema, Lightning ``vqvae.``) load strictly
with hyper-parameters read from the tensors, look-alikes are refused by name, outputs match the official code
(stored references at small sizes, made from both official repositories; live against GFPGAN's class, installed
for the tests; ``bench/restoreformer_parity.py`` runs RestoreFormerPlusPlus's own code), the contract works through
the runner and the face task.

``PYTHONPATH=tests python tests/gan_models/test_restoreformer.py`` measures bf16/fp16 against fp32 at the released
sizes on random weights (the figures behind the contract's precision flags; too slow for the test run).
"""

from __future__ import annotations

import pytest
import torch
from helpers.paths import FIXTURES
from helpers.restoreformer import (
    RELEASED, RELEASED_PLUS, TINY, TINY_PLUS, face_input, official_gfpgan_module, official_network,
    seeded_network, seeded_weights,
)
from helpers.tolerance import assert_close_to_scale

import ganpost
from ganpost.gan_models import catalogue, describe_state_dict, load_model, registry
from ganpost.gan_models.contract import Task
from ganpost.gan_models.errors import InvalidOptionError, UnsupportedModelError
from ganpost.gan_models.loader import as_model
from ganpost.gan_models.restoreformer import RESTOREFORMER, RESTOREFORMER_PLUSPLUS, RestoreFormer
from ganpost.gan_models.restoreformer.registration import restoreformer_hyperparameters
from ganpost.runtime.runner import Runner

BOTH = [pytest.param(TINY, "RestoreFormer", id="RestoreFormer"),
        pytest.param(TINY_PLUS, "RestoreFormerPlusPlus", id="RestoreFormer++")]


def lightning(weights: dict, extra: dict | None = None) -> dict:
    """The official training module's checkpoint: the network under ``vqvae.`` beside its losses."""
    state = {f"vqvae.{k}": v for k, v in weights.items()}
    state.update(extra if extra is not None else {"loss.discriminator.main.0.weight": torch.zeros(4, 3, 4, 4),
                                                  "loss.perceptual_loss.net.slice1.0.weight": torch.zeros(4, 3, 3, 3)})
    return {"epoch": 3, "global_step": 1000, "pytorch-lightning_version": "1.0.8", "state_dict": state,
            "optimizer_states": [{"state": {}, "param_groups": [{"lr": 4.5e-6, "params": [0, 1]}]}]}


# ------------------------------------------------------------------------------------- shapes
def test_released_configurations_have_the_official_sizes_and_read_back():
    for config, tensors, params in ((RELEASED, 405, 72_680_003), (RELEASED_PLUS, 441, 73_472_579)):
        with torch.device("meta"):
            net = RestoreFormer(**config)
        sd = net.state_dict()
        assert len(sd) == tensors and sum(p.numel() for p in net.parameters()) == params
        assert restoreformer_hyperparameters(sd) == config  # head counts: the releases' 8 and 4
    with torch.device("meta"):
        assert restoreformer_hyperparameters(RestoreFormer().state_dict()) == RELEASED  # the defaults: GFPGAN's


@pytest.mark.parametrize("config", [
    TINY, TINY_PLUS,
    dict(TINY, ch=64, ch_mult=(1, 1, 2, 4), encoder_attn_levels=(3,), decoder_attn_levels=(3,), num_res_blocks=3),
    dict(TINY, n_embed=32, embed_dim=8, z_channels=64, in_channels=1, out_ch=1, num_res_blocks=2),
    dict(TINY_PLUS, ch_mult=(1, 2, 2, 4), encoder_attn_levels=(3,), decoder_attn_levels=(1, 2, 3)),
    dict(TINY, encoder_attn_levels=(), decoder_attn_levels=()),  # middle attention only
])
def test_hyperparameters_are_read_from_the_shapes(config):
    with torch.device("meta"):
        sd = RestoreFormer(**config).state_dict()
    assert restoreformer_hyperparameters(sd, head_size=config["head_size"]) == config
    expected = "RestoreFormer" if set(config["decoder_attn_levels"]) <= {len(config["ch_mult"]) - 1} \
        else "RestoreFormerPlusPlus"
    assert [e.architecture for e in (RESTOREFORMER, RESTOREFORMER_PLUSPLUS) if e.detect(sd)] == [expected]


# ------------------------------------------------------------------------------------- loading
@pytest.mark.parametrize("config, architecture", BOTH)
def test_official_layouts_load_strict(tmp_path, config, architecture):
    weights = seeded_weights(config)
    layouts = {
        "plain.pth": weights,
        "gfpgan.pth": {"params_ema": weights, "params": {k: v * 0 for k, v in weights.items()}},
        "lightning.ckpt": lightning(weights),
        "counter.ckpt": lightning(weights, {"vqvae.quantize.utility_counter": torch.zeros(config["n_embed"])}),
    }
    for name, content in layouts.items():
        path = tmp_path / name
        torch.save(content, path)
        model = load_model(path)
        assert model.architecture == architecture and model.hyperparameters == config, name
        loaded = model.module.state_dict()
        assert loaded.keys() == weights.keys() and all(torch.equal(loaded[k], v) for k, v in weights.items()), name
        assert as_model(str(path)).architecture == architecture


def test_a_lightning_1_0_checkpoint_with_callback_classes_loads_without_running_them(tmp_path, monkeypatch):
    """Lightning < 1.5 keys callback states by the callback's class, which the safe reader refuses; the reader
    takes exactly those names as inert stand-ins (the class is neither imported nor run)."""
    import sys
    import types

    module = types.ModuleType("pytorch_lightning.callbacks.model_checkpoint")
    callback = type("ModelCheckpoint", (), {"__module__": module.__name__})
    module.ModelCheckpoint = callback
    for name in ("pytorch_lightning", "pytorch_lightning.callbacks"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    weights = seeded_weights(TINY_PLUS)
    content = lightning(weights)
    content["callbacks"] = {callback: {"best_model_score": torch.tensor(0.1), "best_model_path": "last.ckpt"}}
    path = tmp_path / "RestoreFormer++.ckpt"
    torch.save(content, path)
    monkeypatch.delitem(sys.modules, module.__name__)  # what a user has: no Lightning at all
    model = load_model(path)
    assert model.architecture == "RestoreFormerPlusPlus"
    assert all(torch.equal(model.module.state_dict()[k], v) for k, v in weights.items())
    # any other class is still refused, named
    content["callbacks"] = {torch.nn.Linear: {}}
    torch.save(content, path)
    with pytest.raises(ganpost.gan_models.errors.ModelFileError, match=r"refused: .*torch\.nn\.modules\.linear"):
        load_model(path)


def test_the_head_count_is_a_load_option(tmp_path):
    path = tmp_path / "rf.pth"
    torch.save(seeded_weights(TINY_PLUS), path)
    assert load_model(path).hyperparameters["head_size"] == 4
    assert load_model(path, head_size=2).hyperparameters["head_size"] == 2
    with pytest.raises(UnsupportedModelError, match=r"head_size=3, which does not divide its attention widths \(64\)"):
        load_model(path, head_size=3)
    with pytest.raises(InvalidOptionError, match="takes no act_type option"):
        load_model(path, act_type="prelu")


def test_a_lightning_checkpoint_with_unknown_modules_is_refused(tmp_path):
    path = tmp_path / "odd.ckpt"
    torch.save(lightning(seeded_weights(TINY), {"ema.decoder.conv_in.weight": torch.zeros(1)}), path)
    with pytest.raises(UnsupportedModelError, match=r"odd\.ckpt: .*modules besides the network \(vqvae\.\).*ema\."):
        load_model(path)


def test_look_alikes_are_refused_by_name(tmp_path):
    weights = seeded_weights(TINY)
    # the stage-1 dictionary (VQVAEGAN): the same keys, but the decoder's attention norm2 never trained
    dictionary = dict(weights)
    for key in [k for k in weights if k.startswith("decoder.") and ".norm2." in k and "attn" in k]:
        dictionary[key] = torch.ones_like(weights[key]) if key.endswith("weight") else torch.zeros_like(weights[key])
    # a taming-transformers VQGAN: single-head attention (attn_1.norm, no norm1/norm2)
    taming = {("encoder.mid.attn_1.norm" + k[len("encoder.mid.attn_1.norm1"):] if k.startswith("encoder.mid.attn_1.norm1")
               else k): v for k, v in weights.items() if not k.startswith("encoder.mid.attn_1.norm2")}
    # double_z: the encoder makes twice the quantizer's input channels
    double = dict(weights, **{"encoder.conv_out.weight": torch.zeros(64, 64, 3, 3), "encoder.conv_out.bias": torch.zeros(64)})
    for name, sd, reason in (("HQ_Dictionary.pth", dictionary, r"stage-1 high-quality dictionary \(HQ_Dictionary / ROHQD"),
                             ("vqgan.ckpt", taming, "taming-transformers VQGAN"),
                             ("double.pth", double, "double_z")):
        path = tmp_path / name
        torch.save(sd, path)
        with pytest.raises(UnsupportedModelError, match=reason):
            load_model(path)
    # a fresh network (every norm at its initial value) is not mistaken for a dictionary
    assert describe_state_dict(RestoreFormer(**TINY).state_dict()).architecture == "RestoreFormer"


def test_no_other_family_claims_it_and_it_claims_no_other():
    for config, architecture in ((TINY, "RestoreFormer"), (TINY_PLUS, "RestoreFormerPlusPlus")):
        sd = seeded_weights(config)
        assert [e.architecture for e in registry.DETECTION_ORDER if e.detect(sd)] == [architecture]
    from helpers.gfpgan import tiny_gfpgan
    from helpers.models import tiny_compact, tiny_rrdbnet

    for other in (tiny_rrdbnet(), tiny_compact(), tiny_gfpgan()):
        sd = other.state_dict()
        assert not RESTOREFORMER.detect(sd) and not RESTOREFORMER_PLUSPLUS.detect(sd)


def test_known_release_files_are_in_the_catalogue():
    expected = {"RestoreFormer": ("RestoreFormer", "https://github.com/TencentARC/GFPGAN/releases/download/v1.3.4/"
                                                   "RestoreFormer.pth"),
                "RestoreFormer++": ("RestoreFormerPlusPlus", "https://github.com/wzhouxiff/RestoreFormerPlusPlus/"
                                                             "releases/download/v1.0.0/RestoreFormer++.ckpt")}
    for name, (architecture, url) in expected.items():
        known = catalogue.lookup(name)
        assert known is not None and known in registry.known_files(architecture)
        assert known.comfy_folder == "facerestore_models" and known.url() == url
        assert known.sha256 == "" and "Apache-2.0" in known.description  # no digest is published


# ------------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("config, name", [(TINY, "RestoreFormer"), (TINY_PLUS, "RestoreFormer++")])
def test_forward_matches_the_stored_official_outputs(config, name):
    """tests/fixtures/restoreformer_parity.pt: the official code's outputs for these seeded weights and inputs
    (bench/restoreformer_parity.py --write-fixture; GFPGAN's class for RestoreFormer, RestoreFormerPlusPlus's
    VQVAEGANMultiHeadTransformer(ex_multi_scale_num=1) for ++)."""
    reference = torch.load(FIXTURES / "restoreformer_parity.pt", weights_only=True)[name]
    net = seeded_network(config)
    x = face_input(64, batch=2, seed=reference["input_seed"])
    with torch.no_grad():
        out = net(x)
        codes = net.quantize.indices(net.quant_conv(net.encoder(x, net._keep)[0]))
    assert torch.equal(codes, reference["codes"])
    stride = 64 // reference["sub"].shape[-1]
    assert_close_to_scale(out[..., ::stride, ::stride], reference["sub"])
    assert abs(out.double().sum() - reference["sum"]) < 1e-6 * reference["abs_sum"]
    assert abs(out.double().abs().sum() - reference["abs_sum"]) < 1e-6 * reference["abs_sum"]


def test_forward_matches_gfpgans_restoreformer():
    if official_gfpgan_module() is None:
        pytest.skip("gfpgan is not installed (pip install --no-deps gfpgan==1.3.8)")
    official = official_network(TINY, plusplus=False)
    official.load_state_dict(seeded_weights(TINY), strict=True)
    x = face_input(64, batch=2, seed=5)
    with torch.no_grad():
        assert_close_to_scale(seeded_network(TINY)(x), official(x)[0])


# ------------------------------------------------------------------------------------- contract
@pytest.mark.parametrize("config, architecture", BOTH)
def test_contract_and_runner(config, architecture):
    model = describe_state_dict(seeded_weights(config))
    c = model.contract
    assert (c.task, c.scale, c.in_channels, c.out_channels, c.value_range) == (Task.FACE_RESTORE, 1, 3, 3, (-1, 1))
    assert c.size.fixed == 64 and c.tiling.margin == 0 and c.activation_elements > 0
    assert not c.fp16_safe and not c.bf16_safe
    x = (face_input(64, seed=2) + 1) / 2
    with Runner(model, device="cpu", precision="fp32") as runner:
        out = runner.forward(x)
        assert out.shape == x.shape and out.dtype == torch.float32
        with torch.no_grad():
            expected = (model.module(x * 2 - 1) + 1) / 2  # [0, 1] in, [-1, 1] inside, [0, 1] out (unclamped)
        assert (out - expected).abs().max() < 1e-4  # NHWC convolutions round a little differently
    with pytest.raises(InvalidOptionError, match="not safe in bf16"):
        Runner(model, device="cpu", precision="bf16")


def test_released_contract():
    for config, entry in ((RELEASED, RESTOREFORMER), (RELEASED_PLUS, RESTOREFORMER_PLUSPLUS)):
        c = entry.contract(config)
        assert c.size.fixed == 512 and 500 < c.activation_elements < 1000


def test_batch_members_do_not_affect_each_other():
    net = seeded_network(TINY_PLUS)
    x = face_input(64, batch=3, seed=4)
    with torch.no_grad():
        assert_close_to_scale(net(x)[1:2], net(x[1:2]))


# ------------------------------------------------------------------------------------- the face task
def test_restore_faces_runs_a_tiny_model_file_end_to_end(tmp_path):
    from helpers.faces import REAL_DETECTOR, astronaut
    from helpers.paths import REPO

    detector_path = REPO.parent / "shared" / "weights" / REAL_DETECTOR
    if not detector_path.is_file():
        pytest.skip(f"no real detector at {detector_path}")
    path = tmp_path / "RestoreFormer++-tiny.ckpt"
    torch.save(lightning(seeded_weights(TINY_PLUS)), path)
    image = astronaut()
    out = ganpost.restore_faces(image, str(path), detector=str(detector_path), precision="fp32")
    assert out.shape == image.shape and out.dtype == image.dtype
    assert (out != image).any()  # a random restorer changes the face ...
    assert (out[-40:] == image[-40:]).all()  # ... and nothing far from it


# ------------------------------------------------------------------------------------- measurement
def measure_half_precision() -> None:
    """bf16 and fp16 against fp32 at the released sizes (seeded random weights) on the astronaut's face, with the
    share of codebook indices that change (each changed index repaints a patch of the face)."""
    import time

    import numpy as np
    from skimage import data

    face = torch.from_numpy(data.astronaut()[30:230, 140:340].copy()).permute(2, 0, 1)[None].float() / 255
    x = torch.nn.functional.interpolate(face, size=(512, 512), mode="bilinear", align_corners=False) * 2 - 1
    for name, config in (("RestoreFormer", RELEASED), ("RestoreFormer++", RELEASED_PLUS)):
        net = seeded_network(config)
        with torch.inference_mode():
            reference = net(x).clamp(-1, 1)
            codes = net.quantize.indices(net.quant_conv(net.encoder(x, net._keep)[0]))
            for dtype in (torch.bfloat16, torch.float16):
                half = seeded_network(config).to(dtype)
                start = time.perf_counter()
                out = half(x.to(dtype)).float()
                seconds = time.perf_counter() - start
                same = (half.quantize.indices(half.quant_conv(half.encoder(x.to(dtype), half._keep)[0])) == codes)
                diff = ((out.clamp(-1, 1) - reference).abs() * 127.5).flatten().numpy()
                print(f"{name} {dtype}: finite {bool(torch.isfinite(out).all())}, mean {diff.mean():.3f}/255, "
                      f"p99.9 {np.percentile(diff, 99.9):.2f}/255, max {diff.max():.2f}/255, codes kept "
                      f"{same.float().mean():.3f}, {seconds:.1f} s")


if __name__ == "__main__":
    measure_half_precision()
