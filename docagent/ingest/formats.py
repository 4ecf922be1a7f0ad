"""The formats docagent reads, one registration a family, told apart by content.

    fmt = detect(Path("notes.md"))        # Format(kind="markdown", ...) from the file's first bytes
    source = fmt.open(path, password, max_pages)

Each :class:`Format` says how to recognise a file from its first bytes (``matches``), which names a
folder walk picks up (``suffixes``), and how to open it (``open``, importing its reader only then).
Formats are tried in registration order; the first that matches wins. Adding a format is one module
with a :class:`~docagent.ingest.base.Source` and a :class:`Format`: docagent's own are registered with
:func:`register` below; another package's through the ``docagent.formats`` entry-point group, each entry
naming a :class:`Format` (``toy = "toy_docagent:TOY"`` under ``[project.entry-points."docagent.formats"]``).
Those are read on first use of the registry (:func:`load_plugins`) and tried before docagent's own, so a
text format recognised by its first line is not read as plain text.

Content decides, never the name alone: a PDF named ``.txt`` is read as a PDF, a PNG named ``.pdf`` as
an image. The name only chooses among the text families once the content is known to be text: a text
file named ``.md`` or ``.markdown`` is Markdown, one named ``.html`` or ``.htm`` is HTML even without
``<html>``, any other text file is plain text (HTML by its ``<!doctype html`` or ``<html`` whatever its
name). Markdown has no signature of its own (any text is valid Markdown), so the name is the only way to
tell it from notes. One exception: text named like a binary format (``report.pdf`` holding an HTML page)
is refused, not indexed as text: it is nearly always a download or an export that went wrong, and the
error says so and how to rename it if it is meant as text.

Office and OpenDocument files (:mod:`docagent.ingest.office`) are told apart by what they hold: DOCX, PPTX,
XLSX (and their macro-enabled and template variants) and ODT, ODP, ODS are all ZIPs, named by their manifest
(``[Content_Types].xml``; ODF's ``mimetype`` entry); DOC, XLS, PPT are OLE compound files, named by their
streams; RTF by its ``{\\rtf``. E-mail (:mod:`docagent.ingest.mail`) is text whose first lines are mail headers.
"""

from __future__ import annotations

import codecs
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from docagent.errors import EmptyDocumentError, UnsupportedFileError
from docagent.ingest.base import OpenOptions, open_regular

if TYPE_CHECKING:
    from docagent.ingest.base import Source

__all__ = [
    "FORMATS",
    "Format",
    "Probe",
    "decode_text",
    "describe",
    "detect",
    "formats",
    "is_supported",
    "kinds",
    "load_plugins",
    "register",
    "supported_suffixes",
]

HEAD_BYTES = 4096
"""Bytes read to recognise a file."""

ENTRY_POINT_GROUP = "docagent.formats"
"""The entry-point group other packages register formats under, each entry naming a :class:`Format`."""

log = logging.getLogger(__name__)


@dataclass
class Probe:
    """What a format looks at to recognise a file: its first bytes, its suffix (lower case), its path
    (for formats that must look inside, like ZIP manifests), and the head as text when it is text."""

    path: Path
    head: bytes
    suffix: str
    text: str | None = field(default=None)
    seen: dict[str, object] = field(default_factory=dict)
    """What a format's test found out while looking inside (a ZIP's manifest), for the next format's test.
    A test that recognises its family in a file it cannot read (a damaged or password-protected Office file)
    raises the :class:`~docagent.errors.DocumentLoadError` that says so."""


Opener = Callable[[Path, OpenOptions], "Source"]


@dataclass(frozen=True)
class Format:
    """One family of files docagent reads."""

    kind: str
    """Stored with each document (``docagent docs``) and filtered on (``{"kind": "markdown"}``)."""
    label: str
    """How people name it: ``PDF``; ``PNG, JPEG, TIFF``; ``Markdown``."""
    suffixes: tuple[str, ...]
    """Names a folder walk picks up; the first is given to an upload whose name has none of them."""
    matches: Callable[[Probe], bool]
    """Whether a file is of this family, from its :class:`Probe`."""
    open: Opener
    """``open(path, options)``: the file as a Source; raises a DocumentLoadError subclass."""
    text: bool = False
    """A text format (HTML, Markdown, e-mail ...): never claims a file named like a binary format."""
    rendering: str = ""
    """Suffix of the stored copy when the format is converted at some cost (``.r2.pdf``): a stored rendering of the
    same bytes with this suffix is reused instead of converting again. Empty: nothing worth reusing."""


FORMATS: list[Format] = []
"""Every registered format, in the order they are tried (plugins' ones are added on first use: :func:`formats`)."""

_PLUGINS_LOCK = threading.Lock()
_plugins_read = False


def register(fmt: Format) -> Format:
    """Add one of docagent's own formats, tried after those registered before it."""
    FORMATS.append(fmt)
    return fmt


def load_plugins() -> list[Format]:
    """Register the formats that installed packages declare under the ``docagent.formats`` entry-point group,
    ahead of docagent's own (in entry-point order), and return those added. Runs on first use of the registry;
    call it again to pick up a plugin installed into a running process. An entry that cannot be loaded or names
    no :class:`Format` is left out with a warning: the other formats are still read."""
    global _plugins_read
    added: list[Format] = []
    with _PLUGINS_LOCK:
        _plugins_read = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                fmt = ep.load()
            except Exception as e:  # noqa: BLE001 - a broken plugin must not stop docagent reading PDFs
                log.warning("format plugin %s = %s left out: it cannot be loaded (%s: %s)", ep.name, ep.value,
                            type(e).__name__, e)
                continue
            if not isinstance(fmt, Format):
                log.warning("format plugin %s = %s left out: it names a %s, not a docagent.ingest.formats.Format",
                            ep.name, ep.value, type(fmt).__name__)
                continue
            if fmt not in FORMATS:
                FORMATS.insert(len(added), fmt)
                added.append(fmt)
    return added


def formats() -> list[Format]:
    """Every format, in the order they are tried: plugins' (read once, :func:`load_plugins`), then docagent's own."""
    if not _plugins_read:
        load_plugins()
    return FORMATS


def kinds() -> list[str]:
    return list(dict.fromkeys(f.kind for f in formats()))


def supported_suffixes() -> frozenset[str]:
    return frozenset(s for f in formats() for s in f.suffixes)


def describe() -> str:
    """The formats in words, for help and messages: ``PDF, PNG, JPEG, TIFF, ..., Markdown and plain text``."""
    labels = [f.label for f in formats()]
    return ", ".join(labels[:-1]) + f" and {labels[-1]}" if len(labels) > 1 else "".join(labels)


def is_supported(path: Path) -> bool:
    """Whether a folder walk should pick this file up (by its suffix; what it holds is read when it is opened)."""
    return path.suffix.lower() in supported_suffixes()


UNSUPPORTED = (
    (b"PK\x03\x04", "a ZIP archive that is no Word, PowerPoint, Excel or OpenDocument file",
     "unpack it and index the files inside"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE compound file that is no Word, Excel or PowerPoint file",
     "save it as PDF"),
    (b"GIF8", "a GIF image", "convert it to PNG"),
    (b"BM", "a BMP image", "convert it to PNG"),
    (b"\x1f\x8b", "gzip-compressed data", "decompress it first"),
    (b"\x7fELF", "a program (ELF executable)", ""),
    (b"MZ", "a Windows program", ""),
)
"""Signatures of files people bring that docagent does not read, to say what a refused file looks like."""


def detect(path: Path) -> Format:
    """The format of ``path`` from its first bytes; raises for anything else (a FIFO or a device too,
    before reading from it: see :func:`~docagent.ingest.base.open_regular`)."""
    with open_regular(path) as (f, size):
        head = f.read(min(HEAD_BYTES, size))
    if not head:
        raise EmptyDocumentError(path, "the file is empty (0 bytes); re-export or re-download it")
    probe = Probe(path, head, path.suffix.lower())
    if not head.startswith(b"{\\rtf"):  # RTF is text on the surface, unreadable as such
        probe.text = decode_text(head, complete=len(head) == size)
    for fmt in formats():
        if fmt.matches(probe):
            return fmt
    if probe.text is not None:  # text named like a binary format (see the module)
        claimed = next(f for f in formats() if probe.suffix in f.suffixes and not f.text)
        looks, read_as = ("an HTML page", HTML) if _looks_like_html(probe.text) else ("text", TEXT)
        msg = (f"its content looks like {looks}, not {claimed.label} as the {path.suffix} suffix says (saved or "
               f"downloaded under the wrong name?); rename it {path.stem}{read_as.suffixes[0]} to index it as "
               f"{read_as.label}")
        raise UnsupportedFileError(path, msg)
    looks, advice = next(((what, advice) for magic, what, advice in UNSUPPORTED if head.startswith(magic)),
                         ("binary data", ""))
    suffix = f", despite the {path.suffix} suffix" if path.suffix else ""
    msg = (f"not a document docagent reads: its content looks like {looks}{suffix}; docagent reads {describe()}"
           f"{'; ' + advice if advice else ''}")
    raise UnsupportedFileError(path, msg)


_CONTROL = frozenset(range(32)) - {9, 10, 12, 13, 27}


def decode_text(data: bytes, *, complete: bool = True) -> str | None:
    """``data`` as text, or None when it is binary. A BOM names the encoding (UTF-8, UTF-16, UTF-32); without
    one, UTF-8, else a non-Latin legacy encoding when charset-normalizer finds one (:func:`_legacy`), else
    Windows-1252 (the usual legacy encoding). Text has no NUL bytes and hardly any other
    control characters. ``complete=False``: ``data`` is the head of a longer file (a character cut at its end
    is not an error)."""
    for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                          (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(data, final=complete)
            return text if _is_text(text) else None
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(data, final=complete)
    except UnicodeDecodeError:
        text = _legacy(data)
    return text if _is_text(text) else None


_NON_LATIN = frozenset({
    "cp932", "shift_jis", "shift_jis_2004", "shift_jisx0213", "euc_jp", "euc_jis_2004", "iso2022_jp", "gb2312", "gbk",
    "gb18030", "big5", "big5hkscs", "cp950", "euc_kr", "cp949", "johab", "iso2022_kr", "cp1251", "koi8_r", "koi8_u",
    "iso8859_5", "cp866", "mac_cyrillic", "cp1253", "iso8859_7", "cp1255", "iso8859_8", "cp1256", "iso8859_6",
    "cp874", "tis_620"})
"""Legacy encodings taken when charset-normalizer names one of them: CJK, Cyrillic, Greek, Hebrew, Arabic, Thai.
Any other guess (Latin ones, guessed unreliably on short text) falls back to Windows-1252."""


def _legacy(data: bytes) -> str:
    """Text that is not UTF-8: in the legacy encoding charset-normalizer finds when it is a non-Latin one (Shift_JIS,
    GBK, Windows-1251 ...), else Windows-1252."""
    from charset_normalizer import from_bytes

    best = from_bytes(data[:65536]).best()
    if best is not None and best.encoding in _NON_LATIN:
        return data.decode(best.encoding, errors="replace")
    return data.decode("cp1252", errors="replace")


def _is_text(text: str) -> bool:
    if "\x00" in text:
        return False
    control = sum(1 for c in text if ord(c) in _CONTROL)
    bad = text.count("\ufffd")
    return control <= 0.01 * len(text) and bad <= 0.05 * len(text)


# -- the formats ------------------------------------------------------------------------------------


def _open_pdf(path: Path, options: OpenOptions) -> Source:
    from docagent.ingest.pdf import PdfSource

    return PdfSource(path, options.password, max_pages=options.max_pages)


def _open_image(path: Path, options: OpenOptions) -> Source:
    from docagent.ingest.images import ImageSource

    return ImageSource(path, max_pages=options.max_pages)


def _opener(kind: str) -> Opener:
    def open_markup(path: Path, options: OpenOptions) -> Source:
        from docagent.ingest.markup import MarkupSource

        return MarkupSource(path, kind, max_pages=options.max_pages)

    return open_markup


def _open_office(kind: str) -> Opener:
    def open_office(path: Path, options: OpenOptions) -> Source:
        from docagent.ingest.office import OfficeSource

        return OfficeSource(path, kind, options)

    return open_office


def _open_mail(path: Path, options: OpenOptions) -> Source:
    from docagent.ingest.mail import MailSource

    return MailSource(path, options)


OFFICE_RENDERING = ".r2.pdf"
"""How Office files become PDF, versioned (r2: speaker notes, sheets laid out cell by cell): the stored copy's
suffix, so a rendering an older docagent made is never reused for new content."""


def _office(kind: str) -> Callable[[Probe], bool]:
    def matches(p: Probe) -> bool:
        from docagent.ingest.office import office_kind

        return office_kind(p) == kind

    return matches


_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")
_HTML_SUFFIXES = (".html", ".htm", ".xhtml")
_MARKDOWN_SUFFIXES = (".md", ".markdown")


def _looks_like_html(text: str) -> bool:
    """``<!doctype html`` or ``<html`` at the start, after a BOM, white space, an XML declaration and comments."""
    rest = text.lstrip("\ufeff \t\r\n")
    while rest.startswith(("<?", "<!--")):
        end = rest.find("?>" if rest.startswith("<?") else "-->")
        if end < 0:
            return False
        rest = rest[end + (2 if rest.startswith("<?") else 3):].lstrip()
    return rest[:14].lower() == "<!doctype html" or rest[:5].lower() == "<html"


def _text_named(p: Probe) -> bool:
    """Text content under a name no binary format claims."""
    return p.text is not None and not any(p.suffix in f.suffixes for f in formats() if not f.text)


def _looks_like_html_file(p: Probe) -> bool:
    """Text whose start is HTML (:func:`_looks_like_html`), or text named ``.html``."""
    return _text_named(p) and p.text is not None and (_looks_like_html(p.text) or p.suffix in _HTML_SUFFIXES)


def _looks_like_mail(p: Probe) -> bool:
    from docagent.ingest.mail import looks_like_mail

    return _text_named(p) and p.text is not None and looks_like_mail(p.text)


PDF = register(Format("pdf", "PDF", (".pdf",), lambda p: b"%PDF-" in p.head[:1024], _open_pdf))
IMAGE = register(Format("image", "PNG, JPEG, TIFF", (".png", ".jpg", ".jpeg", ".tif", ".tiff"),
                        lambda p: p.head.startswith(_IMAGE_MAGIC), _open_image))
WORD = register(Format("word", "DOCX, DOC, ODT, RTF",
                       (".docx", ".docm", ".dotx", ".dotm", ".doc", ".dot", ".odt", ".ott", ".rtf"),
                       _office("word"), _open_office("word"), rendering=OFFICE_RENDERING))
PRESENTATION = register(Format("presentation", "PPTX, PPT, ODP",
                               (".pptx", ".pptm", ".ppsx", ".ppsm", ".potx", ".ppt", ".pps", ".odp", ".otp"),
                               _office("presentation"), _open_office("presentation"), rendering=OFFICE_RENDERING))
SPREADSHEET = register(Format("spreadsheet", "XLSX, XLS, ODS",
                              (".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".xlt", ".ods", ".ots"),
                              _office("spreadsheet"), _open_office("spreadsheet"), rendering=OFFICE_RENDERING))
MAIL = register(Format("email", "e-mail (EML, mbox)", (".eml", ".mbox"), _looks_like_mail, _open_mail, text=True))
HTML = register(Format("html", "HTML", _HTML_SUFFIXES, _looks_like_html_file, _opener("html"), text=True))
MARKDOWN = register(Format("markdown", "Markdown", _MARKDOWN_SUFFIXES,
                           lambda p: _text_named(p) and p.suffix in _MARKDOWN_SUFFIXES, _opener("markdown"), text=True))
TEXT = register(Format("text", "plain text", (".txt", ".text"), _text_named, _opener("text"), text=True))
