"""The nodes' model inputs: our loader's models, and ComfyUI core's UPSCALE_MODEL (a spandrel descriptor,
converted by ``gan_models.spandrel_adapter``: our own module when the registry knows the weights)."""

from __future__ import annotations

from ..gan_models import GanpostError
from ..gan_models.contract import ModelDescriptor
from ..gan_models.spandrel_adapter import from_spandrel, is_spandrel_descriptor
from .run import node_error


def is_ganpost_model(model) -> bool:
    return all(hasattr(model, a) for a in ("module", "contract", "architecture"))


def require_ganpost_model(model, also: str = "") -> None:
    """Refuse anything that is not our loader's descriptor (core's UPSCALE_MODEL, a string) with the fix."""
    if not is_ganpost_model(model):
        raise TypeError(f"ganpost: the model input must come from 'ganpost: Load Upscale Model'{also}, "
                        f"not {type(model).__name__}.")


def as_ganpost_model(model) -> ModelDescriptor:
    """An upscale input: our loader's model as is, core's UPSCALE_MODEL converted (once per loaded model).
    Anything else is refused here (the task would read a string as a file or known name)."""
    if not is_spandrel_descriptor(model):
        require_ganpost_model(model, also=" or core's 'Load Upscale Model'")
        return model
    try:
        return from_spandrel(model)
    except GanpostError as err:
        raise node_error("core UPSCALE_MODEL", err) from err
