"""Vectors on a real Chroma server (started here), the rest of the store on local disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from docagent.config import Settings
from docagent.errors import StoreError
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.retrieve import PageRetriever
from tests import factories
from tests.processes import free_port
from tests.servers import chroma


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with chroma(tmp_path_factory.mktemp("chroma_server")) as url:
        yield url


def test_index_and_search_through_a_chroma_server(chroma_url: str, tmp_path: Path, embedder, docs_dir: Path) -> None:
    factories.text_pdf(docs_dir / "ferry.pdf", ["Timetable.", "The last ferry to the island leaves at 22:40 on Saturdays."])
    settings = Settings(store=tmp_path / "store", chroma_url=chroma_url)
    with PageStore(settings, embedder=embedder) as store:
        report = index_paths([docs_dir], store=store, progress=False)
        assert report.documents == 1
        assert not (store.root / "chroma").exists()  # vectors went to the server
        assert store.vectors.count() == 2
        hit = PageRetriever(store=store).search("when does the last boat leave", k=1)[0]
        assert (hit.doc, hit.page) == ("ferry.pdf", 2)
        store.remove(["ferry.pdf"])
        assert store.vectors.count() == 0


def test_unreachable_server_is_a_clear_error(tmp_path: Path, embedder) -> None:
    settings = Settings(store=tmp_path / "store", chroma_url=f"http://127.0.0.1:{free_port()}")
    with PageStore(settings, embedder=embedder) as store, pytest.raises(StoreError, match="cannot reach the Chroma server"):
        _ = store.vectors
