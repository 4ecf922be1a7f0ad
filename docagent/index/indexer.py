"""``index``: files and folders in, pages in the store out.

Per file: hash it; skip it when the store holds the same content under the same name; else
read every page (text layer, word boxes, widgets; OCR where the text layer is unusable; the tables on it), cut
the text into passages, embed them, write vectors and rows, and only then make the new
version visible and drop the old one. A bad file is reported and the batch goes on.

Files that carry others (an e-mail's attachments) are written first; each attachment is then indexed as a
document of its own named ``message.eml/attachment.pdf`` and linked to the message (``DocumentRecord.parent``):
removing the message removes them, and a new version of the message drops the attachments it no longer has.

The store's write lock is taken for one file at a time, so another process's ``rm`` or ``index`` waits
for one document at most, not for a whole folder. Hashing, the check for an unchanged file and opening
it happen before the lock is taken; the check is made again once it is held.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from tqdm import tqdm

from docagent.config import Settings
from docagent.errors import DocagentError, DocumentLoadError
from docagent.index.catalog import DocumentRecord, PageFields
from docagent.index.store import PageStore, opened, write_png
from docagent.index.vectors import Passage
from docagent.ingest import (
    Attachment,
    OcrEngine,
    OpenOptions,
    Source,
    get_ocr_engine,
    is_supported,
    text_is_usable,
)
from docagent.ingest.base import (
    TITLE_ZONE,
    body_size,
    display_name,
    large_type_lines,
    open_regular,
    read_bounded,
    title_lines,
)
from docagent.ingest.formats import Format, detect
from docagent.ingest.identity import CARD_VERSION, build_card, card_words, page_title, passage_context, running_lines
from docagent.ingest.tables import find_tables, link_continuations
from docagent.ingest.uploads import safe_name
from docagent.question import abbreviations_in
from docagent.types import DocumentCard, FailedFile, Heading, IndexReport, Page, Table, Word

__all__ = ["collect_files", "index_paths"]

log = logging.getLogger(__name__)

PAGES_PER_CHUNK = 32

CONTEXT_TOKENS = 32
"""Word pieces of the embedding window given to each passage's context line (the document's identity and
section); the passage's own text gets the rest."""


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


def index_paths(
    paths: Sequence[str | Path],
    settings: Settings | None = None,
    *,
    store: PageStore | None = None,
    progress: bool = True,
    on_file: Callable[[int, int, str], None] | None = None,
) -> IndexReport:
    """Index files and folders into the store. Returns what was done; never raises for a bad file.
    ``on_file(done, total, name)`` is called before each file and once at the end (name empty)."""
    with opened(store, settings) as own:
        return Indexer(own, progress=progress, on_file=on_file).run(paths)


class Indexer:
    def __init__(self, store: PageStore, *, progress: bool = True,
                 on_file: Callable[[int, int, str], None] | None = None) -> None:
        self.store = store
        self.settings = store.settings
        self.progress = progress
        self.on_file = on_file
        self.seconds: dict[str, float] = defaultdict(float)
        self._ocr: OcrEngine | None = None
        self._ocr_checked = False
        self._recovered = False

    @property
    def ocr(self) -> OcrEngine | None:
        if not self._ocr_checked:
            self._ocr = get_ocr_engine(self.settings.ocr)
            self._ocr_checked = True
        return self._ocr

    def run(self, paths: Sequence[str | Path]) -> IndexReport:
        report = IndexReport()
        files, report.failed = collect_files(paths, skip=self.store.root)
        if self.settings.ocr == "on":
            _ = self.ocr  # fail before any work when OCR is required and missing
        embed_before = self.store.embedder.seconds
        lexical_before = self.store.catalog.lexical_seconds
        self._recovered = False
        bar = tqdm(files, unit="file", disable=None if self.progress else True, dynamic_ncols=True, desc="index")
        for i, path in enumerate(bar):
            bar.set_postfix_str(display_name(path.name)[:40])
            if self.on_file:
                self.on_file(i, len(files), display_name(path.name))
            self._one(path, report)
        bar.close()
        if not self._recovered:  # nothing was written: what an interrupted run left is cleaned up all the same
            with self.store.lock():
                self._recover()
        if self.on_file:
            self.on_file(len(files), len(files), "")
        report.seconds = dict(self.seconds)
        report.seconds["embed"] = self.store.embedder.seconds - embed_before
        report.seconds["lexical"] = self.store.catalog.lexical_seconds - lexical_before  # part of "write"
        return report

    def _one(self, path: Path, report: IndexReport, *, name: str | None = None, parent: str = "",
             origin: str | None = None, depth: int = 0) -> None:
        """Index one file; ``name`` (default: its file name), ``parent`` and ``origin`` (what ``source`` records,
        default: its path) are given for an attachment."""
        name = name or display_name(path.name)
        shown = name if parent else display_name(str(path))
        t0 = time.perf_counter()
        try:
            sha = file_sha256(path)
        except DocumentLoadError as e:
            report.failed.append(FailedFile(shown, e.reason))
            log.warning("failed: %s", e)
            return
        except OSError as e:
            report.failed.append(FailedFile(shown, f"cannot read the file ({e.strerror or e})"))
            return
        unchanged = self._unchanged(name, sha)
        self.seconds["hash"] += time.perf_counter() - t0
        if unchanged:  # a committed state read at once: right without the lock (a later rm simply comes after)
            report.skipped += 1
            log.info("unchanged: %s", name)
            return
        try:
            t0 = time.perf_counter()
            fmt = detect(path)  # once: the reuse of a rendering and the opening both go by it
            source = fmt.open(path, self._options(fmt, sha))
            self.seconds["convert"] += source.convert_seconds
            self.seconds["load"] += time.perf_counter() - t0 - source.convert_seconds
        except DocumentLoadError as e:
            report.failed.append(FailedFile(shown, e.reason))
            log.warning("failed: %s", e)
            return
        except Exception as e:  # noqa: BLE001 - a parser's own bug on one odd file must not stop the batch
            report.failed.append(FailedFile(shown, _unexpected(e)))
            log.warning("failed: %s: %s", name, _unexpected(e))
            return
        with source, self.store.lock():
            self._recover()
            if self._unchanged(name, sha):  # another process indexed the same file meanwhile
                report.skipped += 1
                log.info("unchanged: %s", name)
                return
            attachments = source.attachments()
            doc_id = self._write(path, sha, source, report, name=name, parent=parent,
                                 origin=origin or display_name(str(path.resolve())), pending=bool(attachments))
        if doc_id is not None:
            self._attachments(name, origin or display_name(str(path.resolve())), attachments, report, depth)
            if attachments:  # all of them tried: the document is complete (see _unchanged)
                self.store.catalog.set_pending(doc_id, False)

    def _options(self, fmt: Format, sha: str) -> OpenOptions:
        password = self.settings.pdf_password
        stored = self.store.catalog.rendering(sha, fmt.kind, fmt.rendering) if fmt.rendering else None
        rendering = self.store.root / "files" / stored if stored is not None else None
        return OpenOptions(password.get_secret_value() if password else None, self.settings.max_pages, rendering,
                           self.settings.convert_seconds, self.settings.convert_memory_mb)

    MAX_DEPTH = 3
    """Attachments of attachments are indexed down to this depth (an e-mail forwarded inside an e-mail ...)."""

    def _attachments(self, parent: str, origin: str, attachments: list[Attachment], report: IndexReport,
                     depth: int) -> None:
        """Index a document's attachments under ``parent/name``, then drop those an older version had."""
        import tempfile

        names: list[str] = []
        if depth < self.MAX_DEPTH and attachments:
            with tempfile.TemporaryDirectory(prefix="docagent-attachments-") as tmp:
                for i, attachment in enumerate(attachments, 1):
                    base = safe_name(attachment.name) or f"attachment-{i}"
                    name, n = f"{parent}/{base}", 2
                    while name in names:
                        stem, dot, suffix = base.rpartition(".")
                        name = f"{parent}/{stem} ({n}).{suffix}" if dot and stem else f"{parent}/{base} ({n})"
                        n += 1
                    names.append(name)
                    path = Path(tmp) / str(i) / base
                    path.parent.mkdir()
                    path.write_bytes(attachment.data)
                    self._one(path, report, name=name, parent=parent, origin=f"{origin}/{base}", depth=depth + 1)
        elif attachments:
            log.warning("%s: attachments nested deeper than %d levels are not indexed", parent, self.MAX_DEPTH)
        stale = [r for r in self.store.catalog.attached(parent) if r.parent == parent and r.name not in names]
        if stale:
            with self.store.lock():
                for rec in stale:
                    for gone in [rec, *self.store.catalog.attached(rec.name)]:
                        self.store.catalog.mark_deleting(gone.doc_id)
                        self.store.purge(gone.doc_id)

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

    def _write(self, path: Path, sha: str, source: Source, report: IndexReport, *, name: str, parent: str,
               origin: str, pending: bool) -> str | None:
        """Write one opened file into the store, as a new version of its name. Call with the lock held.
        Returns its id, None when it failed. ``pending``: it carries attachments, not indexed yet; until they
        are, the document counts as incomplete (an interrupted run's next run indexes it and them again)."""
        shown = name if parent else display_name(str(path))
        current = self.store.catalog.document(name)
        # the card version is part of the id: an unchanged file indexed by an older docagent is read anew
        doc_id = hashlib.sha256(f"{name}\0{sha}\0card{CARD_VERSION}".encode()).hexdigest()[:16]
        if current is not None and current.doc_id == doc_id:  # the same version read again (its card was lost)
            doc_id = hashlib.sha256(f"{doc_id}\0{time.time_ns()}".encode()).hexdigest()[:16]
        rec = DocumentRecord(
            doc_id=doc_id,
            name=name,
            sha256=sha,
            source=origin,
            stored_file=f"{doc_id}{source.stored_suffix or path.suffix.lower() or '.' + source.kind}",
            kind=source.kind,
            pages=0,
            ocr_pages=0,
            status="indexing",
            indexed_at=time.time(),
            parent=parent,
        )
        page_count = source.page_count
        try:
            self.store.check_embedder()
            self.store.catalog.begin_document(rec)
            if pending:
                self.store.catalog.set_pending(doc_id, True)
            ocr_pages = self._write_document(source, rec)
        except DocumentLoadError as e:
            self.store.purge(doc_id)
            report.failed.append(FailedFile(shown, e.reason))
            log.warning("failed: %s", e)
            return None
        except DocagentError:
            raise  # the store or the embedding model failed: the run stops; the next run's recover() cleans up
        except Exception as e:  # noqa: BLE001 - an odd file that trips a parser fails alone
            self.store.purge(doc_id)
            report.failed.append(FailedFile(shown, _unexpected(e)))
            log.warning("failed: %s: %s", name, _unexpected(e))
            return None
        old = self.store.catalog.finish_document(doc_id, rec.name, page_count, len(ocr_pages))
        for old_id in old:
            self.store.purge(old_id)
        if old:
            report.replaced.append(rec.name)
        report.documents += 1
        report.pages += page_count
        report.ocr_pages += len(ocr_pages)
        if ocr_pages:
            report.ocr_by_doc[rec.name] = ocr_pages
        log.info(
            "indexed %s: %d page%s%s%s",
            rec.name,
            page_count,
            "" if page_count == 1 else "s",
            f", OCR on {len(ocr_pages)}" if ocr_pages else "",
            " (replaced the older version)" if old else "",
        )
        return doc_id

    def _write_document(self, source: Source, rec: DocumentRecord) -> list[int]:
        """Copy the file into the store, then pages chunk by chunk: read, OCR, embed, write."""
        t0 = time.perf_counter()
        stored = self.store.stored_file(rec)
        tmp = stored.with_name(stored.name + ".tmp")
        source.copy_to(tmp)
        os.replace(tmp, stored)
        self.seconds["write"] += time.perf_counter() - t0
        scale = source.native_scale or self.settings.dpi / 72
        ocr_pages: list[int] = []
        metadata, bookmarks = source.metadata(), source.outline()
        card: DocumentCard | None = None
        headings: list[Heading] = []
        found: list[Table] = []
        previous: tuple[Page, list[Table]] | None = None
        titled: list[list[str]] = []  # every page's title lines so far: what repeats on many pages is a running header
        defined: dict[str, str] = {}
        for first in range(0, source.page_count, PAGES_PER_CHUNK):
            pages = []
            for index in range(first, min(first + PAGES_PER_CHUNK, source.page_count)):
                t0 = time.perf_counter()
                page = source.read_page(index)
                page.image_scale = _capped(scale, page.width, page.height)
                self.seconds["text"] += time.perf_counter() - t0
                if self._needs_ocr(source, page) and self.ocr is not None:
                    self._ocr_page(source, rec, page)
                    ocr_pages.append(page.number)
                elif self.settings.render == "eager" or source.kind == "image":
                    t0 = time.perf_counter()
                    write_png(source.render(index, page.image_scale), self.store.image_path(rec.doc_id, page.number))
                    self.seconds["render"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                # the drawings are read only for a page that already has a plausible table (they cost as much)
                tables = find_tables(page, functools.partial(source.rules, index) if not page.ocr else ())
                if previous is not None and previous[0].number == page.number - 1:
                    link_continuations(previous[1], previous[0], tables, page)
                previous = (page, tables)
                found += tables
                self.seconds["tables"] += time.perf_counter() - t0
                pages.append(page)
            t0 = time.perf_counter()
            titled += [p.title_lines for p in pages]
            running = running_lines(titled)
            for p in pages:
                p.title = page_title(p, running)
                for short, long in abbreviations_in(p.text).items():
                    defined.setdefault(short, long)
            if card is None:  # identity comes from the first pages, which this first chunk holds
                card = build_card(rec.name, metadata, bookmarks, pages)
            if not bookmarks:  # no bookmarks: the outline is the larger-type lines read so far
                headings += [Heading(1, h[:160], p.number) for p in pages for h in p.headings[:3]]
                card = dataclasses.replace(card, outline=tuple(headings))
            contexts = [self.store.embedder.truncate(passage_context(rec.name, card, p), CONTEXT_TOKENS) for p in pages]
            self.seconds["identity"] += time.perf_counter() - t0
            self._write_pages(rec, pages, contexts, [t for t in found if t.page > first])
            self.store.catalog.add_page_fields(rec.doc_id, [PageFields(p.number, p.title, _labels(p.number, found)) for p in pages])
            source.trim_caches()
        if found:
            for table in found:
                table.doc = rec.name  # an attachment's pages carry its file's own name
            self.store.catalog.add_tables(rec.doc_id, found)
        if card is not None:
            self.store.catalog.put_card(rec.doc_id, card, CARD_VERSION, card_words(rec.name, card))
        self.store.catalog.add_abbreviations(rec.doc_id, defined)
        return ocr_pages

    def _needs_ocr(self, source: Source, page: Page) -> bool:
        if text_is_usable(page.text, self.settings.ocr_min_chars):
            return False
        # a short title on an otherwise empty born-digital page is all there is to read
        if page.text.strip() or source.rendered:
            return source.has_images(page.number - 1)
        return True

    def _ocr_page(self, source: Source, rec: DocumentRecord, page: Page) -> None:
        assert self.ocr is not None
        t0 = time.perf_counter()
        image = source.render(page.number - 1, page.image_scale)
        write_png(image, self.store.image_path(rec.doc_id, page.number))
        self.seconds["render"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        lines = self.ocr(image)
        s = page.image_scale
        page.words = [Word(w.text, (w.box[0] / s, w.box[1] / s, w.box[2] / s, w.box[3] / s)) for line in lines for w in line]
        page.text = "\n".join(" ".join(w.text for w in line) for line in lines)
        sized = [(" ".join(w.text for w in line), _median([w.box[3] - w.box[1] for w in line])) for line in lines if line]
        page.headings = large_type_lines(sized)
        top = [(text, height, False) for (text, height), line in zip(sized, [ln for ln in lines if ln], strict=True)
               if line[0].box[1] / s <= page.height * TITLE_ZONE]
        page.title_lines = title_lines(top, body_size([(h, len(t.split())) for t, h in sized]))
        page.ocr = True
        self.seconds["ocr"] += time.perf_counter() - t0

    def _write_pages(self, rec: DocumentRecord, pages: list[Page], contexts: list[str], tables: list[Table]) -> None:
        """Passages are embedded with their page's context line before their text; the vector index keeps only
        the passage's own text (what a snippet shows). With ``table_passages`` on, each table row is a passage
        too, its text the row with its headers."""
        embedder = self.store.embedder
        # each page's passages leave room for its own context line (at most CONTEXT_TOKENS), not always the most
        spans = embedder.split([p.text for p in pages], reserve=embedder.pieces([f"{c}\n" if c else "" for c in contexts]))
        rows: list[list[tuple[int, int, str]]] = [[] for _ in pages] if not self.settings.table_passages else [
            [(*_row_span(page.text, label), text) for t in tables if t.page == page.number for label, text in t.row_texts()]
            for page in pages]
        passages: list[Passage] = []
        embedded: list[str] = []
        for page, page_spans, page_rows, context in zip(pages, spans, rows, contexts, strict=True):
            for i, (start, end, text) in enumerate([(a, b, page.text[a:b]) for a, b in page_spans] + page_rows):
                passages.append(Passage(doc_id=rec.doc_id, doc=rec.name, page=page.number, idx=i, start=start, end=end,
                                        ocr=page.ocr, kind=rec.kind, text=text))
                embedded.append(f"{context}\n{text}" if context else text)
        vectors = embedder.embed(embedded)
        t0 = time.perf_counter()
        if passages:
            self.store.vectors.upsert(passages, vectors)
        self.store.catalog.add_pages(rec.doc_id, pages, spans, contexts, rows)
        self.seconds["write"] += time.perf_counter() - t0


MAX_RENDER_PIXELS = 25_000_000
"""Page images are rendered at the store's dpi up to this size (an A1 page at 150 dpi is 17 megapixels);
larger pages are rendered at a lower resolution, so memory stays bounded whatever a page's size."""


def _capped(scale: float, width: float, height: float) -> float:
    pixels = width * height * scale * scale
    return scale if pixels <= MAX_RENDER_PIXELS else scale * (MAX_RENDER_PIXELS / pixels) ** 0.5


def _row_span(text: str, label: str) -> tuple[int, int]:
    """Where a table row stands in its page's text, roughly: the line its label starts (the whole text's start
    when the label is not found)."""
    start = text.find(label) if label else -1
    if start < 0:
        return (0, min(len(text), 200))
    end = text.find("\n", start + len(label))
    return (start, end if end > 0 else len(text))


def _labels(page: int, tables: list[Table]) -> str:
    """The row labels and column headers of a page's tables, one a line, each once."""
    seen: dict[str, None] = {}
    for table in tables:
        if table.page == page:
            for text in table.column_headers():
                if text.strip():
                    seen.setdefault(" ".join(text.split()), None)
            for text in table.row_labels():
                if any(c.isalpha() for c in text):
                    seen.setdefault(" ".join(text.split()), None)
    return "\n".join(seen)


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] if values else 0.0


def _unexpected(error: Exception) -> str:
    return (f"could not be read ({type(error).__name__}: {' '.join(str(error).split())[:200]}); "
            "if the file opens elsewhere, please report it with the file")
