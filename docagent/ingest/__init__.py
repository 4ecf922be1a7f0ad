"""Files in, pages out: PDFs through PyMuPDF, page images (PNG, JPEG, TIFF) through Pillow, Office and
OpenDocument files converted to PDF by LibreOffice, HTML, Markdown, plain text and e-mail rendered to PDF,
OCR for pages without a usable text layer. Which reader a file gets is read from its content
(:mod:`docagent.ingest.formats`, the registry of formats).

    source = open_source("report.pdf")      # raises a DocumentLoadError subclass on bad input
    page = source.read_page(0)              # Page: text, word boxes, form widgets
    image = source.render(0, scale=150/72)  # PIL image of the page
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from docagent.ingest.base import Attachment, OpenOptions, Source, text_is_usable
from docagent.ingest.formats import describe, detect, is_supported, supported_suffixes
from docagent.ingest.ocr import OcrEngine, get_ocr_engine

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Attachment",
    "OcrEngine",
    "OpenOptions",
    "Source",
    "describe",
    "get_ocr_engine",
    "is_supported",
    "open_source",
    "sniff",
    "text_is_usable",
]

SUPPORTED_SUFFIXES = supported_suffixes()
"""File name suffixes a folder walk picks up (from the registry of formats)."""


def sniff(path: Path) -> str:
    """The kind of document ``path`` holds (``"pdf"``, ``"image"``, ``"word"``, ``"email"``, ``"markdown"`` ...:
    :func:`~docagent.ingest.formats.kinds`), from its content; raises for anything else (see
    :func:`~docagent.ingest.formats.detect`)."""
    return detect(path).kind


def open_source(path: str | Path, password: str | None = None, *, max_pages: int | None = None,
                options: OpenOptions | None = None) -> Source:
    """Open a document for reading, by what its content is (``password``: for encrypted PDFs; ``options``: all
    of them, which ``password`` and ``max_pages`` then override). Raises a
    :class:`~docagent.errors.DocumentLoadError` subclass that names the file and the reason when it
    cannot be read, or when it has more than ``max_pages`` pages (image frames count as pages)."""
    path = Path(path)
    options = options or OpenOptions()
    if password is not None or max_pages is not None:
        options = dataclasses.replace(options, password=password if password is not None else options.password,
                                      max_pages=max_pages if max_pages is not None else options.max_pages)
    return detect(path).open(path, options)
