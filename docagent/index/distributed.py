"""Extraction on a Ray cluster: ``docagent index PATHS --ray [ADDRESS]`` (or ``DOCAGENT_RAY_ADDRESS``).

Each extracting actor is a :class:`~docagent.index.extract.Extractor` that loads the embedding model and the OCR engine
once and reads the files it is sent; the indexing process (the driver) hashes files, sends them as bytes (a worker on
another machine cannot read the driver's paths) and commits what comes back through the store, one document at a time.

Ray restarts an actor whose process dies and runs the task it was on again (``max_restarts``, ``max_task_retries``), so
a worker killed mid-document loses nothing; a driver killed between extract and commit leaves nothing visible, and the
next run extracts the document again. Every machine of the cluster needs docagent installed, with the same embedding
model.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
from concurrent.futures import Future
from types import TracebackType
from typing import TYPE_CHECKING

from docagent.config import Settings
from docagent.errors import ConfigError
from docagent.index.extract import Extracted, Extractor, Job
from docagent.types import FailedFile

if TYPE_CHECKING:
    from ray.actor import ActorHandle

__all__ = ["RayExtraction"]

log = logging.getLogger(__name__)

RESTARTS = 3
"""How often Ray restarts an extracting actor whose process died, each time running its task again: a file that kills
its worker every time (a parser crashing the process) fails after this many tries instead of forever."""


class _ExtractingActor:
    """One Ray actor: an extractor whose models stay loaded for every file it is sent."""

    def __init__(self, settings: Settings) -> None:
        self.extractor = Extractor(settings)

    def extract(self, job: Job) -> Extracted | FailedFile:
        return self.extractor.extract(job)


class RayExtraction:
    """Extraction as tasks on ``actors`` Ray actors (0: one a CPU of the cluster); a context manager that connects to
    the cluster at ``address`` (``auto``: the one this machine joined; ``local``: a cluster started for this run)."""

    def __init__(self, settings: Settings, address: str, actors: int = 0) -> None:
        if address == "local":  # a cluster of this machine alone, for this run: Ray keeps it on loopback
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        try:
            import ray
        except ImportError as e:
            msg = "indexing on Ray needs the ray package: pip install 'docagent[cluster]'"
            raise ConfigError(msg) from e
        self._ray = ray
        self._own = not ray.is_initialized()
        if self._own:
            try:
                ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as e:
                msg = (f"cannot reach the Ray cluster at {address!r} ({' '.join(str(e).split())[:200]}); start one with "
                       "`ray start --head` or give its address (--ray HOST:6379)")
                raise ConfigError(msg) from e
        count = actors if actors > 1 else max(1, int(ray.cluster_resources().get("CPU", 1)))
        remote = ray.remote(num_cpus=1, max_restarts=RESTARTS, max_task_retries=RESTARTS)(_ExtractingActor)
        self.actors: list[ActorHandle] = [remote.remote(settings) for _ in range(count)]  # type: ignore[misc]  # ray.remote on a class is typed as either
        self.window = 2 * count
        self._next = itertools.cycle(self.actors)
        log.info("extracting on %d Ray actors", count)

    def submit(self, job: Job) -> Future[Extracted | FailedFile]:
        if job.path is not None:  # the actor may run on another machine: the file travels as bytes
            job = dataclasses.replace(job, path=None, data=job.path.read_bytes(),
                                      options=dataclasses.replace(job.options, rendering=None))
        remote: Future[Extracted | FailedFile] = next(self._next).extract.remote(job).future()
        future: Future[Extracted | FailedFile] = Future()

        def settle(done: Future[Extracted | FailedFile]) -> None:
            error = done.exception()
            if error is None:
                future.set_result(done.result())
            elif isinstance(error, self._ray.exceptions.RayTaskError) and isinstance(error.cause, Exception):
                future.set_exception(error.cause)  # the extractor's own error (a model failing): the run stops
            elif isinstance(error, self._ray.exceptions.RayActorError):
                future.set_result(FailedFile(job.shown or job.name, f"its worker process died {RESTARTS + 1} times reading it "
                                             "(out of memory, or a reader crashing on it); try it alone with `docagent index`"))
            else:
                future.set_exception(error)

        remote.add_done_callback(settle)
        return future

    def __enter__(self) -> RayExtraction:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        for actor in self.actors:
            self._ray.kill(actor)
        if self._own:
            self._ray.shutdown()
