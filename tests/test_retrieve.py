"""PageRetriever: hybrid, dense and lexical page rankings over a real store, its vectors in Chroma and in a second
backend installed as a plugin (tests/test_vector_backends.py): the behaviour is the same on both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.documents import Document

from docagent.config import Settings
from docagent.errors import ConfigError, DocagentError
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.retrieve import PageRetriever, lexical_terms
from tests import factories
from tests.test_vector_backends import memory_backend_installed

PAGES = {
    "handbook.pdf": [
        "Welcome to the company. This handbook explains how we work together.",
        "Holiday policy: every employee gets 28 days of paid leave per year, plus public holidays.",
        "Expenses: submit receipts within 30 days using form EXP-7 in the finance portal.",
        "Security: badges must be worn at all times. Report a lost badge to reception at once.",
    ],
    "manual.pdf": [
        "Pump model XR-220 installation guide.",
        "Error code E41 means the pressure sensor is disconnected; check cable J3.",
        "Maintenance: replace the impeller seal every 2,000 operating hours.",
    ],
}


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with memory_backend_installed(tmp_path_factory.mktemp("plugins")):
        yield


@pytest.fixture(params=["chroma", "memory"])
def settings(request: pytest.FixtureRequest, tmp_path: Path, plugins: None) -> Settings:
    """Each test that uses the store runs on both vector backends."""
    return Settings(store=tmp_path / "store", vector_backend=request.param)


@pytest.fixture
def store(store: PageStore, docs_dir: Path) -> PageStore:
    for name, pages in PAGES.items():
        factories.text_pdf(docs_dir / name, pages)
    factories.text_image(["Visitor log", "Badge number 5521 issued to R. Osei"], size=(700, 240)).save(docs_dir / "visitor_scan.png")
    report = index_paths([docs_dir], store=store, progress=False)
    assert not report.failed
    return store


def test_returns_one_document_per_page_with_evidence(store: PageStore) -> None:
    docs = PageRetriever(store=store, k=3).invoke("how many vacation days do staff get?")
    assert all(isinstance(d, Document) for d in docs) and len(docs) == 3
    top = docs[0]
    assert (top.metadata["doc"], top.metadata["page"]) == ("handbook.pdf", 2)
    assert "28 days of paid leave" in top.page_content
    assert store.image_bytes(top.metadata["image"]).startswith(b"\x89PNG")  # a page image's URI, read from the store
    assert "28 days" in top.metadata["passage"]
    start, end = top.metadata["passage_span"]
    assert top.page_content[start:end] == top.metadata["passage"]
    assert 0 < top.metadata["score"] <= 1 and docs[0].metadata["score"] >= docs[1].metadata["score"]
    assert len({(d.metadata["doc"], d.metadata["page"]) for d in docs}) == 3  # pages, not passages


def test_lexical_finds_exact_codes_that_dense_misses(store: PageStore) -> None:
    r = PageRetriever(store=store, k=1)
    lexical = r.invoke("E41", mode="lexical")[0]
    assert (lexical.metadata["doc"], lexical.metadata["page"]) == ("manual.pdf", 2)
    hybrid = r.invoke("what does E41 mean", mode="hybrid")[0]
    assert (hybrid.metadata["doc"], hybrid.metadata["page"]) == ("manual.pdf", 2)
    assert hybrid.metadata["lexical_rank"] == 1 and "dense_rank" in hybrid.metadata


def test_dense_matches_meaning_without_shared_words(store: PageStore) -> None:
    top = PageRetriever(store=store, k=1, mode="dense").invoke("reimbursement of business costs")[0]
    assert (top.metadata["doc"], top.metadata["page"]) == ("handbook.pdf", 3)
    assert PageRetriever(store=store, mode="lexical").invoke("reimbursement costs") == []  # no shared word


def test_filters_by_document_page_range_and_metadata(store: PageStore) -> None:
    r = PageRetriever(store=store, k=10)
    assert {d.metadata["doc"] for d in r.invoke("badge", docs=["manual.pdf"])} == {"manual.pdf"}
    assert {d.metadata["page"] for d in r.invoke("policy", docs=["handbook.pdf"], pages=(2, 3))} <= {2, 3}
    scanned = r.invoke("badge", filter={"ocr": True})
    assert [(d.metadata["doc"], d.metadata["page"]) for d in scanned] == [("visitor_scan.png", 1)]
    assert {d.metadata["doc"] for d in r.invoke("badge", filter={"kind": "pdf"})} <= set(PAGES)


def test_k_in_constructor_and_per_call(store: PageStore) -> None:
    assert len(PageRetriever(store=store, k=2).invoke("pump")) == 2
    assert len(PageRetriever(store=store).invoke("pump", k=4)) == 4


def test_removed_and_replaced_pages_disappear_from_both_rankings(store: PageStore, docs_dir: Path) -> None:
    store.remove(["manual.pdf"])
    for mode in ("dense", "lexical", "hybrid"):
        assert all(d.metadata["doc"] != "manual.pdf" for d in PageRetriever(store=store, k=10, mode=mode).invoke("impeller seal E41"))
    factories.text_pdf(docs_dir / "handbook.pdf", ["Holiday policy changed: 30 days of leave from 2026."])
    index_paths([docs_dir], store=store, progress=False)
    hits = PageRetriever(store=store, k=10, mode="lexical").invoke("leave days")
    assert [(d.metadata["doc"], d.metadata["page"]) for d in hits] == [("handbook.pdf", 1)]
    assert store.catalog.db.execute("SELECT count(*) FROM passages_fts").fetchone()[0] == store.vectors.count()


def test_bad_arguments_say_what_to_do(store: PageStore) -> None:
    r = PageRetriever(store=store)
    with pytest.raises(ConfigError, match="unknown retrieval mode 'fuzzy'"):
        r.invoke("x", mode="fuzzy")
    with pytest.raises(DocagentError, match="'nope.pdf' is not in the store"):
        r.invoke("x", docs=["nope.pdf"])
    with pytest.raises(ConfigError, match="page range 3-1 is empty"):
        r.invoke("x", pages=(3, 1))
    with pytest.raises(ConfigError, match="cannot filter on author"):
        r.invoke("x", filter={"author": "me"})
    with pytest.raises(DocagentError, match="the query is empty"):
        r.invoke("   ")


def test_lexical_terms_are_the_content_words() -> None:
    assert lexical_terms('What is the "error" code E41 of the pump_2 pump?') == ["error", "code", "e41", "pump", "2"]
    assert lexical_terms("what is the") == []


def test_lexical_budget_keeps_the_rarest_words(store: PageStore) -> None:
    # df: "employee" 1 passage, "badge" 2, "days" 2. A budget of one posting still keeps the two rarest
    # words (ties broken alphabetically): employee and badge; "days" is dropped.
    def pages(retriever: PageRetriever, q: str) -> list[tuple[str, int]]:
        return [(h.doc, h.page) for h in retriever.search(q, k=10, mode="lexical")]

    budgeted = pages(PageRetriever(store=store, lexical_budget=1), "days badge employee")
    assert budgeted == pages(PageRetriever(store=store), "employee badge")
    assert ("handbook.pdf", 3) in pages(PageRetriever(store=store), "days badge employee")  # "30 days"
    assert ("handbook.pdf", 3) not in budgeted


def test_reranker_reorders_by_cross_encoder_scores(store: PageStore, tiny_cross_encoder: Path) -> None:
    plain = PageRetriever(store=store, k=4).search("badge policy")
    reranked = PageRetriever(store=store, k=4, rerank_model=str(tiny_cross_encoder)).search("badge policy")
    from sentence_transformers import CrossEncoder

    ce = CrossEncoder(str(tiny_cross_encoder), device="cpu")
    expected = sorted(reranked, key=lambda h: -float(ce.predict([("badge policy", h.text)])[0]))
    assert [(h.doc, h.page) for h in reranked] == [(h.doc, h.page) for h in expected]
    assert {(h.doc, h.page) for h in reranked} <= {(h.doc, h.page) for h in PageRetriever(store=store, k=20).search("badge policy")}
    assert all(0 <= h.score <= 1 for h in reranked) and plain


def test_an_error_in_dense_search_waits_for_bm25_before_it_propagates(store: PageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller may close the store as soon as search raises: the BM25 thread must be done by then."""
    import threading
    import time

    release = threading.Event()
    finished = threading.Event()
    real = store.catalog.lexical

    def slow_lexical(*args, **kwargs):
        release.wait(5)
        time.sleep(0.2)
        try:
            return real(*args, **kwargs)
        finally:
            finished.set()

    def failing_embed(_text: str):
        release.set()
        raise RuntimeError("embedding failed")

    monkeypatch.setattr(store.catalog, "lexical", slow_lexical)
    monkeypatch.setattr(store.embedder, "embed_query", failing_embed)
    with pytest.raises(RuntimeError, match="embedding failed"):
        PageRetriever(store=store).search("badge")
    assert finished.is_set()


def test_the_page_bm25_ranks_first_is_not_lost_when_the_rankings_disagree(
        store: PageStore, docs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk's false "not found": the one page holding every word of the question was BM25's first, but the
    embedder missed it and pages both sides rank moderately pushed it out of the top k. It stays in (last)."""
    import docagent

    topics = ["first aid", "manual handling", "fire safety", "working at height", "forklift driving", "ladder use"]
    pages = [f"Crews must complete the annual {t} course; crews that do not complete it are stood down." for t in topics]
    pages.insert(3, "Schedule C. Item 7: crews must complete the annual refresher before 31 March 2025. Item 8: badges.")
    factories.text_pdf(docs_dir / "ops_report.pdf", pages)
    assert not index_paths([docs_dir], store=store, progress=False).failed
    dense = store.vectors.search

    def missing_the_schedule(vector, n, scope):  # an embedder that does not see the number-dense page
        return [h for h in dense(vector, n, scope) if (h.passage.page != 4 or "refresher" not in h.passage.text)]

    monkeypatch.setattr(store.vectors, "search", missing_the_schedule)
    question = "By when must crews complete the annual refresher?"
    lexical = PageRetriever(store=store, k=1, mode="lexical").search(question)[0]
    assert (lexical.doc, lexical.page) == ("ops_report.pdf", 4)
    fused = PageRetriever(store=store, k=3, keep_firsts=False).search(question)
    assert ("ops_report.pdf", 4) not in [(h.doc, h.page) for h in fused]  # what fusion alone does
    kept = PageRetriever(store=store, k=3).search(question)
    assert [(h.doc, h.page) for h in kept][:2] == [(h.doc, h.page) for h in fused][:2]
    assert (kept[2].doc, kept[2].page) == ("ops_report.pdf", 4) and kept[2].ranks == {"lexical": 1}
    assert kept[1].score >= kept[2].score
    answer = docagent.ask(question, store=store, k=3, docs=["ops_report.pdf"])
    assert not answer.abstained and "31 March 2025" in answer.text


def test_a_page_only_bm25_finds_outranks_one_only_the_embedder_finds() -> None:
    """Over a whole shelf the small embedder ranks first pages of big manuals that look like any question; BM25
    ranks first the page that holds the question's rare words. When each side alone finds its page, at the same
    rank, BM25's comes first (they tied, and the embedder's won by coming first)."""
    from docagent.retrieve import _Candidate

    words = _Candidate("report.pdf", 12, (0, 1), "", ranks={"lexical": 1}, below={"dense": 51})
    looks_alike = _Candidate("manual.pdf", 340, (0, 1), "", ranks={"dense": 1}, below={"lexical": 51})
    both = _Candidate("report.pdf", 13, (0, 1), "", ranks={"lexical": 2, "dense": 2})
    retriever = PageRetriever()
    ranked = sorted([looks_alike, words, both], key=lambda c: -retriever._fused(c, "hybrid"))
    assert [(c.doc_id, c.page) for c in ranked] == [("report.pdf", 13), ("report.pdf", 12), ("manual.pdf", 340)]
    first_of_both = _Candidate("report.pdf", 14, (0, 1), "", ranks={"lexical": 1, "dense": 1})
    assert retriever._fused(first_of_both, "hybrid") == pytest.approx(retriever._fused_max("hybrid"))  # a score of 1
