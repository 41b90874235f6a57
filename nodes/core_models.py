"""The nodes' model inputs: our loader's models, and ComfyUI core's UPSCALE_MODEL (a spandrel descriptor,
converted by ``gan_models.spandrel_adapter``: our own module when the registry knows the weights)."""

from __future__ import annotations

from ..gan_models import GanpostError
from ..gan_models.contract import ModelDescriptor
from ..gan_models.spandrel_adapter import from_spandrel, is_spandrel_descriptor
from .run import node_error


def as_ganpost_model(model) -> ModelDescriptor:
    """An upscale input: our loader's model as is, core's UPSCALE_MODEL converted (once per loaded model).
    Anything else (a string the task would read as a file or known name) is refused here with the fix."""
    if not is_spandrel_descriptor(model):
        if not all(hasattr(model, a) for a in ("module", "contract", "architecture")):
            raise TypeError("ganpost: the model input must come from 'ganpost: Load Upscale Model' or core's "
                            f"'Load Upscale Model', not {type(model).__name__}.")
        return model
    try:
        return from_spandrel(model)
    except GanpostError as err:
        raise node_error("core UPSCALE_MODEL", err) from err
