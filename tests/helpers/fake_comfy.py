"""A stand-in for the parts of ComfyUI the nodes import: ``comfy_api.latest`` (io, ComfyExtension),
``folder_paths``, ``comfy.model_management`` and ``comfy.utils``.

The ``io`` classes take exactly the keyword arguments of ComfyUI's V3 API (comfy_api/latest/_io.py
of ComfyUI 0.3.64, commit a125cd84), so a misspelt schema keyword raises TypeError here as it does
in ComfyUI. ``test_nodes.py`` compares these signatures with a real checkout when one is present.

Use :func:`install` (e.g. from a fixture) to put the fakes into ``sys.modules``; it returns a
namespace recording what the nodes did (progress, previews, freed memory, cache empties) and
lets a test ask for ComfyUI's interrupt after N progress updates.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
from pathlib import Path

import torch

REAL_API = "ComfyUI 0.3.64 (a125cd84), comfy_api/latest/_io.py"
COMFY_MODULES = ("comfy_api", "comfy_api.latest", "folder_paths", "comfy", "comfy.model_management", "comfy.utils")


class Interrupted(Exception):
    """Stands in for comfy.model_management.InterruptProcessingException."""


# ---------------------------------------------------------------------------- io (V3 schema)
def _keep(obj, values: dict) -> None:
    """Store an __init__'s arguments as attributes, as the real classes do."""
    for name, value in values.items():
        if name not in ("self", "__class__"):
            setattr(obj, name, value)


class Input:
    Parent = None

    def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, extra_dict=None):
        _keep(self, locals())

    @property
    def io_type(self):
        return self.Parent.io_type

    def get_io_type(self):
        return self.io_type


class WidgetInput(Input):
    def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, default=None,
                 socketless=None, widget_type=None, force_input=None, extra_dict=None):
        _keep(self, locals())


class Output:
    Parent = None

    def __init__(self, id=None, display_name=None, tooltip=None, is_output_list=False):
        _keep(self, locals())

    @property
    def io_type(self):
        return self.Parent.io_type


class ComfyTypeIO:
    io_type = None
    Input = Input
    Output = Output


def _comfytype(io_type: str):
    """Like the real decorator: bind io_type, and give the type its own Input/Output with Parent set."""
    def bind(cls):
        cls.io_type = io_type
        for name in ("Input", "Output"):
            slot = getattr(cls, name, None)
            if slot is not None:
                setattr(cls, name, type(slot.__name__, (slot,), {"Parent": cls}))
        return cls
    return bind


def Custom(io_type):  # noqa: N802 - the real API's name
    return _comfytype(io_type)(type(f"Custom_{io_type}", (ComfyTypeIO,), {}))


@_comfytype("BOOLEAN")
class Boolean(ComfyTypeIO):
    class Input(WidgetInput):
        def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, default=None,
                     label_on=None, label_off=None, socketless=None, force_input=None):
            _keep(self, locals())


@_comfytype("INT")
class Int(ComfyTypeIO):
    class Input(WidgetInput):
        def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, default=None, min=None,
                     max=None, step=None, control_after_generate=None, display_mode=None, socketless=None,
                     force_input=None):
            _keep(self, locals())


@_comfytype("FLOAT")
class Float(ComfyTypeIO):
    class Input(WidgetInput):
        def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, default=None, min=None,
                     max=None, step=None, round=None, display_mode=None, socketless=None, force_input=None):
            _keep(self, locals())


@_comfytype("STRING")
class String(ComfyTypeIO):
    class Input(WidgetInput):
        def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None, multiline=False,
                     placeholder=None, default=None, dynamic_prompts=None, socketless=None, force_input=None):
            _keep(self, locals())


@_comfytype("COMBO")
class Combo(ComfyTypeIO):
    class Input(WidgetInput):
        def __init__(self, id, options=None, display_name=None, optional=False, tooltip=None, lazy=None,
                     default=None, control_after_generate=None, upload=None, image_folder=None, remote=None,
                     socketless=None):
            _keep(self, locals())

    class Output(Output):
        def __init__(self, id=None, display_name=None, options=None, tooltip=None, is_output_list=False):
            _keep(self, locals())


@_comfytype("IMAGE")
class Image(ComfyTypeIO):
    pass


@_comfytype("MASK")
class Mask(ComfyTypeIO):
    pass


@_comfytype("UPSCALE_MODEL")
class UpscaleModel(ComfyTypeIO):
    pass


@_comfytype("COMFY_MULTITYPED_V3")
class MultiType:
    class Input(Input):
        def __init__(self, id, types, display_name=None, optional=False, tooltip=None, lazy=None, extra_dict=None):
            _keep(self, locals())

        def get_io_type(self):
            return ",".join(dict.fromkeys(t.io_type for t in self.types))


@dataclasses.dataclass
class Schema:
    node_id: str
    display_name: str = None
    category: str = "sd"
    inputs: list = None
    outputs: list = None
    hidden: list = None
    description: str = ""
    is_input_list: bool = False
    is_output_node: bool = False
    is_deprecated: bool = False
    is_experimental: bool = False
    is_api_node: bool = False
    not_idempotent: bool = False
    enable_expand: bool = False

    def validate(self):
        """The real check: ids unique among inputs, among outputs, and between the two."""
        inputs = [i.id for i in self.inputs or []]
        outputs = [o.id for o in self.outputs or [] if o.id is not None]
        if len(set(inputs)) != len(inputs) or len(set(outputs)) != len(outputs) or set(inputs) & set(outputs):
            raise ValueError(f"input/output ids must be unique: {inputs} {outputs}")


class NodeOutput:
    def __init__(self, *args, ui=None, expand=None, block_execution=None):
        self.args, self.ui, self.expand, self.block_execution = args, ui, expand, block_execution

    def __getitem__(self, index):  # unpacking works through this, as with the real class
        return self.args[index]


class ComfyNode:
    pass


class ComfyExtension:
    pass


def fake_io() -> types.ModuleType:
    io = types.ModuleType("comfy_api.latest.io")
    for cls in (Input, WidgetInput, Output, ComfyTypeIO, Boolean, Int, Float, String, Combo, Image, Mask,
                UpscaleModel, MultiType, Schema, NodeOutput, ComfyNode):
        setattr(io, cls.__name__, cls)
    io.Custom = Custom
    return io


# ---------------------------------------------------------------------------- the other modules
def install(monkeypatch, tmp_path: Path) -> types.SimpleNamespace:
    """Put the fake ComfyUI into sys.modules (undone by ``monkeypatch``); returns the recorded state.

    ``state.folder`` is models/upscale_models under ``tmp_path``; inputs live in ``tmp_path/input``.
    Set ``state.interrupt_after = N`` to raise :class:`Interrupted` once N progress updates happened.
    """
    state = types.SimpleNamespace(interrupt_after=None, progress=[], previews=[], freed=[], emptied=0,
                                  folder=tmp_path / "models" / "upscale_models")
    state.folder.mkdir(parents=True, exist_ok=True)

    latest = types.ModuleType("comfy_api.latest")
    latest.io, latest.ComfyExtension = fake_io(), ComfyExtension
    folder_paths = types.ModuleType("folder_paths")
    folder_paths.models_dir = str(tmp_path / "models")
    folder_paths.supported_pt_extensions = {".pth", ".safetensors"}
    folder_paths.folder_names_and_paths = {"upscale_models": ([str(state.folder)], {".pth", ".safetensors"})}

    def get_full_path_or_raise(key, name):
        path = os.path.join(folder_paths.folder_names_and_paths[key][0][0], name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Model in folder '{key}' with filename '{name}' not found.")
        return path

    folder_paths.get_input_directory = lambda: str(tmp_path / "input")
    folder_paths.get_output_directory = lambda: str(tmp_path / "output")
    folder_paths.get_folder_paths = lambda key: folder_paths.folder_names_and_paths[key][0]
    def get_filename_list(key):  # as the real one: every folder of the key (missing ones list nothing), its extensions
        folders, extensions = folder_paths.folder_names_and_paths[key]
        return sorted({name for folder in folders if os.path.isdir(folder) for name in os.listdir(folder)
                       if os.path.splitext(name)[1].lower() in extensions or not extensions})

    folder_paths.get_filename_list = get_filename_list
    folder_paths.get_full_path_or_raise = get_full_path_or_raise

    def check_interrupt():
        if state.interrupt_after is not None and len(state.progress) >= state.interrupt_after:
            raise Interrupted()

    def soft_empty_cache():
        state.emptied += 1

    mm = types.ModuleType("comfy.model_management")
    mm.get_torch_device = lambda: torch.device("cpu")
    mm.module_size = lambda module: sum(p.numel() * p.element_size() for p in module.parameters())
    mm.free_memory = lambda amount, device: state.freed.append((amount, device))
    mm.soft_empty_cache = soft_empty_cache
    mm.unload_all_models = lambda: None
    mm.throw_exception_if_processing_interrupted = check_interrupt
    utils = types.ModuleType("comfy.utils")

    class ProgressBar:
        def __init__(self, total, node_id=None):
            self.total = total

        def update_absolute(self, value, total=None, preview=None):
            state.progress.append((value, total))
            if preview is not None:
                state.previews.append(preview)
            check_interrupt()  # ComfyUI's progress hook raises the interrupt from inside the update

    utils.ProgressBar = ProgressBar
    comfy_pkg = types.ModuleType("comfy")
    comfy_pkg.model_management, comfy_pkg.utils = mm, utils
    fakes = {"comfy_api": types.ModuleType("comfy_api"), "comfy_api.latest": latest, "folder_paths": folder_paths,
             "comfy": comfy_pkg, "comfy.model_management": mm, "comfy.utils": utils}
    for name, module in fakes.items():
        monkeypatch.setitem(sys.modules, name, module)
    state.folder_paths = folder_paths
    return state


def forget_modules(package: str = "ganpost.nodes") -> None:
    """Drop ``package`` and its submodules so the next import binds to whatever ComfyUI is installed now."""
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]
    parent, _, child = package.rpartition(".")
    if parent in sys.modules:
        sys.modules[parent].__dict__.pop(child, None)
