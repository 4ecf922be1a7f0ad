"""Files in, pages out: PDFs through PyMuPDF, page images (PNG, JPEG, TIFF) through Pillow,
OCR for pages without a usable text layer.

    source = open_source("report.pdf")      # raises a DocumentLoadError subclass on bad input
    page = source.read_page(0)              # Page: text, word boxes, form widgets
    image = source.render(0, scale=150/72)  # PIL image of the page
"""

from __future__ import annotations

from pathlib import Path

from docagent.errors import EmptyDocumentError, UnsupportedFileError
from docagent.ingest.base import Source, open_regular, text_is_usable
from docagent.ingest.ocr import OcrEngine, get_ocr_engine

__all__ = [
    "SUPPORTED_SUFFIXES",
    "OcrEngine",
    "Source",
    "get_ocr_engine",
    "is_supported",
    "open_source",
    "sniff",
    "text_is_usable",
]

SUPPORTED_SUFFIXES = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff"})

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"II*\x00", "image"),
    (b"MM\x00*", "image"),
)


def is_supported(path: Path) -> bool:
    """Whether a folder walk should pick this file up (by its suffix)."""
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def sniff(path: Path) -> str:
    """``"pdf"`` or ``"image"`` from the file's first bytes; raises for anything else (a FIFO or a device too,
    before reading from it: see :func:`~docagent.ingest.base.open_regular`)."""
    with open_regular(path) as (f, size):
        head = f.read(min(1024, size))
    if not head:
        raise EmptyDocumentError(path, "the file is empty (0 bytes); re-export or re-download it")
    if b"%PDF-" in head:
        return "pdf"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    looks = "text" if _looks_like_text(head) else "binary data"
    msg = (
        f"not a PDF or a PNG/JPEG/TIFF image (its content looks like {looks}"
        f"{', despite the ' + path.suffix + ' suffix' if path.suffix else ''}); "
        "convert it to PDF first"
    )
    raise UnsupportedFileError(path, msg)


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def open_source(path: str | Path, password: str | None = None, *, max_pages: int | None = None) -> Source:
    """Open a PDF or page image for reading (``password``: for encrypted PDFs). Raises a
    :class:`~docagent.errors.DocumentLoadError` subclass that names the file and the reason when it
    cannot be read, or when it has more than ``max_pages`` pages (image frames count as pages)."""
    path = Path(path)
    kind = sniff(path)
    if kind == "pdf":
        from docagent.ingest.pdf import PdfSource

        return PdfSource(path, password, max_pages=max_pages)
    from docagent.ingest.images import ImageSource

    return ImageSource(path, max_pages=max_pages)
