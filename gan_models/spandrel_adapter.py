"""A spandrel ``ImageModelDescriptor`` (what ComfyUI core's "Load Upscale Model" hands out, and what
chaiNNer-style scripts load) as a ganpost model, so every task takes one: the nodes' model inputs,
``ganpost.upscale(image, descriptor)`` and the diffusers processors, through ``loader.as_model``.

* an architecture our registry knows is rebuilt as our own module from the same weights, so the
  pixels equal what our loader gives for the same file;
* anything else runs spandrel's own module under our runner (tiling, precision, out-of-memory
  retries, cancel) with a conservative contract: a 32 px context margin that is not proven
  exact, and a generous memory estimate.

spandrel is never imported: the descriptor is read through its attributes, so this works with
whatever spandrel version ComfyUI ships.
"""

from __future__ import annotations

import logging
import weakref

import torch
import torch.nn.functional as F
from torch import nn

from .contract import ModelContract, ModelDescriptor, SizeRule, Task, TilingPolicy
from .errors import UnsupportedModelError

log = logging.getLogger(__name__)

DESCRIPTOR_ATTRIBUTES = ("model", "scale", "input_channels", "output_channels", "size_requirements")
FOREIGN_TILING = TilingPolicy(margin=32, overlap=16)  # not exact: the receptive field is unknown
FOREIGN_FEATURES = 64  # assumed feature width when estimating memory for a network we do not know
TASKS_BY_PURPOSE = {"SR": Task.UPSCALE, "Restoration": Task.UPSCALE, "FaceSR": Task.FACE_RESTORE}

# descriptor → (its module when converted, the ganpost model). Weak keys: when ComfyUI drops the
# loader's output, the conversion goes with it.
_CONVERTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def is_spandrel_descriptor(value) -> bool:
    """True for anything shaped like spandrel's ImageModelDescriptor (duck-typed: spandrel is never imported)."""
    return (all(hasattr(value, name) for name in DESCRIPTOR_ATTRIBUTES)
            and isinstance(getattr(value, "model", None), nn.Module))


def from_spandrel(descriptor) -> ModelDescriptor:
    """The ganpost model for a spandrel descriptor; converted once per descriptor object (and weights object)."""
    module = descriptor.model
    cached = _cached(descriptor)
    if cached is not None and cached[0] is module:  # the same weights object as last time
        return cached[1]
    converted = _as_ours(descriptor) or _as_foreign(descriptor)
    try:
        _CONVERTED[descriptor] = (module, converted)
    except TypeError:  # not weak-referenceable: convert again next time rather than pin it in memory
        pass
    return converted


def _cached(descriptor):
    try:
        return _CONVERTED.get(descriptor)
    except TypeError:
        return None


def _as_ours(descriptor) -> ModelDescriptor | None:
    """Our exact module when the registry recognises the weights, else None."""
    label = f"spandrel {_arch_name(descriptor)} model"
    from .loader import describe_state_dict  # the loader resolves descriptors through this module

    try:
        ours = describe_state_dict(descriptor.model.state_dict(), source=None)
    except UnsupportedModelError as err:
        log.debug("%s is not a ganpost architecture: %s", label, err)
        return None
    shape = (descriptor.scale, descriptor.input_channels, descriptor.output_channels)
    if (ours.scale, ours.in_channels, ours.out_channels) != shape:
        # The tensors fit one of ours but spandrel reads them differently: trust spandrel's module.
        log.warning("%s: detected as %s ×%d but spandrel says ×%d; running spandrel's module",
                    label, ours.architecture, ours.scale, descriptor.scale)
        return None
    log.info("%s: running ganpost's %s with the same weights", label, ours.architecture)
    return ours


def _as_foreign(descriptor) -> ModelDescriptor:
    """spandrel's own module, with a contract built from what the descriptor declares."""
    name = f"spandrel {_arch_name(descriptor)}"
    purpose = getattr(descriptor, "purpose", "SR")
    if purpose not in TASKS_BY_PURPOSE:
        raise UnsupportedModelError(
            f"{name}: its purpose is {purpose!r}; ganpost takes single-image models "
            f"(purpose SR or Restoration).")
    scale = int(descriptor.scale)
    req = descriptor.size_requirements
    contract = ModelContract(
        task=TASKS_BY_PURPOSE[purpose],
        scale=scale,
        in_channels=int(descriptor.input_channels),
        out_channels=int(descriptor.output_channels),
        value_range=(0.0, 1.0),  # spandrel's call convention for every image model
        size=SizeRule(multiple=max(1, int(req.multiple_of)), minimum=max(1, int(req.minimum))),
        tiling=FOREIGN_TILING,
        # features at the output resolution of a pixel-shuffle upsampler plus a few full-width maps
        activation_elements=3 * FOREIGN_FEATURES * scale * scale + 8 * FOREIGN_FEATURES,
        fp16_safe=bool(getattr(descriptor, "supports_half", False)),
        bf16_safe=bool(getattr(descriptor, "supports_bfloat16", False)),
        # Unmeasured here: a random SPAN drifted up to 82/255 in bf16. auto stays fp32, as core runs it.
        auto_half=False,
    )
    module = SpandrelCall(descriptor.model, getattr(descriptor, "_call_fn", None),
                          square=bool(getattr(req, "square", False)), scale=scale)
    log.info("%s is not a ganpost architecture; running spandrel's module with ganpost tiling", name)
    return ModelDescriptor(
        architecture=name,
        contract=contract,
        param_count=sum(p.numel() for p in descriptor.model.parameters()),
        source=None,
        module=module,
        hyperparameters={"tags": list(getattr(descriptor, "tags", []))},
    )


def _arch_name(descriptor) -> str:
    arch = getattr(descriptor, "architecture", None)
    return str(getattr(arch, "name", None) or getattr(arch, "id", None) or type(descriptor.model).__name__)


class SpandrelCall(nn.Module):
    """A foreign network called the way its spandrel descriptor calls it.

    Some architectures need a call function (a noise-level channel, a tuple output, a range
    shift); spandrel keeps it on the descriptor, so we carry it along. Square-only networks get
    their window padded to a square and the result cropped back. The runner already pads to the
    size multiple and minimum, and deep-copies this module for each device and dtype.
    """

    def __init__(self, network: nn.Module, call=None, *, square: bool = False, scale: int = 1):
        super().__init__()
        self.network = network
        self.call = call
        self.square = square
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if self.square and h != w:
            x = _pad_bottom_right(x, max(h, w) - h, max(h, w) - w)
        out = self.call(self.network, x) if self.call is not None else self.network(x)
        return out[..., : h * self.scale, : w * self.scale]


def _pad_bottom_right(x: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    # reflection cannot reach further than the input is wide; the rest repeats the edge
    reflect_h, reflect_w = min(pad_h, x.shape[-2] - 1), min(pad_w, x.shape[-1] - 1)
    x = F.pad(x, (0, reflect_w, 0, reflect_h), mode="reflect")
    return F.pad(x, (0, pad_w - reflect_w, 0, pad_h - reflect_h), mode="replicate")
