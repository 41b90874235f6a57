"""A spandrel descriptor is a model everywhere: the one resolver (``as_model``) converts it for every task.

The node-side behaviour (core's UPSCALE_MODEL into our nodes, our architectures rebuilt as ours)
is in ``tests/nodes/test_nodes.py``; here the Python API and diffusers take the same objects.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import ganpost
from ganpost.gan_models.errors import InvalidOptionError, UnsupportedModelError
from ganpost.gan_models.loader import as_model
from helpers.models import FakeSpandrelDescriptor, tiny_compact


def test_the_api_upscales_with_a_spandrel_descriptor():
    descriptor = FakeSpandrelDescriptor()
    image = torch.rand(1, 3, 10, 6)
    result = ganpost.upscale(image, descriptor, precision="fp32")
    assert result.shape == (1, 3, 20, 12)
    # the runner pads 10×6 to the size rule (12×8), the adapter then to a square (12×12)
    padded = F.pad(F.pad(image, (0, 2, 0, 2), mode="reflect"), (0, 4, 0, 0), mode="reflect")
    expected = F.pixel_shuffle(descriptor.model.conv(padded), 2)[..., :20, :12].clamp(0, 1)
    assert torch.allclose(result, expected, atol=1e-6)
    assert as_model(descriptor) is as_model(descriptor)  # converted once per descriptor


def test_a_known_architecture_behind_a_descriptor_runs_as_ours():
    network = tiny_compact(scale=2, num_conv=2)
    descriptor = FakeSpandrelDescriptor()
    descriptor.model = network
    ours = as_model(descriptor)
    assert ours.architecture == "SRVGGNetCompact" and ours.module is not network
    image = torch.rand(1, 3, 12, 12)
    assert torch.equal(ganpost.upscale(image, descriptor, precision="fp32"),
                       ganpost.upscale(image, ours, precision="fp32"))


def test_descriptors_for_other_purposes_and_other_objects_are_refused():
    with pytest.raises(UnsupportedModelError, match="its purpose is 'Inpainting'"):
        as_model(FakeSpandrelDescriptor(purpose="Inpainting"))
    with pytest.raises(InvalidOptionError, match="a ganpost diffusers wrapper or a spandrel model"):
        as_model(object())
