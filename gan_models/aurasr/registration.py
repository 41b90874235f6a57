"""The AuraSR family's registry entries: the released upsampler and our GigaGAN-style discriminator.

The upsampler: recognise the released files, read their shape, fill in the contract.

The shape comes from ``config.json`` (or ``<stem>.json``) beside the file when there is one, and
is checked against the tensors; otherwise it is read from the tensors (``config.infer_config``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch

from ..contract import ModelContract, SizeRule, Task, TilingPolicy
from ..architecture import ArchitectureEntry, Built
from . import config as cfg
from .discriminator import GigaGANDiscriminator, init_discriminator
from .export import exported_upsampler
from .unet_upsampler import UnetUpsampler

Tensors = dict[str, torch.Tensor]

# Keys no other family has: the style projection, the attention middle and the modulated kernels.
AURASR_KEYS = ("style_to_conv_modulations.weight", "mid_attn.layers.0.0.to_qkv.weight",
               "mid_block1.block1.proj.weights", "final_to_rgb.weight", "init_conv.weight")
LOAD_OPTIONS = ("config", *cfg.UNDETECTABLE)


def looks_like_aurasr(sd: Tensors) -> bool:
    return all(k in sd for k in AURASR_KEYS)


def config_beside(weights: Path) -> dict:
    """The ``config`` load option from a config file next to the weights, if there is one."""
    found = cfg.config_beside(weights)
    return {"config": found} if found is not None else {}


def build_aurasr(sd: Tensors, options: dict) -> Built:
    if "config" in options:
        hp, label = cfg.read_config(options["config"])
    else:
        hp, label = cfg.infer_config(sd), ""
    hp = cfg.with_overrides(hp, {k: options[k] for k in cfg.UNDETECTABLE if k in options})
    try:
        with torch.device("meta"):  # shapes only: a mismatch costs nothing, a match is built for real below
            skeleton = UnetUpsampler(**hp)
    except (TypeError, ValueError, ZeroDivisionError) as err:
        raise cfg.ConfigError(f"given a config the network cannot be built from ({err}){' in ' + label if label else ''}. "
                              "Use the config released with the weights") from err
    if label:
        cfg.check_config_fits(skeleton, sd, label)
    return Built(UnetUpsampler(**hp), hp, dict(sd))


def activation_elements(hp: dict) -> int:
    """Peak activation elements per input pixel of one window, counted from the widths.

    At the peak: every down block's skip, the widest up stage's input and three block outputs,
    the attention scores of the finest attended stage (if SDPA falls back to the math kernel),
    and three fp32 copies of the largest per-sample modulated kernel (its mix, modulation and
    demodulation; fp32 whatever the compute dtype, hence counted three times).
    Released width: 14,400 per input pixel (225 MiB per fp32 window); measured on CPU, one 64 px
    window of the full network peaks 208 MiB above the loaded weights (13,300 per pixel).
    """
    dim, side = hp.get("dim", 64), hp.get("input_image_size", 64)
    pixels = side * side
    up_dims = [hp.get("init_dim") or dim, *(dim * m for m in hp.get("up_dim_mults", (1, 2, 4, 8, 16)))]
    downs = list(hp.get("down_dim_mults", (4, 8, 16)))
    n_down, n_up = len(downs), len(up_dims) - 1
    blocks = hp.get("block_count", 6)
    down_in = [up_dims[n_up - n_down], *(dim * m for m in downs[:-1])]
    skips = sum(blocks * width / 4**i for i, width in enumerate(down_in))
    stages, attention = [], [0.0]
    full_attn = list(hp.get("full_attn", (False, False, False, True, True)))
    heads = hp.get("self_attn_heads", 8)
    for j in range(n_up):
        width = up_dims[n_up - 1 - j]
        area = 4.0 ** (j + 1 - n_down)  # this stage's pixels per input pixel
        stages.append(((2 if j < n_down else 1) * width + 3 * width) * area)
        if full_attn[n_up - 1 - j]:
            attention.append(heads * pixels * area * area)
    widest = max(up_dims[-1] ** 2, *(2 * w * w for w in up_dims[:-1]))  # o × i of the widest modulated conv
    kernels = 3 * widest * 9 / pixels
    return math.ceil(skips + max(stages) + max(attention) + kernels)


def aurasr_contract(hp: dict) -> ModelContract:
    window = hp.get("input_image_size", 64)
    n_up = len(hp.get("up_dim_mults", (1, 2, 4, 8, 16)))
    n_down = len(hp.get("down_dim_mults", (4, 8, 16)))
    return ModelContract(
        task=Task.UPSCALE, scale=2 ** (n_up - n_down), in_channels=hp.get("channels", 3),
        out_channels=hp.get("channels", 3), value_range=(0.0, 1.0),
        # The network attends over the whole window, so it reads exactly the trained size
        # (smaller inputs are padded up to it by reflection, as the official tool pads).
        size=SizeRule(fixed=window),
        # Windows keep ≤ 54 px (+ a 2 px cross-fade) with ≥ 4 px of context: no seam left and
        # 0.61× the windows of fal's overlapped mode (bench/aurasr.py; random weights, docs/aurasr.md).
        tiling=TilingPolicy(margin=4, overlap=2),
        activation_elements=activation_elements(hp),
        # Measured against fp32 on a natural 64 px window, random weights at the released depth
        # and reduced width (`PYTHONPATH=tests python tests/gan_models/test_aurasr.py DIM`; modulation is fp32 in both):
        #   dim 16: bf16 mean 0.083/255, max 1.5/255; fp16 mean 0.009/255, max 0.19/255
        #   dim 32 (fp32 output spans -21..13): bf16 mean 2.1/255, p99.9 99/255, max 203/255;
        #                                        fp16 mean 0.29/255, p99.9 15/255, max 26/255; all finite
        # bf16's 8-bit mantissa does not survive 51 modulated blocks at width; fp16 stays close
        # and its overflows are caught by the runner's fp32 recompute. Released weights: unmeasured.
        fp16_safe=True,
        bf16_safe=False,
        auto_half=False,
        call_options=("seed", "generator"), seed_keyword="seed",
    )


# --- registry entry: a saved discriminator loads back with its shape read from the tensors ------------------

def looks_like_gigagan_discriminator(sd: Tensors) -> bool:
    return "head_linear.weight" in sd and "stages.0.block.0.weight" in sd and "stages.0.shortcut.weight" in sd


def _stage_numbers(sd: Tensors, part: str) -> list[int]:
    return sorted({int(m[1]) for k in sd if (m := re.fullmatch(rf"stages\.(\d+)\.{part}\..*", k))})


def discriminator_hyperparameters(sd: Tensors) -> dict:
    """The constructor arguments of a state dict with our names, read from the tensor shapes."""
    n = len(_stage_numbers(sd, "block"))
    image_size = 2 ** (n + 1)
    resolution = [image_size >> i for i in range(n)]
    first = sd["stages.0.block.0.weight"]
    inputs = [resolution[i] for i in _stage_numbers(sd, "from_rgb")]
    predictors = _stage_numbers(sd, "predictor")
    skip = int(math.log2(min(inputs) / resolution[predictors[-1]])) if inputs and predictors else 1
    excites = _stage_numbers(sd, "excite")
    excite_skip = n - 1 - excites[-1] if excites else 0  # gates run from stages 1 … n-1-skip
    attention = _stage_numbers(sd, "attention")
    heads, dim_head = 8, 64
    if attention:
        inner = sd[f"stages.{attention[0]}.attention.to_qkv.weight"].shape[0] // 3
        heads = int(sd[f"stages.{attention[0]}.attention.num_heads"])
        dim_head = inner // heads
    recon = _stage_numbers(sd, "recon")
    recon_layers = len({k for k in sd if re.fullmatch(r"stages\.\d+\.recon\.net\.\d+\.weight", k)})
    return {
        "image_size": image_size, "channels": first.shape[1], "dim_capacity": first.shape[0] // 2,
        "dim_max": sd["head_conv.weight"].shape[0], "multiscale_inputs": tuple(inputs),
        "multiscale_output_skip": skip, "attn_resolutions": tuple(resolution[i] for i in attention),
        "attn_heads": heads, "attn_dim_head": dim_head,
        "predictor_depth": len({k.split(".")[4] for k in sd if k.startswith(f"stages.{predictors[0]}.predictor.layers.")})
        if predictors else 0,
        "excite_skip": excite_skip,
        "recon_resolution": resolution[recon[0]] if recon else 0, "recon_upsamples": max(recon_layers - 1, 0),
    }


def build_gigagan_discriminator(sd: Tensors, options: dict) -> Built:
    hp = discriminator_hyperparameters(sd)
    return Built(GigaGANDiscriminator(**hp), hp, dict(sd))


def gigagan_discriminator_contract(hp: dict) -> ModelContract:
    size = hp.get("image_size", 256)
    return ModelContract(
        task=Task.DISCRIMINATOR, scale=1, in_channels=hp.get("channels", 3), out_channels=1, value_range=(0.0, 1.0),
        size=SizeRule(fixed=size), tiling=TilingPolicy(margin=0), activation_elements=8 * hp.get("dim_capacity", 16),
        fp16_safe=False, bf16_safe=True, init_weights=init_discriminator,
    )


# --- registry entries ---------------------------------------------------------------------------------------

AURASR = ArchitectureEntry(
    architecture="UnetUpsampler", family="aurasr", detect=looks_like_aurasr, build=build_aurasr,
    contract=aurasr_contract, create=UnetUpsampler, options=LOAD_OPTIONS, wrapper_name="AuraSRModel",
    sidecar=config_beside, export_module=exported_upsampler,
    # no constraint: style_to_conv_modulations / mid_attn / modulated-kernel keys: nothing else has
    # them, so it may be tested first (it is: aurasr is the first family folder)
)
AURASR_DISCRIMINATOR = ArchitectureEntry(
    architecture="GigaGANDiscriminator", family="aurasr", detect=looks_like_gigagan_discriminator,
    build=build_gigagan_discriminator, contract=gigagan_discriminator_contract, create=GigaGANDiscriminator,
    # no constraint: stages.N.block / head_linear: our own names, no other family's
)
ENTRIES = (AURASR, AURASR_DISCRIMINATOR)
