"""The Real-ESRGAN family's registry entries: RRDBNet, SRVGGNetCompact and the UNetDiscriminatorSN.

Detection uses key names and tensor shapes only, never the file name. Legacy ESRGAN
(``model.N``) and BSRGAN-style (``RRDB_trunk``) layouts are renamed to the official one here,
in one direction, so everything downstream sees official names. Each entry also fills in the model contract.
"""

from __future__ import annotations

import re

import torch

from ..contract import ModelContract, SizeRule, Task, TilingPolicy
from ..errors import UnsupportedModelError
from ..architecture import ArchitectureEntry, Built
from .discriminator import UNetDiscriminatorSN
from .rrdbnet import RRDBNet
from .srvgg import SRVGGNetCompact

Tensors = dict[str, torch.Tensor]

# --- RRDBNet ---------------------------------------------------------------------------------

OFFICIAL_RRDB_KEYS = ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight", "conv_last.weight")
LEGACY_ESRGAN_KEYS = ("model.0.weight", "model.1.sub.0.RDB1.conv1.0.weight")
BSRGAN_KEYS = ("conv_first.weight", "RRDB_trunk.0.RDB1.conv1.weight", "trunk_conv.weight", "conv_last.weight")


def looks_like_rrdbnet(sd: Tensors) -> bool:
    return any(all(k in sd for k in keys) for keys in (OFFICIAL_RRDB_KEYS, LEGACY_ESRGAN_KEYS, BSRGAN_KEYS))


def to_official_rrdb_keys(sd: Tensors) -> Tensors:
    """Rename a legacy ESRGAN or BSRGAN state dict to BasicSR's official RRDBNet names."""
    if all(k in sd for k in OFFICIAL_RRDB_KEYS):
        return dict(sd)
    if all(k in sd for k in BSRGAN_KEYS):
        return _rename_bsrgan(sd)
    if all(k in sd for k in LEGACY_ESRGAN_KEYS):
        return _rename_legacy_esrgan(sd)
    raise UnsupportedModelError("not an RRDBNet layout")


def _rename_bsrgan(sd: Tensors) -> Tensors:
    simple = {"trunk_conv": "conv_body", "upconv1": "conv_up1", "upconv2": "conv_up2", "HRconv": "conv_hr"}
    out = {}
    for key, value in sd.items():
        m = re.fullmatch(r"RRDB_trunk\.(\d+)\.RDB(\d)\.conv(\d)\.(weight|bias)", key)
        if m:
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = value
            continue
        head, _, tail = key.partition(".")
        out[f"{simple.get(head, head)}.{tail}"] = value
    if "upconv3.weight" in sd:
        raise UnsupportedModelError("an RRDBNet with three upsampling stages (×8); only ×4 bodies are supported")
    return out


def _rename_legacy_esrgan(sd: Tensors) -> Tensors:
    # model.0 conv_first | model.1 shortcut(sub.0..nb-1 RRDBs, sub.nb conv_body) |
    # per ×2 stage: upsample, conv, lrelu | HR conv | lrelu | last conv
    indices = sorted({int(k.split(".")[1]) for k in sd if re.match(r"model\.\d+\.", k)})
    conv_indices = [i for i in indices if i >= 2]  # upsampling convs, then HR conv, then last conv
    if len(conv_indices) != 4:
        raise UnsupportedModelError(
            f"a legacy ESRGAN with {len(conv_indices) - 2} upsampling stages; only two-stage (×4 body) files are supported"
        )
    up1, up2, hr, last = conv_indices
    num_block = len({int(m[1]) for k in sd if (m := re.match(r"model\.1\.sub\.(\d+)\.RDB", k))})
    simple = {"0": "conv_first", f"1.sub.{num_block}": "conv_body", str(up1): "conv_up1",
              str(up2): "conv_up2", str(hr): "conv_hr", str(last): "conv_last"}
    out = {}
    for key, value in sd.items():
        m = re.fullmatch(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)", key)
        if m:
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = value
            continue
        m = re.fullmatch(r"model\.(.+)\.(weight|bias)", key)
        if not m or m[1] not in simple:
            raise UnsupportedModelError(f"unexpected legacy ESRGAN key {key!r}")
        out[f"{simple[m[1]]}.{m[2]}"] = value
    return out


def rrdbnet_hyperparameters(sd: Tensors) -> dict:
    """Constructor arguments for :class:`RRDBNet`, read from official-layout tensor shapes."""
    first_in = sd["conv_first.weight"].shape[1]
    num_out_ch = sd["conv_last.weight"].shape[0]
    # Real-ESRGAN ×2/×1 pixel-unshuffle the input by 2/4, multiplying conv_first's input channels.
    if first_in == num_out_ch * 4:
        scale, num_in_ch = 2, num_out_ch
    elif first_in == num_out_ch * 16:
        scale, num_in_ch = 1, num_out_ch
    else:
        scale, num_in_ch = 4, first_in
    return {
        "num_in_ch": num_in_ch,
        "num_out_ch": num_out_ch,
        "scale": scale,
        "num_feat": sd["conv_first.weight"].shape[0],
        "num_block": len({k.split(".")[1] for k in sd if k.startswith("body.")}),
        "num_grow_ch": sd["body.0.rdb1.conv1.weight"].shape[0],
    }


def build_rrdbnet(sd: Tensors, options: dict) -> Built:
    official = to_official_rrdb_keys(sd)
    hp = rrdbnet_hyperparameters(official)
    return Built(RRDBNet(**hp), hp, official)


def rrdbnet_contract(hp: dict) -> ModelContract:
    feat = hp["num_feat"]
    return ModelContract(
        task=Task.UPSCALE, scale=hp["scale"], in_channels=hp["num_in_ch"], out_channels=hp["num_out_ch"],
        value_range=(0.0, 1.0),
        size=SizeRule(multiple=RRDBNet.UNSHUFFLE[hp["scale"]]),
        # The receptive field is far wider than the useful reach: a 32 px margin and a 16 px
        # cross-fade measured within 0.05/255 of untiled (DESIGN.md's tiling table).
        tiling=TilingPolicy(margin=32, overlap=16),
        activation_elements=_sr_activation_elements(feat, hp["scale"]),
        fp16_safe=True, bf16_safe=True,
    )


# --- SRVGGNetCompact -------------------------------------------------------------------------


def looks_like_compact(sd: Tensors) -> bool:
    first = sd.get("body.0.weight")
    if first is None or first.ndim != 4 or not any(k.startswith("body.2.") for k in sd):
        return False
    # Every key is body.N.weight/bias: nothing else lives in the compact net.
    return all(re.fullmatch(r"body\.\d+\.(weight|bias)", k) for k in sd)


def compact_hyperparameters(sd: Tensors, act_type: str | None = None) -> dict:
    conv_indices = sorted(int(k.split(".")[1]) for k in sd if k.endswith(".weight") and sd[k].ndim == 4)
    has_prelu = "body.1.weight" in sd
    if has_prelu:
        act_type = "prelu"
    elif act_type is None:
        raise UnsupportedModelError(
            "an SRVGGNetCompact without PReLU slopes: its activation (relu or leakyrelu) is not stored in "
            "the file. Pass act_type='relu' or act_type='leakyrelu' to load_model"
        )
    num_in_ch = sd["body.0.weight"].shape[1]
    num_feat = sd["body.0.weight"].shape[0]
    last_out = sd[f"body.{conv_indices[-1]}.weight"].shape[0]
    for num_out_ch in dict.fromkeys((num_in_ch, 3, 4, 1)):
        scale = round((last_out / num_out_ch) ** 0.5)
        if scale >= 1 and scale * scale * num_out_ch == last_out:
            break
    else:
        raise UnsupportedModelError(f"an SRVGGNetCompact whose last conv has {last_out} outputs (not scale²·channels)")
    return {
        "num_in_ch": num_in_ch,
        "num_out_ch": num_out_ch,
        "num_feat": num_feat,
        "num_conv": len(conv_indices) - 2,
        "upscale": scale,
        "act_type": act_type,
    }


def build_compact(sd: Tensors, options: dict) -> Built:
    hp = compact_hyperparameters(sd, options.get("act_type"))
    return Built(SRVGGNetCompact(**hp), hp, dict(sd))


def compact_contract(hp: dict) -> ModelContract:
    return ModelContract(
        task=Task.UPSCALE, scale=hp["upscale"], in_channels=hp["num_in_ch"], out_channels=hp["num_out_ch"],
        value_range=(0.0, 1.0), size=SizeRule(),
        # The receptive field is exactly num_conv + 2 convolutions: that margin makes tiling exact.
        tiling=TilingPolicy(margin=hp["num_conv"] + 2, overlap=0, exact=True),
        activation_elements=_sr_activation_elements(hp["num_feat"], hp["upscale"]),
        fp16_safe=True, bf16_safe=True,
    )


def _sr_activation_elements(num_feat: int, scale: int) -> int:
    """A few feature maps at output resolution, per input pixel (measured peaks sit below this)."""
    return 3 * num_feat * scale**2 + 8 * num_feat


# --- UNetDiscriminatorSN --------------------------------------------------------------------

def looks_like_unet_discriminator(sd: Tensors) -> bool:
    return "conv0.weight" in sd and "conv1.weight_orig" in sd and "conv9.weight" in sd


def build_unet_discriminator(sd: Tensors, options: dict) -> Built:
    hp = {"num_in_ch": sd["conv0.weight"].shape[1], "num_feat": sd["conv0.weight"].shape[0],
          "skip_connection": options.get("skip_connection", True)}  # the file cannot tell: official is True
    return Built(UNetDiscriminatorSN(**hp), hp, dict(sd))


def unet_discriminator_contract(hp: dict) -> ModelContract:
    return ModelContract(
        task=Task.DISCRIMINATOR, scale=1, in_channels=hp["num_in_ch"], out_channels=1, value_range=(0.0, 1.0),
        size=SizeRule(multiple=8), tiling=TilingPolicy(margin=0), activation_elements=12 * hp["num_feat"],
        fp16_safe=True, bf16_safe=True,
    )


# --- registry entries --------------------------------------------------------------------------

RRDBNET = ArchitectureEntry(
    architecture="RRDBNet", family="realesrgan", detect=looks_like_rrdbnet, build=build_rrdbnet,
    contract=rrdbnet_contract, create=RRDBNet, wrapper_name="RealESRGANModel",
    # official, legacy ESRGAN (model.N with model.1.sub.*) and BSRGAN layouts: the constraints on
    # the ``model.N`` layouts that look like its legacy one are theirs (NLayerDiscriminator, ResnetGenerator)
)
COMPACT = ArchitectureEntry(
    architecture="SRVGGNetCompact", family="realesrgan", detect=looks_like_compact, build=build_compact,
    contract=compact_contract, create=SRVGGNetCompact, options=("act_type",), wrapper_name="SRVGGNetCompactModel",
    # no constraint: only body.N.weight/bias keys, which no other layout is made of
)
UNET_DISCRIMINATOR = ArchitectureEntry(
    architecture="UNetDiscriminatorSN", family="realesrgan", detect=looks_like_unet_discriminator,
    build=build_unet_discriminator, contract=unet_discriminator_contract, create=UNetDiscriminatorSN,
    options=("skip_connection",),
    # no constraint: conv0 … conv9 with spectral-norm weight_orig, a layout of its own
)
ENTRIES = (RRDBNET, COMPACT, UNET_DISCRIMINATOR)
