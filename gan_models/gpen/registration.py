"""The GPEN family's registry entry: recognise GPEN-BFR files (``FullGenerator``), read their shape, fill in
the contract.

Every hyper-parameter that shows in the tensors is read from them: the face size from the number of
encoder levels, ``narrow`` and ``channel_multiplier`` from the widths, ``n_mlp`` from the style MLP,
``style_dim`` from the encoder's last linear layer, ``isconcat`` from the first style conv's
activation width. ``lr_mlp`` (the style MLP's learning-rate multiplier, 0.01 in every official build)
does not show and is a load option. Look-alike GPEN files that are not a ×1 restorer are refused
with their name: the training discriminators (``GPEN-BFR-*-D.pth``) and ``FullGenerator_SR``
(a decoder larger than its encoder).
"""

from __future__ import annotations

import math
import re

import torch

from ..architecture import ArchitectureEntry, Built
from ..contract import FaceAlignment, ModelContract, SizeRule, Task, TilingPolicy
from ..errors import UnsupportedModelError
from .export import exported_gpen
from .gpen_model import FullGenerator, channel_widths

Tensors = dict[str, torch.Tensor]

KEYS = ("ecd0.0.0.weight", "ecd0.0.1.bias", "final_linear.0.weight", "generator.input.input",
        "generator.conv1.conv.weight", "generator.conv1.noise.weight", "generator.conv1.activate.bias",
        "generator.to_rgb1.conv.weight", "generator.style.1.weight")
DISCRIMINATOR_KEYS = ("convs.0.0.weight", "convs.1.conv1.0.weight", "final_conv.0.weight", "final_linear.0.weight")

# GPEN's ``align_faces.py``: five points of a 96×112 crop, made square (x + 8), padded by a quarter of
# the side on every edge (+ 28), so they sit in a 168 px crop; FaceEnhancement scales that crop to the
# network's size and fits the landmarks to it with Umeyama's least squares over all five points.
REFERENCE_FACIAL_POINTS = ((30.29459953, 51.69630051), (65.53179932, 51.50139999), (48.02519989, 71.73660278),
                           (33.54930115, 92.3655014), (62.72990036, 92.20410156))
GPEN_ALIGNMENT = FaceAlignment(points=tuple((x + 8 + 28, y + 28) for x, y in REFERENCE_FACIAL_POINTS), size=168,
                               robust=False)


def looks_like_gpen(sd: Tensors) -> bool:
    """GPEN-BFR keys; GPEN's discriminator and its FullGenerator_SR are refused here with their names."""
    if all(k in sd for k in DISCRIMINATOR_KEYS) and not any(k.startswith("generator.") for k in sd):
        raise UnsupportedModelError(
            "a StyleGAN2 discriminator in rosinality's layout, as GPEN's training files GPEN-BFR-*-D.pth hold: "
            "it scores faces in training and restores nothing; load the generator file (GPEN-BFR-512.pth)")
    if not all(k in sd for k in KEYS):
        return False
    encoder = _count(sd, r"ecd(\d+)\.0\.\d+\.weight")
    decoder = _count(sd, r"generator\.to_rgbs\.(\d+)\.conv\.weight")
    if decoder != encoder - 1:
        raise UnsupportedModelError(
            f"GPEN's FullGenerator_SR (an encoder of {2 ** (encoder + 1)} px under a decoder of "
            f"{2 ** (decoder + 2)} px): its extra levels draw random noise and its output is larger than its "
            "input; ganpost runs the ×1 GPEN-BFR generators only")
    return True


def _count(sd: Tensors, pattern: str) -> int:
    return len({m[1] for k in sd if (m := re.fullmatch(pattern, k))})


def _number(value: float) -> float | int:
    return round(value) if abs(value - round(value)) < 1e-6 else value


def gpen_hyperparameters(sd: Tensors, lr_mlp: float = 0.01) -> dict:
    """Constructor arguments for :class:`FullGenerator`, read from official-layout tensor shapes."""
    size = 2 ** (_count(sd, r"ecd(\d+)\.0\.\d+\.weight") + 1)
    style_dim = sd["final_linear.0.weight"].shape[0]
    width_4 = sd["generator.input.input"].shape[1]
    narrow = _number(width_4 / 512)
    isconcat = sd["generator.conv1.activate.bias"].shape[0] == 2 * width_4
    # The multiplier widens levels from 64 px up; at 32 px and below it changes nothing: keep the official default.
    channel_multiplier: float = 2
    if size >= 64:
        width_64 = sd["generator.convs.6.conv.weight"].shape[1]  # the 64 px level's first conv
        channel_multiplier = _number(width_64 / (256 * narrow))
    kernel = sd["ecd1.0.0.kernel"] if "ecd1.0.0.kernel" in sd else None
    if kernel is not None and tuple(kernel.shape) != (4, 4):
        raise UnsupportedModelError(f"a GPEN whose blur kernel is {tuple(kernel.shape)} (ganpost runs the 4×4 one)")
    hp = {"size": size, "style_dim": style_dim, "n_mlp": _count(sd, r"generator\.style\.(\d+)\.weight"),
          "channel_multiplier": channel_multiplier, "narrow": narrow, "isconcat": isconcat, "lr_mlp": lr_mlp}
    if channel_widths(channel_multiplier, narrow)[size] != sd["ecd0.0.0.weight"].shape[0]:
        raise UnsupportedModelError(f"a GPEN whose widths match no channel multiplier and narrow ({hp})")
    return hp


def build_gpen(sd: Tensors, options: dict) -> Built:
    hp = gpen_hyperparameters(sd, options.get("lr_mlp", 0.01))
    return Built(FullGenerator(**hp), hp, dict(sd))


def gpen_activation_elements(hp: dict) -> int:
    """Peak activation elements per input pixel of one forward, counted from the channel widths.

    Alive at the peak (the last decoder level's second style conv): every encoder level's features
    (they are the decoder's noise), the level's concatenated input, its conv output, the
    concatenation and the activation's two temporaries; plus a quarter. GPEN-BFR-512's widths
    (×2, narrow 1): 878 per pixel (878 MiB in fp32 at 512²); measured, one 512 px forward takes
    683 MiB of CPU memory above the loaded weights (the official code: 1548 MiB;
    ``bench/gpen_parity.py --memory``).
    """
    size = hp["size"]
    widths = channel_widths(hp["channel_multiplier"], hp["narrow"])
    feat = 2 if hp["isconcat"] else 1
    encoder = sum(widths[2**level] * (2**level / size) ** 2 for level in range(2, int(math.log2(size)) + 1))
    last = widths[size]
    last_level = feat * last + last + 3 * feat * last + 3
    return math.ceil(1.25 * (encoder + last_level))


def gpen_contract(hp: dict) -> ModelContract:
    return ModelContract(
        task=Task.FACE_RESTORE, scale=1, in_channels=3, out_channels=3, value_range=(-1.0, 1.0),
        size=SizeRule(fixed=hp["size"]),  # aligned crops of exactly the face size
        tiling=TilingPolicy(margin=0),  # one window is one face
        activation_elements=gpen_activation_elements(hp),
        # Measured against fp32 on the astronaut's face, released widths, random weights (no real file here;
        # bench/gpen_parity.py --precision), in 1/255 steps: bf16 at 512: mean 0.66, p99.9 2.95, max 4.3
        # (256: 0.95 / 3.6 / 3.9), finite; bf16 keeps fp32's range, so trained weights cannot overflow it.
        # fp16 on random weights is finite and closer (512: mean 0.42, max 1.9), and the modulated convs
        # (de)modulate in fp32, but without a released file to measure it stays refused, as for GFPGAN.
        fp16_safe=False,
        bf16_safe=True,
        # No noise to seed: GPEN's "noise" is its encoder's features, so the output is deterministic.
        face_alignment=GPEN_ALIGNMENT,
    )


GPEN = ArchitectureEntry(
    architecture="GPEN", family="gpen", detect=looks_like_gpen, build=build_gpen, contract=gpen_contract,
    create=FullGenerator, options=("lr_mlp",), task=Task.FACE_RESTORE, export_module=exported_gpen,
    # no constraint: ecd*/final_linear/generator.* overlap no other family's keys (GFPGAN's are
    # conv_body_*/stylegan_decoder.*, its discriminator's conv_body.N); the GPEN discriminator is
    # refused by its convs.N.conv1 ResBlocks plus final_conv/final_linear, no other family's layout
)
ENTRIES = (GPEN,)
