"""GPEN-BFR (FullGenerator): strict loading of the official layout, hyper-parameters from shapes, parity with
GPEN's own code (stored references; bench/gpen_parity.py runs it live), look-alikes refused by name,
the contract (GPEN's own crop template), the known files and their licence, and faces restored end to end.

The bench (``bench/gpen_parity.py``) runs the official code at the released sizes and times it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers.gpen import PARITY_CONFIGS, TINY, parity_input, tiny_gpen
from helpers.models import shared_weight
from helpers.paths import FIXTURES

import ganpost
from ganpost.gan_models import describe_state_dict, load_model, registry
from ganpost.gan_models.contract import Task
from ganpost.gan_models.errors import UnsupportedModelError
from ganpost.gan_models.gpen import GPEN, GPEN_ALIGNMENT, KNOWN_FILES, FullGenerator
from ganpost.gan_models.gpen.registration import gpen_hyperparameters
from ganpost.gan_models.loader import as_model
from ganpost.runtime.faces import align_faces
from ganpost.runtime.runner import Runner

DETECTOR = "retinaface_mobilenet0.25.pth"


def hyperparameters(config: dict) -> dict:
    return {"style_dim": 512, "n_mlp": 8, "channel_multiplier": 2, "narrow": 1, "isconcat": True, "lr_mlp": 0.01,
            **config}


# ------------------------------------------------------------------------------------- loading
def test_the_official_layout_loads_strict_from_a_file(tmp_path):
    net = tiny_gpen()
    path = tmp_path / "GPEN-BFR-tiny.pth"
    torch.save(net.state_dict(), path)  # the released files are plain state dicts
    model = load_model(path)
    assert model.architecture == "GPEN" and model.hyperparameters == hyperparameters(TINY)
    loaded = model.module.state_dict()
    assert loaded.keys() == net.state_dict().keys()
    assert all(torch.equal(loaded[k], v) for k, v in net.state_dict().items())  # FIR kernels included
    assert as_model(str(path)).hyperparameters == model.hyperparameters
    torch.save({"params_ema": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)  # wrapped
    assert load_model(path).hyperparameters == model.hyperparameters
    # GPEN's own training checkpoints: the averaged generator ("g_ema") beside the live one and D
    live = {k: torch.zeros_like(v) for k, v in net.state_dict().items()}
    torch.save({"g": live, "d": {"convs.0.0.weight": torch.zeros(1)}, "g_ema": net.state_dict()}, path)
    averaged = load_model(path).module.state_dict()
    assert all(torch.equal(averaged[k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize("config", [
    dict(size=256, channel_multiplier=1, narrow=0.5),  # GPEN-BFR-256
    dict(size=512),  # GPEN-BFR-512
    dict(size=1024),
    dict(size=2048),
    *PARITY_CONFIGS.values(),
    dict(size=128, style_dim=64, n_mlp=4, channel_multiplier=1, narrow=0.25, isconcat=False),
])
def test_hyperparameters_are_read_from_the_shapes(config):
    with torch.device("meta"):  # shapes only
        sd = FullGenerator(**config).state_dict()
    expected = hyperparameters(config)
    if config["size"] < 64:  # the multiplier only widens levels from 64 px up: invisible, the official default
        expected["channel_multiplier"] = 2
    assert gpen_hyperparameters(sd) == expected
    assert registry.detect(sd, "x") is GPEN


def test_the_discriminator_and_the_sr_generator_are_refused_by_name():
    with torch.device("meta"):
        sd = FullGenerator(**PARITY_CONFIGS["concat64"]).state_dict()
    sr = {k: v for k, v in sd.items() if not k.startswith("ecd4.")}  # a 32 px encoder under a 64 px decoder
    with pytest.raises(UnsupportedModelError, match="FullGenerator_SR"):
        registry.detect(sr, "GPEN-SR.pth")
    discriminator = {"convs.0.0.weight": torch.zeros(8, 3, 1, 1), "convs.0.1.bias": torch.zeros(8),
                     "convs.1.conv1.0.weight": torch.zeros(8, 8, 3, 3), "final_conv.0.weight": torch.zeros(8, 9, 3, 3),
                     "final_linear.0.weight": torch.zeros(8, 128), "final_linear.1.weight": torch.zeros(1, 8)}
    with pytest.raises(UnsupportedModelError, match="GPEN-BFR-\\*-D.pth"):
        registry.detect(discriminator, "GPEN-BFR-512-D.pth")


# ------------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("name", sorted(PARITY_CONFIGS))
def test_outputs_match_the_stored_official_references(name):
    stored = json.loads((FIXTURES / "gpen_parity.json").read_text())["configs"][name]
    config = PARITY_CONFIGS[name]
    assert stored["config"] == config
    with torch.no_grad():
        out = tiny_gpen(0, **config)(parity_input(config["size"]))
    stride = stored["stride"]
    ours = out[0, :, ::stride, ::stride]
    reference = torch.tensor(stored["output"]).view(stored["shape"])
    assert float((ours - reference).abs().max()) <= 1e-5


# ------------------------------------------------------------------------------------- contract
def test_contract_runner_and_determinism():
    model = describe_state_dict(tiny_gpen().state_dict())
    contract = model.contract
    assert contract.task == Task.FACE_RESTORE and contract.size.fixed == 64 and contract.value_range == (-1.0, 1.0)
    assert contract.seed_keyword is None and contract.bf16_safe and not contract.fp16_safe
    assert contract.face_alignment is GPEN_ALIGNMENT
    faces = (parity_input(64, batch=3) + 1) / 2
    with Runner(model, device="cpu", precision="fp32") as runner:
        first, again = runner.run_windows(faces), runner.run_windows(faces[:1])
    with torch.no_grad():
        direct = model.module(faces * 2 - 1) / 2 + 0.5
    assert first.shape == faces.shape and torch.allclose(first, direct, atol=1e-6)
    assert torch.allclose(first[:1], again, atol=1e-6)  # no noise: a face gives the same result alone or batched


def test_the_crop_template_is_gpens_own():
    """GPEN's align_faces.get_reference_facial_points((512, 512), 0.25, (0, 0), True), worked out by hand."""
    template = torch.tensor(GPEN_ALIGNMENT.points, dtype=torch.float64) * (512 / GPEN_ALIGNMENT.size)
    left_eye = ((30.29459953 + 8 + 28) * 512 / 168, (51.69630051 + 28) * 512 / 168)
    assert torch.allclose(template[0], torch.tensor(left_eye, dtype=torch.float64))
    assert not GPEN_ALIGNMENT.robust
    # the landmarks at the template come out at the template (an identity crop)
    image = torch.rand(3, 512, 512, dtype=torch.float64)
    crops, matrices = align_faces(image, template[None], 512, template=template, robust=False)
    assert torch.allclose(matrices[0], torch.eye(3, dtype=torch.float64)[:2], atol=1e-9)


def test_activation_estimate_scales_with_width():
    small = GPEN.contract(hyperparameters(dict(size=512, channel_multiplier=1, narrow=0.5))).activation_elements
    released = GPEN.contract(hyperparameters(dict(size=512))).activation_elements
    assert 0 < small < released


def test_known_files_name_gpen_and_say_they_are_non_commercial():
    assert {k.name for k in KNOWN_FILES} == {"GPEN-BFR-256", "GPEN-BFR-512", "GPEN-BFR-1024", "GPEN-BFR-2048"}
    for known in KNOWN_FILES:
        assert known in registry.known_files() and known.architecture == "GPEN"
        assert known.comfy_folder == "facerestore_models" and known.url().startswith("https://")
        assert "NON-COMMERCIAL" in known.description and known.sha256 == ""  # no digest is published


# ------------------------------------------------------------------------------------- end to end
def test_restore_faces_runs_a_tiny_gpen_from_a_file(tmp_path):
    photo = pytest.importorskip("skimage.data").astronaut()
    path = tmp_path / "GPEN-BFR-tiny.pth"
    torch.save(tiny_gpen().state_dict(), path)
    detector = ganpost.load_model(shared_weight(DETECTOR))
    out = ganpost.restore_faces(photo, str(path), detector=detector)
    assert out.shape == photo.shape and out.dtype == np.uint8 and not np.array_equal(out, photo)
    result = ganpost.restore_faces_detailed(photo, str(path), detector=detector)
    face = result.faces[0][0]
    assert face.crop.shape == (3, 64, 64)
    template = torch.tensor(GPEN_ALIGNMENT.points, dtype=torch.float64) * (64 / GPEN_ALIGNMENT.size)
    expected, _ = align_faces(torch.from_numpy(photo).permute(2, 0, 1).double() / 255, [face], 64,
                              template=template, robust=False)
    ffhq, _ = align_faces(torch.from_numpy(photo).permute(2, 0, 1).double() / 255, [face], 64)
    # cut at GPEN's template (float32 sampling here), not at FFHQ's
    assert (face.crop.double() - expected[0]).abs().max() < 1e-3 < (face.crop.double() - ffhq[0]).abs().mean()
