"""Document identity: cards read at ingest, passages indexed with their context, and search that finds
the right document on a shelf of look-alikes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from docagent.cli import main
from docagent.config import Settings
from docagent.index.embeddings import Embedder
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.ingest import open_source
from docagent.ingest.identity import build_card, name_words, section_at
from docagent.retrieve import PageRetriever, lexical_terms, names_in
from docagent.types import Heading
from tests import factories

COMPANIES = ("Borealis Freight Inc.", "Calder Shipping Corporation", "Dunmore Logistics Ltd.")
YEARS = (2018, 2019)


def card_of(path: Path):
    with open_source(path) as source:
        pages = [source.read_page(i) for i in range(source.page_count)]
        return build_card(path.name, source.metadata(), source.outline(), pages)


def test_card_from_metadata_and_bookmarks(docs_dir: Path) -> None:
    path = factories.styled_pdf(
        docs_dir / "q3.pdf",
        [[("Quarterly update", 11)], [("Results", 11), ("Net sales rose.", 11)], [("Outlook", 11)], [("Appendix", 11)]],
        metadata={"title": "Quarterly Report Q3 2015", "author": "Harbor Analytics LLC", "subject": "Results for the third quarter"},
        bookmarks=[(1, "Overview", 1), (1, "Results", 2), (2, "Segment results", 3), (1, "Appendix", 4)],
    )
    card = card_of(path)
    assert card.title == "Quarterly Report Q3 2015"
    assert "Harbor Analytics LLC" in card.organisations
    assert card.kind == "quarterly report"
    assert 2015 in card.years and any("Q3 2015" in p for p in card.periods)
    assert card.outline == (Heading(1, "Overview", 1), Heading(1, "Results", 2), Heading(2, "Segment results", 3), Heading(1, "Appendix", 4))
    assert section_at(card, 3) == "Results > Segment results"
    assert section_at(card, 4) == "Appendix"


def test_card_from_first_page_text_alone(docs_dir: Path) -> None:
    path = factories.text_pdf(docs_dir / "scan0001.pdf", [
        "MUTUAL NON-DISCLOSURE AGREEMENT. This Agreement is made and entered into as of March 3, 2016 by and between "
        "Orion Biotech, Inc., a Delaware corporation, and Jane R. Whitfield (the Parties).",
        "The receiving party shall hold confidential information in confidence for three years.",
    ])
    card = card_of(path)
    assert card.title.startswith("MUTUAL NON-DISCLOSURE AGREEMENT")
    assert card.kind == "agreement"
    assert "Orion Biotech, Inc." in card.organisations and "Jane R. Whitfield" in card.organisations
    assert card.years == (2016,)
    assert any("March 3, 2016" in p for p in card.periods)
    assert card.metadata == {} and card.outline == ()


def test_outline_from_type_size_when_there_are_no_bookmarks(docs_dir: Path) -> None:
    path = factories.lookalike_report(docs_dir / "report.pdf", "Borealis Freight Inc.", 2018, 1)
    card = card_of(path)
    titles = [h.title for h in card.outline]
    assert titles[:2] == ["Borealis Freight Inc.", "Annual Report 2018"]
    assert [h.title for h in card.outline if h.page > 1] == list(factories.LOOKALIKE_SECTIONS)
    assert section_at(card, 4) == "Cash flows" and card.kind == "annual report" and card.years == (2018,)
    assert card.organisations[0] == "Borealis Freight Inc."


def test_file_names_become_words() -> None:
    assert name_words("ACME_2018_10K.pdf") == "ACME 2018 10K"
    assert name_words("annualReport2019.pdf") == "annual Report 2019"
    assert name_words("073f3b9eb0c7088be4ef688f4edfdb6d.pdf") == ""


def test_names_are_the_words_a_question_writes_as_names() -> None:
    names = names_in("What is the FY2018 capital expenditure of Best Buy and 3M? Ask the global team.")
    assert {"best", "buy", "bestbuy", "fy2018", "2018", "3m"} <= names
    assert not names & {"what", "capital", "expenditure", "global", "team"}
    assert "2018" in lexical_terms("FY2018 capex")  # a year run together with letters is also searched alone


@pytest.fixture(scope="module")
def shelf(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[PageStore]:
    """Six annual reports that differ only in company and year, with neutral file names (read only by the tests)."""
    docs_dir = tmp_path_factory.mktemp("shelf-docs")
    store = PageStore(Settings(store=tmp_path_factory.mktemp("shelf") / "store"), embedder=embedder)
    seed = 0
    for company in COMPANIES:
        for year in YEARS:
            seed += 1
            factories.lookalike_report(docs_dir / f"report-{seed:02d}.pdf", company, year, seed)
    report = index_paths([docs_dir], store=store, progress=False)
    assert report.documents == 6 and not report.failed
    yield store
    store.close()


def doc_of(store: PageStore, company: str, year: int) -> str:
    for rec in store.documents():
        card = store.catalog.card(rec.doc_id)
        assert card is not None
        if card.organisations and card.organisations[0] == company and year in card.years:
            return rec.name
    raise AssertionError(f"no card for {company} {year}")


@pytest.mark.slow
@pytest.mark.parametrize(("company", "year"), [(c, y) for c in COMPANIES for y in YEARS])
def test_a_question_naming_company_and_year_finds_that_reports_page(shelf: PageStore, company: str, year: int) -> None:
    name = company.split()[0]
    hits = PageRetriever(store=shelf, k=3, render_images=False).search(f"How much did {name} spend on capital expenditures in {year}?")
    assert (hits[0].doc, hits[0].page) == (doc_of(shelf, company, year), 4)
    assert "Capital expenditures were" in hits[0].text and name not in hits[0].text  # the snippet is the page's own text


def test_a_question_naming_no_document_is_ranked_as_before(shelf: PageStore) -> None:
    retriever = PageRetriever(store=shelf, k=6, render_images=False)
    hits = retriever.search("How much was spent on new equipment and facilities?")
    assert {h.page for h in hits} == {4} and len({h.doc for h in hits}) == 6  # every report's page, none favoured
    assert shelf.catalog.card_scores(["spent", "equipment", "facilities"]) == {}  # no card says these words: no document prior
    plain = PageRetriever(store=shelf, k=6, render_images=False, card_weight=0, evidence_weight=0)
    assert {(h.doc, h.page) for h in plain.search("How much was spent on new equipment and facilities?")} == {(h.doc, h.page) for h in hits}


def test_a_company_word_written_in_lower_case_names_no_document(shelf: PageStore) -> None:
    question = "How did freight volumes develop in 2019?"
    scores = shelf.catalog.card_scores(lexical_terms(question), names_in(question))
    borealis = {doc_of(shelf, COMPANIES[0], y) for y in YEARS}
    # "freight" is part of a name on two cards, but written in lower case it names nobody; the year still counts
    assert {shelf.document(n).doc_id for n in borealis} - set(scores) == {shelf.document(doc_of(shelf, COMPANIES[0], 2018)).doc_id}
    named = shelf.catalog.card_scores(lexical_terms("Borealis Freight in 2019"), names_in("Borealis Freight in 2019"))
    best = max(named, key=named.get)
    assert best == shelf.document(doc_of(shelf, COMPANIES[0], 2019)).doc_id and named[best] == pytest.approx(1.0)
    assert all(score < named[best] for doc_id, score in named.items() if doc_id != best)


def test_card_filters(shelf: PageStore) -> None:
    retriever = PageRetriever(store=shelf, k=10, render_images=False)
    hits = retriever.search("employees", filter={"organisation": "calder", "year": 2019})
    assert {h.doc for h in hits} == {doc_of(shelf, "Calder Shipping Corporation", 2019)}
    assert retriever.search("employees", filter={"doc_kind": "agreement"}) == []
    assert len({h.doc for h in retriever.search("employees", filter={"doc_kind": "annual report"})}) == 6


def test_replacing_a_document_replaces_its_card_and_context(store: PageStore, docs_dir: Path) -> None:
    path = factories.lookalike_report(docs_dir / "report.pdf", "Borealis Freight Inc.", 2018, 1)
    factories.lookalike_report(docs_dir / "other.pdf", "Calder Shipping Corporation", 2018, 2)
    index_paths([docs_dir], store=store, progress=False)
    factories.lookalike_report(path, "Esker Rail Corporation", 2020, 3)
    report = index_paths([path], store=store, progress=False)
    assert report.replaced == ["report.pdf"]
    rec = store.document("report.pdf")
    assert rec is not None
    card = store.catalog.card(rec.doc_id)
    assert card is not None and card.organisations[0] == "Esker Rail Corporation" and card.years == (2020,)
    retriever = PageRetriever(store=store, k=1, render_images=False)
    assert retriever.search("capital expenditures", filter={"organisation": "Borealis"}) == []
    top = retriever.search("Esker capital expenditures 2020")[0]
    assert (top.doc, top.page) == ("report.pdf", 4)
    assert len(store.catalog.cards()) == 2
    store.remove(["report.pdf"])
    assert len(store.catalog.cards()) == 1
    assert store.catalog.card_scores(["esker"]) == {}
    assert store.catalog.db.execute("SELECT count(*) FROM cards").fetchone()[0] == 1


@pytest.mark.slow
def test_a_document_indexed_without_a_card_is_read_again(store: PageStore, docs_dir: Path) -> None:
    factories.lookalike_report(docs_dir / "report.pdf", "Borealis Freight Inc.", 2018, 1)
    index_paths([docs_dir], store=store, progress=False)
    rec = store.document("report.pdf")
    assert rec is not None
    store.catalog.db.execute("DELETE FROM cards")  # as a store written before cards existed
    report = index_paths([docs_dir], store=store, progress=False)
    assert report.skipped == 0 and report.documents == 1
    new = store.document("report.pdf")
    assert new is not None and store.catalog.card(new.doc_id) is not None
    assert index_paths([docs_dir], store=store, progress=False).skipped == 1  # and now it is up to date


@pytest.mark.slow
def test_cli_docs_shows_cards_and_eval_reports_documents(shelf: PageStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_arg = ["--store", str(shelf.root)]
    assert main(["docs", "--json", *store_arg]) == 0
    docs = json.loads(capsys.readouterr().out)["documents"]
    assert {d["card"]["kind"] for d in docs} == {"annual report"}
    assert {d["card"]["organisations"][0] for d in docs} == set(COMPANIES)
    qrels = tmp_path / "q.jsonl"
    rows = [{"question": f"capital expenditures of {c.split()[0]} in {y}", "relevant": [{"doc": doc_of(shelf, c, y), "page": 4}], "kind": "capex"}
            for c in COMPANIES for y in YEARS]
    rows.append({"question": "How many employees did Dunmore have in 2019?", "relevant": [{"doc": doc_of(shelf, COMPANIES[2], 2019), "page": 5}], "kind": "staff"})
    qrels.write_text("\n".join(json.dumps(r) for r in rows))
    assert main(["eval", "retrieval", str(qrels), "--by-kind", "--json", *store_arg]) == 0
    hybrid = json.loads(capsys.readouterr().out)["modes"]["hybrid"]
    assert hybrid["doc@1"] == 1.0 and hybrid["recall@1"] == 1.0
    assert hybrid["by_kind"]["capex"]["questions"] == 6 and hybrid["by_kind"]["staff"]["questions"] == 1
    assert main(["eval", "retrieval", str(qrels), "--by-kind", *store_arg]) == 0
    out = capsys.readouterr().out
    assert "doc@1" in out and "hybrid by kind" in out and "capex" in out
