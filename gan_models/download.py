"""Downloading a file: streamed to a temporary file, checked, then renamed into place.

A checksum mismatch, an interrupted transfer or Ctrl-C leaves no file behind at the target.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .atomic import atomic_target
from .errors import DownloadError

log = logging.getLogger(__name__)
CHUNK = 1 << 20


def download_file(
    url: str,
    target: str | os.PathLike,
    *,
    sha256: str | None,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 30.0,
) -> Path:
    """Fetch ``url`` to ``target``. ``sha256`` may be the full digest or a published prefix of it
    (torchvision names its files after the first 8 hex digits)."""
    target = Path(target)
    log.info("downloading %s to %s", url, target)
    digest = hashlib.sha256()
    try:
        with atomic_target(target) as tmp, tmp.open("wb") as out, \
                urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            done = 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
            if total is not None and done != total:
                raise DownloadError(f"{url}: the transfer stopped after {done} of {total} bytes. Try again.")
            if sha256 and not digest.hexdigest().startswith(sha256.lower()):
                raise DownloadError(
                    f"{url}: checksum mismatch (got sha256 {digest.hexdigest()}, expected {sha256}). "
                    "The file was discarded; the server may be serving a different file."
                )
        return target
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise DownloadError(
            f"could not download {url} ({getattr(err, 'reason', err)}). If you are offline, download it "
            f"elsewhere and put it at {target}."
        ) from err
