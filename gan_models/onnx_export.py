"""``export_onnx(model, path)``: any loaded network as an ONNX file that ganpost (or anyone) can run.

Generic over the contract: the graph is the network and its output adapter (detectors keep their
raw outputs; decoding them stays in ganpost), with batch, height and width dynamic where the
network allows it. The value-range mapping, padding and tiling stay outside the graph, in the
runner, which reads them back from the file's metadata. A family whose network cannot be traced
as it is declares an export-only module on its registry entry (``ArchitectureEntry.export_module``),
with a test that it gives the same output.

The file is loaded back on onnxruntime before it is handed over and compared with PyTorch on a
test image; the comparison is returned (:class:`ExportCheck`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .atomic import atomic_write
from .contract import AtInference, ModelContract, ModelDescriptor, Task
from .errors import InvalidOptionError, ModelFileError, OutputError, UnsupportedModelError
from .onnx_load import load_onnx, require
from .onnx_module import OnnxModule
from .onnx_metadata import IMAGE, RAW, ExportFacts, to_metadata
from . import registry

DEFAULT_OPSET = 17
OPSETS = range(11, 21)  # what torch's TorchScript exporter writes; onnxruntime runs all of them
DEFAULT_STATIC_SIDE = 256
DATA_SUFFIX = ".data"  # a large graph's weights: <name>.onnx.data beside it
EXTERNAL_DATA_BYTES = 2**31 - 2**26  # protobuf holds 2 GiB; past ~1.94 GiB of weights they go beside the graph


@dataclass(frozen=True)
class ExportCheck:
    """The exported file against PyTorch on a [0, 1] test image, through the runner (fp32 reference)."""

    path: Path
    max_error: float
    mean_error: float
    sizes: tuple[tuple[int, int], ...]
    """The (height, width) of each test image compared."""
    stochastic: bool
    """Dropout runs at test time (pix2pix's official test): both outputs are random draws, so they differ."""
    seconds: float

    def summary(self) -> str:
        sizes = ", ".join(f"{w}×{h}" for h, w in self.sizes)
        note = " (dropout on at test time: both are random draws)" if self.stochastic else ""
        return f"|ONNX − PyTorch| on {sizes}: max {self.max_error:.2e}, mean {self.mean_error:.2e}{note}"


class _Graph(nn.Module):
    """What is traced: the network, then the contract's output adapter (detectors: the raw outputs)."""

    def __init__(self, network: nn.Module, contract: ModelContract):
        super().__init__()
        self.network, self.contract = network, contract

    def forward(self, x: torch.Tensor, *noise: torch.Tensor):
        out = self.network(x, *noise)
        if self.contract.decode is None:
            return self.contract.output_adapter(out)
        return tuple(out) if isinstance(out, (tuple, list)) else out


def export_onnx(model, path: str | Path, *, opset: int = DEFAULT_OPSET, dynamic: bool = True, fp16: bool = False,
                side: int | None = None, check: bool = True) -> ExportCheck | None:
    """Write ``model`` (a loaded model, file or known name) to ``path`` as ONNX with ganpost's metadata.

    ``dynamic``: batch, height and width free (in the size rule's multiple); False fixes them to
    ``side`` (default: the network's fixed window, else 256 px in its multiple) and batch 1.
    ``fp16``: weights and input in half precision (onnxruntime runs it on CPU and GPU).
    ``check``: load the file back and compare it with PyTorch; returns that comparison.
    """
    from .loader import as_model

    onnx = require("onnx", str(path))
    require("onnxruntime", str(path))
    if opset not in OPSETS:
        raise InvalidOptionError(f"opset must be between {OPSETS[0]} and {OPSETS[-1]}, not {opset!r}")
    descriptor = as_model(model)
    if isinstance(descriptor.module, OnnxModule):
        raise InvalidOptionError(f"{descriptor.source} is an ONNX file already; export its original weights")
    contract = descriptor.contract
    if contract.task == Task.DISCRIMINATOR:
        raise InvalidOptionError(f"{descriptor.name} is {descriptor.kind}: only inference networks are exported")
    fixed = contract.size.fixed
    sample_side = fixed or _in_multiple(side or (DEFAULT_STATIC_SIDE if not dynamic else 32), contract)
    if fixed and side not in (None, fixed):
        raise InvalidOptionError(f"{descriptor.name} reads windows of exactly {fixed} px; it exports at that side")
    network, as_trained = _network(descriptor, fp16)
    graph = _Graph(network, contract).train(as_trained)  # batch statistics and dropout stay as at test time
    dtype = torch.float16 if fp16 else torch.float32
    sample = torch.rand(1, contract.in_channels, sample_side, sample_side, dtype=dtype)
    # Noise the network would draw inside its forward, and forward options kept free (a fidelity weight),
    # come in as fp32 inputs after the image (ExportFacts.noise, ExportFacts.options).
    noise = tuple(getattr(network, "noise_inputs", ()))
    options = _option_inputs(network, contract, descriptor.name)
    samples = (sample, *(torch.randn(shape) for _, shape in noise),
               *(torch.tensor([float(option.default)]) for option in options))
    outputs = RAW if contract.decode is not None else IMAGE
    with torch.inference_mode():
        traced = graph(*samples)
    count = len(traced) if isinstance(traced, tuple) else 1
    names = ["output"] if count == 1 else [f"output_{i}" for i in range(count)]
    facts = ExportFacts(outputs=outputs, fixed_batch=True, fixed_side=None if dynamic or fixed else sample_side,
                        precision="fp16" if fp16 else "fp32", opset=opset,
                        noise=tuple((name, tuple(shape)) for name, shape in noise),
                        options=tuple((o.name, o.forward_keyword, float(o.default)) for o in options),
                        seed_keyword=contract.seed_keyword if noise else None,
                        default_seed=int(getattr(network, "default_seed", 0)))
    target = Path(path)
    with _scratch(target) as scratch:
        extra = [name for name, _ in noise] + [option.name for option in options]
        # an export module whose graph would be wrong for another batch (groups=batch) says so
        free_batch = dynamic and not getattr(network, "fixed_batch", False)
        traced_file, fixed_batch = _trace(graph, samples, extra, names, opset,
                                          batch=free_batch, spatial=dynamic and not fixed, as_trained=as_trained,
                                          folder=scratch)
        facts = dataclasses.replace(facts, fixed_batch=fixed_batch)
        proto = onnx.load(str(traced_file))  # with its weights, wherever the exporter put them
        from .. import __version__

        for key, value in to_metadata(descriptor.architecture, descriptor.hyperparameters, contract, facts,
                                      descriptor.param_count, __version__).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name, proto.doc_string = "ganpost", descriptor.summary()
        _save(onnx, proto, target, scratch)
    stochastic = _has_live_dropout(network)
    del proto, network, graph  # a large network's copies go before the check loads the file
    if not check:
        return None
    return compare(descriptor, load_onnx(target), stochastic=stochastic, sizes=_check_sizes(
        sample_side, contract, dynamic and not fixed))


def _option_inputs(network: nn.Module, contract: ModelContract, name: str) -> tuple:
    """The forward options an export-only module takes as graph inputs (its ``option_inputs``: forward keywords)."""
    declared = {option.forward_keyword: option for option in contract.forward_options}
    options = []
    for keyword in getattr(network, "option_inputs", ()):
        option = declared.get(keyword)
        if option is None or option.type is not float or option.default is None:
            raise UnsupportedModelError(f"{name}: its export module takes {keyword!r} as an input, which is not one "
                                        "of its float forward options with a default")
        options.append(option)
    return tuple(options)


@contextlib.contextmanager
def _scratch(target: Path):
    """A temporary folder beside ``target`` (same file system, so the finished files are renamed into place)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".export", dir=target.parent)
    except OSError as err:
        raise OutputError(f"cannot write {target}: {target.parent} is not writable ({err.strerror or err}). "
                          "Choose another output location or fix the folder's permissions.") from err
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _save(onnx, proto, target: Path, scratch: Path) -> None:
    """One file, or past protobuf's 2 GB the graph and ``<name>.data`` beside it (ONNX external data).

    Both are written in ``scratch`` and renamed into place, the data first: an interrupted export
    never leaves a graph whose weights are partly written.
    """
    data = target.with_name(target.name + DATA_SUFFIX)
    large = sum(t.ByteSize() for t in proto.graph.initializer) > EXTERNAL_DATA_BYTES
    written = scratch / target.name
    try:
        if large:
            onnx.save_model(proto, str(written), save_as_external_data=True, all_tensors_to_one_file=True,
                            location=data.name, size_threshold=1024)
            os.replace(scratch / data.name, data)
        else:
            onnx.save_model(proto, str(written))
        os.replace(written, target)
    except OSError as err:
        raise OutputError(f"cannot write {target} ({err.strerror or err}); check the free space and permissions "
                          "of its folder") from err
    if not large:
        data.unlink(missing_ok=True)  # an older large export's weights, which this graph does not read


def _in_multiple(side: int, contract: ModelContract) -> int:
    rule = contract.size
    side = max(side, rule.minimum)
    return side + (-side) % rule.multiple


def _check_sizes(side: int, contract: ModelContract, dynamic: bool) -> tuple[tuple[int, int], ...]:
    if not dynamic:
        return ((side, side),)
    step = contract.size.multiple
    return ((side, side), (side + step * max(1, 8 // step), side + 2 * step * max(1, 8 // step)))


def _network(descriptor: ModelDescriptor, fp16: bool) -> tuple[nn.Module, bool]:
    """A CPU copy of the network for tracing (the loaded module is never touched), in its test-time mode."""
    network = copy.deepcopy(descriptor.module).cpu().float()
    if descriptor.architecture in registry.architectures():
        hook = registry.entry_for(descriptor.architecture).export_module
        if hook is not None:
            network = hook(network, descriptor.hyperparameters)
    as_trained = descriptor.contract.test_time == AtInference.AS_TRAINED
    network.train(as_trained).requires_grad_(False)
    return (network.half() if fp16 else network), as_trained


def _has_live_dropout(network: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.dropout._DropoutNd) and m.training and m.p > 0 for m in network.modules())


def _trace(graph: nn.Module, samples: tuple[torch.Tensor, ...], noise_names: list[str], names: list[str],
           opset: int, *, batch: bool, spatial: bool, as_trained: bool, folder: Path) -> tuple[Path, bool]:
    """The traced file (in ``folder``, weights past 2 GB beside it) and whether the batch had to be fixed to 1.

    ``batch`` / ``spatial``: the batch / height and width free (a fixed-window network keeps its window, its
    batch may still be free). A network whose weights depend on the batch (StyleGAN2's modulated convolutions
    reshape them per sample) cannot trace with a free batch: it is traced with batch 1 and the module feeds
    windows one at a time. Noise and option inputs keep their shapes (one draw, one value for the whole batch).
    """
    sizes = {2: "height", 3: "width"} if spatial else {}
    out_sizes = {2: "out_height", 3: "out_width"} if spatial and len(names) == 1 else {}
    for fixed_batch in ((False, True) if batch else (True,)):
        axes = None
        if batch or spatial:
            first = {} if fixed_batch else {0: "batch"}
            axes = {"image": {**first, **sizes}}
            for name in names:
                axes[name] = {**first, **out_sizes}
                if len(names) > 1:  # a detector's outputs: batch × candidates × values
                    axes[name] = {**first, **({1: "candidates"} if spatial else {})}
        file = folder / ("graph.onnx" if not fixed_batch else "graph_batch1.onnx")
        try:
            with warnings.catch_warnings(), torch.no_grad(), _quiet_stdout():
                # the TorchScript exporter's deprecation and tracer notices; it prints the whole graph on failure
                warnings.simplefilter("ignore")
                # a path, not a buffer: past 2 GB the exporter writes the weights beside it (external data)
                torch.onnx.export(graph, samples, str(file), dynamo=False, opset_version=opset,
                                  input_names=["image", *noise_names], output_names=names, dynamic_axes=axes,
                                  training=torch.onnx.TrainingMode.PRESERVE if as_trained
                                  else torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
            return file, fixed_batch
        except Exception as err:  # the exporter raises several unrelated types (SymbolicValueError, ...)
            if fixed_batch or not _batch_dependent(err):
                raise ModelFileError(f"this network cannot be exported to ONNX opset {opset} "
                                     f"({type(err).__name__}: {str(err).splitlines()[0][:200]})") from err
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _quiet_stdout():
    """The exporter's C++ side prints the whole TorchScript graph to file descriptor 1 when tracing fails;
    the first (free-batch) attempt may fail by design, so that output goes to the null device."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _batch_dependent(err: Exception) -> bool:
    return "unknown shape" in str(err) or "dynamic" in str(err).lower()


def compare(reference: ModelDescriptor, exported: ModelDescriptor, *, sizes, stochastic: bool = False,
            seed: int = 0) -> ExportCheck:
    """Both models through the runner (fp32, CPU, one window) on smooth random [0, 1] images."""
    from ..runtime.runner import Runner

    start = time.perf_counter()
    largest, total, count = 0.0, 0.0, 0
    generator = torch.Generator().manual_seed(seed)
    for height, width in sizes:
        batch = 1 if reference.contract.test_time == AtInference.AS_TRAINED else 2  # a free batch is checked too
        image = torch.cat([check_image(reference.contract.in_channels, height, width, generator)
                           for _ in range(batch)])
        with Runner(reference, device="cpu", precision="fp32") as ours, \
                Runner(exported, device="cpu", precision="fp32") as theirs:
            a, b = ours.forward(image), theirs.forward(image)
        diff = (a - b).abs()
        largest, total, count = max(largest, float(diff.max())), total + float(diff.sum()), count + diff.numel()
    return ExportCheck(Path(exported.source), largest, total / max(count, 1), tuple(sizes), stochastic,
                       time.perf_counter() - start)


def check_image(channels: int, height: int, width: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Smooth texture in [0, 1] (random blocks, bilinearly enlarged) plus fine noise: like a photo, not like noise."""
    coarse = torch.rand(1, channels, max(2, height // 8), max(2, width // 8), generator=generator)
    smooth = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    fine = torch.rand(1, channels, height, width, generator=generator)
    return (0.85 * smooth + 0.15 * fine).clamp(0, 1)
