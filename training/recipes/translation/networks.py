"""The networks a translation recipe trains: fresh ones from the official option names, or files.

Fresh networks get the official init (N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales);
files are read through the registry, so their architecture comes from their tensors.
"""

from __future__ import annotations

import re

from torch import nn

from ....gan_models import registry
from ....gan_models.contract import Task
from ....gan_models.loader import load_model
from ....gan_models.pix2pix import build_resnet, build_unet, init_weights
from ...components.discriminators import load_discriminator
from ...config_schema import ConfigError
from ...engine.networks import trainable

UNET_MIN_SIDE = 32  # five levels: the U-Net's smallest form
RESNET_MULTIPLE = 4


def generator_shape(net: str, where: str = "generator.net") -> tuple[str, dict, int]:
    """``unet_256`` → ("unet", {"num_downs": 8}, 256); ``resnet_9blocks`` → ("resnet", {"num_blocks": 9}, 4).

    The last value is the side every input must be a multiple of.
    """
    if match := re.fullmatch(r"unet_(\d+)", net):
        side = int(match[1])
        if side >= UNET_MIN_SIDE and side & (side - 1) == 0:
            return "unet", {"num_downs": side.bit_length() - 1}, side
    if match := re.fullmatch(r"resnet_(\d+)blocks", net):
        if int(match[1]) > 0:
            return "resnet", {"num_blocks": int(match[1])}, RESNET_MULTIPLE
    raise ConfigError(f"{where}: {net!r} is not a generator. Allowed values: unet_<side> with a power-of-two side "
                      f"of at least {UNET_MIN_SIDE} (unet_256, unet_128, …) or resnet_<n>blocks (resnet_9blocks, "
                      "resnet_6blocks, …)")


def fresh_generator(cfg, in_channels: int = 3, out_channels: int = 3) -> nn.Module:
    kind, shape, _ = generator_shape(cfg.net)
    build = build_unet if kind == "unet" else build_resnet
    return build(in_channels, out_channels, num_feat=cfg.num_feat, norm=cfg.norm, dropout=cfg.dropout, **shape)


def fresh_like(network: nn.Module) -> nn.Module:
    """The same architecture as ``network`` with fresh weights: norms reset, then the official init."""
    module = trainable(network)
    for layer in module.modules():
        if isinstance(layer, (nn.BatchNorm2d, nn.InstanceNorm2d)):
            layer.reset_parameters()  # affine instance norms, which the official init leaves alone
    init_weights(module)
    return module


def load_generator(path: str, cfg, crop_size: int, models_dir=None):
    """A translation model from a file or known name, trainable; returns (module, descriptor).

    A U-Net's file cannot say whether it was trained with dropout, so ``generator.dropout`` decides.
    """
    model = load_model(path, models_dir=models_dir)
    if model.contract.task != Task.TRANSLATE:
        raise ConfigError(f"generator.pretrained: {path} is a {model.architecture} ({model.task} model), not an "
                          "image-to-image generator (UnetGenerator or ResnetGenerator)")
    multiple = model.contract.size.multiple
    if crop_size % multiple:
        raise ConfigError(f"data.crop_size: {crop_size} is not a multiple of {multiple}, which {path} "
                          f"({model.architecture}) needs; use a crop of {multiple}·k")
    if "dropout" in registry.entry_for(model.architecture).options and model.hyperparameters["dropout"] != cfg.dropout:
        model = load_model(path, models_dir=models_dir, dropout=cfg.dropout)
    return trainable(model.module), model


def train_only_decoder(generator: nn.Module) -> nn.Module:
    """Freeze a ResNet generator's stem, down-sampling and residual blocks: only the layers from the
    first up-sampling (transposed) convolution on keep ``requires_grad``."""
    resnet = type(generator).__name__ == "ResnetGenerator"
    layers = list(generator.model) if resnet else []
    first_up = next((i for i, m in enumerate(layers) if isinstance(m, nn.ConvTranspose2d)), None)
    if first_up is None:
        raise ConfigError(f"generator.train: \"decoder\" needs a ResNet generator (resnet_<n>blocks), not a "
                          f"{type(generator).__name__}; use \"all\"")
    for layer in layers[:first_up]:
        layer.requires_grad_(False)
    return generator


def discriminator(cfg, in_channels: int, pretrained: str | None, resuming: bool) -> nn.Module:
    """The PatchGAN (any depth) or the PixelGAN; a given file is continued unless a resume brings its own weights."""
    from ....gan_models.pix2pix import NLayerDiscriminator, PixelDiscriminator

    if pretrained and not resuming:
        return trainable(load_discriminator(pretrained))
    if cfg.net == "pixel":
        module = PixelDiscriminator(in_channels, num_feat=cfg.num_feat, norm=cfg.norm)
    else:
        layers = 3 if cfg.net == "basic" else cfg.num_layers
        module = NLayerDiscriminator(in_channels, num_feat=cfg.num_feat, num_layers=layers, norm=cfg.norm)
    init_weights(module)
    return module.train()
