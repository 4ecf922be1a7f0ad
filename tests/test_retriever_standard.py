"""LangChain's standard retriever suite against PageRetriever on a real store."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from docagent.config import Settings
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.retrieve import PageRetriever
from tests import factories


class TestPageRetrieverStandard(RetrieversIntegrationTests):
    _params: dict[str, Any] = {}

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def _store(cls, tmp_path_factory: pytest.TempPathFactory, embedder) -> Any:
        root = tmp_path_factory.mktemp("standard")
        docs = root / "docs"
        docs.mkdir()
        factories.text_pdf(docs / "guide.pdf", [f"Chapter {i}: notes on solar panel maintenance, step {i}." for i in range(6)])
        with PageStore(Settings(store=root / "store"), embedder=embedder) as store:
            index_paths([docs], store=store, progress=False)
            cls._params = {"store": store}
            yield

    @property
    def retriever_constructor(self) -> type[PageRetriever]:
        return PageRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def retriever_query_example(self) -> str:
        return "how do I maintain solar panels?"

