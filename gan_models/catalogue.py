"""The one weights catalogue: every file ganpost knows by name, where it is looked for, and its download.

Families list their official files (``KnownFile``, each naming its architecture and its ComfyUI
models folder) in their own folder's ``known_files.py``; the registry gathers them. Support files that no
family owns (VGG19 for the perceptual loss) are listed here. A name resolves to a file in the
models folders; if it is not there and downloading is allowed, it is fetched and its SHA-256 checked.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .download import download_file
from .errors import ModelNotFoundError
from .known_file import BASE_URL_ENV, KnownFile
from .registry import known_files

__all__ = ["BASE_URL_ENV", "KnownFile", "KNOWN_MODELS", "SUPPORT_FILES", "resolve", "fetch", "lookup"]
MODELS_DIR_ENV = "GANPOST_MODELS_DIR"
log = logging.getLogger(__name__)


SUPPORT_FILES = {f.name: f for f in (
    KnownFile("vgg19", "vgg19-dcbb9e9d.pth", "https://download.pytorch.org/models", "vgg19-dcbb9e9d.pth",
              "dcbb9e9d", 574673361, "VGG19 (torchvision) for the perceptual loss in training",
              architecture="VGG19", comfy_folder="ganpost"),  # no family registers VGG19: not loadable as a model
)}
KNOWN_MODELS: dict[str, KnownFile] = {f.name: f for f in known_files()}

# Models that ship inside the package (trained by ganpost's own engine; recipe in docs/training/builtin-model.md).
BUILTIN_DIR = Path(__file__).resolve().parent / "weights"
BUILTIN_MODELS = {"ganpost-compact-x4": BUILTIN_DIR / "ganpost-compact-x4.safetensors"}
BUILTIN_DESCRIPTIONS = {"ganpost-compact-x4": "SRVGGNetCompact ×4, trained by ganpost (the default; no download)"}
DEFAULT_MODEL = "ganpost-compact-x4"


def default_models_dirs(extra: str | os.PathLike | None = None) -> list[Path]:
    """Where files are looked for, in order: the explicit folder, $GANPOST_MODELS_DIR, the cache."""
    dirs = [Path(extra)] if extra is not None else []
    if os.environ.get(MODELS_DIR_ENV):
        dirs.append(Path(os.environ[MODELS_DIR_ENV]))
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ganpost" / "models"
    dirs.append(cache)
    return dirs


def denoise_companion(path: Path) -> str | None:
    known = KNOWN_MODELS.get(path.stem)
    return known.denoise_companion if known else None


def lookup(name: str) -> KnownFile | None:
    return KNOWN_MODELS.get(name) or KNOWN_MODELS.get(Path(name).stem) or SUPPORT_FILES.get(name)


def fetch(known: KnownFile, *, models_dir=None, download: bool = True, purpose: str = "") -> Path:
    """The file of ``known`` in the models folders, downloaded (and checked) into the first one if absent."""
    dirs = default_models_dirs(models_dir)
    for folder in dirs:
        if (folder / known.filename).is_file():
            return folder / known.filename
    target = dirs[0] / known.filename
    why = f" {purpose}" if purpose else ""
    if not download:
        raise ModelNotFoundError(f"{known.name}: not found in {', '.join(map(str, dirs))}.{why} "
                                 f"Download {known.url()} and put it at {target}.")
    for companion in known.companions:  # first, so the main file never sits there without them
        if not (target.parent / companion.filename).is_file():
            download_file(companion.url(), target.parent / companion.filename, sha256=companion.sha256)
    if not known.sha256:  # its publisher gives no digest: the strict, weights-only load is the only check
        log.warning("%s: no published SHA-256 to check the download against; it is checked by loading it",
                    known.name)
    return download_file(known.url(), target, sha256=known.sha256)


def resolve(path_or_name: str | os.PathLike, *, models_dir=None, download: bool = True) -> Path:
    """A path to an existing model file, downloading a known official model if needed."""
    candidate = Path(path_or_name).expanduser()
    if candidate.is_dir():
        raise ModelNotFoundError(f"{candidate}: is a folder, not a model file. Pass the .pth or .safetensors file "
                                 "inside it (or give a folder of models as models_dir=).")
    if candidate.is_file():
        return candidate
    name = str(path_or_name)
    if name in BUILTIN_MODELS:
        if not BUILTIN_MODELS[name].is_file():
            raise ModelNotFoundError(f"{name}: the built-in model file {BUILTIN_MODELS[name]} is missing from this "
                                     "install; reinstall ganpost.")
        return BUILTIN_MODELS[name]
    known = KNOWN_MODELS.get(name) or KNOWN_MODELS.get(Path(name).stem)
    if known is not None:
        return fetch(known, models_dir=models_dir, download=download)
    dirs = default_models_dirs(models_dir)
    if candidate.suffix or os.sep in name:
        raise ModelNotFoundError(f"{name}: no such model file. Check the path.")
    for folder in dirs:
        for suffix in (".safetensors", ".pth", ".pt", ".ckpt"):
            if (folder / f"{name}{suffix}").is_file():
                return folder / f"{name}{suffix}"
    raise ModelNotFoundError(
        f"{name}: not a file and not a known model name. Known names: "
        f"{', '.join([*BUILTIN_MODELS, *KNOWN_MODELS])}. "
        f"Other models: pass the file's path, or put it in {dirs[0]}."
    )
