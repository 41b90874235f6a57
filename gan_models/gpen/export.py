"""GPEN for ONNX export: one face per run of the graph.

Its modulated convolutions fold the batch into the channels and convolve with ``groups=batch``; a
graph stores ``groups`` as a constant, so a graph traced with a free batch would be wrong for any
other batch. The exported graph takes one face (batch 1, as GFPGAN's) and ganpost's ONNX module feeds
the faces one at a time. Its modulated convolutions take their one-face path (``ModulatedConv2d.one_face``):
the same kernel and convolution, with sizes the exporter can read; ``tests/gan_models/test_face_restorer_export.py``
checks it gives the folded path's output.
"""

from __future__ import annotations

import torch
from torch import nn

from .gpen_model import ModulatedConv2d


class ExportedGPEN(nn.Module):
    fixed_batch = True
    """Read by ``onnx_export``: trace with batch 1, never with a free batch."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network
        for module in network.modules():
            if isinstance(module, ModulatedConv2d):
                module.one_face = True  # on the exporter's copy; the loaded network is never touched

    def forward(self, image: torch.Tensor):
        return self.network(image)


def exported_gpen(network: nn.Module, hyperparameters: dict) -> ExportedGPEN:
    """The registry entry's ``export_module`` hook."""
    return ExportedGPEN(network)
