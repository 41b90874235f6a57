"""Tiny random networks of every exportable layout, loaded as ganpost loads files (for the ONNX tests and bench)."""

from __future__ import annotations

import pytest

from ganpost.gan_models.contract import ModelDescriptor
from ganpost.gan_models.loader import describe_state_dict

from .models import tiny_compact, tiny_rrdbnet


# A 64 px CodeFormer (three levels, one block each, 16×16 latent), as tests/gan_models/test_codeformer.py's.
TINY_CODEFORMER = dict(dim_embd=32, n_head=8, n_layers=1, codebook_size=16, latent_size=256, connect_list=("32", "64"),
                       nf=32, ch_mult=(1, 1, 2), res_blocks=1, emb_dim=32)


def layouts() -> dict[str, callable]:
    """Layout name → a function building its descriptor (built on demand: some take seconds)."""
    from ganpost.gan_models.facedetect import RetinaFace
    from ganpost.gan_models.faceparse import BiSeNet, ParseNet
    from ganpost.gan_models.pix2pix import ResnetGenerator, UnetGenerator

    from .aurasr import tiny_aurasr
    from .codeformer import seeded_codeformer
    from .gfpgan import tiny_gfpgan
    from .gpen import tiny_gpen
    from .restoreformer import TINY as TINY_RESTOREFORMER, TINY_PLUS, seeded_network
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
        "UnetUpsampler (AuraSR) 64": lambda: describe_state_dict(tiny_aurasr().state_dict()),
        # seed 3: on the exporter's check images its top-1 codes lead the next by ≥ 3e-4 of probability (rounding
        # moves them ~1e-7), so both backends pick the same codes (helpers/codeformer.py: stable_codes would pick
        # one code everywhere, and adain then divides by √eps)
        "CodeFormer 64": lambda: describe_state_dict(seeded_codeformer(TINY_CODEFORMER, seed=3).state_dict()),
        "GPEN 64": lambda: describe_state_dict(tiny_gpen().state_dict()),
        "RestoreFormer 64": lambda: describe_state_dict(seeded_network(TINY_RESTOREFORMER).state_dict()),
        "RestoreFormer++ 64": lambda: describe_state_dict(seeded_network(TINY_PLUS).state_dict()),
    }


def tiny(name: str) -> ModelDescriptor:
    return layouts()[name]()


def require_onnx() -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
