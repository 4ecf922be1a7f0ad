"""What the benchmarks share: where the data is, LangChain's default pipeline as the baseline, results."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def require(path: Path) -> Path:
    if not path.exists():
        raise SystemExit(f"benchmark data not found: {path} (needs ../shared/data beside the checkout)")
    return path


def langchain_default_index(pdfs: list[Path], persist_dir: Path) -> tuple[Any, int, int]:
    """What a LangChain user writes first: PyMuPDF page text -> RecursiveCharacterTextSplitter(1000, 200)
    -> langchain-chroma, embedding with the same all-MiniLM-L6-v2 through sentence-transformers'
    defaults (float32, batch 32). Returns (the Chroma store, pages, chunks); reuses a filled store."""
    import pymupdf
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from sentence_transformers import SentenceTransformer

    from docagent.index.embeddings import resolve_embedding_model

    class STEmbeddings(Embeddings):  # what langchain-huggingface's HuggingFaceEmbeddings does
        def __init__(self) -> None:
            self.model = SentenceTransformer(resolve_embedding_model(None).location, device="cpu")

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return self.model.encode(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    db = Chroma(collection_name="baseline", embedding_function=STEmbeddings(), persist_directory=str(persist_dir))
    if db._collection.count():
        return db, 0, db._collection.count()
    pages = []
    for path in pdfs:
        with pymupdf.open(path) as doc:
            pages += [Document(page.get_text(), metadata={"source": path.name, "page": i + 1}) for i, page in enumerate(doc)]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(pages)
    for i in range(0, len(chunks), 5000):
        db.add_documents(chunks[i : i + 5000])
    return db, len(pages), len(chunks)


def write_results(kind: str, results: dict[str, Any]) -> Path:
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return out
