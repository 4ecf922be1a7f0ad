"""Arithmetic asked in words over a found table, computed exactly without a model (docagent.tasks.words): in ask
(retrieval-only) and chart, the expression built from the table's own names, the cells cited; a question that
cannot be mapped is said so plainly."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.tasks.chart import chart
from docagent.tasks.qa import ask
from docagent.tasks.words import Worded, in_words
from tests import factories

REGIONS = [("North", "120", "95"), ("South", "80", "70"), ("West", "64", "40")]
"""Installations per region: 2019, 2018 (the factory's two year columns)."""


@pytest.fixture
def regions(store: PageStore, docs_dir: Path) -> PageStore:
    factories.results_pdf(docs_dir / "installations.pdf", REGIONS, prose="Installations of heat pumps per region.")
    assert not index_paths([docs_dir], store=store, progress=False).failed
    return store


def _no_model(settings, tmp_path: Path):
    return settings.model_copy(update={"vlm_model": str(tmp_path / "no-model-here")})


@pytest.mark.parametrize(("question", "expression", "value"), [
    ("How many more installations were there in the North in 2019 than in 2018?",
     'cell("2019", "North") - cell("2018", "North")', Fraction(25_000_000)),
    ("What is the difference in installations in the South between 2018 and 2019?",
     'cell("2019", "South") - cell("2018", "South")', Fraction(10_000_000)),
    ("What was the percent change in West installations from 2018 to 2019?",
     'percent_change(cell("2018", "West"), cell("2019", "West"))', Fraction(60)),
    ("What were the combined installations of North and South in 2019?",
     'sum(cell("2019", "North"), cell("2019", "South"))', Fraction(200_000_000)),
    ("What is the ratio of North to South installations in 2018?",
     'cell("2018", "North") / cell("2018", "South")', Fraction(95, 70)),
    ("What was the average of North, South and West in 2019?",
     'mean(cell("2019", "North"), cell("2019", "South"), cell("2019", "West"))', Fraction(88_000_000)),
])
def test_a_question_in_words_becomes_the_expression_and_is_computed_without_a_model(
        regions: PageStore, settings, tmp_path: Path, question: str, expression: str, value: Fraction) -> None:
    tables = regions.tables("installations.pdf", 1)
    worded = in_words(question, tables)
    assert isinstance(worded, Worded) and worded.expression == expression, worded

    answer = ask(question, store=regions, settings=_no_model(settings, tmp_path))
    assert not answer.abstained and answer.answer_span is not None and answer.answer_span.kind == "computed"
    assert answer.text.startswith(f"Computed without a model: {answer.answer_span.text} = {expression}")
    assert answer.citations and answer.citations[0].boxes  # the cells read, boxed on their page

    charted = chart(("installations.pdf", 1), question, store=regions, settings=_no_model(settings, tmp_path))
    assert charted.expression == expression and charted.value == value and not charted.review


def test_a_question_the_table_cannot_answer_is_said_so_plainly(regions: PageStore, settings, tmp_path: Path) -> None:
    why = in_words("What is the difference in headcount between 2018 and 2019?", regions.tables("installations.pdf", 1))
    assert isinstance(why, str) and "does not name one row" in why, why
    assert isinstance(in_words("Which region is in the north?", regions.tables("installations.pdf", 1)), str)
    with pytest.raises(Exception, match="Without a model, "):
        chart(("installations.pdf", 1), "What is the difference in headcount between 2018 and 2019?", store=regions,
              settings=_no_model(settings, tmp_path))


def test_a_row_name_several_rows_share_is_not_guessed(store: PageStore, docs_dir: Path) -> None:
    """Revenue stands under Europe and under Asia in one table and bare in another: "the sum of revenue" names none
    of them alone, so nothing is computed; "Asia revenue" names one."""
    index_paths([factories.tables_pdf(docs_dir / "segments.pdf", factories.SEGMENTS)], store=store, progress=False)
    tables = store.tables("segments.pdf", 1)
    vague = in_words("What is the sum of revenue in 2019 and 2018?", tables)
    assert isinstance(vague, str) and "fits several rows" in vague and "Asia Revenue" in vague, vague
    asia = in_words("What is the sum of Asia revenue in 2019 and 2018?", tables)
    assert isinstance(asia, Worded) and asia.expression == 'sum(cell("2019", "Asia Revenue"), cell("2018", "Asia Revenue"))'


CASES = {
    "regions.pdf": ("Installations by region", ["", "2024", "2023"],
                    [["North", "150", "120"], ["South", "170", "200"], ["East", "95", "90"], ["Total", "415", "410"]]),
    "prices.pdf": ("Prices and notes", ["", "2024", "2023"],
                   [["Average price", "12", "10"], ["Price", "11", "9"], ["Notes", "450", "500"], ["2023 Notes", "0", "100"]]),
    "sales.pdf": ("Sales", ["", "2024", "2023"], [["Net sales", "700", "650"], ["Sales returns", "30", "25"]]),
}


@pytest.fixture
def worded(store: PageStore, docs_dir: Path) -> PageStore:
    for name, table in CASES.items():
        factories.tables_pdf(docs_dir / name, [table], title="Operations review")
    assert not index_paths([docs_dir], store=store, progress=False).failed
    return store


@pytest.mark.parametrize(("doc", "question", "value"), [
    # the words asking for the computation name no row: "the total of" is not the Total row
    ("regions.pdf", "What was the total of North and South in 2024?", Fraction(320)),
    # "less", "fewer", "lower", "decrease": the amount by which it is smaller, measured against what follows "than"
    ("regions.pdf", "How many fewer installations did South have in 2024 than in 2023?", Fraction(30)),
    ("regions.pdf", "How much lower was North in 2023 than in 2024?", Fraction(30)),
    ("regions.pdf", "How much less was South than North in 2023?", Fraction(-80)),
    ("regions.pdf", "How much more than in 2023 did North install in 2024?", Fraction(30)),
    ("regions.pdf", "In 2024, how much higher than North was South?", Fraction(20)),
    ("regions.pdf", "By what percent was South higher than North in 2024?", Fraction(40, 3)),
    ("regions.pdf", "What was the decrease in South from 2023 to 2024?", Fraction(30)),
    # "average" asks the computation, not for the row Average price; a year names a column, not the row 2023 Notes
    ("prices.pdf", "What was the average Price in 2023 and 2024?", Fraction(10)),
    ("prices.pdf", "What was the change in Notes from 2023 to 2024?", Fraction(-50)),
    # rows ordered by where their whole names stand in the question
    ("sales.pdf", "What is the ratio of Sales returns to Net sales in 2024?", Fraction(30, 700)),
])
def test_the_wording_decides_the_order_and_the_sign(worded: PageStore, doc: str, question: str, value: Fraction) -> None:
    from docagent.tasks.tables import compute

    found = in_words(question, worded.tables(doc, 1))
    assert isinstance(found, Worded), found
    assert compute(found.expression, [found.table]).value == value, found.expression


def test_a_question_asking_two_computations_at_once_is_refused(worded: PageStore) -> None:
    found = in_words("What was the change in average price from 2023 to 2024?", worded.tables("prices.pdf", 1))
    assert isinstance(found, str) and "several computations" in found


def test_chart_computes_a_question_in_words_even_when_the_model_server_is_down(regions: PageStore, settings) -> None:
    """The walk's Charts page: with a model server set that cannot be reached, a question a found table answers was
    sent to the model and failed; the table's cells answer it exactly, no model needed."""
    from tests.test_http_api import free_port

    down = settings.model_copy(update={"vlm_model": f"http://127.0.0.1:{free_port()}/v1"})
    answer = chart(("installations.pdf", 1), "How many more installations were there in the North in 2019 than in 2018?",
                   store=regions, settings=down)
    assert answer.expression == 'cell("2019", "North") - cell("2018", "North")' and answer.value == 25_000_000
    asked = ask("How many more installations were there in the North in 2019 than in 2018?", store=regions,
                settings=down)
    assert asked.mode == "retrieval-only" and asked.text.startswith("Computed without a model: 25000000 = "), asked.text
    assert asked.notice.startswith("retrieval-only: the model failed: no model read the page")  # said, not "read by"
