"""The model contract: what a family tells the core about one of its networks.

Every family fills in a :class:`ModelContract` from the hyper-parameters it read out of a
checkpoint. The runner, the tasks and the front-ends read only the contract, never an
architecture's name, so a new family needs no edit outside its own folder and the registry.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .options import Option


class Task(str, enum.Enum):
    UPSCALE = "upscale"
    FACE_RESTORE = "face_restore"
    TRANSLATE = "translate"
    FACE_DETECT = "face_detect"
    FACE_PARSE = "face_parse"  # per-pixel class logits (face parts), one channel per label
    DISCRIMINATOR = "discriminator"  # training only: scores images


TASK_KINDS = {  # "X is an upscaler, not a face restorer": what a model of each task is called in messages
    Task.UPSCALE: "an upscaler", Task.FACE_RESTORE: "a face restorer", Task.TRANSLATE: "an image-to-image translator",
    Task.FACE_DETECT: "a face detector", Task.FACE_PARSE: "a face parser",
    Task.DISCRIMINATOR: "a discriminator (it scores images in training)",
}


class AtInference(str, enum.Enum):
    """How norm and dropout layers behave at inference."""

    EVAL = "eval"  # running statistics, no dropout: the usual
    AS_TRAINED = "as_trained"  # batch statistics and dropout, as pix2pix's official test script runs


def first_tensor(output: Any) -> torch.Tensor:
    """The default output adapter: the tensor itself, or the first element of a tuple/list."""
    if isinstance(output, (tuple, list)):
        return output[0]
    return output


@dataclass(frozen=True)
class SizeRule:
    """What input sizes the network accepts; the runner pads by reflection and crops back."""

    multiple: int = 1
    minimum: int = 1
    fixed: int | None = None
    """The network reads windows of exactly this side (e.g. AuraSR's 64 px)."""


@dataclass(frozen=True)
class TilingPolicy:
    margin: int
    """Input pixels of context each tile reads beyond what it keeps (thrown away afterwards)."""
    overlap: int = 0
    """Input pixels over which neighbouring tiles are cross-faded, inside the trusted region."""
    exact: bool = False
    """True when the margin covers the whole receptive field, so tiled equals untiled."""


@dataclass(frozen=True)
class FaceAlignment:
    """How a face restorer's official tool aligns faces, where that is not the FFHQ template (GFPGAN's)."""

    points: tuple[tuple[float, float], ...]
    """The five landmarks' places (eyes, nose tip, mouth corners; pixel centres on integers) in a crop of
    ``size`` px; other crop sizes scale them about the origin."""
    size: int
    robust: bool = True
    """False: fit all five points by least squares (Umeyama), as tools without OpenCV's LMedS do."""


@dataclass(frozen=True)
class ModelContract:
    task: Task
    scale: int
    """Output size / input size of one forward pass."""
    in_channels: int
    out_channels: int
    value_range: tuple[float, float]
    """What the network reads and writes: (0, 1) or (-1, 1). The runner maps from/to [0, 1]."""
    size: SizeRule
    tiling: TilingPolicy
    activation_elements: int
    """Peak activation elements per *input* pixel of one forward; × element size = bytes."""
    fp16_safe: bool
    bf16_safe: bool
    auto_half: bool = True
    """May ``precision="auto"`` pick fp16/bf16? False where the half-precision error is unmeasured."""
    output_adapter: Callable[[Any], torch.Tensor] = first_tensor
    call_options: tuple[str, ...] = ()
    """Keyword arguments the network's forward takes that tasks may pass (e.g. GFPGAN's ``noise``)."""
    seed_keyword: str | None = None
    """The forward keyword that takes the task's ``seed`` (AuraSR ``seed``, GFPGAN ``noise``); None: draws no noise."""
    forward_options: tuple[Option, ...] = ()
    """Options of this network's forward offered by every front-end (a fidelity weight); the family declares
    them on its registry entry and the loader copies them here."""
    test_time: AtInference = AtInference.EVAL
    init_weights: Callable[[nn.Module], None] | None = None
    """Weight init for a fresh network in training; None keeps PyTorch's defaults."""
    labels: tuple[str, ...] = ()
    """What each output channel means, for networks that classify pixels (face parsers); else empty."""
    decode: Callable[[Any, tuple[int, int]], torch.Tensor] | None = None
    """For networks whose output is not an image (face detectors): ``decode(raw_output, (height, width))``
    turns a forward's raw output for a ``B×C×height×width`` input into a ``B×P×D`` float tensor, P candidates
    per image, each ``x1, y1, x2, y2, score`` then K ``(x, y)`` points (D = 5 + 2K), in the input's pixels,
    before any threshold or suppression. The runner returns it in place of an image (no range mapping,
    no crop), so batching, out-of-memory halving and the fp32 fallback work as for images."""
    face_alignment: FaceAlignment | None = None
    """For face restorers: the crop template their official tool aligns faces to; None: the FFHQ template."""
    parse_within_square: bool = False
    """For face restorers: their official tool pastes a face through the smaller of its parsing mask and the
    square mask (CodeFormer's helper); False: through the parsing mask alone (facexlib's, as GFPGAN's tool).
    ``paste="official"`` follows it."""
    channels_last: bool = True
    """May the runner run it in channels-last (NHWC) memory on CPU and CUDA? Convolutions are faster
    so, but a layer with no NHWC kernel (instance norm) copies every activation back to NCHW and the
    next convolution copies it again: for such networks the copies cost more than NHWC saves."""

    def activation_bytes_per_pixel(self, dtype: torch.dtype) -> int:
        return self.activation_elements * torch.empty((), dtype=dtype).element_size()


@dataclass(frozen=True)
class ModelDescriptor:
    """A loaded network: its family, contract, module and where it came from."""

    architecture: str
    contract: ModelContract
    param_count: int
    source: Path | None
    module: nn.Module = field(repr=False, compare=False)
    hyperparameters: dict = field(default_factory=dict, compare=False)
    """The constructor arguments, inferred from the tensor shapes."""
    working_copies: dict = field(default_factory=dict, repr=False, compare=False)
    """Converted copies of ``module`` per (device, dtype, layout), kept by the runner; ``module`` stays as loaded."""

    # The fields everyone asks for, straight from the contract.
    @property
    def task(self) -> str:
        return self.contract.task.value

    @property
    def kind(self) -> str:
        """What it is, for messages: "an upscaler", "a face detector", ..."""
        return TASK_KINDS[self.contract.task]

    @property
    def scale(self) -> int:
        return self.contract.scale

    @property
    def in_channels(self) -> int:
        return self.contract.in_channels

    @property
    def out_channels(self) -> int:
        return self.contract.out_channels

    @property
    def input_range(self) -> tuple[float, float]:
        return self.contract.value_range

    @property
    def size_multiple(self) -> int:
        return self.contract.size.multiple

    @property
    def min_size(self) -> int:
        return self.contract.size.minimum

    @property
    def fp16_safe(self) -> bool:
        return self.contract.fp16_safe

    @property
    def bf16_safe(self) -> bool:
        return self.contract.bf16_safe

    @property
    def name(self) -> str:
        return self.source.stem if self.source else self.architecture

    def summary(self) -> str:
        hp = ", ".join(f"{k}={v}" for k, v in self.hyperparameters.items())
        return f"{self.name}: {self.architecture} ×{self.scale} ({hp}; {self.param_count:,} parameters)"
