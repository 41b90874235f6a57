"""``load_model("x.onnx")``: a file written by ``ganpost export`` as a :class:`ModelDescriptor` on onnxruntime.

The contract comes from the file's metadata (:mod:`.onnx_metadata`), so every front-end tiles,
pads, maps value ranges and handles alpha and 16-bit images as for the PyTorch network. Each
way a file can be unusable gets one line naming the file and what to do.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from . import onnx_metadata, registry
from .contract import AtInference, ModelDescriptor
from .errors import InvalidOptionError, ModelFileError, UnsupportedModelError
from .onnx_module import OnnxModule
from .options import Option

log = logging.getLogger(__name__)
INSTALL = "pip install 'ganpost[onnx]'"


def require(module: str, label: str):
    """``onnx`` or ``onnxruntime``, or a one-line error saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ModelFileError(f"{label}: {module} is not installed; ONNX files need the onnx extra: {INSTALL}") from err


def load_onnx(path: str | Path, *, device: str | torch.device = "cpu", **options) -> ModelDescriptor:
    path = Path(path)
    label = str(path)
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        raise InvalidOptionError(f"{label} is an exported ONNX file, which takes no load options "
                                 f"({', '.join(given)}): they were fixed when it was exported")
    onnx = require("onnx", label)
    ort = require("onnxruntime", label)
    graph = _read_graph(onnx, path)
    metadata = {p.key: p.value for p in graph.metadata_props}
    if not onnx_metadata.is_ours(metadata):
        raise UnsupportedModelError(
            f"{label}: an ONNX file without ganpost's metadata (not written by ganpost export), so its scale, value "
            "range and size rule are unknown; export the original weights with: ganpost export MODEL -o FILE.onnx")
    architecture, hyperparameters, fields, facts, count = onnx_metadata.read(metadata, label)
    family, declared = None, {}
    if architecture in registry.architectures():
        entry = registry.entry_for(architecture)
        family, declared = entry.contract(hyperparameters), {o.forward_keyword: o for o in entry.forward_options}
    # forward options the graph takes as inputs: their declarations (range, help) from the family
    options = tuple(declared.get(keyword) or Option(name, float, default, f"{name} (an input of {path.name})")
                    for name, keyword, default in facts.options)
    contract = onnx_metadata.contract_of(fields, facts, family, label, options)
    _check_external_data(graph, path)
    session = _session(ort, path, _opset(graph), torch.get_num_threads())
    module = OnnxModule(path, session, fixed_batch=facts.fixed_batch,
                        as_trained=contract.test_time == AtInference.AS_TRAINED, noise=facts.noise,
                        seed_keyword=facts.seed_keyword, default_seed=facts.default_seed, options=facts.options)
    log.info("%s: %s exported to ONNX (%s, opset %d) on onnxruntime %s", path.name, architecture, facts.precision,
             facts.opset, ort.__version__)
    del device  # sessions follow the inputs' device (see OnnxModule._session)
    return ModelDescriptor(architecture=architecture, contract=contract, param_count=count, source=path,
                           module=module, hyperparameters=hyperparameters)


def _read_graph(onnx, path: Path):
    """The model proto without its weights' data checked: enough to read metadata and opset."""
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf's DecodeError and friends: a truncated or foreign file
        raise ModelFileError(f"{path}: not a readable ONNX file ({type(err).__name__}: {str(err)[:120]}); it may be "
                             "truncated or damaged: export or download it again") from err


def _check_external_data(graph, path: Path) -> None:
    """A large graph's weights live in files beside it (``<name>.onnx.data``): each must be there, and whole."""
    needed: dict[str, int] = {}
    for tensor in graph.graph.initializer:
        if tensor.data_location != tensor.EXTERNAL:
            continue
        entries = {e.key: e.value for e in tensor.external_data}
        end = int(entries.get("offset", 0)) + int(entries.get("length", 0))
        needed[entries.get("location", "")] = max(needed.get(entries.get("location", ""), 0), end)
    for location, end in needed.items():
        file = path.parent / location
        if not location or Path(location).is_absolute() or ".." in Path(location).parts:
            raise ModelFileError(f"{path}: its weights are said to be in {location!r}, outside its folder; export "
                                 "it again with ganpost export")
        if not file.is_file():
            raise ModelFileError(f"{path}: its weights file {location} is missing; keep it beside the graph (the two "
                                 "files go together) or export it again")
        if file.stat().st_size < end:
            raise ModelFileError(f"{path}: its weights file {location} is truncated ({file.stat().st_size} of at least "
                                 f"{end} bytes); copy it again or export it again")


def _opset(graph) -> int:
    return max((o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")), default=0)


def _session(ort, path: Path, opset: int, threads: int):
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)  # as many as torch uses, so the two backends compare fairly
    options.log_severity_level = 4  # fatal only: its error log would repeat, over lines, the error we raise
    # Idle pool threads spin by default, taking the cores from torch (and ComfyUI) between our forwards.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as err:
        text = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        if "opset" in text.lower() or "version" in text.lower():
            raise ModelFileError(f"{path}: uses ONNX opset {opset}, which onnxruntime {ort.__version__} cannot run "
                                 f"({text}); export it again with a lower --opset (ganpost's default is 17) or "
                                 "upgrade onnxruntime") from err
        raise ModelFileError(f"{path}: onnxruntime {ort.__version__} cannot load it ({text}); it may be truncated "
                             "or damaged: export it again") from err
