"""What every source of pages offers: a page count, the text layer of a page, a rendering."""

from __future__ import annotations

import abc
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from docagent.errors import UnsupportedFileError
from docagent.types import Box, Heading, Page, Table

__all__ = [
    "TITLE_ZONE",
    "Attachment",
    "OpenOptions",
    "Source",
    "body_size",
    "check_page_count",
    "large_type_lines",
    "open_regular",
    "printed_label",
    "read_bounded",
    "text_is_usable",
    "title_lines",
]


@dataclass(frozen=True)
class OpenOptions:
    """How a file is opened: what a format's reader may need beyond the file itself."""

    password: str | None = None
    """For encrypted PDFs."""
    max_pages: int | None = None
    """Documents with more pages are refused (:func:`check_page_count`)."""
    rendering: Path | None = None
    """A PDF rendering of this very content made before (the store's copy of a converted document with the
    same SHA-256): converters read it instead of converting again."""
    convert_seconds: float = 180.0
    """Longest a converter (LibreOffice) may run on one file."""
    convert_memory_mb: int = 2048
    """Most memory (address space) a converter's process may take."""


@dataclass(frozen=True)
class Attachment:
    """A file carried inside a document (an e-mail's attachment), indexed as a document of its own."""

    name: str
    data: bytes


class Source(abc.ABC):
    """An opened document. Use as a context manager or call :meth:`close`."""

    kind: str
    stored_suffix: str | None = None
    """Suffix of the copy the store keeps (:meth:`copy_to`) when it is not the file's own: ``.pdf`` for a
    document kept as its PDF rendering."""
    convert_seconds: float = 0.0
    """Seconds spent converting the file into something readable (LibreOffice), 0 when nothing was converted."""
    rendered: bool = False
    """The pages are a PDF made from the file (by docagent or LibreOffice): every word is in the text layer, so a
    page without text and without images is blank, never worth OCR (a page break LibreOffice put after a full
    page)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name

    @property
    @abc.abstractmethod
    def page_count(self) -> int: ...

    @property
    def native_scale(self) -> float | None:
        """Pixels per point of the page images when fixed by the source (page images), else None."""
        return None

    @abc.abstractmethod
    def read_page(self, index: int) -> Page:
        """Page ``index`` (0-based) with its text layer, word boxes and form widgets, no OCR."""

    def has_images(self, index: int) -> bool:
        """Whether the page shows raster images (a scan is one); OCR is only worth it then, or
        when the page has no text at all."""
        return True

    @abc.abstractmethod
    def render(self, index: int, scale: float) -> Image.Image:
        """Page ``index`` (0-based) as an RGB image, ``scale`` pixels per point."""

    def rules(self, index: int) -> list[Box]:
        """Thin horizontal and vertical lines drawn on page ``index`` (0-based), as boxes in points: the ruling of
        a table, which helps :func:`docagent.ingest.tables.find_tables` close its rows. Empty where the format
        draws none (the default) or they are unknown (a scan)."""
        return []

    def tables(self, index: int, page: Page) -> list[Table] | None:
        """The tables the format itself states on page ``index`` (0-based; ``page`` as :meth:`read_page` gave it):
        a spreadsheet's cells. None (the default) where it states none: they are found in the page's words
        (:func:`docagent.ingest.tables.find_tables`)."""
        return None

    def metadata(self) -> dict[str, str]:
        """The file's own description of itself that is set: ``title``, ``author``, ``subject``, ``keywords``."""
        return {}

    def outline(self) -> list[Heading]:
        """The file's bookmarks (table of contents), in order; empty when it has none."""
        return []

    def copy_to(self, target: Path) -> None:
        """Write the file as the store should keep it (a plain copy, of the size the file had when the copy began;
        decrypted where a password opened it)."""
        with open_regular(self.path) as (f, size), target.open("wb") as out:
            for block in read_bounded(f, size):
                out.write(block)

    def attachments(self) -> list[Attachment]:
        """Files carried inside the document (an e-mail's attachments), each indexed as a document of its own
        linked to this one; empty for most formats."""
        return []

    def trim_caches(self) -> None:  # noqa: B027 - optional hook
        """Free what the reader cached for pages already read (called between chunks of pages)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_NOT_REGULAR = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _refuse_unless_regular(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise UnsupportedFileError(path, "is a directory, not a file")
    what = next((name for test, name in _NOT_REGULAR if test(mode)), "a special file")
    msg = (f"not a regular file ({what}): reading it may block or never end; docagent reads only regular files, "
           "so copy the content into one first")
    raise UnsupportedFileError(path, msg)


@contextmanager
def open_regular(path: Path) -> Iterator[tuple[BinaryIO, int]]:
    """Open ``path`` for reading, symlinks followed, with its size at that moment: ``(file, size)``.

    Anything but a regular file is refused with an :class:`UnsupportedFileError`: a FIFO blocks the first read
    until a writer comes and ``/dev/zero`` never ends, and either would hang indexing with the store lock held.
    The type is checked before opening (opening a FIFO blocks too) and again on the opened file, which is opened
    non-blocking, so a file swapped for a FIFO in between is still refused. Read at most ``size`` bytes
    (:func:`read_bounded`): a file that is still growing is then read as it was when it was opened."""
    _refuse_unless_regular(path, os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        info = os.fstat(fd)
        _refuse_unless_regular(path, info.st_mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f, info.st_size


def read_bounded(f: BinaryIO, size: int, block: int = 1 << 20) -> Iterator[bytes]:
    """The next ``size`` bytes of ``f`` at most, ``block`` bytes at a time (fewer where the file ends first)."""
    left = size
    while left > 0:
        data = f.read(min(block, left))
        if not data:
            return
        left -= len(data)
        yield data


def check_page_count(path: Path, pages: int, max_pages: int | None) -> None:
    """Refuse a document of more than ``max_pages`` pages, before any of them is read: 100,000 tiny pages fit in
    27 MB, and indexing them holds the store's write lock for about an hour."""
    if max_pages is not None and pages > max_pages:
        msg = (f"the document has {pages} pages, more than the {max_pages} docagent indexes; if it is meant to be "
               f"indexed whole, raise the cap (`docagent index --max-pages {pages}` or DOCAGENT_MAX_PAGES={pages}), "
               "else split it")
        raise UnsupportedFileError(path, msg)


def large_type_lines(lines: list[tuple[str, float]]) -> list[str]:
    """The lines of a page printed in larger type than its body text (``(text, line height)`` pairs in
    reading order): headings and titles. Body size is the height most words are set in."""
    sized = [(" ".join(text.split()), height) for text, height in lines if text.strip() and height > 0]
    if len(sized) < 2:
        return []
    weighted = sorted((height, len(text.split())) for text, height in sized)
    half, seen, body = sum(n for _, n in weighted) / 2, 0, weighted[-1][0]
    for height, n in weighted:  # the weighted median: the size most of the words are printed in
        seen += n
        if seen >= half:
            body = height
            break
    return [
        text for text, height in sized
        if height >= 1.2 * body and len(text.split()) <= 14 and sum(c.isalpha() for c in text) >= 3
    ]


TITLE_ZONE = 0.35
"""Share of a page's height, from its top, where its title lines are looked for."""

_NOT_TITLE = re.compile(
    r"(?i)^(?:\(?(?:in|dollars in|amounts in|unaudited|\$)\b.*|(?:three|six|nine|twelve|\d+)[ -](?:months|weeks)\b.*"
    r"|(?:fiscal\s+)?(?:years?|quarters?|periods?)\s+ended\b.*|page\s+\d+.*|\W*\d[\d,./\s$%()-]*"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?(?:\s+\d{4})?"
    r"|(?:\d{1,2}\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?,?\s+\d{4}"
    r"|(?:(?:as\s+)?(?:of|at)\s+)?(?:(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+\d{4}(?:,?\s+and\s+)?)+)$")


def title_lines(lines: list[tuple[str, float, bool]], body: float = 0.0) -> list[str]:
    """The lines that open a page as its title: of its first lines (``(text, size, bold)`` in reading order, from
    the top :data:`TITLE_ZONE` of the page), those set apart from body text (bold, in capitals, or in type 15%
    larger than ``body``, the size most of the page is set in), up to the first line of body text; column
    headings ("Three Months Ended", "(In millions)", dates) and numbers are not titles. At most five lines."""
    out: list[str] = []
    for text, size, bold in lines[:14]:
        text = " ".join(text.split())
        letters = [c for c in text if c.isalpha()]
        if len(letters) < 3:
            continue
        caps = sum(c.isupper() for c in letters) >= 0.8 * len(letters) and len(text.split()) >= 2
        large = body > 0 and size >= 1.15 * body
        if (bold or caps or large) and len(text.split()) <= 16 and not _NOT_TITLE.match(text):
            if text.lower() not in (o.lower() for o in out):
                out.append(text)
            if len(out) == 5:
                break
        elif len(text.split()) >= 6 and not (bold or caps or large):
            break  # body text: the title, if any, was above
    return out


def body_size(sizes: list[tuple[float, int]]) -> float:
    """The type size most of a page's words are set in: the weighted median of ``(size, words)`` pairs."""
    weighted = sorted(s for s in sizes if s[0] > 0)
    half, seen = sum(n for _, n in weighted) / 2, 0
    for size, n in weighted:
        seen += n
        if seen >= half:
            return size
    return 0.0


def text_is_usable(text: str, min_chars: int) -> bool:
    """A text layer is usable when it has ``min_chars`` letters or digits and is not mostly
    replacement characters (fonts without a Unicode map extract as U+FFFD)."""
    alnum = sum(ch.isalnum() for ch in text)
    if alnum < min_chars:
        return False
    garbage = text.count("\ufffd")
    return garbage <= 0.3 * (alnum + garbage)


def is_utf8(text: str) -> bool:
    """False for names that are not UTF-8 on disk (Python carries their bytes as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_name(text: str) -> str:
    """A file name or path as text that can be stored and printed. Names that are not UTF-8 on disk are
    read as Windows-1252, the usual legacy encoding (``r\\xe9sum\\xe9.pdf`` becomes ``résumé.pdf``)."""
    return text if is_utf8(text) else os.fsencode(text).decode("cp1252", errors="replace")



LABEL_ZONE = 0.1
"""Share of a page's height, at its foot and at its head, where a printed page number is looked for."""
_ROMAN = r"(?=[mdclxvi])m{0,3}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})"
_PRINTED = re.compile(rf"(?i)^[-–—|\s]*(?:page\s+)?(\d{{1,4}}|{_ROMAN}|[a-z]-\d{{1,3}})(?:\s+of\s+\d{{1,4}})?[-–—|\s]*$")


def printed_label(page: Page) -> str:
    """The page number printed alone on a line at the page's foot (else its head): "50", "- 50 -", "Page 50 of 72",
    "iv", "A-3"; empty when none is. A line holding anything else (a total, a date, a sentence) is not a label."""
    lines: dict[int, list[tuple[float, str]]] = {}
    for w in page.words:
        middle = (w.box[1] + w.box[3]) / 2
        if page.height and LABEL_ZONE * page.height < middle < (1 - LABEL_ZONE) * page.height:
            continue
        lines.setdefault(round(middle / 4), []).append((w.box[0], w.text))
    foot = sorted((y for y in lines if y * 4 > page.height / 2), reverse=True)  # the lowest line first
    head = sorted(y for y in lines if y * 4 <= page.height / 2)
    for y in foot + head:
        found = _PRINTED.match(" ".join(t for _, t in sorted(lines[y])))
        label = found.group(1) if found else ""
        if label and not (label.isdigit() and len(label) == 4 and 1900 <= int(label) <= 2100):  # a year is a date
            return label.lower() if label.isalpha() else label
    return ""
