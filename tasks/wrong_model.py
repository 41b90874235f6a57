"""The one sentence for a model handed to the wrong task: which argument, what it is, where it belongs.

:data:`PLACES` is the one table of where a model of each task belongs in every front-end: its API
function, CLI command, ComfyUI loader node and models folder. The tasks word their refusals from
it (``use ganpost.upscale for it``), the nodes theirs (``an upscaler goes in
models/upscale_models and into 'ganpost: Load Upscale Model'``), and the loaders take their
folder and display name from it. What a model *is* ("an upscaler") is ``ModelDescriptor.kind``
(``gan_models.contract.TASK_KINDS``), which the table reads.

Options are named the Python way (``detector=``, ``ganpost.upscale``); the CLI rewrites them as
its flags and commands (``cli/flag_names.py``), so each message is written once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..gan_models.contract import TASK_KINDS, ModelDescriptor, Task
from ..gan_models.errors import InvalidOptionError


@dataclass(frozen=True)
class Place:
    """Where models of one task go, in each front-end's terms (None: that front-end has none)."""

    task: Task
    function: str | None
    """The API function: ``ganpost.upscale``."""
    command: str | None
    """The CLI command: ``ganpost upscale``."""
    loader: str | None
    """The ComfyUI loader node's display name: ``ganpost: Load Upscale Model``."""
    folder: str | None
    """The ComfyUI models folder key (``models/<folder>``) its loader lists."""
    files: str
    """Files of this kind, as examples in messages and tooltips."""

    @property
    def called(self) -> str:
        """"an upscaler", "a face detector": what a model of this task is called."""
        return TASK_KINDS[self.task]

    def in_comfyui(self) -> str:
        """"an upscaler goes in models/upscale_models and into 'ganpost: Load Upscale Model'"."""
        return f"{self.called} goes in models/{self.folder} and into '{self.loader}'"


PLACES = {place.task: place for place in (
    Place(Task.UPSCALE, "ganpost.upscale", "ganpost upscale", "ganpost: Load Upscale Model", "upscale_models",
          "RealESRGAN_x4plus.pth, AuraSR-v2.safetensors"),
    Place(Task.FACE_RESTORE, "ganpost.restore_faces", "ganpost restore-faces", "ganpost: Load Face Model",
          "facerestore_models", "GFPGANv1.4.pth"),
    # No "use ganpost.detect_faces" hint: a detector handed to another task belongs as its detector=.
    Place(Task.FACE_DETECT, None, None, "ganpost: Load Face Detector", "facedetection",
          "detection_Resnet50_Final.pth, detection_mobilenet0.25_Final.pth"),
    # Parsers share models/facedetection with detectors, as the community face packs do.
    Place(Task.FACE_PARSE, None, None, "ganpost: Load Face Parser", "facedetection",
          "parsing_parsenet.pth, parsing_bisenet.pth"),
    Place(Task.TRANSLATE, "ganpost.translate", "ganpost translate", "ganpost: Load Translator", "translation_models",
          "latest_net_G.pth, or *_net_G_A.pth / *_net_G_B.pth of a CycleGAN"),
    Place(Task.DISCRIMINATOR, None, None, None, None, "latest_net_D.pth"),  # training only: no front-end runs one
)}


def wrong_model(model: ModelDescriptor, wanted: str, *, given_as: str | None = None,
                hints: dict[Task, str] | None = None, otherwise: str | None = None) -> InvalidOptionError:
    """``detector='x' is a face restorer, not a face detector; pass it as model=.``

    The hint is ``hints`` for the model's task, else the API function for its task (:data:`PLACES`),
    else ``otherwise``.
    """
    task = model.contract.task
    place = PLACES.get(task)
    hint = (hints or {}).get(task) or (f"use {place.function} for it" if place and place.function else otherwise)
    subject = f"{given_as}={model.name!r}" if given_as else model.name
    return InvalidOptionError(f"{subject} is {model.kind}, not {wanted}{f'; {hint}' if hint else ''}.")
