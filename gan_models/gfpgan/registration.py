"""The GFPGAN family's registry entries: the clean-v1 restorer and its two v1 training discriminators.

The restorer: recognise clean-v1 checkpoints, read their shape, fill in the contract.

Hyper-parameters come from tensor shapes, so other widths (``narrow``, channel multiplier,
``sft_half``, output size) load as well as the released 512 px, ×2, sft-half files. The
original GFPGANv1 (the paper model) has look-alike keys but equalized-LR layers and compiled
CUDA ops; it is refused by name rather than half-loaded (spandrel detects it as GFPGAN and then
fails on missing keys).
"""

from __future__ import annotations

import math
import re

import torch

from ..contract import ModelContract, SizeRule, Task, TilingPolicy
from ..errors import UnsupportedModelError
from ..architecture import ArchitectureEntry, Built
from .discriminators import FacialComponentDiscriminator, StyleGAN2Discriminator, discriminator_widths
from .gfpganv1_clean import GFPGANv1Clean
from .stylegan2_clean import channel_widths

Tensors = dict[str, torch.Tensor]

CLEAN_KEYS = ("conv_body_first.weight", "conv_body_down.0.conv1.weight", "final_linear.weight",
              "condition_scale.0.0.weight", "stylegan_decoder.constant_input.weight",
              "stylegan_decoder.style_conv1.modulated_conv.weight")
# The paper model wraps convs in equalized-LR Sequentials (``conv_body_first.0``) and fuses its
# activation biases (``activate.bias``).
ORIGINAL_V1_KEYS = ("conv_body_first.0.weight", "stylegan_decoder.style_conv1.activate.bias")


def looks_like_gfpgan_clean(sd: Tensors) -> bool:
    """Clean-v1 keys; the original v1 layout is refused here with its name (registry.detect adds the file)."""
    if all(k in sd for k in ORIGINAL_V1_KEYS):
        raise UnsupportedModelError(
            "the original GFPGANv1 architecture (the paper model: equalized-LR layers and compiled CUDA ops), "
            "which ganpost does not run; use GFPGANv1.3/1.4 clean files (GFPGANv1.3.pth, GFPGANv1.4.pth)"
        )
    return all(k in sd for k in CLEAN_KEYS)


def _count(sd: Tensors, pattern: str) -> int:
    return len({m[1] for k in sd if (m := re.fullmatch(pattern, k))})


def gfpgan_hyperparameters(sd: Tensors, input_is_latent: bool = True) -> dict:
    """Constructor arguments for :class:`GFPGANv1Clean`, read from official-layout tensor shapes.

    ``input_is_latent`` is not visible in the weights (it only decides whether the stored
    ``style_mlp`` runs); every released clean model uses True, as ``GFPGANer`` builds them.
    """
    log_size = _count(sd, r"conv_body_down\.(\d+)\.conv1\.weight") + 2
    out_size = 2**log_size
    num_style_feat = sd["stylegan_decoder.style_conv1.modulated_conv.modulation.weight"].shape[1]
    narrow = sd["stylegan_decoder.constant_input.weight"].shape[1] / 512
    # The multiplier widens levels from 64 px up; at 32 px and below it changes nothing, so keep the release's.
    channel_multiplier: float = 2
    if out_size >= 64:
        width_64 = sd["stylegan_decoder.style_convs.6.modulated_conv.weight"].shape[1]
        channel_multiplier = width_64 / (256 * narrow)
        if abs(channel_multiplier - round(channel_multiplier)) < 1e-6:
            channel_multiplier = round(channel_multiplier)
    if narrow == int(narrow):
        narrow = int(narrow)
    first, second = sd["condition_scale.0.0.weight"].shape[0], sd["condition_scale.0.2.weight"].shape[0]
    if second not in (first, 2 * first):
        raise UnsupportedModelError(f"a GFPGAN whose SFT conditions have {second} channels for {first} features "
                                    "(expected the same, or twice as many)")
    codes = sd["final_linear.weight"].shape[0] // num_style_feat
    if codes not in (1, 2 * log_size - 2):
        raise UnsupportedModelError(
            f"a GFPGAN whose encoder makes {codes} style codes (expected 1 or {2 * log_size - 2})")
    return {
        "out_size": out_size,
        "num_style_feat": num_style_feat,
        "channel_multiplier": channel_multiplier,
        "num_mlp": _count(sd, r"stylegan_decoder\.style_mlp\.(\d+)\.weight"),
        "input_is_latent": input_is_latent,
        "different_w": codes != 1,
        "narrow": narrow,
        "sft_half": second == first,
    }


def build_gfpgan_clean(sd: Tensors, options: dict) -> Built:
    hp = gfpgan_hyperparameters(sd, options.get("input_is_latent", True))
    return Built(GFPGANv1Clean(**hp), hp, dict(sd))


def gfpgan_activation_elements(hp: dict) -> int:
    """Peak activation elements per input pixel of one forward, counted from the channel widths.

    Alive at the peak (the last decoder level): every level's SFT scale and shift maps, the
    encoder's skip features, the bilinearly doubled input of the last style conv and about three
    of its outputs; plus a quarter for temporaries. Released width: 605 per pixel (605 MiB in
    fp32 at 512²); the measured CPU peak above the loaded model is about 460 MiB.
    """
    size = hp["out_size"]
    unet = channel_widths(hp["channel_multiplier"], hp["narrow"] * 0.5)
    decoder = channel_widths(hp["channel_multiplier"], hp["narrow"])
    sft_factor = 1 if hp["sft_half"] else 2
    levels = [2**level for level in range(3, int(math.log2(size)) + 1)]
    conditions = sum(2 * sft_factor * unet[side] * (side / size) ** 2 for side in levels)
    skips = sum(unet[side // 2] * (side / 2 / size) ** 2 for side in levels)
    last_level = decoder[size // 2] + 3 * decoder[size] + 12
    return math.ceil(1.25 * (conditions + skips + last_level))


def gfpgan_contract(hp: dict) -> ModelContract:
    size = hp["out_size"]
    return ModelContract(
        task=Task.FACE_RESTORE, scale=1, in_channels=3, out_channels=3, value_range=(-1.0, 1.0),
        # Aligned face crops of exactly out_size: the runner pads smaller inputs up to it (and
        # crops back) and windows larger ones; the face pipeline always feeds exact crops.
        size=SizeRule(fixed=size),
        tiling=TilingPolicy(margin=0),  # one window is one face: nothing to stitch
        activation_elements=gfpgan_activation_elements(hp),
        # Measured against fp32 on the astronaut's face resized to 512, random weights
        # (`PYTHONPATH=tests python tests/gan_models/test_gfpgan.py`).
        # bf16, released width: mean 0.25/255, p99.9 1.7/255,
        # max 2.6/255, finite; bf16 keeps fp32's range, so trained weights cannot overflow it.
        # fp16 on random weights is fine too (narrow 0.5: mean 0.07/255, max 0.4/255; every
        # fp32 activation of the full net stays below 5), but random weights cannot show the
        # failure the maintainer confirmed for the released files (GFPGAN#50: .half() gives
        # garbage). Our modulated convs (de)modulate in fp32, which removes the eps underflow
        # and sum-of-squares overflow the official code has in fp16, yet without a released
        # file to measure, fp16 stays refused.
        fp16_safe=False,
        bf16_safe=True,
        output_adapter=_image_of,
        # noise=None: the stored noise; an int seed or a Generator: fresh, reproducible
        call_options=("noise",), seed_keyword="noise",
    )


def _image_of(output) -> torch.Tensor:
    """The restored image out of ``(image, rgb_pyramid)``."""
    return output[0]


# --- the v1 training discriminators ------------------------------------------------------------------

def looks_like_stylegan2_discriminator(sd: Tensors) -> bool:
    return ("conv_body.0.0.weight" in sd and "final_linear.1.weight" in sd and "final_conv.0.weight" in sd
            and all(k.split(".")[0] in ("conv_body", "final_conv", "final_linear") for k in sd))


def stylegan2_discriminator_hyperparameters(sd: Tensors) -> dict:
    levels = len({k.split(".")[1] for k in sd if k.startswith("conv_body.")}) - 1
    out_size = 2 ** (levels + 2)
    narrow = sd["final_conv.0.weight"].shape[0] / 512
    first = sd["conv_body.0.0.weight"].shape[0]
    channel_multiplier: float = 1
    if out_size >= 64:
        channel_multiplier = first / (256 * 64 // out_size * narrow)
        if abs(channel_multiplier - round(channel_multiplier)) < 1e-6:
            channel_multiplier = round(channel_multiplier)
    return {"out_size": out_size, "channel_multiplier": channel_multiplier,
            "narrow": int(narrow) if narrow == int(narrow) else narrow}


def build_stylegan2_discriminator(sd: Tensors, options: dict) -> Built:
    hp = {**stylegan2_discriminator_hyperparameters(sd), "stddev_group": options.get("stddev_group", 4)}
    return Built(StyleGAN2Discriminator(**hp), hp, dict(sd))


def stylegan2_discriminator_contract(hp: dict) -> ModelContract:
    return ModelContract(
        task=Task.DISCRIMINATOR, scale=1, in_channels=3, out_channels=1, value_range=(-1.0, 1.0),
        size=SizeRule(fixed=hp["out_size"]), tiling=TilingPolicy(margin=0),
        activation_elements=4 * discriminator_widths(hp["channel_multiplier"], hp["narrow"])[hp["out_size"]],
        fp16_safe=False, bf16_safe=True,
    )


COMPONENT_KEYS = frozenset(f"{layer}.{index}.{name}" for layer, index, name in (
    ("conv1", 0, "weight"), ("conv1", 1, "bias"), ("conv2", 1, "weight"), ("conv2", 2, "bias"),
    ("conv3", 0, "weight"), ("conv3", 1, "bias"), ("conv4", 1, "weight"), ("conv4", 2, "bias"),
    ("conv5", 0, "weight"), ("conv5", 1, "bias"), ("final_conv", 0, "weight"), ("final_conv", 0, "bias")))


def looks_like_component_discriminator(sd: Tensors) -> bool:
    return set(sd) == COMPONENT_KEYS


def build_component_discriminator(sd: Tensors, options: dict) -> Built:
    hp = {"num_feat": sd["conv1.0.weight"].shape[0]}
    return Built(FacialComponentDiscriminator(**hp), hp, dict(sd))


def component_discriminator_contract(hp: dict) -> ModelContract:
    return ModelContract(
        task=Task.DISCRIMINATOR, scale=1, in_channels=3, out_channels=1, value_range=(-1.0, 1.0),
        size=SizeRule(multiple=4, minimum=8), tiling=TilingPolicy(margin=0),
        activation_elements=4 * hp["num_feat"], fp16_safe=False, bf16_safe=True,
        output_adapter=_logits_of,
    )


def _logits_of(output) -> torch.Tensor:
    """The patch logits out of ``(logits, features)``."""
    return output[0]


# --- registry entries -------------------------------------------------------------------------------

GFPGAN_CLEAN = ArchitectureEntry(
    architecture="GFPGANv1Clean", family="gfpgan", detect=looks_like_gfpgan_clean, build=build_gfpgan_clean,
    contract=gfpgan_contract, create=GFPGANv1Clean, options=("input_is_latent",), wrapper_name="GFPGANModel",
    # GFPGAN's keys (conv_body_*, stylegan_decoder.*) overlap no other family's; it refuses the
    # original GFPGANv1 with a reason. After the upscalers people load most.
    after=("RRDBNet", "SRVGGNetCompact"),
)
STYLEGAN2_DISCRIMINATOR = ArchitectureEntry(
    architecture="StyleGAN2Discriminator", family="gfpgan", detect=looks_like_stylegan2_discriminator,
    build=build_stylegan2_discriminator, contract=stylegan2_discriminator_contract, create=StyleGAN2Discriminator,
    options=("stddev_group",),
    # no constraint: conv_body.N.M / final_conv / final_linear only (GFPGAN v1 training D); the
    # restorer's conv_body_* keys are other names, so neither claims the other's files
)
FACIAL_COMPONENT_DISCRIMINATOR = ArchitectureEntry(
    architecture="FacialComponentDiscriminator", family="gfpgan", detect=looks_like_component_discriminator,
    build=build_component_discriminator, contract=component_discriminator_contract,
    create=FacialComponentDiscriminator,
    # no constraint: exactly conv1-5 + final_conv (12 tensors): GFPGAN v1 eye/mouth D
)
ENTRIES = (GFPGAN_CLEAN, STYLEGAN2_DISCRIMINATOR, FACIAL_COMPONENT_DISCRIMINATOR)
