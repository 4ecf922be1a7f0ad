"""The exceptions docagent raises, in one tree.

    DocagentError
    ├── ConfigError                  a setting or argument cannot work as given
    ├── DocumentLoadError            one input file cannot be read as a document
    │   ├── UnsupportedFileError     of no format docagent reads (docagent.ingest.formats), or over a limit
    │   ├── EmptyDocumentError       zero bytes, or a document with no pages
    │   ├── CorruptDocumentError     damaged or truncated beyond repair
    │   ├── EncryptedDocumentError   needs a password
    │   ├── ConverterMissingError    needs a converter that is not installed (LibreOffice for Office files)
    │   └── FileTooLargeError        an upload over the size limit
    ├── CalculationError             an arithmetic expression cannot be computed (and why)
    ├── ModelError                   a model cannot be loaded or run
    │   ├── ModelLoadError           weights missing (offline, wrong path), no GPU for a GPU-sized model
    │   └── ModelOutOfMemoryError    the GPU ran out of memory while generating
    └── StoreError                   the page store cannot be opened or written
        └── StoreMismatchError       the store was built with another embedding model

Every message says what went wrong and what to do about it. A ``DocumentLoadError``
names the file; indexing records it and goes on with the rest of the batch.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CalculationError",
    "ConfigError",
    "ConverterMissingError",
    "CorruptDocumentError",
    "DocagentError",
    "DocumentLoadError",
    "EmptyDocumentError",
    "EncryptedDocumentError",
    "FileTooLargeError",
    "ModelError",
    "ModelLoadError",
    "ModelOutOfMemoryError",
    "StoreError",
    "StoreMismatchError",
    "UnsupportedFileError",
]


class DocagentError(Exception):
    """Base class of every error docagent raises on purpose."""


class ConfigError(DocagentError):
    """A setting or an argument cannot work as given."""


class DocumentLoadError(DocagentError):
    """A file cannot be read as a document. ``path`` names it, ``reason`` says why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path.name}: {reason}")


class UnsupportedFileError(DocumentLoadError):
    """The file is of no format docagent reads, or over one of its limits."""


class EmptyDocumentError(DocumentLoadError):
    """The file has no bytes or no pages."""


class CorruptDocumentError(DocumentLoadError):
    """The file is damaged or truncated and cannot be repaired on the fly."""


class EncryptedDocumentError(DocumentLoadError):
    """The document needs a password to be opened."""


class ConverterMissingError(DocumentLoadError):
    """The file needs a converter that is not installed (LibreOffice for Office files); the message says how to install it."""


class FileTooLargeError(DocumentLoadError):
    """An uploaded file is larger than the limit it was offered under."""


class CalculationError(DocagentError):
    """An expression is not one the calculator computes: the message says what is allowed."""


class ModelError(DocagentError):
    """A model (embedding, OCR, reranker, vision-language) cannot be loaded or run."""


class ModelLoadError(ModelError):
    """A model could not be loaded (missing weights, offline, wrong path, no GPU for a GPU-sized model)."""


class ModelOutOfMemoryError(ModelError):
    """The accelerator ran out of memory; the message says what to lower."""


class StoreError(DocagentError):
    """The page store cannot be opened, read or written."""


class StoreMismatchError(StoreError):
    """The store was built with a different embedding model than the one configured."""
