"""AuraSR for ONNX export: the same network with its two noises as graph inputs.

``UnetUpsampler.forward`` draws its input noise and style noise from a ``torch.Generator`` inside
the forward, which a graph cannot hold. The exported graph takes them as inputs instead
(``noise_inputs``); ganpost's ONNX module draws them exactly as the forward does for a seed (one
``torch.Generator().manual_seed(seed)``, input noise then style noise, shared by the batch), so an
exported file gives the PyTorch image for every seed, and ``seed`` stays an option of the file.

The batch shares one style, so each modulated conv builds one kernel and convolves the whole batch
with it (``AdaptiveConv2DMod.shared_forward``): the batch stays free in the graph and no einsum is
exported. ``tests/gan_models/test_aurasr_export.py`` checks that this path equals the forward's.
"""

from __future__ import annotations

import torch
from torch import nn

from .unet_upsampler import DEFAULT_SEED, Modulations, UnetUpsampler, unet


class ExportedUpsampler(nn.Module):
    """``forward(image, noise, style_noise)``: ``image`` B×3×s×s in [0, 1]; both noises N(0, 1), unscaled,
    ``1×3×s×s`` and ``1×dim_in``, as ``UnetUpsampler.forward`` draws them for a seed."""

    def __init__(self, network: UnetUpsampler, window: int):
        super().__init__()
        self.network = network
        self.noise_inputs = (("noise", (1, network.channels, window, window)),
                             ("style_noise", (1, network.style_network.dim_in)))
        """Extra graph inputs, in the order they are drawn from one generator (see ``onnx_export``)."""
        self.default_seed = DEFAULT_SEED

    def forward(self, image: torch.Tensor, noise: torch.Tensor, style_noise: torch.Tensor) -> torch.Tensor:
        net = self.network
        x = (image + noise.to(image.dtype) * net.noise_scale).clamp(0, 1)
        styles = net.style_network(style_noise.to(net.style_to_conv_modulations.weight.dtype))
        return unet(net, x, Modulations(net.style_to_conv_modulations(styles), shared=True))


def exported_upsampler(network: nn.Module, hyperparameters: dict) -> ExportedUpsampler:
    """The registry entry's ``export_module`` hook."""
    return ExportedUpsampler(network, hyperparameters.get("input_image_size", 64))
