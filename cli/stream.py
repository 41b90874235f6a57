"""A folder run with reading, computing and writing overlapped, in bounded memory.

Inputs are decoded on I/O threads while the model runs on this thread, and results are encoded
and written on I/O threads while the next group computes. At most ``depth`` groups wait decoded
ahead of the compute, and at most ``depth`` results wait to be written: memory stays bounded
whatever the folder's size. ``depth=0`` is the plain loop (read, compute, write, one file at a
time). A file's failure, at any step, ends only that file.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .stages import FileStages

IO_THREADS = 2  # per direction: one decodes while another waits on the disk; PNG/JPEG codecs release the GIL


@dataclass(frozen=True)
class Job:
    index: int  # position in the run, for the [k/N] label
    source: Path
    target: Path


@dataclass
class Outcome:
    job: Job
    shown: str | None = None  # what to show about a written file
    error: BaseException | None = None
    seconds: float = 0.0


Report = Callable[[Outcome], None]


class InProcess:
    """The files streamed in this process, in the shape every pool has: ``run(groups, report, note)``."""

    def __init__(self, stages: FileStages, *, depth: int, progress=None):
        self.stages, self.depth, self.progress = stages, depth, progress

    def run(self, groups: Iterable[list[Job]], report: Report, note: Callable[[str], None]) -> None:
        run_stream(groups, self.stages, report, depth=self.depth, progress=self.progress)


def run_stream(groups: Iterable[list[Job]], stages: FileStages, report: Report, *, depth: int = 2,
               progress=None) -> None:
    """Every job of ``groups`` read, computed (a group in one call) and written; ``report`` gets each outcome
    on this thread, in the order files finish. ``progress`` goes to ``compute`` (for one-file runs)."""
    if depth <= 0:
        for group in groups:
            _plain(group, stages, report, progress)
        return
    readers = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="ganpost-read")
    writers = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="ganpost-write")
    reads: deque[tuple[list[Job], list[Future], float]] = deque()
    writes: deque[tuple[Job, Future, float]] = deque()
    pending = iter(groups)

    def read_ahead() -> None:
        while len(reads) < depth:
            group = next(pending, None)
            if group is None:
                return
            futures = None if _whole(group, stages) else [readers.submit(stages.read, job.source) for job in group]
            reads.append((group, futures, time.perf_counter()))

    def finish_writes(keep: int) -> None:
        """Report finished writes (all of them in order once more than ``keep`` wait)."""
        while writes and (len(writes) > keep or writes[0][1].done()):
            job, future, started = writes.popleft()
            try:
                report(Outcome(job, shown=future.result(), seconds=time.perf_counter() - started))
            except Exception as err:  # noqa: BLE001 - an encoder's or the disk's failure ends only this file
                report(Outcome(job, error=err))

    try:
        read_ahead()
        while reads:
            group, futures, started = reads.popleft()
            read_ahead()  # keep decoding while this group computes
            if futures is None:  # a video: decoded, computed and encoded here, batch by batch
                _do_whole(group[0], stages, report, progress)
                finish_writes(keep=depth)
                continue
            decoded = []
            for job, future in zip(group, futures):
                try:
                    decoded.append((job, future.result()))
                except Exception as err:  # noqa: BLE001
                    report(Outcome(job, error=err))
            for job, item, result in _computed(decoded, stages, report, progress):
                finish_writes(keep=depth - 1)
                writes.append((job, writers.submit(stages.write, job.target, result, item), started))
            finish_writes(keep=depth)
        finish_writes(keep=0)
    except BaseException:  # Ctrl-C / SIGTERM: queued reads and writes are dropped, writes under way finish
        readers.shutdown(wait=True, cancel_futures=True)
        writers.shutdown(wait=True, cancel_futures=True)
        for job, future, started in writes:  # (they are atomic): those that landed are counted
            if future.done() and not future.cancelled() and future.exception() is None:
                report(Outcome(job, shown=future.result(), seconds=time.perf_counter() - started))
        raise
    readers.shutdown()
    writers.shutdown()


def _computed(decoded: list, stages: FileStages, report: Report, progress):
    """(job, decoded, result) for each input of a group; when a group's forward fails, its files are
    retried one by one so the failure ends only the file that caused it."""
    if not decoded:
        return []
    items = [item for _, item in decoded]
    try:
        results = stages.compute(items, progress)
        return [(job, item, result) for (job, item), result in zip(decoded, results)]
    except Exception as err:  # noqa: BLE001
        if len(decoded) == 1:
            report(Outcome(decoded[0][0], error=err))
            return []
    done = []
    for job, item in decoded:
        try:
            done.append((job, item, stages.compute([item], progress)[0]))
        except Exception as err:  # noqa: BLE001
            report(Outcome(job, error=err))
    return done


def _whole(group: list[Job], stages: FileStages) -> bool:
    return stages.whole is not None and len(group) == 1 and stages.takes_whole(group[0].source)


def _do_whole(job: Job, stages: FileStages, report: Report, progress) -> None:
    started = time.perf_counter()
    try:
        shown = stages.whole(job.source, job.target, progress)
    except Exception as err:  # noqa: BLE001 - one file's failure ends only it (its output was never in place)
        report(Outcome(job, error=err))
    else:
        report(Outcome(job, shown=shown, seconds=time.perf_counter() - started))


def _plain(group: list[Job], stages: FileStages, report: Report, progress) -> None:
    """One group at a time, nothing overlapped (``depth=0``: how every run went before streaming)."""
    if _whole(group, stages):
        _do_whole(group[0], stages, report, progress)
        return
    for job in group:
        started = time.perf_counter()
        try:
            item = stages.read(job.source)
            result = stages.compute([item], progress)[0]
            shown = stages.write(job.target, result, item)
        except Exception as err:  # noqa: BLE001 - one file's failure ends only it
            report(Outcome(job, error=err))
        else:
            report(Outcome(job, shown=shown, seconds=time.perf_counter() - started))
