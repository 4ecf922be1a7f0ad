"""Tables with known structure, drawn by PyMuPDF onto real PDF pages (and rasterised into scans): the one
generator that ``tests/test_tables.py`` and ``benchmarks/tables.py`` share.

A :class:`TableSpec` is what a table says (title, header rows with spans, body rows); :func:`draw_table` prints
it at a place on a page in a :class:`Style` (ruled or not, wrapped labels, where the values sit); its gold
label is :meth:`TableSpec.label`, in the format of ``docagent.evaluation.tables``."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymupdf
from PIL import Image, ImageFilter

PAGE_W, PAGE_H = 595.0, 842.0
MARGIN = 56.0


@dataclass
class TableSpec:
    """A table's content. ``header`` rows hold one text per column (column 0 usually empty); ``spans`` maps
    ``(header row, first column)`` to how many columns that header cell spans (its text is written in every one
    of them in ``header``, as the label format wants)."""

    header: list[list[str]]
    rows: list[list[str]]
    title: str = ""
    spans: dict[tuple[int, int], int] = field(default_factory=dict)
    kind: str = "plain"
    """The variety, for breakdowns (``ruled``, ``spanning``, ``multiline`` ...)."""

    @property
    def cols(self) -> int:
        return len(self.rows[0])

    def label(self, doc: str, page: int, rows: slice = slice(None), header: bool = True,
              continued: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"doc": doc, "page": page, "header": self.header if header else [], "rows": self.rows[rows]}
        if continued:
            out["continued_from_previous"] = True
        if self.title:
            out["title"] = self.title
        out["kind"] = self.kind
        return out


@dataclass
class Style:
    font: str = "helv"
    size: float = 9.0
    ruled: str = "none"
    """``none``, ``grid`` (every cell boxed) or ``rules`` (lines above and below the header and at the bottom)."""
    label_width: float = 170.0
    col_width: float = 70.0
    values_on: str = "first"
    """Line of a wrapped label the values sit on: ``first`` or ``last``."""
    row_gap: float = 3.0
    """Points between rows, beyond the line height."""


_FONTS: dict[str, pymupdf.Font] = {}


def _font(name: str) -> pymupdf.Font:
    """A Unicode font (``€``, ``—`` and ``−`` print as themselves, unlike the base-14 encodings)."""
    if name not in _FONTS:
        _FONTS[name] = pymupdf.Font(name)
    return _FONTS[name]


def _text_width(text: str, style: Style) -> float:
    return _font(style.font).text_length(text, style.size)


def _wrap(text: str, width: float, style: Style) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and _text_width(lines[-1] + " " + word, style) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def draw_table(page: pymupdf.Page, spec: TableSpec, x: float, y: float, style: Style,
               rows: slice = slice(None), header: bool = True) -> float:
    """Print ``spec`` (its ``rows`` slice, with or without its header) with its top-left at ``(x, y)``; returns the
    y below it. The title, when there is one and the header is printed, goes above the table."""
    lh = style.size * 1.25
    widths = [style.label_width] + [style.col_width] * (spec.cols - 1)
    lefts = [x + sum(widths[:k]) for k in range(spec.cols)]
    right = x + sum(widths)
    pad = 4.0
    writer = pymupdf.TextWriter(page.rect)
    font = _font(style.font)

    def put(at: tuple[float, float], text: str, size: float = style.size) -> None:
        writer.append(at, text, font=font, fontsize=size)

    if spec.title and header:
        put((x, y + style.size), spec.title, style.size + 1.5)
        y += lh * 1.9
    top = y
    hlines: list[float] = [y]
    if header:
        for r, row in enumerate(spec.header):
            k = 0
            cell_lines: list[tuple[int, int, list[str]]] = []
            while k < spec.cols:
                span = spec.spans.get((r, k), 1)
                width = sum(widths[k:k + span]) - 2 * pad
                cell_lines.append((k, span, _wrap(row[k], width, style) if row[k] else []))
                k += span
            depth = max(len(ls) for _, _, ls in cell_lines) or 1
            for k, span, ls in cell_lines:
                for i, text in enumerate(ls):
                    base = y + (depth - len(ls) + i + 1) * lh - (lh - style.size) / 2
                    w = _text_width(text, style)
                    if k == 0:
                        px = lefts[0] + pad
                    elif span > 1:
                        px = (lefts[k] + lefts[k] + sum(widths[k:k + span])) / 2 - w / 2
                    else:
                        px = lefts[k] + widths[k] - pad - w
                    put((px, base), text)
                if span > 1 and style.ruled != "grid":
                    uy = y + depth * lh + 1.0
                    page.draw_line((lefts[k] + pad, uy), (lefts[k] + sum(widths[k:k + span]) - pad, uy), width=0.5)
            y += depth * lh + style.row_gap
            hlines.append(y)
    for row in spec.rows[rows]:
        label = _wrap(row[0], style.label_width - 2 * pad, style)
        at = 0 if style.values_on == "first" else len(label) - 1
        for i, text in enumerate(label):
            put((lefts[0] + pad + (8 if i else 0), y + (i + 1) * lh - (lh - style.size) / 2), text)
        for k in range(1, spec.cols):
            text = row[k]
            if text:
                w = _text_width(text, style)
                put((lefts[k] + widths[k] - pad - w, y + (at + 1) * lh - (lh - style.size) / 2), text)
        y += len(label) * lh + style.row_gap
        hlines.append(y)
    if style.ruled == "grid":
        for hy in hlines:
            page.draw_line((x, hy - style.row_gap / 2), (right, hy - style.row_gap / 2), width=0.6)
        for vx in [*lefts, right]:
            page.draw_line((vx, top - style.row_gap / 2), (vx, y - style.row_gap / 2), width=0.6)
    elif style.ruled == "rules":
        marks = [top - 1, y]
        if header and spec.header:
            marks.append(hlines[len(spec.header)] - style.row_gap / 2)
        for hy in marks:
            page.draw_line((x, hy), (right, hy), width=0.8)
    writer.write_text(page)
    return y


# -- content ----------------------------------------------------------------------------------------------------

_LABELS = ("Revenue", "Cost of sales", "Gross profit", "Research and development", "Selling, general and administrative",
           "Operating income", "Interest expense", "Other income (expense), net", "Income before taxes",
           "Provision for income taxes", "Net income", "Depreciation and amortisation", "Capital expenditures",
           "Cash and cash equivalents", "Accounts receivable", "Inventories", "Goodwill", "Total assets",
           "Long-term debt", "Shareholders' equity", "Employees", "Dividends paid", "Share repurchases",
           "Free cash flow", "Backlog", "Order intake", "Net debt", "Customer deposits")
_LONG_LABELS = ("Purchases of property, plant and equipment and other intangible assets",
                "Net cash provided by operating activities of continuing operations",
                "Effect of exchange rate changes on cash and cash equivalents held abroad",
                "Amortisation of acquired intangible assets and other purchase accounting items",
                "Proceeds from the sale of discontinued operations, net of cash disposed")
_REGIONS = ("North America", "Europe", "Asia Pacific", "Latin America", "Middle East", "Africa", "Nordics", "Japan")
_PRODUCTS = ("Widgets", "Gadgets", "Sprockets", "Services", "Licences", "Hardware", "Spare parts", "Consulting")
_WORDS = ("the", "report", "group", "quarter", "growth", "market", "costs", "results", "customers", "during", "while",
          "segment", "increase", "compared", "prior", "year", "mainly", "due", "higher", "volumes", "pricing", "lower",
          "energy", "expenses", "our", "strategy", "continued", "to", "and", "in", "of", "for", "with", "was", "were")


def sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 16))]
    return " ".join(words).capitalize() + "."


def prose(rng: random.Random, sentences: int) -> str:
    return " ".join(sentence(rng) for _ in range(sentences))


def value(rng: random.Random, kind: str) -> str:
    """A cell value printed the way reports print it."""
    n = rng.randint(1, 99999) if rng.random() < 0.6 else rng.randint(1, 999)
    if kind == "percent":
        return f"{rng.uniform(-30, 80):.1f}%"
    if kind == "currency":
        sym = rng.choice(("$", "€", "£"))
        return f"{sym}{n:,}" if rng.random() < 0.7 else f"{sym}{rng.uniform(1, 999):.2f}"
    if kind == "decimal":
        return f"{rng.uniform(0, 500):,.2f}"
    if rng.random() < 0.2:
        return f"({n:,})"
    if rng.random() < 0.05:
        return "—"
    return f"{n:,}"


def random_table(rng: random.Random, kind: str) -> TableSpec:
    """A table of ``kind``: ``plain``, ``spanning``, ``multiline``, ``negatives``, ``totals``, ``percent``,
    ``currency``, ``scaled``, ``text`` (words in the cells), ``empty`` (some empty cells), ``multihead``
    (headers of two lines)."""
    ncols = rng.randint(3, 6) if kind != "spanning" else rng.choice((5, 7))
    nrows = rng.randint(3, 9)
    labels = rng.sample(_LABELS, nrows) if kind not in ("text",) else rng.sample(_REGIONS, min(nrows, len(_REGIONS)))
    nrows = len(labels)
    if kind == "multiline":
        for i in rng.sample(range(nrows), min(nrows, rng.randint(1, 3))):
            labels[i] = rng.choice(_LONG_LABELS)
    year = rng.randint(2005, 2023)
    header: list[list[str]] = [[""] + [str(year - k) for k in range(ncols - 1)]]
    spans: dict[tuple[int, int], int] = {}
    if kind == "spanning":
        quarters = ["Q1", "Q2", "Q3"][: (ncols - 1) // 2] if ncols == 7 else ["H1", "H2"]
        q = len(quarters)
        groups = (ncols - 1) // q
        top = [""]
        for g in range(groups):
            top += [str(year - g)] * q
            spans[(0, 1 + g * q)] = q
        header = [top, [""] + quarters * groups]
    elif kind == "multihead":
        heads = ["Three months ended June 30", "Six months ended June 30", "Nine months ended", "Full year to date",
                 "Change in constant currency"]
        header = [[""] + [f"{rng.choice(heads)} {year - k}" for k in range(ncols - 1)]]
    elif kind == "text":
        header = [["Region", "Manager", "Office", "Status", "Segment", "Channel"][:ncols]]
    elif rng.random() < 0.3:
        header[0][0] = rng.choice(("Item", "Line item", "Metric"))
    vkind = {"percent": "percent", "currency": "currency"}.get(kind, "plain")
    rows = []
    for lab in labels:
        if kind == "text":
            row = [lab] + [rng.choice(("Open", "Closed", "Pending", "A. Smith", "B. Jones", "Berlin", "Paris", "Retail",
                                       "Online", "Direct", "Partner"))
                           for _ in range(ncols - 1)]
        else:
            row = [lab] + [value(rng, vkind) for _ in range(ncols - 1)]
            if kind == "negatives":
                row[rng.randrange(1, ncols)] = f"({rng.randint(1, 9999):,})"
        rows.append(row)
    if kind == "empty":
        for row in rows:
            if rng.random() < 0.6:
                row[rng.randrange(2, ncols) if ncols > 2 else 1] = ""
    if kind == "totals":
        rows.append(["Total"] + [f"{rng.randint(10000, 999999):,}" for _ in range(ncols - 1)])
    title = rng.choice(("Consolidated statement of income", "Segment results", "Selected financial data",
                        "Revenue by region", "Key figures", "Table 3: Operating metrics", "Cash flow summary"))
    if kind == "scaled":
        title += rng.choice((" (in millions)", " (in thousands of euros)", " ($ in billions)", " (in millions of USD)"))
    return TableSpec(header, rows, title, spans, kind)


KINDS = ("plain", "spanning", "multiline", "negatives", "totals", "percent", "currency", "scaled", "text", "empty",
         "multihead")


def random_style(rng: random.Random, spec: TableSpec) -> Style:
    font = rng.choice(("helv", "tiro", "helv"))
    size = rng.choice((8.0, 9.0, 10.0))
    ruled = rng.choice(("none", "grid", "rules"))
    col = 66.0 if spec.cols <= 5 else 58.0
    label = min(PAGE_W - 2 * MARGIN - col * (spec.cols - 1), rng.uniform(150, 210))
    return Style(font, size, ruled, label, col, rng.choice(("first", "last")), rng.choice((2.0, 3.0, 5.0)))


def _paragraph(page: pymupdf.Page, text: str, y: float, size: float = 10.0) -> float:
    box = pymupdf.Rect(MARGIN, y, PAGE_W - MARGIN, y + 200)
    used = page.insert_textbox(box, text, fontsize=size, fontname="helv")
    return y + 200 - used + 6 if used >= 0 else y


@dataclass
class GeneratedDoc:
    path: Path
    labels: list[dict[str, Any]]


def _scratch() -> pymupdf.Page:
    """A page to measure a table on before printing it where it belongs."""
    return pymupdf.open().new_page(width=PAGE_W, height=PAGE_H)


def _two_page_table(doc: pymupdf.Document, name: str, spec: TableSpec, style: Style, rng: random.Random, *,
                    repeat: bool, labels: list[dict[str, Any]]) -> None:
    """``spec`` made longer and printed at the foot of a new page below prose, running on to the top of the next
    page (its header printed again when ``repeat``), prose after it; the two parts' labels added to ``labels``."""
    spec.kind = "two-page-repeated" if repeat else "two-page"
    extra = random_table(rng, "plain")
    for r in extra.rows[:4]:
        spec.rows.append([r[0]] + [value(rng, "plain") for _ in range(spec.cols - 1)])
    for r in spec.rows:  # one line per label: where the page breaks stays plain
        if len(r[0]) > 40:
            r[0] = r[0][:30].rsplit(" ", 1)[0]
    fits = rng.randint(2, len(spec.rows) - 2)
    height = draw_table(_scratch(), spec, MARGIN, 0, style, rows=slice(0, fits))
    page = doc.new_page(width=PAGE_W, height=PAGE_H)
    top = PAGE_H - MARGIN - height
    y = MARGIN
    while True:
        box = pymupdf.Rect(MARGIN, y, PAGE_W - MARGIN, top - 14)
        used = page.insert_textbox(box, prose(rng, 2), fontsize=10, fontname="helv") if box.height > 30 else -1
        if used < 0:
            break
        y = top - 14 - used + 4
    draw_table(page, spec, MARGIN, top, style, rows=slice(0, fits))
    labels.append(spec.label(name, page.number + 1, slice(0, fits)) | {"ruled": style.ruled})
    page = doc.new_page(width=PAGE_W, height=PAGE_H)
    rest = TableSpec(spec.header, spec.rows, "", spec.spans, spec.kind)
    y = draw_table(page, rest, MARGIN, MARGIN, style, rows=slice(fits, None), header=repeat)
    labels.append(spec.label(name, page.number + 1, slice(fits, None), header=repeat, continued=not repeat)
                  | {"ruled": style.ruled, "title": ""})
    _paragraph(page, prose(rng, 4), y + 14)


def table_document(path: Path, seed: int, tables: int = 3) -> GeneratedDoc:
    """A born-digital PDF of prose with ``tables`` random tables between the paragraphs (one or two a page),
    the last one broken across a page (with or without its header repeated) every other document; its gold
    labels in the label format."""
    rng = random.Random(seed)
    doc = pymupdf.open()
    name = path.name
    labels: list[dict[str, Any]] = []
    page = doc.new_page(width=PAGE_W, height=PAGE_H)
    y = _paragraph(page, prose(rng, rng.randint(2, 5)), MARGIN)
    split_last = seed % 2 == 0
    for t in range(tables):
        last = t == tables - 1 and split_last
        spec = random_table(rng, rng.choice([k for k in KINDS if k not in ("text", "multiline")] if last else KINDS))
        style = random_style(rng, spec)
        if last:
            _two_page_table(doc, name, spec, style, rng, repeat=seed % 4 == 0, labels=labels)
            break
        height = draw_table(_scratch(), spec, MARGIN, 0, style)
        if y + 12 + height > PAGE_H - MARGIN:
            page = doc.new_page(width=PAGE_W, height=PAGE_H)
            y = _paragraph(page, prose(rng, rng.randint(1, 3)), MARGIN)
        y = draw_table(page, spec, MARGIN, y + 12, style)
        labels.append(spec.label(name, page.number + 1) | {"ruled": style.ruled})
        y = _paragraph(page, prose(rng, rng.randint(1, 4)), y + 12)
    doc.save(path)
    doc.close()
    return GeneratedDoc(path, labels)


def scan_of(pdf: Path, out: Path, seed: int, dpi: int = 170) -> Path:
    """An image-only PDF of ``pdf``'s pages as a scanner gives them: rasterised at ``dpi``, turned by less than
    half a degree, slightly blurred, with speckle noise."""
    rng = random.Random(seed)
    src = pymupdf.open(pdf)
    dst = pymupdf.open()
    for page in src:
        pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
        img = Image.frombytes("L", (pix.width, pix.height), pix.samples)
        img = img.rotate(rng.uniform(-0.4, 0.4), resample=Image.Resampling.BICUBIC, fillcolor=255, expand=False)
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.7)))
        noise = Image.effect_noise(img.size, rng.uniform(8, 16))
        img = Image.blend(img, noise, 0.06)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        new = dst.new_page(width=page.rect.width, height=page.rect.height)
        new.insert_image(new.rect, stream=buf.getvalue())
    dst.save(out)
    dst.close()
    src.close()
    return out


# -- pages that hold no table -----------------------------------------------------------------------------------

def non_table_pages(path: Path, seed: int = 0) -> Path:
    """Four pages that must give no table: prose with a running header and footer, a bullet and a numbered list,
    two-column prose, and a key: value form."""
    rng = random.Random(seed)
    doc = pymupdf.open()
    page = doc.new_page(width=PAGE_W, height=PAGE_H)
    page.insert_text((MARGIN, 30), "Annual Report 2019", fontsize=8)
    page.insert_text((PAGE_W - MARGIN - 40, 30), "Page 3", fontsize=8)
    y = MARGIN
    for _ in range(5):
        y = _paragraph(page, prose(rng, 6), y)
    page.insert_text((MARGIN, PAGE_H - 30), "Example Corp.", fontsize=8)
    page.insert_text((PAGE_W / 2, PAGE_H - 30), "Confidential", fontsize=8)
    page.insert_text((PAGE_W - MARGIN - 20, PAGE_H - 30), "3", fontsize=8)

    page = doc.new_page(width=PAGE_W, height=PAGE_H)
    y = MARGIN
    for i in range(12):
        marker = "•" if i < 6 else f"{i - 5}."
        page.insert_text((MARGIN + 10, y + 10), marker, fontsize=10)
        used = page.insert_textbox(pymupdf.Rect(MARGIN + 30, y, PAGE_W - MARGIN, y + 60), sentence(rng), fontsize=10)
        y += 60 - used + 4

    page = doc.new_page(width=PAGE_W, height=PAGE_H)
    half = (PAGE_W - 2 * MARGIN - 20) / 2
    for c in range(2):
        x = MARGIN + c * (half + 20)
        page.insert_textbox(pymupdf.Rect(x, MARGIN, x + half, PAGE_H - MARGIN), prose(rng, 30), fontsize=10, align=3)

    page = doc.new_page(width=PAGE_W, height=PAGE_H)
    fields = [("Name:", "Jane Smith"), ("Date of birth:", "12/03/1984"), ("Account number:", "4411 2093 1187"),
              ("Amount:", "$1,250.00"), ("Policy:", "HX-2231"), ("Phone:", "+44 20 7946 0958"), ("City:", "Leeds"),
              ("Reference:", "2019-0042")]
    y = MARGIN
    for key, val in fields:
        page.insert_text((MARGIN, y), key, fontsize=10)
        page.insert_text((MARGIN + 150, y), val, fontsize=10)
        y += 24
    doc.save(path)
    doc.close()
    return path
