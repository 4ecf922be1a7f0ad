"""Printed page labels: the PDF's own page labels, else the number printed alone at the page's foot, shown beside the
PDF's page number wherever a page is cited (search, ask, JSON as ``page_label``)."""

from __future__ import annotations

import json
from pathlib import Path

import pymupdf
import pytest

from docagent.cli import main
from docagent.config import Settings
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.ingest.base import printed_label
from docagent.types import Page, Word, page_name


def _report(path: Path) -> Path:
    """Two front-matter pages labelled i, ii by the PDF, then the body numbered from 1."""
    doc = pymupdf.open()
    for text in ["Contents", "Letter to shareholders", "Revenue rose to 4,471 million.", "Outlook for the year."]:
        doc.new_page(width=595, height=842).insert_textbox(pymupdf.Rect(50, 50, 545, 800), text, fontsize=11)
    doc.set_page_labels([{"startpage": 0, "prefix": "", "style": "r", "firstpagenum": 1},
                         {"startpage": 2, "prefix": "", "style": "D", "firstpagenum": 1}])
    doc.save(path)
    return path


def _printed(path: Path) -> Path:
    """No page labels in the file, but each page prints its number ("- 50 -") at its foot."""
    doc = pymupdf.open()
    for n, text in enumerate(["The warehouse lease runs to 2031.", "The monthly rent is EUR 18,500."], start=50):
        page = doc.new_page(width=595, height=842)
        page.insert_textbox(pymupdf.Rect(50, 50, 545, 700), text, fontsize=11)
        page.insert_text((290, 810), f"- {n} -", fontsize=9)
    doc.save(path)
    return path


def test_labels_come_from_the_pdf_or_the_printed_number_and_are_shown_beside_the_page(
        tmp_path: Path, docs_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    _report(docs_dir / "annual.pdf")
    _printed(docs_dir / "lease.pdf")
    settings = Settings(store=tmp_path / "store")
    assert not index_paths([docs_dir], settings, progress=False).failed
    with PageStore(settings) as store:
        annual = [store.page("annual.pdf", n).label for n in range(1, 5)]  # type: ignore[union-attr]
        lease = [store.page("lease.pdf", n).label for n in (1, 2)]  # type: ignore[union-attr]
    assert annual == ["i", "ii", "1", "2"] and lease == ["50", "51"]

    assert main(["search", "monthly rent", "--store", str(settings.store), "-k", "1", "--json"]) == 0
    hit = json.loads(capfd.readouterr().out)["results"][0]
    assert (hit["doc"], hit["page"], hit["page_label"]) == ("lease.pdf", 2, "51")
    assert main(["search", "monthly rent", "--store", str(settings.store), "-k", "1"]) == 0
    assert "1. lease.pdf  page 2 (printed 51)  score" in capfd.readouterr().out

    no_model = ["--model", str(tmp_path / "no-model-here")]
    assert main(["ask", "What did revenue rise to?", "--store", str(settings.store), "-k", "1", "--json", *no_model]) == 0
    answer = json.loads(capfd.readouterr().out)
    assert [(c["doc"], c["page"], c["page_label"]) for c in answer["citations"]] == [("annual.pdf", 3, "1")]
    assert "annual.pdf, page 3 (printed 1)" in answer["answer"]


@pytest.mark.parametrize(("lines", "label"), [
    ([(100, "Revenue rose"), (800, "- 50 -")], "50"),
    ([(800, "Page 7 of 72")], "7"),
    ([(20, "iv"), (400, "Preface")], "iv"),
    ([(800, "viii")], "viii"),  # four letters: no year
    ([(800, "A-12")], "A-12"),
    ([(800, "Total 1,234")], ""),  # a line holding more than a number
    ([(800, "2023")], ""),  # a year alone is a date
    ([(400, "12")], ""),  # a number in the body is not the page's
])
def test_a_printed_page_number_is_a_number_alone_at_the_foot_or_head(lines: list[tuple[int, str]], label: str) -> None:
    words = []
    for y, text in lines:
        for i, t in enumerate(text.split()):
            words.append(Word(t, (50 + 30 * i, y, 75 + 30 * i, y + 10)))
    assert printed_label(Page("d", 1, 595, 842, " ", words)) == label


def test_a_page_is_named_with_its_printed_label_only_when_it_differs() -> None:
    assert page_name(52, "50") == "page 52 (printed 50)"
    assert page_name(3, "3") == page_name(3) == "page 3"
