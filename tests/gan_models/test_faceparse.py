"""Face parsers (ParseNet, BiSeNet): parity with facexlib's classes on random weights, detection, contract.

facexlib's parsing files are loaded under stub parents (tests/helpers/official_faces.py). BatchNorm
statistics are randomised too, so eval-mode normalisation is part of what is compared.
"""

from __future__ import annotations

import pytest
import torch
from helpers.faces import randomise
from helpers.official_faces import official_available, official_parsers
from helpers.tolerance import assert_close_to_scale
from torch import nn

from ganpost import load_model
from ganpost.gan_models.catalogue import lookup
from ganpost.gan_models.contract import Task
from ganpost.gan_models.errors import UnsupportedModelError


@pytest.fixture(scope="module")
def official():
    reason = official_available()
    if reason:
        pytest.skip(reason)
    return official_parsers()


def saved(module: nn.Module, tmp_path, name: str):
    path = tmp_path / name
    torch.save(module.state_dict(), path)
    return path


@pytest.mark.parametrize("relu_type", ["LeakyReLU", "prelu"])
def test_parsenet_matches_facexlib(official, tmp_path, relu_type):
    reference = randomise(official["ParseNet"](in_size=32, out_size=32, min_feat_size=8, base_ch=8, res_depth=2,
                                               relu_type=relu_type, ch_range=[8, 16]))
    model = load_model(saved(reference, tmp_path, "parsenet_tiny.pth"))
    assert model.architecture == "ParseNet" and model.contract.task == Task.FACE_PARSE
    assert model.hyperparameters["act"] == ("prelu" if relu_type == "prelu" else "leakyrelu")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        ours, theirs = model.module(x), reference(x)
    for a, b in zip(ours, theirs):  # the parsing logits and the image head
        assert_close_to_scale(a, b)


def test_parsenet_release_shape_reads_back(official):
    """facexlib builds the released file as ParseNet(512, 512, parsing_ch=19): our widths, read from its
    tensors, give a module that loads it strictly, with the CelebAMask-HQ labels in ParseNet's order."""
    from ganpost.gan_models.faceparse.registration import PARSENET

    sd = official["ParseNet"](in_size=512, out_size=512, parsing_ch=19).state_dict()
    built = PARSENET.build(sd, {})
    built.module.load_state_dict(sd, strict=True)
    contract = PARSENET.contract(built.hyperparameters)
    assert len(built.hyperparameters["down"]) == 4 and len(built.hyperparameters["body"]) == 10
    assert contract.labels[13] == "hair" and contract.labels[17] == "neck" and contract.size.fixed == 512


def test_bisenet_matches_facexlib(official, tmp_path):
    reference = randomise(official["BiSeNet"](num_class=19), seed=1)
    model = load_model(saved(reference, tmp_path, "bisenet.pth"))
    assert model.architecture == "BiSeNet" and model.contract.labels[17] == "hair"
    x = torch.rand(2, 3, 64, 64)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        ours, theirs = model.module(x), reference((x - mean) / std)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape == (2, 19, 64, 64)
        assert_close_to_scale(a, b)


def test_parsenet_without_batch_norm_is_refused(official, tmp_path):
    reference = official["ParseNet"](in_size=16, out_size=16, min_feat_size=8, base_ch=8, res_depth=1,
                                     norm_type="in", ch_range=[8, 16])
    with pytest.raises(UnsupportedModelError, match="batch norm"):
        load_model(saved(reference, tmp_path, "parsenet_in.pth"))


def test_parsenet_is_known_by_name_with_its_digest():
    known = lookup("parsing_parsenet")
    assert known.filename == "parsing_parsenet.pth" and len(known.sha256) == 64
    assert known.url().endswith("v0.2.2/parsing_parsenet.pth") and known.comfy_folder == "facedetection"
