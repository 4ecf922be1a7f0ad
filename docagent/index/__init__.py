"""Pages into a searchable store: embeddings, Chroma vectors, the SQLite catalog, page images."""

from docagent.index.embeddings import Embedder, resolve_embedding_model
from docagent.index.indexer import collect_files, index_paths
from docagent.index.store import PageStore

__all__ = ["Embedder", "PageStore", "collect_files", "index_paths", "resolve_embedding_model"]
