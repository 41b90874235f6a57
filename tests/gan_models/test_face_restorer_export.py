"""The newer face restorers to ONNX: CodeFormer keeps its fidelity as a graph input; GPEN's export-only path
(one face per run, its kernels built without the batch fold) gives the forward's output."""

from __future__ import annotations

import copy

import pytest
import torch

from helpers.codeformer import seeded_codeformer
from helpers.gpen import tiny_gpen
from helpers.onnx_models import TINY_CODEFORMER, require_onnx
from helpers.tolerance import assert_close_to_scale
from ganpost.gan_models.codeformer.export import exported_codeformer
from ganpost.gan_models.contract import Task
from ganpost.gan_models.gpen.export import exported_gpen
from ganpost.gan_models.loader import describe_state_dict, load_model


def _faces(batch: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, 64, 64, generator=generator) * 2 - 1


def _code_margin(net, x: torch.Tensor) -> float:
    """How far each token's chosen code leads the next (softmax probability): rounding moves it ~1e-7."""
    with torch.inference_mode():
        top = torch.softmax(net(x)[1], dim=2).topk(2, dim=2).values
    return float((top[..., 0] - top[..., 1]).min())


def test_codeformers_export_path_gives_the_forwards_image_at_every_fidelity():
    net = seeded_codeformer(TINY_CODEFORMER, seed=3)
    exported = exported_codeformer(copy.deepcopy(net), {})
    x = _faces()
    with torch.inference_mode():
        for w in (0.0, 0.3, 1.0):  # 0: the forward skips the fusion, the export path adds 0 × it
            assert_close_to_scale(exported(x, torch.tensor([w])), net(x, w=w)[0])
        assert (net(x, w=1.0)[0] - net(x, w=0.0)[0]).abs().max() > 1e-2  # the weight matters: the check has teeth


def test_codeformers_fidelity_stays_an_option_of_the_exported_file(tmp_path):
    onnx = pytest.importorskip("onnx")
    require_onnx()
    from ganpost import export_onnx
    from ganpost.runtime.runner import Runner
    from ganpost.tasks.shared_options import forward_keywords

    net = seeded_codeformer(TINY_CODEFORMER, seed=3)
    model = describe_state_dict(net.state_dict())
    check = export_onnx(model, tmp_path / "codeformer.onnx")
    assert check.max_error <= 1e-4, check.summary()
    proto = onnx.load(str(tmp_path / "codeformer.onnx"))
    assert [i.name for i in proto.graph.input] == ["image", "fidelity"]
    loaded = load_model(tmp_path / "codeformer.onnx")
    assert loaded.contract.forward_options == model.contract.forward_options  # range and help: the family's
    # every front-end reaches the forward through forward_keywords: the file takes the same keyword
    assert forward_keywords(Task.FACE_RESTORE, loaded, None, {"fidelity": 0.2}) == {"w": 0.2}
    assert forward_keywords(Task.FACE_RESTORE, loaded, None, {}) == {"w": 0.5}  # the default, as PyTorch's
    x = _faces(seed=1)
    assert _code_margin(net, x) > 1e-5  # both backends pick the same codes
    with Runner(model, device="cpu", precision="fp32") as ours, Runner(loaded, device="cpu") as theirs:
        for w in (0.0, 0.2, 0.9):
            assert_close_to_scale(theirs.forward((x + 1) / 2, w=w), ours.forward((x + 1) / 2, w=w))


def test_gpens_one_face_path_gives_the_batch_paths_output():
    net = tiny_gpen()
    exported = exported_gpen(copy.deepcopy(net), {})
    x = _faces(batch=1)
    with torch.inference_mode():
        assert_close_to_scale(exported(x), net(x))
    assert exported.fixed_batch and not any(getattr(m, "one_face", False) for m in net.modules())


def test_gpen_exports_one_face_per_run_and_the_module_feeds_a_batch(tmp_path):
    require_onnx()
    from ganpost import export_onnx

    model = describe_state_dict(tiny_gpen().state_dict())
    check = export_onnx(model, tmp_path / "gpen.onnx")  # compared on a batch of two
    assert check.max_error <= 1e-4, check.summary()
    assert load_model(tmp_path / "gpen.onnx").module.fixed_batch


def test_the_gpen_upsampling_filter_is_unchanged():
    """upfirdn2d's zero insertion is a pad and a reshape now (exportable): the same samples as writing them
    into zeros, as it did."""
    from ganpost.gan_models.gpen.gpen_model import fir_kernel, upfirdn2d

    x = torch.randn(2, 3, 5, 7)
    spread = x.new_zeros(2, 3, 10, 14)
    spread[:, :, ::2, ::2] = x
    kernel = fir_kernel(gain=4)
    expected = torch.nn.functional.conv2d(torch.nn.functional.pad(spread, (2, 1, 2, 1)),
                                          kernel.flip((0, 1)).expand(3, 1, 4, 4), groups=3)
    assert torch.equal(upfirdn2d(x, kernel, up=2, pad=(2, 1)), expected)
