"""Engines built from exported ONNX files (TensorRT on a GPU), and their accuracy and speed against PyTorch.

An :class:`Engine` runs one exported file on torch tensors in the network's own value range. Three
kinds, tried in this order by :func:`engine_kinds`:

* ``ort:TensorrtExecutionProvider``: onnxruntime's TensorRT provider, fp16, engines cached per file;
* ``tensorrt``: the TensorRT Python API (``import tensorrt``), fp16, one optimisation profile;
* ``ort:CUDAExecutionProvider`` / ``ort:CPUExecutionProvider``: onnxruntime without TensorRT (the
  CPU one is how the tests run this code on a machine without a GPU).

:func:`check_engine` compares an engine with the PyTorch network on the same inputs (max / mean
|Δ| on [0, 1] images, the fp32 network as reference) and times both (the engine against PyTorch in
fp16 on a GPU, fp32 on a CPU). ``bench/gpu_check.py``'s ``tensorrt`` section calls it.
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

TRT_ORT = "ort:TensorrtExecutionProvider"
TRT_API = "tensorrt"


class EngineError(RuntimeError):
    """An engine that cannot be built or cannot take an input: one line saying which and why."""


def engine_kinds(device: torch.device) -> list[str]:
    """The kinds of engine this machine can build for ``device``, best first (TensorRT first on a GPU)."""
    kinds = []
    try:
        import onnx  # noqa: F401 - the export needs it
        import onnxruntime

        available = onnxruntime.get_available_providers()
    except ImportError:
        available = []
    if device.type == "cuda":
        if "TensorrtExecutionProvider" in available:
            kinds.append(TRT_ORT)
        try:
            import tensorrt  # noqa: F401

            kinds.append(TRT_API)
        except ImportError:
            pass
        if "CUDAExecutionProvider" in available:
            kinds.append("ort:CUDAExecutionProvider")
    elif "CPUExecutionProvider" in available:
        kinds.append("ort:CPUExecutionProvider")
    return kinds


@dataclass(frozen=True)
class Profile:
    """The input shapes an engine is built for: (batch, height, width) at least, best and at most."""

    minimum: tuple[int, int, int]
    best: tuple[int, int, int]
    maximum: tuple[int, int, int]

    def holds(self, batch: int, height: int, width: int) -> bool:
        return all(lo <= v <= hi for lo, v, hi in zip(self.minimum, (batch, height, width), self.maximum))

    def text(self) -> str:
        return " to ".join("×".join(map(str, s)) for s in (self.minimum, self.maximum))


class Engine:
    """``engine(x)``: ``x`` B×C×H×W on the engine's device, in the network's value range → its first output."""

    def __init__(self, path: Path, kind: str, device: torch.device, profile: Profile, channels: int):
        self.path, self.kind, self.device, self.profile, self.channels = Path(path), kind, device, profile, channels

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        if channels != self.channels or not self.profile.holds(batch, height, width):
            raise EngineError(f"{self.path.name} ({self.kind}): a {batch}×{channels}×{height}×{width} input is outside "
                              f"the engine's profile ({self.channels} channels, batch×height×width "
                              f"{self.profile.text()}); build it with a profile that holds it")
        return self._run(x.contiguous())

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class OrtEngine(Engine):
    """onnxruntime with one provider; on CUDA its inputs and outputs stay on the GPU (IO binding)."""

    def __init__(self, path, kind, device, profile, channels, fp16: bool, cache: Path | None):
        super().__init__(path, kind, device, profile, channels)
        import onnxruntime

        provider = kind.split(":", 1)[1]
        options = {}
        if provider == "TensorrtExecutionProvider":
            name = self._input_name(onnxruntime)
            shape = lambda s: f"{name}:{s[0]}x{channels}x{s[1]}x{s[2]}"  # noqa: E731
            options = {"device_id": device.index or 0, "trt_fp16_enable": fp16,
                       "trt_profile_min_shapes": shape(profile.minimum), "trt_profile_opt_shapes": shape(profile.best),
                       "trt_profile_max_shapes": shape(profile.maximum)}
            if cache is not None:
                options.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(cache))
        elif provider == "CUDAExecutionProvider":
            options = {"device_id": device.index or 0}
        session_options = onnxruntime.SessionOptions()
        session_options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(path), sess_options=session_options,
                                                        providers=[(provider, options)])
        except Exception as err:  # onnxruntime's own exception types
            raise EngineError(f"{Path(path).name}: {kind} could not build an engine "
                              f"({str(err).splitlines()[0][:200] if str(err) else type(err).__name__})") from err
        if provider not in self.session.get_providers():
            raise EngineError(f"{Path(path).name}: onnxruntime did not take {provider} (it runs on "
                              f"{', '.join(self.session.get_providers())})")
        self.input, self.output = self.session.get_inputs()[0], self.session.get_outputs()[0].name
        self.input_dtype = torch.float16 if self.input.type == "tensor(float16)" else torch.float32

    def _input_name(self, onnxruntime) -> str:
        import onnx

        return onnx.load(str(self.path), load_external_data=False).graph.input[0].name

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.input_dtype).contiguous()
        if self.device.type != "cuda":
            out = self.session.run([self.output], {self.input.name: x.cpu().numpy()})[0]
            return torch.from_numpy(np.asarray(out))
        binding = self.session.io_binding()
        binding.bind_input(self.input.name, "cuda", self.device.index or 0, np.dtype(str(x.dtype).split(".")[1]),
                           tuple(x.shape), x.data_ptr())
        binding.bind_output(self.output, "cuda", self.device.index or 0)
        torch.cuda.synchronize(self.device)
        self.session.run_with_iobinding(binding)
        return torch.from_numpy(binding.copy_outputs_to_cpu()[0]).to(self.device)


class TensorRTEngine(Engine):
    """The TensorRT API (8.6 or later): an fp16 engine with one optimisation profile, run on torch's stream."""

    def __init__(self, path, kind, device, profile, channels, fp16: bool):
        super().__init__(path, kind, device, profile, channels)
        import tensorrt as trt

        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
        flags = 0 if int(trt.__version__.split(".")[0]) >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(path)):  # a path: its external data is read from beside it
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))[:300]
            raise EngineError(f"{Path(path).name}: TensorRT {trt.__version__} cannot parse it ({errors})")
        config = builder.create_builder_config()
        if fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        shapes = builder.create_optimization_profile()
        self.inputs = [network.get_input(i) for i in range(network.num_inputs)]
        first = self.inputs[0]
        as_shape = lambda s: (s[0], channels, s[1], s[2])  # noqa: E731
        shapes.set_shape(first.name, as_shape(profile.minimum), as_shape(profile.best), as_shape(profile.maximum))
        config.add_optimization_profile(shapes)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise EngineError(f"{Path(path).name}: TensorRT {trt.__version__} could not build an engine (see its log)")
        self.engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
        self.context = self.engine.create_execution_context()
        self.input_name = first.name
        self.output_name = network.get_output(0).name
        dtypes = {trt.float32: torch.float32, trt.float16: torch.float16}
        self.input_dtype = dtypes[self.engine.get_tensor_dtype(self.input_name)]
        self.output_dtype = dtypes[self.engine.get_tensor_dtype(self.output_name)]
        if len(self.inputs) > 1:
            raise EngineError(f"{Path(path).name}: takes {len(self.inputs)} inputs; this check feeds the image only")

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, self.input_dtype).contiguous()
        if not self.context.set_input_shape(self.input_name, tuple(x.shape)):
            raise EngineError(f"{self.path.name} (TensorRT): refused a {tuple(x.shape)} input")
        out = torch.empty(tuple(self.context.get_tensor_shape(self.output_name)), dtype=self.output_dtype,
                          device=self.device)
        self.context.set_tensor_address(self.input_name, x.data_ptr())
        self.context.set_tensor_address(self.output_name, out.data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise EngineError(f"{self.path.name} (TensorRT): the engine failed to run")
        stream.synchronize()
        return out


def build_engine(path: str | Path, kind: str, device: torch.device, profile: Profile, channels: int = 3, *,
                 fp16: bool = True, cache: Path | None = None) -> Engine:
    if kind == TRT_API:
        return TensorRTEngine(path, kind, device, profile, channels, fp16)
    if kind.startswith("ort:"):
        return OrtEngine(path, kind, device, profile, channels, fp16, cache)
    raise EngineError(f"unknown engine kind {kind!r}")


def profile_for(model, sizes: list[int], batch: int = 1) -> Profile:
    """A profile that holds ``sizes`` (one side each) for ``model``: its fixed window, else the sizes given."""
    fixed = model.contract.size.fixed
    if fixed:
        return Profile((1, fixed, fixed), (batch, fixed, fixed), (batch, fixed, fixed))
    lo, hi = min(sizes), max(sizes)
    return Profile((1, lo, lo), (batch, hi, hi), (batch, hi, hi))


def _as_image(model, out: torch.Tensor) -> torch.Tensor:
    lo, hi = model.contract.value_range
    return ((out.float() - lo) / (hi - lo)).clamp(0, 1)


def _timed(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up: kernels and allocations for this shape
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def check_engine(model, engine: Engine, sizes: list[int], *, repeats: int = 3, seed: int = 0) -> dict:
    """``engine`` (built from ``model``'s exported file) against the PyTorch network, per image side:
    max / mean |Δ| on [0, 1] images against fp32 PyTorch, and the median seconds of one forward of the
    engine and of PyTorch (fp16 on a GPU where the contract allows it, else fp32), with their ratio."""
    from ganpost.gan_models.onnx_export import check_image

    device = engine.device
    network = copy.deepcopy(model.module).to(device).float().eval()
    half = device.type == "cuda"
    fast = copy.deepcopy(network).half() if half else network
    adapter = model.contract.output_adapter
    lo, hi = model.contract.value_range
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for side in dict.fromkeys(model.contract.size.fixed or side for side in sizes):  # a fixed window: once
        image = check_image(model.contract.in_channels, side, side, generator).to(device)
        x = lo + (hi - lo) * image
        with torch.inference_mode():
            reference = _as_image(model, adapter(network(x)))
            ours = _as_image(model, engine(x))
            delta = (ours.to(device) - reference).abs()
            torch_s = _timed(lambda: adapter(fast(x.to(next(fast.parameters()).dtype))), device, repeats)
            engine_s = _timed(lambda: engine(x), device, repeats)
        rows.append({"side": side, "max": float(delta.max()), "mean": float(delta.mean()),
                     "engine_s": engine_s, "torch_s": torch_s, "torch_precision": "fp16" if half else "fp32",
                     "engine_over_torch": engine_s / torch_s})
    return {"kind": engine.kind, "profile": engine.profile.text(), "sizes": rows}
