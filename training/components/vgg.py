"""VGG19's convolutional part in torchvision's layout, for the perceptual loss, without torchvision.

The weights are torchvision's own file (``vgg19-dcbb9e9d.pth``): its ``features.N`` tensors load
strict; the classifier tensors are ignored. Features are read before the ReLU, as Real-ESRGAN does.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

from ...gan_models import catalogue
from ...gan_models.checkpoint_io import read_checkpoint
from ...gan_models.errors import DownloadError, ModelFileError, ModelNotFoundError

log = logging.getLogger(__name__)
RANDOM_WEIGHTS = "random"
_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names() -> list[str]:
    names, block, conv = [], 1, 1
    for item in _CONFIG:
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


LAYER_NAMES = _layer_names()


class VGG19Features(nn.Module):
    """``features`` of torchvision's VGG19 (keys ``features.0.weight`` …), frozen, in eval mode."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _CONFIG:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=False)]
                channels = item
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> "VGG19Features":
        return super().train(False)  # always eval: the loss network never changes

    def forward(self, x: torch.Tensor, layers: list[str], *, use_input_norm: bool = True,
                range_norm: bool = False) -> dict[str, torch.Tensor]:
        unknown = [name for name in layers if name not in LAYER_NAMES]
        if unknown:
            raise ValueError(f"unknown VGG19 layer {unknown[0]!r}; layers are {', '.join(LAYER_NAMES)}")
        if range_norm:
            x = (x + 1) / 2
        if use_input_norm:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        wanted, last = set(layers), max(LAYER_NAMES.index(name) for name in layers)
        out = {}
        for index, layer in enumerate(self.features[: last + 1]):
            x = layer(x)
            if LAYER_NAMES[index] in wanted:
                out[LAYER_NAMES[index]] = x
        return out


def load_vgg19_features(path: str | os.PathLike) -> VGG19Features:
    state = read_checkpoint(path)
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    network = VGG19Features()
    expected = set(network.state_dict())
    if set(features) != expected:
        missing = sorted(expected - set(features))[:4]
        raise ModelFileError(f"{path}: not torchvision's VGG19 weights (missing {', '.join(missing)}). "
                             f"Use {catalogue.SUPPORT_FILES['vgg19'].url()}.")
    try:
        network.load_state_dict(features, strict=True)
    except RuntimeError as err:
        raise ModelFileError(f"{path}: VGG19 tensors of the wrong shape ({str(err).splitlines()[-1].strip()})") from err
    return network


def resolve_vgg19_weights(path: str | os.PathLike | None = None, models_dir=None, download: bool = True) -> Path:
    """The VGG19 file: an explicit path, else the weights catalogue (models folders, then a checked download)."""
    known = catalogue.SUPPORT_FILES["vgg19"]
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(f"{path}: no such VGG19 weights file (losses.vgg_weights). Download {known.url()}.")
        return path
    purpose = ("The perceptual loss needs it: or set losses.vgg_weights to its path "
               "(or losses.perceptual_weight = 0 to train without it).")
    try:
        return catalogue.fetch(known, models_dir=models_dir, download=download, purpose=purpose)
    except DownloadError as err:
        target = catalogue.default_models_dirs(models_dir)[0] / known.filename
        reason = getattr(err.__cause__, "reason", err.__cause__) or err
        raise DownloadError(f"could not download {known.url()} ({reason}). The perceptual loss needs it: download it "
                            f"elsewhere and put it at {target}, or set losses.vgg_weights to its path "
                            "(or losses.perceptual_weight = 0 to train without it).") from err


def perceptual_vgg19(vgg_weights: str | os.PathLike | None, models_dir=None, *,
                     switch_off: str = "losses.perceptual_weight to 0") -> VGG19Features:
    """The VGG19 of a recipe's perceptual losses from its ``losses.vgg_weights``: a file; None, the catalogue's
    (downloaded when absent); or ``random`` (tests, offline machines), which the run states once: a random
    VGG trains the machinery but measures nothing a person sees. ``switch_off`` names the settings that
    drop these losses, for that message."""
    if str(vgg_weights) != RANDOM_WEIGHTS:
        return load_vgg19_features(resolve_vgg19_weights(vgg_weights, models_dir, download=True))
    log.warning("the VGG losses run on a RANDOM VGG19 (losses.vgg_weights = random): they train the machinery, "
                "not what a person sees. Give torchvision's vgg19-dcbb9e9d.pth, or set %s", switch_off)
    with torch.random.fork_rng(devices=[]):  # the same network in every run and resume; the run's RNG untouched
        torch.manual_seed(0)
        return VGG19Features()
