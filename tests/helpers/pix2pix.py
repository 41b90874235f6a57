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
