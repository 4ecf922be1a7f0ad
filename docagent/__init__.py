"""docagent: question answering, chart arithmetic and form-field extraction over documents (PDFs, scans, Office files, e-mail, web pages).

    import docagent
    report = docagent.index(["examples/"])            # render, read, OCR, embed, store
    answer = docagent.ask("What is the invoice total?")  # answer, citations with boxes, or abstention
    with docagent.Context(llm=chat_model) as ctx:        # settings, store and model, shared by several calls
        docagent.ask("Who signed it?", context=ctx)
    for hit in docagent.search("invoice total", k=3):
        print(hit.doc, hit.page, hit.score, hit.image)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from docagent.config import Settings
from docagent.context import Context
from docagent.errors import (
    CalculationError,
    ConfigError,
    CorruptDocumentError,
    DocagentError,
    DocumentLoadError,
    EmptyDocumentError,
    EncryptedDocumentError,
    FileTooLargeError,
    ModelError,
    ModelLoadError,
    ModelOutOfMemoryError,
    StoreError,
    StoreMismatchError,
    UnsupportedFileError,
)
from docagent.index import PageStore, index_paths
from docagent.question import Question
from docagent.retrieve import PageRetriever
from docagent.tasks.chart import ChartAnswer, chart
from docagent.tasks.extract import extract
from docagent.tasks.qa import ask
from docagent.types import (
    Answer,
    AnswerSpan,
    Citation,
    Extraction,
    FailedFile,
    FieldValue,
    IndexReport,
    Page,
    PageHit,
    ReportPeriod,
    Table,
    TableCell,
    Widget,
    Word,
)

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "AnswerSpan",
    "CalculationError",
    "ChartAnswer",
    "Citation",
    "ConfigError",
    "Context",
    "CorruptDocumentError",
    "DocagentError",
    "DocumentLoadError",
    "EmptyDocumentError",
    "EncryptedDocumentError",
    "Extraction",
    "FailedFile",
    "FieldValue",
    "FileTooLargeError",
    "IndexReport",
    "ModelError",
    "ModelLoadError",
    "ModelOutOfMemoryError",
    "Page",
    "PageHit",
    "PageRetriever",
    "PageStore",
    "Question",
    "ReportPeriod",
    "Settings",
    "StoreError",
    "StoreMismatchError",
    "Table",
    "TableCell",
    "UnsupportedFileError",
    "Widget",
    "Word",
    "__version__",
    "ask",
    "chart",
    "extract",
    "index",
    "remove",
    "search",
    "tables",
]


def index(paths: Sequence[str | Path], settings: Settings | None = None, *, progress: bool = False,
          on_file: Callable[[int, int, str], None] | None = None) -> IndexReport:
    """Index files and folders (every format :func:`docagent.ingest.describe` names) into the store of ``settings``.
    ``on_file(done, total, name)`` hears of each file as it starts, and of the end (name empty)."""
    return index_paths(paths, settings, progress=progress, on_file=on_file)


def search(
    query: str | Question,
    k: int = 5,
    *,
    mode: Literal["hybrid", "dense", "lexical"] = "hybrid",
    docs: Iterable[str] | None = None,
    filter: dict[str, Any] | None = None,
    settings: Settings | None = None,
    context: Context | None = None,
) -> list[PageHit]:
    """The ``k`` pages that best match ``query`` (text, or a :class:`Question` read with ``Question.parse``;
    ``mode``: hybrid, dense or lexical), each with its
    score, matching passage and page image. ``filter``: ``{"doc_kind": "annual report", "year": 2018,
    "organisation": "Acme"}`` (document cards) or ``{"ocr": True, "kind": "pdf"}`` (pages). ``context``: the
    store to search (else the store of ``settings``)."""
    with Context.of(context, settings=settings) as ctx:
        return PageRetriever(store=ctx.store, k=k).search(query, mode=mode, docs=list(docs) if docs else None,
                                                          filter=filter)


def remove(names: Iterable[str], settings: Settings | None = None) -> tuple[list[str], list[str]]:
    """Remove documents (by file name) completely. Returns (removed, not found)."""
    with PageStore(settings) as store:
        return store.remove(names)


def tables(doc: str, page: int | None = None, settings: Settings | None = None, *,
           context: Context | None = None) -> list[Table]:
    """The tables found in an indexed document (on page ``page`` when given): header rows and body rows of cells,
    each cell with its text, exact number and box. ``Table.to_csv()``, ``to_html()``, ``to_markdown()`` and
    ``to_json()`` export one. ``context``: the store to read (else the store of ``settings``)."""
    with Context.of(context, settings=settings) as ctx:
        return ctx.store.tables(doc, page)
