"""The one sentence for a model handed to the wrong task: which argument, what it is, where it belongs.

Options are named the Python way (``detector=``, ``ganpost.upscale``); the CLI rewrites them as
its flags and commands (``cli/flag_names.py``), so each message is written once.
"""

from __future__ import annotations

from ..gan_models.contract import ModelDescriptor, Task
from ..gan_models.errors import InvalidOptionError

TASK_FUNCTIONS = {Task.UPSCALE: "ganpost.upscale", Task.FACE_RESTORE: "ganpost.restore_faces",
                  Task.TRANSLATE: "ganpost.translate"}


def wrong_model(model: ModelDescriptor, wanted: str, *, given_as: str | None = None,
                hints: dict[Task, str] | None = None, otherwise: str | None = None) -> InvalidOptionError:
    """``detector='x' is a face restorer, not a face detector; pass it as model=.``

    The hint is ``hints`` for the model's task, else the function for its task, else ``otherwise``.
    """
    task = model.contract.task
    hint = (hints or {}).get(task) or (f"use {TASK_FUNCTIONS[task]} for it" if task in TASK_FUNCTIONS else otherwise)
    subject = f"{given_as}={model.name!r}" if given_as else model.name
    return InvalidOptionError(f"{subject} is {model.kind}, not {wanted}{f'; {hint}' if hint else ''}.")
