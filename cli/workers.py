"""A folder run spread over worker processes, one per device (or per share of the CPU's cores).

Every worker builds the command's stages itself (the model loads once per worker), then pulls
groups of files from one shared queue, so a slow device never holds the others back; each runs
the same streamed loop as a one-process run, so the results are the same bytes. Lines about
files come back to this process, which draws the one progress bar and prints every line.

A worker that dies (SIGKILL, the kernel's out-of-memory killer) costs only the files it held:
each is named on one line (or counted as written, if its atomic write had landed), and the other
workers finish the rest. A rerun with ``--skip-existing`` does only what is missing.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..gan_models import GanpostError
from .failures import failure_line
from .placement import Worker
from .stages import StagesFactory
from .stream import Job, Outcome, run_stream

log = logging.getLogger("ganpost.cli")
POLL_SECONDS = 0.5  # how often a quiet run checks that its workers are alive


@dataclass
class _WorkerState:
    spec: Worker
    process: multiprocessing.Process
    held: set[int] = field(default_factory=set)  # indices of jobs taken and not yet reported
    ended: bool = False


class WorkerPool:
    """Run ``groups`` on ``workers``; ``report`` gets every job's outcome, ``note`` every other line."""

    def __init__(self, factory: StagesFactory, args, workers: list[Worker], *, depth: int):
        self.factory, self.args, self.workers, self.depth = factory, args, workers, depth

    def run(self, groups: list[list[Job]], report: Callable[[Outcome], None], note: Callable[[str], None]) -> None:
        context = multiprocessing.get_context("spawn")  # fork would copy a parent's CUDA context and threads
        tasks, results = context.Queue(), context.Queue()
        for group in groups:
            tasks.put(group)
        for _ in self.workers:
            tasks.put(None)  # one "no more work" per worker
        jobs = {job.index: job for group in groups for job in group}
        started = time.time()
        states = {}
        for spec in self.workers:
            process = context.Process(target=worker_main, name=f"ganpost-{spec.name}", daemon=True,
                                      args=(self.factory, self.args, spec, self.depth, tasks, results))
            process.start()
            states[spec.name] = _WorkerState(spec, process)
        reported: set[int] = set()
        setup_errors: list[str] = []
        seen_notes: set[str] = set()

        def outcome(o: Outcome) -> None:
            reported.add(o.job.index)
            report(o)

        try:
            while not all(s.ended for s in states.values()):
                try:
                    message = results.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    self._bury_dead(states, jobs, reported, outcome, note, started)
                    continue
                kind, name, *rest = message
                state = states[name]
                if kind == "taken":
                    state.held.update(rest[0])
                elif kind == "outcome":
                    index, shown, error, seconds = rest
                    state.held.discard(index)
                    if index in reported:  # already counted when its worker was found dead
                        continue
                    outcome(Outcome(jobs[index], shown=shown, error=None if error is None else _Reported(error),
                                    seconds=seconds))
                elif kind == "note" and rest[0] not in seen_notes:  # N workers log the same warning once
                    seen_notes.add(rest[0])
                    note(rest[0])
                elif kind == "setup_failed":
                    setup_errors.append(f"{name}: {rest[0]}")
                elif kind == "exit":
                    state.ended = True
                    state.process.join()
        finally:  # Ctrl-C, SIGTERM or a failure here: no worker outlives the run
            for state in states.values():
                if state.process.is_alive():
                    state.process.terminate()
            for state in states.values():
                state.process.join(timeout=10)
        if len(setup_errors) == len(states):
            raise SetupFailed(setup_errors[0].split(": ", 1)[1])
        for line in setup_errors:
            note(f"worker {line}; the others went on")
        for index in sorted(set(jobs) - reported):  # left in the queue when every worker had stopped
            outcome(Outcome(jobs[index], error=_Reported(f"{jobs[index].source}: not started: every worker stopped")))

    def _bury_dead(self, states, jobs, reported, outcome, note, started) -> None:
        for state in states.values():
            code = state.process.exitcode
            if state.ended or code in (None, 0):  # a clean exit says so itself, after its last outcome
                continue
            state.ended = True
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
            note(f"worker {state.spec.name} stopped ({how}); the other workers go on")
            for index in sorted(state.held - reported):
                job = jobs[index]
                if _landed(job, started):  # its atomic write was done before the worker stopped
                    outcome(Outcome(job, shown="written before its worker stopped"))
                else:
                    outcome(Outcome(job, error=_Reported(
                        f"{job.source}: not written: worker {state.spec.name} stopped ({how}) while on it")))
            state.held.clear()


class _Reported(Exception):
    """A failure already put into words (by a worker)."""


class SetupFailed(GanpostError):
    """Every worker failed to build its stages (a bad model, option or device): one line, as a one-process run."""


def _landed(job: Job, since: float) -> bool:
    try:
        return job.target.stat().st_mtime >= since - 1
    except OSError:
        return False


def worker_main(factory: StagesFactory, args, spec: Worker, depth: int, tasks, results) -> None:
    """A worker process: build the stages, then stream the groups it pulls until the queue says stop."""
    import torch

    from .batch import pixel_limit, terminate_as_interrupt

    if spec.threads:
        torch.set_num_threads(spec.threads)
    _forward_logs(spec.name, results, getattr(args, "verbose", False))
    try:
        with terminate_as_interrupt(), pixel_limit(args.max_pixels):
            try:
                stages = factory(args, spec.device)
            except Exception as err:  # noqa: BLE001 - said by the parent, once for all workers
                results.put(("setup_failed", spec.name, str(err).strip().splitlines()[0] if str(err).strip()
                             else type(err).__name__))
                return

            def groups():
                while (group := tasks.get()) is not None:
                    results.put(("taken", spec.name, [job.index for job in group]))
                    yield group

            def report(o: Outcome) -> None:
                error = None if o.error is None else failure_line(o.job.source, o.error)
                results.put(("outcome", spec.name, o.job.index, o.shown, error, o.seconds))

            run_stream(groups(), stages, report, depth=depth)
    except KeyboardInterrupt:  # Ctrl-C reaches every process of the terminal's group; the parent reports
        return
    finally:
        results.put(("exit", spec.name))


def _forward_logs(name: str, results, verbose: bool) -> None:
    """This worker's warnings become lines the parent prints (once, whichever worker said it first)."""

    class Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
            results.put(("note", name, f"{level}{record.getMessage()}"))

    logger = logging.getLogger("ganpost")
    logger.handlers[:] = [Forward()]
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False
