"""The norm layers pix2pix/CycleGAN networks are built with, and the official weight init.

The official code gives a convolution a bias only when an instance norm follows it: batch norm's
shift makes a bias redundant, and with no norm at all (``--norm none``) it still leaves the bias
out. We keep that rule, because the key names and shapes of released files depend on it.
"""

from __future__ import annotations

from torch import nn

NORMS = ("batch", "instance", "none")
INIT_STD = 0.02  # the official init_type='normal', init_gain=0.02


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, not {norm!r}")


def norm_layer(norm: str, channels: int, affine: bool = False) -> nn.Module:
    """``affine`` applies to instance norm only (the official one has none; some released files do)."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=affine, track_running_stats=False)
    return nn.Identity()


def conv_bias(norm: str) -> bool:
    return norm == "instance"


def init_weights(module: nn.Module, std: float = INIT_STD) -> None:
    """Convolution weights ~ N(0, std) with zero biases; batch-norm scales ~ N(1, std), shifts 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, std)
            nn.init.zeros_(layer.bias)


def drop_instance_statistics(sd: dict) -> dict:
    """The state dict without running statistics: what the official loader does to files saved when
    instance norm tracked them (PyTorch < 0.4), since today's instance norm has no such buffers."""
    stale = (".running_mean", ".running_var", ".num_batches_tracked")
    return {k: v for k, v in sd.items() if not k.endswith(stale)}
