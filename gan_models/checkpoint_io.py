"""Reading checkpoints without running pickled code, and writing them atomically.

``.pth/.pt/.ckpt/.bin`` go through ``torch.load(weights_only=True)``, which refuses any global
outside torch's allow-list, so a malicious pickle raises before its payload can run. Failures are
explained by ``unreadable`` (torch's text would suggest the unsafe ``weights_only=False``).
"""

from __future__ import annotations

import os
import pickle
import struct
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from .atomic import atomic_write
from .errors import ModelFileError
from .unreadable import refused_global, why_unreadable

PICKLE_SUFFIXES = {".pth", ".pt", ".ckpt", ".bin", ".pkl"}
SAFETENSORS_SUFFIXES = {".safetensors", ".sft"}
SUPPORTED_SUFFIXES = PICKLE_SUFFIXES | SAFETENSORS_SUFFIXES

# Wrappers that trainers put around the generator's weights, in order of preference:
# the EMA weights are the ones the official tools run.
# g_ema: StyleGAN2-style training checkpoints ({"g", "d", "g_ema", ...}: GPEN's), the averaged generator first
WRAPPER_KEYS = ("params_ema", "params-ema", "g_ema", "params", "state_dict", "model_state_dict", "model", "net", "netG",
                "G")


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw top-level object of a checkpoint file (a dict), loaded safely."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file. Check the path, or put the model in the models folder.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ModelFileError(
            f"{path}: unsupported file type {suffix!r}. Supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}."
        )
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: {why_unreadable(path)}.")
    loaded = _read_safetensors(path) if suffix in SAFETENSORS_SUFFIXES else _read_pickle(path)
    if not isinstance(loaded, Mapping):
        raise ModelFileError(
            f"{path}: holds a {type(loaded).__name__}, not a dictionary of tensors. "
            "Save the model's state_dict() rather than the whole module."
        )
    return dict(loaded)


def _read_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(f"{path}: {why_unreadable(path, err)}.") from err


# Lightning before 1.5 keyed each callback's saved state by the callback's class ({ModelCheckpoint: {...}}),
# so its training checkpoints name classes the safe reader refuses. Names under these modules, and only
# those, are read as an inert stand-in (nothing is imported or run); the tensors load as usual.
LIGHTNING_CALLBACK_MODULES = ("pytorch_lightning.callbacks.", "lightning.pytorch.callbacks.")


class _CallbackStandIn:
    """What a Lightning callback class in a checkpoint is read as: a name, no code."""

    def __init__(self, *_args, **_kwargs):
        pass


def _read_pickle(path: Path) -> dict:
    stand_ins: list[tuple[type, str]] = []
    while True:
        try:
            with warnings.catch_warnings(), torch.serialization.safe_globals(stand_ins):
                # its "please file an issue" about pickle protocols is not for users
                warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
                return torch.load(str(path), map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError,
                AttributeError, KeyError, IndexError, TypeError, struct.error) as err:
            name = refused_global(err)
            if name and name.startswith(LIGHTNING_CALLBACK_MODULES) and len(stand_ins) < 16 \
                    and name not in {n for _, n in stand_ins}:
                stand_ins.append((_CallbackStandIn, name))
                continue
            raise ModelFileError(f"{path}: {why_unreadable(path, err)}.") from err


def unwrap_state_dict(checkpoint: Mapping) -> dict[str, torch.Tensor]:
    """The generator's flat state dict: wrappers removed, a shared ``module.`` prefix stripped."""
    state = checkpoint
    for _ in range(3):  # wrappers can nest ({'state_dict': {'params_ema': ...}})
        inner = next((state[k] for k in WRAPPER_KEYS if isinstance(state.get(k), Mapping)), None)
        if inner is None:
            break
        state = inner
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    for prefix in ("module.", "netG.", "model.module."):
        if tensors and all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix):]: v for k, v in tensors.items()}
    return tensors


def save_state_dict(path: str | os.PathLike, wrapped: Mapping[str, Mapping[str, torch.Tensor]]) -> Path:
    """Write ``{'params': ..., 'params_ema': ...}``-style wrappers (.pth) or one flat dict (.safetensors).

    safetensors cannot nest, so only the preferred network (``params_ema``, else ``params``) goes in.
    """
    path = Path(path)
    if path.suffix.lower() in SAFETENSORS_SUFFIXES:
        from safetensors.torch import save_file

        flat = wrapped.get("params_ema") or wrapped.get("params") or next(iter(wrapped.values()))
        tensors = {k: v.detach().contiguous().cpu() for k, v in flat.items()}
        return atomic_write(path, lambda tmp: save_file(tensors, tmp))
    data = {key: {k: v.detach().cpu() for k, v in sd.items()} for key, sd in wrapped.items()}
    return atomic_write(path, lambda tmp: torch.save(data, tmp))
