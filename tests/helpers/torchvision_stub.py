"""Stub ``torchvision`` modules, so spandrel (and BasicSR's network files) import without it.

spandrel 0.4.2 imports every architecture at import time; two of them (LaMa, RestoreFormer)
import torchvision, which has no CPU build for our torch. The ESRGAN and Compact code paths never
touch it, so three stub modules are enough to import spandrel and run those for real. Used by the
parity tests (tests/reference.py) and the benchmarks (bench/); no pytest here, so the benchmarks
run where pytest is not installed.

facexlib's RetinaFace needs three more names to import and build: ``models._utils.
IntermediateLayerGetter``, ``models.resnet50`` (built from ganpost's own ResNet-50, so the
ResNet-50 parity checks facexlib's FPN/SSH/heads around the same backbone) and ``ops.nms`` (a
plain greedy loop, written independently of ganpost's). GFPGANer (tests/helpers/official_faces.py)
calls ``transforms.functional.normalize``, so that one is real.
"""

from __future__ import annotations

import enum
import importlib
import sys
import types
from collections import OrderedDict

import torch
from torch import nn


def _unavailable(*_args, **_kwargs):
    raise NotImplementedError("torchvision stub: only spandrel's LaMa/RestoreFormer need torchvision")


def install_torchvision_stub() -> None:
    """Put stub ``torchvision`` modules in ``sys.modules`` unless a working torchvision imports."""
    if "torchvision" in sys.modules:
        return
    try:
        importlib.import_module("torchvision")
        return
    except Exception:  # missing, or a build that does not match the installed torch (e.g. CUDA build on CPU torch)
        for name in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[name]

    functional = types.ModuleType("torchvision.transforms.functional")
    functional.InterpolationMode = enum.Enum(
        "InterpolationMode", "NEAREST NEAREST_EXACT BILINEAR BICUBIC BOX HAMMING LANCZOS"
    )
    functional.rotate = _unavailable
    functional.normalize = normalize
    transforms = types.ModuleType("torchvision.transforms")
    transforms.functional = functional
    transforms.ToTensor, transforms.ToPILImage = ToTensor, ToPILImage  # aura_sr's upscale_4x(_overlapped)
    models_utils = types.ModuleType("torchvision.models._utils")
    models_utils.IntermediateLayerGetter = IntermediateLayerGetter
    models = types.ModuleType("torchvision.models")
    models._utils = models_utils
    models.resnet50 = resnet50
    ops = types.ModuleType("torchvision.ops")
    ops.nms = greedy_nms
    utils = types.ModuleType("torchvision.utils")  # aura_sr imports save_image, never calls it in tests
    utils.save_image = _unavailable
    torchvision = types.ModuleType("torchvision")
    torchvision.transforms, torchvision.models, torchvision.ops = transforms, models, ops
    torchvision.utils = utils
    sys.modules.update({
        "torchvision": torchvision,
        "torchvision.transforms": transforms,
        "torchvision.transforms.functional": functional,
        "torchvision.models": models,
        "torchvision.models._utils": models_utils,
        "torchvision.ops": ops,
        "torchvision.utils": utils,
    })


def normalize(tensor: torch.Tensor, mean, std, inplace: bool = False) -> torch.Tensor:
    """torchvision's per-channel ``(x - mean) / std`` on a C×H×W (or batched) tensor (GFPGANer calls it)."""
    mean = torch.as_tensor(mean, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
    std = torch.as_tensor(std, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
    out = tensor if inplace else tensor.clone()
    return out.sub_(mean).div_(std)


class IntermediateLayerGetter(nn.ModuleDict):
    """The children of ``model`` up to the last one named in ``return_layers``; forward returns
    those children's outputs, keyed by the names ``return_layers`` gives them."""

    def __init__(self, model: nn.Module, return_layers: dict):
        wanted, kept = dict(return_layers), OrderedDict()
        for name, child in model.named_children():
            if not wanted:
                break
            kept[name] = child
            wanted.pop(name, None)
        super().__init__(kept)
        self.return_layers = dict(return_layers)

    def forward(self, x):
        out = OrderedDict()
        for name, child in self.items():
            x = child(x)
            if name in self.return_layers:
                out[self.return_layers[name]] = x
        return out


def resnet50(pretrained: bool = False, **_kwargs) -> nn.Module:
    """ganpost's ResNet-50 with torchvision's classifier children after it (never loaded from the net)."""
    from ganpost.gan_models.facedetect.backbones import ResNet50Features

    model = ResNet50Features()
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    model.fc = nn.Linear(2048, 1000)
    return model


def greedy_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """torchvision's rule: highest score first, drop any box whose IoU with a kept one exceeds the threshold."""
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    b = boxes.tolist()
    keep: list[int] = []
    for i in order:
        x1, y1, x2, y2 = b[i]
        suppressed = False
        for j in keep:
            u1, v1, u2, v2 = b[j]
            inter = max(0.0, min(x2, u2) - max(x1, u1)) * max(0.0, min(y2, v2) - max(y1, v1))
            union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - inter
            if union > 0 and inter / union > iou_threshold:
                suppressed = True
                break
        if not suppressed:
            keep.append(i)
    return torch.tensor(keep, dtype=torch.int64)


def import_spandrel():
    """The ``spandrel`` module (raises ImportError if spandrel itself is not installed)."""
    install_torchvision_stub()
    return importlib.import_module("spandrel")


class ToTensor:
    """torchvision's ``ToTensor`` for an 8-bit RGB PIL image: C×H×W float in [0, 1]."""

    def __call__(self, image) -> torch.Tensor:
        import numpy as np

        return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.uint8).copy()).permute(2, 0, 1).float() / 255


class ToPILImage:
    """torchvision's ``ToPILImage`` for a C×H×W float RGB tensor in [0, 1] (``mul(255).byte()``: truncates)."""

    def __call__(self, tensor: torch.Tensor):
        from PIL import Image

        return Image.fromarray(tensor.mul(255).byte().permute(1, 2, 0).numpy(), "RGB")
