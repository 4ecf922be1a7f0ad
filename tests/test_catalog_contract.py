"""The catalogs docagent ships pass the shipped contracts: SQLite (FTS5) and PostgreSQL (BM25 in SQL) on a real server."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from docagent.index.catalog import Catalog, SqliteCatalog
from docagent.testing.catalog import CatalogContract, LexicalContract
from tests.servers import Postgres, postgres


class TestSqliteCatalog(CatalogContract, LexicalContract):
    @pytest.fixture
    def catalog(self, tmp_path: Path) -> Iterator[Catalog]:
        opened = SqliteCatalog(tmp_path / "catalog.sqlite")
        yield opened
        opened.close()

    @pytest.fixture
    def other_catalog(self, catalog: SqliteCatalog) -> Iterator[Catalog]:
        opened = SqliteCatalog(catalog.path)
        yield opened
        opened.close()


@pytest.fixture(scope="module")
def pg_server() -> Iterator[Postgres]:
    with postgres() as server:
        yield server


_numbers = itertools.count()


@pytest.mark.slow
class TestPostgresCatalog(CatalogContract, LexicalContract):
    @pytest.fixture
    def url(self, pg_server: Postgres) -> str:
        return pg_server.create_database(f"contract{next(_numbers)}")

    @pytest.fixture
    def catalog(self, url: str) -> Iterator[Catalog]:
        from docagent.index.postgres import PostgresCatalog

        opened = PostgresCatalog(url)
        yield opened
        opened.close()

    @pytest.fixture
    def other_catalog(self, url: str, catalog: Catalog) -> Iterator[Catalog]:
        from docagent.index.postgres import PostgresCatalog

        opened = PostgresCatalog(url)
        yield opened
        opened.close()


def test_bm25_idf_holds_when_a_term_seems_held_by_more_passages_than_were_counted() -> None:
    """Counts and postings are read by separate statements while writers commit: df may pass N for a moment (seen as a
    500 from /search under load in benchmarks/cluster.py: 'math domain error')."""
    from docagent.index.postgres import fts5_idf

    assert fts5_idf(10, 12) == 1e-6 and fts5_idf(0, 3) == 1e-6
    assert fts5_idf(1000, 1) > fts5_idf(1000, 100) > 1e-6
