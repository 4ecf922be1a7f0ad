"""HTML, Markdown and plain text, rendered to paged PDF by PyMuPDF's Story (no LibreOffice).

    source = MarkupSource(Path("notes.md"), "markdown")   # a PdfSource over the rendering
    source.read_page(0).doc                               # "notes.md": citations name the original file

Markdown becomes HTML through markdown-it-py (CommonMark, with tables and strikethrough); plain text
becomes preformatted paragraphs whose long lines wrap. Every HTML then passes a cleaner before MuPDF
lays it out on A4 pages: scripts, frames, objects and their contents are dropped (never run, never
indexed), and so is anything that names an outside resource (``<link>``, ``<base>``, ``<meta>``, an
``<img>`` whose ``src`` is not a ``data:`` URL, ``style`` attributes, ``srcset``), so nothing is ever
fetched or read from disk; links (``<a href>``) are kept as PDF links, headings become the outline, and
``<title>`` the title. The store keeps the rendering as the document's file copy, so page images are
drawn from it later, with the page numbers citations give.

Bounds: at most :data:`MAX_MARKUP_BYTES` of input, and laying out stops as soon as the rendering
passes ``max_pages``. Long inputs are laid out in pieces (MuPDF's layout time grows with the square of
one piece's length): text every few hundred lines, Markdown between top-level blocks, HTML between
the children of ``<body>`` where no container (``div``, ``table``, list ...) is open.
"""

from __future__ import annotations

import codecs
import html
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pymupdf

from docagent.errors import EmptyDocumentError, UnsupportedFileError
from docagent.ingest.base import open_regular, read_bounded
from docagent.ingest.formats import decode_text
from docagent.ingest.pdf import _LOCK, PdfSource

__all__ = ["MAX_MARKUP_BYTES", "MarkupSource", "Placed", "clean_html", "markdown_html", "text_html"]

MAX_MARKUP_BYTES = 8 << 20
"""Larger HTML, Markdown and text files are refused (8 MiB of text is about 2,300 pages)."""

PAGE = pymupdf.paper_rect("a4")
MARGIN = 56.0
"""Points of white space around the text of a page (2 cm)."""

NEW_PAGE = "<!--new page-->"
"""A piece of HTML that starts with this starts on a new page (:func:`render_pdf`)."""

PIECE_CHARS = 64_000
"""Characters of HTML laid out as one piece where the input can be cut."""

CSS = """
body { font-family: sans-serif; font-size: 11pt; }
pre, code { font-family: monospace; }
pre { white-space: pre-wrap; font-size: 9.5pt; }
pre.text { margin: 0; }
table { border-collapse: collapse; }
td, th { border: 0.5pt solid #888; padding: 2pt 4pt; }
"""

_KINDS = {"html": "HTML page", "markdown": "Markdown file", "text": "text file"}


class MarkupSource(PdfSource):
    """An HTML, Markdown or text file (``kind``: ``html``, ``markdown``, ``text``) read as its PDF rendering."""

    stored_suffix = ".pdf"
    rendered = True

    def __init__(self, path: Path, kind: str, *, max_pages: int | None = None) -> None:
        text = read_text(path, kind)
        if not text.strip():
            raise EmptyDocumentError(path, f"the {_KINDS[kind]} has no text")
        if kind == "markdown":
            pieces, css, title = markdown_html(text)
        elif kind == "html":
            pieces, css, title = clean_html(text)
        else:
            pieces, css, title = text_html(text), "", ""
        if not any(_visible(p) for p in pieces):
            raise EmptyDocumentError(path, f"the {_KINDS[kind]} shows no text")
        self._pdf = render_pdf(path, pieces, CSS + css, title, max_pages)
        super().__init__(path, max_pages=max_pages, data=self._pdf)
        self.kind = kind

    def copy_to(self, target: Path) -> None:
        target.write_bytes(self._pdf)


_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def html_charset(data: bytes) -> str | None:
    """The encoding an HTML page declares (``<meta charset="windows-1251">`` or its http-equiv form) in its first
    4 KiB, when Python knows it."""
    match = _META_CHARSET.search(data[:4096])
    if match is None:
        return None
    try:
        return codecs.lookup(match.group(1).decode("ascii")).name
    except LookupError:
        return None


def read_text(path: Path, kind: str = "text") -> str:
    """The whole file as text, at most :data:`MAX_MARKUP_BYTES`; binary content is refused. An HTML page's
    declared encoding is honoured when the bytes are not UTF-8 (or carry a BOM)."""
    with open_regular(path) as (f, size):
        if size > MAX_MARKUP_BYTES:
            msg = (f"the file holds {size / (1 << 20):.1f} MiB of text, more than the "
                   f"{MAX_MARKUP_BYTES >> 20} MiB docagent renders; split it, or save it as PDF")
            raise UnsupportedFileError(path, msg)
        data = b"".join(read_bounded(f, size))
    declared = html_charset(data) if kind == "html" else None
    if declared and declared not in ("utf-8", "utf-16", "utf-32") and not data.startswith(
            (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode(declared, errors="replace")
            return text.replace("\r\n", "\n").replace("\r", "\n")
    decoded = decode_text(data)
    if decoded is None:
        msg = "its content starts as text but turns into binary data further on; save it as PDF or plain text"
        raise UnsupportedFileError(path, msg)
    return decoded.replace("\r\n", "\n").replace("\r", "\n")


# -- to HTML ------------------------------------------------------------------------------------------

_LONG = re.compile(r"\S{60,}")


def _breakable(text: str) -> str:
    """Runs of 60 or more characters without a space (URLs, hashes) get a zero-width space every 40, so they
    wrap instead of running off the page."""
    return _LONG.sub(lambda m: "\u200b".join(m.group(0)[i:i + 40] for i in range(0, len(m.group(0)), 40)), text)


def text_html(text: str, lines_per_piece: int = 400) -> list[str]:
    """Plain text as preformatted pieces: tabs expanded, long lines wrapped, every character shown as itself."""
    lines = [_breakable(line.expandtabs(8)) for line in text.split("\n")]
    return [f'<pre class="text">{html.escape(chr(10).join(lines[i:i + lines_per_piece]))}\n</pre>'
            for i in range(0, len(lines), lines_per_piece)]


def markdown_html(text: str) -> tuple[list[str], str, str]:
    """Markdown as HTML pieces cut between top-level blocks, then cleaned (raw HTML in it is cleaned too):
    ``(pieces, css, title)``."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    env: dict = {}
    tokens = md.parse(text, env)
    pieces, css, start, size = [], [], 0, 0
    for i, token in enumerate(tokens):
        size += len(token.content)
        if token.level == 0 and token.nesting <= 0 and (size >= PIECE_CHARS or i == len(tokens) - 1):
            cleaned, style, _ = clean_html(md.renderer.render(tokens[start:i + 1], md.options, env))
            pieces += cleaned
            css.append(style)
            start, size = i + 1, 0
    return pieces, "\n".join(css), ""


_DROP_WITH_CONTENT = frozenset({"script", "template", "iframe", "frame", "frameset", "object", "embed", "applet",
                                "noembed", "canvas", "audio", "video", "svg", "math"})
"""Elements dropped with everything inside them."""
_DROP_TAG = frozenset({"link", "meta", "base", "source", "track", "picture", "input", "html", "head", "body", "title",
                       "style", "noscript", "param"})
"""Elements dropped, their content kept (``title`` and ``style`` are read apart)."""
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                   "track", "wbr"})
_CONTAINERS = frozenset({"div", "section", "article", "main", "header", "footer", "nav", "aside", "table", "ul",
                         "ol", "dl", "blockquote", "pre", "figure", "form", "details", "center", "fieldset"})
"""Elements that must be closed before a piece may end."""
_BLOCKS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "hr", *_CONTAINERS})
_KEEP_ATTRS = frozenset({"id", "class", "colspan", "rowspan", "align", "alt", "title", "start", "type", "lang",
                         "dir", "width", "height"})
_LINK_SCHEMES = ("http:", "https:", "mailto:", "ftp:", "#")


class _Cleaner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[list[str]] = [[]]
        self.size = 0
        self.css: list[str] = []
        self.title: list[str] = []
        self._skip: list[str] = []  # open elements dropped with their content
        self._open: list[str] = []  # open containers and pre
        self._in: str | None = None  # "title" or "style" while reading one

    def _out(self, text: str) -> None:
        self.pieces[-1].append(text)
        self.size += len(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, tag not in _VOID)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, False)

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], opens: bool) -> None:
        if self._skip:
            if opens and tag == self._skip[-1]:
                self._skip.append(tag)
            return
        if tag in _DROP_WITH_CONTENT:
            if opens:
                self._skip.append(tag)
            return
        if tag in ("title", "style"):
            self._in = tag if opens else None
            return
        if tag in _DROP_TAG:
            return
        kept = []
        for name, value in attrs:
            value = value or ""
            if name in _KEEP_ATTRS:
                kept.append((name, value))
            elif (name == "href" and tag == "a" and value.strip().lower().startswith(_LINK_SCHEMES)) or (name == "src" and tag == "img" and value.strip().lower().startswith("data:image/")):
                kept.append((name, value.strip()))
        if tag == "img":
            src = next((value for name, value in kept if name == "src"), None)
            if src is None:
                return  # an image from elsewhere: never fetched, so not shown
            size = _image_size(src)
            if size is None:
                return  # unreadable, or a decompression bomb
            kept = [(name, value) for name, value in kept if name not in ("width", "height", "src")]
            kept += [("src", src), ("style", size)]
        if tag in _BLOCKS and not self._open and self.size >= PIECE_CHARS:
            self.pieces.append([])
            self.size = 0
        if tag in _CONTAINERS and opens:
            self._open.append(tag)
        shown = "".join(f' {name}="{html.escape(value)}"' for name, value in kept)
        self._out(f"<{tag}{shown}>")

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.pop()
            return
        if tag in ("title", "style"):
            self._in = None
            return
        if tag in _DROP_WITH_CONTENT or tag in _DROP_TAG or tag in _VOID:
            return
        if tag in self._open:
            while self._open.pop() != tag:
                pass
        self._out(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in == "title":
            self.title.append(data)
        elif self._in == "style":
            self.css.append(data)
        else:
            self._out(html.escape(_breakable(data), quote=False))


def _image_size(src: str) -> str | None:
    """A ``data:`` image's size as CSS, its pixels read as CSS pixels, scaled down to fit a page with room to spare
    (MuPDF fits a larger image to the page and then loses what follows it). None for an image Pillow cannot
    read, or one of more than MAX_IMAGE_PIXELS (a decompression bomb: MuPDF would decode it whole)."""
    import base64
    import binascii
    import warnings

    from PIL import Image

    from docagent.ingest.images import MAX_IMAGE_PIXELS

    head, _, payload = src.partition(",")
    if not head.endswith(";base64"):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(base64.b64decode(payload, validate=False))) as image:
                pixels_w, pixels_h = image.size
    except (OSError, ValueError, binascii.Error, Image.DecompressionBombError, SyntaxError):
        return None
    if pixels_w * pixels_h > MAX_IMAGE_PIXELS or not pixels_w or not pixels_h:
        return None
    width, height = pixels_w * 0.75, pixels_h * 0.75
    room_w, room_h = PAGE.width - 2 * MARGIN - 8, (PAGE.height - 2 * MARGIN) * 0.8
    scale = min(1.0, room_w / width, room_h / height)
    return f"width:{width * scale:.1f}pt;height:{height * scale:.1f}pt"


def clean_html(source: str) -> tuple[list[str], str, str]:
    """HTML without scripts or outside resources, cut into pieces: ``(pieces, css, title)`` (see the module)."""
    cleaner = _Cleaner()
    cleaner.feed(source)
    cleaner.close()
    pieces = ["".join(p) for p in cleaner.pieces if p]
    css = re.sub(r"@import[^;]*;?|url\([^)]*\)", "", "\n".join(cleaner.css))  # nothing to fetch, even in theory
    return pieces, css, " ".join(" ".join(cleaner.title).split())


def _visible(piece: str) -> bool:
    text = html.unescape(re.sub(r"<[^>]*>", "", piece))
    return bool(re.sub(r"[\s\u200b]", "", text)) or "<img" in piece


# -- to PDF -------------------------------------------------------------------------------------------


def render_pdf(path: Path, pieces: list[str], css: str, title: str, max_pages: int | None,
               page_rect: pymupdf.Rect = PAGE, embed: Callable[[list[Placed]], dict[str, bytes]] | None = None) -> bytes:
    """The pieces laid out one after the other on pages (A4 unless ``page_rect`` says otherwise), with links,
    outline and title. ``embed``: files to carry inside the PDF, made from where every element with an ``id``
    was placed (a spreadsheet's cells: docagent.ingest.office)."""
    where = page_rect + (MARGIN, MARGIN, -MARGIN, -MARGIN)
    positions: list[Placed] = []
    with _LOCK:
        out = io.BytesIO()
        writer = pymupdf.DocumentWriter(out)
        page, device, top = 0, None, where.y1  # top: where the next piece starts on the current page
        for piece in pieces:
            if piece.startswith(NEW_PAGE) and device is not None and top > where.y0:
                top = where.y1  # this piece starts a page of its own
            story = pymupdf.Story(html=piece, user_css=css)
            more = True
            while more:
                if device is None or top >= where.y1 - 12:
                    if device is not None:
                        writer.end_page()
                    page += 1
                    if max_pages is not None and page > max_pages:
                        writer.close()
                        msg = (f"rendered, it runs past {max_pages} pages, the most docagent indexes; raise the cap "
                               "(`docagent index --max-pages N` or DOCAGENT_MAX_PAGES=N) if it is meant to be "
                               "indexed whole, else split it")
                        raise UnsupportedFileError(path, msg)
                    device, top = writer.begin_page(page_rect), where.y0
                fresh = top == where.y0
                more, filled = story.place(pymupdf.Rect(where.x0, top, where.x1, where.y1))
                if more and fresh and filled[3] <= filled[1]:  # nothing fits even on an empty page: never ends
                    writer.close()
                    msg = "its content cannot be laid out on pages (an element larger than a page); save it as PDF"
                    raise UnsupportedFileError(path, msg)
                story.element_positions(lambda p: _keep(positions, p), {"page_num": page})
                story.draw(device)
                top = where.y1 if more else max(top, filled[3])
        if device is not None:
            writer.end_page()
        writer.close()
        doc = pymupdf.open("pdf", out.getvalue())
        try:
            _add_links(doc, positions)
            doc.set_toc(_toc(positions))
            doc.set_metadata({"title": title, "producer": "docagent"} if title else {"producer": "docagent"})
            for name, data in (embed(positions) if embed is not None else {}).items():
                doc.embfile_add(name, data)
            pdf: bytes = doc.tobytes(garbage=3, deflate=True)
            return pdf
        finally:
            doc.close()


@dataclass(slots=True)
class Placed:
    """Where MuPDF's Story placed an element that something reads (an anchor or a cell with an ``id``, a link, a
    heading), kept small: a workbook reports two positions for each of its cells."""

    id: str
    href: str
    heading: int
    open_close: int
    page_num: int
    """1-based (:func:`render_pdf` passes it in)."""
    rect: tuple[float, float, float, float]
    text: str


def _keep(positions: list[Placed], p: pymupdf.ElementPosition) -> None:
    """Keep where an element opens, when something reads it (MuPDF reports where each element opens and closes; its
    attributes are set at run time, so they are read from the instance)."""
    f = vars(p)
    if f["open_close"] & 1 and (f.get("id") or f.get("href") or f.get("heading")):
        x0, y0, x1, y1 = f["rect"]
        positions.append(Placed(f.get("id") or "", f.get("href") or "", f.get("heading") or 0, f["open_close"],
                                f["page_num"], (x0, y0, x1, y1), f.get("text", "") if f.get("heading") else ""))


def _add_links(doc: pymupdf.Document, positions: list[Placed]) -> None:
    """One PDF link a line of each ``<a href>`` (MuPDF reports one position a word and space of it)."""
    targets = {p.id: p for p in positions if p.open_close & 1 and p.id}
    merged: list[tuple[Placed, pymupdf.Rect]] = []
    for p in positions:
        if not (p.open_close & 1 and p.href):
            continue
        rect = pymupdf.Rect(p.rect)
        if merged:
            last, box = merged[-1]
            if (last.href, last.page_num) == (p.href, p.page_num) and abs(box.y0 - rect.y0) < 1 and abs(box.y1 - rect.y1) < 1:
                box |= rect
                continue
        merged.append((p, rect))
    for p, rect in merged:
        link: dict[str, object] = {"from": rect}
        if p.href.startswith("#"):
            to = targets.get(p.href[1:])
            if to is None:
                continue  # an anchor the page does not have
            link.update(kind=pymupdf.LINK_GOTO, page=to.page_num - 1, to=pymupdf.Point(to.rect[0], to.rect[1]))
        else:
            link.update(kind=pymupdf.LINK_URI, uri=p.href)
        doc[p.page_num - 1].insert_link(link)


def _toc(positions: list[Placed]) -> list[tuple[int, str, int]]:
    """The headings as an outline whose levels go down one step at a time (what a PDF outline needs):
    ``(level, title, page)``."""
    toc: list[tuple[int, str, int]] = []
    for p in positions:
        if p.heading and p.open_close & 1 and p.text and p.text.strip():
            level = min(p.heading, toc[-1][0] + 1 if toc else 1)
            toc.append((level, " ".join(p.text.replace("\u200b", "").split())[:200], p.page_num))
    return toc
