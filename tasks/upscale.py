"""``upscale(image, model)``: super-resolution on top of the runner.

What is upscaling-specific lives here: alpha (through the network as grey, or resized), the
final output scale or size, grey images, and accepting any mix of sizes and modes in one list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from ..gan_models.contract import ModelDescriptor, Task
from ..gan_models.errors import ImageInputError, InvalidOptionError
from ..gan_models.options import Option, Options
from ..runtime.imaging import convert
from ..runtime.imaging.resize import resize, target_size
from ..runtime.memory import PLANNING_TILE, image_job_bytes, placed_bytes, require_memory
from ..runtime.runner import Runner
from .shared_options import (
    DEVICE, PRECISION, SEED, TILE, check_runtime, forward_keywords, forward_options, model_first, model_for,
)
from .shared_options import takes_seed  # noqa: F401 - where front-ends imported it from before tasks/shared_options
from .wrong_model import wrong_model

log = logging.getLogger(__name__)
ALPHA_MODES = ("network", "resize")
MEMORY_FIX = "Ask for a smaller output (outscale= or size=), or split the image into parts"


def _size(value) -> tuple[int, int]:
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
        raise InvalidOptionError(f"size must be (width, height) in whole pixels ≥ 1, such as (1920, 1080), not {value!r}")
    return tuple(value)


OPTIONS = Options(
    TILE,
    Option("outscale", float, None, "final scale relative to the input, e.g. 2 or 1.5 with a ×4 model",
           minimum=0.0001, none="the model's own scale"),
    Option("size", tuple, None, "exact output size (width, height), e.g. 1920x1080; instead of outscale",
           none="from outscale", convert=_size),
    PRECISION,
    DEVICE,
    Option("alpha_mode", str, "network", "network: run transparency through the model as grey (sharp edges, one "
           "more pass); resize: resize it bicubically (faster)", choices=ALPHA_MODES),
    SEED,
)


def upscale(
    image,
    model: ModelDescriptor | str,
    *,
    tile: int | str = "auto",
    outscale: float | None = None,
    size: tuple[int, int] | None = None,
    precision: str = "auto",
    device: str | torch.device | None = None,
    alpha_mode: str = "network",
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool | None] | None = None,
    **model_options,
):
    """Upscale a PIL image (or list), numpy array (8/16-bit or float) or tensor; returns the same kind.

    model:      a loaded upscaler, a model file or a known name (``ganpost models`` lists them).

    tile:       input tile side in pixels, ``"auto"`` (from free memory), or 0 for one pass.
    outscale:   final scale relative to the input (e.g. 1.5 with a ×4 model); ``size`` = (W, H) instead.
    precision:  auto | fp32 | fp16 | bf16. auto = fp16 on CUDA, bf16 on CPUs with bf16 matrix units,
                where the model is safe in it; a tile that overflows in half precision is redone in fp32.
    alpha_mode: "network" runs alpha through the model as grey; "resize" resizes it bicubically.
    seed:       for models that draw noise (AuraSR): the same seed gives the same image; others ignore it.
    model_options: options the model's family declares for its forward (``ModelContract.forward_options``).
    progress:   called as ``progress(done_tiles, total_tiles)``.
    cancel:     checked between tiles; returning True (or raising) stops the run.

    A list may mix sizes and modes (RGB, RGBA, grey); each image comes back in its own mode.
    The old order ``upscale(model, image)`` still works for one release, with a DeprecationWarning.
    """
    image, model = model_first("upscale", image, model)
    model = model_for("upscale", model)
    options = check_options(model, tile=tile, outscale=outscale, size=size, precision=precision, device=device,
                            alpha_mode=alpha_mode, seed=seed)
    outscale, size = options["outscale"], options["size"]
    keywords = forward_keywords(Task.UPSCALE, model, seed, model_options)
    batch = convert.to_core(image)
    plans = []
    for item in batch.items:
        _, _, h, w = item.rgb.shape
        out_h, out_w = target_size(h, w, model.scale, outscale, size)
        alpha_through_network = (item.alpha is not None and alpha_mode == "network"
                                 and not _constant(item.alpha))
        plans.append((item, out_h, out_w, alpha_through_network))
    _require_memory(model, plans)

    jobs = []
    for item, _, _, through_network in plans:
        jobs.append(item.rgb)
        if through_network:
            jobs.append(item.alpha.expand(-1, 3, -1, -1))
    with Runner(model, device=device, precision=precision, progress=progress, cancel=cancel) as runner:
        results = runner.run(jobs, tile, **keywords)
        outputs = []
        for item, out_h, out_w, through_network in plans:
            rgb = resize(next(results), out_h, out_w)
            alpha = None
            if through_network:
                alpha = resize(next(results).mean(0, keepdim=True).clamp_(0, 1), out_h, out_w)
            elif item.alpha is not None:
                alpha = resize_alpha(item.alpha, out_h, out_w)
            outputs.append((rgb, alpha))
    return convert.from_core(outputs, batch)


def device_bytes(longest_side: int, model: ModelDescriptor, *, tile="auto", precision: str = "auto", device=None,
                 **_options) -> int:
    """What a run needs on the device to start: the weights and one tile's activations."""
    side = longest_side if tile == 0 else min(PLANNING_TILE if tile == "auto" else tile, longest_side)
    return placed_bytes([(model, side)], precision, device)


def check_memory(model: ModelDescriptor, width: int, height: int, *, channels: int = 3, sample_bytes: int = 1,
                 outscale: float | None = None, size: tuple[int, int] | None = None, label: str = "the image",
                 with_input: bool = True) -> None:
    """Refuse an image whose upscale would not fit in the memory available now, before it is read.

    For front-ends that know an image's size from its file header (``read_header``): the decoded
    file and its working copies count too (``with_input``).
    """
    out_h, out_w = target_size(height, width, model.scale, outscale, size)
    needed = image_job_bytes(width * height, width * height * model.scale ** 2, out_w * out_h, channels=channels,
                             sample_bytes=sample_bytes, with_input=with_input)
    require_memory(needed, f"{label}: {width}×{height} at ×{model.scale} → {out_w}×{out_h}", MEMORY_FIX)


def _require_memory(model: ModelDescriptor, plans) -> None:
    """The whole call's outputs are held together until they are given back: refuse what cannot fit."""
    needed = 0
    for item, out_h, out_w, _ in plans:
        _, _, h, w = item.rgb.shape
        needed += image_job_bytes(h * w, h * w * model.scale ** 2, out_w * out_h, channels=item.spec.channels,
                                  with_input=False)  # the caller's image and its float copy exist already
    if len(plans) == 1:
        item, out_h, out_w, _ = plans[0]
        what = f"upscaling a {item.rgb.shape[-1]}×{item.rgb.shape[-2]} image ×{model.scale} to {out_w}×{out_h}"
        require_memory(needed, what, MEMORY_FIX)
    else:
        require_memory(needed, f"upscaling {len(plans)} images in one call",
                       f"Pass fewer images per call. {MEMORY_FIX}")


def check_options(model: ModelDescriptor, *, given_as: str = "model", **options) -> dict:
    """Every option checked against ``OPTIONS`` (and the model) before any image is read; returns them normalised.

    The front-ends call this once per run. ``given_as``: the keyword the model came in (``upscaler``
    when restore_faces checks its background model).
    """
    if model.contract.task != Task.UPSCALE:
        raise wrong_model(model, "an upscaler", given_as=given_as)
    if model.in_channels != 3:
        raise ImageInputError(f"{model.name} takes {model.in_channels}-channel input; only RGB models are supported.")
    forward = {k: options.pop(k) for k in list(options) if k in forward_options(Task.UPSCALE)}
    checked = OPTIONS.defaults() | OPTIONS.check(options)
    if checked["outscale"] is not None and checked["size"] is not None:
        raise InvalidOptionError("give outscale= or size=, not both")
    target_size(64, 64, model.scale, checked["outscale"], checked["size"])  # validates outscale / size together
    check_runtime(model, precision=checked["precision"], device=checked["device"])
    forward_keywords(Task.UPSCALE, model, None, forward)
    return checked


def _constant(alpha: torch.Tensor) -> bool:
    return bool((alpha == alpha.flatten()[0]).all())


def resize_alpha(alpha: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """``1×1×H×W`` alpha → ``1×out_h×out_w``: bicubic, or exact when it is constant."""
    if _constant(alpha):
        return torch.full((1, out_h, out_w), alpha.flatten()[0].item())
    return resize(alpha[0], out_h, out_w)
