"""Training losses: pixel, VGG19 perceptual (+ style), and the GAN objectives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .vgg import VGG19Features

PIXEL_KINDS = ("l1", "mse", "charbonnier")
GAN_KINDS = ("vanilla", "lsgan", "hinge", "wgan_softplus", "wgangp")
OFFICIAL_LAYER_WEIGHTS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}


def _check(kind: str, allowed: tuple[str, ...], what: str) -> None:
    if kind not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {kind!r}")


class PixelLoss(nn.Module):
    def __init__(self, kind: str = "l1", weight: float = 1.0, eps: float = 1e-12):
        super().__init__()
        _check(kind, PIXEL_KINDS, "pixel loss")
        self.kind, self.weight, self.eps = kind, weight, eps

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.kind == "l1":
            loss = F.l1_loss(output, target)
        elif self.kind == "mse":
            loss = F.mse_loss(output, target)
        else:
            loss = torch.sqrt((output - target) ** 2 + self.eps).mean()
        return self.weight * loss


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


class PerceptualLoss(nn.Module):
    """Distance between VGG19 features (taken before the ReLU) of the output and the target.

    Returns ``(perceptual, style)``; a part whose weight is 0 comes back as None.
    """

    def __init__(self, vgg: VGG19Features, layer_weights: dict[str, float] | None = None, *,
                 use_input_norm: bool = True, range_norm: bool = False, criterion: str = "l1",
                 perceptual_weight: float = 1.0, style_weight: float = 0.0):
        super().__init__()
        _check(criterion, ("l1", "mse"), "perceptual criterion")
        self.vgg = vgg.eval().requires_grad_(False)
        self.layer_weights = dict(layer_weights or OFFICIAL_LAYER_WEIGHTS)
        self.use_input_norm, self.range_norm = use_input_norm, range_norm
        self.criterion = F.l1_loss if criterion == "l1" else F.mse_loss
        self.perceptual_weight, self.style_weight = perceptual_weight, style_weight

    def _features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.vgg(images, list(self.layer_weights), use_input_norm=self.use_input_norm,
                        range_norm=self.range_norm)

    def forward(self, output: torch.Tensor, target: torch.Tensor):
        out_features = self._features(output)
        with torch.no_grad():
            target_features = self._features(target.detach())
        percep = style = None
        if self.perceptual_weight > 0:
            percep = sum(self.criterion(out_features[k], target_features[k]) * w
                         for k, w in self.layer_weights.items()) * self.perceptual_weight
        if self.style_weight > 0:
            style = sum(self.criterion(gram_matrix(out_features[k]), gram_matrix(target_features[k])) * w
                        for k, w in self.layer_weights.items()) * self.style_weight
        return percep, style


class GANLoss(nn.Module):
    """The adversarial objective. ``weight`` scales the generator's loss only, as in BasicSR."""

    def __init__(self, kind: str = "vanilla", real_label: float = 1.0, fake_label: float = 0.0, weight: float = 1.0):
        super().__init__()
        _check(kind, GAN_KINDS, "GAN loss")
        self.kind, self.real_label, self.fake_label, self.weight = kind, real_label, fake_label, weight

    def forward(self, prediction: torch.Tensor, target_is_real: bool, is_disc: bool = False) -> torch.Tensor:
        if self.kind == "hinge":
            if is_disc:
                signed = -prediction if target_is_real else prediction
                loss = F.relu(1 + signed).mean()
            else:
                loss = -prediction.mean()
        elif self.kind == "wgangp":
            loss = -prediction.mean() if target_is_real else prediction.mean()
        elif self.kind == "wgan_softplus":
            loss = F.softplus(-prediction).mean() if target_is_real else F.softplus(prediction).mean()
        else:
            label = torch.full_like(prediction, self.real_label if target_is_real else self.fake_label)
            if self.kind == "vanilla":
                loss = F.binary_cross_entropy_with_logits(prediction, label)
            else:
                loss = F.mse_loss(prediction, label)
        return loss if is_disc else loss * self.weight


def gradient_penalty(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None, weight: float = 10.0) -> torch.Tensor:
    """WGAN-GP's penalty: ``weight · (‖∇D(x)‖ − 1)²`` at random mixes of real and fake images
    (the official pix2pix code's ``mixed`` form, λ 10)."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, generator=generator).to(real)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = discriminator(mixed)
    (grads,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    norms = (grads.flatten(1) + 1e-16).norm(2, dim=1)
    return weight * ((norms - 1) ** 2).mean()
