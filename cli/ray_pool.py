"""``--ray [ADDRESS]``: a folder run on Ray actors, on this machine or a cluster's, with the same lines.

Without an address Ray starts on this machine (or joins the cluster ``RAY_ADDRESS`` names, as
``ray.init()`` does); with one it connects there. One actor per GPU where the cluster has GPUs
(``--workers N``: N per GPU), else ``--workers`` CPU actors (default 2), each given its share of the
cores. Every actor builds the command's stages once (the model loads once per actor) and streams
the groups it is handed like a one-process run, so the files are the same bytes.

Inputs and outputs are paths every node sees the same way (this machine's, or a shared mount).

Failures: an actor that dies (SIGKILL, the out-of-memory killer, a lost node) is restarted by Ray,
which runs its chunk of files again (``TASK_RETRIES``); files whose atomic write had landed are not
written again (without ``--overwrite`` nothing was there before this run), so each output is
written once and whole. A chunk that keeps killing its actor is retried one file at a time; the
file that still kills it gets one line, and the others are done.
"""

from __future__ import annotations

import glob
import logging
import signal
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager

from ..gan_models.atomic import PARTIAL_SUFFIX
from ..gan_models.errors import GanpostError, InvalidOptionError
from ..integrations.ray import FileProcessor
from .console import log_lines_to
from .stages import StagesFactory
from .stream import Job, Outcome
from .workers import SetupFailed

log = logging.getLogger("ganpost.cli")
DEFAULT_CPU_ACTORS = 2
TASK_RETRIES = 2  # a chunk whose actor died is run again up to this many times (Ray restarts the actor)
POLL_SECONDS = 0.5
CHUNK_GROUPS = 4  # groups per call on an actor: fewer calls, yet a dead actor costs little
MAX_RESTARTS = 16  # an actor that keeps dying (a model that kills every process loading it) is given up
INSTALL_HINT = 'pip install "ganpost[ray]"'


def require_ray():
    try:
        import ray
    except ImportError as err:
        raise GanpostError(f"--ray needs Ray, which is not installed here ({err}); {INSTALL_HINT}.") from err
    return ray


class _Actor(FileProcessor):
    """One Ray actor: the command's stages built once, chunks of groups streamed through them."""

    def __init__(self, factory: StagesFactory, args, device: str, threads: int | None):
        self.error, self.notes = None, []
        with log_lines_to(self.notes.append, getattr(args, "verbose", False)):
            try:
                # Nothing existed under a target before this run unless --overwrite: one that exists now
                # landed before this actor was restarted, and is not written twice.
                self._start(factory, args, device=device, skip_existing=not args.overwrite,
                            depth=args.queue_depth, threads=threads)
            except Exception as err:  # noqa: BLE001 - said once by the caller, for every actor
                text = str(err).strip()
                self.error = text.splitlines()[0] if text else type(err).__name__

    def ready(self) -> tuple[str | None, list[str]]:
        notes, self.notes = self.notes, []
        return self.error, notes

    def run(self, groups: list[list[Job]]) -> tuple[list[tuple], list[str]]:
        notes: list[str] = []
        with log_lines_to(notes.append, getattr(self.settings, "verbose", False)):
            results = self.run_groups(groups)
        return [(index, r.status, r.shown, r.error, r.seconds) for index, r in results.items()], notes


class RayPool:
    """Run ``groups`` on Ray actors; ``report`` gets every job's outcome, ``note`` every other line."""

    def __init__(self, factory: StagesFactory, args, *, depth: int):
        self.factory, self.args, self.depth = factory, args, depth
        self.address = args.ray or None  # --ray alone: Ray's own choice (RAY_ADDRESS, else a new Ray here)

    def run(self, groups: list[list[Job]], report: Callable[[Outcome], None], note: Callable[[str], None]) -> None:
        ray = require_ray()
        started_here = not ray.is_initialized()
        if started_here:
            with _signals_kept():
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.ERROR)
        actors = []
        try:
            device, count, resources, threads = self._placement(ray)
            options = dict(resources, max_restarts=MAX_RESTARTS, max_task_retries=TASK_RETRIES)
            remote = ray.remote(_Actor)
            actors = [remote.options(**options).remote(self.factory, self.args, device, threads) for _ in range(count)]
            where = f"{int(resources.get('num_gpus', 0) * count)} GPU(s)" if device == "cuda" else (
                f"the CPU, {threads} thread{'' if threads == 1 else 's'} each")
            note(f"{sum(map(len, groups))} file(s) on {count} Ray actors ({where})")
            actors = self._ready(ray, actors, note)
            _Dispatch(ray, actors, groups, report, note, self.depth).run()
        finally:  # Ctrl-C, SIGTERM or a failure here: no actor outlives the run
            for actor in actors:
                ray.kill(actor)
            _sweep_partials([job.target for group in groups for job in group])
            if started_here:
                ray.shutdown()

    def _placement(self, ray) -> tuple[str, int, dict, int | None]:
        """The actors' device, how many, the resources each asks Ray for, and CPU threads each."""
        cluster = ray.cluster_resources()
        gpus = int(cluster.get("GPU", 0))
        wanted = (self.args.device or "auto").strip().lower()
        if wanted.startswith("cuda") and not gpus:
            raise InvalidOptionError(f"--device {self.args.device}: the Ray cluster has no GPU; leave --device out "
                                     "or use --device cpu")
        if wanted not in ("auto", "cpu", "cuda"):
            raise InvalidOptionError(f"--device {self.args.device} with --ray: Ray places the actors; use cpu, cuda "
                                     "or leave it out (one actor per GPU, --workers N per GPU)")
        per = self.args.workers or 1
        if gpus and wanted != "cpu":
            return "cuda", gpus * per, {"num_gpus": 1 / per, "num_cpus": 1}, None
        count = self.args.workers or DEFAULT_CPU_ACTORS
        largest = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")), default=1)
        share = max(1, min(int(largest), int(cluster.get("CPU", 1)) // count))
        return "cpu", count, {"num_cpus": share, "num_gpus": 0}, share

    def _ready(self, ray, actors: list, note) -> list:
        refs = [actor.ready.remote() for actor in actors]
        while ray.wait(refs, num_returns=len(refs), timeout=POLL_SECONDS)[1]:  # short steps: Ctrl-C gets through
            pass
        answers = ray.get(refs)
        errors = [error for error, _ in answers if error is not None]
        for line in dict.fromkeys(n for _, notes in answers for n in notes):  # N actors log a warning once
            note(line)
        if len(errors) == len(actors):
            raise SetupFailed(errors[0])
        for error in dict.fromkeys(errors):
            note(f"{errors.count(error)} Ray actor(s) could not start ({error}); the others went on")
        return [actor for actor, (error, _) in zip(actors, answers) if error is None]


class _Dispatch:
    """Chunks of groups handed to actors (two waiting per actor, so none idles between chunks)."""

    def __init__(self, ray, actors, groups, report, note, depth: int):
        self.ray, self.actors, self.report, self.note = ray, list(actors), report, note
        size = max(1, min(CHUNK_GROUPS, len(groups) // (2 * len(actors))))  # each actor gets two at least
        self.pending = deque(groups[k:k + size] for k in range(0, len(groups), size))
        self.running: dict = {}  # object ref → (actor, chunk)
        self.reported: set[int] = set()
        self.seen_notes: set[str] = set()

    def run(self) -> None:
        self._fill()
        while self.running:
            done, _ = self.ray.wait(list(self.running), num_returns=1, timeout=POLL_SECONDS)
            if not done:  # waiting in short steps lets Ctrl-C and SIGTERM through
                continue
            ref = done[0]
            actor, chunk = self.running.pop(ref)
            try:
                results, notes = self.ray.get(ref)
            except self.ray.exceptions.RayActorError as err:
                self._died(actor, chunk, err)
            else:
                self._results(chunk, results, notes)
            self._fill()
        for chunk in self.pending:  # every actor was given up
            for job in (job for group in chunk for job in group):
                self._outcome(Outcome(job, error=_Reported(f"{job.source}: not started: every Ray actor stopped")))

    def _fill(self) -> None:
        for actor in self.actors:
            while self.pending and sum(1 for a, _ in self.running.values() if a is actor) < 2:
                chunk = self.pending.popleft()
                self.running[actor.run.remote(chunk)] = (actor, chunk)

    def _results(self, chunk, results, notes) -> None:
        jobs = {job.index: job for group in chunk for job in group}
        for line in notes:
            if line not in self.seen_notes:
                self.seen_notes.add(line)
                self.note(line)
        for index, status, shown, error, seconds in results:
            job = jobs[index]
            if status == "failed":
                self._outcome(Outcome(job, error=_Reported(error)))
            else:  # "skipped": it landed before a restart of its actor
                shown = shown if status == "written" else "written before its Ray actor was restarted"
                self._outcome(Outcome(job, shown=shown, seconds=seconds))

    def _died(self, actor, chunk, err) -> None:
        jobs = [job for group in chunk for job in group if job.index not in self.reported]
        why = _why(err)
        self.note(f"a Ray actor stopped {TASK_RETRIES + 1} times on a chunk of {len(jobs)} file(s) ({why})"
                  + ("; trying them one at a time" if len(jobs) > 1 else ""))
        if len(jobs) > 1:
            self.pending.extendleft([[job]] for job in reversed(jobs))
        else:
            for job in jobs:
                self._outcome(Outcome(job, error=_Reported(
                    f"{job.source}: not written: its Ray actor stopped {TASK_RETRIES + 1} times while on it ({why})")))
        try:  # restarted (the ping waits for that) or gone for good
            self.ray.get(actor.ready.remote())
        except self.ray.exceptions.RayActorError:
            self.actors.remove(actor)
            self.note(f"a Ray actor was given up after {MAX_RESTARTS} restarts; {len(self.actors)} left")

    def _outcome(self, outcome: Outcome) -> None:
        if outcome.job.index not in self.reported:
            self.reported.add(outcome.job.index)
            self.report(outcome)


@contextmanager
def _signals_kept():
    """Ray's core worker installs its own SIGTERM/SIGINT handlers (print a stack, then abort); the run's
    own (``batch.terminate_as_interrupt``: unwind, stop the actors, say what was done) are put back."""
    try:
        saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:
        saved = {}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                try:
                    signal.signal(sig, handler)
                except ValueError:  # not the main thread: an embedding application's signals are its own
                    pass


def _sweep_partials(targets: list) -> None:
    """Temporaries of writes that an actor killed at the end of the run left beside their targets."""
    for target in targets:
        for leftover in target.parent.glob(f".{glob.escape(target.name)}.*{PARTIAL_SUFFIX}"):
            leftover.unlink(missing_ok=True)


class _Reported(Exception):
    """A failure already put into words (by an actor, or about one)."""


def _why(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
