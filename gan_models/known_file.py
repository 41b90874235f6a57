"""A file ganpost knows by name: where it comes from and how to check it."""

from __future__ import annotations

import os
from dataclasses import KW_ONLY, dataclass

BASE_URL_ENV = "GANPOST_DOWNLOAD_BASE"  # a mirror of the files' layout (tests use a loopback server)


@dataclass(frozen=True)
class KnownFile:
    name: str
    filename: str
    base_url: str
    """The official location's folder; ``$GANPOST_DOWNLOAD_BASE`` replaces it (a mirror)."""
    url_path: str
    sha256: str
    """The full digest, or the prefix a publisher gives (torchvision's file names)."""
    size: int | None
    description: str
    _: KW_ONLY
    architecture: str
    """The registered architecture the file holds (``RRDBNet``); for a support file, the network it is."""
    comfy_folder: str
    """The ComfyUI models folder key the file belongs in (``upscale_models``, ``facerestore_models`` ...)."""
    denoise_companion: str | None = None
    companions: tuple[KnownFile, ...] = ()
    """Files fetched into the same folder with this one (AuraSR's config.json)."""

    def url(self) -> str:
        base = os.environ.get(BASE_URL_ENV, self.base_url).rstrip("/")
        return f"{base}/{self.url_path}"
