"""Office and OpenDocument files (DOCX, DOC, ODT, RTF; PPTX, PPT, ODP; XLSX, XLS, ODS), converted to PDF by
LibreOffice headless and read as that rendering.

    source = OfficeSource(Path("report.docx"), "word", OpenOptions())   # a PdfSource over the rendering
    source.read_page(0).doc                                             # "report.docx": citations name the original

What a file is comes from what it holds (:func:`office_kind`): a ZIP's manifest (``[Content_Types].xml`` for
DOCX/PPTX/XLSX and their macro-enabled variants, the ``mimetype`` entry for ODF), an OLE compound file's streams
(``WordDocument``, ``Workbook``, ``PowerPoint Document``), RTF's ``{\\rtf``. Files that cannot be read are
refused before LibreOffice starts, each with what to do: password-protected files (OOXML's
``EncryptedPackage``, ODF's encryption data, the legacy formats' encryption flags), damaged ZIPs, ZIP bombs
(more than :data:`MAX_ZIP_ENTRIES` entries or :data:`MAX_UNZIPPED_BYTES` unpacked), workbooks whose sheets
span more than :data:`MAX_SHEET_CELLS` cells, Outlook ``.msg`` files (save them as ``.eml``).

The conversion (:func:`convert`) runs ``soffice --headless --convert-to pdf`` as a child process in a session of
its own, with a fresh profile directory (so conversions running at once never share one), a time limit and a
memory limit (``OpenOptions.convert_seconds``, ``convert_memory_mb``), killed with everything it started when it
runs over. The profile sets LibreOffice's macro security to its highest level with macro execution disabled and
blocks untrusted linked resources: macros in a ``.docm`` or ``.xlsm`` are never run (the file is indexed all the
same). The rendering is kept in the store as the document's file copy (page images are drawn from it later),
and ``OpenOptions.rendering`` hands back an earlier rendering of the same content, so the same bytes are never
converted twice in one store.

Spreadsheets are not printed as the file's page setup says (LibreOffice clips a cell's text where the next cell is
filled, and "Okapi Valley" would be indexed as "Okapi Valle"): LibreOffice exports each sheet's used range as
HTML, and docagent lays the cells out itself (:func:`sheet_pieces`) on A4 pages (portrait when every sheet fits its
width, else landscape), sheet after sheet, each under its name, every cell's text whole (long text wraps within a column of at most :data:`MAX_COLUMN_PT`). A
sheet wider than a page is cut into bands of columns that fit (columns A-F, then G-M ...), each band with the
sheet's first column repeated as row labels; each band runs down all the rows before the next starts (down, then
across); a sheet longer than a page starts on a page of its own and each further page repeats its first row (its
column headers, as a rule). Page numbers in citations are the rendering's. The rendering carries where each cell
was drawn (an embedded file, :data:`SHEET_CELLS`), so a sheet's tables are its cells (:meth:`OfficeSource.tables`:
every band of a sheet on a page is one table, its header rows the leading rows without figures, a merged cell
spanning its columns, rows of one cell above them the title), never guessed from the drawing.

Presentations: one page a slide. When the deck has speaker notes (PPTX, ODP), each page is the slide's notes page
(the slide above its notes), so the notes are indexed and cited with their slide's number.
"""

from __future__ import annotations

import html
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pymupdf

from docagent.errors import (
    ConverterMissingError,
    CorruptDocumentError,
    EmptyDocumentError,
    EncryptedDocumentError,
    UnsupportedFileError,
)
from docagent.ingest.base import OpenOptions, open_regular, read_bounded
from docagent.ingest.formats import OFFICE_RENDERING, Probe
from docagent.ingest.markup import CSS, MARGIN, NEW_PAGE, Placed, render_pdf
from docagent.ingest.pdf import _LOCK, PdfSource
from docagent.ingest.tables import grid_table, parse_number
from docagent.types import Page, Table, TableCell

__all__ = [
    "INSTALL_HINT",
    "MAX_SHEET_CELLS",
    "MAX_UNZIPPED_BYTES",
    "MAX_ZIP_ENTRIES",
    "OfficeSource",
    "convert",
    "find_soffice",
    "office_kind",
    "soffice_version",
]

MAX_ZIP_ENTRIES = 20_000
"""An Office ZIP with more entries is refused (a real 300-slide deck has about 2,000)."""
MAX_UNZIPPED_BYTES = 1 << 30
"""An Office ZIP that unpacks to more than this (1 GiB) is refused as a ZIP bomb."""
MAX_SHEET_CELLS = 2_000_000
"""A workbook whose sheets' used ranges span more cells is refused: about 5,000 pages of print."""

INSTALL_HINT = ("install LibreOffice (Debian/Ubuntu: `sudo apt-get install libreoffice-writer-nogui "
                "libreoffice-calc-nogui libreoffice-impress-nogui`; macOS: `brew install --cask libreoffice`), "
                "or set DOCAGENT_SOFFICE to its soffice program, or save the file as PDF")


# -- what a file is ---------------------------------------------------------------------------------

_OOXML = (
    ("wordprocessingml.document.main", "word"), ("wordprocessingml.template.main", "word"),
    ("ms-word.document.macroenabled.main", "word"), ("ms-word.template.macroenabledtemplate.main", "word"),
    ("presentationml.presentation.main", "presentation"), ("presentationml.slideshow.main", "presentation"),
    ("presentationml.template.main", "presentation"), ("ms-powerpoint.presentation.macroenabled.main", "presentation"),
    ("ms-powerpoint.slideshow.macroenabled.main", "presentation"),
    ("ms-powerpoint.template.macroenabled.main", "presentation"),
    ("spreadsheetml.sheet.main", "spreadsheet"), ("spreadsheetml.template.main", "spreadsheet"),
    ("ms-excel.sheet.macroenabled.main", "spreadsheet"), ("ms-excel.template.macroenabled.main", "spreadsheet"),
    ("ms-excel.sheet.binary.macroenabled.main", "spreadsheet"),
)
_ODF = (("application/vnd.oasis.opendocument.text", "word"),
        ("application/vnd.oasis.opendocument.presentation", "presentation"),
        ("application/vnd.oasis.opendocument.spreadsheet", "spreadsheet"))
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PROTECTED = ("it is password-protected; docagent cannot open it: open it, remove the password (or save an "
              "unprotected copy) and index that")

SUFFIXES = {  # what LibreOffice is told the file is, by kind and container
    ("word", "ooxml"): ".docx", ("word", "odf"): ".odt", ("word", "ole"): ".doc", ("word", "rtf"): ".rtf",
    ("presentation", "ooxml"): ".pptx", ("presentation", "odf"): ".odp", ("presentation", "ole"): ".ppt",
    ("spreadsheet", "ooxml"): ".xlsx", ("spreadsheet", "odf"): ".ods", ("spreadsheet", "ole"): ".xls",
}


def office_kind(probe: Probe) -> str | None:
    """``word``, ``presentation`` or ``spreadsheet`` for an Office or OpenDocument file, else None. Raises for
    one it recognises and cannot read (password, damage, a ZIP bomb, an Outlook message)."""
    if "office" not in probe.seen:
        probe.seen["office"] = _identify(probe.path, probe.head)
    found = probe.seen["office"]
    return found[0] if isinstance(found, tuple) else None


def identify(path: Path) -> tuple[str, str]:
    """``(kind, container)`` of an Office file (container: ``ooxml``, ``odf``, ``ole``, ``rtf``); raises when it is
    none or cannot be read."""
    with open_regular(path) as (f, _):
        head = f.read(8)
    found = _identify(path, head)
    if found is None:
        raise UnsupportedFileError(path, "not a Word, PowerPoint, Excel or OpenDocument file")
    return found


def _identify(path: Path, head: bytes) -> tuple[str, str] | None:
    if head.startswith(b"{\\rtf"):
        return "word", "rtf"
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(path)
    if head.startswith(_OLE_MAGIC):
        return _ole_kind(path)
    return None


def _zip_kind(path: Path) -> tuple[str, str] | None:
    try:
        with open_regular(path) as (f, _), zipfile.ZipFile(f) as archive:
            entries = archive.infolist()
            names = {e.filename for e in entries}
            if "[Content_Types].xml" not in names and "mimetype" not in names:
                return None  # some other ZIP
            if len(entries) > MAX_ZIP_ENTRIES:
                msg = (f"the file holds {len(entries):,} packed parts, more than the {MAX_ZIP_ENTRIES:,} an Office "
                       "file has (a ZIP bomb?); docagent refuses it")
                raise UnsupportedFileError(path, msg)
            unpacked = sum(e.file_size for e in entries)
            if unpacked > MAX_UNZIPPED_BYTES:
                msg = (f"it unpacks to {unpacked / (1 << 30):.1f} GiB, more than the {MAX_UNZIPPED_BYTES >> 30} GiB "
                       "docagent converts (a ZIP bomb?); save it as PDF if it is a real document")
                raise UnsupportedFileError(path, msg)
            if "mimetype" in names:
                mimetype = _read(archive, "mimetype", 200).decode("ascii", "replace").strip()
                kind = next((k for m, k in _ODF if mimetype.startswith(m)), None)
                if kind is None:
                    return None
                if b"encryption-data" in _read(archive, "META-INF/manifest.xml", 1 << 20):
                    raise EncryptedDocumentError(path, _PROTECTED)
                return kind, "odf"
            types = _read(archive, "[Content_Types].xml", 1 << 20).decode("utf-8", "replace").lower()
            kind = next((k for m, k in _OOXML if m in types), None)
            if kind == "spreadsheet":
                _check_cells(path, archive)
            return (kind, "ooxml") if kind else None
    except zipfile.BadZipFile as e:
        msg = f"damaged or truncated ZIP ({e}), as Office files are; re-export or re-download it"
        raise CorruptDocumentError(path, msg) from e


def _read(archive: zipfile.ZipFile, name: str, most: int) -> bytes:
    try:
        with archive.open(name) as f:
            return f.read(most)
    except KeyError:
        return b""


_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')


def _column(letters: bytes) -> int:
    n = 0
    for c in letters:
        n = n * 26 + c - 64
    return n


def _check_cells(path: Path, archive: zipfile.ZipFile) -> None:
    """Refuse a workbook whose sheets' used ranges (each sheet's ``<dimension>``) span more than MAX_SHEET_CELLS."""
    total, widest = 0, ("", 0)
    for entry in archive.infolist():
        if not re.fullmatch(r"xl/worksheets/[^/]+\.xml", entry.filename):
            continue
        match = _DIMENSION.search(_read(archive, entry.filename, 4096))
        if match is None:
            continue
        c0, r0, c1, r1 = match.groups()
        cells = (abs(_column(c1 or c0) - _column(c0)) + 1) * (abs(int(r1 or r0) - int(r0)) + 1)
        total += cells
        if cells > widest[1]:
            widest = (f"{c0.decode()}{r0.decode()}:{(c1 or c0).decode()}{(r1 or r0).decode()}", cells)
    if total > MAX_SHEET_CELLS:
        msg = (f"its sheets span {total:,} cells (the largest {widest[0]}), more than the {MAX_SHEET_CELLS:,} docagent "
               "renders (about 5,000 pages); delete the empty or unneeded rows and columns, or export the part "
               "you need as PDF or CSV")
        raise UnsupportedFileError(path, msg)


def _ole_kind(path: Path) -> tuple[str, str] | None:
    import olefile

    try:
        with open_regular(path) as (f, size):
            data = b"".join(read_bounded(f, size))
        ole = olefile.OleFileIO(data)
    except OSError as e:
        msg = f"damaged legacy Office file ({e}); re-export or re-download it"
        raise CorruptDocumentError(path, msg) from e
    with ole:
        streams = {"/".join(s) for s in ole.listdir()}
        if "EncryptedPackage" in streams or "EncryptionInfo" in streams:
            raise EncryptedDocumentError(path, _PROTECTED)
        if any(s.startswith("__substg1.0_") for s in streams):
            msg = ("an Outlook message (.msg); docagent reads e-mail saved as .eml: save it from Outlook as "
                   "Outlook Message Format - Unicode is not it, drag it to a folder from Outlook on the web, or "
                   "convert it with `msgconvert` (Debian: libemail-outlook-message-perl)")
            raise UnsupportedFileError(path, msg)
        if "WordDocument" in streams:
            fib = ole.openstream("WordDocument").read(12)
            if len(fib) >= 12 and int.from_bytes(fib[10:12], "little") & 0x0100:  # FIB fEncrypted
                raise EncryptedDocumentError(path, _PROTECTED)
            return "word", "ole"
        if "Workbook" in streams or "Book" in streams:
            if _xls_encrypted(ole.openstream("Workbook" if "Workbook" in streams else "Book").read(1 << 16)):
                raise EncryptedDocumentError(path, _PROTECTED)
            return "spreadsheet", "ole"
        if "PowerPoint Document" in streams:
            if "EncryptedSummary" in streams:
                raise EncryptedDocumentError(path, _PROTECTED)
            return "presentation", "ole"
    return None


def _xls_encrypted(data: bytes) -> bool:
    """Whether a BIFF workbook stream has a FILEPASS record among its first records (it follows the first BOF)."""
    at = 0
    for _ in range(64):
        if at + 4 > len(data):
            return False
        kind, size = int.from_bytes(data[at:at + 2], "little"), int.from_bytes(data[at + 2:at + 4], "little")
        if kind == 0x002F:
            return True
        if kind == 0x0085:  # BOUNDSHEET: past the workbook globals' protection records
            return False
        at += 4 + size
    return False


# -- converting ------------------------------------------------------------------------------------


def find_soffice() -> str | None:
    """The LibreOffice program: ``DOCAGENT_SOFFICE``, else ``soffice`` or ``libreoffice`` on PATH."""
    configured = os.environ.get("DOCAGENT_SOFFICE")
    if configured:
        return shutil.which(configured) or (configured if Path(configured).is_file() else None)
    return shutil.which("soffice") or shutil.which("libreoffice")


def soffice_version(program: str) -> str:
    """``LibreOffice 7.4.7.2`` (what ``soffice --version`` says first), or raises OSError / TimeoutExpired."""
    with tempfile.TemporaryDirectory(prefix="docagent-soffice-") as tmp:
        out = subprocess.run([program, f"-env:UserInstallation={Path(tmp).as_uri()}", "--version"],
                             capture_output=True, text=True, timeout=60, check=False,
                             env=dict(os.environ, HOME=tmp)).stdout
    words = out.split()
    return " ".join(words[:2]) if words else "LibreOffice (version unknown)"


_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="BlockUntrustedRefererLinks" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Misc"><prop oor:name="UseLocking" oor:op="fuse"><value>false</value></prop></item>
</oor:items>
"""
"""LibreOffice's settings for every conversion: macros never run, no linked resources from untrusted places."""


def convert(path: Path, suffix: str, options: OpenOptions, to: str = "pdf") -> bytes:
    """The file at ``path`` converted by LibreOffice to ``to`` (``pdf``; ``html`` for spreadsheets' cells; a filter
    with its options, as :data:`WITH_NOTES`), which is told it is a ``suffix`` file (see the module for the limits). Raises a
    :class:`~docagent.errors.DocumentLoadError` subclass that says why."""
    program = find_soffice()
    if program is None:
        configured = os.environ.get("DOCAGENT_SOFFICE")
        if configured:
            msg = (f"Office files are converted by LibreOffice, and DOCAGENT_SOFFICE={configured} names no program; "
                   "point it at LibreOffice's soffice, or unset it to use the one on PATH")
            raise ConverterMissingError(path, msg)
        raise ConverterMissingError(path, f"Office files are converted by LibreOffice, which is not installed: {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="docagent-convert-") as tmp:
        work = Path(tmp)
        profile = work / "profile"
        (profile / "user").mkdir(parents=True)
        (profile / "user" / "registrymodifications.xcu").write_text(_PROFILE)
        source = work / f"document{suffix}"  # a plain name LibreOffice reads by the content's real type
        with open_regular(path) as (f, size), source.open("wb") as out:
            for block in read_bounded(f, size):
                out.write(block)
        command = [program, "--headless", "--invisible", "--norestore", "--nolockcheck", "--nodefault", "--nologo",
                   f"-env:UserInstallation={profile.as_uri()}", "--convert-to", to, "--outdir", str(work / "out"),
                   str(source)]
        memory = options.convert_memory_mb << 20

        def limit() -> None:  # in the child, before LibreOffice starts: everything it starts inherits it
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

        env = dict(os.environ, HOME=str(work), TMPDIR=str(work))
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, preexec_fn=limit, env=env, cwd=work)
        try:
            _, err = proc.communicate(timeout=options.convert_seconds)
        except subprocess.TimeoutExpired:
            _kill(proc)
            msg = (f"LibreOffice did not finish converting it within {options.convert_seconds:g} s; if it is a very "
                   "large document, allow more (DOCAGENT_CONVERT_SECONDS) or save it as PDF")
            raise UnsupportedFileError(path, msg) from None
        finally:
            _kill(proc)
        rendering = work / "out" / f"document.{to.split(':', 1)[0]}"
        if not rendering.is_file() or rendering.stat().st_size == 0:
            said = err.decode("utf-8", "replace")
            if "could not be loaded" in said:  # also what it says when loading ran out of the memory it may use
                msg = ("LibreOffice could not load it (damaged, password-protected, not what its content first "
                       f"looks like, or more than the {options.convert_memory_mb} MiB it may use: raise "
                       "DOCAGENT_CONVERT_MEMORY_MB); open it in an Office program and save it again, or save it as PDF")
                raise CorruptDocumentError(path, msg)
            first = next((line.strip() for line in said.splitlines() if line.strip() and "javaldx" not in line), "")
            msg = (f"LibreOffice stopped while converting it ({first[:160] or f'exit status {proc.returncode}'}); "
                   f"it may need more than the {options.convert_memory_mb} MiB it may use (raise "
                   "DOCAGENT_CONVERT_MEMORY_MB), or the file is damaged: open it in an Office program and save it "
                   "again, or save it as PDF")
            raise CorruptDocumentError(path, msg)
        return rendering.read_bytes()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """End LibreOffice and anything it started (its session), and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


class OfficeSource(PdfSource):
    """An Office or OpenDocument file (``kind``: ``word``, ``presentation``, ``spreadsheet``) read as its PDF
    rendering by LibreOffice."""

    stored_suffix = OFFICE_RENDERING
    rendered = True

    def __init__(self, path: Path, kind: str, options: OpenOptions) -> None:
        found, container = identify(path)
        if found != kind:
            msg = f"its content changed while it was being read (now a {found} file); index it again"
            raise UnsupportedFileError(path, msg)
        pdf = _earlier(options.rendering)
        if pdf is None:
            t0 = time.perf_counter()
            if kind == "spreadsheet":
                cells = convert(path, SUFFIXES[kind, container], options, to="html")
                sheets = read_sheets(cells.decode("utf-8", "replace"))
                if len(sheets) == 1 and not sheets[0].name:  # LibreOffice names no sheet of a one-sheet workbook
                    sheets[0].name = _first_sheet_name(path, container)
                if not any(sheet.rows for sheet in sheets):
                    raise EmptyDocumentError(path, "the workbook has no filled cells")
                pieces, page = sheet_layout(sheets)
                pdf = render_pdf(path, pieces, CSS + SHEET_CSS, "", options.max_pages, page,
                                 embed=lambda placed: {SHEET_CELLS: sheet_cells(sheets, placed)})
            elif kind == "presentation" and _has_notes(path, container):
                pdf = convert(path, SUFFIXES[kind, container], options, to=WITH_NOTES)
            else:
                pdf = convert(path, SUFFIXES[kind, container], options)
            self.convert_seconds = time.perf_counter() - t0
        self._pdf = pdf
        super().__init__(path, max_pages=options.max_pages, data=pdf)
        self.kind = kind
        self._tables: dict[int, list[Table]] | None = None
        self._cells: dict[str, Any] | None = None
        if kind == "spreadsheet":
            with _LOCK:
                names = self._doc.embfile_names()
                stated = self._doc.embfile_get(SHEET_CELLS) if SHEET_CELLS in names else None
            try:
                self._cells = json.loads(stated) if stated else None  # a rendering made before cells were carried: None
            except ValueError:
                self._cells = None

    def tables(self, index: int, page: Page) -> list[Table] | None:
        """A spreadsheet's tables on page ``index``, from the cells its rendering says it drew there; None for
        other files (their tables are found in the page's words)."""
        if self._cells is None:
            return None
        if self._tables is None:
            self._tables = sheet_tables(self._cells, page.doc)
        return self._tables.get(index + 1, [])

    def copy_to(self, target: Path) -> None:
        target.write_bytes(self._pdf)


WITH_NOTES = ('pdf:impress_pdf_Export:{"ExportNotesPages":{"type":"boolean","value":"true"},'
              '"ExportOnlyNotesPages":{"type":"boolean","value":"true"}}')
"""A presentation as its notes pages: one page a slide, the slide above its speaker notes."""


def _has_notes(path: Path, container: str) -> bool:
    """Whether a PPTX or ODP has speaker notes with words in them (a PPT's are not looked for)."""
    try:
        with open_regular(path) as (f, _), zipfile.ZipFile(f) as archive:
            if container == "ooxml":
                parts = [n for n in archive.namelist() if re.fullmatch(r"ppt/notesSlides/[^/]+\.xml", n)]
                texts = [b" ".join(re.findall(rb"<a:t>([^<]*)</a:t>", _read(archive, n, 1 << 20))) for n in parts]
            elif container == "odf":
                notes = re.findall(rb"<presentation:notes\b.*?</presentation:notes>", _read(archive, "content.xml", 64 << 20),
                                   re.DOTALL)
                texts = [re.sub(rb"<[^>]*>", b" ", n) for n in notes]
            else:
                return False
    except (OSError, zipfile.BadZipFile):
        return False
    return any(re.search(rb"[^\W\d_]", t) for t in texts)  # letters, not just the slide number


def _earlier(rendering: Path | None) -> bytes | None:
    if rendering is None:
        return None
    try:
        data = rendering.read_bytes()
    except OSError:
        return None  # removed meanwhile: convert again
    return data if data.startswith(b"%PDF-") else None


# -- spreadsheets: cells laid out whole ------------------------------------------------------------

MAX_COLUMN_PT = 200.0
"""Widest a column is drawn (points); longer cell text wraps within it."""
SHEET_FONT_PT = 8.0
ROW_PT = 12.5
"""Height of a table row of one line (8 pt type, padding, rules): a page holds its height over this many rows, and
a sheet with columns of wrapping text a third of that, two lines and a half a row."""

SHEET_CSS = f"""
body {{ font-size: {SHEET_FONT_PT}pt; }}
h2.sheet {{ font-size: 11pt; margin: 0 0 4pt 0; }}
table.sheet td {{ padding: 1pt 3pt; border: 0.4pt solid #bbb; vertical-align: top; }}
table.sheet td.number {{ text-align: right; }}
table.sheet td.header {{ background-color: #eee; font-style: italic; }}
table.sheet td.line {{ white-space: nowrap; }}
"""


@dataclass
class Sheet:
    name: str
    rows: list[list[str]] = field(default_factory=list)
    spans: dict[tuple[int, int], int] = field(default_factory=dict)
    """``(row, column)`` of a merged cell -> the columns it spans (the cells it covers are empty in ``rows``)."""


SHEET_CELLS = "docagent-sheet-cells.json"
"""The file a spreadsheet's rendering carries: each sheet's rows, and where on which page each cell was drawn."""
_CELL_ID = re.compile(r"x(\d+)\.(\d+)\.(\d+)\.(\d+)")
"""``x<sheet>.<band>.<row>.<column>``: the id of a cell as drawn (0-based; column of the sheet, not of the band)."""


class _SheetReader(HTMLParser):
    """Sheets from LibreOffice's HTML export: ``<h1>Sheet 1: <em>Sales</em></h1>`` then a ``<table>`` of the used range
    (a workbook of one sheet: the table alone, no name)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sheets: list[Sheet] = []
        self._heading: list[str] | None = None
        self._name = ""  # of the sheet whose table comes next
        self._cell: list[str] | None = None
        self._span = 1
        self._down = 1
        self._below: dict[int, int] = {}  # column -> rows still covered by a cell merged down from above

    def _covered(self, end: bool = False) -> None:
        """Empty cells where cells merged down from rows above stand (before the next cell, or to the row's end)."""
        row = self.sheets[-1].rows[-1]
        while self._below and (len(row) in self._below or (end and max(self._below) >= len(row))):
            if len(row) in self._below:
                self._below[len(row)] -= 1
                if not self._below[len(row)]:
                    del self._below[len(row)]
            row.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h1":
            self._heading = []
        elif tag == "table":
            self.sheets.append(Sheet(self._name))
            self._name = ""
            self._below = {}
        elif tag == "tr" and self.sheets:
            self.sheets[-1].rows.append([])
        elif tag in ("td", "th") and self.sheets and self.sheets[-1].rows:
            self._covered()
            self._cell = []
            span = dict(attrs).get("colspan") or "1"
            self._span = min(int(span), 1000) if span.isdigit() and int(span) > 0 else 1
            down = dict(attrs).get("rowspan") or "1"
            self._down = min(int(down), 100_000) if down.isdigit() and int(down) > 0 else 1
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1" and self._heading is not None:
            text = " ".join("".join(self._heading).split())
            if re.match(r"Sheet \d+:", text):
                self._name = text.split(":", 1)[1].strip()
            self._heading = None
        elif tag in ("td", "th") and self._cell is not None:
            row = self.sheets[-1].rows[-1]
            if self._span > 1:
                self.sheets[-1].spans[len(self.sheets[-1].rows) - 1, len(row)] = self._span
            if self._down > 1:  # a cell merged down: the rows below have no <td> there
                for k in range(len(row), len(row) + self._span):
                    self._below[k] = self._down - 1
            row.append(" ".join("".join(self._cell).split()))
            row.extend([""] * (self._span - 1))
            self._cell = None
        elif tag == "tr" and self.sheets and self.sheets[-1].rows:
            self._covered(end=True)

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._heading is not None:
            self._heading.append(data)


def read_sheets(exported: str) -> list[Sheet]:
    """The sheets of a LibreOffice HTML export, each as rows of cell texts (as the cells show them: formatted)."""
    reader = _SheetReader()
    reader.feed(exported)
    reader.close()
    for sheet in reader.sheets:
        while sheet.rows and not any(sheet.rows[-1]):
            sheet.rows.pop()
    return reader.sheets


def _heads(sheet: Sheet) -> tuple[int, int]:
    """Where a sheet's table starts and its header rows: rows above the first of two or more filled cells are its
    title; the rows above the first row with a figure right of the first column (years and quarters head columns)
    are headers, at most three; a sheet of text alone (a list of names and roles) is headed by its first row."""
    rows = sheet.rows
    start = next((r for r, row in enumerate(rows) if sum(bool(c) for c in row) >= 2), len(rows))

    def figures(row: list[str]) -> bool:
        return any(c and parse_number(c)[0] is not None and not _YEARISH.fullmatch(c) for c in row[1:])

    first = next((r for r in range(start, len(rows)) if figures(rows[r])), None)
    left = len(rows) - start
    if first is None:  # text alone
        return start, 1 if left >= 2 else 0
    return start, min(first - start, 3)


_YEARISH = re.compile(r"(?:FY|Q[1-4]|H[12])?\s*'?(?:19|20)\d{2}|(?:19|20)\d{2}\s*(?:Q[1-4]|H[12])")
"""A number in a header row that names a column (a year, a quarter), not a figure."""


def sheet_cells(sheets: list[Sheet], placed: list[Placed]) -> bytes:
    """What a spreadsheet's rendering carries (:data:`SHEET_CELLS`): each sheet's rows, merged cells, title and
    header rows, and each drawn cell's page and box (points), grouped by page and band."""
    where: dict[tuple[int, int, int], dict[tuple[int, int], tuple[float, ...]]] = {}
    for p in placed:
        m = _CELL_ID.fullmatch(p.id or "")
        if m:
            s, b, r, c = (int(g) for g in m.groups())
            where.setdefault((p.page_num, s, b), {}).setdefault((r, c), tuple(round(v, 2) for v in p.rect))
    out: dict[str, Any] = {"sheets": [], "placed": []}
    for sheet in sheets:
        start, heads = _heads(sheet)
        title = " ".join(c for row in sheet.rows[:start] for c in row if c)
        out["sheets"].append({"name": sheet.name, "rows": sheet.rows, "start": start, "header_rows": heads,
                              "title": " ".join(f"{sheet.name} {title}".split()),
                              "spans": [[r, c, n] for (r, c), n in sheet.spans.items()]})
    for (page, s, b), cells in sorted(where.items()):
        out["placed"].append({"page": page, "sheet": s, "band": b,
                              "cells": [[r, c, *box] for (r, c), box in sorted(cells.items())]})
    return json.dumps(out, separators=(",", ":")).encode()


def sheet_tables(stated: dict[str, Any], doc: str) -> dict[int, list[Table]]:
    """Each page's tables from a rendering's :data:`SHEET_CELLS`: a band of a sheet on a page is a table, a band
    carried over onto the next page its continuation (a repeated header row heads it again)."""
    out: dict[int, list[Table]] = {}
    last: dict[tuple[int, int], Table] = {}
    for placed in stated["placed"]:
        sheet = stated["sheets"][placed["sheet"]]
        rows, start, heads = sheet["rows"], sheet["start"], sheet["header_rows"]
        spans = {(r, c): n for r, c, n in sheet["spans"]}
        boxes = {(r, c): (x0, y0, x1, y1) for r, c, x0, y0, x1, y1 in placed["cells"]}
        key = (placed["sheet"], placed["band"])
        before = last.get(key)
        drawn = sorted({r for r, _ in boxes if r >= start})
        if before is not None and heads == 0:
            drawn = [r for r in drawn if r != 0]  # the first row repeated atop a page is no header here
        header = [r for r in drawn if r < start + heads]
        if before is not None and heads > 1:  # only the first header row is repeated: the part before heads this one
            header = []
        body = [r for r in drawn if r >= start + heads and any(rows[r])]
        if not body:
            continue
        order = {r: i for i, r in enumerate(header + body)}
        columns = sorted({c for _, c in boxes})
        col = {c: i for i, c in enumerate(columns)}
        cells = []
        for (r, c), box in boxes.items():
            text = rows[r][c] if c < len(rows[r]) else ""
            if r in order and text:
                span = sum(1 for k in range(c, c + spans.get((r, c), 1)) if k in col)
                cells.append(TableCell(order[r], col[c], text, box, col_span=max(1, span)))
        tables = out.setdefault(placed["page"], [])
        table = grid_table(doc, placed["page"], len(tables), cells, len(order), len(columns), len(header), sheet["title"])
        if before is not None:
            table.continued_from = (before.page, before.index)
            before.continues_on = (table.page, table.index)
            if table.header_rows == 0:
                table.inherited_header = before.column_headers()
        tables.append(table)
        last[key] = table
    return out


def _first_sheet_name(path: Path, container: str) -> str:
    """The first sheet's name, from an XLSX's ``xl/workbook.xml`` or an ODS's ``content.xml``; empty otherwise."""
    part, tag = {"ooxml": ("xl/workbook.xml", rb"<(?:\w+:)?sheet\b[^>]*>"),
                 "odf": ("content.xml", rb"<table:table\b[^>]*>")}.get(container, ("", b""))
    if not part:
        return ""
    try:
        with open_regular(path) as (f, _), zipfile.ZipFile(f) as archive:
            tags = re.findall(tag, _read(archive, part, 1 << 20))
    except (OSError, zipfile.BadZipFile):
        return ""
    for found in tags:  # the first sheet LibreOffice exports: hidden ones are not
        name = re.search(rb'\b(?:table:)?name="([^"]*)"', found)
        if name and not re.search(rb'\bstate="(?:hidden|veryHidden)"', found):
            return html.unescape(name.group(1).decode("utf-8", "replace"))
    return ""


def _letters(index: int) -> str:
    """Column letters of a 0-based column index: 0 -> A, 26 -> AA."""
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(65 + rest) + out
    return out


def _is_number(text: str) -> bool:
    return bool(re.fullmatch(r"[-+(]?[\d.,\s]*\d[\d.,\s]*%?\)?", text))


def _widths(sheet: Sheet) -> list[float]:
    """Points each column needs to show its longest cell on one line, at most MAX_COLUMN_PT."""
    columns = max((len(r) for r in sheet.rows), default=0)
    return [min(MAX_COLUMN_PT, 8 + max((pymupdf.get_text_length(r[c], "helv", SHEET_FONT_PT)
                                        for r in sheet.rows if c < len(r)), default=0)) for c in range(columns)]


def sheet_layout(sheets: list[Sheet]) -> tuple[list[str], pymupdf.Rect]:
    """The sheets as HTML pieces and the page they are laid out on: portrait A4 when every sheet fits its width
    (more rows a page), else landscape."""
    portrait = pymupdf.paper_rect("a4")
    page = portrait if all(sum(_widths(s)) <= portrait.width - 2 * MARGIN for s in sheets) else pymupdf.paper_rect("a4-l")
    return sheet_pieces(sheets, page.width - 2 * MARGIN, page.height - 2 * MARGIN), page


def _row(row: list[str], band: list[int], wraps: set[int], ids: str, kind: str = "") -> str:
    """A table row of the band's cells; cells of columns in ``wraps`` (text longer than MAX_COLUMN_PT) may wrap, the
    others stay on one line (their column's width was measured to hold them). Each cell's id is ``ids.<column>``."""
    cells = ((c, row[c] if c < len(row) else "") for c in band)
    return "<tr>" + "".join(
        f'<td id="{ids}.{c}" class="{kind or ("number" if _is_number(cell) else "text")}{"" if c in wraps else " line"}">'
        f"{html.escape(cell)}</td>" for c, cell in cells) + "</tr>"


def sheet_pieces(sheets: list[Sheet], width: float, height: float) -> list[str]:
    """HTML pieces laying out every sheet's cells whole, in bands of columns that fit ``width`` points; see the
    module. A sheet longer than a page (``height`` points) goes on pages of its own, each under its first row
    repeated (its column headers, as a rule), so every page of it says what its columns are (rows that wrap onto
    several lines may still run a page over onto the next)."""
    pieces: list[str] = []
    for s, sheet in enumerate(sheets):
        if not sheet.rows:
            continue
        widths = _widths(sheet)
        columns = len(widths)
        wraps = {c for c, w in enumerate(widths) if w >= MAX_COLUMN_PT}
        rows_per_page = max(5, int((height - 40) / ROW_PT / (2.5 if wraps else 1)))
        bands: list[list[int]] = []
        for c in range(columns):
            if bands and sum(widths[i] for i in bands[-1]) + widths[c] <= width:
                bands[-1].append(c)
            else:
                bands.append([0, c] if c and widths[0] + widths[c] <= width else [c])
        for b, band in enumerate(bands):
            label = html.escape(sheet.name)
            if len(bands) > 1:
                own = band[1:] if b and band[0] == 0 and len(band) > 1 else band
                label += f"{' ' if label else ''}(columns {_letters(own[0])}-{_letters(own[-1])} of A-{_letters(columns - 1)})"
            for start in range(0, len(sheet.rows), rows_per_page):
                more = start + rows_per_page
                repeat = _row(sheet.rows[0], band, wraps, f"x{s}.{b}.0", "header") if start else ""
                body = "".join(_row(row, band, wraps, f"x{s}.{b}.{r}") for r, row in enumerate(sheet.rows[start:more], start))
                heading = f'<h2 class="sheet">{label}</h2>' if start == 0 and label else ""
                page = NEW_PAGE if start or len(sheet.rows) > rows_per_page else ""
                pieces.append(f'{page}{heading}<table class="sheet">{repeat}{body}</table>')
    return pieces
