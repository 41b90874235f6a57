"""The ComfyUI nodes called the way ComfyUI calls them, with ComfyUI's modules stood in for.

The real-ComfyUI runs are `example_workflows/api/upscale_workflow_api.json` (our loader) and
`example_workflows/api/core_loader_workflow_api.json` (core's UpscaleModelLoader into our node) and
`example_workflows/api/aurasr_workflow_api.json` (a tiny random AuraSR made at run time, seeded) through
../shared/tools/comfy_e2e.py. The fake ComfyUI lives in tests/helpers/fake_comfy.py.
"""

import ast
import asyncio
import importlib
import inspect
import os
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from helpers.paths import REPO
from helpers.models import FakeSpandrelDescriptor, save_official, tiny_compact
from ganpost import load_model, upscale
from ganpost.runtime.runner import working_copy
from helpers import fake_comfy
from helpers.fake_comfy import COMFY_MODULES, Interrupted
from helpers.tolerance import assert_close_to_scale


@pytest.fixture
def comfy(tmp_path, monkeypatch):
    """The fake ComfyUI installed, the node modules imported against it; yields the recorded state."""
    state = fake_comfy.install(monkeypatch, tmp_path)
    fake_comfy.forget_modules()
    state.nodes = importlib.import_module("ganpost.nodes.upscale_nodes")
    state.nodes_pkg = importlib.import_module("ganpost.nodes")
    importlib.import_module("ganpost.nodes.model_cache").clear()
    yield state
    fake_comfy.forget_modules()  # they hold the fakes; the next import must see the real (or no) ComfyUI


def _save_tiny(comfy, name="tiny.pth", scale=2):
    return save_official(tiny_compact(scale=scale, num_conv=2), comfy.folder / name)


def _load(comfy, name="tiny.pth", scale=2):
    _save_tiny(comfy, name, scale)
    schema = comfy.nodes.GanpostLoadUpscaleModel.define_schema()
    assert name in schema.inputs[0].options
    (model,) = comfy.nodes.GanpostLoadUpscaleModel.execute(model_name=name)
    return model


def _upscale(comfy, model, image, mask=None, **overrides):
    args = dict(tile=0, outscale=0.0, precision="auto", alpha_mode="network") | overrides
    if mask is not None:
        args["mask"] = mask
    return comfy.nodes.GanpostUpscaleImage.execute(model=model, image=image, **args)


def test_extension_lists_both_nodes(comfy):
    import ganpost

    extension = asyncio.run(ganpost.comfy_entrypoint())
    assert isinstance(extension, comfy.nodes_pkg.GanpostExtension)
    nodes = asyncio.run(extension.get_node_list())
    ids = [n.define_schema().node_id for n in nodes]
    assert ids == ["GanpostLoadUpscaleModel", "GanpostUpscaleImage",
                   "GanpostLoadFaceModel", "GanpostLoadFaceDetector", "GanpostRestoreFaces", "GanpostDetectFaces",
                   "GanpostLoadFaceParser", "GanpostLoadTranslator", "GanpostTranslateImage",
                   # the training nodes, in the recipe table's order (training.recipes.RECIPES)
                   "GanpostTrainUpscaleModel", "GanpostTrainTranslator", "GanpostTrainAuraSR", "GanpostTrainFaceModel"]
    assert not hasattr(comfy.nodes_pkg, "NODE_CLASS_MAPPINGS") and not hasattr(ganpost, "NODE_CLASS_MAPPINGS")


def test_loader_lists_loads_and_caches(comfy):
    model = _load(comfy)
    assert model.architecture == "SRVGGNetCompact" and model.scale == 2
    (again,) = comfy.nodes.GanpostLoadUpscaleModel.execute(model_name="tiny.pth")
    assert again is model  # cached by (path, mtime)
    path = comfy.folder / "tiny.pth"
    before = comfy.nodes.GanpostLoadUpscaleModel.fingerprint_inputs(model_name="tiny.pth")
    save_official(tiny_compact(scale=4, num_conv=2), path)
    os.utime(path, (before + 10, before + 10))
    assert comfy.nodes.GanpostLoadUpscaleModel.fingerprint_inputs(model_name="tiny.pth") != before
    (replaced,) = comfy.nodes.GanpostLoadUpscaleModel.execute(model_name="tiny.pth")
    assert replaced is not model and replaced.scale == 4


def test_an_exported_onnx_upscaler_is_listed_loaded_and_runs_like_its_pth(comfy):
    """Core's upscale_models lists no .onnx (its loader cannot run one) and keeps its extensions; ours lists them."""
    from helpers.onnx_models import require_onnx

    require_onnx()
    from ganpost import export_onnx
    import folder_paths

    export_onnx(load_model(_save_tiny(comfy)), comfy.folder / "tiny.onnx")
    assert ".onnx" not in folder_paths.folder_names_and_paths["upscale_models"][1]
    options = comfy.nodes.GanpostLoadUpscaleModel.define_schema().inputs[0].options
    assert {"tiny.pth", "tiny.onnx"} <= set(options)
    (graph,) = comfy.nodes.GanpostLoadUpscaleModel.execute(model_name="tiny.onnx")
    (weights,) = comfy.nodes.GanpostLoadUpscaleModel.execute(model_name="tiny.pth")
    image = torch.rand(1, 40, 36, 3)
    from_graph, _ = _upscale(comfy, graph, image, tile=32, precision="fp32")
    from_weights, _ = _upscale(comfy, weights, image, tile=32, precision="fp32")
    assert (from_graph - from_weights).abs().max() < 1e-4


def test_cache_keeps_a_sessions_models_and_is_bounded_by_memory(comfy, monkeypatch):
    """The soak's case (bench/comfy_soak.py): files used in turn must not reload each other out of the cache
    (a 4-file limit reloaded five models every cycle); past the memory budget the least recently used go."""
    cache = importlib.import_module("ganpost.nodes.model_cache")
    loader = comfy.nodes.GanpostLoadUpscaleModel
    names = [f"m{i}.pth" for i in range(7)]
    for name in names:
        _save_tiny(comfy, name)
    loads = []
    real_load = cache.load_model
    monkeypatch.setattr(cache, "load_model", lambda path, **kw: loads.append(Path(path).name) or real_load(path, **kw))

    first = {name: loader.execute(model_name=name)[0] for name in names[:6]}
    for _ in range(3):  # later cycles: every model comes from the cache
        for name in names[:6]:
            (model,) = loader.execute(model_name=name)
            assert model is first[name]
            _upscale(comfy, model, torch.rand(1, 8, 8, 3), precision="fp32")
    assert loads == names[:6]

    # what a model holds: its tensors, plus working copies that do not share them
    fresh = load_model(comfy.folder / "m0.pth")
    params = sum(p.numel() * p.element_size() for p in fresh.module.parameters())
    assert cache.resident_bytes(fresh) == params
    working_copy(fresh, torch.device("cpu"), torch.float32, False)  # shares the loaded tensors
    assert cache.resident_bytes(fresh) == params
    working_copy(fresh, torch.device("cpu"), torch.bfloat16, False)
    assert cache.resident_bytes(fresh) == params + params // 2

    each = cache.resident_bytes(first["m5.pth"])  # m0..m5 alike: the fp32 copy their runs made
    assert each >= params
    monkeypatch.setattr(cache, "budget_bytes", lambda: 3 * each)  # room for three
    (newest,) = loader.execute(model_name="m6.pth")
    assert loads == names
    assert [Path(key[0]).name for key in cache._CACHE] == ["m4.pth", "m5.pth", "m6.pth"]
    monkeypatch.setattr(cache, "budget_bytes", lambda: 1)  # over budget on its own, the model just loaded stays
    (again,) = loader.execute(model_name="m0.pth")
    assert loader.execute(model_name="m0.pth")[0] is again and len(cache._CACHE) == 1
    monkeypatch.undo()
    assert 0 < cache.budget_bytes() < os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def test_model_folder_is_extended_never_replaced(comfy):
    folders = importlib.import_module("ganpost.nodes.model_folders")
    entry = comfy.folder_paths.folder_names_and_paths["upscale_models"]
    folders.ensure_registered()
    assert comfy.folder_paths.folder_names_and_paths["upscale_models"] is entry
    del comfy.folder_paths.folder_names_and_paths["upscale_models"]
    folders.ensure_registered()
    paths, exts = comfy.folder_paths.folder_names_and_paths["upscale_models"]
    assert paths == [os.path.join(comfy.folder_paths.models_dir, "upscale_models")] and ".pth" in exts


def test_batch_upscale_with_placeholder_mask(comfy):
    model = _load(comfy)
    image, mask = _upscale(comfy, model, torch.rand(2, 20, 24, 3), mask=torch.zeros(1, 64, 64))
    assert image.shape == (2, 40, 48, 3) and image.dtype == torch.float32 and image.device.type == "cpu"
    assert mask.shape == (2, 40, 48) and mask.dtype == torch.float32 and not mask.any()
    assert comfy.progress[-1][0] == comfy.progress[-1][1] == 2
    assert comfy.freed and comfy.freed[0][0] > 0 and comfy.emptied == 1


def test_other_input_dtypes_are_cast(comfy):
    model = _load(comfy)
    source = torch.rand(1, 16, 16, 3)
    reference, _ = _upscale(comfy, model, source)
    image, _ = _upscale(comfy, model, source.to(torch.float16))
    assert image.dtype == torch.float32 and (image - reference).abs().max() < 0.02


@pytest.mark.parametrize("alpha_mode", ["network", "resize"])
def test_mask_becomes_alpha_and_comes_back(comfy, alpha_mode):
    model = _load(comfy)
    mask = torch.zeros(1, 20, 24)
    mask[:, :, :12] = 1  # left half transparent
    rgb = torch.rand(1, 20, 24, 3)
    image, out_mask = _upscale(comfy, model, rgb, mask=mask, alpha_mode=alpha_mode)
    assert image.shape == (1, 40, 48, 3) and out_mask.shape == (1, 40, 48)
    # The node is the core plus conversions: MASK out = 1 − the core's upscaled alpha (alpha = 1 − mask in).
    rgba = torch.cat([rgb.movedim(-1, 1), 1 - mask[:, None]], 1)
    expected = upscale(rgba, model, tile=0, alpha_mode=alpha_mode)
    assert torch.allclose(image, expected[:, :3].movedim(1, -1), atol=1e-6)
    assert torch.allclose(out_mask, 1 - expected[:, 3], atol=1e-6)
    if alpha_mode == "resize":  # bicubic resize of the alpha
        alpha = F.interpolate((1 - mask)[None], size=(40, 48), mode="bicubic", align_corners=False).clamp(0, 1)[0]
        assert torch.allclose(out_mask, 1 - alpha, atol=1e-5)
        assert out_mask[:, :, :20].min() > 0.95 and out_mask[:, :, 28:].max() < 0.05


def test_one_mask_for_a_batch_and_resized_mask(comfy):
    model = _load(comfy)
    mask = torch.zeros(1, 10, 12)
    mask[:, :5] = 1  # top half transparent, at half the image's resolution
    image, out_mask = _upscale(comfy, model, torch.rand(3, 20, 24, 3), mask=mask, alpha_mode="resize")
    assert image.shape == (3, 40, 48, 3) and out_mask.shape == (3, 40, 48)
    assert out_mask[:, :16].min() > 0.95 and out_mask[:, 24:].max() < 0.05


def test_mismatched_masks_are_refused_clearly(comfy):
    model = _load(comfy)
    wrong_aspect = torch.zeros(1, 20, 20)
    wrong_aspect[:, :10] = 1
    with pytest.raises(RuntimeError, match=r"mask is 20×20 but the image is 24×20"):
        _upscale(comfy, model, torch.rand(1, 20, 24, 3), mask=wrong_aspect)
    with pytest.raises(RuntimeError, match="2 masks but the image batch has 3"):
        _upscale(comfy, model, torch.rand(3, 20, 24, 3), mask=torch.ones(2, 20, 24))


def test_rgba_image_stays_rgba_and_outscale(comfy):
    model = _load(comfy)
    image, mask = _upscale(comfy, model, torch.rand(1, 10, 10, 4), outscale=1.5)
    assert image.shape == (1, 15, 15, 4) and mask.shape == (1, 15, 15)
    assert torch.allclose(mask, 1 - image[..., 3])


def test_interrupt_propagates_and_model_returns_to_cpu(comfy):
    model = _load(comfy)
    comfy.interrupt_after = 2  # ComfyUI's interrupt raised from the cancel hook after the second tile
    with pytest.raises(Interrupted):
        _upscale(comfy, model, torch.rand(1, 96, 96, 3), tile=32)
    assert len(comfy.progress) == 2
    assert next(model.module.parameters()).device.type == "cpu"
    assert comfy.emptied == 1


def test_seed_widget_picks_aurasr_noise_and_old_workflows_still_run(comfy):
    from helpers.aurasr import save_tiny_aurasr

    save_tiny_aurasr(comfy.folder / "AuraSR-tiny.safetensors")
    (model,) = comfy.nodes.GanpostLoadUpscaleModel.execute(model_name="AuraSR-tiny.safetensors")
    seed_input = next(i for i in comfy.nodes.GanpostUpscaleImage.define_schema().inputs if i.id == "seed")
    assert seed_input.optional and seed_input.control_after_generate
    image = torch.rand(1, 24, 20, 3, generator=torch.Generator().manual_seed(0))
    first = _upscale(comfy, model, image, precision="fp32", seed=5)[0]
    assert first.shape == (1, 96, 80, 3)
    assert torch.equal(first, _upscale(comfy, model, image, precision="fp32", seed=5)[0])
    assert (first - _upscale(comfy, model, image, precision="fp32", seed=6)[0]).abs().mean() > 1e-4
    assert torch.equal(_upscale(comfy, model, image, precision="fp32")[0],  # a workflow saved without a seed
                       _upscale(comfy, model, image, precision="fp32", seed=0)[0])


def test_seed_is_ignored_by_models_without_noise(comfy):
    model = _load(comfy)
    image = torch.rand(1, 16, 16, 3)
    assert torch.equal(_upscale(comfy, model, image, seed=123)[0], _upscale(comfy, model, image)[0])


def test_aurasr_example_workflow_runs_node_by_node(comfy):
    """example_workflows/api/aurasr_workflow_api.json with the fake ComfyUI: its widget values are the nodes' inputs."""
    import json

    from helpers.aurasr import save_tiny_aurasr

    workflow = json.loads((REPO / "example_workflows" / "api" / "aurasr_workflow_api.json").read_text())
    loader, upscaler = workflow["2"]["inputs"], workflow["3"]["inputs"]
    save_tiny_aurasr(comfy.folder / loader["model_name"])
    (model,) = comfy.nodes.GanpostLoadUpscaleModel.execute(**loader)
    widgets = {k: v for k, v in upscaler.items() if not isinstance(v, list)}  # links are wired below
    assert widgets["seed"] == 42
    image = torch.rand(1, 16, 16, 3)
    out, mask = comfy.nodes.GanpostUpscaleImage.execute(model=model, image=image, mask=torch.zeros(1, 16, 16),
                                                        **widgets)
    assert out.shape == (1, 64, 64, 3) and not mask.any()


def test_core_errors_are_raised_not_swallowed(comfy):
    model = _load(comfy)
    bad = torch.rand(1, 16, 16, 3)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(RuntimeError, match=r"ganpost \(tiny\): .*NaN"):
        _upscale(comfy, model, bad)
    with pytest.raises(RuntimeError, match=r"ganpost \(tiny\): tile must be .* ≥ 32, not 16"):  # the task's check
        _upscale(comfy, model, torch.rand(1, 16, 16, 3), tile=16)
    with pytest.raises(TypeError, match="Load Upscale Model"):
        _upscale(comfy, object(), torch.rand(1, 16, 16, 3))


def test_corrupt_model_error_names_file(comfy):
    # The second payload makes torch's weights-only unpickler raise a bare IndexError.
    for payload in (b"not a checkpoint", b"this is not a checkpoint at all", b"PK\x03\x04 truncated zip"):
        (comfy.folder / "broken.pth").write_bytes(payload)
        with pytest.raises(RuntimeError, match=r"ganpost could not load broken\.pth.*(corrupt|truncated)"):
            comfy.nodes.GanpostLoadUpscaleModel.execute(model_name="broken.pth")
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        comfy.nodes.GanpostLoadUpscaleModel.execute(model_name="missing.pth")


def test_pack_imports_without_comfyui():
    import ganpost

    assert callable(ganpost.comfy_entrypoint)
    assert not any(m in sys.modules for m in COMFY_MODULES)


def _training_images(tmp_path):
    from PIL import Image

    from helpers.models import natural_image

    folder = tmp_path / "input" / "photos"
    folder.mkdir(parents=True)
    for i in range(2):
        Image.fromarray(natural_image(48, 48, seed=i)).save(folder / f"{i}.png")
    return folder


def _train(comfy, model, **overrides):
    args = dict(image_folder="photos", steps=4, recipe="l1 (fast, RealESRNet-style)", degradation="bicubic",
                learning_rate=1e-3, batch_size=2, crop_size=32, seed=0, run_name="mine", resume=True) | overrides
    train_nodes = importlib.import_module("ganpost.nodes.train_nodes")
    with torch.inference_mode():  # as ComfyUI runs every node
        return train_nodes.GanpostTrainUpscaleModel.execute(model=model, **args)


def test_training_node_fine_tunes_publishes_and_previews(comfy, tmp_path):
    with torch.inference_mode():
        model = _load(comfy)
    _training_images(tmp_path)
    trained, summary = _train(comfy, model, validation_folder="photos", steps=50)
    assert trained.architecture == model.architecture and trained.scale == model.scale
    assert (comfy.folder / "mine.pth").is_file() and "step 50/50" in summary and "PSNR" in summary
    assert comfy.progress[-1][0] == 50 and comfy.previews and comfy.previews[0][0] == "JPEG"
    changed = any(not torch.equal(a, b) for a, b in zip(trained.module.state_dict().values(),
                                                         model.module.state_dict().values()))
    assert changed
    # the input model object is not modified by training
    assert all(p.device.type == "cpu" for p in model.module.parameters())


def test_training_node_cancel_keeps_the_checkpoint_and_resumes(comfy, tmp_path):
    model = _load(comfy)
    _training_images(tmp_path)
    comfy.interrupt_after = 2
    with pytest.raises(Interrupted):
        _train(comfy, model)
    state = torch.load(tmp_path / "output/ganpost_training/mine/state/latest.state", weights_only=True)
    assert state["step"] == 2
    comfy.interrupt_after = None
    _, summary = _train(comfy, model)
    assert "step 4/4" in summary
    assert comfy.progress[-1][0] == 4 and comfy.progress[-3][0] == 2  # 2 steps before, 3 and 4 after resuming


def test_training_node_never_starts_over_a_saved_run(comfy, tmp_path):
    model = _load(comfy)
    _training_images(tmp_path)
    _train(comfy, model, steps=2)
    run = tmp_path / "output/ganpost_training/mine"
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and not p.name.startswith(".")}
    with pytest.raises(RuntimeError, match=r"\(mine\): .*already holds a training run.*Turn resume on"):
        _train(comfy, model, steps=3, resume=False)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and not p.name.startswith(".")} == before
    _, summary = _train(comfy, model, steps=3)  # resume on (the default) continues it
    assert "step 3/3" in summary


def test_training_node_bad_folder_is_a_clear_error(comfy, tmp_path):
    model = _load(comfy)
    with pytest.raises(RuntimeError, match="training folder .*no such folder"):
        _train(comfy, model, image_folder=str(tmp_path / "nowhere"))


# ---------------------------------------------------------------------------- the fake is the real API
def _real_io_source() -> str:
    """comfy_api/latest/_io.py of a ComfyUI checkout ($COMFYUI_DIR, or lab/comfy/ComfyUI beside the repo)."""
    repo = REPO
    candidates = [os.environ.get("COMFYUI_DIR")] + [str(base / "lab/comfy/ComfyUI") for base in (repo, repo.parent)]
    for root in filter(None, candidates):
        path = Path(root) / "comfy_api/latest/_io.py"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    pytest.skip("no ComfyUI checkout found (set COMFYUI_DIR) to compare the fake's signatures with")


def _real_signatures(source: str) -> dict[str, list[str]]:
    """'Class.Nested' → its __init__ parameters (a dataclass: its fields) in the real _io.py."""
    found = {}

    def visit(node, prefix):
        for item in node.body:
            if not isinstance(item, ast.ClassDef):
                continue
            name = prefix + item.name
            init = next((f for f in item.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None)
            if init is not None:
                a = init.args
                positional = [p.arg for p in a.posonlyargs + a.args][1:]  # without self
                found[name] = positional + (["*" + a.vararg.arg] if a.vararg else []) + [p.arg for p in a.kwonlyargs]
            elif any(getattr(d, "id", getattr(d, "attr", None)) == "dataclass" for d in item.decorator_list):
                found[name] = [f.target.id for f in item.body if isinstance(f, ast.AnnAssign)]
            visit(item, name + ".")

    visit(ast.parse(source), "")
    return found


def _fake_signature(cls) -> list[str]:
    params = inspect.signature(cls).parameters.values()
    return [("*" if p.kind is p.VAR_POSITIONAL else "") + p.name for p in params]


FAKED = ("Input", "WidgetInput", "Output", "Boolean.Input", "Int.Input", "Float.Input", "String.Input",
         "Combo.Input", "Combo.Output", "MultiType.Input", "Schema", "NodeOutput")


def test_fake_io_takes_exactly_the_real_keywords():
    real = _real_signatures(_real_io_source())
    io = fake_comfy.fake_io()
    for name in FAKED:
        cls = io
        for part in name.split("."):
            cls = getattr(cls, part)
        assert _fake_signature(cls) == real[name], name


def test_fake_io_rejects_unknown_keywords():
    io = fake_comfy.fake_io()
    with pytest.raises(TypeError):
        io.Int.Input("steps", minimum=1)
    with pytest.raises(TypeError):
        io.Combo.Input("precision", options=["a"], step=1)
    with pytest.raises(TypeError):
        io.Schema(node_id="x", catgory="typo")
    with pytest.raises(TypeError):
        io.Image.Output(name="image")
    assert io.Float.Input("f", round=0.01, min=0.0).round == 0.01


def test_every_node_schema_is_valid(comfy):
    import ganpost

    nodes = asyncio.run(asyncio.run(ganpost.comfy_entrypoint()).get_node_list())
    for node in nodes:
        node.define_schema().validate()


# ---------------------------------------------------------------------------- core's UPSCALE_MODEL
def _spandrel():
    from reference import spandrel_or_skip

    return spandrel_or_skip()


def _core_loader(sd):
    """What core's UpscaleModelLoader hands out for these tensors."""
    return _spandrel().ModelLoader().load_from_state_dict(sd).eval()


def test_model_input_takes_ours_and_cores(comfy):
    schema = comfy.nodes.GanpostUpscaleImage.define_schema()
    model_input = next(i for i in schema.inputs if i.id == "model")
    assert model_input.get_io_type() == "GANPOST_MODEL,UPSCALE_MODEL"


@pytest.mark.parametrize("network", ["compact", "rrdbnet"])
def test_our_architectures_through_cores_loader_equal_our_loader(comfy, network):
    from helpers.models import tiny_rrdbnet

    # spandrel assumes RRDBNet's usual 32 growth channels
    module = tiny_compact(scale=2, num_conv=2) if network == "compact" else tiny_rrdbnet(2, 1, 8, 32)
    save_official(module, comfy.folder / "tiny.pth")
    (ours,) = comfy.nodes.GanpostLoadUpscaleModel.execute(model_name="tiny.pth")
    core = _core_loader(module.state_dict())
    image = torch.rand(1, 40, 36, 3)
    expected, _ = _upscale(comfy, ours, image, tile=32)
    result, _ = _upscale(comfy, core, image, tile=32)
    assert torch.equal(result, expected)
    from ganpost.gan_models.spandrel_adapter import from_spandrel

    converted = from_spandrel(core)
    assert converted.architecture == ours.architecture and converted.module is not core.model
    assert from_spandrel(core) is converted  # the next run reuses the conversion


def test_real_compact_file_through_cores_loader(comfy):
    from helpers.models import shared_weight

    path = shared_weight("realesr-animevideov3.pth")
    (comfy.folder / path.name).symlink_to(path)
    (ours,) = comfy.nodes.GanpostLoadUpscaleModel.execute(model_name=path.name)
    core = _spandrel().ModelLoader().load_from_file(path).eval()
    image = torch.rand(1, 24, 32, 3)
    assert torch.equal(_upscale(comfy, core, image, precision="fp32")[0],
                       _upscale(comfy, ours, image, precision="fp32")[0])


def _tiny_span():
    from spandrel.architectures.SPAN import SPAN

    return SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2).eval()


def test_foreign_architecture_runs_spandrels_module_with_our_tiling(comfy):
    _spandrel()
    core = _core_loader(_tiny_span().state_dict())
    assert core.architecture.id == "SPAN"
    before = {k: v.clone() for k, v in core.model.state_dict().items()}
    image = torch.rand(1, 48, 40, 3)
    whole, mask = _upscale(comfy, core, image, tile=0, precision="fp32")
    tiled, _ = _upscale(comfy, core, image, tile=32, precision="fp32")
    # ours ran deep copies: SPAN rewrites its eval_conv weights on every eval forward, spandrel's call included
    assert all(torch.equal(before[k], v) for k, v in core.model.state_dict().items())
    reference = core(image.movedim(-1, 1)).movedim(1, -1)  # spandrel's own call, one pass
    assert whole.shape == (1, 96, 80, 3) and mask.shape == (1, 96, 80)
    assert_close_to_scale(whole, reference)
    assert (tiled - reference).abs().max() < 1e-3  # a 32 px margin covers SPAN's receptive field
    converted = importlib.import_module("ganpost.gan_models.spandrel_adapter").from_spandrel(core)
    assert converted.architecture == "spandrel SPAN" and converted.scale == 2
    assert converted.contract.tiling.margin == 32 and not converted.contract.tiling.exact
    assert converted.fp16_safe and converted.bf16_safe
    assert comfy.freed[-1][0] > 0


def test_foreign_call_function_and_square_requirement(comfy):
    core = FakeSpandrelDescriptor()
    image = torch.rand(1, 10, 6, 3)
    result, _ = _upscale(comfy, core, image, precision="fp32")
    assert result.shape == (1, 20, 12, 3)
    # the runner pads 10×6 to the size rule (12×8), the wrapper then to a square (12×12)
    padded = F.pad(F.pad(image.movedim(-1, 1), (0, 2, 0, 2), mode="reflect"), (0, 4, 0, 0), mode="reflect")
    expected = F.pixel_shuffle(core.model.conv(padded), 2)[..., :20, :12].clamp(0, 1).movedim(1, -1)
    assert torch.allclose(result, expected, atol=1e-6)


def test_unusable_core_models_are_refused_clearly(comfy):
    with pytest.raises(RuntimeError, match=r"core UPSCALE_MODEL\): spandrel Toy: its purpose is 'Inpainting'"):
        _upscale(comfy, FakeSpandrelDescriptor(purpose="Inpainting"), torch.rand(1, 8, 8, 3))
    with pytest.raises(RuntimeError, match="is a face restorer, not an upscaler"):
        _upscale(comfy, FakeSpandrelDescriptor(purpose="FaceSR"), torch.rand(1, 8, 8, 3))
    with pytest.raises(TypeError, match="core's 'Load Upscale Model', not str"):
        _upscale(comfy, "RealESRGAN_x4plus.pth", torch.rand(1, 8, 8, 3))
