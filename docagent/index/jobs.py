"""Indexing as jobs: files handed in (an upload to the HTTP API, a batch in the app's Library) are indexed in the
background, their state and progress kept in the store's catalog, where every process and machine reads them.

A job's files are staged in the store's blob store (``uploads/<job>/<name>``: the store folder, or S3 storage shared
by every machine) before the job is queued, so any process that opens the store can run it. Each running
:class:`IndexJobs` claims queued jobs (of several claiming one, exactly one wins: :meth:`Catalog.claim_job`) and, while
it runs one, says it is alive every few seconds; a job whose runner has been silent for ``silence`` seconds (it was
killed) is claimed again by the next runner and run again. Running again is safe: nothing of a document is visible
before its commit, and a file already indexed with the same content is skipped.

States: ``queued``, ``running``, ``done``, ``failed`` (the store could not be written: the error says why). A job's
data: ``files``, ``done``/``total`` files, ``current`` (the file being read), ``rejected`` (files turned away before
the job, and when done those that failed or were refused, each with ``file``, ``error`` and an HTTP-style
``status``: 409 refused, 413 too large, 415 not a format docagent reads, 422 unreadable), ``indexed`` (the report).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from docagent.errors import DocagentError
from docagent.index.catalog import JobRecord
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore

__all__ = ["IndexJobs"]

log = logging.getLogger(__name__)

FINISHED = ("done", "failed")


class IndexJobs:
    """Index jobs of one store: :meth:`submit` files, and (after :meth:`start`) a thread of this process runs queued
    jobs one at a time, its own and any other process's."""

    def __init__(self, store: PageStore, *, silence: float = 30 * 60, poll: float = 2.0, heartbeat: float = 10.0,
                 public: Callable[[str], str] = str, replace_hint: str = "replace it, or rename the file") -> None:
        """``silence``: seconds without a word from a running job's runner before another takes it over; ``poll``:
        how often the runner looks for jobs other processes queued; ``public``: what of an error message may be shown
        (the HTTP API hides paths); ``replace_hint``: how a refused file's sender replaces the document instead."""
        self.store = store
        self.silence = silence
        self.poll = poll
        self.heartbeat = heartbeat
        self.public = public
        self.replace_hint = replace_hint
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- handing work in ------------------------------------------------------------------------------------
    def submit(self, files: Sequence[Path], *, replace: bool = True, rejected: Sequence[dict[str, Any]] = ()) -> str:
        """Queue ``files`` (their bytes are copied into the store's blob store at once: the files may go after this
        returns). Returns the job's id."""
        job_id = secrets.token_hex(8)
        names = []
        try:
            for path in files:
                self.store.blobs.put(f"uploads/{job_id}/{path.name}", path.read_bytes())
                names.append(path.name)
            now = time.time()
            self.store.catalog.put_job(JobRecord(job_id, "queued", now, now, {
                "files": names, "done": 0, "total": len(names), "current": "", "rejected": list(rejected),
                "replace": replace}))
        except BaseException:
            with contextlib.suppress(Exception):  # no job owns them
                self.store.blobs.delete_prefix(f"uploads/{job_id}/")
            raise
        self._wake.set()
        return job_id

    def get(self, job_id: str) -> JobRecord | None:
        return self.store.catalog.job(job_id)

    def recent(self, limit: int = 20) -> list[JobRecord]:
        """The newest jobs first."""
        return self.store.catalog.jobs(limit)

    def stalled(self, job: JobRecord) -> bool:
        """Running, and its runner has not said a word for ``silence`` seconds (it stopped). A queued job waits for
        any runner and is never stalled."""
        return job.state == "running" and time.time() - job.updated > self.silence

    def wait(self, job_id: str, timeout: float | None = None) -> JobRecord:
        """The job once it is done or failed (run here when no runner is running); TimeoutError after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._thread is None:
                self.run(job_id)
            job = self.get(job_id)
            if job is None:
                msg = f"no job {job_id!r}"
                raise KeyError(msg)
            if job.state in FINISHED:
                return job
            if deadline is not None and time.monotonic() > deadline:
                msg = f"job {job_id} is still {job.state}"
                raise TimeoutError(msg)
            self._wake.set()
            time.sleep(0.1)

    # -- running --------------------------------------------------------------------------------------------
    def run(self, job_id: str) -> JobRecord | None:
        """Run one job here if it is free to take (queued, or its runner silent); None when another runner has it."""
        catalog = self.store.catalog
        job = catalog.claim_job(job_id, stale_before=time.time() - self.silence)
        if job is None:
            return None
        data: dict[str, Any] = dict(job.data)
        alive = threading.Event()

        def beat() -> None:
            while not alive.wait(self.heartbeat):
                with contextlib.suppress(Exception):  # a missed beat is not the job's failure
                    catalog.touch_job(job_id)

        def progress(done: int, total: int, name: str) -> None:
            data.update(done=done, total=total, current=name)
            catalog.put_job(JobRecord(job_id, "running", job.created, time.time(), dict(data)))

        folder = Path(tempfile.mkdtemp(prefix="docagent-job-"))
        beating = threading.Thread(target=beat, name=f"docagent-job-{job_id}-alive", daemon=True)
        beating.start()
        try:
            paths = []
            for name in data.get("files", []):
                path = folder / str(name)
                path.write_bytes(self.store.blobs.get(f"uploads/{job_id}/{name}"))
                paths.append(path)
            progress(0, len(paths), "")
            report = index_paths(paths, store=self.store, progress=False, replace=bool(data.get("replace", True)),
                                 on_file=progress)
        except Exception as e:  # whatever stopped it, the job ends failed and says why
            if not isinstance(e, (DocagentError, OSError)):
                log.exception("index job %s failed", job_id)
            data.update(error=self.public(str(e) or type(e).__name__), current="")
            final = JobRecord(job_id, "failed", job.created, time.time(), data)
            catalog.put_job(final)
            log.warning("index job %s failed: %s", job_id, e)
            with contextlib.suppress(OSError):  # failed is final: nobody runs it again, its staged files go
                self.store.blobs.delete_prefix(f"uploads/{job_id}/")
            return final
        finally:
            alive.set()
            shutil.rmtree(folder, ignore_errors=True)
        failed = [{"file": f.path.rsplit("/", 1)[-1], "error": self.public(f.error), "status": 422} for f in report.failed]
        refused = [{"file": name, "status": 409, "error": f"a document of this name is already indexed; {self.replace_hint}"}
                   for name in report.refused]
        indexed = report.to_json()
        indexed["failed"] = failed
        indexed["replaced"] = sorted(report.replaced)
        rejected = list(data.get("rejected", [])) + refused + failed
        data.update(indexed=indexed, rejected=rejected, current="", done=len(paths))
        data["status"] = 200 if report.documents + report.skipped else max((r["status"] for r in rejected), default=400)
        final = JobRecord(job_id, "done", job.created, time.time(), data)
        catalog.put_job(final)
        self.store.blobs.delete_prefix(f"uploads/{job_id}/")
        return final

    def start(self) -> IndexJobs:
        """Run jobs in a thread of this process (a daemon: it ends with the process) until :meth:`close`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="docagent-jobs", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                waiting = self.store.catalog.jobs(200, states=("queued", "running"))
                for job in sorted(waiting, key=lambda j: j.created):
                    if self._stop.is_set():
                        return
                    if job.state == "queued" or self.stalled(job):
                        self.run(job.id)
            except Exception:  # the store unreachable for a moment: try again at the next poll
                log.exception("index jobs: looking for work failed")
            self._wake.wait(self.poll)
            self._wake.clear()

    def close(self, *, wait: bool = True) -> None:
        """Stop taking jobs; with ``wait``, let the one under way finish (its documents whole)."""
        self._stop.set()
        self._wake.set()
        if wait and self._thread is not None:
            self._thread.join()
