"""A folder run spread over worker processes, one per device (or per share of the CPU's cores).

Every worker builds the command's stages itself (the model loads once per worker), then asks this
process for one group of files at a time, so a slow device never holds the others back; each runs
the same streamed loop as a one-process run, so the results are the same bytes. Lines about files
come back here, where the one progress bar and every line are drawn.

Each worker talks to this process over its own pipe: a worker killed mid-message (SIGKILL, the
kernel's out-of-memory killer) cannot leave a lock held that the others wait on. The files it held
go back to the queue once for another worker (one counts as written if its atomic write had landed);
a file that has already outlived one worker is named on one line instead. A rerun with
``--skip-existing`` does only what is missing.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait

from ..gan_models import GanpostError
from .console import log_lines_to
from .failures import failure_line
from .placement import Worker
from .stages import StagesFactory
from .stream import Job, Outcome, run_stream

log = logging.getLogger("ganpost.cli")
RETRIES_AFTER_A_DEATH = 1  # a file whose worker died goes to another once; a second death names it
LATER = "later"  # to a worker asking while it still holds files: nothing free now, ask when those are done


class SetupFailed(GanpostError):
    """Every worker failed to build its stages (a bad model, option or device): one line, as a one-process run."""


class _Reported(Exception):
    """A failure already put into words (by a worker, or about one)."""


@dataclass
class _Seat:
    """One worker as this process sees it."""

    spec: Worker
    process: multiprocessing.Process
    pipe: object
    held: dict[int, list[Job]] = field(default_factory=dict)  # groups sent and not yet fully reported
    waiting: bool = False  # asked for work while none was free
    ended: bool = False


class WorkerPool:
    """Run ``groups`` on ``workers``; ``report`` gets every job's outcome, ``note`` every other line."""

    def __init__(self, factory: StagesFactory, args, workers: list[Worker], *, depth: int):
        self.factory, self.args, self.workers, self.depth = factory, args, workers, depth

    def run(self, groups: list[list[Job]], report: Callable[[Outcome], None], note: Callable[[str], None]) -> None:
        context = multiprocessing.get_context("spawn")  # fork would copy a parent's CUDA context and threads
        self._free = deque(groups)
        self._jobs = {job.index: job for group in groups for job in group}
        self._deaths = dict.fromkeys(self._jobs, 0)
        self._left = set(self._deaths)  # jobs not yet reported
        self._report, self._note, self._started = report, note, time.time()
        self._seen_notes: set[str] = set()
        self._setup_errors: list[str] = []
        seats = []
        for spec in self.workers:
            mine, theirs = context.Pipe()
            process = context.Process(target=worker_main, name=f"ganpost-{spec.name}", daemon=True,
                                      args=(self.factory, self.args, spec, self.depth, theirs))
            process.start()
            theirs.close()
            seats.append(_Seat(spec, process, mine))
        try:
            while not all(seat.ended for seat in seats):
                live = [seat for seat in seats if not seat.ended]
                ready = wait([seat.pipe for seat in live] + [seat.process.sentinel for seat in live])
                for seat in live:
                    if seat.pipe in ready:
                        self._receive(seat, seats)
                    elif seat.process.sentinel in ready and not seat.ended:
                        self._bury(seat, seats)
        finally:  # Ctrl-C, SIGTERM or a failure here: no worker outlives the run
            for seat in seats:
                if seat.process.is_alive():
                    seat.process.terminate()
            for seat in seats:
                seat.process.join(timeout=10)
        if len(self._setup_errors) == len(seats):
            raise SetupFailed(self._setup_errors[0].split(": ", 1)[1])
        for line in self._setup_errors:
            note(f"worker {line}; the others went on")
        for index in sorted(self._left):
            job = self._jobs[index]
            self._outcome(Outcome(job, error=_Reported(f"{job.source}: not done: every worker stopped")))

    # -------------------------------------------------------------------------------------- messages
    def _receive(self, seat: _Seat, seats: list[_Seat]) -> None:
        try:
            kind, *rest = seat.pipe.recv()
        except (EOFError, OSError):  # it died; its sentinel says how
            seat.process.join()
            self._bury(seat, seats)
            return
        if kind == "want":
            seat.waiting = True
            self._dispatch(seats)
        elif kind == "outcome":
            index, shown, error, seconds = rest
            self._forget(seat, index)
            if index in self._left:  # (a file counted when its worker was thought dead is not counted twice)
                self._outcome(Outcome(self._jobs[index], shown=shown, error=None if error is None else _Reported(error),
                                      seconds=seconds))
            self._dispatch(seats)
        elif kind == "note" and rest[0] not in self._seen_notes:  # N workers log the same warning once
            self._seen_notes.add(rest[0])
            self._note(rest[0])
        elif kind == "setup_failed":
            self._setup_errors.append(f"{seat.spec.name}: {rest[0]}")
        elif kind == "exit":
            seat.ended = True
            seat.process.join()
            self._dispatch(seats)

    def _dispatch(self, seats: list[_Seat]) -> None:
        """Give free groups to workers that asked; once every job is reported, tell the idle ones to stop."""
        for seat in seats:
            if seat.ended or not seat.waiting:
                continue
            if self._free:
                group = self._free.popleft()
                if self._send(seat, group):
                    seat.held[group[0].index] = list(group)
                else:
                    self._free.appendleft(group)
            elif not self._left:
                self._send(seat, None)
            elif seat.held:  # it asked while reading ahead: finish those first, then ask again
                self._send(seat, LATER)
            else:
                continue  # files are still out with other workers: they come back here if one dies
            seat.waiting = False

    def _send(self, seat: _Seat, message) -> bool:
        try:
            seat.pipe.send(message)
            return True
        except (BrokenPipeError, OSError):
            return False

    def _bury(self, seat: _Seat, seats: list[_Seat]) -> None:
        """A worker ended without saying so: its files go back to the queue, or are named."""
        seat.ended = True
        seat.process.join(timeout=5)  # its sentinel fires as it exits, a moment before its status is there
        code = seat.process.exitcode
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit status {code}"
        self._note(f"worker {seat.spec.name} stopped ({how}); the other workers go on")
        retry = []
        for group in seat.held.values():
            for job in group:
                if job.index not in self._left:
                    continue
                if _landed(job, self._started):  # its atomic write was done before the worker stopped
                    self._outcome(Outcome(job, shown="written before its worker stopped"))
                elif self._deaths[job.index] < RETRIES_AFTER_A_DEATH:
                    self._deaths[job.index] += 1
                    retry.append(job)
                else:
                    self._outcome(Outcome(job, error=_Reported(
                        f"{job.source}: not written: it was on two workers that stopped, the last {seat.spec.name} "
                        f"({how})")))
        self._free.extendleft(reversed([[job] for job in retry]))  # first, in their order
        seat.held.clear()
        self._dispatch(seats)

    def _outcome(self, outcome: Outcome) -> None:
        self._left.discard(outcome.job.index)
        self._report(outcome)

    @staticmethod
    def _forget(seat: _Seat, index: int) -> None:
        for key, group in list(seat.held.items()):
            if any(job.index == index for job in group):
                group[:] = [job for job in group if job.index != index]
                if not group:
                    del seat.held[key]
                return


def _landed(job: Job, since: float) -> bool:
    try:
        return job.target.stat().st_mtime >= since - 1
    except OSError:
        return False


def worker_main(factory: StagesFactory, args, spec: Worker, depth: int, pipe) -> None:
    """A worker process: build the stages, then stream the groups it asks for until told to stop."""
    import torch

    from .batch import pixel_limit, terminate_as_interrupt

    if spec.threads:
        torch.set_num_threads(spec.threads)
    pipe = _LockedPipe(pipe)  # log records come from the I/O threads too
    try:
        # This worker's log records become lines the parent prints (once, whichever worker said it first).
        with log_lines_to(pipe.note, getattr(args, "verbose", False)), \
                terminate_as_interrupt(), pixel_limit(args.max_pixels):
            try:
                stages = factory(args, spec.device)
            except Exception as err:  # noqa: BLE001 - said by the parent, once for all workers
                text = str(err).strip()
                pipe.send(("setup_failed", text.splitlines()[0] if text else type(err).__name__))
                return

            finished = False

            def groups():
                nonlocal finished
                while True:
                    pipe.send(("want",))
                    group = pipe.recv()
                    if group is None or group == LATER:
                        finished = group is None
                        return
                    yield group

            def report(o: Outcome) -> None:
                error = None if o.error is None else failure_line(o.job.source, o.error)
                pipe.send(("outcome", o.job.index, o.shown, error, o.seconds))

            while not finished:
                run_stream(groups(), stages, report, depth=depth)
    except (KeyboardInterrupt, BrokenPipeError, EOFError):  # Ctrl-C reaches every process; the parent reports
        return
    finally:
        try:
            pipe.send(("exit",))
        except (BrokenPipeError, OSError):
            pass


class _LockedPipe:
    def __init__(self, pipe):
        self._pipe, self._lock = pipe, threading.Lock()

    def send(self, message) -> None:
        with self._lock:
            self._pipe.send(message)

    def recv(self):
        return self._pipe.recv()

    def note(self, text: str) -> None:
        """A log line for the parent; none when the parent has gone (it reports the worker itself)."""
        try:
            self.send(("note", text))
        except (BrokenPipeError, OSError):
            pass
