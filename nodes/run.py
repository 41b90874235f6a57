"""One task run the ComfyUI way, for every task node: the rest of a node is converting its inputs and outputs.

:func:`run_task` makes room on ComfyUI's device for the models the run will put there, reports
progress on a ProgressBar (whose update is also ComfyUI's cancel point), passes ComfyUI's interrupt
check as ``cancel`` (it raises ComfyUI's own exception, which is never caught here), turns our
errors into a RuntimeError naming the model (ComfyUI shows its message as is) and empties the
device cache however the run ends. Options are checked by the task, once: nodes do not repeat
its checks, and its message reaches the user with the task's keywords renamed to the node's
input names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import comfy.model_management as mm
import comfy.utils
import torch

from ..gan_models import GanpostError
from ..gan_models.contract import ModelDescriptor
from ..runtime.memory import estimate_bytes
from ..runtime.precision import resolve_device, resolve_dtype
from .image_convert import image_to_core

Plan = Iterable[tuple[ModelDescriptor | None, int | None]]


def run_task(task: Callable, image: torch.Tensor, mask: torch.Tensor | None, model, *, room: Plan = (),
             name: str | None = None, terms: dict[str, str] | None = None, **options):
    """``task(batch, model, device=…, progress=…, cancel=…, **options)`` on ComfyUI's device.

    ``room``: (model, tile side) for each model the run puts on the device (side None: its weights
    only), to make room for before it starts. ``name`` names the run in errors (default: the model's
    name); ``terms`` renames task keywords to the node's inputs in messages (``model_b`` → ``translator_b``).
    """
    device = mm.get_torch_device()
    bar = comfy.utils.ProgressBar(1)
    try:
        batch = image_to_core(image, mask)
        mm.free_memory(room_bytes(room, options.get("precision", "auto"), device), device)
        return task(batch, model, device=device, progress=lambda done, total: bar.update_absolute(done, total),
                    cancel=mm.throw_exception_if_processing_interrupted, **options)
    except GanpostError as err:
        raise node_error(name or getattr(model, "name", None) or "model", err, terms) from err
    finally:
        mm.soft_empty_cache()


def node_error(name: str, err: Exception, terms: dict[str, str] | None = None) -> RuntimeError:
    """``ganpost (<name>): <message>``, the task's keywords named as the node's inputs."""
    message = str(err)
    for keyword, node_input in (terms or {}).items():
        # model='x' → translator 'x', a bare model= → translator; an underscored name (model_b) anywhere.
        # A plain word stays: "the model's default" is not an input.
        message = re.sub(rf"(?<![\w.-]){keyword}=('[^']*')?",
                         lambda found: f"{node_input} {found.group(1)}" if found.group(1) else node_input, message)
        if "_" in keyword:
            message = re.sub(rf"(?<![\w.-]){keyword}\b", node_input, message)
    return RuntimeError(f"ganpost ({name}): {message}")


def room_bytes(plan: Plan, precision: str, device) -> int:
    """Bytes the run needs on ``device``: each model's weights plus one tile's activations.

    Only an estimate to make room with: a precision the model cannot take counts as fp32 here,
    because the task refuses it with its own message a moment later.
    """
    device = resolve_device(device)
    total = 0
    for model, side in plan:
        if not isinstance(model, ModelDescriptor):
            continue
        try:
            dtype = resolve_dtype(model, precision, device)
        except GanpostError:
            dtype = torch.float32
        if side is None:
            total += model.param_count * torch.empty((), dtype=dtype).element_size()
        else:
            total += estimate_bytes(model, dtype, side)
    return total


def longest_side(image: torch.Tensor) -> int:
    """The longer side of a ComfyUI IMAGE (B×H×W×C, or H×W×C)."""
    return max(image.shape[-3:-1])
