"""AuraSR to ONNX: the export-only path (noise as inputs, one kernel per shared style) gives the forward's
output, and the exported file runs through the fixed-window tiling with the seed as an option, as PyTorch does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.aurasr import tiny_aurasr
from helpers.models import natural_image
from helpers.tolerance import assert_close_to_scale
from ganpost.gan_models.aurasr.export import exported_upsampler
from ganpost.gan_models.loader import describe_state_dict, load_model


def _noise_for(seed: int, net, side: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """What ``net(x, seed=seed)`` draws: input noise, then style noise, from one CPU generator."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(1, net.channels, side, side, generator=generator),
            torch.randn(1, net.style_network.dim_in, generator=generator))


@pytest.mark.parametrize("batch, kernels", [(3, 4), (1, 1)], ids=["kernel-mix", "one-kernel"])
def test_the_export_path_gives_the_forwards_output(batch, kernels):
    torch.manual_seed(kernels)
    net = tiny_aurasr(num_conv_kernels=kernels)
    exported = exported_upsampler(net, {"input_image_size": 64})
    x = torch.rand(batch, 3, 64, 64)
    with torch.inference_mode():
        for seed in (0, 11):
            expected = net(x, seed=seed)
            assert_close_to_scale(exported(x, *_noise_for(seed, net)), expected)
        assert (net(x, seed=11) - net(x, seed=0)).abs().max() > 1e-3  # the seeds do differ: the check has teeth


def test_the_file_takes_the_noise_as_inputs_and_keeps_the_seed_option(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from ganpost import export_onnx

    torch.manual_seed(0)
    net = tiny_aurasr()
    model = describe_state_dict(net.state_dict())
    export_onnx(model, tmp_path / "aurasr.onnx", check=False)  # the exporter's own check: test_onnx_export.py
    proto = onnx.load(str(tmp_path / "aurasr.onnx"))
    assert [i.name for i in proto.graph.input] == ["image", "noise", "style_noise"]
    metadata = {p.key: p.value for p in proto.metadata_props}
    assert "torch.Generator().manual_seed(seed)" in metadata["ganpost.noise_rule"]
    loaded = load_model(tmp_path / "aurasr.onnx")
    assert loaded.contract.seed_keyword == "seed" and loaded.contract.call_options == ("seed",)
    assert not loaded.module.fixed_batch and loaded.contract.size.fixed == 64  # the window is fixed, the batch free
    x = torch.rand(3, 3, 64, 64)
    with torch.inference_mode():
        for seed in (None, 5):
            keywords = {} if seed is None else {"seed": seed}
            assert_close_to_scale(loaded.module(x, **keywords), net(x, **keywords))
    with pytest.raises(Exception, match="takes no generator option"):
        loaded.module(x, generator=torch.Generator())


def test_the_file_tiles_an_image_through_its_window_as_pytorch_does(tmp_path):
    pytest.importorskip("onnxruntime")
    from ganpost import export_onnx, upscale

    torch.manual_seed(1)
    model = describe_state_dict(tiny_aurasr().state_dict())
    export_onnx(model, tmp_path / "aurasr.onnx", check=False)
    image = natural_image(70, 90)  # four 64 px windows, cross-faded, padded at the edges
    ours = upscale(image, model, precision="fp32", seed=3)
    theirs = upscale(image, str(tmp_path / "aurasr.onnx"), seed=3)
    assert theirs.shape == ours.shape == (280, 360, 3)
    assert np.abs(theirs.astype(int) - ours.astype(int)).max() <= 1
    assert not np.array_equal(upscale(image, str(tmp_path / "aurasr.onnx"), seed=4), theirs)


def test_fp16_export_stays_close(tmp_path):
    pytest.importorskip("onnxruntime")
    from ganpost import export_onnx

    torch.manual_seed(2)
    check = export_onnx(describe_state_dict(tiny_aurasr().state_dict()), tmp_path / "half.onnx", fp16=True)
    assert 0 < check.max_error < 5e-3, check.summary()
