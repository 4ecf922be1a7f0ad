"""The values docagent passes around. Boxes are ``(x0, y0, x1, y1)`` in PDF points (1/72 inch,
origin top-left) unless a name says ``_px``; ``Page.to_pixels`` converts to page-image pixels."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Answer", "AnswerSpan", "Box", "Citation", "DocumentCard", "Heading", "Extraction", "FieldValue", "FailedFile", "IndexReport", "Page", "PageHit", "Widget", "Word"]

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Word:
    """One word of a page's text layer or OCR, with its box in points."""

    text: str
    box: Box


@dataclass(frozen=True, slots=True)
class Widget:
    """An AcroForm field widget on a page."""

    name: str
    type: str
    """``text``, ``checkbox``, ``radiobutton``, ``combobox``, ``listbox``, ``signature``, ``button``."""
    value: str | bool | None
    box: Box
    label: str = ""
    """The field's tooltip (``/TU``), when the form has one."""
    options: tuple[str, ...] = ()
    """Choices of a combo/list box, or the on-state name of a checkbox/radio button."""


@dataclass(slots=True)
class Page:
    """One page of a document as docagent indexes it."""

    doc: str
    """File name of the document."""
    number: int
    """1-based page number."""
    width: float
    height: float
    text: str
    words: list[Word] = field(default_factory=list)
    widgets: list[Widget] = field(default_factory=list)
    ocr: bool = False
    """True when ``text`` and ``words`` come from OCR rather than the file's text layer."""
    image_scale: float = 150 / 72
    """Pixels of the page image per point."""
    headings: list[str] = field(default_factory=list)
    """Lines printed in larger type than the page's body text, top to bottom (section titles)."""

    def to_pixels(self, box: Box) -> tuple[int, int, int, int]:
        s = self.image_scale
        return (round(box[0] * s), round(box[1] * s), round(box[2] * s), round(box[3] * s))


@dataclass(frozen=True, slots=True)
class Heading:
    """One entry of a document's outline: a PDF bookmark, or a line printed in larger type."""

    level: int
    """1 for top-level sections."""
    title: str
    page: int
    """1-based page where the section starts."""


@dataclass(frozen=True)
class DocumentCard:
    """What a document says about itself, read at ingest: who it is by and about, which periods it
    covers, what kind of document it is, and its outline. Retrieval uses it to tell apart documents
    that look alike (the same report of two companies, the same contract with two parties)."""

    title: str = ""
    """The PDF's title metadata, else the first line printed in the largest type on page 1."""
    organisations: tuple[str, ...] = ()
    """Organisations, parties and authors named in the metadata and on the first pages, most cited first."""
    periods: tuple[str, ...] = ()
    """Periods and dates the document covers, as printed ("fiscal year ended December 31, 2018", "Q3 2015")."""
    years: tuple[int, ...] = ()
    """Years it is about, most prominent first."""
    kind: str = ""
    """``annual report``, ``quarterly report``, ``agreement``, ``manual`` ... (empty when unclear)."""
    outline: tuple[Heading, ...] = ()
    """PDF bookmarks, else headings found by type size."""
    metadata: dict[str, str] = field(default_factory=dict)
    """The file's own metadata that is set (title, author, subject, keywords)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "organisations": list(self.organisations),
            "periods": list(self.periods),
            "years": list(self.years),
            "kind": self.kind,
            "outline": [{"level": h.level, "title": h.title, "page": h.page} for h in self.outline],
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DocumentCard:
        return cls(
            title=str(data.get("title", "")),
            organisations=tuple(data.get("organisations", ())),
            periods=tuple(data.get("periods", ())),
            years=tuple(int(y) for y in data.get("years", ())),
            kind=str(data.get("kind", "")),
            outline=tuple(Heading(int(h["level"]), str(h["title"]), int(h["page"])) for h in data.get("outline", ())),
            metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class PageHit:
    """A page found by a search, with the passage that matched."""

    doc: str
    page: int
    score: float
    text: str
    """The matching passage."""
    image: Path
    """PNG of the page (rendered on first use)."""
    doc_id: str = ""
    passage: tuple[int, int] = (0, 0)
    """Character span of the passage in the page text."""
    ranks: dict[str, int] = field(default_factory=dict)
    """The page's rank in each ranking that found it (``dense``, ``lexical``)."""

    def to_json(self) -> dict[str, Any]:
        return {"doc": self.doc, "page": self.page, "score": round(self.score, 6), "text": self.text, "image": str(self.image)}


@dataclass(frozen=True, slots=True)
class FailedFile:
    path: str
    error: str


@dataclass(slots=True)
class IndexReport:
    """What one ``index`` run did."""

    documents: int = 0
    """Documents indexed (new or changed) in this run."""
    pages: int = 0
    ocr_pages: int = 0
    skipped: int = 0
    """Documents skipped because the store already holds the same content under the same name."""
    failed: list[FailedFile] = field(default_factory=list)
    ocr_by_doc: dict[str, list[int]] = field(default_factory=dict)
    """Per document, the page numbers that were OCR'd."""
    replaced: list[str] = field(default_factory=list)
    """Documents whose older version was replaced."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per stage: load, text, ocr, render, embed, write."""

    def to_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "pages": self.pages,
            "ocr_pages": self.ocr_pages,
            "skipped": self.skipped,
            "failed": [asdict(f) for f in self.failed],
        }


@dataclass(slots=True)
class Citation:
    """A page that supports an answer, with the boxes (page-image pixels) of the words that do."""

    doc: str
    page: int
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    image: Path | None = None
    """The page image the boxes refer to."""
    answer_box: tuple[int, int, int, int] | None = None
    """Retrieval-only: the located answer on this page (also the first of ``boxes``; the rest mark the
    question's words around it)."""

    def to_json(self) -> dict[str, Any]:
        return {"doc": self.doc, "page": self.page, "boxes": [list(b) for b in self.boxes],
                "answer_box": list(self.answer_box) if self.answer_box else None}


@dataclass(frozen=True, slots=True)
class AnswerSpan:
    """Where on a page the answer stands: the value or sentence that carries it, and its box."""

    text: str
    """As printed on the page."""
    doc: str
    page: int
    box: tuple[int, int, int, int]
    """Page-image pixels around the span's words."""
    kind: str = "value"
    """``value`` (an amount, date, number or name printed next to the question's key words) or
    ``sentence`` (the sentence that answers best)."""
    score: float = 0.0
    """How strongly the page supports it (0..1): the evidence test's score."""

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "doc": self.doc, "page": self.page, "box": list(self.box), "kind": self.kind,
                "score": round(self.score, 3)}


@dataclass(slots=True)
class Answer:
    """What ``ask`` returns: the answer, the evidence to check it by, and how it was reached."""

    question: str
    text: str
    mode: str
    """``vlm`` (a vision-language model read the pages) or ``retrieval-only`` (no model: the evidence)."""
    abstained: bool
    """True when the pages consulted do not support an answer."""
    citations: list[Citation] = field(default_factory=list)
    pages: list[PageHit] = field(default_factory=list)
    """The pages consulted, best first."""
    timings: dict[str, float] = field(default_factory=dict)
    """Milliseconds per stage: retrieve, load_model, generate, ground, total."""
    notice: str = ""
    """Why the answer is what it is, when that needs saying (retrieval-only, abstention)."""
    model_reply: str = ""
    """The model's own words, before abstention replaced them."""
    evidence_images: list[Path] = field(default_factory=list)
    """Pages with their evidence boxes drawn, when asked for."""
    answer_span: AnswerSpan | None = None
    """Retrieval-only: the value or sentence most likely to answer, located on its page (None when abstained
    or when no span stands out)."""
    reason: str = ""
    """Why it abstained (empty when it did not)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "mode": self.mode,
            "abstained": self.abstained,
            "reason": self.reason,
            "answer_span": self.answer_span.to_json() if self.answer_span else None,
            "citations": [c.to_json() for c in self.citations],
            "pages": [{"doc": p.doc, "page": p.page, "score": round(p.score, 6)} for p in self.pages],
            "timings_ms": {k: round(v, 1) for k, v in self.timings.items()},
            "notice": self.notice,
            "evidence_images": [str(p) for p in self.evidence_images],
        }


@dataclass(slots=True)
class FieldValue:
    """One extracted field: its value and where on which page it stands. Every requested field has one;
    ``value`` is None when the document does not give it (``reason`` says why)."""

    value: Any
    page: int | None = None
    box: tuple[int, int, int, int] | None = None
    """Page-image pixels."""
    confidence: float = 0.0
    """Calibrated: the share of values from this source and match quality that were right when measured
    (benchmarks/extract.py)."""
    source: str = "vlm"
    """``acroform`` (read from the form widget), ``vlm`` (the model read the page), ``text`` (found next to
    its label in the text layer or OCR, no model), ``none`` (not found)."""
    grounded: bool = False
    """The value was found on the page (its box is where)."""
    needs_review: bool = False
    """The value is doubtful (confidence below the measured threshold): a person should check it."""
    label: str = ""
    """For a form widget: the label printed beside it (or its tooltip), in words a person reads."""
    reason: str = ""
    """Why the value is null or flagged, in words (``the form field is empty``, ``not found on the pages``)."""

    def to_json(self) -> dict[str, Any]:
        value = self.value.isoformat() if hasattr(self.value, "isoformat") else self.value
        if type(value).__name__ == "Decimal":
            value = str(value)
        return {"value": value, "page": self.page, "box": list(self.box) if self.box else None,
                "confidence": round(self.confidence, 3), "source": self.source, "grounded": self.grounded,
                "needs_review": self.needs_review, "label": self.label, "reason": self.reason}


@dataclass(slots=True)
class Extraction:
    """The fields extracted from one document."""

    doc: str
    fields: dict[str, FieldValue] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"doc": self.doc, "fields": {k: v.to_json() for k, v in self.fields.items()}, "errors": list(self.errors)}
