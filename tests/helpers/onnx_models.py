"""Tiny random networks of every exportable layout, loaded as ganpost loads files (for the ONNX tests and bench)."""

from __future__ import annotations

import pytest

from ganpost.gan_models.contract import ModelDescriptor
from ganpost.gan_models.loader import describe_state_dict

from .models import tiny_compact, tiny_rrdbnet


def layouts() -> dict[str, callable]:
    """Layout name → a function building its descriptor (built on demand: some take seconds)."""
    from ganpost.gan_models.facedetect import RetinaFace
    from ganpost.gan_models.faceparse import BiSeNet, ParseNet
    from ganpost.gan_models.pix2pix import ResnetGenerator, UnetGenerator

    from .gfpgan import tiny_gfpgan
    from .pix2pix import randomised

    def unet(norm: str, dropout: bool, num_downs: int = 6):
        net = UnetGenerator(3, 3, num_downs=num_downs, num_feat=4, norm=norm, dropout=dropout)
        return describe_state_dict(randomised(net).state_dict(), dropout=dropout)

    return {
        "RRDBNet x4": lambda: describe_state_dict(tiny_rrdbnet(scale=4).state_dict()),
        "RRDBNet x2": lambda: describe_state_dict(tiny_rrdbnet(scale=2).state_dict()),
        "SRVGGNetCompact x4": lambda: describe_state_dict(tiny_compact().state_dict()),
        "ResnetGenerator instance (CycleGAN)": lambda: describe_state_dict(randomised(
            ResnetGenerator(3, 3, num_feat=8, num_blocks=2, norm="instance")).state_dict()),
        "ResnetGenerator batch": lambda: describe_state_dict(randomised(
            ResnetGenerator(3, 3, num_feat=8, num_blocks=2, norm="batch")).state_dict()),
        "UnetGenerator instance": lambda: unet("instance", False),
        "UnetGenerator batch, dropout off": lambda: unet("batch", False),
        "UnetGenerator batch, dropout on": lambda: unet("batch", True, num_downs=7),
        "RetinaFace mobilenet0.25": lambda: describe_state_dict(randomised(RetinaFace("mobilenet0.25")).state_dict()),
        "ParseNet": lambda: describe_state_dict(randomised(
            ParseNet(stem=8, down=((8, 16),), body=((16, 16),), up=((16, 8),))).state_dict()),
        "BiSeNet": lambda: describe_state_dict(randomised(BiSeNet(19)).state_dict()),
        "GFPGANv1Clean 64": lambda: describe_state_dict(tiny_gfpgan().state_dict()),
    }


def tiny(name: str) -> ModelDescriptor:
    return layouts()[name]()


def require_onnx() -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
