"""Passage vectors in Chroma: embedded (a directory inside the store) or a Chroma server
(``DOCAGENT_CHROMA_URL``). We compute the vectors; Chroma never embeds or downloads anything."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from docagent.errors import ConfigError, StoreError

__all__ = ["ChromaVectors"]


def _client(path: Path, url: str | None) -> Any:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    if url:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            msg = f"DOCAGENT_CHROMA_URL must look like http://host:8000, not {url!r}"
            raise ConfigError(msg)
        try:
            return chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=settings,
            )
        except Exception as e:  # noqa: BLE001 - connection errors come in many types
            msg = f"cannot reach the Chroma server at {url} ({e}); start it with `chroma run --path DIR --port N` or unset DOCAGENT_CHROMA_URL"
            raise StoreError(msg) from e
    return chromadb.PersistentClient(path=str(path), settings=settings)


class ChromaVectors:
    """One Chroma collection holding every passage of a store, cosine distance."""

    def __init__(self, path: Path, collection: str, url: str | None = None) -> None:
        self.client = _client(path, url)
        self.url = url
        try:
            self.collection = self.client.get_or_create_collection(
                collection, embedding_function=None, metadata={"hnsw:space": "cosine"}
            )
        except Exception as e:  # noqa: BLE001
            where = url or str(path)
            msg = f"cannot open the Chroma collection {collection!r} at {where} ({e})"
            raise StoreError(msg) from e
        self.max_batch = int(self.client.get_max_batch_size())

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]], documents: Sequence[str]) -> None:
        for i in range(0, len(ids), self.max_batch):
            j = i + self.max_batch
            self.collection.upsert(
                ids=list(ids[i:j]),
                embeddings=vectors[i:j],
                metadatas=list(metadatas[i:j]),
                documents=list(documents[i:j]),
            )

    def delete_doc(self, doc_id: str) -> None:
        self.collection.delete(where={"doc_id": doc_id})

    def query(self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None) -> list[tuple[str, float, dict[str, Any], str]]:
        """``(id, cosine similarity, metadata, text)``, best first."""
        if n <= 0:
            return []
        res = self.collection.query(
            query_embeddings=[vector], n_results=n, where=where or None, include=["metadatas", "distances", "documents"]
        )
        return [
            (i, 1.0 - float(d), m, t)
            for i, d, m, t in zip(res["ids"][0], res["distances"][0], res["metadatas"][0], res["documents"][0], strict=True)
        ]

    def count(self) -> int:
        return int(self.collection.count())

    def metadatas(self, where: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """Every id with its metadata (for checks and tests; pages through the collection)."""
        out: dict[str, dict[str, Any]] = {}
        offset, step = 0, 5000
        while True:
            res = self.collection.get(where=where or None, include=["metadatas"], limit=step, offset=offset)
            out.update(zip(res["ids"], res["metadatas"], strict=True))
            if len(res["ids"]) < step:
                return out
            offset += step
