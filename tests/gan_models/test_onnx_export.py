"""ONNX export of every family's layouts (tiny random weights): the file matches PyTorch, carries the contract,
and loads back as a model every task runs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers.models import natural_image, tiny_compact
from helpers.onnx_models import layouts, require_onnx, tiny
from ganpost.gan_models.contract import AtInference
from ganpost.gan_models.loader import describe_state_dict, load_model

require_onnx()
from ganpost import export_onnx, upscale  # noqa: E402
from ganpost.gan_models.errors import InvalidOptionError  # noqa: E402

CONVOLUTIONAL_GOAL = 1e-4  # the goal for the convolutional families, fp32, on [0, 1] images
DECODED_GOAL = 1e-3  # RetinaFace's decoded boxes are in pixels: its raw outputs agree to 1e-6 of their scale


@pytest.mark.parametrize("name", list(layouts()))
def test_every_layout_exports_and_matches_pytorch(tmp_path, name):
    model = tiny(name)
    check = export_onnx(model, tmp_path / "model.onnx")
    loaded = load_model(tmp_path / "model.onnx")
    if check.stochastic:  # dropout at test time (pix2pix's test script): two draws differ, but not wildly
        assert 1e-3 < check.max_error < 0.5
    else:
        assert check.max_error <= (DECODED_GOAL if model.contract.decode else CONVOLUTIONAL_GOAL), check.summary()
    # the contract comes back from the file's metadata, all but what only PyTorch can do (half, NHWC, keywords)
    ours, theirs = model.contract, loaded.contract
    for field in ("task", "scale", "in_channels", "out_channels", "value_range", "tiling", "activation_elements",
                  "test_time", "labels"):
        assert getattr(theirs, field) == getattr(ours, field), field
    assert theirs.size == ours.size and (theirs.decode is None) == (ours.decode is None)
    assert (loaded.architecture, loaded.hyperparameters, loaded.param_count) == (
        model.architecture, json.loads(json.dumps(model.hyperparameters)), model.param_count)  # JSON: tuples→lists
    # the seed stays an option only where the graph takes the network's noise as inputs (AuraSR); forward options
    # stay options where the graph takes them as inputs (CodeFormer's fidelity), with the family's declarations
    seeded = bool(loaded.module.noise)
    assert theirs.seed_keyword == (ours.seed_keyword if seeded else None) and not theirs.fp16_safe
    assert theirs.call_options == ((ours.seed_keyword,) if seeded else ()) + tuple(
        keyword for _, keyword, _ in loaded.module.options)
    assert theirs.forward_options == ours.forward_options


def test_the_api_tiles_an_exported_upscaler_as_the_pytorch_one(tmp_path):
    model = describe_state_dict(tiny_compact().state_dict())
    export_onnx(model, tmp_path / "model.onnx")
    image = np.dstack([natural_image(70, 90), np.full((70, 90), 128, np.uint8)])  # RGBA: alpha handled by the task
    ours = upscale(image, model, tile=32, precision="fp32")
    theirs = upscale(image, str(tmp_path / "model.onnx"), tile=32)
    assert theirs.shape == ours.shape == (280, 360, 4)
    assert np.abs(theirs.astype(int) - ours.astype(int)).max() <= 1


def test_a_static_export_fixes_the_window_and_batch(tmp_path):
    model = describe_state_dict(tiny_compact().state_dict())
    check = export_onnx(model, tmp_path / "static.onnx", dynamic=False, side=48)
    loaded = load_model(tmp_path / "static.onnx")
    assert check.sizes == ((48, 48),) and check.max_error <= CONVOLUTIONAL_GOAL
    assert loaded.contract.size.fixed == 48 and loaded.module.fixed_batch
    ours = upscale(natural_image(100, 70), model, tile=32, precision="fp32")
    theirs = upscale(natural_image(100, 70), loaded, tile=32)  # tiles padded to 48, fed one at a time
    assert np.abs(theirs.astype(int) - ours.astype(int)).max() <= 1


def test_fp16_export_runs_in_half_and_stays_close(tmp_path):
    check = export_onnx(describe_state_dict(tiny_compact().state_dict()), tmp_path / "half.onnx", fp16=True)
    loaded = load_model(tmp_path / "half.onnx")
    assert loaded.module.input_type == np.float16
    assert 0 < check.max_error < 5e-3


def test_the_mode_a_graph_was_exported_in_is_the_one_it_runs(tmp_path):
    from ganpost.runtime.runner import Runner
    from ganpost.tasks.translate import with_test_time

    model = tiny("UnetGenerator batch, dropout off")
    assert model.contract.test_time == AtInference.AS_TRAINED
    export_onnx(model, tmp_path / "unet.onnx")
    loaded = load_model(tmp_path / "unet.onnx")
    with Runner(loaded, device="cpu") as runner:  # as exported: runs, on a working copy of its own
        runner.forward(torch.rand(1, 3, 64, 64))
    with Runner(with_test_time(loaded, "eval"), device="cpu") as runner, \
            pytest.raises(InvalidOptionError, match="exported with test_time=as_trained"):
        runner.forward(torch.rand(1, 3, 64, 64))


def test_forward_keywords_are_refused_in_one_line(tmp_path):
    export_onnx(describe_state_dict(tiny_compact().state_dict()), tmp_path / "m.onnx")
    with pytest.raises(InvalidOptionError, match="takes no noise option"):
        load_model(tmp_path / "m.onnx").module(torch.rand(1, 3, 8, 8), noise=1)


def test_bad_export_arguments_are_one_line(tmp_path):
    model = describe_state_dict(tiny_compact().state_dict())
    with pytest.raises(InvalidOptionError, match="opset must be between"):
        export_onnx(model, tmp_path / "m.onnx", opset=99)
    export_onnx(model, tmp_path / "m.onnx", check=False)
    with pytest.raises(InvalidOptionError, match="ONNX file already"):
        export_onnx(tmp_path / "m.onnx", tmp_path / "again.onnx")


def test_importing_ganpost_needs_neither_onnx_nor_onnxruntime():
    code = ("import sys, ganpost; ganpost.load_model; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime', 'onnxscript')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
