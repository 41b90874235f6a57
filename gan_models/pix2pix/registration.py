"""The pix2pix/CycleGAN registry entries: the two generators and the two PatchGAN discriminators.

The generators' every option is read from the tensors.

Released files are plain state dicts (``latest_net_G.pth``, ``*_net_G_A.pth``). The norm kind,
instance-norm affinity, ResNet dropout, widths, depths and channel counts are all visible in
their keys and shapes; U-Net dropout is not (it has no weights), so it is a load option whose
default is pix2pix's (on), or the run's own setting for a file in a ganpost training run (run_config.py). Old files whose instance norms tracked running statistics load as the
official loader loads them: those buffers are dropped.
"""

from __future__ import annotations

import re

from ..contract import AtInference, ModelContract, SizeRule, Task, TilingPolicy
from ..errors import UnsupportedModelError
from ..architecture import ArchitectureEntry, Built, Tensors
from .norms import drop_instance_statistics, init_weights
from .patchgan import NLayerDiscriminator, PixelDiscriminator
from .resnet import SIZE_MULTIPLE, ResnetGenerator, receptive_radius
from .run_config import dropout_from_run
from .unet import MIN_DOWNS, UnetGenerator

# --- shared ----------------------------------------------------------------------------------


def _norm_kind(sd: Tensors, conv: str, norm: str) -> tuple[str, bool]:
    """(norm, affine) from the first convolution and the norm after it.

    The official code gives a convolution a bias only when instance norm follows it; batch norm
    always has affine weights and running statistics.
    """
    if f"{conv}.bias" in sd:
        return "instance", f"{norm}.weight" in sd
    if f"{norm}.running_mean" in sd:
        return "batch", True
    return "none", False


def _test_time(hp: dict) -> AtInference:
    # The official test script never calls eval(): batch norm normalises with the image's own
    # statistics and dropout stays on. Reproduce that where it changes anything; otherwise eval
    # gives the same output.
    return AtInference.AS_TRAINED if hp["norm"] == "batch" or hp["dropout"] else AtInference.EVAL


def _channels_last(hp: dict) -> bool:
    # Instance norm has no NHWC kernel: on CPU the vintage generator took 10% more CPU time in NHWC
    # than in NCHW (fp32 and bf16, bench/translate.py); the layout copies around its 23 norms cost
    # more than NHWC saves in the convolutions.
    return hp["norm"] != "instance"


# --- ResnetGenerator -------------------------------------------------------------------------

FIRST_BLOCK = 10  # pad, conv, norm, relu, then two × (conv, norm, relu)


def looks_like_resnet_generator(sd: Tensors) -> bool:
    first = sd.get("model.1.weight")
    return (first is not None and first.ndim == 4 and tuple(first.shape[-2:]) == (7, 7)
            and f"model.{FIRST_BLOCK}.conv_block.1.weight" in sd)


def resnet_hyperparameters(sd: Tensors) -> dict:
    blocks = sorted({int(m[1]) for k in sd if (m := re.match(r"model\.(\d+)\.conv_block\.", k))})
    if blocks != list(range(FIRST_BLOCK, FIRST_BLOCK + len(blocks))):
        raise UnsupportedModelError(f"residual blocks at model.{blocks}, not consecutive from model.{FIRST_BLOCK}")
    norm, affine = _norm_kind(sd, "model.1", "model.2")
    second = sd.get(f"model.{FIRST_BLOCK}.conv_block.6.weight")
    last = FIRST_BLOCK + len(blocks) + 7  # two × (convT, norm, relu), pad, conv
    return {
        "in_channels": sd["model.1.weight"].shape[1],
        "out_channels": sd[f"model.{last}.weight"].shape[0],
        "num_feat": sd["model.1.weight"].shape[0],
        "num_blocks": len(blocks),
        "norm": norm,
        "affine": affine,
        "dropout": second is not None and second.ndim == 4,  # dropout pushes the second conv to index 6
    }


def build_resnet_generator(sd: Tensors, options: dict) -> Built:
    hp = resnet_hyperparameters(sd)
    if hp["norm"] == "instance":
        sd = drop_instance_statistics(sd)
    return Built(ResnetGenerator(**hp), hp, dict(sd))


def resnet_contract(hp: dict) -> ModelContract:
    # Without norm statistics the output depends only on pixels within the receptive radius, so a
    # margin that covers it (on tiles aligned to the ×4 grid) makes tiling exact. Instance norm
    # and as-trained batch norm normalise each tile by its own statistics: not exact.
    test_time = _test_time(hp)
    exact = hp["norm"] == "none" or (hp["norm"] == "batch" and test_time == AtInference.EVAL)
    margin = -(-receptive_radius(hp["num_blocks"]) // SIZE_MULTIPLE) * SIZE_MULTIPLE
    return ModelContract(
        task=Task.TRANSLATE, scale=1, in_channels=hp["in_channels"], out_channels=hp["out_channels"],
        value_range=(-1.0, 1.0), size=SizeRule(multiple=SIZE_MULTIPLE),
        tiling=TilingPolicy(margin=margin, overlap=0 if exact else 32, exact=exact),
        # Peak measured at 200–216 elements per pixel for 64 filters (CPU, 512–768 px).
        activation_elements=6 * hp["num_feat"],
        # The real vintage generator on a 192 px photo: fp16 within 0.03/255 mean, 0.28/255 max
        # (largest norm input 178, far from fp16's limit), bf16 0.21/255 mean, 1.6/255 max.
        fp16_safe=True, bf16_safe=True,
        test_time=test_time, init_weights=init_weights, channels_last=_channels_last(hp),
    )


# --- UnetGenerator ---------------------------------------------------------------------------

OUTER = "model.model."


def _level(depth: int) -> str:
    """Key prefix of the U's level ``depth`` (0 = outermost). The outermost level holds the next
    at ``model.1``, every middle level at ``model.3`` (after its activation, conv and norm)."""
    return OUTER if depth == 0 else OUTER + "1.model." + "3.model." * (depth - 1)


def looks_like_unet_generator(sd: Tensors) -> bool:
    first = sd.get(OUTER + "0.weight")
    return (first is not None and first.ndim == 4 and tuple(first.shape[-2:]) == (4, 4)
            and _level(1) + "1.weight" in sd)


def unet_hyperparameters(sd: Tensors, dropout: bool | None) -> dict:
    num_downs = 1
    while _level(num_downs) + "1.weight" in sd:
        num_downs += 1
    if num_downs < MIN_DOWNS:
        raise UnsupportedModelError(f"a U-Net with {num_downs} levels; the official one has at least {MIN_DOWNS}")
    norm, affine = _norm_kind(sd, OUTER + "0", _level(1) + "2")
    return {
        "in_channels": sd[OUTER + "0.weight"].shape[1],
        "out_channels": sd[OUTER + "3.weight"].shape[1],  # a transposed conv's weight is in × out × k × k
        "num_downs": num_downs,
        "num_feat": sd[OUTER + "0.weight"].shape[0],
        "norm": norm,
        "affine": affine,
        "dropout": True if dropout is None else bool(dropout),  # pix2pix's default: not stored in the file
    }


def build_unet_generator(sd: Tensors, options: dict) -> Built:
    hp = unet_hyperparameters(sd, options.get("dropout"))
    if hp["norm"] == "instance":
        sd = drop_instance_statistics(sd)
    return Built(UnetGenerator(**hp), hp, dict(sd))


def unet_contract(hp: dict) -> ModelContract:
    # The bottleneck sees the whole 2**num_downs window: no margin makes tiles exact. Tiles are
    # windows of that native size (the task picks the side) read with an eighth of it as context
    # and cross-faded over another eighth.
    native = 2 ** hp["num_downs"]
    return ModelContract(
        task=Task.TRANSLATE, scale=1, in_channels=hp["in_channels"], out_channels=hp["out_channels"],
        value_range=(-1.0, 1.0), size=SizeRule(multiple=native),
        tiling=TilingPolicy(margin=native // 8, overlap=native // 8),
        # Peak measured at 110–160 elements per pixel for unet_256 (CPU, 512–768 px). Half precision
        # is allowed on request but not chosen by "auto": no released U-Net was at hand to measure it.
        activation_elements=4 * hp["num_feat"], fp16_safe=True, bf16_safe=True, auto_half=False,
        test_time=_test_time(hp), init_weights=init_weights, channels_last=_channels_last(hp),
    )


# --- the PatchGAN discriminators ----------------------------------------------------------------

def _norm_from_tensors(sd: Tensors, norm_prefix: str, conv_prefix: str) -> str:
    # Batch norm keeps running statistics; instance norm (no affine) leaves no tensors but its
    # convolution keeps a bias, which the official code drops for batch norm and for no norm.
    if f"{norm_prefix}.running_mean" in sd:
        return "batch"
    return "instance" if f"{conv_prefix}.bias" in sd else "none"


def _nlayer_shape(sd: Tensors) -> dict:
    convs = sorted(int(k.split(".")[1]) for k, v in sd.items() if k.endswith(".weight") and v.ndim == 4)
    first = sd[f"model.{convs[0]}.weight"]
    norm = _norm_from_tensors(sd, f"model.{convs[1] + 1}", f"model.{convs[1]}")
    return dict(in_channels=first.shape[1], num_feat=first.shape[0], num_layers=len(convs) - 2, norm=norm)


def looks_like_nlayer_discriminator(sd: Tensors) -> bool:
    first = sd.get("model.0.weight")
    return (first is not None and first.ndim == 4 and tuple(first.shape[-2:]) == (4, 4)
            and all(k.startswith("model.") for k in sd))


def build_nlayer_discriminator(sd: Tensors, options: dict) -> Built:
    hp = _nlayer_shape(sd)
    return Built(NLayerDiscriminator(**hp), hp, dict(sd))


def nlayer_discriminator_contract(hp: dict) -> ModelContract:
    return ModelContract(
        task=Task.DISCRIMINATOR, scale=1, in_channels=hp["in_channels"], out_channels=1, value_range=(-1.0, 1.0),
        size=SizeRule(minimum=2 ** (hp["num_layers"] + 2)), tiling=TilingPolicy(margin=0),
        activation_elements=2 * hp["num_feat"], fp16_safe=True, bf16_safe=True, init_weights=init_weights,
    )


def looks_like_pixel_discriminator(sd: Tensors) -> bool:
    first = sd.get("net.0.weight")
    return (first is not None and first.ndim == 4 and tuple(first.shape[-2:]) == (1, 1)
            and "net.2.weight" in sd and all(k.startswith("net.") for k in sd))


def build_pixel_discriminator(sd: Tensors, options: dict) -> Built:
    first = sd["net.0.weight"]
    hp = dict(in_channels=first.shape[1], num_feat=first.shape[0], norm=_norm_from_tensors(sd, "net.3", "net.2"))
    return Built(PixelDiscriminator(**hp), hp, dict(sd))


def pixel_discriminator_contract(hp: dict) -> ModelContract:
    return ModelContract(
        task=Task.DISCRIMINATOR, scale=1, in_channels=hp["in_channels"], out_channels=1, value_range=(-1.0, 1.0),
        size=SizeRule(), tiling=TilingPolicy(margin=0, exact=hp["norm"] != "instance"),
        activation_elements=4 * hp["num_feat"], fp16_safe=True, bf16_safe=True, init_weights=init_weights,
    )


# --- registry entries ------------------------------------------------------------------------

RESNET_GENERATOR = ArchitectureEntry(
    architecture="ResnetGenerator", family="pix2pix", detect=looks_like_resnet_generator,
    build=build_resnet_generator, contract=resnet_contract, create=ResnetGenerator,
    wrapper_name="ResnetGeneratorModel",
    # CycleGAN's model.N has no model.0 tensors (a reflection pad) but a 7×7 model.1 and
    # model.10.conv_block.*: neither legacy ESRGAN nor the PatchGAN matches it; tested after both.
    after=("RRDBNet", "NLayerDiscriminator"),
)
UNET_GENERATOR = ArchitectureEntry(
    architecture="UnetGenerator", family="pix2pix", detect=looks_like_unet_generator,
    build=build_unet_generator, contract=unet_contract, create=UnetGenerator, options=("dropout",),
    wrapper_name="UnetGeneratorModel", sidecar=dropout_from_run,  # a run's files: dropout as the run trained
    # no constraint: model.model.0 (4×4) and model.model.1.model.1: nested, unlike any other
)
NLAYER_DISCRIMINATOR = ArchitectureEntry(
    architecture="NLayerDiscriminator", family="pix2pix", detect=looks_like_nlayer_discriminator,
    build=build_nlayer_discriminator, contract=nlayer_discriminator_contract, create=NLayerDiscriminator,
    # model.N with a 4×4 first conv: after RRDBNet's legacy layout (model.N whose detection needs
    # model.1.sub.*), so a legacy ESRGAN file is never taken for a PatchGAN
    after=("RRDBNet",),
)
PIXEL_DISCRIMINATOR = ArchitectureEntry(
    architecture="PixelDiscriminator", family="pix2pix", detect=looks_like_pixel_discriminator,
    build=build_pixel_discriminator, contract=pixel_discriminator_contract, create=PixelDiscriminator,
    # no constraint: net.N with a 1×1 first conv, and nothing but net.* keys
)
ENTRIES = (RESNET_GENERATOR, UNET_GENERATOR, NLAYER_DISCRIMINATOR, PIXEL_DISCRIMINATOR)
