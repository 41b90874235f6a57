"""Reading and writing files named by URL (``s3://``, ``gs://``, ``hdfs://``, ``abfs://``, any fsspec protocol).

A Ray cluster's nodes share storage either as a mounted folder (a plain path: the commands read and
write it themselves, atomically by rename) or as a URL. A URL's input is copied to a local
temporary file and decoded from there; a result is encoded to a local temporary file and then
uploaded, so the commands' readers and writers stay the one way ganpost reads and writes images.

What is atomic where:

* object stores (``s3://``, ``gs://``/``gcs://``, ``abfs://``/``az://``): an object is committed whole when
  its upload ends, so a killed upload leaves no object under the name;
* every other filesystem (``hdfs://``, ``file://``, fsspec's others): the bytes go to a temporary name
  beside the target, then a rename puts them in place (atomic where the filesystem's rename is:
  local disks, HDFS).

pyarrow's filesystems come first (native S3, GCS, HDFS, Azure); any other protocol goes through
fsspec (wrapped for pyarrow), whose own package for it (``s3fs``, ``gcsfs`` …) must be installed.
"""

from __future__ import annotations

import posixpath
import re
import uuid
from pathlib import Path

from ..gan_models.errors import GanpostError
from ..gan_models.atomic import PARTIAL_SUFFIX

OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az"}
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]+)://")


def is_url(name) -> bool:
    """A URL other than ``file://`` (which is a local path)."""
    match = _URL.match(str(name))
    return bool(match) and match.group(1).lower() != "file"


def local_path(name) -> Path:
    """A plain path, or a ``file://`` URL's path."""
    text = str(name)
    return Path(text[len("file://"):] if text.lower().startswith("file://") else text)


def filesystem(url: str):
    """``(pyarrow filesystem, path in it, whether it is an object store)`` for ``url``."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    protocol = _URL.match(url).group(1).lower()
    try:
        fs, path = pafs.FileSystem.from_uri(url)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        import fsspec

        try:
            spec_fs, path = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as err:
            raise GanpostError(f"{url}: no filesystem for {protocol}:// ({err}); install the fsspec package "
                               "for it (s3fs, gcsfs, adlfs …) on every node.") from err
        fs = pafs.PyFileSystem(pafs.FSSpecHandler(spec_fs))
    return fs, path, protocol in OBJECT_STORES


def exists(name) -> bool:
    if not is_url(name):
        return local_path(name).exists()
    import pyarrow.fs as pafs

    fs, path, _ = filesystem(str(name))
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def download(url: str, local: Path) -> None:
    """Copy ``url`` to ``local`` (a temporary file of the caller's)."""
    fs, path, _ = filesystem(url)
    try:
        with fs.open_input_stream(path) as stream:
            local.write_bytes(stream.read())
    except (OSError, ValueError) as err:
        raise GanpostError(f"{url}: could not be read ({_first_line(err)}).") from err


def upload(local: Path, url: str) -> None:
    """Put ``local``'s bytes at ``url`` so that only the whole file ever appears there."""
    fs, path, object_store = filesystem(url)
    data = local.read_bytes()
    try:
        if object_store:  # committed whole when the upload ends
            _put(fs, path, data)
            return
        folder, name = posixpath.split(path)
        partial = posixpath.join(folder, f".{name}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}")
        _put(fs, partial, data)
        try:
            _replace(fs, partial, path)
        except BaseException:
            fs.delete_file(partial)
            raise
    except (OSError, ValueError) as err:
        raise GanpostError(f"{url}: could not be written ({_first_line(err)}).") from err


def _replace(fs, partial: str, path: str) -> None:
    import pyarrow.fs as pafs

    try:
        fs.move(partial, path)
    except OSError:  # HDFS's rename will not replace a file: the old one goes first
        if fs.get_file_info(path).type == pafs.FileType.NotFound:
            raise
        fs.delete_file(path)
        fs.move(partial, path)


def _put(fs, path: str, data: bytes) -> None:
    stream = fs.open_output_stream(path)
    stream.write(data)
    stream.close()


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
