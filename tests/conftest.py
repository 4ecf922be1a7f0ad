from __future__ import annotations

import os

# Before anything imports transformers, onnxruntime or the hub client: no network, no telemetry.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["ANONYMIZED_TELEMETRY"] = "False"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from docagent.config import Settings  # noqa: E402
from docagent.index.embeddings import Embedder  # noqa: E402
from docagent.index.store import PageStore  # noqa: E402


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real packaged all-MiniLM-L6-v2, loaded once for the whole session."""
    e = Embedder()
    _ = e.model
    return e


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(store=tmp_path / "store")


@pytest.fixture
def store(settings: Settings, embedder: Embedder):
    with PageStore(settings, embedder=embedder) as s:
        yield s


@pytest.fixture
def docs_dir(tmp_path: Path) -> Path:
    d = tmp_path / "docs"
    d.mkdir()
    return d

