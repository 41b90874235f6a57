"""CodeFormer for ONNX export: the fidelity weight ``w`` stays a graph input.

The forward takes ``w`` as a Python float and skips the fusion at 0; a traced graph would bake
both in. The exported graph takes ``w`` as a 1-element input and always fuses (at 0 that adds
0 × the fusion: the same image), so ``fidelity`` stays an option of the exported file on every
front-end. ``tests/gan_models/test_codeformer_export.py`` checks it equals the forward at several weights.
"""

from __future__ import annotations

import torch
from torch import nn

from .codeformer import CodeFormer


class ExportedCodeFormer(nn.Module):
    """``forward(image, w)``: ``image`` B×3×S×S faces in [-1, 1], ``w`` a 1-element tensor; returns the image."""

    def __init__(self, network: CodeFormer):
        super().__init__()
        self.network = network
        self.option_inputs = ("w",)
        """Forward keywords that are graph inputs after the image (see ``onnx_export``)."""

    def forward(self, image: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        net = self.network
        lq_feat, taps = net.encode(image)
        logits = net.predict_codes(lq_feat)
        return net.decode(logits, lq_feat, taps, w.to(image.dtype), net.adain)


def exported_codeformer(network: nn.Module, hyperparameters: dict) -> ExportedCodeFormer:
    """The registry entry's ``export_module`` hook."""
    return ExportedCodeFormer(network)
