"""``docagent store copy SRC DST``: move a store between engines (an embedded folder into PostgreSQL, a Chroma server
and S3, or back), document by document, through the same commit indexing uses: a copy interrupted at any moment leaves
DST with whole documents only, and running it again goes on where it stopped (what DST already holds is skipped).
Nothing is read again or embedded again: pages, passages, vectors, tables, cards, file copies and page images travel as
they are. Checked at the end by counts and by a search of each document's own words run on both sides."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from docagent.index.catalog import DocumentRecord, PageFields
from docagent.index.extract import CONTEXT_TOKENS, Extracted, Job
from docagent.index.store import PageStore
from docagent.ingest.identity import card_words, passage_context
from docagent.types import Page

__all__ = ["CopyReport", "copy_store"]

log = logging.getLogger(__name__)


@dataclass
class CopyReport:
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Already in DST with the same content."""
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    """What each side holds after the copy: ``{"documents": (src, dst), "pages": ..., "passages": ..., "vectors": ...}``."""
    searches: list[tuple[str, bool]] = field(default_factory=list)
    """Each check query (a document's first words) and whether each side's best page is among the other's first three."""
    problems: list[str] = field(default_factory=list)
    """What :meth:`PageStore.audit` found wrong in DST afterwards."""

    @property
    def ok(self) -> bool:
        return (not self.problems and all(a == b for a, b in self.counts.values())
                and all(same for _, same in self.searches))

    def to_json(self) -> dict[str, object]:
        return {"copied": self.copied, "skipped": self.skipped, "ok": self.ok,
                "counts": {k: {"src": a, "dst": b} for k, (a, b) in self.counts.items()},
                "searches": [{"query": q, "same": same} for q, same in self.searches], "problems": self.problems}


def _extracted(src: PageStore, rec: DocumentRecord) -> Extracted:
    """A stored document version as the value a commit writes."""
    catalog = src.catalog
    pages = [p for p in (catalog.page(rec.doc_id, n) for n in catalog.page_numbers(rec.doc_id)) if p is not None]
    passages, vectors = src.vectors.document(rec.doc_id)
    by_page: dict[int, list[tuple[int, int, str]]] = {}
    for p in passages:
        by_page.setdefault(p.page, []).append((p.start, p.end, p.text))
    spans: list[list[tuple[int, int]]] = []
    rows: list[list[tuple[int, int, str]]] = []
    for page in pages:
        own = by_page.get(page.number, [])
        spans.append([(a, b) for a, b, t in own if page.text[a:b] == t])
        rows.append([(a, b, t) for a, b, t in own if page.text[a:b] != t])  # table-row passages carry their own text
    card = catalog.card(rec.doc_id)
    fields = catalog.page_fields([(rec.doc_id, p.number) for p in pages])
    contexts = [src.embedder.truncate(passage_context(rec.name, card, p), CONTEXT_TOKENS) if card else "" for p in pages]
    images = {int(k.rsplit("/", 1)[1].split(".")[0]): src.blobs.get(k) for k in src.blobs.list_keys(f"pages/{rec.doc_id}/")}
    abbreviations: dict[str, str] = dict(catalog.reader().execute("SELECT short, long FROM abbreviations WHERE doc_id = ?",
                                                                  (rec.doc_id,)).fetchall())
    return Extracted(
        job=Job(name=rec.name, sha256=rec.sha256, origin=rec.source, parent=rec.parent, shown=rec.name),
        doc_id=rec.doc_id, kind=rec.kind, stored_file=rec.stored_file, stored=src.blobs.get(f"files/{rec.stored_file}"),
        embedding_model=catalog.get_meta("embedding_model") or src.embedder.label, pages=pages, spans=spans,
        contexts=contexts, rows=rows, passages=passages, vectors=vectors,
        fields=[fields.get((rec.doc_id, p.number), PageFields(p.number, p.title, "")) for p in pages],
        tables=catalog.tables(rec.doc_id), card=card, card_words=card_words(rec.name, card) if card else ("", ""),
        abbreviations=abbreviations, images=images, ocr_pages=[p.number for p in pages if p.ocr], attachments=[], seconds={})


def _first_words(page: Page, n: int = 8) -> str:
    return " ".join(page.text.split()[:n])


def copy_store(src: PageStore, dst: PageStore, *, on_document: Callable[[int, int, str], None] | None = None,
               checks: int = 20) -> CopyReport:
    """Copy every ready document of ``src`` into ``dst`` (replacing a version of the same name that differs), then
    compare: counts, :meth:`PageStore.audit` of ``dst``, and ``checks`` searches (a document's first words) on both."""
    report = CopyReport()
    documents = sorted(src.documents(), key=lambda d: (d.parent != "", d.name))  # a message before its attachments
    for i, rec in enumerate(documents):
        if on_document:
            on_document(i, len(documents), rec.name)
        there = dst.document(rec.name)
        if there is not None and there.sha256 == rec.sha256 and there.doc_id == rec.doc_id:
            report.skipped.append(rec.name)
            continue
        doc = _extracted(src, rec)
        with dst.lock():
            dst.recover()
            dst.commit(doc)
        report.copied.append(rec.name)
        log.info("copied %s: %d pages", rec.name, rec.pages)
    if on_document:
        on_document(len(documents), len(documents), "")
    src_docs, dst_docs = src.documents(), dst.documents()
    report.counts = {
        "documents": (len(src_docs), len(dst_docs)),
        "pages": (sum(d.pages for d in src_docs), sum(d.pages for d in dst_docs)),
        "passages": (src.catalog.term_stats([]).passages, dst.catalog.term_stats([]).passages),
        "vectors": (src.vectors.count(), dst.vectors.count()),
    }
    report.problems = dst.audit()
    from docagent.retrieve import PageRetriever

    for rec in src_docs[:checks]:
        page = src.catalog.page(rec.doc_id, 1)
        query = _first_words(page) if page is not None else ""
        if not query:
            continue
        found = [[(h.doc, h.page) for h in PageRetriever(store=side, k=3).search(query)] for side in (src, dst)]
        # each side's best page among the other's first three: engines apart (FTS5 and BM25 in SQL) may order near
        # ties differently, a lost document or page cannot pass
        same = bool(found[0]) and bool(found[1]) and found[0][0] in found[1] and found[1][0] in found[0]
        report.searches.append((query, same))
    return report
