"""The one way ganpost writes a file: to a temporary name beside it, renamed into place at the end.

An interrupted or failed write (Ctrl-C, a full disk, a checksum mismatch, a killed process) never
leaves a partial file under the final name; temporaries of killed runs carry ``.partial`` so they
can be swept. The finished file gets the permissions the user's umask gives new files (mkstemp
would leave it 0600).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError

PARTIAL_SUFFIX = ".partial"


def _umask() -> int:
    try:  # Linux reports it without changing it (os.umask would, briefly, for every thread)
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_target(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, otherwise removed."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {path.parent} is not writable ({err.strerror or err}). "
                          "Choose another output location or fix the folder's permissions.") from err
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` then rename onto ``path``: a crash never leaves a partial file."""
    with atomic_target(path) as tmp:
        write(str(tmp))
    return Path(path)


def atomic_copy(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    return atomic_write(path, lambda tmp: shutil.copyfile(source, tmp))


def sweep_partials(folder: str | os.PathLike) -> int:
    """Remove temporaries that killed writes left in ``folder``; returns how many."""
    count = 0
    for leftover in Path(folder).glob(f".*{PARTIAL_SUFFIX}"):
        leftover.unlink(missing_ok=True)
        count += 1
    return count
