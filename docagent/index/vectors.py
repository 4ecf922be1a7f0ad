"""Passage vectors in Chroma: embedded (a directory inside the store) or a Chroma server
(``DOCAGENT_CHROMA_URL``). We compute the vectors; Chroma never embeds or downloads anything.

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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from docagent.errors import ConfigError, StoreError

__all__ = ["ChromaVectors", "writing"]


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


@contextmanager
def writing(path: Path, read_generation: Callable[[], int]) -> Iterator[None]:
    """Mark the store lock as held by this process around a write: this process's client is brought up to
    date first, then keeps serving its own readers while the generation moves, and counts the generation
    it leaves as seen."""
    shared = _EMBEDDED.get(path.absolute())
    if shared is not None:
        shared.refresh(read_generation)
        with _EMBEDDED_LOCK:
            shared.writers += 1
    try:
        yield
    finally:
        shared = shared or _EMBEDDED.get(path.absolute())  # opened during the write: it saw every change since
        if shared is not None:
            with _EMBEDDED_LOCK:
                shared.writers = max(0, shared.writers - 1)
                shared.seen = read_generation()


class ChromaVectors:
    """One Chroma collection holding every passage of a store, cosine distance. ``generation`` reads the
    store's generation (required for an embedded Chroma, see the module's notes)."""

    def __init__(self, path: Path, collection: str, url: str | None = None,
                 generation: Callable[[], int] | None = None) -> None:
        self.url = url
        self.name = collection
        self._remote: Any = None
        self._embedded: _Embedded | None = None
        try:
            if url:
                client = _remote_client(url)
                self._remote = client.get_or_create_collection(
                    collection, embedding_function=None, metadata={"hnsw:space": "cosine"})
                self.max_batch = int(client.get_max_batch_size())
            else:
                self._generation = generation or (lambda: 0)
                self._embedded = _embedded(path.absolute(), self._generation)
                with self.collection():  # the client may be reopened here: ask the current one
                    self.max_batch = int(self._embedded.client.get_max_batch_size())
        except (ConfigError, StoreError):
            raise
        except Exception as e:
            msg = f"cannot open the Chroma collection {collection!r} at {url or path} ({e})"
            raise StoreError(msg) from e

    @contextmanager
    def collection(self) -> Iterator[Any]:
        """The Chroma collection, up to date with other processes' writes, for the length of one call."""
        if self._embedded is None:
            yield self._remote
            return
        self._embedded.refresh(self._generation)
        with self._embedded.lock.reading():
            yield self._embedded.collection(self.name)

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]], documents: Sequence[str]) -> None:
        for i in range(0, len(ids), self.max_batch):
            j = i + self.max_batch
            with self.collection() as collection:
                collection.upsert(
                    ids=list(ids[i:j]),
                    embeddings=vectors[i:j],
                    metadatas=list(metadatas[i:j]),
                    documents=list(documents[i:j]),
                )

    def delete_doc(self, doc_id: str) -> None:
        with self.collection() as collection:
            collection.delete(where={"doc_id": doc_id})

    def query(self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None) -> list[tuple[str, float, dict[str, Any], str]]:
        """``(id, cosine similarity, metadata, text)``, best first."""
        if n <= 0:
            return []

        def run() -> dict[str, Any]:
            with self.collection() as collection:
                return collection.query(query_embeddings=[vector], n_results=n, where=where or None,
                                        include=["metadatas", "distances", "documents"])

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
            (i, 1.0 - float(d), m, t)
            for i, d, m, t in zip(res["ids"][0], res["distances"][0], res["metadatas"][0], res["documents"][0], strict=True)
            if m is not None
        ]

    def count(self) -> int:
        with self.collection() as collection:
            return int(collection.count())

    def metadatas(self, where: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """Every id with its metadata (for checks and tests; pages through the collection)."""
        out: dict[str, dict[str, Any]] = {}
        offset, step = 0, 5000
        while True:
            with self.collection() as collection:
                res = collection.get(where=where or None, include=["metadatas"], limit=step, offset=offset)
            out.update(zip(res["ids"], res["metadatas"], strict=True))
            if len(res["ids"]) < step:
                return out
            offset += step
