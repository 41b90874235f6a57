"""File (or known model name) → safe state dict → detected architecture → :class:`ModelDescriptor`."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import catalogue, realesrgan
from .checkpoint_io import read_checkpoint, unwrap_state_dict
from .descriptor import ModelDescriptor
from .errors import InvalidOptionError, ModelFileError, UnsupportedModelError

log = logging.getLogger(__name__)
Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Architecture:
    name: str
    detect: Callable[[Tensors], bool]
    build: Callable[..., tuple[nn.Module, dict, Tensors]]
    describe: Callable[[dict], dict]
    """Descriptor fields (scale, channels, size multiple, precision safety) from the hyper-parameters."""


def _describe_rrdbnet(hp: dict) -> dict:
    return dict(task="upscale", scale=hp["scale"], in_channels=hp["num_in_ch"], out_channels=hp["num_out_ch"],
                input_range=(0.0, 1.0), size_multiple={4: 1, 2: 2, 1: 4}[hp["scale"]], fp16_safe=True, bf16_safe=True)


def _describe_compact(hp: dict) -> dict:
    return dict(task="upscale", scale=hp["upscale"], in_channels=hp["num_in_ch"], out_channels=hp["num_out_ch"],
                input_range=(0.0, 1.0), size_multiple=1, fp16_safe=True, bf16_safe=True)


ARCHITECTURES: list[Architecture] = [
    Architecture("RRDBNet", realesrgan.looks_like_rrdbnet, realesrgan.build_rrdbnet, _describe_rrdbnet),
    Architecture("SRVGGNetCompact", realesrgan.looks_like_compact, realesrgan.build_compact, _describe_compact),
]


def load_model(
    path_or_name: str | os.PathLike,
    *,
    denoise_strength: float | None = None,
    act_type: str | None = None,
    models_dir: str | os.PathLike | None = None,
    download: bool = True,
    device: str | torch.device = "cpu",
) -> ModelDescriptor:
    """Load an upscaler from a checkpoint file or a known official model name.

    ``denoise_strength`` (0..1) applies to realesr-general-x4v3: its weights are interpolated
    with the ``realesr-general-wdn-x4v3`` companion as the official tool does (1 = pure x4v3).
    ``act_type`` is needed only for compact models without PReLU, whose activation the file
    does not record.
    """
    path = catalogue.resolve(path_or_name, models_dir=models_dir, download=download)
    sd = unwrap_state_dict(read_checkpoint(path))
    if denoise_strength is not None and denoise_strength != 1:
        sd = _interpolate_with_companion(path, sd, denoise_strength, models_dir, download)
    return describe_state_dict(sd, source=path, act_type=act_type, device=device)


def describe_state_dict(
    sd: Tensors, *, source: Path | None = None, act_type: str | None = None, device: str | torch.device = "cpu"
) -> ModelDescriptor:
    """Detect the architecture of a flat state dict and build the module with ``strict=True``."""
    label = str(source) if source else "state dict"
    if not sd:
        raise UnsupportedModelError(f"{label}: contains no tensors. Is this a model checkpoint?")
    for arch in ARCHITECTURES:
        if not arch.detect(sd):
            continue
        try:
            kwargs = {"act_type": act_type} if arch.name == "SRVGGNetCompact" else {}
            module, hp, official = arch.build(sd, **kwargs)
            module.load_state_dict(official, strict=True)
        except UnsupportedModelError as err:
            raise UnsupportedModelError(f"{label}: looks like {arch.name} but is {err}.") from err
        except (RuntimeError, KeyError, IndexError, ValueError) as err:
            raise UnsupportedModelError(
                f"{label}: looks like {arch.name} but its tensors do not fit that network "
                f"({str(err).splitlines()[0][:300]}). The file may be a variant we do not support."
            ) from err
        module.eval().requires_grad_(False).to(device)
        return ModelDescriptor(
            architecture=arch.name,
            param_count=sum(p.numel() for p in module.parameters()),
            source=source,
            module=module,
            hyperparameters=hp,
            **arch.describe(hp),
        )
    raise UnsupportedModelError(_unsupported_message(label, sd))


def _unsupported_message(label: str, sd: Tensors) -> str:
    keys = list(sd)
    tried = ", ".join(a.name for a in ARCHITECTURES)
    msg = (f"{label}: no supported architecture matches its {len(keys)} tensors "
           f"(first keys: {', '.join(keys[:5])}). Tried: {tried}.")
    joined = " ".join(keys[:2000])
    if any(s in joined for s in ("lora_up", "lora_down", "lora_A", "lora_B", ".alpha ")) or joined.endswith(".alpha"):
        msg += " This looks like a LoRA: load it with your diffusion model, not as an upscaler."
    elif any(s in joined for s in ("model.diffusion_model.", "first_stage_model.", "double_blocks.", "down_blocks.")):
        msg += " This looks like a diffusion model checkpoint, not a GAN upscaler."
    return msg


def _interpolate_with_companion(path: Path, sd: Tensors, strength: float, models_dir, download: bool) -> Tensors:
    if not 0.0 <= strength <= 1.0:
        raise InvalidOptionError(f"denoise_strength must be between 0 and 1, not {strength}")
    companion_name = catalogue.denoise_companion(path)
    if companion_name is None:
        raise UnsupportedModelError(
            f"{path}: denoise_strength only applies to realesr-general-x4v3 (with its wdn companion file)."
        )
    companion_dir = models_dir if models_dir is not None else path.parent
    companion = catalogue.resolve(companion_name, models_dir=companion_dir, download=download)
    other = unwrap_state_dict(read_checkpoint(companion))
    if other.keys() != sd.keys() or any(other[k].shape != sd[k].shape for k in sd):
        raise ModelFileError(f"{companion}: does not have the same tensors as {path}, so they cannot be interpolated.")
    log.info("interpolating %s and %s with denoise strength %.2f", path.name, companion.name, strength)
    return {k: strength * sd[k] + (1 - strength) * other[k] for k in sd}
