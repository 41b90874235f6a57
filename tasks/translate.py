"""``translate(image, model)``: pix2pix / CycleGAN image-to-image translation on top of the runner.

What is translation-specific lives here: keeping the input size (reflect-pad to the network's
multiple and crop back, or resize to the training size and back), grey and colour models,
the CycleGAN direction, and how norm and dropout layers behave at test time.

Test time. The official test script never calls ``eval()``: batch norm normalises each image by
its own statistics and dropout stays on. That is the default for models where it matters
(batch norm or dropout), with dropout drawn from ``seed`` so a result can be reproduced;
``test_time="eval"`` uses the running statistics and no dropout instead. Instance-norm models
give the same output either way.

Tiling. Batch norm (as trained) and instance norm normalise by the statistics of everything they
see, so a tile normalised alone differs from the whole image: the real vintage CycleGAN
generator (instance norm) on a 448×384 photo in 256 px tiles differs from one pass by 4.6/255 on
average, 53/255 at most. ``tile="auto"`` therefore runs the whole image in one pass whenever its
activations fit the memory budget (about 5 megapixels for a 64-filter ResNet at the 8 GiB CPU
budget), and tiles only beyond that, with a warning; the runner then halves tiles on
out-of-memory as for upscaling. ResNet tiles read a context margin of the network's whole
receptive field on the ×4 grid, which makes tiling exact for models without image statistics
(no norm, or batch norm in eval mode); U-Net tiles are windows of the network's native size
(2**depth), overlapping and cross-faded.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable

import torch

from ..gan_models.contract import AtInference, ModelDescriptor, Task
from ..gan_models.errors import InvalidOptionError
from ..gan_models.options import Option, Options
from ..runtime.imaging import convert
from ..runtime.imaging.resize import resize
from ..runtime.memory import MIN_TILE, activation_budget, placed_bytes
from ..runtime.runner import Runner
from ..runtime.seeding import seeded_rng
from .shared_options import DEVICE, PRECISION, SEED, TILE, check_runtime, forward_keywords, forward_options, model_for
from .wrong_model import wrong_model

log = logging.getLogger(__name__)
SIZE_MODES = ("pad", "resize")
DIRECTIONS = ("AtoB", "BtoA")
DEFAULT_TRAIN_SIZE = 256  # the official load/crop size at test time
PLANNING_SIDE = 1024  # the side a tile='auto' run is planned for (auto prefers one pass, from what is free)
DROPOUT_SEED = 0  # seed=None still gives the same image on every call: dropout draws from this
NEEDS_MODEL_B = ("direction='BtoA' needs model_b=, the B→A generator (a CycleGAN's *_net_G_B.pth); a single "
                 "generator only translates the way it was trained.")


def _train_size(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidOptionError(f"train_size must be a positive number of pixels such as 256, not {value!r}")
    return value


OPTIONS = Options(
    Option("direction", str, "AtoB", "AtoB runs model; BtoA runs model_b, a CycleGAN's B→A generator",
           choices=DIRECTIONS),
    Option("size_mode", str, "pad", "pad: every pixel kept (padded to the network's multiple, cropped back); "
           "resize: run at train_size × train_size like the official test script, then resize back",
           choices=SIZE_MODES),
    Option("train_size", int, None, "the side the network runs at with size_mode resize", minimum=1,
           none=f"{DEFAULT_TRAIN_SIZE}", convert=_train_size),
    Option("test_time", str, None, "as_trained: batch statistics and dropout on, as the official test script; eval: "
           "running statistics, no dropout", choices=tuple(m.value for m in AtInference),
           none="the model's default, as_trained where it makes a difference"),
    TILE,
    PRECISION,
    DEVICE,
    Option("seed", int, None, "dropout's seed in as_trained mode: the same seed gives the same image",
           minimum=0, maximum=SEED.maximum, none=f"seed {DROPOUT_SEED}, so every call gives the same image"),
)


def translate(
    image,
    model: ModelDescriptor | str,
    *,
    model_b: ModelDescriptor | str | None = None,
    direction: str = "AtoB",
    size_mode: str = "pad",
    train_size: int | None = None,
    tile: int | str = "auto",
    precision: str = "auto",
    device: str | torch.device | None = None,
    test_time: str | AtInference | None = None,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool | None] | None = None,
    **model_options,
):
    """Translate a PIL image (or list), numpy array (8/16-bit or float) or tensor; returns the same kind.

    model:      a pix2pix/CycleGAN generator (descriptor, file or known name). For a CycleGAN pair
                give ``model`` = G_A (A→B) and ``model_b`` = G_B (B→A) and pick ``direction``.
    size_mode:  "pad" (default) reflect-pads to the network's multiple and crops back, keeping
                every pixel; "resize" resizes to ``train_size`` (default 256) × ``train_size`` as
                the official test script does, and back to the input size.
    tile:       "auto" (one pass when it fits memory), 0 (always one pass) or a tile side in pixels.
    precision:  auto | fp32 | fp16 | bf16, as for ``upscale``.
    test_time:  "as_trained" (the official test script: batch statistics, dropout on) or "eval";
                None takes the model's default, the one that reproduces the official outputs.
    seed:       seeds dropout in "as_trained" mode, so the same call gives the same image
                (None: seed 0, so a plain call is reproducible too).
    model_options: options the generator's family declares for its forward.
    progress, cancel: as for ``upscale``.

    Each image keeps its size, mode and alpha. A grey model given colour reads its luma; a
    colour model given grey reads it as three equal channels.
    """
    generator = _generator(model, model_b, direction)
    generator = with_test_time(generator, test_time)
    check_options(generator, size_mode=size_mode, train_size=train_size, tile=tile, precision=precision,
                  device=device, seed=seed, **model_options)
    keywords = forward_keywords(Task.TRANSLATE, generator, None, model_options)
    batch = convert.to_core(image)
    side = _train_side(generator, train_size) if size_mode == "resize" else None

    jobs = []
    for item in batch.items:
        x = _to_model_channels(item.rgb, generator)
        jobs.append(x if side is None else resize(x[0], side, side)[None])
    outputs = []
    with Runner(generator, device=device, precision=precision, progress=progress, cancel=cancel) as runner:
        # One tile size for the list, from its largest image: one pass for all when that one fits.
        tile = _tile_for(runner, tile, max(x.shape[-2] for x in jobs), max(x.shape[-1] for x in jobs))
        with seeded_rng(DROPOUT_SEED if seed is None else seed, runner.device):
            for item, y in zip(batch.items, runner.run(jobs, tile, **keywords)):
                if side is not None:
                    y = resize(y.clamp(0, 1), *item.rgb.shape[-2:])
                outputs.append((y.repeat(3, 1, 1) if y.shape[0] == 1 else y, _alpha(item)))
    return convert.from_core(outputs, batch)


def check_options(model: ModelDescriptor, *, model_b: ModelDescriptor | None = None, given_as: str = "model",
                  **options) -> dict:
    """Refuse a model that is no translator and bad options (``OPTIONS``) before any image is read; returns
    them normalised (``given_as``: the model's keyword; ``model_b``: a CycleGAN's other generator, which
    ``direction="BtoA"`` runs and needs)."""
    _check_translator(model, given_as)
    if model_b is not None:
        _check_translator(model_b, "model_b")
    forward = {k: options.pop(k) for k in list(options) if k in forward_options(Task.TRANSLATE)}
    checked = OPTIONS.defaults() | OPTIONS.check(options)
    if checked["direction"] == "BtoA":
        if model_b is None:
            raise InvalidOptionError(NEEDS_MODEL_B)
        model = model_b  # the generator that runs
    if checked["train_size"] is not None and checked["size_mode"] != "resize":
        raise InvalidOptionError("train_size applies to size_mode='resize' only.")
    check_runtime(model, precision=checked["precision"], device=checked["device"])
    forward_keywords(Task.TRANSLATE, model, None, forward)
    if model.out_channels not in (1, 3):
        raise InvalidOptionError(f"{model.name} writes {model.out_channels} channels; only grey or RGB output "
                                 "can become an image.")
    return checked


def device_bytes(longest_side: int, model: ModelDescriptor, *, model_b: ModelDescriptor | None = None,
                 direction: str = "AtoB", tile="auto", precision: str = "auto", device=None, **_options) -> int:
    """What a run needs on the device to start: the generator that runs, with one pass or tile's activations."""
    side = min(PLANNING_SIDE, longest_side) if tile == "auto" else tile or longest_side
    return placed_bytes([(model_b if direction == "BtoA" else model, side)], precision, device)


def with_test_time(model: ModelDescriptor, test_time: str | AtInference | None) -> ModelDescriptor:
    """The same network with another test-time behaviour (it shares the module and working copies)."""
    if test_time is None:
        return model
    try:
        mode = AtInference(test_time)
    except ValueError:
        raise InvalidOptionError(f"test_time must be one of {', '.join(m.value for m in AtInference)}, "
                                 f"not {test_time!r}") from None
    if mode == model.contract.test_time:
        return model
    tiling = model.contract.tiling
    if tiling.exact and mode == AtInference.AS_TRAINED:  # batch statistics depend on the whole tile
        tiling = dataclasses.replace(tiling, exact=False)
    return dataclasses.replace(model, contract=dataclasses.replace(model.contract, test_time=mode, tiling=tiling))


# ------------------------------------------------------------------------------ steps
def _as_model(model, keyword: str = "model") -> ModelDescriptor:
    return model_for("translate", model, keyword)


def _check_translator(model: ModelDescriptor, label: str) -> None:
    if model.contract.task == Task.TRANSLATE:
        return
    raise wrong_model(model, "an image-to-image translator", given_as=label, hints={
        Task.DISCRIMINATOR: "pass the generator file (latest_net_G.pth, or *_net_G_A.pth / *_net_G_B.pth of a "
                            "CycleGAN)"})


def _generator(model, model_b, direction: str) -> ModelDescriptor:
    if direction not in DIRECTIONS:
        raise InvalidOptionError(f"direction must be AtoB or BtoA, not {direction!r}")
    if direction == "BtoA":
        if model_b is None:
            raise InvalidOptionError(NEEDS_MODEL_B)
        _check_translator(_as_model(model), "model")  # refuse a wrong pair even when only G_B runs
        chosen = _as_model(model_b, "model_b")
        _check_translator(chosen, "model_b")
        return chosen
    chosen = _as_model(model)
    if model_b is not None:
        _check_translator(_as_model(model_b, "model_b"), "model_b")
    return chosen


def _to_model_channels(rgb: torch.Tensor, model: ModelDescriptor) -> torch.Tensor:
    if model.in_channels == 3:
        return rgb
    if model.in_channels == 1:
        if not bool((rgb[:, :1] == rgb[:, 1:]).all()):
            log.info("%s reads grey images: translating the colour input's luma", model.name)
        return convert.to_grey(rgb)
    raise InvalidOptionError(f"{model.name} reads {model.in_channels}-channel input; only grey (1) or RGB (3) "
                             "models can translate images.")


def _alpha(item: convert.CoreImage) -> torch.Tensor | None:
    return None if item.alpha is None else item.alpha[0]  # same size: translation keeps alpha as it is


def _train_side(model: ModelDescriptor, train_size: int | None) -> int:
    side = DEFAULT_TRAIN_SIZE if train_size is None else train_size
    multiple = model.size_multiple
    rounded = max(multiple, -(-side // multiple) * multiple)
    if rounded != side:
        log.info("train_size %d is not a multiple of %d (what %s needs); using %d", side, multiple, model.name, rounded)
    return rounded


def _tile_for(runner: Runner, tile: int | str, h: int, w: int) -> int | str:
    """One pass when the image fits (norm statistics then cover the whole image), else tiles.

    U-Net tiles are sized so that each read (tile, cross-fade and margins) is a whole number of
    the network's native windows, so no read is padded far beyond what it holds.
    """
    contract = runner.contract
    if tile == "auto":
        if contract.activation_bytes_per_pixel(runner.dtype) * h * w <= activation_budget(runner.device):
            return 0
        side = runner.tile_side("auto", h, w)
    elif isinstance(tile, int) and not isinstance(tile, bool) and tile >= MIN_TILE:
        side = tile
    else:
        return tile  # 0, or a bad value the runner refuses with its message
    if side >= max(h, w):
        return side
    if not contract.tiling.exact:
        log.warning("%s: tiling a %d×%d image in %d px tiles; each tile is normalised by its own statistics, so "
                    "the result differs from one pass (tile=0 runs it whole if memory allows)",
                    runner.model.name, w, h, side)
    native, policy = contract.size.multiple, contract.tiling
    if native <= 4:
        return side
    extra = 2 * policy.margin + policy.overlap
    windows = max(math.ceil((MIN_TILE + extra) / native), (side + extra) // native)
    return windows * native - extra
