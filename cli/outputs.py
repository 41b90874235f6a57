"""Where each input's result goes, decided and checked before any model is loaded.

``-o`` is a file when its extension is one we write (``out.png``) and it is not an existing
folder; anything else (``out``, ``out_v1.2``, ``results.x4``) is a folder. Formats we read but
cannot write (GIF) become PNG in folders, and are refused as an explicit file name. Videos keep their
container in folders (``--ext`` is for images); ``-o clip.mkv`` names another for one video.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..gan_models.errors import GanpostError, OutputError
from ..runtime.imaging.files import READABLE, WRITABLE, refuse_unreadable_file
from ..runtime.video.probe import VIDEO_SUFFIXES

FALLBACK_SUFFIX = ".png"
INPUTS = READABLE | set(VIDEO_SUFFIXES)
UNWRITABLE_WHY = {".gif": "GIF holds 256 colours, which would undo the upscale"}


@dataclass
class OutputPlan:
    jobs: list[tuple[Path, Path]]  # (input, output) still to do
    skipped: list[Path]  # outputs that already exist (--skip-existing)
    notes: list[str]  # things the user should know before the run starts
    folder: Path | None = None  # the output folder (None: -o names one file)


def collect_inputs(inputs: list[Path]) -> list[Path]:
    files = []
    for item in inputs:
        if item.is_dir():
            files += sorted(p for p in item.iterdir() if p.suffix.lower() in INPUTS and p.is_file())
        elif item.is_file():
            files.append(item)
        elif item.exists():
            refuse_unreadable_file(item)
        else:
            raise GanpostError(f"{item}: no such file or folder.")
    if not files:
        raise GanpostError(f"no images or videos found in {', '.join(map(str, inputs))} "
                           f"(looked for {', '.join(sorted(INPUTS))}).")
    return files


def refuse_unwritable(suffix: str, what: str) -> None:
    """Raise for an extension we cannot write, naming the ones we can."""
    suffix = suffix.lower()
    if suffix in WRITABLE:
        return
    why = f" ({UNWRITABLE_WHY[suffix]})" if suffix in UNWRITABLE_WHY else ""
    raise OutputError(f"{what}: {suffix or 'no extension'} is not a format ganpost writes{why}; "
                      f"use one of {', '.join(sorted(WRITABLE))}.")


def plan_outputs(files: list[Path], output: Path, ext: str | None, *, overwrite: bool = False,
                 skip_existing: bool = False) -> OutputPlan:
    notes, targets = [], None
    videos = [f for f in files if f.suffix.lower() in VIDEO_SUFFIXES]
    if output.is_dir():
        pass
    elif output.suffix.lower() in VIDEO_SUFFIXES:
        if len(files) > 1 or not videos:
            raise OutputError(f"{output}: a video file name takes one video input; give a folder for -o "
                              f"(or an image name for one image).")
        if ext:
            raise OutputError(f"--ext is for images in folder outputs; {output} already names the container.")
        targets = [output]
    elif output.suffix.lower() in WRITABLE:
        if len(files) > 1:
            raise OutputError(f"{output}: {len(files)} inputs need an output folder, not a file name "
                              f"(a name without an image extension, e.g. {output.with_suffix('')}_out).")
        if videos:
            raise OutputError(f"{output}: {videos[0].name} is a video; name a video file "
                              f"({', '.join(VIDEO_SUFFIXES)}) or a folder for -o.")
        if ext:
            raise OutputError(f"--ext is for folder outputs; {output} already names the format by its extension.")
        targets = [output]
    elif output.suffix.lower() in READABLE:  # an image name we cannot write, e.g. out.gif
        refuse_unwritable(output.suffix, str(output))
    elif output.exists():
        raise OutputError(f"{output} exists and is not a folder; choose an image file name or a folder for -o.")
    if targets is None:
        targets = []
        converted = []
        for f in files:
            suffix = f.suffix.lower() if f in videos else ext or f.suffix.lower()
            if suffix not in WRITABLE and f not in videos:
                converted.append(f.name)
                suffix = FALLBACK_SUFFIX
            targets.append(output / f"{f.stem}{suffix}")
        if converted:
            kinds = ", ".join(sorted({Path(n).suffix.lower() or "no extension" for n in converted}))
            notes.append(f"{len(converted)} input(s) in formats ganpost does not write ({kinds}) will be written as "
                         f"{FALLBACK_SUFFIX} (choose with --ext)")
    _refuse_clashes(files, targets)
    existing = [t for t in targets if t.exists()]
    if existing and not (overwrite or skip_existing):
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise OutputError(f"{existing[0]} already exists{more}; pass --overwrite to replace, or --skip-existing to "
                          "keep what is there and do the rest.")
    skipped = existing if skip_existing else []
    kept = set(skipped)
    jobs = [(source, target) for source, target in zip(files, targets) if target not in kept]
    return OutputPlan(jobs, skipped, notes, folder=None if len(targets) == 1 and targets[0] == output else output)


def _refuse_clashes(files: list[Path], targets: list[Path]) -> None:
    seen: dict[Path, Path] = {}
    for source, target in zip(files, targets):
        if target in seen:
            raise OutputError(f"{seen[target]} and {source} would both be written to {target}; "
                              "run them separately or into different folders.")
        seen[target] = source
        if target.exists() and os.path.samefile(source, target):
            raise OutputError(f"{target} is also an input; writing there would replace the original. "
                              "Choose another output folder.")


def check_writable(targets: list[Path], option: str = "-o") -> None:
    """Create the output folders and prove each takes a new file, before any compute (``option`` set them)."""
    for folder in sorted({t.parent for t in targets}):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"cannot create the output folder {folder} ({err.strerror or err}); "
                              f"choose another {option}.") from err
        try:
            fd, probe = tempfile.mkstemp(prefix=".ganpost-write-check-", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise OutputError(f"the output folder {folder} is not writable ({err.strerror or err}); "
                              f"fix its permissions (e.g. chmod u+w '{folder}') or choose another {option}.") from err
