"""PDFs through PyMuPDF: text layer with word boxes, AcroForm widgets, rendering."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pymupdf
from PIL import Image

from docagent.errors import (
    CorruptDocumentError,
    EmptyDocumentError,
    EncryptedDocumentError,
)
from docagent.ingest.base import Source
from docagent.types import Page, Widget, Word

__all__ = ["PdfSource"]

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
        self.decrypted = False
        """Opened with a password: copies of it are written decrypted (see :meth:`copy_to`)."""
        with _LOCK:
            try:
                if _utf8(str(path)):
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
            if self._doc.page_count == 0:
                self._doc.close()
                raise EmptyDocumentError(path, "the PDF has no pages")

    @property
    def page_count(self) -> int:
        return self._doc.page_count

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
        )

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


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

