"""PDFs through PyMuPDF: text layer with word boxes, AcroForm widgets, rendering."""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import pymupdf
from PIL import Image

from docagent.errors import (
    CorruptDocumentError,
    DocumentLoadError,
    EmptyDocumentError,
    EncryptedDocumentError,
)
from docagent.ingest.base import (
    TITLE_ZONE,
    Source,
    body_size,
    check_page_count,
    is_utf8,
    large_type_lines,
    open_regular,
    read_bounded,
    title_lines,
)
from docagent.types import Box, Heading, Page, Widget, Word

__all__ = ["PdfSource"]

log = logging.getLogger(__name__)

# MuPDF prints repair warnings on stderr by default; we report problems ourselves.
pymupdf.TOOLS.mupdf_display_errors(False)
pymupdf.TOOLS.mupdf_display_warnings(False)

_WIDGET_TYPES = {
    "Text": "text",
    "CheckBox": "checkbox",
    "RadioButton": "radiobutton",
    "ComboBox": "combobox",
    "ListBox": "listbox",
    "Signature": "signature",
    "Button": "button",
}

# What MuPDF says while reading a page whose objects were lost to truncation or damage.
_DAMAGE = re.compile(r"cannot load content stream|object is not a stream|non-page object in page tree|expected 'endobj'")

# PyMuPDF is not thread-safe; one lock per process keeps threaded callers (the app) correct.
_LOCK = threading.RLock()


class PdfSource(Source):
    kind = "pdf"

    def __init__(self, path: Path, password: str | None = None, *, max_pages: int | None = None,
                 data: bytes | None = None) -> None:
        """``data``: the PDF's bytes, when they are not the file at ``path`` (a rendering of it)."""
        super().__init__(path)
        self._forms_ok: bool | None = None
        self._labels: bool | None = None
        self._password = password
        self.decrypted = False
        """Opened with a password: copies of it are written decrypted (see :meth:`copy_to`)."""
        with _LOCK:
            try:
                if data is not None:
                    self._doc = pymupdf.open(stream=data, filetype="pdf")
                elif is_utf8(str(path)):
                    self._doc = pymupdf.open(path, filetype="pdf")
                else:  # MuPDF cannot open a name that is not UTF-8 on disk; Python can
                    with open_regular(path) as (f, size):
                        self._doc = pymupdf.open(stream=b"".join(read_bounded(f, size)), filetype="pdf")
            except DocumentLoadError:
                raise
            except Exception as e:
                msg = f"damaged or truncated PDF that MuPDF cannot repair ({e}); re-export or re-download it"
                raise CorruptDocumentError(path, msg) from e
            if self._doc.needs_pass:
                if password and self._doc.authenticate(password):
                    self.decrypted = True
                else:
                    self._doc.close()
                    msg = ("the PDF is encrypted and the password given does not open it; check it (--password)"
                           if password else "the PDF is encrypted and needs a password: index it with --password "
                           "PASSWORD (or DOCAGENT_PDF_PASSWORD), or decrypt it first (`qpdf --decrypt "
                           "--password=PASSWORD in.pdf out.pdf`)")
                    raise EncryptedDocumentError(path, msg)
            try:
                self._pages: int = self._doc.page_count
            except Exception as e:
                self._doc.close()
                msg = f"damaged PDF: its pages cannot be counted ({e}); re-export or re-download it"
                raise CorruptDocumentError(path, msg) from e
            if self._pages == 0:
                self._doc.close()
                raise EmptyDocumentError(path, "the PDF has no pages")
            try:
                check_page_count(path, self._pages, max_pages)
            except DocumentLoadError:
                self._doc.close()
                raise

    @property
    def page_count(self) -> int:
        return self._pages

    def read_page(self, index: int) -> Page:
        with _LOCK:
            repaired = self._doc.is_repaired
            if repaired:
                pymupdf.TOOLS.mupdf_warnings(reset=True)
            try:  # MuPDF raises many kinds of exception on damaged files; any of them means damage here
                page = self._doc.load_page(index)
                textpage = page.get_textpage()
                text = page.get_text("text", textpage=textpage)
                raw_words = page.get_text("words", textpage=textpage)
                top = page.get_text("dict", clip=pymupdf.Rect(0, 0, page.rect.width, page.rect.height * TITLE_ZONE),
                                    flags=0)
            except Exception as e:
                msg = f"page {index + 1} cannot be read ({e}); the file is probably truncated or damaged"
                raise CorruptDocumentError(self.path, msg) from e
            try:
                label = page.get_label() if self._labelled() else ""
            except Exception:  # noqa: BLE001 - a damaged label tree: the page number is found on the page instead
                label = ""
            widgets = []
            if self._forms_readable():
                try:
                    widgets = [_widget(w) for w in page.widgets()]
                except Exception:  # noqa: BLE001 - damaged form fields: the page's text still counts
                    widgets = []
            rect = page.rect
            if repaired and _DAMAGE.search(pymupdf.TOOLS.mupdf_warnings(reset=True)):
                msg = (
                    f"page {index + 1} is cut off or damaged (the file looks truncated: MuPDF had to "
                    "repair it and cannot read this page's content); re-download or re-export it"
                )
                raise CorruptDocumentError(self.path, msg)
        words = [Word(w[4], (w[0], w[1], w[2], w[3])) for w in raw_words]
        return Page(
            doc=self.name,
            number=index + 1,
            width=rect.width,
            height=rect.height,
            text=text,
            words=words,
            widgets=widgets,
            headings=large_type_lines(_lines(raw_words)),
            title_lines=_title_lines(top),
            label=" ".join(str(label).split())[:24],
        )

    def _labelled(self) -> bool:
        """The PDF defines page labels (``/PageLabels``): looked up once."""
        if self._labels is None:
            try:
                self._labels = bool(self._doc.get_page_labels())
            except Exception:  # noqa: BLE001 - unreadable label tree
                self._labels = False
        return self._labels

    def metadata(self) -> dict[str, str]:
        with _LOCK:
            meta = self._doc.metadata or {}
        return {key: " ".join(str(meta[key]).split()) for key in ("title", "author", "subject", "keywords") if meta.get(key) and str(meta[key]).strip()}

    def outline(self) -> list[Heading]:
        with _LOCK:
            try:
                toc = self._doc.get_toc(simple=True)
            except Exception:  # noqa: BLE001 - a damaged outline is no outline; the pages still count
                return []
        return [Heading(int(level), " ".join(str(title).split()), int(page)) for level, title, page, *_ in toc
                if str(title).strip() and 1 <= int(page) <= self._pages]

    def has_images(self, index: int) -> bool:
        with _LOCK:
            return bool(self._doc.get_page_images(index))

    def rules(self, index: int) -> list[Box]:
        """The page's thin horizontal and vertical lines: stroked line segments, and the edges of rectangles
        (stroked, or filled and thin, as many tools draw rules). Pages with more than ``MAX_DRAWINGS`` drawing
        items (plots, maps) give none: reading them costs more than any table gains."""
        with _LOCK:
            try:
                page = self._doc.load_page(index)
                paths = page.get_cdrawings() if hasattr(page, "get_cdrawings") else page.get_drawings()
            except Exception:  # noqa: BLE001 - damaged drawings: the table finder reads the words alone
                return []
        if len(paths) > MAX_DRAWINGS:
            return []
        out: list[Box] = []
        for path in paths:
            for item in path.get("items", ()):
                if item[0] == "l":
                    (x0, y0), (x1, y1) = item[1], item[2]
                    box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
                    if box[2] - box[0] <= RULE_THICKNESS or box[3] - box[1] <= RULE_THICKNESS:
                        out.append(box)
                elif item[0] == "re":
                    x0, y0, x1, y1 = item[1]
                    x0, x1, y0, y1 = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
                    if x1 - x0 <= RULE_THICKNESS or y1 - y0 <= RULE_THICKNESS:  # a filled rectangle drawn as a rule
                        out.append((x0, y0, x1, y1))
                    elif path.get("color") is not None:  # a stroked box: its four edges
                        out += [(x0, y0, x1, y0), (x0, y1, x1, y1), (x0, y0, x0, y1), (x1, y0, x1, y1)]
        return out

    def render(self, index: int, scale: float) -> Image.Image:
        with _LOCK:
            try:
                pix = self._doc.load_page(index).get_pixmap(matrix=pymupdf.Matrix(scale, scale), alpha=False)
            except Exception as e:
                msg = f"page {index + 1} cannot be rendered ({e})"
                raise CorruptDocumentError(self.path, msg) from e
            return Image.frombytes("RGB", (pix.width, pix.height), pix.samples)

    def _forms_readable(self) -> bool:
        """Whether MuPDF can read this PDF's form fields without looping forever: a damaged field tree can
        send it into an endless loop in C that nothing in the process can interrupt (found by fuzzing). So
        the fields of every page are read first in a child process, under a time limit; if it does not
        come back, the fields are left out and the pages' text is still indexed."""
        if self._forms_ok is None:
            self._forms_ok = not self._doc.is_form_pdf or _probe(
                self.path, self._password if self.decrypted else None, FORM_PROBE_SECONDS + 0.01 * self.page_count)
        return self._forms_ok

    def copy_to(self, target: Path) -> None:
        if not self.decrypted:
            super().copy_to(target)
            return
        with _LOCK:  # the store keeps a decrypted copy, so pages render later without the password
            self._doc.save(target, encryption=pymupdf.mupdf.PDF_ENCRYPT_NONE)

    def trim_caches(self) -> None:
        with _LOCK:
            pymupdf.TOOLS.store_shrink(100)  # MuPDF's resource store (fonts, images) grows otherwise

    def close(self) -> None:
        with _LOCK:
            self._doc.close()


def _lines(raw_words: list[tuple]) -> list[tuple[str, float]]:
    """MuPDF's words grouped into their lines: ``(text, median word height)`` in reading order."""
    lines: dict[tuple[int, int], list[tuple]] = {}
    for w in raw_words:
        lines.setdefault((w[5], w[6]), []).append(w)
    out = []
    for ws in lines.values():
        heights = sorted(w[3] - w[1] for w in ws)
        out.append((" ".join(w[4] for w in ws), heights[len(heights) // 2]))
    return out


def _widget(w: pymupdf.Widget) -> Widget:
    type_name = w.field_type_string or ""
    kind = _WIDGET_TYPES.get(type_name, type_name.lower())
    value: str | bool | None = w.field_value
    options: tuple[str, ...] = ()
    if kind in ("checkbox", "radiobutton"):
        try:
            on = w.on_state()
        except Exception:  # noqa: BLE001 - a damaged checkbox still has a value
            on = None
        options = (str(on),) if on not in (None, False) else ()
        value = str(value).lstrip("/") not in ("", "Off", "None", "False")
    elif kind in ("combobox", "listbox"):
        options = tuple(c if isinstance(c, str) else str(c[-1]) for c in (w.choice_values or ()))
    if value == "":
        value = None
    r = w.rect
    return Widget(
        name=w.field_name or "",
        type=kind,
        value=value,
        box=(r.x0, r.y0, r.x1, r.y1) if r is not None else (0.0, 0.0, 0.0, 0.0),
        label=w.field_label or "",
        options=options,
    )


MAX_DRAWINGS = 3000
"""Pages with more drawing items than this (plots, maps, vector art) are read for no ruling lines."""

RULE_THICKNESS = 3.0
"""Points: a line or rectangle at most this thick in one direction is a rule."""

FORM_PROBE_SECONDS = 10.0
"""Time the probe's child has to read every form field (plus 10 ms a page) once it has opened the file."""

PROBE_START_SECONDS = 60.0
"""Time the probe's child has to start Python, import PyMuPDF and open the file (seconds on a busy machine)."""

_READ_RAISED, _OPEN_FAILED = 3, 4
"""Exit statuses of the probe's child: reading the fields raised a Python exception (no hang: the parent reads
them itself and handles what they raise), or the file could not be opened."""

_PROBE_CHILD = f"""
import json, os, sys
request = json.loads(sys.stdin.buffer.read())
sys.path[:] = request["sys_path"]
import pymupdf
pymupdf.TOOLS.mupdf_display_errors(False)
pymupdf.TOOLS.mupdf_display_warnings(False)
path = request["path"]
try:
    try:
        path.encode("utf-8")
        doc = pymupdf.open(path, filetype="pdf")
    except UnicodeEncodeError:  # a name that is not UTF-8 on disk: MuPDF cannot open it, Python can
        with open(path, "rb") as f:
            doc = pymupdf.open(stream=f.read(), filetype="pdf")
    if doc.needs_pass and not doc.authenticate(request["password"] or ""):
        os._exit({_OPEN_FAILED})
except Exception:
    os._exit({_OPEN_FAILED})
sys.stdout.buffer.write(b"open")
sys.stdout.flush()
try:
    for page in doc:
        for w in page.widgets():  # what _widget() reads: values, names, choices are read here
            if w.field_type in (pymupdf.PDF_WIDGET_TYPE_CHECKBOX, pymupdf.PDF_WIDGET_TYPE_RADIOBUTTON):
                w.on_state()
except Exception:
    os._exit({_READ_RAISED})
os._exit(0)
"""
"""The probe's child (``python -I -c``): PyMuPDF and nothing else, which starts in a fraction of the time docagent
takes to import. It reads the parent's ``sys.path``, the file's path and its password from stdin, writes ``open``
once the file is open, touches every form field, and leaves without cleanup (``os._exit``)."""


def _probe(path: Path, password: str | None, seconds: float) -> bool:
    """Read every page's form fields in a freshly started Python, killed after ``seconds`` of reading: False
    (with a warning saying why) when it hangs, is killed by a signal or cannot open the file; True when it
    reads them all, or when reading them raised an exception, which the parent meets again and handles.

    Not a fork: a fork copies one thread of a threaded process (the server, the app) with every lock held by
    the others, which can deadlock the child. The password goes through a pipe, never on the command line
    (which other users of the machine can read)."""
    if not sys.executable:  # embedded without an interpreter to start: trust the file, as before the probe
        return True
    request = json.dumps({"sys_path": sys.path, "path": str(path.absolute()), "password": password}).encode()
    try:
        child = subprocess.Popen([sys.executable, "-I", "-c", _PROBE_CHILD], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:
        why = f"no Python could be started to check them ({e})"
        return _unreadable(path, why)
    stdin, stdout, stderr = child.stdin, child.stdout, child.stderr
    assert stdin is not None and stdout is not None and stderr is not None  # all three are pipes
    with child:
        try:
            stdin.write(request)
            stdin.close()
        except OSError:
            pass  # the child is already gone: its exit status says why
        opened = _first_bytes(stdout, PROBE_START_SECONDS)
        try:
            code = child.wait(timeout=seconds if opened else 0.5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            if opened:
                return _unreadable(path, f"reading them did not finish in {seconds:.0f} s (a damaged field tree "
                                         "can send MuPDF into an endless loop)")
            return _unreadable(path, f"the process reading them did not start in {PROBE_START_SECONDS:.0f} s")
        err = stderr.read().decode(errors="replace").strip()
    if code in (0, _READ_RAISED):
        return True
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return _unreadable(path, f"the process reading them was killed by {name} (MuPDF crashed on them)")
    if code == _OPEN_FAILED:
        return _unreadable(path, "the process reading them could not open the file")
    last = err.splitlines()[-1] if err else "no message"
    return _unreadable(path, f"the process reading them failed (exit status {code}: {last})")


def _first_bytes(stream: IO[bytes], seconds: float) -> bool:
    """Whether ``stream`` yields something within ``seconds`` (a thread waits on it, so this works on any platform)."""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(stream.read(1)), daemon=True)
    reader.start()
    reader.join(seconds)
    return bool(got and got[0])


def _unreadable(path: Path, why: str) -> bool:
    log.warning("%s: its form fields are left out: %s; its text is indexed without them", path.name, why)
    return False


def _title_lines(top: dict[str, Any]) -> list[str]:
    """Title lines from the top of a page as PyMuPDF's ``dict`` gives it (spans with size and bold flag)."""
    lines: list[tuple[str, float, bool]] = []
    sizes: list[tuple[float, int]] = []
    for block in top.get("blocks", ()):
        for line in block.get("lines", ()):
            spans = [s for s in line.get("spans", ()) if str(s.get("text", "")).strip()]
            if not spans:
                continue
            text = " ".join(str(s["text"]).strip() for s in spans)
            size = max(float(s.get("size", 0)) for s in spans)
            bold = all(int(s.get("flags", 0)) & 16 or "bold" in str(s.get("font", "")).lower() for s in spans)
            lines.append((text, size, bold))
            sizes.append((size, len(text.split())))
    return title_lines(lines, body_size(sizes))
