"""What a model family hands the registry: how to recognise, build and describe its networks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .contract import ModelContract, Task
from .options import Option
from .known_file import KnownFile

Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Built:
    module: nn.Module
    hyperparameters: dict
    """The constructor arguments, read from the tensor shapes."""
    state_dict: Tensors
    """The checkpoint's tensors under the official names (legacy layouts converted)."""


@dataclass(frozen=True)
class FamilyEntry:
    architecture: str
    """The network's id, as the official code names its class."""
    family: str
    """The folder it lives in: realesrgan, gfpgan, ..."""
    detect: Callable[[Tensors], bool]
    """True when a flat state dict is this architecture (key names and shapes only, never file names)."""
    build: Callable[[Tensors, dict], Built]
    """An unloaded module for the state dict, given the load options this entry accepts."""
    contract: Callable[[dict], ModelContract]
    """The contract for a network with these hyper-parameters."""
    create: Callable[..., nn.Module]
    """A fresh network from hyper-parameters (training from scratch, the diffusers wrappers)."""
    options: tuple[str, ...] = ()
    """Load options this entry understands (e.g. ``act_type``); others are refused."""
    known_files: tuple[KnownFile, ...] = ()
    wrapper_name: str | None = None
    """The class name of its diffusers ``ModelMixin`` wrapper (None: no wrapper)."""
    task: Task | None = None
    """What its networks do, known before any file is read (front-ends list a task's forward options from it)."""
    forward_options: tuple[Option, ...] = ()
    """Options its network's forward takes beyond the image (a fidelity weight): every front-end offers them."""
    sidecar: Callable[[Path], dict] | None = None
    """Load options found in files beside the checkpoint (AuraSR's config.json); explicit options win."""
