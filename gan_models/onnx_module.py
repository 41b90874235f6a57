"""An exported ONNX file as an ``nn.Module``: torch tensors in, onnxruntime in between, torch tensors out.

The runner treats it as any loaded network: it makes working copies (``copy.deepcopy``) per
device and mode, moves inputs to its device and dtype and calls ``module(x)``. The module has no
parameters; a copy shares the file's onnxruntime sessions (read-only, safe to share) and keeps its
own train/eval flag, which must match the mode the graph was exported in.

A graph that takes its network's noise as inputs (AuraSR's) gets it drawn here from the seed
keyword, exactly as the PyTorch forward draws it (``onnx_metadata.ExportFacts.noise``); one that takes
a forward option as an input (CodeFormer's fidelity ``w``) gets the keyword's value, or its default.
"""

from __future__ import annotations

import copy
import logging
import threading
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import ImageInputError, InvalidOptionError, ModelFileError

log = logging.getLogger(__name__)
NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class OnnxModule(nn.Module):
    def __init__(self, path: Path, session, *, fixed_batch: bool, as_trained: bool,
                 noise: tuple[tuple[str, tuple[int, ...]], ...] = (), seed_keyword: str | None = None,
                 default_seed: int = 0, options: tuple[tuple[str, str, float], ...] = ()):
        super().__init__()
        self.path, self.fixed_batch, self.as_trained = Path(path), fixed_batch, as_trained
        first = session.get_inputs()[0]
        self.input_name, self.input_type = first.name, NUMPY_TYPES[first.type]
        self.input_shape = tuple(d if isinstance(d, int) else None for d in first.shape)  # None: a free axis
        self.noise, self.seed_keyword, self.default_seed = tuple(noise), seed_keyword, default_seed
        self.options = tuple(options)  # (graph input name, forward keyword, default) of each option input
        self.output_names = [o.name for o in session.get_outputs()]
        self._sessions = {"cpu": session}  # device type → session, shared by every copy
        self._lock = threading.Lock()
        self.train(as_trained)

    def __deepcopy__(self, memo):
        clone = copy.copy(self)  # a new module object (its own training flag) around the same sessions
        clone.__dict__ = dict(self.__dict__)
        memo[id(self)] = clone
        return clone

    def extra_repr(self) -> str:
        return f"{self.path.name}, {np.dtype(self.input_type).name}, batch {'1' if self.fixed_batch else 'dynamic'}"

    def forward(self, x: torch.Tensor, **options) -> torch.Tensor | tuple[torch.Tensor, ...]:
        seed = options.pop(self.seed_keyword, None) if self.noise else None
        values = {name: np.array([float(options.pop(keyword, default))], np.float32)
                  for name, keyword, default in self.options}
        if options:
            raise InvalidOptionError(f"{self.path.name} is an exported ONNX graph, which takes no "
                                     f"{', '.join(sorted(options))} option: its noise and defaults are fixed at export")
        if self.training != self.as_trained:
            modes = {True: "as_trained", False: "eval"}
            raise InvalidOptionError(f"{self.path.name} was exported with test_time={modes[self.as_trained]}; it "
                                     f"cannot run {modes[self.training]}: export the PyTorch model in that mode")
        self._check_shape(x)
        session = self._session(x.device)
        array = x.detach().to("cpu").numpy().astype(self.input_type, copy=False)
        array = np.ascontiguousarray(array)
        chunks = [array[i: i + 1] for i in range(len(array))] if self.fixed_batch else [array]
        noise = self.draw_noise(seed)
        try:
            results = [session.run(self.output_names, {self.input_name: chunk, **noise, **values})
                       for chunk in chunks]
        except Exception as err:  # onnxruntime's own types (Fail, InvalidArgument, RuntimeException, ...)
            text = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
            raise ModelFileError(f"{self.path.name}: onnxruntime could not run it on a {tuple(x.shape)} input "
                                 f"({text})") from err
        merged = [np.concatenate(parts) if len(parts) > 1 else parts[0] for parts in zip(*results)]
        out = tuple(torch.from_numpy(np.asarray(o, dtype=np.float32)).to(x.device) for o in merged)
        return out[0] if len(out) == 1 else out

    def _check_shape(self, x: torch.Tensor) -> None:
        """A window the graph cannot take, in one line (the runner pads and tiles to it; a direct call may not)."""
        expected = (1 if self.fixed_batch else None, *self.input_shape[1:])
        wrong = x.ndim != len(expected) or any(
            want is not None and got != want for got, want in zip(x.shape[1:], expected[1:]))
        if wrong:
            want = "×".join("N" if d is None else str(d) for d in expected[1:])
            raise ImageInputError(f"{self.path.name} takes N×{want} windows, not {'×'.join(map(str, x.shape))}: "
                                  "run it through ganpost's tasks (they pad and tile images to its windows), or "
                                  "for a file exported with --static, export it again without it")

    def draw_noise(self, seed: int | None) -> dict[str, np.ndarray]:
        """The noise inputs for ``seed`` (default: the network's): the PyTorch forward's own draws, in its order."""
        if not self.noise:
            return {}
        generator = torch.Generator().manual_seed(self.default_seed if seed is None else int(seed))
        return {name: torch.randn(shape, generator=generator).numpy() for name, shape in self.noise}

    def _session(self, device: torch.device):
        """The CPU session, or one on the GPU where onnxruntime has a CUDA provider (else the CPU's)."""
        if device.type == "cpu":
            return self._sessions["cpu"]
        with self._lock:
            if device.type not in self._sessions:
                import onnxruntime

                cpu = self._sessions["cpu"]
                provider = {"cuda": "CUDAExecutionProvider"}.get(device.type)
                if provider in onnxruntime.get_available_providers():
                    options = [{"device_id": device.index or 0}, {}]
                    self._sessions[device.type] = onnxruntime.InferenceSession(
                        str(self.path), providers=[provider, "CPUExecutionProvider"], provider_options=options)
                else:
                    log.warning("%s: onnxruntime has no %s provider here; running it on the CPU", self.path.name,
                                device.type)
                    self._sessions[device.type] = cpu
            return self._sessions[device.type]
