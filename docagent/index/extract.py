"""Extract: one file (or named bytes) in, everything the store will keep of it out, as one value.

:meth:`Extractor.extract` reads every page (text layer, word boxes, widgets; OCR where the text layer is unusable;
the tables on it), builds the document's card, cuts the text into passages and embeds them, and renders the page
images it needs (OCR'd pages, images, all pages with ``render=eager``). It touches no store and takes no lock, so
it runs anywhere: in the indexing process, in worker processes beside it (``docagent index --workers N``) or as a
task on a Ray cluster (:mod:`docagent.index.distributed`). The result, an :class:`Extracted`, is written by
:meth:`docagent.index.store.PageStore.commit`, the one step taken under the store's write exclusion.

An :class:`Extractor` loads the embedding model and the OCR engine once, on first use, and keeps them for every
file it reads.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from docagent.config import Settings
from docagent.errors import DocumentLoadError, ModelError, StoreError
from docagent.index.catalog import PageFields
from docagent.index.embeddings import Embedder
from docagent.index.vectors import Passage
from docagent.ingest import Attachment, OcrEngine, OpenOptions, Source, get_ocr_engine, text_is_usable
from docagent.ingest.base import TITLE_ZONE, body_size, large_type_lines, printed_label, title_lines
from docagent.ingest.formats import detect
from docagent.ingest.identity import CARD_VERSION, build_card, card_words, page_title, passage_context, running_lines
from docagent.ingest.tables import find_tables, link_continuations
from docagent.question import abbreviations_in
from docagent.types import DocumentCard, FailedFile, Heading, Page, Table, Word

__all__ = ["Extracted", "Extractor", "Job", "document_id", "embedder_for"]

PAGES_PER_CHUNK = 32
"""Pages read, then embedded, at a time: the embedding model's activations stay small whatever a document's length."""

CONTEXT_TOKENS = 32
"""Word pieces of the embedding window given to each passage's context line (the document's identity and
section); the passage's own text gets the rest."""

MAX_RENDER_PIXELS = 25_000_000
"""Page images are rendered at the store's dpi up to this size (an A1 page at 150 dpi is 17 megapixels);
larger pages are rendered at a lower resolution, so memory stays bounded whatever a page's size."""


@dataclass(frozen=True)
class Job:
    """One file to extract: a path this process can read, or named bytes (an attachment; a file sent to another
    machine). ``name`` is the document's name in the store; ``parent`` the document carrying it (an e-mail's
    attachment), ``origin`` what the store records as its source."""

    name: str
    sha256: str
    origin: str
    path: Path | None = None
    data: bytes | None = None
    parent: str = ""
    depth: int = 0
    shown: str = ""
    """How failures name the file (its path as given; the name for an attachment)."""
    options: OpenOptions = field(default_factory=OpenOptions)


@dataclass
class Extracted:
    """Everything the store keeps of one document version, made without touching the store."""

    job: Job
    doc_id: str
    kind: str
    stored_file: str
    """The copy's file name in the store: ``DOC_ID.ext``."""
    stored: bytes
    """The file as the store keeps it (decrypted, or the PDF rendering of a converted document)."""
    embedding_model: str
    pages: list[Page]
    spans: list[list[tuple[int, int]]]
    contexts: list[str]
    rows: list[list[tuple[int, int, str]]]
    passages: list[Passage]
    vectors: np.ndarray
    fields: list[PageFields]
    tables: list[Table]
    card: DocumentCard | None
    card_words: tuple[str, str]
    abbreviations: dict[str, str]
    images: dict[int, bytes]
    """PNG page images rendered while reading (OCR'd pages, image documents, every page with ``render=eager``)."""
    ocr_pages: list[int]
    attachments: list[Attachment]
    seconds: dict[str, float]

    def renamed(self, doc_id: str) -> Extracted:
        """The same document under another version id (the store already holds this very id)."""
        suffix = self.stored_file[len(self.doc_id):]
        return dataclasses.replace(self, doc_id=doc_id, stored_file=f"{doc_id}{suffix}",
                                   passages=[dataclasses.replace(p, doc_id=doc_id) for p in self.passages])


def document_id(name: str, sha256: str) -> str:
    """The version id of ``name`` with this content: the card version is part of it, so an unchanged file indexed by
    an older docagent is read anew."""
    return hashlib.sha256(f"{name}\0{sha256}\0card{CARD_VERSION}".encode()).hexdigest()[:16]


def embedder_for(settings: Settings) -> Embedder:
    """The embedding model ``settings`` name (loaded on first use)."""
    return Embedder(settings.embedding_model, device=settings.embedding_device, dtype=settings.embedding_dtype,
                    batch_size=settings.embedding_batch_size, passage_tokens=settings.passage_tokens,
                    passage_overlap=settings.passage_overlap)


class Extractor:
    """Reads files into :class:`Extracted` values. Keeps its embedding model and OCR engine for every file."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._ocr: OcrEngine | None = None
        self._ocr_checked = False

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = embedder_for(self.settings)
        return self._embedder

    @property
    def ocr(self) -> OcrEngine | None:
        if not self._ocr_checked:
            self._ocr = get_ocr_engine(self.settings.ocr)
            self._ocr_checked = True
        return self._ocr

    def extract(self, job: Job) -> Extracted | FailedFile:
        """Read ``job``'s file. A file that cannot be read is a :class:`FailedFile` saying why; a failing model or
        engine (a :class:`~docagent.errors.DocagentError` other than a load error) is raised: the run stops."""
        seconds: dict[str, float] = defaultdict(float)
        embed_before = self.embedder.seconds if self._embedder is not None else 0.0
        with tempfile.TemporaryDirectory(prefix="docagent-extract-") as tmp:
            path = job.path
            if path is None:
                path = Path(tmp) / (job.name.rsplit("/", 1)[-1] or "document")
                path.write_bytes(job.data or b"")
            try:
                t0 = time.perf_counter()
                fmt = detect(path)
                source = fmt.open(path, job.options)
                seconds["convert"] += source.convert_seconds
                seconds["load"] += time.perf_counter() - t0 - source.convert_seconds
                with source:
                    out = self._read(job, source, path, seconds)
            except DocumentLoadError as e:
                return FailedFile(job.shown or job.name, e.reason)
            except Exception as e:  # a parser's own bug on one odd file must not stop the batch
                if isinstance(e, (ModelError, StoreError)):  # not the file's fault: the run stops
                    raise
                return FailedFile(job.shown or job.name, unexpected(e))
        seconds["embed"] += self.embedder.seconds - embed_before
        out.seconds = dict(seconds)
        return out

    def _read(self, job: Job, source: Source, path: Path, seconds: dict[str, float]) -> Extracted:
        doc_id = document_id(job.name, job.sha256)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="docagent-copy-") as tmp:
            source.copy_to(Path(tmp) / "copy")
            stored = (Path(tmp) / "copy").read_bytes()
        seconds["copy"] += time.perf_counter() - t0
        scale = source.native_scale or self.settings.dpi / 72
        metadata, bookmarks = source.metadata(), source.outline()
        pages: list[Page] = []
        images: dict[int, bytes] = {}
        ocr_pages: list[int] = []
        card: DocumentCard | None = None
        headings: list[Heading] = []
        found: list[Table] = []
        previous: tuple[Page, list[Table]] | None = None
        titled: list[list[str]] = []  # every page's title lines so far: what repeats on many pages is a running header
        defined: dict[str, str] = {}
        contexts: list[str] = []
        spans: list[list[tuple[int, int]]] = []
        rows: list[list[tuple[int, int, str]]] = []
        passages: list[Passage] = []
        vectors: list[np.ndarray] = []
        fields: list[PageFields] = []
        for first in range(0, source.page_count, PAGES_PER_CHUNK):
            chunk = []
            for index in range(first, min(first + PAGES_PER_CHUNK, source.page_count)):
                t0 = time.perf_counter()
                page = source.read_page(index)
                page.image_scale = _capped(scale, page.width, page.height)
                seconds["text"] += time.perf_counter() - t0
                if self._needs_ocr(source, page) and self.ocr is not None:
                    images[page.number] = self._ocr_page(source, page, seconds)
                    ocr_pages.append(page.number)
                elif self.settings.render == "eager" or source.kind == "image":
                    t0 = time.perf_counter()
                    images[page.number] = png(source.render(index, page.image_scale))
                    seconds["render"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                # the drawings are read only for a page that already has a plausible table (they cost as much)
                stated = source.tables(index, page)
                tables = stated if stated is not None else find_tables(
                    page, functools.partial(source.rules, index) if not page.ocr else ())
                if stated is None and previous is not None and previous[0].number == page.number - 1:
                    link_continuations(previous[1], previous[0], tables, page)
                previous = (page, tables)
                found += tables
                seconds["tables"] += time.perf_counter() - t0
                chunk.append(page)
            t0 = time.perf_counter()
            titled += [p.title_lines for p in chunk]
            running = running_lines(titled)
            for p in chunk:
                p.title = page_title(p, running)
                p.label = p.label or printed_label(p)
                for short, long in abbreviations_in(p.text).items():
                    defined.setdefault(short, long)
            if card is None:  # identity comes from the first pages, which this first chunk holds
                card = build_card(job.name, metadata, bookmarks, chunk)
            if not bookmarks:  # no bookmarks: the outline is the larger-type lines read so far
                headings += [Heading(1, h[:160], p.number) for p in chunk for h in p.headings[:3]]
                card = dataclasses.replace(card, outline=tuple(headings))
            chunk_contexts = [self.embedder.truncate(passage_context(job.name, card, p), CONTEXT_TOKENS) for p in chunk]
            seconds["identity"] += time.perf_counter() - t0
            chunk_spans, chunk_rows, chunk_passages, chunk_vectors = self._passages(
                doc_id, job.name, source.kind, chunk, chunk_contexts, [t for t in found if t.page > first])
            pages += chunk
            contexts += chunk_contexts
            spans += chunk_spans
            rows += chunk_rows
            passages += chunk_passages
            vectors.append(chunk_vectors)
            fields += [PageFields(p.number, p.title, _labels(p.number, found)) for p in chunk]
            source.trim_caches()
        for table in found:
            table.doc = job.name  # an attachment's pages carry its file's own name
        attachments = source.attachments()
        return Extracted(
            job=job, doc_id=doc_id, kind=source.kind,
            stored_file=f"{doc_id}{source.stored_suffix or path.suffix.lower() or '.' + source.kind}",
            stored=stored, embedding_model=self.embedder.label, pages=pages, spans=spans, contexts=contexts,
            rows=rows, passages=passages, vectors=np.concatenate(vectors) if vectors else np.zeros((0, 0), np.float32),
            fields=fields, tables=found, card=card, card_words=card_words(job.name, card) if card else ("", ""),
            abbreviations=defined, images=images, ocr_pages=ocr_pages, attachments=attachments, seconds={})

    def _needs_ocr(self, source: Source, page: Page) -> bool:
        if text_is_usable(page.text, self.settings.ocr_min_chars):
            return False
        # a short title on an otherwise empty born-digital page is all there is to read
        if page.text.strip() or source.rendered:
            return source.has_images(page.number - 1)
        return True

    def _ocr_page(self, source: Source, page: Page, seconds: dict[str, float]) -> bytes:
        """OCR one page into its words and lines; returns its image (PNG), which the store keeps."""
        assert self.ocr is not None
        t0 = time.perf_counter()
        image = source.render(page.number - 1, page.image_scale)
        data = png(image)
        seconds["render"] += time.perf_counter() - t0
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
        seconds["ocr"] += time.perf_counter() - t0
        return data

    def _passages(self, doc_id: str, name: str, kind: str, pages: list[Page], contexts: list[str], tables: list[Table],
                  ) -> tuple[list[list[tuple[int, int]]], list[list[tuple[int, int, str]]], list[Passage], np.ndarray]:
        """Passages are embedded with their page's context line before their text; the vector index keeps only
        the passage's own text (what a snippet shows). With ``table_passages`` on, each table row is a passage
        too, its text the row with its headers."""
        embedder = self.embedder
        # each page's passages leave room for its own context line (at most CONTEXT_TOKENS), not always the most
        spans = embedder.split([p.text for p in pages], reserve=embedder.pieces([f"{c}\n" if c else "" for c in contexts]))
        rows: list[list[tuple[int, int, str]]] = [[] for _ in pages] if not self.settings.table_passages else [
            [(*_row_span(page.text, label), text) for t in tables if t.page == page.number for label, text in t.row_texts()]
            for page in pages]
        passages: list[Passage] = []
        embedded: list[str] = []
        for page, page_spans, page_rows, context in zip(pages, spans, rows, contexts, strict=True):
            for i, (start, end, text) in enumerate([(a, b, page.text[a:b]) for a, b in page_spans] + page_rows):
                passages.append(Passage(doc_id=doc_id, doc=name, page=page.number, idx=i, start=start, end=end,
                                        ocr=page.ocr, kind=kind, text=text))
                embedded.append(f"{context}\n{text}" if context else text)
        return spans, rows, passages, embedder.embed(embedded)


def png(image: object) -> bytes:
    """A page image as PNG bytes (fast compression: page images are written once and read often)."""
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)  # type: ignore[attr-defined]
    return out.getvalue()


def unexpected(error: Exception) -> str:
    return (f"could not be read ({type(error).__name__}: {' '.join(str(error).split())[:200]}); "
            "if the file opens elsewhere, please report it with the file")


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
