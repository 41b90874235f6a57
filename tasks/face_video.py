"""Faces restored in consecutive video frames, each face's landmarks smoothed over its neighbouring frames.

A clip arrives in batches (``push``). Every frame is detected once; it is restored when the ``radius``
frames after it have been detected, with the landmarks that smoothing the whole clip at once would give
(``runtime.faces.SteadyLandmarks``), so batch boundaries leave no trace in the motion. Frames come back in
order, ``radius`` frames late (``radius`` = 3 × sigma, rounded up); ``finish`` returns the rest. Only
those frames and the faces of ``radius`` earlier ones are held, whatever the clip's length. No track runs
across a cut to another shot (``runtime.faces.cuts``).

It is a ``runtime.video`` frame filter: ``process_video(src, dst, SteadyFaceRestorer(model, ...))``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..gan_models.contract import ModelDescriptor
from ..runtime.faces import CutDetector, SteadyLandmarks
from ..runtime.imaging import convert
from ..runtime.precision import resolve_device
from .detect_faces import DEFAULT_DETECTION_SIZE, DEFAULT_DETECTOR, detect_in_core
from .restore_faces import DEFAULT_FACE_MODEL, RestoredFace, check_options, restore_faces_detailed
from .shared_options import model_for

# Gaussian sigma, in frames, of the landmark smoothing video gets by default (bench/video.py measured it:
# docs/video.md). The still-image default stays 0 (off).
DEFAULT_VIDEO_SMOOTHING = 1.5


class SteadyFaceRestorer:
    """``restore_faces`` for a clip handed over in batches of frames (``N×H×W×3`` uint8 or float arrays).

    The options are :func:`~ganpost.restore_faces_detailed`'s; ``smooth_landmarks`` defaults to
    ``DEFAULT_VIDEO_SMOOTHING`` here (0: each frame on its own). ``keep_faces=True`` keeps every restored
    frame's :class:`RestoredFace` records in ``.faces`` (for measuring; they hold crops).
    """

    def __init__(self, model: ModelDescriptor | str = DEFAULT_FACE_MODEL, *,
                 smooth_landmarks: float = DEFAULT_VIDEO_SMOOTHING, detector: ModelDescriptor | str | None = None,
                 parser: ModelDescriptor | str | None = None, upscaler: ModelDescriptor | str | None = None,
                 threshold: float = 0.97, max_faces: int | None = None, only_center_face: bool = False,
                 face_index: str | Sequence[int] | None = None, detection_size: int | None = DEFAULT_DETECTION_SIZE,
                 precision: str = "auto", device: str | torch.device | None = None, keep_faces: bool = False,
                 cancel: Callable[[], bool | None] | None = None, **options):
        self.model = model_for("restore_faces", model)
        self.detector = model_for("restore_faces", DEFAULT_DETECTOR if detector is None else detector, "detector")
        self.parser = None if parser is None else model_for("restore_faces", parser, "parser")
        self.upscaler = None if upscaler is None else model_for("restore_faces", upscaler, "upscaler")
        self.detection = dict(threshold=threshold, max_faces=max_faces, only_center_face=only_center_face,
                              face_index=face_index, detection_size=detection_size)
        check_options(self.model, detector=self.detector, parser=self.parser, upscaler=self.upscaler,
                      smooth_landmarks=smooth_landmarks, precision=precision, device=device, **self.detection,
                      **options)
        self.options = dict(options, precision=precision, device=device, cancel=cancel)
        self.device, self.precision, self.cancel = resolve_device(device), precision, cancel
        self.steady = SteadyLandmarks(smooth_landmarks)
        self.shots = CutDetector()  # tracks end at cuts to another shot
        self.keep_faces = keep_faces
        self.waiting: list[np.ndarray] = []  # frames detected, not yet restored
        self.faces: list[list[RestoredFace]] = []

    @property
    def radius(self) -> int:
        """How many frames a frame waits for (the frames after it that its smoothing reads)."""
        return self.steady.radius

    def push(self, frames) -> np.ndarray | None:
        """Detect the next frames; return the restored frames now complete, in order (None when none are)."""
        frames = list(frames)
        if not frames:
            return None
        rgb = [item.rgb for item in convert.to_core(frames).items]
        found = detect_in_core(self.detector, rgb, **self.detection, device=self.device,
                               precision="fp32" if self.precision == "fp32" else "auto", cancel=self.cancel)
        self.waiting += frames
        return self._restore(self.steady.push(found, self.shots.starts(rgb)))

    def finish(self) -> np.ndarray | None:
        """The clip has ended: restore and return every frame still held."""
        return self._restore(self.steady.finish())

    def _restore(self, faces: list[list]) -> np.ndarray | None:
        if not faces:
            return None
        frames, self.waiting = self.waiting[:len(faces)], self.waiting[len(faces):]
        result = restore_faces_detailed(np.stack(frames), self.model, detected=faces, parser=self.parser,
                                        upscaler=self.upscaler, _keep_faces=self.keep_faces, **self.options)
        if self.keep_faces:
            self.faces += result.faces
        return result.images
