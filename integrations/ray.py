"""ganpost's image commands as a stage of your own Ray Data pipeline (needs the ``ray`` extra).

::

    import ray
    from ganpost.integrations.ray import FileProcessor

    pairs = ray.data.from_items([{"source": f"s3://in/{n}", "target": f"s3://out/{n}"} for n in names])
    done = pairs.map_batches(FileProcessor, fn_constructor_kwargs={"command": "upscale", "model": "realesrgan_x4plus"},
                             batch_size=8, concurrency=4, num_gpus=1)   # num_gpus=1: one actor per GPU
    failed = done.filter(lambda row: row["status"] == "failed").take_all()

Each actor builds the command's stages once (the model loads once per actor) from the settings
``ganpost <command>`` would use, with keywords named as its options (``model=``, ``outscale=``,
``tile=``; ``upscaler=`` is ``--background-model``; see ``ganpost <command> --help``). A batch of
``{"source", "target"}`` paths or URLs comes back with ``status`` (``written``, ``skipped`` or
``failed``) and ``error`` (one line, empty unless it failed): one file's failure ends only that file.

Every output is written atomically (a local or mounted path: a temporary name, then a rename; a URL:
see ``file_urls``). When an actor dies mid-batch, Ray Data restarts it and runs the batch again
(its defaults for actors: ``max_restarts=-1``, ``max_task_retries=-1``): the files that landed are
written again with the same bytes (or skipped, with ``skip_existing=True``), so each output exists
once and whole.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import file_urls

STATUSES = ("written", "skipped", "failed")
DOWNLOAD_THREADS = 4


@dataclass
class FileResult:
    status: str  # one of STATUSES
    shown: str | None = None  # what a written file is (its size, its faces)
    error: str | None = None  # one line, naming the file
    seconds: float = 0.0


class FileProcessor:
    """A callable class for ``Dataset.map_batches``: ``{"source", "target"}`` → plus ``status`` and ``error``.

    ``command``: ``"upscale"``, ``"restore-faces"`` or ``"translate"``; ``device``: where the model runs
    (default: the actor's GPU when Ray gave it one, else the CPU); ``skip_existing``: leave a target
    that exists alone (``status="skipped"``); ``options``: the command's options by name.
    """

    def __init__(self, command: str, *, device: str | None = None, skip_existing: bool = False, **options):
        from ..cli.commands import command_settings, stages_factory

        self._start(stages_factory(command), command_settings(command, **options), device=device,
                    skip_existing=skip_existing)

    def __call__(self, batch: dict) -> dict:
        sources, targets = [str(s) for s in batch["source"]], [str(t) for t in batch["target"]]
        results = self.run_pairs(list(zip(sources, targets)))
        return {"source": np.array(sources, dtype=object), "target": np.array(targets, dtype=object),
                "status": np.array([r.status for r in results], dtype=object),
                "error": np.array([r.error or "" for r in results], dtype=object)}

    def _start(self, factory, settings, *, device, skip_existing: bool, depth: int | None = None,
               threads: int | None = None) -> None:
        import torch

        from ..cli.batch import pixel_limit, queue_depth
        from ..runtime.precision import resolve_device

        if threads:
            torch.set_num_threads(threads)
        self.settings, self.skip_existing = settings, skip_existing
        self.depth = queue_depth(settings) if depth is None else depth
        with pixel_limit(settings.max_pixels):
            self.stages = factory(settings, resolve_device(device))

    def run_pairs(self, pairs: list[tuple[str, str]]) -> list[FileResult]:
        """Each ``(source, target)`` (paths or URLs) read, computed and written; a result per pair, in order."""
        from ..cli.batch import group_jobs
        from ..cli.stream import Job

        results: list[FileResult | None] = [None] * len(pairs)
        with tempfile.TemporaryDirectory(prefix="ganpost-ray-") as folder:
            staging = _Staging(Path(folder))
            jobs = []
            for k, (source, target) in enumerate(pairs):
                if self.skip_existing and file_urls.exists(target):
                    results[k] = FileResult("skipped", shown="already there")
                else:
                    jobs.append(Job(k, staging.source(k, source), staging.target(k, target)))
            unreadable = dict(staging.download([job.source for job in jobs]))
            for job in jobs:
                if job.source in unreadable:
                    results[job.index] = FileResult("failed", error=unreadable[job.source])
            jobs = [job for job in jobs if results[job.index] is None]
            for index, result in self.run_groups(group_jobs(jobs, getattr(self.settings, "batch_size", 1) or 1),
                                                 staging).items():
                results[index] = result
        return results  # type: ignore[return-value]

    def run_groups(self, groups: list[list], staging: _Staging | None = None) -> dict[int, FileResult]:
        """Groups of ``cli.stream.Job`` (local paths, or ``staging``'s) through the stages; results by job index."""
        from ..cli.batch import pixel_limit
        from ..cli.failures import failure_line
        from ..cli.stream import run_stream

        results: dict[int, FileResult] = {}
        todo = []
        for group in groups:
            left = [job for job in group if not (self.skip_existing and staging is None and job.target.exists())]
            for job in group:
                if job not in left:
                    results[job.index] = FileResult("skipped", shown="already there")
            if left:
                todo.append(left)
        stages = staging.wrap(self.stages) if staging is not None else self.stages

        def report(outcome) -> None:
            job = outcome.job
            if outcome.error is None:
                results[job.index] = FileResult("written", shown=outcome.shown, seconds=outcome.seconds)
            else:
                line = failure_line(job.source, outcome.error)
                results[job.index] = FileResult("failed", error=staging.in_user_terms(line) if staging else line)

        with pixel_limit(self.settings.max_pixels):
            run_stream(todo, stages, report, depth=self.depth)
        return results


class _Staging:
    """Local temporary files standing in for URLs: inputs copied here first, results uploaded from here."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.urls: dict[Path, str] = {}  # local stand-in → its URL

    def source(self, k: int, name: str) -> Path:
        return self._stand_in("in", k, name) if file_urls.is_url(name) else file_urls.local_path(name)

    def target(self, k: int, name: str) -> Path:
        return self._stand_in("out", k, name) if file_urls.is_url(name) else file_urls.local_path(name)

    def _stand_in(self, side: str, k: int, url: str) -> Path:
        local = self.folder / side / str(k) / url.rstrip("/").rsplit("/", 1)[-1]  # the name: formats follow it
        local.parent.mkdir(parents=True)
        self.urls[local] = url
        return local

    def download(self, sources: list[Path]) -> list[tuple[Path, str]]:
        """Copy the URL inputs among ``sources`` here; ``(source, error line)`` for each that failed."""
        remote = [s for s in sources if s in self.urls]

        def fetch(local: Path) -> str | None:
            try:
                file_urls.download(self.urls[local], local)
            except Exception as err:  # noqa: BLE001 - one file's failure ends only it
                return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return None

        with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
            errors = list(pool.map(fetch, remote))
        return [(local, error) for local, error in zip(remote, errors) if error is not None]

    def wrap(self, stages):
        """``stages`` whose writes to a stand-in are uploaded to its URL (and the stand-in removed)."""
        from ..cli.stages import FileStages

        def write(target: Path, result, item) -> str:
            shown = stages.write(target, result, item)
            if target in self.urls:
                file_urls.upload(target, self.urls[target])
                target.unlink()
            return shown

        def read(source: Path):
            try:
                return stages.read(source)
            finally:
                if source in self.urls:
                    source.unlink(missing_ok=True)  # decoded: the copy is no longer needed

        def whole(source: Path, target: Path, progress) -> str:  # a video: read, computed and written in one go
            try:
                shown = stages.whole(source, target, progress)
            finally:
                if source in self.urls:
                    source.unlink(missing_ok=True)
            if target in self.urls:
                file_urls.upload(target, self.urls[target])
                target.unlink()
            return shown

        return FileStages(read, stages.compute, write, unit=stages.unit,
                          whole=None if stages.whole is None else whole, takes_whole=stages.takes_whole)

    def in_user_terms(self, line: str) -> str:
        for local, url in self.urls.items():
            line = line.replace(str(local), url)
        return line
