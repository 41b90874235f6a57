"""The face-parsing family's registry entries: ParseNet and BiSeNet, widths read from the tensors.

Both label the 19 CelebAMask-HQ classes, in different orders (ParseNet follows the dataset's own
list, BiSeNet face-parsing.PyTorch's); the contract's ``labels`` names each output channel so the
paste-back picks face parts by name, never by a network's index.
"""

from __future__ import annotations

import re

from ..contract import ModelContract, SizeRule, Task, TilingPolicy
from ..errors import UnsupportedModelError
from ..architecture import ArchitectureEntry, Built, Tensors
from .bisenet import BiSeNet
from .parsenet import ParseNet

FILES_LOADED_MOST = ("RRDBNet", "SRVGGNetCompact", "GFPGANv1Clean")  # tested before this family's
# Both were trained on 512 px aligned faces; the paste-back resizes each restored crop to this side.
TRAINED_SIZE = 512
PARSENET_LABELS = ("background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
                   "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth")
BISENET_LABELS = ("background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "ear_r",
                  "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat")

PARSENET_KEYS = ("encoder.0.conv2d.weight", "out_mask_conv.conv2d.weight", "out_img_conv.conv2d.weight")
BISENET_KEYS = ("cp.resnet.conv1.weight", "ffm.convblk.conv.weight", "conv_out.conv_out.weight",
                "conv_out16.conv_out.weight")


def _labels(count: int, known: tuple[str, ...]) -> tuple[str, ...]:
    return known if count == len(known) else tuple(f"class_{k}" for k in range(count))


# ------------------------------------------------------------------------------------ ParseNet
def looks_like_parsenet(sd: Tensors) -> bool:
    return all(k in sd for k in PARSENET_KEYS)


def _block_widths(sd: Tensors, prefix: str, first: int = 0) -> tuple[tuple[int, int], ...]:
    indices = sorted({int(m[1]) for k in sd if (m := re.fullmatch(rf"{prefix}\.(\d+)\.conv1\.conv2d\.weight", k))})
    if indices != list(range(first, first + len(indices))):
        raise UnsupportedModelError(f"a ParseNet whose {prefix} blocks are numbered {indices}, not consecutively")
    return tuple((int(sd[f"{prefix}.{i}.conv1.conv2d.weight"].shape[1]),
                  int(sd[f"{prefix}.{i}.conv1.conv2d.weight"].shape[0])) for i in indices)


def parsenet_hyperparameters(sd: Tensors) -> dict:
    if "encoder.1.conv1.norm.norm.running_mean" not in sd and any(k.startswith("encoder.1.") for k in sd):
        raise UnsupportedModelError("a ParseNet without batch norm in its blocks; facexlib's layout (norm_type='bn') "
                                    "is supported")
    prelu = any(k.endswith(".relu.func.weight") for k in sd)
    return {
        "stem": int(sd["encoder.0.conv2d.weight"].shape[0]),
        "down": _block_widths(sd, "encoder", first=1),
        "body": _block_widths(sd, "body"),
        "up": _block_widths(sd, "decoder"),
        "num_class": int(sd["out_mask_conv.conv2d.weight"].shape[0]),
        "act": "prelu" if prelu else "leakyrelu",
    }


def build_parsenet(sd: Tensors, options: dict) -> Built:
    hp = parsenet_hyperparameters(sd)
    return Built(ParseNet(**hp), hp, dict(sd))


def parsenet_contract(hp: dict) -> ModelContract:
    return ModelContract(
        task=Task.FACE_PARSE, scale=1, in_channels=3, out_channels=hp["num_class"], value_range=(-1.0, 1.0),
        size=SizeRule(multiple=2 ** len(hp["down"]), fixed=TRAINED_SIZE), tiling=TilingPolicy(margin=0),
        # The stem's and the last up block's full-resolution maps, a few alive at once.
        activation_elements=4 * hp["stem"], fp16_safe=False, bf16_safe=False, auto_half=False,
        labels=_labels(hp["num_class"], PARSENET_LABELS),
    )


# ------------------------------------------------------------------------------------- BiSeNet
def looks_like_bisenet(sd: Tensors) -> bool:
    return all(k in sd for k in BISENET_KEYS)


def build_bisenet(sd: Tensors, options: dict) -> Built:
    hp = {"num_class": int(sd["conv_out.conv_out.weight"].shape[0])}
    return Built(BiSeNet(**hp), hp, dict(sd))


def bisenet_contract(hp: dict) -> ModelContract:
    return ModelContract(
        # value_range is ours: the module applies the ImageNet normalisation it was trained with.
        task=Task.FACE_PARSE, scale=1, in_channels=3, out_channels=hp["num_class"], value_range=(0.0, 1.0),
        size=SizeRule(multiple=32, fixed=TRAINED_SIZE), tiling=TilingPolicy(margin=0),
        activation_elements=3 * hp["num_class"] + 64, fp16_safe=False, bf16_safe=False, auto_half=False,
        labels=_labels(hp["num_class"], BISENET_LABELS),
    )


PARSENET = ArchitectureEntry(
    architecture="ParseNet", family="faceparse", detect=looks_like_parsenet, build=build_parsenet,
    contract=parsenet_contract, create=ParseNet,
    # encoder./out_mask_conv. keys: no other family's; after the files people load most, as the detector
    after=FILES_LOADED_MOST,
)
BISENET = ArchitectureEntry(
    architecture="BiSeNet", family="faceparse", detect=looks_like_bisenet, build=build_bisenet,
    contract=bisenet_contract, create=BiSeNet,
    # cp.resnet./ffm. keys: no other family's; after the files people load most, as the detector
    after=FILES_LOADED_MOST,
)
ENTRIES = (PARSENET, BISENET)
