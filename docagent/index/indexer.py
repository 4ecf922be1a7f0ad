"""``index``: files and folders in, pages in the store out, in two steps.

Per file: hash it; skip it when the store holds the same content under the same name; else *extract* it
(:class:`~docagent.index.extract.Extractor`: every page read, OCR'd where the text layer is unusable, its tables,
card, passages and vectors, as one value, touching no store) and *commit* it
(:meth:`~docagent.index.store.PageStore.commit`: the one step under the store's write exclusion, which makes the new
version visible and drops the old one). A bad file is reported and the batch goes on.

Extraction runs in this process (the default), in ``workers`` processes beside it (``docagent index --workers N``:
each loads the embedding model and OCR engine once) or on a Ray cluster (``--ray``, :mod:`docagent.index.distributed`);
commits are made here, one document at a time, so another process's ``rm`` or ``index`` waits for one commit at
most. Killing any of them at any moment leaves nothing half-visible: the next run completes the work.

Files that carry others (an e-mail's attachments) are committed first; each attachment is then indexed as a
document of its own named ``message.eml/attachment.pdf`` and linked to the message (``DocumentRecord.parent``):
removing the message removes them, and a new version of the message drops the attachments it no longer has.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import tempfile
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from docagent.config import Settings
from docagent.errors import DocumentLoadError
from docagent.index.extract import Extracted, Extractor, Job
from docagent.index.store import PageStore, opened
from docagent.ingest import Attachment, OpenOptions, is_supported
from docagent.ingest.base import display_name, open_regular, read_bounded
from docagent.ingest.formats import detect
from docagent.ingest.identity import CARD_VERSION
from docagent.ingest.uploads import safe_name
from docagent.types import FailedFile, IndexReport

__all__ = ["Extraction", "InProcess", "Processes", "collect_files", "index_paths"]

log = logging.getLogger(__name__)


def collect_files(paths: Iterable[str | Path], skip: Path | None = None) -> tuple[list[Path], list[FailedFile]]:
    """Files named directly, and supported files under folders (hidden ones and the store skipped)."""
    files: list[Path] = []
    failed: list[FailedFile] = []
    skip = skip.resolve() if skip else None
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                root_path = Path(root)
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (skip is None or (root_path / d).resolve() != skip))
                files.extend(root_path / n for n in sorted(names) if not n.startswith(".") and is_supported(Path(n)))
        elif path.exists():
            files.append(path)
        else:
            failed.append(FailedFile(display_name(str(raw)), "no such file or directory"))
    seen: dict[str, Path] = {}
    unique: list[Path] = []
    for f in files:
        other = seen.get(f.name)
        if other is None:
            seen[f.name] = f
            unique.append(f)
        elif other.resolve() != f.resolve():
            failed.append(FailedFile(display_name(str(f)), f"another file named {display_name(f.name)} ({display_name(str(other))}) is in this batch; documents are known by file name, rename one"))
    return unique, failed


def file_sha256(path: Path) -> str:
    """The SHA-256 of a regular file as it was when opened: a FIFO or a device is refused (an
    :class:`~docagent.errors.UnsupportedFileError`), a file still growing is hashed up to the size it had."""
    h = hashlib.sha256()
    with open_regular(path) as (f, size):
        for block in read_bounded(f, size):
            h.update(block)
    return h.hexdigest()


class Extraction(Protocol):
    """Where extraction runs: :meth:`submit` hands a job over and returns its future result. ``window``: jobs worth
    having in flight at once (more keeps every worker busy; each holds a whole document in memory)."""

    window: int

    def submit(self, job: Job) -> Future[Extracted | FailedFile]: ...


class InProcess:
    """Extraction in the indexing process itself, one file at a time (the default)."""

    window = 1

    def __init__(self, extractor: Extractor) -> None:
        self.extractor = extractor

    def submit(self, job: Job) -> Future[Extracted | FailedFile]:
        future: Future[Extracted | FailedFile] = Future()
        try:
            future.set_result(self.extractor.extract(job))
        except BaseException as e:  # noqa: BLE001 - handed to the caller through the future, as a pool would
            future.set_exception(e)
        return future


_WORKER: Extractor | None = None


def _start_worker(settings: Settings, threads: int) -> None:
    global _WORKER  # one extractor per worker process, its models loaded once
    logging.basicConfig(level=logging.WARNING)
    threading.Thread(target=_orphaned, args=(os.getppid(),), daemon=True, name="docagent-parent-watch").start()
    import torch

    torch.set_num_threads(threads)  # the machine's cores shared out: N processes of all-cores torch would thrash
    _WORKER = Extractor(settings)


def _orphaned(parent: int) -> None:
    """End this worker once the indexing process that started it is gone (killed: a pool's workers would otherwise
    wait on its queue forever, each holding a model in memory)."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def _extract_in_worker(job: Job) -> Extracted | FailedFile:
    assert _WORKER is not None
    return _WORKER.extract(job)


class Processes:
    """Extraction in ``workers`` processes of this machine (started fresh: a forked copy of a process that has
    loaded torch can hang), each loading the embedding model and OCR engine once."""

    def __init__(self, settings: Settings, workers: int) -> None:
        self.window = 2 * workers
        threads = max(1, (os.cpu_count() or 1) // workers)
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_start_worker, initargs=(settings, threads))

    def submit(self, job: Job) -> Future[Extracted | FailedFile]:
        return self.pool.submit(_extract_in_worker, job)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def index_paths(
    paths: Sequence[str | Path],
    settings: Settings | None = None,
    *,
    store: PageStore | None = None,
    progress: bool = True,
    on_file: Callable[[int, int, str], None] | None = None,
    workers: int = 1,
    ray: str | None = None,
    replace: bool = True,
) -> IndexReport:
    """Index files and folders into the store. Returns what was done; never raises for a bad file.
    ``on_file(done, total, name)`` is called before each file and once at the end (name empty).
    ``workers``: processes extracting files at once on this machine (1: in this process); ``ray``: the address of a
    Ray cluster to extract on instead (``auto``: the one this machine belongs to; ``local``: start one here).
    ``replace=False``: a file named like an indexed document is not indexed but listed in ``refused``."""
    with opened(store, settings) as own:
        return Indexer(own, progress=progress, on_file=on_file, replace=replace).run(paths, workers=workers, ray=ray)


@dataclass
class _Family:
    """A committed document whose attachments are being indexed: done when all of them are."""

    job: Job
    doc_id: str
    origin: str
    names: list[str] = field(default_factory=list)
    outstanding: int = 0


class Indexer:
    MAX_DEPTH = 3
    """Attachments of attachments are indexed down to this depth (an e-mail forwarded inside an e-mail ...)."""

    def __init__(self, store: PageStore, *, progress: bool = True,
                 on_file: Callable[[int, int, str], None] | None = None, replace: bool = True) -> None:
        self.store = store
        self.replace = replace
        self.settings = store.settings
        self.progress = progress
        self.on_file = on_file
        self.seconds: dict[str, float] = defaultdict(float)
        self._recovered = False
        self._embedder_checked = False
        self._families: dict[str, _Family] = {}
        self._queue: deque[Job] = deque()
        self._spool: Path | None = None

    def run(self, paths: Sequence[str | Path], *, workers: int = 1, ray: str | None = None) -> IndexReport:
        report = IndexReport()
        files, report.failed = collect_files(paths, skip=self.store.root)
        lexical_before = self.store.catalog.lexical_seconds
        self._recovered = False
        with self._extraction(workers, ray) as extraction, tempfile.TemporaryDirectory(prefix="docagent-attachments-") as spool:
            self._spool = Path(spool)
            self._drive(files, extraction, report)
        if not self._recovered:  # nothing was written: what an interrupted run left is cleaned up all the same
            with self.store.lock():
                self._recover()
        if self.on_file:
            self.on_file(len(files), len(files), "")
        report.seconds = dict(self.seconds)
        report.seconds["lexical"] = self.store.catalog.lexical_seconds - lexical_before  # part of "write"
        return report

    @contextmanager
    def _extraction(self, workers: int, ray: str | None) -> Iterator[Extraction]:
        if ray is not None:
            from docagent.index.distributed import RayExtraction

            with RayExtraction(self.settings, ray, workers) as remote:
                yield remote
            return
        if workers <= 1:
            extractor = Extractor(self.settings, embedder=self.store.embedder)
            if self.settings.ocr == "on":
                _ = extractor.ocr  # fail before any work when OCR is required and missing
            yield InProcess(extractor)
            return
        if self.settings.ocr == "on":
            from docagent.ingest import get_ocr_engine

            get_ocr_engine("on")  # the same check, before any worker starts
        pool = Processes(self.settings, workers)
        try:
            yield pool
        finally:
            pool.close()

    def _drive(self, files: list[Path], extraction: Extraction, report: IndexReport) -> None:
        """Keep up to ``extraction.window`` files extracting; commit each as it comes back, in the order they finish."""
        bar = tqdm(total=len(files), unit="file", disable=None if self.progress else True, dynamic_ncols=True, desc="index")
        pending = deque(files)
        in_flight: dict[Future[Extracted | FailedFile], Job] = {}
        started = 0
        try:
            while pending or self._queue or in_flight:
                while (self._queue or pending) and len(in_flight) < extraction.window:
                    if self._queue:  # attachments of a committed document go first: it stays incomplete until they are in
                        job: Job | None = self._queue.popleft()
                    else:
                        path = pending.popleft()
                        if self.on_file:
                            self.on_file(started, len(files), display_name(path.name))
                        started += 1
                        bar.set_postfix_str(display_name(path.name)[:40])
                        job = self._prepare(path, report)
                        if job is None:
                            bar.update(1)
                    if job is not None and self._wanted(job, report):
                        self._check_embedder()
                        in_flight[extraction.submit(job)] = job
                if not in_flight:
                    continue
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    job = in_flight.pop(future)
                    self._commit(job, future.result(), report)
                    if not job.parent:
                        bar.update(1)
        finally:
            for future in in_flight:
                future.cancel()
            bar.close()

    def _prepare(self, path: Path, report: IndexReport) -> Job | None:
        """Hash a file and see how it opens; None when it cannot be read (reported)."""
        shown = display_name(str(path))
        t0 = time.perf_counter()
        try:
            sha = file_sha256(path)
            fmt = detect(path)  # the reuse of a rendering goes by it
        except DocumentLoadError as e:
            report.failed.append(FailedFile(shown, e.reason))
            log.warning("failed: %s", e)
            return None
        except OSError as e:
            report.failed.append(FailedFile(shown, f"cannot read the file ({e.strerror or e})"))
            return None
        finally:
            self.seconds["hash"] += time.perf_counter() - t0
        return Job(name=display_name(path.name), sha256=sha, origin=display_name(str(path.resolve())), path=path,
                   shown=shown, options=self._options(fmt.kind, fmt.rendering, sha))

    def _wanted(self, job: Job, report: IndexReport) -> bool:
        """Whether the job is worth extracting: not when the store holds this very content (counted as skipped), nor
        when it holds this name and nothing may be replaced (refused)."""
        if self._unchanged(job.name, job.sha256):  # a committed state read at once: right without the lock
            report.skipped += 1
            log.info("unchanged: %s", job.name)
            self._finished(job)
            return False
        if self._taken(job):
            report.refused.append(job.name)
            self._finished(job)
            return False
        return True

    def _taken(self, job: Job) -> bool:
        """Whether the job would replace a document though the run may replace none."""
        return not self.replace and not job.parent and self.store.catalog.document(job.name) is not None

    def _check_embedder(self) -> None:
        """Refuse, before any file is read, a store whose vectors came from another embedding model."""
        if not self._embedder_checked:
            self.store.check_embedder()
            self._embedder_checked = True

    def _options(self, kind: str, rendering_suffix: str | None, sha: str) -> OpenOptions:
        password = self.settings.pdf_password
        stored = self.store.catalog.rendering(sha, kind, rendering_suffix) if rendering_suffix else None
        rendering = self.store.stored_path(stored) if stored is not None else None
        return OpenOptions(password.get_secret_value() if password else None, self.settings.max_pages, rendering,
                           self.settings.convert_seconds, self.settings.convert_memory_mb)

    def _commit(self, job: Job, result: Extracted | FailedFile, report: IndexReport) -> None:
        if isinstance(result, FailedFile):
            report.failed.append(result)
            log.warning("failed: %s: %s", result.path, result.error)
            self._finished(job)
            return
        for stage, seconds in result.seconds.items():
            self.seconds[stage] += seconds
        t0 = time.perf_counter()
        with self.store.lock():
            self._recover()
            if self._unchanged(job.name, job.sha256):  # another process indexed the same file meanwhile
                report.skipped += 1
                log.info("unchanged: %s", job.name)
                committed = None
            elif self._taken(job):  # another process, maybe on another machine, added this name meanwhile
                report.refused.append(job.name)
                log.warning("not indexed: %s (a document of this name was indexed meanwhile)", job.name)
                committed = None
            else:
                committed = self.store.commit(result, pending=bool(result.attachments))
        self.seconds["write"] += time.perf_counter() - t0
        if committed is None:
            self._finished(job)
            return
        doc_id, old = committed
        pages = len(result.pages)
        if old:
            report.replaced.append(job.name)
        report.documents += 1
        report.pages += pages
        report.ocr_pages += len(result.ocr_pages)
        if result.ocr_pages:
            report.ocr_by_doc[job.name] = result.ocr_pages
        log.info("indexed %s: %d page%s%s%s", job.name, pages, "" if pages == 1 else "s",
                 f", OCR on {len(result.ocr_pages)}" if result.ocr_pages else "", " (replaced the older version)" if old else "")
        family = _Family(job, doc_id, job.origin)
        self._families[job.name] = family
        self._attachments(family, result.attachments)

    def _attachments(self, family: _Family, attachments: list[Attachment]) -> None:
        """Queue a committed document's attachments under ``parent/name``; the document is complete (and the
        attachments an older version had dropped) once they are all tried."""
        parent = family.job.name
        if family.job.depth < self.MAX_DEPTH and attachments:
            assert self._spool is not None
            folder = self._spool / hashlib.sha256(parent.encode()).hexdigest()[:16]
            for i, attachment in enumerate(attachments, 1):
                base = safe_name(attachment.name) or f"attachment-{i}"
                name, n = f"{parent}/{base}", 2
                while name in family.names:
                    stem, dot, suffix = base.rpartition(".")
                    name = f"{parent}/{stem} ({n}).{suffix}" if dot and stem else f"{parent}/{base} ({n})"
                    n += 1
                family.names.append(name)
                path = folder / str(i) / base
                path.parent.mkdir(parents=True)
                path.write_bytes(attachment.data)
                sha = hashlib.sha256(attachment.data).hexdigest()
                family.outstanding += 1
                self._queue.append(Job(name=name, sha256=sha, origin=f"{family.origin}/{base}", path=path, parent=parent,
                                       depth=family.job.depth + 1, shown=name, options=self._options_for(path, sha)))
        elif attachments:
            log.warning("%s: attachments nested deeper than %d levels are not indexed", parent, self.MAX_DEPTH)
        if family.outstanding == 0:
            self._complete(family)

    def _options_for(self, path: Path, sha: str) -> OpenOptions:
        try:
            fmt = detect(path)
        except DocumentLoadError:
            return self._options("", None, sha)  # extraction reports it
        return self._options(fmt.kind, fmt.rendering, sha)

    def _finished(self, job: Job) -> None:
        """A job is done (committed with all its attachments, skipped or failed): its parent may be complete now."""
        family = self._families.get(job.parent) if job.parent else None
        if family is not None:
            family.outstanding -= 1
            if family.outstanding == 0:
                self._complete(family)

    def _complete(self, family: _Family) -> None:
        parent = family.job.name
        del self._families[parent]
        stale = [r for r in self.store.catalog.attached(parent) if r.parent == parent and r.name not in family.names]
        if stale:
            with self.store.lock():
                for rec in stale:
                    for gone in [rec, *self.store.catalog.attached(rec.name)]:
                        self.store.catalog.mark_deleting(gone.doc_id)
                        self.store.purge(gone.doc_id)
        self.store.catalog.set_pending(family.doc_id, False)  # all of them tried: the document is complete (see _unchanged)
        self._finished(family.job)

    def _recover(self) -> None:
        """Finish what an interrupted run left (see :meth:`PageStore.recover`), once a run, the first time the lock
        is held: one acquisition a document, with no extra one for the cleanup."""
        if not self._recovered:
            self.store.recover()
            self._recovered = True

    def _unchanged(self, name: str, sha: str) -> bool:
        """Whether the store holds this content under this name, with a card of this docagent's version."""
        current = self.store.catalog.document(name)
        return (current is not None and current.sha256 == sha
                and self.store.catalog.card_version(current.doc_id) == CARD_VERSION
                and not self.store.catalog.pending(current.doc_id))  # its attachments all tried

