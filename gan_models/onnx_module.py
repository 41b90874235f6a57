"""An exported ONNX file as an ``nn.Module``: torch tensors in, onnxruntime in between, torch tensors out.

The runner treats it as any loaded network: it makes working copies (``copy.deepcopy``) per
device and mode, moves inputs to its device and dtype and calls ``module(x)``. The module has no
parameters; a copy shares the file's onnxruntime sessions (read-only, safe to share) and keeps its
own train/eval flag, which must match the mode the graph was exported in.
"""

from __future__ import annotations

import copy
import logging
import threading
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import InvalidOptionError

log = logging.getLogger(__name__)
NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class OnnxModule(nn.Module):
    def __init__(self, path: Path, session, *, fixed_batch: bool, as_trained: bool):
        super().__init__()
        self.path, self.fixed_batch, self.as_trained = Path(path), fixed_batch, as_trained
        first = session.get_inputs()[0]
        self.input_name, self.input_type = first.name, NUMPY_TYPES[first.type]
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
        if options:
            raise InvalidOptionError(f"{self.path.name} is an exported ONNX graph, which takes no "
                                     f"{', '.join(sorted(options))} option: its noise and defaults are fixed at export")
        if self.training != self.as_trained:
            modes = {True: "as_trained", False: "eval"}
            raise InvalidOptionError(f"{self.path.name} was exported with test_time={modes[self.as_trained]}; it "
                                     f"cannot run {modes[self.training]}: export the PyTorch model in that mode")
        session = self._session(x.device)
        array = x.detach().to("cpu").numpy().astype(self.input_type, copy=False)
        array = np.ascontiguousarray(array)
        chunks = [array[i: i + 1] for i in range(len(array))] if self.fixed_batch else [array]
        results = [session.run(self.output_names, {self.input_name: chunk}) for chunk in chunks]
        merged = [np.concatenate(parts) if len(parts) > 1 else parts[0] for parts in zip(*results)]
        out = tuple(torch.from_numpy(np.asarray(o, dtype=np.float32)).to(x.device) for o in merged)
        return out[0] if len(out) == 1 else out

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
