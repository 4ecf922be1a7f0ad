"""The values docagent passes around. Boxes are ``(x0, y0, x1, y1)`` in PDF points (1/72 inch,
origin top-left) unless a name says ``_px``; ``Page.to_pixels`` converts to page-image pixels."""

from __future__ import annotations

import contextlib
import csv
import html
import io
import re
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "Answer",
    "AnswerSpan",
    "Box",
    "Citation",
    "DocumentCard",
    "Extraction",
    "FailedFile",
    "FieldValue",
    "Heading",
    "IndexReport",
    "Page",
    "PageHit",
    "PageImage",
    "PageImages",
    "ReportPeriod",
    "Table",
    "TableCell",
    "Widget",
    "Word",
    "page_name",
]

Box = tuple[float, float, float, float]


def _box(values: Any) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(v) for v in values)
    return x0, y0, x1, y1


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
    title_lines: list[str] = field(default_factory=list)
    """Lines at the top of the page set apart as a title (bold, capitals or larger type), top to bottom, before
    running headers are known; the indexer keeps :attr:`title` from them."""
    title: str = ""
    """The page's title ("CONDENSED CONSOLIDATED BALANCE SHEETS"): its title lines without the running headers
    and footers printed on many pages of its document; empty when it has none."""
    label: str = ""
    """The page's printed label ("50", "iv", "A-3"): the PDF's own page labels, else a page number printed alone at
    the page's foot or head; empty when there is neither. :attr:`number` stays the page's place in the file."""

    def to_pixels(self, box: Box) -> tuple[int, int, int, int]:
        s = self.image_scale
        return (round(box[0] * s), round(box[1] * s), round(box[2] * s), round(box[3] * s))


_FORMULA = re.compile(r"[=+\-@\t\r]")
_PLAIN_NUMBER = re.compile(r"[+\-]?[\d.,\s]*\d%?|-+")


def _inert(cell: str) -> str:
    """A cell as CSV may carry it without a spreadsheet running it (CSV injection)."""
    return "'" + cell if _FORMULA.match(cell) and not _PLAIN_NUMBER.fullmatch(cell) else cell


def decimal_text(value: Decimal) -> str:
    """A number as plain decimal text, no exponent and no trailing zeros: ``1234500000.0`` -> ``1234500000``."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True, slots=True)
class TableCell:
    """One cell of a table: where it stands in the grid, what it says, the number it states and its box."""

    row: int
    """0-based row in the table's grid; rows ``< Table.header_rows`` are header rows."""
    col: int
    text: str
    """As printed (the lines of a multi-line cell joined by a space)."""
    box: Box
    number: Decimal | None = None
    """The value it states, exactly, in the table's scale: ``(1,234)`` -> -1234, ``12.5%`` -> 12.5, ``$3.2`` with
    "in millions" in the header -> 3200000 (:attr:`Table.scale`). None for text."""
    unit: str = ""
    """``%``, a currency (``$``, ``EUR`` ...) or a unit printed with the number; empty when none."""
    col_span: int = 1
    """Columns a header cell spans (a year over its quarters)."""
    scale: Decimal = Decimal(1)
    """What the printed number was multiplied by to give :attr:`number`: the table's scale, or 1 for a cell the
    scale does not apply to (per-share amounts, percentages, ratios, counts and years in a statement "in millions,
    except per share data")."""

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "col": self.col, "text": self.text, "box": [round(c, 2) for c in self.box],
                "number": decimal_text(self.number) if self.number is not None else None, "unit": self.unit,
                "col_span": self.col_span, "scale": decimal_text(self.scale)}

    @classmethod
    def from_json(cls, data: dict[str, Any], table_scale: Decimal = Decimal(1)) -> TableCell:
        """A cell from :meth:`to_json`; one stored before cells had their own scale gets ``table_scale`` (what its
        number was multiplied by then: every number but a percentage)."""
        number, unit = data.get("number"), str(data.get("unit", ""))
        scale = data.get("scale", "1" if number is None or unit == "%" else decimal_text(table_scale))
        return cls(int(data["row"]), int(data["col"]), str(data["text"]), tuple(float(c) for c in data["box"]),  # type: ignore[arg-type]
                   Decimal(str(number)) if number is not None else None, unit,
                   int(data.get("col_span", 1)), Decimal(str(scale)))


@dataclass(slots=True)
class Table:
    """A table found on a page: header rows and body rows of cells, each with its box.

    ``cell("2019", "Revenue")`` in an expression names the body cell under the column headed 2019 in the row
    labelled Revenue (:meth:`find`)."""

    doc: str
    page: int
    index: int
    """0-based, top to bottom (then left to right) among the page's tables."""
    box: Box
    rows: int
    cols: int
    header_rows: int
    cells: list[TableCell] = field(default_factory=list)
    title: str = ""
    """The caption or heading printed just above it, when there is one."""
    scale: Decimal = Decimal(1)
    """What its numbers were multiplied by, from the header or caption ("in millions" -> 1000000)."""
    scale_text: str = ""
    """The words that stated the scale ("in millions"), empty when none did."""
    continued_from: tuple[int, int] | None = None
    """``(page, index)`` of the table this one continues (a table broken across a page), None when it starts here."""
    continues_on: tuple[int, int] | None = None
    """``(page, index)`` of its continuation on the next page, None when it ends here."""
    inherited_header: list[str] = field(default_factory=list)
    """For a continuation printed without its header: the column headers of the part it continues."""

    def grid(self) -> list[list[str]]:
        """The text of every cell, row by row (a spanning header cell's text under each column it spans)."""
        out = [["" for _ in range(self.cols)] for _ in range(self.rows)]
        for c in self.cells:
            for k in range(c.col, min(self.cols, c.col + max(1, c.col_span))):
                out[c.row][k] = c.text
        return out

    def column_headers(self) -> list[str]:
        """Each column's header: its header rows' texts top to bottom (a spanning cell once), else the inherited
        header of the part it continues."""
        if self.header_rows == 0 and self.inherited_header:
            return list(self.inherited_header) + [""] * max(0, self.cols - len(self.inherited_header))
        grid = self.grid()
        heads = []
        for k in range(self.cols):
            parts: list[str] = []
            for r in range(self.header_rows):
                text = grid[r][k].strip()
                if text and (not parts or parts[-1] != text):
                    parts.append(text)
            heads.append(" ".join(parts))
        return heads

    def row_labels(self) -> list[str]:
        """Each body row's label (its first column), in order."""
        grid = self.grid()
        return [grid[r][0].strip() for r in range(self.header_rows, self.rows)]

    def body(self) -> list[TableCell]:
        return [c for c in self.cells if c.row >= self.header_rows]

    def at(self, row: int, col: int) -> TableCell | None:
        return next((c for c in self.cells if c.row == row and c.col <= col < c.col + max(1, c.col_span)), None)

    def triples(self) -> list[tuple[str, str, str]]:
        """(row header, column header, value) for every body cell with text outside the label column: how table
        structure is scored (docagent.evaluation.tables)."""
        heads, grid = self.column_headers(), self.grid()
        out = []
        for r in range(self.header_rows, self.rows):
            for k in range(1, self.cols):
                if grid[r][k].strip():
                    out.append((grid[r][0].strip(), heads[k], grid[r][k].strip()))
        return out

    def row_texts(self) -> list[tuple[str, str]]:
        """Each body row as ``(label, text)``, the text carrying the headers: ``Capital expenditures | 2018: 1,234 |
        2019: 1,456`` under the table's title (what a table row's search passage says)."""
        heads, grid = self.column_headers(), self.grid()
        out = []
        for r in range(self.header_rows, self.rows):
            values = [f"{heads[k]}: {grid[r][k]}" if heads[k] else grid[r][k] for k in range(1, self.cols) if grid[r][k].strip()]
            if values:
                label = grid[r][0].strip()
                text = " | ".join([label, *values]) if label else " | ".join(values)
                out.append((label, f"{self.title}\n{text}" if self.title else text))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "doc": self.doc, "page": self.page, "index": self.index, "box": [round(c, 2) for c in self.box],
            "rows": self.rows, "cols": self.cols, "header_rows": self.header_rows, "title": self.title,
            "scale": decimal_text(self.scale), "scale_text": self.scale_text,
            "continued_from": list(self.continued_from) if self.continued_from else None,
            "continues_on": list(self.continues_on) if self.continues_on else None,
            "inherited_header": list(self.inherited_header),
            "column_headers": self.column_headers(),
            "cells": [c.to_json() for c in self.cells],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Table:
        def pair(v: Any) -> tuple[int, int] | None:
            return (int(v[0]), int(v[1])) if v else None

        scale = Decimal(str(data.get("scale", "1")))
        return cls(str(data["doc"]), int(data["page"]), int(data["index"]), tuple(float(c) for c in data["box"]),  # type: ignore[arg-type]
                   int(data["rows"]), int(data["cols"]), int(data["header_rows"]),
                   [TableCell.from_json(c, scale) for c in data.get("cells", ())], str(data.get("title", "")),
                   scale, str(data.get("scale_text", "")),
                   pair(data.get("continued_from")), pair(data.get("continues_on")),
                   [str(h) for h in data.get("inherited_header", ())])

    def _export_rows(self) -> list[list[str]]:
        """The grid with a continuation's inherited header on top, as exports show it."""
        grid = self.grid()
        if self.header_rows == 0 and self.inherited_header:
            return [self.column_headers(), *grid]
        return grid

    def to_csv(self) -> str:
        """The grid as CSV. A cell that a spreadsheet would run as a formula (text starting with ``=``, ``+``,
        ``-``, ``@``, a tab or a carriage return, other than a number such as ``-5``) is written after a ``'``."""
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([[_inert(c) for c in row] for row in self._export_rows()])
        return out.getvalue()

    def to_markdown(self) -> str:
        rows = self._export_rows()
        heads = max(1, self.header_rows or (1 if self.inherited_header else 0))

        def line(cells: list[str]) -> str:  # raw HTML in a cell would be live where Markdown is rendered
            return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")
                                     for c in cells) + " |"

        if not self.header_rows and not self.inherited_header:
            rows = [[""] * self.cols, *rows]
        head = [" ".join(dict.fromkeys(t for t in col if t)) for col in zip(*rows[:heads], strict=True)]
        return "\n".join([line(head), "|" + "---|" * self.cols, *(line(r) for r in rows[heads:])])

    def to_html(self) -> str:
        """A ``<table>`` with a ``<thead>`` of the header rows (spanning cells as ``colspan``)."""
        e = html.escape
        parts = ["<table>"]
        if self.header_rows:
            parts.append("<thead>")
            for r in range(self.header_rows):
                cells = sorted((c for c in self.cells if c.row == r), key=lambda c: c.col)
                row, k = [], 0
                for c in cells:
                    row += ["<th></th>"] * (c.col - k)
                    span = f' colspan="{c.col_span}"' if c.col_span > 1 else ""
                    row.append(f"<th{span}>{e(c.text)}</th>")
                    k = c.col + max(1, c.col_span)
                row += ["<th></th>"] * (self.cols - k)
                parts.append("<tr>" + "".join(row) + "</tr>")
            parts.append("</thead>")
        elif self.inherited_header:
            parts.append("<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in self.column_headers()) + "</tr></thead>")
        parts.append("<tbody>")
        grid = self.grid()
        for r in range(self.header_rows, self.rows):
            parts.append("<tr>" + "".join(f"<td>{e(t)}</td>" for t in grid[r]) + "</tr>")
        parts.append("</tbody></table>")
        return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class Heading:
    """One entry of a document's outline: a PDF bookmark, or a line printed in larger type."""

    level: int
    """1 for top-level sections."""
    title: str
    page: int
    """1-based page where the section starts."""


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    """The period a report covers, read from its cover ("For the quarterly period ended July 1, 2023"): the day
    it ends, its fiscal year and quarter (4 for a whole year), and the calendar quarter it mostly falls in."""

    end: date
    fiscal_year: int
    quarter: int
    annual: bool = False

    @property
    def calendar(self) -> tuple[int, int]:
        """``(year, quarter)`` of the calendar quarter the period ends in (a period ending on July 1 is the
        calendar quarter April-June: the last ten days decide)."""
        day = self.end - timedelta(days=10)
        return day.year, (day.month - 1) // 3 + 1

    def label(self) -> str:
        """``FY2023 Q3 (ended July 1, 2023)``, ``FY2022 (ended September 24, 2022)``."""
        when = f"{self.end:%B} {self.end.day}, {self.end.year}"
        return f"FY{self.fiscal_year}" + ("" if self.annual else f" Q{self.quarter}") + f" (ended {when})"

    def to_json(self) -> dict[str, Any]:
        return {"end": self.end.isoformat(), "fiscal_year": self.fiscal_year, "quarter": self.quarter, "annual": self.annual}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportPeriod:
        return cls(date.fromisoformat(str(data["end"])), int(data["fiscal_year"]), int(data["quarter"]), bool(data.get("annual")))


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
    period: ReportPeriod | None = None
    """The reporting period the document covers, resolved (a 10-Q's fiscal quarter, a 10-K's fiscal year)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "organisations": list(self.organisations),
            "periods": list(self.periods),
            "years": list(self.years),
            "kind": self.kind,
            "outline": [{"level": h.level, "title": h.title, "page": h.page} for h in self.outline],
            "metadata": dict(self.metadata),
            "period": self.period.to_json() if self.period else None,
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
            period=ReportPeriod.from_json(data["period"]) if data.get("period") else None,
        )


class PageImages(Protocol):
    """What gives a :class:`PageImage` its bytes: the store it came from (its blob store: a folder, or S3 storage
    shared by every machine), drawing the page from the stored file on first use."""

    def image_bytes(self, image: PageImage) -> bytes: ...

    def image_file(self, image: PageImage) -> Path: ...


_IMAGE_URI = re.compile(r"docagent://pages/([0-9a-f]+)/(\d+)\.png")


@dataclass(frozen=True, slots=True)
class PageImage:
    """A page's PNG as a reference into its store, not a file: the document version and page it shows. The bytes come
    from the store's blob store on demand (drawn from the stored file the first time), on whichever machine asks:
    :meth:`read_bytes`, or :meth:`path` for a file on this machine (also ``open(image)``, ``Image.open(image)``:
    a PageImage is path-like). :attr:`uri` names it in JSON, MCP (a resource the server reads) and logs; it stays
    bound to the version: once the document is replaced or removed, reading it raises
    :class:`~docagent.errors.StoreError`."""

    doc_id: str
    page: int
    source: PageImages | None = field(default=None, compare=False, repr=False)
    file: Path | None = field(default=None, compare=False, repr=False)
    """Where it was drawn on this machine, when it was (a search's hits are): read from there while it is there."""

    @property
    def key(self) -> str:
        """The blob store's key of the PNG."""
        return f"pages/{self.doc_id}/{self.page:04d}.png"

    @property
    def uri(self) -> str:
        return f"docagent://{self.key}"

    @classmethod
    def from_uri(cls, uri: str, source: PageImages | None = None) -> PageImage:
        """The image a :attr:`uri` names; ValueError when it names none."""
        m = _IMAGE_URI.fullmatch(uri.strip())
        if m is None:
            msg = f"{uri!r} is not a page image's URI (docagent://pages/<version>/<page>.png, as search results give them)"
            raise ValueError(msg)
        return cls(m.group(1), int(m.group(2)), source)

    def _source(self) -> PageImages:
        if self.source is None:
            msg = f"{self.uri} is not tied to a store: open the store and ask it (PageStore.image_bytes)"
            raise ValueError(msg)
        return self.source

    def read_bytes(self) -> bytes:
        """The PNG's bytes."""
        if self.file is not None:
            with contextlib.suppress(FileNotFoundError):
                return self.file.read_bytes()
        return self._source().image_bytes(self)

    def path(self) -> Path:
        """A file on this machine holding the PNG (the blob store's folder, or this machine's cache of S3 storage)."""
        if self.file is not None and self.file.exists():
            return self.file
        return self._source().image_file(self)

    def drawn(self) -> PageImage:
        """This image, drawn (or fetched) now onto this machine: readable from its file from then on."""
        return PageImage(self.doc_id, self.page, self.source, self.path())

    def __fspath__(self) -> str:
        return str(self.path())

    def __str__(self) -> str:
        return self.uri


def page_name(number: int, label: str = "") -> str:
    """``page 52``, or ``page 52 (printed 50)`` when the page prints another label."""
    return f"page {number}" + (f" (printed {label})" if label and label != str(number) else "")


@dataclass(frozen=True, slots=True)
class PageHit:
    """A page found by a search, with the passage that matched."""

    doc: str
    page: int
    score: float
    text: str
    """The matching passage."""
    image: PageImage
    """The page's PNG (drawn on first use; bytes from the store on any machine)."""
    doc_id: str = ""
    passage: tuple[int, int] = (0, 0)
    """Character span of the passage in the page text."""
    ranks: dict[str, int] = field(default_factory=dict)
    """The page's rank in each ranking that found it (``dense``, ``lexical``)."""
    title: str = ""
    """The page's title (its own, running headers left out), when it has one."""
    label: str = ""
    """The page's printed label (:attr:`Page.label`), when it has one."""

    def to_json(self) -> dict[str, Any]:
        return {"doc": self.doc, "page": self.page, "page_label": self.label, "score": round(self.score, 6),
                "title": self.title, "text": self.text, "image": self.image.uri}


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
    refused: list[str] = field(default_factory=list)
    """Files not indexed because a document of their name already is and the run was told not to replace any
    (``replace=False``), checked when the new version would have been written: of two machines adding one new name at
    once, one wins and the other is refused."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per stage: hash, convert, load, text, ocr, render, tables (finding them), identity, embed, write."""

    def to_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "pages": self.pages,
            "ocr_pages": self.ocr_pages,
            "skipped": self.skipped,
            "failed": [asdict(f) for f in self.failed],
            "refused": list(self.refused),
        }


@dataclass(slots=True)
class Citation:
    """A page that supports an answer, with the boxes (page-image pixels) of the words that do."""

    doc: str
    page: int
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    image: PageImage | None = None
    """The page image the boxes refer to."""
    answer_box: tuple[int, int, int, int] | None = None
    """Retrieval-only: the located answer on this page (also the first of ``boxes``; the rest mark the
    question's words around it)."""
    page_label: str = ""
    """The page's printed label (:attr:`Page.label`), when it has one."""

    def to_json(self) -> dict[str, Any]:
        return {"doc": self.doc, "page": self.page, "page_label": self.page_label, "boxes": [list(b) for b in self.boxes],
                "answer_box": list(self.answer_box) if self.answer_box else None,
                "image": self.image.uri if self.image is not None else None}

    @classmethod
    def from_json(cls, data: dict[str, Any], images: PageImages | None = None) -> Citation:
        """A citation back from :meth:`to_json`; its image bound to ``images`` (the store) when given."""
        image = data.get("image")
        return cls(str(data["doc"]), int(data["page"]), [_box(b) for b in data.get("boxes", [])],
                   PageImage.from_uri(image, images) if image else None,
                   _box(data["answer_box"]) if data.get("answer_box") else None, str(data.get("page_label", "")))

    def __getitem__(self, key: str) -> Any:
        """``citation["doc"]``, ``["page"]``, ``["boxes"]``: as its JSON has them. The agent's citations were
        such dicts before they were Citations; code written then keeps working."""
        return self.to_json()[key]


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
    """``value`` (an amount, date, number or name printed next to the question's key words), ``sentence`` (the
    sentence that answers best) or ``computed`` (arithmetic the question asks for in words over a found table's
    cells, computed exactly; ``box`` is around the cells read)."""
    score: float = 0.0
    """How strongly the page supports it (0..1): the evidence test's score."""
    basis: str = ""
    """How it was found: ``label`` (printed right after the question's words on its line), ``label apart`` (a word or
    more between), ``label above`` (under them), ``nearby`` (near them), ``line`` (the line carrying most of the
    question), ``table cell`` (the cell the question names by row and column), ``computed``."""
    confidence: float | None = None
    """How often a lead found this way is right, measured (docagent.tasks.locate.LEAD_CONFIDENCE); None when
    unmeasured."""
    needs_review: bool = False
    """A possible answer to check rather than the answer: its confidence is below
    ``docagent.tasks.locate.LEAD_REVIEW_BELOW``."""

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "doc": self.doc, "page": self.page, "box": list(self.box), "kind": self.kind,
                "score": round(self.score, 3), "basis": self.basis,
                "confidence": round(self.confidence, 3) if self.confidence is not None else None,
                "needs_review": self.needs_review}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AnswerSpan:
        confidence = data.get("confidence")
        return cls(str(data["text"]), str(data["doc"]), int(data["page"]), _box(data["box"]), str(data.get("kind", "value")),
                   float(data.get("score", 0.0)), str(data.get("basis", "")),
                   float(confidence) if confidence is not None else None, bool(data.get("needs_review", False)))


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
            "pages": [{"doc": p.doc, "page": p.page, "page_label": p.label, "score": round(p.score, 6)} for p in self.pages],
            "timings_ms": {k: round(v, 1) for k, v in self.timings.items()},
            "notice": self.notice,
            "evidence_images": [str(p) for p in self.evidence_images],
        }

    @classmethod
    def from_json(cls, question: str, data: dict[str, Any], images: PageImages | None = None, *,
                  model_reply: str = "") -> Answer:
        """An answer back from :meth:`to_json` (which leaves out the question and the model's own words) for showing
        again: its text, citations (images bound to ``images``), located value and reasons. The pages consulted
        come back as citations only."""
        span = data.get("answer_span")
        return cls(question, str(data["answer"]), str(data["mode"]), bool(data["abstained"]),
                   [Citation.from_json(c, images) for c in data.get("citations", [])],
                   notice=str(data.get("notice", "")), model_reply=model_reply,
                   answer_span=AnswerSpan.from_json(span) if span else None, reason=str(data.get("reason", "")))


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
