"""The ComfyUI nodes called the way ComfyUI calls them, with ComfyUI's modules stood in for.

The real-ComfyUI run is `examples/upscale_workflow_api.json` through ../shared/tools/comfy_e2e.py.
"""

import importlib
import sys
import types

import pytest
import torch

from conftest import save_official, tiny_compact


class Interrupted(Exception):
    pass


@pytest.fixture
def comfy(tmp_path, monkeypatch):
    """Minimal comfy_api.latest / folder_paths / comfy.* modules; yields the stand-in state."""
    state = types.SimpleNamespace(interrupt=False, progress=[], folder=tmp_path / "upscale_models", freed=[])
    state.folder.mkdir()

    class Slot:
        def __init__(self, *args, **kwargs):
            self.args, self.kwargs = args, kwargs

    def io_type(name):
        return type(name, (), {"Input": Slot, "Output": Slot})

    io = types.SimpleNamespace(
        ComfyNode=object, Schema=lambda **kw: types.SimpleNamespace(**kw), NodeOutput=lambda *values: values,
        Custom=io_type, Combo=io_type("Combo"), Image=io_type("Image"), Mask=io_type("Mask"),
        Int=io_type("Int"), Float=io_type("Float"),
    )
    latest = types.ModuleType("comfy_api.latest")
    latest.io, latest.ComfyExtension = io, object
    folder_paths = types.ModuleType("folder_paths")
    folder_paths.get_filename_list = lambda key: sorted(p.name for p in state.folder.iterdir())
    folder_paths.get_full_path_or_raise = lambda key, name: str(state.folder / name)

    def check_interrupt():
        if state.interrupt:
            raise Interrupted()

    mm = types.ModuleType("comfy.model_management")
    mm.get_torch_device = lambda: torch.device("cpu")
    mm.module_size = lambda module: 1
    mm.free_memory = lambda amount, device: state.freed.append(amount)
    mm.soft_empty_cache = lambda: None
    mm.throw_exception_if_processing_interrupted = check_interrupt
    utils = types.ModuleType("comfy.utils")

    class ProgressBar:
        def __init__(self, total):
            pass

        def update_absolute(self, value, total=None, preview=None):
            state.progress.append((value, total))

    utils.ProgressBar = ProgressBar
    comfy_pkg = types.ModuleType("comfy")
    comfy_pkg.model_management, comfy_pkg.utils = mm, utils
    for name, module in {"comfy_api": types.ModuleType("comfy_api"), "comfy_api.latest": latest,
                         "folder_paths": folder_paths, "comfy": comfy_pkg, "comfy.model_management": mm,
                         "comfy.utils": utils}.items():
        monkeypatch.setitem(sys.modules, name, module)
    for name in [m for m in sys.modules if m.startswith("ganpost.nodes")]:
        monkeypatch.delitem(sys.modules, name)
    state.nodes = importlib.import_module("ganpost.nodes.upscale_nodes")
    yield state


def _load(comfy, name="tiny.pth", scale=2):
    save_official(tiny_compact(scale=scale, num_conv=2), comfy.folder / name)
    schema = comfy.nodes.GanpostLoadUpscaleModel.define_schema()
    assert schema.inputs[0].kwargs["options"] == [name]
    (model,) = comfy.nodes.GanpostLoadUpscaleModel.execute(name)
    return model


def _upscale(comfy, model, image, mask=None, **overrides):
    args = dict(tile=0, outscale=0.0, precision="auto", alpha_mode="network") | overrides
    return comfy.nodes.GanpostUpscaleImage.execute(model, image, mask=mask, **args)


def test_batch_upscale_and_empty_mask(comfy):
    model = _load(comfy)
    image, mask = _upscale(comfy, model, torch.rand(2, 20, 24, 3), mask=torch.zeros(1, 64, 64))
    assert image.shape == (2, 40, 48, 3) and image.dtype == torch.float32
    assert mask.shape == (2, 40, 48) and not mask.any()
    assert comfy.progress[-1] == (2, 2) and comfy.freed


def test_mask_becomes_alpha_and_comes_back(comfy):
    model = _load(comfy)
    mask = torch.zeros(1, 20, 24)
    mask[:, :, :12] = 1  # left half transparent
    image, out_mask = _upscale(comfy, model, torch.rand(1, 20, 24, 3), mask=mask, alpha_mode="resize")
    assert image.shape == (1, 40, 48, 3)
    assert out_mask[:, :, :20].min() > 0.95 and out_mask[:, :, 28:].max() < 0.05


def test_rgba_image_stays_rgba_and_outscale(comfy):
    model = _load(comfy)
    image, _ = _upscale(comfy, model, torch.rand(1, 10, 10, 4), outscale=1.5)
    assert image.shape == (1, 15, 15, 4)


def test_interrupt_propagates_and_model_returns_to_cpu(comfy):
    model = _load(comfy)
    comfy.interrupt = True
    with pytest.raises(Interrupted):
        _upscale(comfy, model, torch.rand(1, 64, 64, 3), tile=32)
    assert next(model.module.parameters()).device.type == "cpu"


def test_corrupt_model_error_names_file(comfy):
    (comfy.folder / "broken.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="broken.pth"):
        comfy.nodes.GanpostLoadUpscaleModel.execute("broken.pth")


def test_pack_imports_without_comfyui():
    import ganpost

    assert callable(ganpost.comfy_entrypoint) and "comfy" not in sys.modules
