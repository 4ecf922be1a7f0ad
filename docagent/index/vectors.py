"""The vector-index seam: where passage vectors are kept and searched, behind one small interface.

    VectorIndex          what the store needs from a backend: upsert, delete_doc, search, count, passages
      ChromaVectors      the default, ``chroma`` (docagent.index.chroma): embedded or a Chroma server
    Passage              one passage as the index keeps it beside its vector
    SearchScope          which passages a search may return (documents, pages, OCR'd or not, file kind)
    VectorHit            a passage found, with its cosine similarity

Backends are found by name in the ``docagent.vector_backends`` entry-point group, docagent's own ``chroma``
included; ``DOCAGENT_VECTOR_BACKEND`` (:attr:`~docagent.config.Settings.vector_backend`) picks one. A second
backend is one module: subclass :class:`VectorIndex`, and register the class in your package's metadata::

    [project.entry-points."docagent.vector_backends"]
    mine = "my_package.vectors:MyVectors"
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from docagent.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from docagent.config import Settings

__all__ = ["EVERYWHERE", "GROUP", "Passage", "SearchScope", "VectorHit", "VectorIndex", "VectorSpec", "vector_backend",
           "vector_backends"]

GROUP = "docagent.vector_backends"
"""The entry-point group vector backends register under: name -> a :class:`VectorIndex` subclass."""


@dataclass(frozen=True)
class Passage:
    """One passage of a page, as the vector index keeps it beside its vector."""

    doc_id: str
    """The document version (``DocumentRecord.doc_id``)."""
    doc: str
    """The document's name."""
    page: int
    """1-based page number."""
    idx: int
    """The passage's index on its page."""
    start: int
    """Where the passage starts in its page's text."""
    end: int
    """Where it ends (exclusive)."""
    ocr: bool
    """Whether the page's text came from OCR."""
    kind: str
    """The document's kind (``pdf``, ``image`` ...)."""
    text: str
    """The passage's own text (what a snippet shows; the vector was computed with its context line too)."""

    @property
    def id(self) -> str:
        """``doc_id:page:idx``, unique in a store."""
        return f"{self.doc_id}:{self.page}:{self.idx}"


@dataclass(frozen=True)
class SearchScope:
    """Which passages a search may return; a field left ``None`` does not narrow it. The lexical index
    (:meth:`~docagent.index.catalog.Catalog.lexical`) takes the same scope."""

    doc_ids: tuple[str, ...] | None = None
    """Only passages of these document versions (empty: none at all)."""
    pages: tuple[int, int] | None = None
    """Only pages in this inclusive 1-based range."""
    ocr: bool | None = None
    """Only pages read by OCR (True) or from a text layer (False)."""
    kind: str | None = None
    """Only documents of this kind (``pdf``, ``image`` ...)."""

    def admits(self, passage: Passage) -> bool:
        """Whether ``passage`` is in scope: for backends that filter in Python."""
        return ((self.doc_ids is None or passage.doc_id in self.doc_ids)
                and (self.pages is None or self.pages[0] <= passage.page <= self.pages[1])
                and (self.ocr is None or passage.ocr == self.ocr)
                and (self.kind is None or passage.kind == self.kind))

    def narrowed(self, doc_ids: Sequence[str]) -> SearchScope:
        """The same scope over these documents only."""
        return SearchScope(tuple(doc_ids), self.pages, self.ocr, self.kind)


EVERYWHERE = SearchScope()
"""A scope that narrows nothing: every passage of the store."""


@dataclass(frozen=True)
class VectorHit:
    """A passage a vector search found."""

    passage: Passage
    score: float
    """Cosine similarity to the query, higher is better."""


@dataclass(frozen=True)
class VectorSpec:
    """What a backend is given to open one store's vector index."""

    root: Path
    """The store's directory; a backend that keeps files keeps them in a folder of its own under it
    (``chroma/``)."""
    name: str
    """``docagent_<store id>``: the same for every process opening this store, different for every store."""
    settings: Settings
    """The store's settings (``chroma_url`` ...)."""
    generation: Callable[[], int]
    """Reads the store's generation, raised whenever passages are made visible or removed, by any process:
    a backend holding a view of its own per process (an embedded Chroma) reopens it when this has moved."""


class VectorIndex(ABC):
    """The passage vectors of one store. Opened once per :class:`~docagent.index.store.PageStore` on first use
    and shared by its threads; methods may be called from several threads at once. Vectors are L2-normalised
    float32 rows. Opening may connect or load: a failure is a :class:`~docagent.errors.StoreError` (or a
    :class:`~docagent.errors.ConfigError`) saying what to do."""

    @abstractmethod
    def __init__(self, spec: VectorSpec) -> None: ...

    @classmethod
    @contextmanager
    def writing(cls, spec: VectorSpec) -> Iterator[None]:
        """Held around everything done under the store's write lock, whether or not this index was opened
        (nothing by default)."""
        yield

    @abstractmethod
    def upsert(self, passages: Sequence[Passage], vectors: np.ndarray) -> None:
        """Add or replace passages (by :attr:`Passage.id`) with their vectors, one row each."""

    @abstractmethod
    def delete_doc(self, doc_id: str) -> None:
        """Remove every passage of a document version (none: nothing to do)."""

    @abstractmethod
    def search(self, vector: np.ndarray, n: int, scope: SearchScope = EVERYWHERE) -> list[VectorHit]:
        """The ``n`` passages in ``scope`` most similar to ``vector``, best first."""

    @abstractmethod
    def count(self) -> int:
        """How many passages the index holds."""

    @abstractmethod
    def passages(self) -> dict[str, Passage]:
        """Every passage by id (for checks and tests)."""

    def document(self, doc_id: str) -> tuple[list[Passage], np.ndarray]:
        """A document version's passages with their vectors (for ``docagent store copy``). A backend that cannot give
        its vectors back says so; the copy then stops before writing anything."""
        msg = f"the {type(self).__name__} vector backend cannot give its vectors back; `store copy` needs it to"
        raise NotImplementedError(msg)


_LOADED: dict[str, type[VectorIndex]] = {}


def vector_backends() -> list[str]:
    """The names of the installed vector backends, sorted."""
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def vector_backend(name: str) -> type[VectorIndex]:
    """The :class:`VectorIndex` class registered as ``name``; a :class:`~docagent.errors.ConfigError` naming the
    installed ones when none is."""
    if name in _LOADED:
        return _LOADED[name]
    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        msg = (f"no vector backend is named {name!r}; installed: {', '.join(vector_backends()) or 'none'}. "
               "Set DOCAGENT_VECTOR_BACKEND to one of them, or install the package that provides it")
        raise ConfigError(msg)
    backend = found[0].load()
    if not (isinstance(backend, type) and issubclass(backend, VectorIndex)):
        msg = f"the vector backend {name!r} ({found[0].value}) is not a docagent.index.vectors.VectorIndex subclass"
        raise ConfigError(msg)
    _LOADED[name] = backend
    return backend
