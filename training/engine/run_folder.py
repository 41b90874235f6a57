"""One run per folder, and never over another run's work.

Before a run writes anything it takes the folder's lock (a second process on the same folder is
refused while the first lives; the kernel drops the lock when a process dies, even by SIGKILL) and
checks what the folder holds:

- nothing (missing or empty): a new run starts;
- a saved run (a state or a checkpoint): only a resume may continue it: a new run there would
  replace its checkpoints and interleave its log;
- what a run writes before its first save (its ``config.json``, log, previews, caches), and no
  checkpoint: the same run restarting, nothing of value to lose;
- anything else: someone's files, refused.

The run folder may not be, or lie inside, a folder the run reads: it would write among the user's
photos and train on its own previews.
"""

from __future__ import annotations

import errno
import os
import weakref
from pathlib import Path

from ...gan_models.atomic import PARTIAL_SUFFIX
from ...gan_models.errors import GanpostError

LOCK_NAME = ".ganpost-run.lock"
_HELD_ELSEWHERE = {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, getattr(errno, "EDEADLOCK", errno.EAGAIN)}
CONFIG_NAME = "config.json"


class RunFolderError(GanpostError):
    """A run folder that this run may not use; ``kind`` says which fix applies.

    ``kind``: ``"saved"`` (a saved run: resume it or use another folder), ``"foreign"`` (not a run
    folder), ``"busy"`` (another process runs there), ``"overlap"`` (it overlaps an input folder),
    ``"unusable"`` (it cannot be created or locked). Front-ends add the fix in their own words."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


def saved_files(root: Path) -> list[Path]:
    """The files that make ``root`` a saved run: its state and its checkpoints (not leftovers of killed writes)."""
    found = []
    for folder in (root / "state", root / "models"):
        if folder.is_dir():
            found += [p for p in folder.iterdir() if p.is_file() and not p.name.endswith(PARTIAL_SUFFIX)]
    return found


def check_new_run(root: Path) -> None:
    """Raise :class:`RunFolderError` unless a new run may start in ``root`` without losing anything."""
    if not root.exists():
        return
    if not root.is_dir():
        raise RunFolderError(f"{root} is a file, not a folder; nothing was changed", "foreign")
    entries = [p for p in root.iterdir() if p.name != LOCK_NAME]
    if not entries:
        return
    saved = saved_files(root)
    if saved:
        newest = max(saved, key=lambda p: p.stat().st_mtime)
        raise RunFolderError(f"{root} already holds a training run (newest file {newest.relative_to(root)}); "
                             "nothing was changed", "saved")
    if not (root / CONFIG_NAME).is_file():
        raise RunFolderError(f"{root} is not empty and is not a ganpost run folder ({len(entries)} entries, e.g. "
                             f"{entries[0].name}); nothing was changed", "foreign")


def check_inputs_apart(root: Path, inputs: list[Path]) -> None:
    """Refuse a run folder that is, or lies inside, one of the folders the run reads. (One that holds
    them is someone's folder: only a new run's checks see it, and they refuse it as not a run folder.)"""
    out = root.resolve()
    for folder in inputs:
        read = Path(folder).resolve()
        if out == read or read in out.parents:
            raise RunFolderError(f"the run folder {root} overlaps the input folder {folder}: the run would "
                                 "write among the images it reads; nothing was changed", "overlap")


class RunFolder:
    """Claims ``root`` for one run: checks, then holds its lock until :meth:`release`."""

    def __init__(self, root: Path):
        self.root = root
        self.lock = RunLock(root)
        self.created = False

    def claim(self, *, resume: bool, inputs: list[Path]) -> None:
        check_inputs_apart(self.root, inputs)
        self.created = not self.root.exists()
        self.lock.acquire()
        try:
            if not resume:
                check_new_run(self.root)
        except BaseException:
            self.release(undo=True)
            raise

    def release(self, *, undo: bool = False) -> None:
        """Drop the lock; with ``undo``, also remove the folder if this run made it and left nothing in it."""
        self.lock.release()
        if undo and self.created:
            leftovers = [p for p in self.root.iterdir() if p.name not in (LOCK_NAME, CONFIG_NAME)]
            if not leftovers:
                for name in (LOCK_NAME, CONFIG_NAME):
                    (self.root / name).unlink(missing_ok=True)
                self.root.rmdir()


class RunLock:
    """An exclusive lock on ``<root>/.ganpost-run.lock`` while this object holds it (released by
    :meth:`release`, or when the object is garbage-collected, or when the process ends).

    Within one process the newest holder takes the lock over (a process runs its trainings one
    after another: a trainer that was never fitted must not block the next one)."""

    _held: weakref.WeakValueDictionary[Path, RunLock] = weakref.WeakValueDictionary()

    def __init__(self, root: Path):
        self.root = root
        self.path = root / LOCK_NAME
        self._fd: int | None = None
        self._closer: weakref.finalize | None = None

    def acquire(self) -> RunLock:
        key = self.path.resolve()
        earlier = self._held.get(key)
        fd = earlier._hand_over() if earlier is not None and earlier.held else _lock_file(self.path, self.root)
        self._fd, self._closer = fd, weakref.finalize(self, os.close, fd)  # closing the descriptor unlocks
        self._held[key] = self
        return self

    def _hand_over(self) -> int:
        self._closer.detach()
        fd, self._fd = self._fd, None
        return fd

    def release(self) -> None:
        if self._fd is None:
            return
        self._closer()
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def _lock_file(path: Path, root: Path) -> int:
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise RunFolderError(f"cannot use {root} as a run folder ({err.strerror or err})", "unusable") from err
    try:
        _try_lock(fd)
    except OSError as err:
        os.close(fd)
        if err.errno not in _HELD_ELSEWHERE:
            raise RunFolderError(f"cannot lock {path} ({err.strerror or err})", "unusable") from err
        holder = _read_pid(path)
        who = f"process {holder}" if holder else "another process"
        raise RunFolderError(f"{root} is in use by another training run ({who}); nothing was changed", "busy") \
            from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _try_lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
