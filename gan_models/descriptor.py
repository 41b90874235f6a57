"""The typed description of a loaded model: everything the inference core and the nodes need."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch import nn


@dataclass(frozen=True)
class ModelDescriptor:
    architecture: str
    """Architecture id, e.g. ``"RRDBNet"`` or ``"SRVGGNetCompact"``."""
    task: str
    """``"upscale"``, ``"face_restore"`` or ``"translate"``."""
    scale: int
    """Output size / input size of one forward pass."""
    in_channels: int
    out_channels: int
    input_range: tuple[float, float]
    """The value range the network expects and returns: (0, 1) or (-1, 1)."""
    size_multiple: int
    """Input height and width must be multiples of this (the core pads by reflection)."""
    fp16_safe: bool
    bf16_safe: bool
    param_count: int
    source: Path | None
    module: nn.Module = field(repr=False, compare=False)
    hyperparameters: dict = field(default_factory=dict, compare=False)
    """The constructor arguments, inferred from the tensor shapes."""
    min_size: int = 1

    @property
    def name(self) -> str:
        return self.source.stem if self.source else self.architecture

    def summary(self) -> str:
        hp = ", ".join(f"{k}={v}" for k, v in self.hyperparameters.items())
        return f"{self.name}: {self.architecture} ×{self.scale} ({hp}; {self.param_count:,} parameters)"
