"""PDFs through PyMuPDF: text layer with word boxes, AcroForm widgets, rendering."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from pathlib import Path

import pymupdf
from PIL import Image

from docagent.errors import (
    CorruptDocumentError,
    EmptyDocumentError,
    EncryptedDocumentError,
)
from docagent.ingest.base import Source, is_utf8, large_type_lines
from docagent.types import Heading, Page, Widget, Word

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

    def __init__(self, path: Path, password: str | None = None) -> None:
        super().__init__(path)
        self._forms_ok: bool | None = None
        self.decrypted = False
        """Opened with a password: copies of it are written decrypted (see :meth:`copy_to`)."""
        with _LOCK:
            try:
                if is_utf8(str(path)):
                    self._doc = pymupdf.open(path, filetype="pdf")
                else:  # MuPDF cannot open a name that is not UTF-8 on disk; Python can
                    self._doc = pymupdf.open(stream=path.read_bytes(), filetype="pdf")
            except Exception as e:  # noqa: BLE001 - FileDataError, FzError*, RuntimeError ...: all mean damage
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
                self._pages = self._doc.page_count
            except Exception as e:  # noqa: BLE001 - a page tree MuPDF cannot count is damage too
                self._doc.close()
                msg = f"damaged PDF: its pages cannot be counted ({e}); re-export or re-download it"
                raise CorruptDocumentError(path, msg) from e
            if self._pages == 0:
                self._doc.close()
                raise EmptyDocumentError(path, "the PDF has no pages")

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
            except Exception as e:  # noqa: BLE001
                msg = f"page {index + 1} cannot be read ({e}); the file is probably truncated or damaged"
                raise CorruptDocumentError(self.path, msg) from e
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
        )

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

    def render(self, index: int, scale: float) -> Image.Image:
        with _LOCK:
            try:
                pix = self._doc.load_page(index).get_pixmap(matrix=pymupdf.Matrix(scale, scale), alpha=False)
            except Exception as e:  # noqa: BLE001 - as in read_page
                msg = f"page {index + 1} cannot be rendered ({e})"
                raise CorruptDocumentError(self.path, msg) from e
            return Image.frombytes("RGB", (pix.width, pix.height), pix.samples)

    def _forms_readable(self) -> bool:
        """Whether MuPDF can read this PDF's form fields without looping forever: a damaged field tree can
        send it into an endless loop in C that nothing in the process can interrupt (found by fuzzing). So
        the fields of every page are read first in a forked child, under a time limit; if it does not
        come back, the fields are left out and the pages' text is still indexed."""
        if self._forms_ok is None:
            self._forms_ok = not self._doc.is_form_pdf or _probe(self._doc, FORM_PROBE_SECONDS + 0.01 * self.page_count)
            if not self._forms_ok:
                log.warning("%s: its form fields cannot be read (damaged field tree); indexing its text without them",
                            self.name)
        return self._forms_ok

    def copy_to(self, target: Path) -> None:
        if not self.decrypted:
            super().copy_to(target)
            return
        with _LOCK:  # the store keeps a decrypted copy, so pages render later without the password
            self._doc.save(target, encryption=pymupdf.PDF_ENCRYPT_NONE)

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
    kind = _WIDGET_TYPES.get(w.field_type_string, w.field_type_string.lower())
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
        box=(r.x0, r.y0, r.x1, r.y1),
        label=w.field_label or "",
        options=options,
    )


FORM_PROBE_SECONDS = 10.0


def _probe(doc: pymupdf.Document, seconds: float) -> bool:
    """Read every page's form fields in a forked child; False when it hangs or dies."""
    if not hasattr(os, "fork"):
        return True  # no fork (Windows): trust the file
    pid = os.fork()
    if pid == 0:  # the child: touch every field, then leave without running any cleanup
        code = 0
        try:
            for page in doc:
                for w in page.widgets():
                    _widget(w)
        except BaseException:  # noqa: BLE001 - exceptions are handled in the parent; only hangs matter here
            code = 0
        os._exit(code)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return False

