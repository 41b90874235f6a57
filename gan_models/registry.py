"""Every family's entries, in the order checkpoints are tested against them.

Order matters where layouts look alike: legacy ESRGAN files (``model.N``), CycleGAN's
ResnetGenerator (``model.N`` too) and PatchGAN discriminators share key patterns, so the entry
with the most specific test comes first. The first entry whose ``detect`` accepts a state dict
wins; nothing else in ganpost tests an architecture's name.
"""

from __future__ import annotations

from .aurasr import AURASR, AURASR_DISCRIMINATOR
from .errors import InvalidOptionError, UnsupportedModelError
from .facedetect import RETINAFACE
from .faceparse import BISENET, PARSENET
from .family import FamilyEntry, Tensors
from .gfpgan import FACIAL_COMPONENT_DISCRIMINATOR, GFPGAN_CLEAN, STYLEGAN2_DISCRIMINATOR
from .known_file import KnownFile
from .pix2pix import NLAYER_DISCRIMINATOR, PIXEL_DISCRIMINATOR, RESNET_GENERATOR, UNET_GENERATOR
from .realesrgan import COMPACT, RRDBNET, UNET_DISCRIMINATOR

DETECTION_ORDER: tuple[FamilyEntry, ...] = (
    AURASR,  # style_to_conv_modulations / mid_attn / modulated-kernel keys: nothing else has them, so test first
    AURASR_DISCRIMINATOR,  # stages.N.block / head_linear: our own names, no other family's
    RRDBNET,  # official, legacy ESRGAN (model.N with model.1.sub.*) and BSRGAN layouts
    COMPACT,  # only body.N.weight/bias keys
    UNET_DISCRIMINATOR,  # conv0 … conv9 with spectral-norm weight_orig
    NLAYER_DISCRIMINATOR,  # model.N with a 4×4 first conv: after RRDBNet's legacy layout
    # CycleGAN's model.N has no model.0 tensors (a reflection pad) but a 7×7 model.1 and
    # model.10.conv_block.*: neither legacy ESRGAN nor the PatchGAN matches it.
    RESNET_GENERATOR,
    UNET_GENERATOR,  # model.model.0 (4×4) and model.model.1.model.1: nested, unlike any other
    PIXEL_DISCRIMINATOR,  # net.N with a 1×1 first conv
    # GFPGAN's keys (conv_body_*, stylegan_decoder.*) overlap no other family's; it refuses the
    # original GFPGANv1 with a reason. After the upscalers people load most.
    GFPGAN_CLEAN,
    STYLEGAN2_DISCRIMINATOR,  # conv_body.N.M / final_conv / final_linear only: GFPGAN v1 training D
    FACIAL_COMPONENT_DISCRIMINATOR,  # exactly conv1-5 + final_conv (12 tensors): GFPGAN v1 eye/mouth D
    RETINAFACE,  # fpn./ssh1./ClassHead. keys that no image-to-image family has: anywhere works, last is cheapest
    PARSENET,  # encoder./out_mask_conv. keys: no other family's
    BISENET,  # cp.resnet./ffm. keys: no other family's
)


def detect(sd: Tensors, label: str) -> FamilyEntry:
    """The entry for a flat state dict, or an error that lists what was tried."""
    for entry in DETECTION_ORDER:
        try:
            if entry.detect(sd):
                return entry
        except UnsupportedModelError as err:  # a layout the family recognises but refuses, with its reason
            raise UnsupportedModelError(f"{label}: {err}.") from err
    raise UnsupportedModelError(_unsupported_message(label, sd))


def entry_for(architecture: str) -> FamilyEntry:
    for entry in DETECTION_ORDER:
        if entry.architecture == architecture:
            return entry
    raise InvalidOptionError(f"unknown architecture {architecture!r}; known: {', '.join(architectures())}")


def architectures(family: str | None = None) -> list[str]:
    return [e.architecture for e in DETECTION_ORDER if family is None or e.family == family]


def forward_options(task) -> list:
    """Every forward option some family of ``task`` declares (each name once): what front-ends offer."""
    found = {}
    for entry in DETECTION_ORDER:
        if entry.task == task:
            for option in entry.forward_options:
                found.setdefault(option.name, option)
    return list(found.values())


def known_files() -> list[KnownFile]:
    return [f for entry in DETECTION_ORDER for f in entry.known_files]


def _unsupported_message(label: str, sd: Tensors) -> str:
    keys = list(sd)
    msg = (f"{label}: no supported architecture matches its {len(keys)} tensors "
           f"(first keys: {', '.join(keys[:5])}). Tried, in order: {', '.join(architectures())}.")
    joined = " ".join(keys[:2000])
    if any(s in joined for s in ("lora_up", "lora_down", "lora_A", "lora_B", ".alpha ")) or joined.endswith(".alpha"):
        msg += " This looks like a LoRA: load it with your diffusion model, not as an upscaler."
    elif any(s in joined for s in ("model.diffusion_model.", "first_stage_model.", "double_blocks.", "down_blocks.")):
        msg += " This looks like a diffusion model checkpoint, not a GAN upscaler."
    return msg
