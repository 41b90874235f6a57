"""pix2pix/CycleGAN test networks with every weight random.

Parity with the official ``models/networks.py``, which ships in no wheel, is checked by
``bench/pix2pix_parity.py`` where a copy of it is at hand.
"""

from __future__ import annotations

import torch
from torch import nn


def randomised(module: nn.Module) -> nn.Module:
    """Every weight, bias and running statistic drawn at random, so each one shows in the output."""
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
            else:
                tensor.copy_(torch.randn_like(tensor) * 0.1)
    return module.eval()


def save_random(module: nn.Module, path):
    """``module`` randomised and saved as the official code saves generators: a plain state dict."""
    torch.save(randomised(module).state_dict(), path)
    return path


def save_cyclegan_pair(folder) -> tuple:
    """A tiny CycleGAN pair (G_A, G_B) saved under the official names in ``folder``; seed 0."""
    from ganpost.gan_models.pix2pix import ResnetGenerator

    torch.manual_seed(0)
    return (save_random(ResnetGenerator(num_feat=4, num_blocks=1), folder / "latest_net_G_A.pth"),
            save_random(ResnetGenerator(num_feat=4, num_blocks=1), folder / "latest_net_G_B.pth"))
