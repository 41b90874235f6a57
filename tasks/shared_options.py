"""What every task shares: the options with one name and one default everywhere (tile, precision,
device, seed), the model resolver, the family's forward options, and the old argument order.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

from ..gan_models import registry
from ..gan_models.contract import ModelDescriptor, Task
from ..gan_models.errors import InvalidOptionError
from ..gan_models.loader import as_model
from ..gan_models.options import API, DIFFUSERS, Option, Options
from ..runtime.memory import MIN_TILE
from ..runtime.precision import PRECISIONS, resolve_device, resolve_dtype

log = logging.getLogger(__name__)
MAX_SEED = 2**64 - 1  # what torch.Generator.manual_seed takes


def _tile(value):
    if isinstance(value, int) and not isinstance(value, bool) and (value == 0 or value >= MIN_TILE):
        return value
    raise InvalidOptionError(f"tile must be 'auto', 0 (one pass) or a whole number of pixels ≥ {MIN_TILE}, "
                             f"not {value!r}")


def _device(value):
    resolve_device(value)  # refuses a device this machine lacks, with the fix
    return value


TILE = Option("tile", int, "auto", f"input tile side in pixels (at least {MIN_TILE}), 'auto' (from free memory) or "
              "0 for one pass; results are seam-free either way", minimum=0, words=("auto",), convert=_tile)
PRECISION = Option("precision", str, "auto", "auto = fp16 on CUDA, bf16 on CPUs with bf16 matrix units, where the "
                   "model is safe in it, else fp32; windows that overflow in half precision are redone in fp32",
                   choices=PRECISIONS)
DEVICE = Option("device", str, None, "cpu, cuda, cuda:1, mps", none="the best available", convert=_device,
                front_ends=frozenset((API, DIFFUSERS)))
SEED = Option("seed", int, None, "seed for models that draw noise: the same seed gives the same image",
              minimum=0, maximum=MAX_SEED, none="the model's default")
RUNTIME = Options(TILE, PRECISION, DEVICE, SEED)


def check_runtime(model: ModelDescriptor, *, precision: str = "auto", device=None) -> None:
    """Refuse a precision the model or device cannot run (fp16 on CPU) before any image is read."""
    PRECISION.check(precision)
    resolve_dtype(model, precision, resolve_device(device))


def model_for(task_name: str, model, keyword: str = "model", **load_options) -> ModelDescriptor:
    """``model`` resolved (a loaded model, a file, a known name or a diffusers wrapper); ``keyword`` names it in errors."""
    try:
        return as_model(model, **load_options)
    except InvalidOptionError as err:
        raise InvalidOptionError(f"{task_name}: {keyword}=: {err}") from None


def model_first(task_name: str, image, model) -> tuple[Any, Any]:
    """``(image, model)`` from a call in the old order ``task(model, image)``, with a DeprecationWarning.

    The old order is known by its first argument: a loaded model, or a file or known name
    (an image is never a string).
    """
    surely_model = isinstance(image, ModelDescriptor) or hasattr(image, "to_descriptor")
    if surely_model or (_is_model(image) and not _is_model(model)):
        warnings.warn(f"ganpost.{task_name}(model, image) is deprecated: call ganpost.{task_name}(image, model); "
                      "the old order stops working in the next release", DeprecationWarning, stacklevel=3)
        return model, image
    return image, model


def _is_model(value) -> bool:
    return isinstance(value, (ModelDescriptor, str, os.PathLike)) or hasattr(value, "to_descriptor")


# ------------------------------------------------------------------------------ the family's forward options
def forward_options(task: Task) -> Options:
    """The forward options the families of ``task`` declare (a fidelity weight): every front-end offers them."""
    return Options(*registry.forward_options(task))


def forward_keywords(task: Task, model: ModelDescriptor, seed: int | None, given: dict[str, Any]) -> dict[str, Any]:
    """What the network's forward gets: the seed under the family's own keyword, and its forward options.

    ``given`` are forward options by name; one another family of the task declares but this model
    lacks is ignored (a node or CLI offers it for every model), with a note in the log.
    """
    known = forward_options(task)
    unknown = sorted(set(given) - set(known.names()))
    if unknown:
        raise InvalidOptionError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
                                 + (f"; models of this task also take: {', '.join(known.names())}" if known.names()
                                    else ""))
    mine = {option.name: option for option in model.contract.forward_options}
    keywords = {}
    for name, value in given.items():
        if name not in mine:
            if value is not None and value != known[name].default:
                log.info("%s takes no %s option; ignored", model.name, name)
            continue
        keywords[mine[name].forward_keyword] = mine[name].check(value)
    for name, option in mine.items():
        if name not in given and option.default is not None:
            keywords[option.forward_keyword] = option.default
    if seed is not None and model.contract.seed_keyword:
        keywords[model.contract.seed_keyword] = seed
    return keywords


def takes_seed(model: ModelDescriptor) -> bool:
    """Whether the model draws noise from a seed (AuraSR, GFPGAN); the task ignores a seed for the others."""
    return model.contract.seed_keyword is not None
