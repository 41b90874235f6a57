"""File (or known model name) → safe state dict → detected architecture → :class:`ModelDescriptor`."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import torch

from . import catalogue, registry, spandrel_adapter
from .checkpoint_io import read_checkpoint, unwrap_state_dict
from .contract import ModelDescriptor
from .errors import InvalidOptionError, ModelFileError, UnsupportedModelError
from .architecture import Tensors

log = logging.getLogger(__name__)


def load_model(
    path_or_name: str | os.PathLike,
    *,
    denoise_strength: float | None = None,
    models_dir: str | os.PathLike | None = None,
    download: bool = True,
    device: str | torch.device = "cpu",
    **options,
) -> ModelDescriptor:
    """Load a model from a checkpoint file or a known official model name.

    ``denoise_strength`` (0..1) applies to realesr-general-x4v3: its weights are interpolated
    with the ``realesr-general-wdn-x4v3`` companion as the official tool does (1 = pure x4v3).
    ``options`` are the detected family's load options, e.g. ``act_type`` for compact models
    without PReLU, whose activation the file does not record.
    """
    path = catalogue.resolve(path_or_name, models_dir=models_dir, download=download)
    if path.suffix.lower() == ".onnx":  # an exported graph: its contract is in the file, onnxruntime runs it
        from .onnx_load import load_onnx

        return load_onnx(path, device=device, denoise_strength=denoise_strength, **options)
    sd = unwrap_state_dict(read_checkpoint(path))
    if denoise_strength is not None and denoise_strength != 1:
        sd = _interpolate_with_companion(path, sd, denoise_strength, models_dir, download)
    return describe_state_dict(sd, source=path, device=device, **options)


def describe_state_dict(
    sd: Tensors, *, source: Path | None = None, device: str | torch.device = "cpu", **options
) -> ModelDescriptor:
    """Detect the architecture of a flat state dict and build the module with ``strict=True``.

    ``options`` are family-specific load options (e.g. ``act_type``); None values are ignored.
    """
    label = str(source) if source else "state dict"
    if not sd:
        raise UnsupportedModelError(f"{label}: contains no tensors. Is this a model checkpoint?")
    entry = registry.detect(sd, label)
    options = {k: v for k, v in options.items() if v is not None}
    if source is not None and entry.sidecar is not None:
        options = {**entry.sidecar(Path(source)), **options}
    unknown = set(options) - set(entry.options)
    if unknown:
        raise InvalidOptionError(f"{label} is a {entry.architecture}, which takes no {', '.join(sorted(unknown))} option.")
    try:
        # Building a module runs its default initialisation, which draws from torch's global generator; the
        # weights are replaced at once, and a caller's seeded stream (a training run's) must not move.
        with torch.random.fork_rng(devices=[]):
            built = entry.build(sd, options)
        built.module.load_state_dict(built.state_dict, strict=True)
    except UnsupportedModelError as err:
        raise UnsupportedModelError(f"{label}: looks like {entry.architecture} but is {err}.") from err
    except (RuntimeError, KeyError, IndexError, ValueError) as err:
        raise UnsupportedModelError(
            f"{label}: looks like {entry.architecture} but its tensors do not fit that network "
            f"({str(err).splitlines()[0][:300]}). The file may be a variant we do not support."
        ) from err
    module = built.module.eval().requires_grad_(False).to(device)
    return ModelDescriptor(
        architecture=entry.architecture,
        contract=_with_forward_options(entry.contract(built.hyperparameters), entry.forward_options),
        param_count=sum(p.numel() for p in module.parameters()),
        source=source,
        module=module,
        hyperparameters=built.hyperparameters,
    )


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


def _with_forward_options(contract, options):
    if not options:
        return contract
    keywords = tuple(dict.fromkeys((*contract.call_options, *(o.forward_keyword for o in options))))
    return dataclasses.replace(contract, forward_options=tuple(options), call_options=keywords)


def as_model(model, **load_options) -> ModelDescriptor:
    """The one resolver every task uses: a loaded model as is, a file or known name loaded, anything with
    ``to_descriptor()`` (the diffusers ModelMixin wrappers) or a spandrel descriptor converted."""
    if isinstance(model, ModelDescriptor):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_model(model, **load_options)
    if hasattr(model, "to_descriptor"):
        return model.to_descriptor()
    if spandrel_adapter.is_spandrel_descriptor(model):
        return spandrel_adapter.from_spandrel(model)
    raise InvalidOptionError(f"a {type(model).__name__} is not a ganpost model: pass a file, a known name, "
                             "a load_model result, a ganpost diffusers wrapper or a spandrel model")
