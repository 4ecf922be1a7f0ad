"""Finding the page inside long reports: statement titles, analysts' words, periods and the latest filing."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from docagent.cli import main
from docagent.config import Settings
from docagent.index.catalog import DatedDocument, PageFields
from docagent.index.embeddings import Embedder
from docagent.index.indexer import Indexer
from docagent.index.store import PageStore
from docagent.index.vectors import EVERYWHERE
from docagent.question import parse
from docagent.retrieve import PageRetriever, _Candidate, _with_facets
from docagent.types import ReportPeriod
from tests.factories import statement_report

# Orchard's fiscal year ends in September (its Q1 ends in December), Harbor's in December.
SHELF = [
    ("orchard-a.pdf", "Orchard Computer Inc.", "December 31, 2022", 1, 410, 31),
    ("orchard-b.pdf", "Orchard Computer Inc.", "April 1, 2023", 2, 420, 32),
    ("orchard-c.pdf", "Orchard Computer Inc.", "July 1, 2023", 3, 430, 33),
    ("harbor-b.pdf", "Harbor Retail Corp.", "June 30, 2023", 2, 520, 52),
    ("harbor-c.pdf", "Harbor Retail Corp.", "September 30, 2023", 3, 530, 53),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """The shelf indexed once for the module; each test opens it (or copies it when it changes it)."""
    root = tmp_path_factory.mktemp("shelf")
    docs = root / "docs"
    docs.mkdir()
    for name, company, end, quarter, revenue, capex in SHELF:
        statement_report(docs / name, company, end, quarter, revenue=revenue, capex=capex)
    with PageStore(Settings(store=root / "store"), embedder=embedder) as store:
        Indexer(store, progress=False).run([docs])
    return root / "store"


@pytest.fixture
def shelf(built: Path, tmp_path: Path, embedder: Embedder) -> Iterator[PageStore]:
    copy = tmp_path / "store"
    shutil.copytree(built, copy)
    with PageStore(Settings(store=copy), embedder=embedder) as store:
        yield store


def _top(store: PageStore, question: str, **kw: object) -> list[tuple[str, int]]:
    hits = PageRetriever(store=store, k=5, render_images=False, **kw).search(question)
    return [(h.doc, h.page) for h in hits]


@pytest.mark.parametrize(("question", "doc"), [
    ("What were Orchard Computer's net sales in Q2 2023?", "orchard-b.pdf"),
    ("What were Orchard Computer's net sales in the second quarter of fiscal 2023?", "orchard-b.pdf"),
    ("What was Orchard Computer's operating income in Q1 2023?", "orchard-a.pdf"),
    ("What was Harbor Retail's net income in the third quarter of 2023?", "harbor-c.pdf"),
    ("What was Orchard Computer's gross margin in the latest 10-Q?", "orchard-c.pdf"),
    ("What was Harbor Retail's net income in its most recent quarterly report?", "harbor-c.pdf"),
])
def test_the_asked_period_picks_the_filing(shelf: PageStore, question: str, doc: str) -> None:
    assert _top(shelf, question)[0][0] == doc


def test_without_the_period_prior_the_quarters_look_alike(shelf: PageStore) -> None:
    """The same questions with the period prior off: another quarter's filing comes first for some of them (what
    the prior is for)."""
    questions = {"What were Orchard Computer's net sales in Q2 2023?": "orchard-b.pdf",
                 "What was Orchard Computer's operating income in Q1 2023?": "orchard-a.pdf",
                 "What was Orchard Computer's gross margin in the latest 10-Q?": "orchard-c.pdf"}
    wrong = [q for q, doc in questions.items() if _top(shelf, q, period_weight=0)[0][0] != doc]
    assert wrong


@pytest.mark.parametrize(("question", "page"), [
    ("What is the largest liability in the balance sheet of Orchard Computer for Q2 2023?", 4),
    ("What was Orchard Computer's capex in the second quarter of 2023?", 5),
    ("Using the line items clearly shown in the P&L, what was Orchard Computer's operating income in Q2 2023? "
     "Round to one decimal place.", 3),
])
def test_the_second_stage_puts_the_statement_page_first(shelf: PageStore, question: str, page: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Statement pages hold numbers under a bold title of the body's size; the MD&A page talks about the same
    words in prose. The second stage weighs the page's title and table labels: given weight (its fitted weights
    are small, and by default it only rescores questions asking for a figure over 20 candidate pages or more:
    these test filings have six), the statement page comes first, over the shelf and within the filing."""
    monkeypatch.setattr("docagent.retrieve.STAGE_MIN_PAGES", 1)
    stage = {"stage_weights": (1.0, 0.5, 0.25), "stage_values_only": False}
    assert _top(shelf, question, **stage)[0] == ("orchard-b.pdf", page)
    scoped = PageRetriever(store=shelf, k=3, render_images=False, **stage).search(question, docs=["orchard-b.pdf"])
    assert scoped[0].page == page


def test_a_statement_title_routes_by_default(shelf: PageStore) -> None:
    """The page's title is the first thing its passages are indexed with: the balance sheet's page comes first for
    a question that names the statement, with default settings."""
    assert _top(shelf, "What is the largest liability in the balance sheet of Orchard Computer for Q2 2023?")[0] == ("orchard-b.pdf", 4)


def test_a_question_needing_two_statements_gets_both(shelf: PageStore) -> None:
    top = _top(shelf, "From Orchard Computer's Q2 2023 statement of income and statement of cash flows, how does net "
                      "income compare with cash generated by operating activities?")[:4]
    assert {("orchard-b.pdf", 3), ("orchard-b.pdf", 5)} <= set(top)


@pytest.mark.parametrize(("question", "k"), [
    ("What was Orchard Computer's capex as a percentage of net sales in Q2 2023?", 3),
    ("What was Orchard Computer's capex relative to its operating income in Q2 2023?", 3),
    ("From Orchard Computer's Q2 2023 statement of income and statement of cash flows, how does net income compare "
     "with cash generated by operating activities?", 2),
])
def test_an_answer_spread_over_two_statements_gets_both_pages_in_a_short_list(shelf: PageStore, question: str, k: int) -> None:
    """Capex is a line of the cash-flow statement, net sales and operating income lines of the income statement;
    the MD&A page speaks of both in prose and ranks above them. Each statement's page is in the first ``k`` (what
    ``ask`` reads), over the shelf and within the filing."""
    for docs in (None, ["orchard-b.pdf"]):
        top = PageRetriever(store=shelf, k=k, render_images=False).search(question, docs=docs)
        assert {("orchard-b.pdf", 3), ("orchard-b.pdf", 5)} <= {(h.doc, h.page) for h in top}, (docs, top)
        assert top[0].page == PageRetriever(store=shelf, k=k, render_images=False, facets=False).search(question, docs=docs)[0].page


def test_pages_kept_for_an_answer_spread_over_pages_never_push_out_another_document() -> None:
    """Only the leading document's own pages give way to its statements' pages: a page of the other company a
    comparison names stays, and the page BM25 ranked first (kept in the top k on purpose) gives way last."""
    def page(doc: str, number: int, title: str = "", labels: str = "", lexical: int = 9) -> tuple[_Candidate, PageFields]:
        return _Candidate(doc, number, (0, 1), "", ranks={"lexical": lexical}), PageFields(number, title, labels)

    q = parse("Compare Orchard's and Pear's capex as a percentage of net sales in Q2 2023.")
    rows = [page("orchard", 2), page("pear", 5), page("orchard", 7, lexical=1), page("orchard", 9), page("orchard", 8),
            page("orchard", 5, "CASH FLOWS", "Purchases of property and equipment"), page("orchard", 3, "OPERATIONS", "Net sales")]
    ranked = [c for c, _ in rows]
    fields = {(c.doc_id, c.page): f for c, f in rows}
    top = [(c.doc_id, c.page) for c in _with_facets(ranked, 4, q, [c for c in ranked if c.doc_id == "orchard"], fields)[:4]]
    assert top == [("orchard", 2), ("pear", 5), ("orchard", 5), ("orchard", 3)]  # two places needed: 9, then 7
    top = [(c.doc_id, c.page) for c in _with_facets(ranked, 5, q, [c for c in ranked if c.doc_id == "orchard"], fields)[:5]]
    assert top == [("orchard", 2), ("pear", 5), ("orchard", 7), ("orchard", 5), ("orchard", 3)]  # 8 and 9 gave way
    top = [(c.doc_id, c.page) for c in _with_facets(ranked, 3, q, [c for c in ranked if c.doc_id == "orchard"], fields)[:3]]
    assert top == [("orchard", 2), ("pear", 5), ("orchard", 5)]  # no other page of Orchard's left to give way


def test_titles_and_periods_are_shown(shelf: PageStore, capsys: pytest.CaptureFixture[str]) -> None:
    settings = ["--store", str(shelf.root)]
    assert main(["search", "Orchard balance sheet Q2 2023", "-k", "1", *settings]) == 0
    out = capsys.readouterr().out
    assert "orchard-b.pdf  page 4" in out and "· CONDENSED CONSOLIDATED BALANCE SHEETS" in out
    assert "Table of Contents" not in out.splitlines()[0]  # the running header is not the title
    assert main(["search", "Orchard balance sheet Q2 2023", "-k", "1", "--json", *settings]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["title"] == "CONDENSED CONSOLIDATED BALANCE SHEETS"
    assert main(["docs", *settings]) == 0
    assert "FY2023 Q2 (ended April 1, 2023)" in capsys.readouterr().out
    assert main(["docs", "--json", *settings]) == 0
    cards = {d["doc"]: d["card"] for d in json.loads(capsys.readouterr().out)["documents"]}
    assert cards["orchard-a.pdf"]["period"] == {"end": "2022-12-31", "fiscal_year": 2023, "quarter": 1, "annual": False}


def test_abbreviations_defined_in_a_document_are_searched(shelf: PageStore) -> None:
    assert shelf.catalog.abbreviations(["pp&e"]) == {"pp&e": "property, plant and equipment"}
    doc, page = _top(shelf, "How much PP&E did Orchard Computer buy in Q2 2023?")[0]
    assert (doc, page) in {("orchard-b.pdf", 5), ("orchard-b.pdf", 6)}


def test_removing_a_document_removes_its_structure(shelf: PageStore) -> None:
    shelf.remove(["orchard-b.pdf"])
    assert all(doc != "orchard-b.pdf" for doc, _ in _top(shelf, "Orchard balance sheet Q2 2023"))
    db = shelf.catalog.reader()
    assert db.execute("SELECT count(*) FROM page_fields f LEFT JOIN documents d ON d.doc_id = f.doc_id WHERE d.doc_id IS NULL").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM abbreviations a LEFT JOIN documents d ON d.doc_id = a.doc_id WHERE d.doc_id IS NULL").fetchone()[0] == 0


def _dated(**docs: tuple[str, str, int, int, bool]) -> SimpleNamespace:
    """A stand-in store whose catalog knows only the dated documents: name -> (organisation, end, fiscal year,
    quarter, annual)."""
    periodic = {name: DatedDocument(name, ReportPeriod(date.fromisoformat(end), fy, quarter, annual), (org,))
                for name, (org, end, fy, quarter, annual) in docs.items()}
    return SimpleNamespace(catalog=SimpleNamespace(periodic=lambda: periodic))


APPLE = _dated(q1=("Apple Inc.", "2022-12-31", 2023, 1, False), q2=("Apple Inc.", "2023-04-01", 2023, 2, False),
               q3=("Apple Inc.", "2023-07-01", 2023, 3, False), k=("Apple Inc.", "2023-09-30", 2023, 4, True),
               other=("Orchard Computer Inc.", "2023-10-30", 2024, 1, False))


@pytest.mark.parametrize(("question", "expected"), [
    ("What was Apple's revenue in the latest 10-Q?", {"q3": 1.0}),  # the newest 10-Q, not the newer 10-K
    ("What was Apple's revenue in the latest annual report?", {"k": 1.0}),
    ("What was Apple's revenue in Q4 FY2023?", {"k": 0.8}),  # a fourth quarter is in the year's annual report
    ("What was Microsoft's revenue in the second quarter of 2023?", {}),  # nobody's period on the shelf fits
    ("Summarize the latest 10-Q.", {"other": 1.0}),  # names no one: the newest of all
])
def test_the_period_prior(question: str, expected: dict[str, float]) -> None:
    assert PageRetriever._period_match(APPLE, parse(question), EVERYWHERE) == expected
