"""The generator: a clean GFPGAN to fine-tune, what of it trains, and the learning rate of each tensor.

Why the clean files blow up at ordinary learning rates: v1.2–v1.4 are conversions of a model
trained with equalised learning rates, where every conv and linear layer stored ``w`` ~ N(0, 1)
and multiplied it by ``c = 1/√fan_in`` (× 0.01 in the style MLP) at every call. The clean file
stores ``c·w``. Adam's step is about ``lr`` per element whatever the gradient's scale, so on the
stored weights one step moves each layer ``1/c`` times (68× for a 3×3 conv over 512 channels)
further, relative to its weights, than the original training ever did.

The fix here: Adam on the clean tensors with learning rate ``lr × c`` per tensor. The gradient
with respect to ``c·w`` is ``1/c`` times that with respect to ``w``, which Adam's normalisation
cancels, so this is the original equalised-LR training step for step (up to Adam's ε), and
``optim.lr_g`` reads in the official units. Biases, noise strengths and the constant input were
plain parameters in the original too and keep ``lr``.
"""

from __future__ import annotations

import math

from torch import nn

from ....gan_models.gfpgan import GFPGANv1Clean
from ....gan_models.loader import load_model
from ...config_schema import ConfigError
from ...engine.networks import trainable

STYLE_MLP_LR_MUL = 0.01
DECODER = "stylegan_decoder."


def load_generator(pretrained: str, models_dir=None) -> GFPGANv1Clean:
    model = load_model(pretrained, models_dir=models_dir)
    if model.architecture != "GFPGANv1Clean":
        raise ConfigError(f"generator.pretrained: {pretrained} is a {model.architecture} ({model.task} model), "
                          "not a GFPGANv1Clean (GFPGANv1.3.pth, GFPGANv1.4.pth or a file this recipe wrote)")
    return trainable(model.module)


def fresh_generator(cfg) -> GFPGANv1Clean:
    return GFPGANv1Clean(out_size=cfg.out_size, num_style_feat=cfg.num_style_feat,
                         channel_multiplier=cfg.channel_multiplier, num_mlp=cfg.num_mlp, narrow=cfg.narrow).train()


def is_trained(name: str, part: str, input_is_latent: bool) -> bool:
    """Whether parameter ``name`` learns when training ``part`` (``encoder`` or ``all``)."""
    if not name.startswith(DECODER):
        return True
    if part == "encoder":
        return False
    return not (input_is_latent and name.startswith(DECODER + "style_mlp."))  # unused: the codes are latents


def equalised_lr_scale(name: str, parameter: nn.Parameter) -> float:
    """The factor ``c`` the original layer applied to this tensor (1 for plain parameters)."""
    if parameter.ndim < 2 or name.endswith("constant_input.weight"):
        return STYLE_MLP_LR_MUL if ".style_mlp." in f".{name}" else 1.0
    # Modulated convs store (1, out, in, k, k): the leading 1 is not part of the fan-in.
    fan_in = math.prod(parameter.shape[2:]) if "modulated_conv.weight" in name else math.prod(parameter.shape[1:])
    scale = 1 / math.sqrt(fan_in)
    return scale * STYLE_MLP_LR_MUL if ".style_mlp." in f".{name}" else scale


def freeze_untrained(generator: GFPGANv1Clean, part: str) -> None:
    for name, parameter in generator.named_parameters():
        parameter.requires_grad_(is_trained(name, part, generator.input_is_latent))
