"""Official models we know by name: where they come from, their checksum, where they are kept.

A name resolves to a file in the models folders; if it is not there and downloading is
allowed, it is fetched from the official release and its SHA-256 checked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .download import download_file
from .errors import ModelNotFoundError

RELEASES = "https://github.com/xinntao/Real-ESRGAN/releases/download"
MODELS_DIR_ENV = "GANPOST_MODELS_DIR"
BASE_URL_ENV = "GANPOST_DOWNLOAD_BASE"  # a mirror of the release layout (tests use a loopback server)


@dataclass(frozen=True)
class KnownModel:
    name: str
    filename: str
    release_tag: str
    sha256: str
    size: int
    description: str
    denoise_companion: str | None = None

    def url(self) -> str:
        base = os.environ.get(BASE_URL_ENV, RELEASES).rstrip("/")
        return f"{base}/{self.release_tag}/{self.filename}"


# Checksums of the official release files, as recorded by several independent packagers.
KNOWN_MODELS = {m.name: m for m in (
    KnownModel("RealESRGAN_x4plus", "RealESRGAN_x4plus.pth", "v0.1.0",
               "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1", 67040989,
               "RRDBNet ×4, general photos"),
    KnownModel("RealESRNet_x4plus", "RealESRNet_x4plus.pth", "v0.1.1",
               "a820b9bde89a874d7599d545567308ce6c128fc8754a53208eda016d40aa81df", 67040989,
               "RRDBNet ×4, L1-trained (smoother, fewer artefacts)"),
    KnownModel("RealESRGAN_x2plus", "RealESRGAN_x2plus.pth", "v0.2.1",
               "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb", 67061725,
               "RRDBNet ×2, general photos"),
    KnownModel("RealESRGAN_x4plus_anime_6B", "RealESRGAN_x4plus_anime_6B.pth", "v0.2.2.4",
               "f872d837d3c90ed2e05227bed711af5671a6fd1c9f7d7e91c911a61f155e99da", 17938799,
               "RRDBNet ×4 with 6 blocks, anime illustrations"),
    KnownModel("realesr-animevideov3", "realesr-animevideov3.pth", "v0.2.5.0",
               "b8a8376811077954d82ca3fcf476f1ac3da3e8a68a4f4d71363008000a18b75d", 2504012,
               "SRVGGNetCompact ×4, anime video (fast)"),
    KnownModel("realesr-general-x4v3", "realesr-general-x4v3.pth", "v0.2.5.0",
               "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292", 4885111,
               "SRVGGNetCompact ×4, general scenes (fast); supports denoise_strength",
               denoise_companion="realesr-general-wdn-x4v3"),
    KnownModel("realesr-general-wdn-x4v3", "realesr-general-wdn-x4v3.pth", "v0.2.5.0",
               "1641f8c4464b9f097c9fdda5589273713f67cf59f3d909e0bd688f0cee269dca", 4885111,
               "weak-denoise companion of realesr-general-x4v3"),
)}


# Models that ship inside the package (trained by ganpost's own engine; recipe in the README).
BUILTIN_DIR = Path(__file__).resolve().parent / "weights"
BUILTIN_MODELS = {"ganpost-compact-x4": BUILTIN_DIR / "ganpost-compact-x4.safetensors"}
DEFAULT_MODEL = "ganpost-compact-x4"


def default_models_dirs(extra: str | os.PathLike | None = None) -> list[Path]:
    """Where model files are looked for, in order: the explicit folder, $GANPOST_MODELS_DIR, the cache."""
    dirs = [Path(extra)] if extra is not None else []
    if os.environ.get(MODELS_DIR_ENV):
        dirs.append(Path(os.environ[MODELS_DIR_ENV]))
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ganpost" / "models"
    dirs.append(cache)
    return dirs


def denoise_companion(path: Path) -> str | None:
    known = KNOWN_MODELS.get(path.stem)
    return known.denoise_companion if known else None


def resolve(path_or_name: str | os.PathLike, *, models_dir=None, download: bool = True) -> Path:
    """A path to an existing model file, downloading a known official model if needed."""
    candidate = Path(path_or_name).expanduser()
    if candidate.is_file():
        return candidate
    name = str(path_or_name)
    if name in BUILTIN_MODELS:
        if not BUILTIN_MODELS[name].is_file():
            raise ModelNotFoundError(f"{name}: the built-in model file {BUILTIN_MODELS[name]} is missing from this "
                                     "install; reinstall ganpost.")
        return BUILTIN_MODELS[name]
    known = KNOWN_MODELS.get(name) or KNOWN_MODELS.get(Path(name).stem)
    dirs = default_models_dirs(models_dir)
    if known is None:
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
    for folder in dirs:
        if (folder / known.filename).is_file():
            return folder / known.filename
    target = dirs[0] / known.filename
    if not download:
        raise ModelNotFoundError(
            f"{known.name}: not found in {', '.join(map(str, dirs))}. Download {known.url()} and put it in {dirs[0]}."
        )
    return download_file(known.url(), target, sha256=known.sha256)
