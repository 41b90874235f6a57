"""What a family registers for each of its networks: how to recognise, build and describe it.

An :class:`ArchitectureEntry` is one *architecture* (one network class: ``RRDBNet``,
``GFPGANv1Clean``, ``NLayerDiscriminator`` ...) as the registry sees it: its detector, its builder,
its contract, its load options and where it stands in the detection order. The name says what
it holds: a registry entry per architecture, not per family (a family folder registers several,
generators and discriminators alike). It was called ``FamilyEntry``; ``gan_models.family`` keeps
that name as an alias for code written against it.

A family folder lists its entries as ``ENTRIES`` in its ``__init__.py`` (declared in the folder's
``registration.py``) and its downloadable files as ``KNOWN_FILES`` (``known_files.py``); the
registry finds the folder by itself (``registry.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .contract import ModelContract, Task
from .known_file import KnownFile
from .options import Option

Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Built:
    module: nn.Module
    hyperparameters: dict
    """The constructor arguments, read from the tensor shapes."""
    state_dict: Tensors
    """The checkpoint's tensors under the official names (legacy layouts converted)."""


@dataclass(frozen=True)
class ArchitectureEntry:
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
    wrapper_name: str | None = None
    """The class name of its diffusers ``ModelMixin`` wrapper (None: no wrapper)."""
    sidecar: Callable[[Path], dict] | None = None
    """Load options found in files beside the checkpoint (AuraSR's config.json); explicit options win."""
    task: Task | None = None
    """What its networks do, known before any file is read; required with ``forward_options`` (the
    front-ends list a task's forward options from it)."""
    forward_options: tuple[Option, ...] = ()
    """Options its network's forward takes beyond the image (a fidelity weight): the API, the CLI, the
    nodes and diffusers offer them with no edit of theirs; the loader copies them into the contract."""
    export_module: Callable[[nn.Module, dict], nn.Module] | None = None
    """For ONNX export only: the loaded network (a copy; its hyper-parameters) → a module giving the same output
    that the tracer can export (None: the network itself). The family tests that the outputs match. The module
    may declare, as attributes: ``noise_inputs`` ((name, shape), ...: noise its forward would draw, taken as fp32
    inputs after the image, drawn from the seed as the forward draws it; AuraSR), ``default_seed``,
    ``option_inputs`` (forward keywords of float forward options taken as 1-element inputs, so they stay
    options of the file; CodeFormer's ``w``) and ``fixed_batch = True`` (a graph that would be wrong for
    another batch, e.g. ``groups=batch``: traced with batch 1; GPEN)."""
    before: tuple[str, ...] = ()
    """Architectures whose ``detect`` must run after this one's (their test would also accept some of
    this one's files, or they are tried later for another stated reason)."""
    after: tuple[str, ...] = ()
    """Architectures whose ``detect`` must run before this one's."""

    @property
    def known_files(self) -> tuple[KnownFile, ...]:
        """The files known by name whose ``architecture`` is this one (from every registered family)."""
        from . import registry  # the registry imports the families, which import this module

        return tuple(registry.known_files(self.architecture))
