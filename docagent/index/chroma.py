"""The ``chroma`` vector backend, docagent's default: passage vectors in Chroma, embedded (``STORE/chroma/``) or on
a Chroma server (``DOCAGENT_CHROMA_URL``). We compute the vectors; Chroma never embeds or downloads anything. This
is the only module that speaks Chroma: its filters (``$and``, ``$in``, ``$gte``) and its result rows.

Many processes, one store: an embedded Chroma keeps its vector index in the memory of each process, and
one process never sees what another wrote after it opened the directory (a removed passage then makes
queries fail with "Error finding id", an added one is silently missing). So the catalog keeps a store
*generation*, raised in the same transaction as every change that makes passages visible or removes them,
and each process holds one client per directory that it reopens, between queries, when the generation
has moved since it opened it. A process writing under the store lock is the one changing the generation,
so its own readers keep the client they share with it. A Chroma server needs none of this: every process
talks to the same index.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from docagent.errors import ConfigError, StoreError
from docagent.index.vectors import EVERYWHERE, Passage, SearchScope, VectorHit, VectorIndex, VectorSpec

__all__ = ["ChromaVectors"]


def _settings() -> Any:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False)


def _remote_client(url: str) -> Any:
    import chromadb

    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        msg = f"DOCAGENT_CHROMA_URL must look like http://host:8000, not {url!r}"
        raise ConfigError(msg)
    try:
        return chromadb.HttpClient(
            host=parsed.hostname,
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            settings=_settings(),
        )
    except Exception as e:
        msg = f"cannot reach the Chroma server at {url} ({e}); start it with `chroma run --path DIR --port N` or unset DOCAGENT_CHROMA_URL"
        raise StoreError(msg) from e


class _ReadWriteLock:
    """Many queries at once, or one reopen with no query running."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer)
            self._writer = True
            self._cond.wait_for(lambda: self._readers == 0)
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class _Embedded:
    """This process's one client for one Chroma directory, and the store generation it has seen (read through
    the catalog of whichever store object asks: they come and go, this stays)."""

    def __init__(self, path: Path, generation: Callable[[], int]) -> None:
        self.path = path
        self.lock = _ReadWriteLock()
        self.writers = 0  # threads of this process inside the store lock: the generation moves because of them
        self.seen = generation()  # read before opening: a write after this point is seen as a change
        self.client = self._open()
        self.collections: dict[str, Any] = {}

    def _open(self) -> Any:
        import chromadb

        return chromadb.PersistentClient(path=str(self.path), settings=_settings())

    def collection(self, name: str) -> Any:
        if name not in self.collections:
            self.collections[name] = self.client.get_or_create_collection(
                name, embedding_function=None, metadata={"hnsw:space": "cosine"})
        return self.collections[name]

    def refresh(self, read_generation: Callable[[], int], *, force: bool = False) -> None:
        """Reopen when another process has changed the store since this client was opened."""
        if self.writers and not force:
            return
        generation = read_generation()
        if generation == self.seen and not force:
            return
        with self.lock.writing():
            if generation == self.seen and not force:
                return  # another thread reopened it meanwhile
            seen = read_generation()  # read before reopening: a write after this is a change still to see
            self.client.close()
            self.collections = {}
            self.client = self._open()
            self.seen = seen  # only once reopened: a failed open is tried again by the next call


_EMBEDDED: dict[Path, _Embedded] = {}
_EMBEDDED_LOCK = threading.Lock()


def _embedded(path: Path, generation: Callable[[], int]) -> _Embedded:
    with _EMBEDDED_LOCK:
        if path not in _EMBEDDED:
            _EMBEDDED[path] = _Embedded(path, generation)
        return _EMBEDDED[path]


NARROW_DOCS = 4
EXACT_AT_MOST = 4000
HELD_PASSAGES = 40_000
"""A search narrowed to :data:`NARROW_DOCS` documents or fewer, each of at most :data:`EXACT_AT_MOST` passages, compares
their vectors here, exactly, from a copy this process keeps of each document's passages and vectors (up to
:data:`HELD_PASSAGES` passages in all, about 60 MB, the least recently searched dropped first; all dropped when the
store's generation moves). Chroma's HNSW index given a filter that leaves few passages walks much of its graph: at
100,000 passages a search in one 10-Q's 86 took 66 ms (2 ms for the whole store); reading them for the first time
takes 10-20 ms, comparing them then well under one."""


def _exact(vector: np.ndarray, n: int, held: list[tuple[list[Passage], np.ndarray]], scope: SearchScope) -> list[VectorHit]:
    """The ``n`` passages of ``held`` in ``scope`` most similar to ``vector`` (cosine: unit vectors), best first."""
    query = np.asarray(vector, dtype=np.float32)
    found: list[tuple[float, int, Passage]] = []
    for passages, vectors in held:
        if not passages:
            continue
        scores = vectors @ query
        taken = 0
        for i in np.argsort(-scores, kind="stable"):
            if taken == n:
                break
            if scope.admits(passages[i]):
                found.append((float(scores[i]), len(found), passages[i]))
                taken += 1
    found.sort(key=lambda f: (-f[0], f[1]))
    return [VectorHit(p, score) for score, _, p in found[:n]]


def _where(scope: SearchScope) -> dict[str, Any] | None:
    """A search scope as a Chroma ``where`` filter (None: no filter)."""
    clauses: list[dict[str, Any]] = []
    if scope.doc_ids is not None:
        clauses.append({"doc_id": {"$in": list(scope.doc_ids)}})
    if scope.pages is not None:
        clauses += [{"page": {"$gte": scope.pages[0]}}, {"page": {"$lte": scope.pages[1]}}]
    if scope.ocr is not None:
        clauses.append({"ocr": scope.ocr})
    if scope.kind is not None:
        clauses.append({"kind": scope.kind})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _metadata(passage: Passage) -> dict[str, Any]:
    """What Chroma keeps beside a passage's vector (its text goes in as the Chroma document)."""
    return {"doc_id": passage.doc_id, "doc": passage.doc, "page": passage.page, "idx": passage.idx,
            "start": passage.start, "end": passage.end, "ocr": passage.ocr, "kind": passage.kind}


def _passage(metadata: Any, text: str | None) -> Passage:
    """A Chroma row back as a passage (stores written before the retriever have no ``ocr`` and ``kind``)."""
    return Passage(doc_id=str(metadata["doc_id"]), doc=str(metadata["doc"]), page=int(metadata["page"]),
                   idx=int(metadata["idx"]), start=int(metadata["start"]), end=int(metadata["end"]),
                   ocr=bool(metadata.get("ocr", False)), kind=str(metadata.get("kind", "")), text=text or "")


class ChromaVectors(VectorIndex):
    """One Chroma collection (``spec.name``) holding every passage of a store, cosine distance: in
    ``STORE/chroma/``, or on the server that ``settings.chroma_url`` names. Opening connects (an unreachable
    server is a :class:`~docagent.errors.StoreError` saying how to start one)."""

    def __init__(self, spec: VectorSpec) -> None:
        url = spec.settings.chroma_url
        path = self.path(spec)
        self.url = url
        self.name = spec.name
        self._remote: Any = None
        self._embedded: _Embedded | None = None
        self._generation = spec.generation
        self._held_lock = threading.Lock()
        self._held_docs: OrderedDict[str, tuple[list[Passage], np.ndarray] | None] = OrderedDict()
        self._held_at = -1
        try:
            if url:
                client = _remote_client(url)
                self._remote = client.get_or_create_collection(
                    spec.name, embedding_function=None, metadata={"hnsw:space": "cosine"})
                self.max_batch = int(client.get_max_batch_size())
            else:
                self._embedded = _embedded(path, self._generation)
                with self.collection():  # the client may be reopened here: ask the current one
                    self.max_batch = int(self._embedded.client.get_max_batch_size())
        except (ConfigError, StoreError):
            raise
        except Exception as e:
            msg = f"cannot open the Chroma collection {spec.name!r} at {url or path} ({e})"
            raise StoreError(msg) from e

    @staticmethod
    def path(spec: VectorSpec) -> Path:
        """The embedded Chroma's directory: ``STORE/chroma``."""
        return (spec.root / "chroma").absolute()

    @classmethod
    @contextmanager
    def writing(cls, spec: VectorSpec) -> Iterator[None]:
        """Mark the store lock as held by this process around a write: this process's client is brought up to
        date first, then keeps serving its own readers while the generation moves, and counts the generation
        it leaves as seen."""
        path = cls.path(spec)
        shared = _EMBEDDED.get(path)
        if shared is not None:
            shared.refresh(spec.generation)
            with _EMBEDDED_LOCK:
                shared.writers += 1
        try:
            yield
        finally:
            shared = shared or _EMBEDDED.get(path)  # opened during the write: it saw every change since
            if shared is not None:
                with _EMBEDDED_LOCK:
                    shared.writers = max(0, shared.writers - 1)
                    shared.seen = spec.generation()

    @contextmanager
    def collection(self) -> Iterator[Any]:
        """The Chroma collection, up to date with other processes' writes, for the length of one call."""
        if self._embedded is None:
            yield self._remote
            return
        self._embedded.refresh(self._generation)
        with self._embedded.lock.reading():
            yield self._embedded.collection(self.name)

    def upsert(self, passages: Sequence[Passage], vectors: np.ndarray) -> None:
        for i in range(0, len(passages), self.max_batch):
            batch = passages[i : i + self.max_batch]
            with self.collection() as collection:
                collection.upsert(
                    ids=[p.id for p in batch],
                    embeddings=vectors[i : i + self.max_batch],
                    metadatas=[_metadata(p) for p in batch],
                    documents=[p.text for p in batch],
                )

    def delete_doc(self, doc_id: str) -> None:
        with self.collection() as collection:
            collection.delete(where={"doc_id": doc_id})

    def document(self, doc_id: str) -> tuple[list[Passage], np.ndarray]:
        return self._read(doc_id)

    def _read(self, doc_id: str, limit: int | None = None) -> tuple[list[Passage], np.ndarray]:
        """A document version's passages in order with their vectors (at most ``limit`` of them)."""
        with self.collection() as collection:
            res = collection.get(where={"doc_id": doc_id}, include=["metadatas", "documents", "embeddings"], limit=limit)
        rows = sorted(zip([_passage(m, t) for m, t in zip(res["metadatas"], res["documents"], strict=True)],
                          list(res["embeddings"]), strict=True), key=lambda r: (r[0].page, r[0].idx))
        if not rows:  # a document indexed without text (a scan with no OCR engine) has no passages
            return [], np.zeros((0, 0), dtype=np.float32)
        vectors = np.array([v for _, v in rows], dtype=np.float32).reshape(len(rows), -1)
        return [p for p, _ in rows], vectors

    def search(self, vector: np.ndarray, n: int, scope: SearchScope = EVERYWHERE) -> list[VectorHit]:
        if n <= 0 or scope.doc_ids == ():
            return []
        where = _where(scope)
        # exact from the held copy, unless the scope filters on metadata a store from before may lack (ocr, kind):
        # Chroma's filter leaves such rows out
        if scope.doc_ids is not None and len(set(scope.doc_ids)) <= NARROW_DOCS and scope.ocr is None and scope.kind is None:
            held = [self._held(doc_id) for doc_id in dict.fromkeys(scope.doc_ids)]
            if all(h is not None for h in held):
                return _exact(vector, n, [h for h in held if h is not None], scope)

        def run() -> dict[str, Any]:
            with self.collection() as collection:
                return dict(collection.query(query_embeddings=[vector], n_results=n, where=where,
                                             include=["metadatas", "distances", "documents"]))

        # A removal by another process, between its write to Chroma and the catalog commit that announces it, can
        # still reach a client opened before: Chroma then raises ("Error finding id") or returns the passage
        # without its metadata. Reopen once and ask again; a row still without metadata is left out.
        try:
            res = run()
            stale = any(m is None for m in res["metadatas"][0])
        except Exception:
            if self._embedded is None:
                raise
            res, stale = None, True
        if stale and self._embedded is not None:
            self._embedded.refresh(self._generation, force=True)
            res = run()
        assert res is not None
        return [
            VectorHit(_passage(m, t), 1.0 - float(d))
            for d, m, t in zip(res["distances"][0], res["metadatas"][0], res["documents"][0], strict=True)
            if m is not None
        ]

    def _held(self, doc_id: str) -> tuple[list[Passage], np.ndarray] | None:
        """A document version's passages and vectors, kept in this process (read once, then reused while the store's
        generation stays); None for a document of more than :data:`EXACT_AT_MOST` passages."""
        generation = self._generation()
        with self._held_lock:
            if self._held_at != generation:
                self._held_docs.clear()
                self._held_at = generation
            if doc_id in self._held_docs:
                self._held_docs.move_to_end(doc_id)
                return self._held_docs[doc_id]
        try:
            read = self._read(doc_id, limit=EXACT_AT_MOST + 1)
            got = read if len(read[0]) <= EXACT_AT_MOST else None
        except Exception:  # noqa: BLE001 - removed by another process meanwhile: Chroma's own search (and its retry) decides
            return None
        with self._held_lock:
            if self._held_at == generation:
                self._held_docs[doc_id] = got
                while sum(len(h[0]) for h in self._held_docs.values() if h) > HELD_PASSAGES:
                    self._held_docs.popitem(last=False)
        return got

    def count(self) -> int:
        with self.collection() as collection:
            return int(collection.count())

    def passages(self) -> dict[str, Passage]:
        out: dict[str, Passage] = {}
        offset, step = 0, 5000
        while True:
            with self.collection() as collection:
                res = collection.get(include=["metadatas", "documents"], limit=step, offset=offset)
            out.update((i, _passage(m, t)) for i, m, t in zip(res["ids"], res["metadatas"], res["documents"], strict=True))
            if len(res["ids"]) < step:
                return out
            offset += step
