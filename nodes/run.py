"""One task run the ComfyUI way, for every task node: the rest of a node converts its inputs and outputs.

:func:`run_task` makes room on ComfyUI's device for what the task says a run needs, reports
progress on a ProgressBar (whose update is also ComfyUI's cancel point), passes ComfyUI's interrupt
check as ``cancel`` (its exception is never caught here), turns our errors into a RuntimeError
naming the model (ComfyUI shows its message as is) and empties the device cache however the run
ends. The task checks the options, once; its message reaches the user with its keywords renamed
to the node's inputs.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import comfy.model_management as mm
import comfy.utils
import torch

from ..gan_models import GanpostError
from .image_convert import image_to_core


def run_task(task: Callable, image: torch.Tensor, mask: torch.Tensor | None, model, *,
             needs: Callable, name: str | None = None, terms: dict[str, str] | None = None, **options):
    """``task(batch, model, device=, progress=, cancel=, **options)`` on ComfyUI's device.

    ``needs``: the task's ``device_bytes(longest_side, model, device=, **options)``, freed first.
    ``name`` names the run in errors (default: the model's); ``terms``: task keyword → node input.
    """
    device = mm.get_torch_device()
    bar = comfy.utils.ProgressBar(1)
    try:
        batch = image_to_core(image, mask)
        mm.free_memory(needs(max(image.shape[-3:-1]), model, device=device, **options), device)
        return task(batch, model, device=device, progress=lambda done, total: bar.update_absolute(done, total),
                    cancel=mm.throw_exception_if_processing_interrupted, **options)
    except GanpostError as err:
        raise node_error(name or getattr(model, "name", None) or "model", err, terms) from err
    finally:
        mm.soft_empty_cache()


def node_error(name: str, err: Exception, terms: dict[str, str] | None = None) -> RuntimeError:
    """``ganpost (<name>): <message>``, with the task's keywords as the node's inputs: ``model='x'`` →
    ``translator 'x'``, a bare ``model=`` → ``translator``, an underscored name (``model_b``) anywhere.
    A plain word stays one: "the model's default" names no input."""
    message = str(err)
    for keyword, node_input in (terms or {}).items():
        message = re.sub(rf"(?<![\w.-]){keyword}=('[^']*')?",
                         lambda found: f"{node_input} {found.group(1)}" if found.group(1) else node_input, message)
        if "_" in keyword:
            message = re.sub(rf"(?<![\w.-]){keyword}\b", node_input, message)
    return RuntimeError(f"ganpost ({name}): {message}")
