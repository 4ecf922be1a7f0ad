"""The Context every task works in: settings, store and chat model. And the recipe for a new task.

A task is a function over a ``Context``. It reads ``ctx.store``, checks the names it is given with
``ctx.require_document``, and asks ``ctx.chat_model()`` only when it needs a model. The test below writes one from
scratch and calls it from Python, the way a contributor adds one.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

import docagent
from docagent import Citation, Context
from docagent.config import Settings
from docagent.errors import ConfigError, StoreError
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.models.resolve import model_state
from docagent.tasks.grounding import match_boxes
from docagent.text import words
from tests import factories
from tests.scripted import scripted

# ------------------------------------------------------------------------------------ the recipe


def pages_mentioning(ctx: Context, term: str, docs: list[str] | None = None) -> list[Citation]:
    """A new task: every page that mentions ``term``, with the boxes of the words that do (page-image
    pixels), in document and page order. It needs no model, so it never asks the context for one."""
    for name in docs or []:
        ctx.require_document(name)  # a clear error for a name the store does not hold
    wanted = set(words(term))
    found = []
    for rec in ctx.store.documents():
        if docs and rec.name not in docs:
            continue
        for number in range(1, rec.pages + 1):
            page = ctx.store.page(rec.name, number)
            boxes, matched = match_boxes(page, wanted)
            if matched:
                found.append(Citation(rec.name, number, boxes, ctx.store.page_image(rec.name, number)))
    return found


@pytest.fixture
def indexed(tmp_path: Path, embedder) -> Settings:
    """A store holding two small PDFs: an invoice (2 pages) and a handbook (1 page)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    factories.text_pdf(docs / "invoice.pdf", ["Invoice INV-7 from Northwind Solar. Total due: 7,981.99 EUR.",
                                              "Payment terms: bank transfer within 30 days."])
    factories.text_pdf(docs / "handbook.pdf", ["Employees get 25 days of paid leave a year. Solar panels on the roof."])
    settings = Settings(store=tmp_path / "store", vlm_model=str(tmp_path / "no-model-here"))
    with PageStore(settings, embedder=embedder) as store:
        index_paths([docs], store=store, progress=False)
    return settings


def test_a_new_task_needs_only_the_context(indexed: Settings) -> None:
    with Context(indexed) as ctx:
        found = pages_mentioning(ctx, "solar")
        assert [(c.doc, c.page) for c in found] == [("handbook.pdf", 1), ("invoice.pdf", 1)]
        assert all(c.boxes and c.image is not None and c.image.read_bytes() for c in found)  # drawable evidence
        assert pages_mentioning(ctx, "payment", docs=["invoice.pdf"])[0].page == 2
        with pytest.raises(StoreError, match=r"^no document named 'memo\.pdf'; the indexed documents are: "):
            pages_mentioning(ctx, "solar", docs=["memo.pdf"])
        assert not ctx.has_model  # a task that needs no model never loads one
    assert model_state(indexed.vlm_model)[0] == "not loaded"


def test_the_built_in_tasks_share_one_context(indexed: Settings) -> None:
    """One context, one model, one store for ask, extract, chart and search: the model given once is the one
    that reads for all of them."""
    llm = scripted("The total due is 7,981.99 EUR [1].", {"total_due": "7,981.99 EUR"})
    with Context(indexed, llm=llm) as ctx:
        answer = docagent.ask("What is the total due on the invoice?", context=ctx, k=1)
        [extraction] = docagent.extract(docs=["invoice.pdf"], schema="total_due:str", context=ctx)
        hits = docagent.search("paid leave", k=1, context=ctx)
    assert answer.mode == "vlm" and [(c.doc, c.page) for c in answer.citations] == [("invoice.pdf", 1)]
    assert extraction.fields["total_due"].value == "7,981.99 EUR" and extraction.fields["total_due"].source == "vlm"
    assert len(llm.prompts) == 2  # both read by the context's model
    assert (hits[0].doc, hits[0].page) == ("handbook.pdf", 1)


# ------------------------------------------------------------------------------------ the store


def test_the_store_opens_once_on_first_use_and_its_owner_closes_it(indexed: Settings) -> None:
    with Context(indexed) as ctx:
        assert not ctx.store_open  # nothing opened before a task needs it
        store = ctx.store
        assert ctx.store is store and ctx.store_open  # once
    assert not ctx.store_open
    with pytest.raises(sqlite3.ProgrammingError):  # closed when the context that opened it closed
        store.catalog.db.execute("SELECT 1")


def test_a_given_store_stays_open_for_its_owner(indexed: Settings, embedder) -> None:
    with PageStore(indexed, embedder=embedder) as store:
        with Context(store=store) as ctx:
            assert ctx.store is store and ctx.settings is store.settings
            assert docagent.tables("invoice.pdf", context=ctx) == []
        assert [d.name for d in store.documents()] == ["handbook.pdf", "invoice.pdf"]  # still open
        answer = docagent.ask("How many days of paid leave do employees get?", store=store,
                              llm=scripted("25 days [1]."), k=1)
        assert answer.text == "25 days [1]." and store.documents()  # the public form leaves it open too


def test_a_context_or_its_parts_not_both(indexed: Settings) -> None:
    with Context(indexed) as ctx, pytest.raises(ConfigError, match="either a context or"):
        docagent.ask("What is the total?", context=ctx, settings=indexed)


# ------------------------------------------------------------------------------------ the model


def test_the_model_loads_only_when_a_task_needs_it_and_once(indexed: Settings, tiny_idefics2: Path, tmp_path: Path) -> None:
    model = shutil.copytree(tiny_idefics2, tmp_path / "model")  # a name no other test of this process has loaded
    settings = indexed.model_copy(update={"vlm_model": str(model)})
    with Context(settings) as ctx:
        tables = docagent.tables("invoice.pdf", context=ctx)
        pages_mentioning(ctx, "invoice")
        assert tables == [] and not ctx.has_model and model_state(str(model))[0] == "not loaded"
        llm = ctx.chat_model()  # a task that needs it
        assert ctx.has_model and ctx.chat_model() is llm and model_state(str(model))[0] == "loaded"
    with Context(settings) as other:
        assert other.chat_model() is llm  # loaded once per process, shared by every context


def test_no_model_is_said_in_one_line_and_ask_answers_without_one(indexed: Settings) -> None:
    with Context(indexed) as ctx:
        llm, why = ctx.chat_model_or_reason()
        assert llm is None and why and "\n" not in why
        answer = docagent.ask("How many days of paid leave do employees get?", context=ctx, k=1)
    assert answer.mode == "retrieval-only" and answer.notice.startswith("retrieval-only: ")


# ------------------------------------------------------------------------------------ names


def test_a_missing_document_or_page_is_a_clear_error(indexed: Settings) -> None:
    with Context(indexed) as ctx:
        assert ctx.require_document("invoice.pdf").pages == 2
        with pytest.raises(StoreError) as missing:
            ctx.require_document("memo.pdf")
        assert str(missing.value) == "no document named 'memo.pdf'; the indexed documents are: handbook.pdf, invoice.pdf"
        with pytest.raises(StoreError, match=r"^invoice\.pdf has 2 pages; page 3 does not exist$"):
            ctx.require_document("invoice.pdf", 3)


def test_an_empty_store_says_so(tmp_path: Path) -> None:
    with Context(Settings(store=tmp_path / "empty")) as ctx, pytest.raises(StoreError, match="^no documents are indexed yet$"):
        ctx.require_document("invoice.pdf")
