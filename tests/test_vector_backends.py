"""The vector-index seam: a second backend, written here in a few dozen lines and installed the way a plugin
is (a dist-info folder on ``sys.path`` with an entry point in ``docagent.vector_backends``), stores and searches a
real store's passages; the same search scope means the same passages on it and on Chroma; a backend that is
not installed is a clear error. tests/test_retrieve.py runs the retriever's behaviour tests on both."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from docagent.config import Settings
from docagent.errors import ConfigError, StoreMismatchError
from docagent.index.embeddings import Embedder
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.index.vectors import (
    EVERYWHERE,
    Passage,
    SearchScope,
    VectorHit,
    VectorIndex,
    VectorSpec,
    vector_backend,
    vector_backends,
)
from docagent.retrieve import PageRetriever
from tests import factories

_ROWS: dict[str, dict[str, tuple[Passage, np.ndarray]]] = {}
_LOCK = threading.Lock()


class MemoryVectors(VectorIndex):
    """Passage vectors in this process's memory, one table per store; exact search by numpy (the rows are
    L2-normalised: cosine similarity is their dot product with the query)."""

    def __init__(self, spec: VectorSpec) -> None:
        with _LOCK:
            self.rows = _ROWS.setdefault(spec.name, {})

    def upsert(self, passages: Sequence[Passage], vectors: np.ndarray) -> None:
        with _LOCK:
            self.rows.update({p.id: (p, v) for p, v in zip(passages, np.asarray(vectors, np.float32), strict=True)})

    def delete_doc(self, doc_id: str) -> None:
        with _LOCK:
            for key in [key for key, (p, _) in self.rows.items() if p.doc_id == doc_id]:
                del self.rows[key]

    def search(self, vector: np.ndarray, n: int, scope: SearchScope = EVERYWHERE) -> list[VectorHit]:
        with _LOCK:
            found = [(p, v) for p, v in self.rows.values() if scope.admits(p)]
        if not found or n <= 0:
            return []
        scores = np.stack([v for _, v in found]) @ np.asarray(vector, np.float32)
        return [VectorHit(found[i][0], float(scores[i])) for i in np.argsort(-scores, kind="stable")[:n]]

    def count(self) -> int:
        return len(self.rows)

    def passages(self) -> dict[str, Passage]:
        with _LOCK:
            return {key: p for key, (p, _) in self.rows.items()}


class NotABackend:
    """Registered by mistake: not a VectorIndex."""


@contextmanager
def memory_backend_installed(folder: Path) -> Iterator[None]:
    """Install ``memory`` (and a broken ``not-a-backend``) as a package would: a dist-info folder with an
    ``entry_points.txt``, on ``sys.path`` for the ``with`` block."""
    info = folder / "docagent_memory_vectors-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: docagent-memory-vectors\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[docagent.vector_backends]\n"
        f"memory = {__name__}:MemoryVectors\n"
        f"not-a-backend = {__name__}:NotABackend\n"
    )
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        importlib.invalidate_caches()


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with memory_backend_installed(tmp_path_factory.mktemp("plugins")):
        yield


PAGES = {
    "handbook.pdf": [
        "Holiday policy: every employee gets 28 days of paid leave per year.",
        "Expenses: submit receipts within 30 days using form EXP-7.",
        "Security: badges must be worn at all times.",
    ],
    "manual.pdf": ["Pump model XR-220 installation guide.", "Error code E41 means the pressure sensor is disconnected."],
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    docs = tmp_path_factory.mktemp("docs")
    for name, pages in PAGES.items():
        factories.text_pdf(docs / name, pages)
    factories.text_image(["Visitor log", "Badge number 5521 issued to R. Osei"], size=(700, 240)).save(docs / "scan.png")
    return docs


def test_a_plugin_backend_is_found_by_name_and_keeps_the_vectors(plugin: None, corpus: Path, tmp_path: Path,
                                                                  embedder: Embedder) -> None:
    assert {"chroma", "memory"} <= set(vector_backends())
    assert vector_backend("memory") is MemoryVectors
    settings = Settings(store=tmp_path / "store", vector_backend="memory")
    with PageStore(settings, embedder=embedder) as store:
        assert not index_paths([corpus], store=store, progress=False).failed
        assert isinstance(store.vectors, MemoryVectors)
        assert not (store.root / "chroma").exists()  # nothing went to Chroma
        assert store.vectors.count() == len(store.vectors.passages()) == store.catalog.db.execute(
            "SELECT count(*) FROM passages").fetchone()[0]
        hit = PageRetriever(store=store, k=1, mode="dense").search("what does it mean when the pressure sensor is unplugged")[0]
        assert (hit.doc, hit.page) == ("manual.pdf", 2)
        store.remove(["manual.pdf"])
        assert {p.doc for p in store.vectors.passages().values()} == {"handbook.pdf", "scan.png"}


def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCAGENT_VECTOR_BACKEND", "memory")
    assert Settings(store=tmp_path).vector_backend == "memory"
    assert Settings(store=tmp_path, vector_backend="chroma").vector_backend == "chroma"


def test_the_same_scope_finds_the_same_passages_on_chroma_and_on_the_plugin(plugin: None, corpus: Path, tmp_path: Path,
                                                                             embedder: Embedder) -> None:
    stores = {name: PageStore(Settings(store=tmp_path / name, vector_backend=name), embedder=embedder)
              for name in ("chroma", "memory")}
    try:
        for store in stores.values():
            assert not index_paths([corpus], store=store, progress=False).failed
        handbook = stores["chroma"].catalog.document("handbook.pdf")
        assert handbook is not None  # a document's id is its name and content: the same in both stores
        scopes = [EVERYWHERE, SearchScope(doc_ids=(handbook.doc_id,)), SearchScope(pages=(2, 3)),
                  SearchScope(ocr=True), SearchScope(ocr=False, kind="pdf"), SearchScope(kind="image"),
                  SearchScope(doc_ids=(handbook.doc_id,), pages=(1, 1), ocr=False), SearchScope(doc_ids=())]
        vector = embedder.embed_query("badge number")
        for scope in scopes:
            found = {name: store.vectors.search(vector, 50, scope) for name, store in stores.items()}
            assert [h.passage for h in found["chroma"]] == [h.passage for h in found["memory"]], scope
            assert [h.score for h in found["chroma"]] == pytest.approx([h.score for h in found["memory"]], abs=1e-4)
            assert all(scope.admits(h.passage) for h in found["chroma"])
        assert [h.passage.doc for h in stores["memory"].vectors.search(vector, 50, SearchScope(ocr=True))] == ["scan.png"]
        assert len(stores["chroma"].vectors.search(vector, 2)) == 2
    finally:
        for store in stores.values():
            store.close()


def test_an_unknown_backend_names_the_installed_ones(plugin: None, tmp_path: Path, embedder: Embedder,
                                                     corpus: Path) -> None:
    with pytest.raises(ConfigError, match=r"no vector backend is named 'faiss'; installed: chroma, memory"):
        vector_backend("faiss")
    with PageStore(Settings(store=tmp_path / "store", vector_backend="faiss"), embedder=embedder) as store:
        assert store.documents() == []  # the catalog opens: only vectors need the backend
        with pytest.raises(ConfigError, match="DOCAGENT_VECTOR_BACKEND"):
            _ = store.vectors
        with pytest.raises(ConfigError, match="no vector backend is named 'faiss'"):
            index_paths([corpus], store=store, progress=False)
        with pytest.raises(ConfigError, match="not a docagent.index.vectors.VectorIndex subclass"):
            vector_backend("not-a-backend")


def test_a_store_opened_with_another_backend_is_refused_not_searched_empty(plugin: None, corpus: Path, tmp_path: Path,
                                                                           embedder: Embedder) -> None:
    """Vectors kept by one backend are invisible to another: searching would find nothing and say nothing."""
    store_dir = tmp_path / "store"
    with PageStore(Settings(store=store_dir, vector_backend="memory"), embedder=embedder) as store:
        assert not index_paths([corpus], store=store, progress=False).failed
    with PageStore(Settings(store=store_dir, vector_backend="chroma"), embedder=embedder) as store:
        with pytest.raises(StoreMismatchError, match="keeps its vectors in the 'memory' backend, not 'chroma'; set "
                                                     "DOCAGENT_VECTOR_BACKEND=memory"):
            PageRetriever(store=store, k=1).search("pressure sensor")
        assert [d.name for d in store.catalog.documents()]  # the catalog itself still opens and lists them
    from docagent.doctor import _store_checks

    checks = {c.name: c for c in _store_checks(Settings(store=store_dir, vector_backend="chroma"))}  # doctor says so too
    check = checks["store"]
    assert not checks["vectors"].ok and checks["catalog"].ok
    assert not check.ok and "keeps its vectors in the 'memory' backend" in check.detail
    assert check.fix.startswith("set DOCAGENT_VECTOR_BACKEND=memory")


def test_a_store_from_before_backends_were_named_is_chroma(corpus: Path, tmp_path: Path, embedder: Embedder) -> None:
    store_dir = tmp_path / "store"
    with PageStore(Settings(store=store_dir), embedder=embedder) as store:
        assert not index_paths([corpus], store=store, progress=False).failed
        with store.catalog.transaction() as db:  # as a store of the last release
            db.execute("DELETE FROM meta WHERE key = 'vector_backend'")
    with PageStore(Settings(store=store_dir, vector_backend="memory"), embedder=embedder) as store:
        with pytest.raises(StoreMismatchError, match="'chroma' backend, not 'memory'"):
            _ = store.vectors
    with PageStore(Settings(store=store_dir), embedder=embedder) as store:
        assert PageRetriever(store=store, k=1).search("pressure sensor")[0].doc == "manual.pdf"
        assert store.catalog.get_meta("vector_backend") == "chroma"


def test_a_search_narrowed_to_a_document_sees_what_was_written_after_it(tmp_path: Path) -> None:
    """Chroma's narrowed searches compare a document's vectors from a copy kept in the process (HNSW with a filter
    that leaves few passages is slow): a write that raises the store's generation (every indexing commit does)
    makes the next search read them again, so a document version rewritten under the same id is never searched
    as it was; a scope's pages still narrow it."""
    from docagent.index.chroma import ChromaVectors

    generation = [0]
    spec = VectorSpec(tmp_path, "docagent_narrow", Settings(store=tmp_path), lambda: generation[0])
    index = ChromaVectors(spec)
    rng = np.random.default_rng(3)

    def write(texts: list[str]) -> np.ndarray:
        vectors = rng.standard_normal((len(texts), 8)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        with ChromaVectors.writing(spec):
            index.delete_doc("d1")
            index.upsert([Passage("d1", "a.pdf", i + 1, 0, 0, len(t), False, "pdf", t) for i, t in enumerate(texts)], vectors)
            generation[0] += 1
        return vectors

    first = write(["alpha", "beta"])
    assert index.search(first[1], 1, SearchScope(doc_ids=("d1",)))[0].passage.text == "beta"
    second = write(["gamma", "delta", "epsilon"])
    narrowed = index.search(second[2], 3, SearchScope(doc_ids=("d1",)))
    assert narrowed[0].passage.text == "epsilon" and narrowed[0].score == pytest.approx(1.0, abs=1e-5)
    assert {h.passage.text for h in narrowed} == {"gamma", "delta", "epsilon"}
    assert [h.passage.text for h in index.search(second[2], 3, SearchScope(doc_ids=("d1",), pages=(1, 2)))] != []
    assert all(h.passage.page <= 2 for h in index.search(second[2], 3, SearchScope(doc_ids=("d1",), pages=(1, 2))))
    assert index.search(second[2], 3, SearchScope(doc_ids=("d1", "d1"))) == narrowed  # a document named twice is one
    assert index.search(second[2], 3, SearchScope(doc_ids=("none",))) == []  # no passages (a scan indexed without OCR)
