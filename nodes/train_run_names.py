"""A training node's ``run_name`` → its run folder under ``output/ganpost_training`` and its published model file.

One checked name serves every training node, so no name can leave those folders: ``..`` used to write a run
straight into ComfyUI's ``output/`` and publish ``upscale_models/.pth``.
"""

from __future__ import annotations

from pathlib import Path

import folder_paths

from ..gan_models.errors import InvalidOptionError

RUNS_FOLDER = "ganpost_training"
MAX_LENGTH = 100
# Windows refuses these as file names whatever the extension (CON.pth too), in any case.
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"{port}{n}" for port in ("COM", "LPT") for n in "0123456789¹²³")}
_FIX = "use a plain name such as ganpost_finetune (letters, digits, '-', '_', '.')"


def checked_run_name(run_name: str) -> str:
    """The name the run's folder and published file take, or an error naming the input and the fix.

    Characters other than letters, digits, ``-``, ``_`` and ``.`` become ``_`` (as they always did, so a
    saved workflow's run keeps its folder); what would leave the folder, or that Windows cannot store, is refused.
    """
    name = str(run_name).strip()
    problem = None
    if not name:
        problem = "is empty"
    elif "/" in name or "\\" in name:
        problem = "is a path; it names one folder inside output/ganpost_training"
    elif set(name) == {"."}:
        problem = "is only dots: it would name output/ganpost_training itself or a folder above it"
    elif name.startswith("."):
        problem = "starts with a dot: the run folder and the model file would be hidden"
    elif name.endswith("."):
        problem = "ends with a dot, which Windows drops from file names"
    elif len(name) > MAX_LENGTH:
        problem = f"is {len(name)} characters long; at most {MAX_LENGTH} fit every file system's limits"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    if problem is None and safe.split(".")[0].upper() in _WINDOWS_RESERVED:
        problem = f"is a name Windows reserves for a device ({safe.split('.')[0].upper()})"
    if problem is not None:
        raise InvalidOptionError(f"ganpost training: run_name {str(run_name)!r} {problem}; {_FIX}")
    return safe


def run_folder(run_name: str) -> Path:
    """``output/ganpost_training/<name>``, refused unless it resolves inside ``output/ganpost_training``."""
    root = Path(folder_paths.get_output_directory()) / RUNS_FOLDER
    folder = root / checked_run_name(run_name)
    resolved, resolved_root = folder.resolve(), root.resolve()
    if resolved == resolved_root or not resolved.is_relative_to(resolved_root):  # a link made by hand
        raise InvalidOptionError(f"ganpost training: run_name {str(run_name)!r}: {folder} leads to {resolved}, "
                                 f"outside {root}; remove that link or choose another run_name")
    return folder


def published_path(models_folder: Path, run_name: str, suffix: str) -> Path:
    """``<models_folder>/<name><suffix>``, refused if an existing link there would send it elsewhere."""
    target = Path(models_folder) / f"{checked_run_name(run_name)}{suffix}"
    if target.resolve().parent != Path(models_folder).resolve():
        raise InvalidOptionError(f"ganpost training: run_name {str(run_name)!r}: {target} is a link to "
                                 f"{target.resolve()}; remove the link or choose another run_name")
    return target
