"""Financial statements read as one table each, with the scale applied only where it belongs, names as users write
them, and results that are never silently wrong: through the store, `docagent tables`, `chart --expr` and `ask`
with no model (issue 29). The statements are printed as filings print them (tests/statement_factory.py)."""

from __future__ import annotations

import contextlib
import io
import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from docagent.cli import main
from docagent.config import Settings
from docagent.errors import CalculationError
from docagent.evaluation.tables import TableLabel, label_table
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.tasks.chart import chart
from docagent.tasks.qa import ask
from docagent.tasks.tables import compute
from docagent.types import Table
from tests.statement_factory import BALANCE, CASH, INCOME, MARGINS, Part, Statement, statements_pdf

PROSE = ("Management's discussion of the results follows. Sales grew in every region and the margin improved as the "
         "mix of services rose. ") * 30


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def filing(store: PageStore, docs_dir: Path) -> PageStore:
    """Page 1 the income statement, page 2 the balance sheet, page 3 a segment table with percent columns and an
    unlabelled total above the cash-flow statement: two statements on one page."""
    path = statements_pdf(docs_dir / "filing.pdf", [[INCOME], [BALANCE], [MARGINS, "Sales rose in every region.", CASH]])
    assert not index_paths([path], store=store, progress=False).failed
    return store


def only(store: PageStore, page: int) -> Table:
    tables = store.tables("filing.pdf", page)
    assert len(tables) == 1, [t.title for t in tables]
    return tables[0]


def test_a_balance_sheet_with_section_headings_and_blank_lines_is_one_table_with_its_heads_and_scale(filing: PageStore) -> None:
    sheet = only(filing, 2)
    assert sheet.title == "CONSOLIDATED BALANCE SHEETS (In millions)" and sheet.scale == Decimal(10) ** 6
    assert sheet.column_headers()[1:] == ["December 31, 2023", "December 31, 2022"]  # the date row heads the columns
    labels = sheet.row_labels()
    assert labels[:3] == ["ASSETS:", "Current assets:", "Cash and cash equivalents"]  # headings are rows, not joined
    assert "Current liabilities:" in labels and labels[-1] == "Total liabilities and shareholders' equity"
    liabilities = next(c for c in sheet.body() if c.text == "3,950")
    assert liabilities.number == Decimal(3_950_000_000)  # the scale reaches the rows below every heading


def test_an_income_statement_keeps_its_caption_out_of_the_header_and_scales_only_amounts(filing: PageStore) -> None:
    income = only(filing, 1)
    assert income.column_headers()[1:] == ["Years Ended December 31 2023", "Years Ended December 31 2022"]
    assert income.scale_text == "In millions, except per share data"
    cells = {(income.row_labels()[c.row - income.header_rows], c.text): c for c in income.body() if c.col == 1}
    assert cells[("Total net sales", "6,000")].number == Decimal(6_000_000_000)
    assert cells[("Basic", "$ 2.40")].number == Decimal("2.40") and cells[("Basic", "$ 2.40")].scale == 1  # per share
    assert cells[("Diluted", "504")].number == Decimal(504_000_000)  # share counts: in millions, as the caption says


def test_percent_columns_are_never_scaled_and_an_unlabelled_total_is_not_an_item(filing: PageStore, settings: Settings) -> None:
    margins, cash = filing.tables("filing.pdf", 3)  # two statements on one page, each its own table
    assert margins.title.startswith("SEGMENT RESULTS") and cash.title.startswith("CONSOLIDATED STATEMENTS OF CASH FLOWS")
    assert margins.column_headers()[1:] == ["2023", "% of Sales", "2022", "% of Sales"]  # "(Dollars in millions)" left out
    share = next(c for c in margins.body() if c.text == "74.5%")
    assert share.number == Decimal("74.5") and share.scale == 1
    total = chart("filing.pdf:3", expression='sum(col("2023"))', store=filing, settings=settings)
    assert total.value == Fraction(1_300_000_000) and not total.needs_review  # 969 + 331, not the total counted too
    same = chart("filing.pdf:3", expression='cell("2023", "Total")', store=filing, settings=settings)
    assert same.value == total.value


def test_a_computation_that_mixes_scales_or_units_says_it_needs_review_on_every_surface(
        filing: PageStore, settings: Settings, tmp_path: Path) -> None:
    ratio = chart("filing.pdf:2", expression='cell("2023", "Total current assets") / cell("2023", "Total current liabilities")',
                  store=filing, settings=settings)
    assert ratio.value == Fraction(2700, 3950) and not ratio.needs_review and ratio.text.startswith("0.683544")
    mixed = chart("filing.pdf:1", expression='cell("2023", "Net income") / cell("2023", "Earnings per share Basic")',
                  store=filing, settings=settings)
    assert mixed.value == Fraction(1_200_000_000) / Fraction("2.40")
    assert mixed.needs_review and "different scales" in mixed.review[0]
    assert "needs review: the cells have different scales" in mixed.text  # what the CLI, MCP, agent and app show
    assert mixed.to_json()["needs_review"] is True and mixed.to_json()["review"] == mixed.review
    added = chart("filing.pdf:3", expression='cell("2023", "Domestic") + cell("% of Sales (column 3)", "Domestic")',
                  store=filing, settings=settings)
    assert added.value == Fraction(969_000_000) + Fraction("74.5")
    assert added.needs_review and any("different units" in r for r in added.review)
    store = ["--store", str(settings.store)]
    code, out, _ = run("chart", "filing.pdf:1", "--expr", 'cell("2023", "Net income") / cell("2023", "Earnings per share Basic")',
                       "--json", *store)
    assert code == 0 and json.loads(out)["needs_review"] is True and "different scales" in json.loads(out)["review"][0]


def test_every_result_states_its_scale(filing: PageStore, settings: Settings) -> None:
    answer = chart("filing.pdf:2", expression='cell("2023", "Total current liabilities") - cell("2022", "Total current liabilities")',
                   store=filing, settings=settings)
    assert answer.value == Fraction(350_000_000)
    assert [c.scale for c in answer.cells] == ["In millions", "In millions"]
    assert "(350 as the table prints it)" in " ".join(answer.notes)
    assert "(page 2, table 1; In millions)" in answer.explain()


def test_names_as_users_write_them(filing: PageStore, settings: Settings, docs_dir: Path, store: PageStore) -> None:
    def value(page: int, expression: str) -> Fraction | None:
        got = chart(f"filing.pdf:{page}", expression=expression, store=filing, settings=settings)
        assert not got.needs_review, got.review
        return got.value

    # a year names the one column whose header holds it; a label without its parenthetical or footnote mark
    assert value(2, 'cell("2023", "Property, plant and equipment, net")') == 3_100_000_000
    assert value(2, 'cell("FY2022", "Long-term debt")') == 850_000_000
    assert value(1, 'cell("2023", "Diluted earnings per share")') == Fraction("2.38")  # "Diluted" under "Earnings per share:"
    refused = chart("filing.pdf:1", expression='cell("2022", "Operating incme")', store=filing, settings=settings)
    assert refused.value is None and "no row 'Operating incme'; closest rows: 'Operating income'" in refused.error
    dated = statements_pdf(docs_dir / "dated.pdf", [[Statement(
        "RESULTS", "(In millions)", "Years Ended", ["December 2, 2022", "December 3, 2021"],
        [("Operating income", "1,500", "1,300"), ("Purchases of property, plant and equipment (PP&E)", "(450)", "(400)")])]])
    index_paths([dated], store=store, progress=False)
    answer = chart(f"{dated}:1", expression='cell("2022", "Operating income") - cell("2021", "Operating income")',
                   store=store, settings=settings)
    assert answer.value == Fraction(200_000_000)
    capex = chart(f"{dated}:1", expression='cell("2022", "Purchases of property, plant and equipment")', store=store,
                  settings=settings)
    assert capex.value == Fraction(-450_000_000)


def test_a_year_two_columns_hold_is_refused_with_the_columns_it_could_mean(store: PageStore, settings: Settings,
                                                                             docs_dir: Path) -> None:
    quarters = statements_pdf(docs_dir / "quarters.pdf", [[Statement(
        "RESULTS", "(In millions)", "", ["Three Months 2023", "Nine Months 2023"],
        [("Net sales", "81,797", "293,787"), ("Net income", "19,881", "74,039")])]])
    index_paths([quarters], store=store, progress=False)
    answer = chart(f"{quarters}:1", expression='cell("2023", "Net sales")', store=store, settings=settings)
    assert answer.value is None and "fits 2 cells" in answer.error
    assert 'cell("Three Months 2023", "Net sales")' in answer.error and 'cell("Nine Months 2023", "Net sales")' in answer.error


def test_a_column_named_by_its_period_words_and_year() -> None:
    """Apple's heads, "Three Months Ended" over "July 1, 2023" and "June 25, 2022": a user writes "nine months
    ended 2023"."""
    periods = ["Three Months Ended"] * 2 + ["Nine Months Ended"] * 2
    dates = ["", "July 1, 2023", "June 25, 2022", "July 1, 2023", "June 25, 2022"]
    income = label_table(TableLabel("q.pdf", 1, [["", *periods], dates],
                                    [["Products", "60,584", "63,355", "230,901", "245,241"],
                                     ["Total net sales", "81,797", "82,959", "293,787", "304,182"]]))
    assert compute('cell("nine months ended 2023", "Total net sales")', [income]).value == 293_787
    assert compute('cell("Three months ended 2022", "Total net sales")', [income]).value == 82_959
    with pytest.raises(CalculationError, match="fits 2"):  # both columns of 2023 hold these words
        compute('cell("months ended 2023", "Total net sales")', [income])
    shares = label_table(TableLabel("s.pdf", 1, [["", "2023", "2023", "2022", "2022"],
                                                 ["", "Amount", "% of revenue", "Amount", "% of revenue"]],
                                    [["Revenue", "2,300", "100.0", "2,130", "100.0"],
                                     ["Cost of sales", "1,200", "52.2", "1,100", "51.6"]]))
    with pytest.raises(CalculationError, match="names no cell"):  # "% of revenue" says what the column holds
        compute('cell("2023 revenue", "Cost of sales")', [shares])


def test_a_row_after_its_sections_total_is_out_of_the_section() -> None:
    """On a balance sheet the rows after "Total current assets" are no longer current: "Software development"
    there is the non-current one, "Current software development" the one above."""
    sheet = label_table(TableLabel("b.pdf", 1, [["", "2019", "2018"]], [
        ["Current assets:", "", ""], ["Cash", "5,794", "4,225"], ["Software development", "322", "264"],
        ["Total current assets", "6,116", "4,489"], ["Software development", "54", "65"], ["Goodwill", "9,764", "9,762"],
        ["Total assets", "15,934", "14,316"]]))
    assert compute('cell("2019", "Non-current software development")', [sheet]).value == 54
    assert compute('cell("2019", "Noncurrent software development")', [sheet]).value == 54
    assert compute('cell("2019", "Current software development")', [sheet]).value == 322
    with pytest.raises(CalculationError, match="fits 2 cells"):  # neither said: both fit, none is guessed
        compute('cell("2019", "Software development")', [sheet])


def test_a_statement_continues_only_into_the_same_statement(store: PageStore, docs_dir: Path) -> None:
    two = Statement(INCOME.title, INCOME.caption, INCOME.periods, INCOME.years, INCOME.rows)
    path = statements_pdf(docs_dir / "pages.pdf", [[PROSE, Part(two, slice(0, 8))], [Part(two, slice(8, None), header=False)],
                                                    [PROSE, Part(two, slice(0, 8))], [CASH]])
    assert not index_paths([path], store=store, progress=False).failed
    carried = store.tables("pages.pdf", 2)[0]
    assert carried.continued_from == (1, 0)  # the rest of the income statement, no header printed: linked
    assert carried.column_headers()[1:] == ["Years Ended December 31 2023", "Years Ended December 31 2022"]
    cash = store.tables("pages.pdf", 4)[0]
    assert cash.title.startswith("CONSOLIDATED STATEMENTS OF CASH FLOWS")
    assert cash.continued_from is None  # another statement with its own title and heads: not a continuation
    assert store.tables("pages.pdf", 3)[0].continues_on is None


def test_docagent_tables_shows_one_statement_with_its_rows(filing: PageStore, settings: Settings) -> None:
    code, out, _ = run("tables", "filing.pdf:2", "--format", "json", "--store", str(settings.store))
    data = json.loads(out)
    assert code == 0 and len(data["tables"]) == 1
    table = data["tables"][0]
    assert table["column_headers"][1:] == ["December 31, 2023", "December 31, 2022"]
    cells = {c["text"]: c for c in table["cells"]}
    assert cells["3,950"]["number"] == "3950000000" and cells["3,950"]["scale"] == "1000000"


# ---------------------------------------------------------------- real questions answered without a model


@pytest.fixture
def acme(store: PageStore, docs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DOCAGENT_VLM_MODEL", str(tmp_path / "no-such-model"))  # no model can load
    path = statements_pdf(docs_dir / "acme-10k.pdf", [
        ["ACME HOLDINGS annual report. " + PROSE], [INCOME], [BALANCE], [CASH],
        ["Legal proceedings. The company is party to lawsuits over patents and contracts; it accrues for losses it "
         "deems probable. No proceeding is expected to affect the financial position materially. Risk factors "
         "include competition, supply constraints and foreign exchange rates."]], company="ACME HOLDINGS, INC.")
    assert not index_paths([path], store=store, progress=False).failed
    return Settings(store=store.settings.store)


@pytest.mark.parametrize(("question", "value"), [
    ("What were Acme's total current liabilities in FY2023? Round your answer to one decimal place.", "3,950"),
    ("What was Acme's capex in 2022?", "(400)"),  # capex: "Purchases of property, plant and equipment"
    ("What was the PP&E, net of Acme in 2023, clearly stated in USD millions?", "3,100"),
    ("Using the line items plainly shown in the statement of operations, what was operating income in FY2022?", "1,300"),
    ("What was diluted EPS for 2023?", "$ 2.38"),  # "Diluted" under "Earnings per share:", not the shares row
])
def test_real_questions_are_answered_from_the_statement_row_in_the_asked_period(store: PageStore, acme: Settings,
                                                                                  question: str, value: str) -> None:
    answer = ask(question, store=store, settings=acme)
    assert answer.mode == "retrieval-only" and not answer.abstained, answer.reason
    assert answer.answer_span is not None and answer.answer_span.text == value, answer.text


def test_a_question_that_relates_things_is_supported_by_the_page_that_speaks_of_them(store: PageStore,
                                                                                      acme: Settings) -> None:
    answer = ask("How do Acme's legal proceedings relate to its financial position, and what risk factors were "
                 "highlighted in the latest 10-K?", store=store, settings=acme)
    assert not answer.abstained, answer.reason
    assert answer.citations and answer.citations[0].page == 5


@pytest.mark.parametrize("question", [
    "What was Google's cloud operating loss in 2022?",  # a company no page found names
    "What is the boiling point of mercury?",
    "Who won the 2018 FIFA World Cup?",
])
def test_off_topic_questions_still_abstain(store: PageStore, acme: Settings, question: str) -> None:
    answer = ask(question, store=store, settings=acme)
    assert answer.abstained and answer.answer_span is None


def test_a_question_several_cells_fit_says_so_with_the_cells(store: PageStore, acme: Settings) -> None:
    answer = ask("What was Acme's diluted figure in 2023?", store=store, settings=acme)
    assert answer.answer_span is None
    assert answer.text.startswith("Several table cells on acme-10k.pdf page 2 fit the question: $ 2.38 (")
    assert "504 (" in answer.text  # the diluted share count: the question does not say which


def test_eval_tables_scores_statements_whole_and_cells_named_as_users_write_them(tmp_path: Path) -> None:
    folder = tmp_path / "labels"
    folder.mkdir()
    statements_pdf(folder / "filing.pdf", [[BALANCE]])
    rows = [[label, *values] if values else [label, "", ""] for label, *values in BALANCE.rows if label or values]
    (folder / "tables.jsonl").write_text(json.dumps({
        "doc": "filing.pdf", "page": 1, "kind": "statement", "header": [["", "December 31, 2023", "December 31, 2022"]],
        "rows": [[r[0].strip(), *r[1:]] for r in rows]}) + "\n")
    (folder / "cells.jsonl").write_text("\n".join(json.dumps(c) for c in [
        {"doc": "filing.pdf", "page": 1, "row": "Total current liabilities", "column": "2023", "value": "3950000000"},
        {"doc": "filing.pdf", "page": 1, "row": "Long-term debt", "column": "FY2022", "value": "850000000"},
        {"doc": "filing.pdf", "page": 1, "row": "Goodwill", "column": "2023", "value": "1"},  # not on the page
        {"doc": "filing.pdf", "page": 1, "expression": 'cell("2023", "Total current assets") / '
         'cell("2023", "Total current liabilities")', "value": "0.6835"},
    ]) + "\n")
    code, out, _ = run("eval", "tables", str(folder / "tables.jsonl"), "--cells", str(folder / "cells.jsonl"), "--json",
                       "--store", str(tmp_path / "store"))
    data = json.loads(out)
    assert code == 0 and data["statements"] == 1 and data["statements_whole"] == 1 and data["f1"] == 1.0
    scored = data["cells"][str(folder / "cells.jsonl")]
    assert (scored["right"], scored["refused"], scored["wrong"]) == (3, 1, 0)
    assert [o["outcome"] for o in scored["outcomes"]] == ["right", "right", "refused", "right"]


# ---------------------------------------------------------------- found by probing as a user would


def test_a_sections_scale_stops_at_its_own_rows_and_excepted_rows_are_read_as_printed(store: PageStore, settings: Settings,
                                                                                      docs_dir: Path) -> None:
    path = statements_pdf(docs_dir / "t.pdf", [[Statement(
        "CONSOLIDATED STATEMENTS OF OPERATIONS", "(In thousands, except per share data and employees)", "", ["2023", "2022"],
        [("Net income", "$ 50,000", "$ 40,000"), ("Earnings per share:",), ("  Basic", "$ 0.50", "$ 0.40"),
         ("Weighted average shares outstanding (in millions):",), ("  Basic", "100.0", "100.0"), ("",),
         ("Cash dividends declared", "$ 10,000", "$ 8,000"), ("Comprehensive income", "$ 55,000", "$ 38,000"),
         ("Number of employees", "12,400", "11,900"), ("Current ratio", "1.8x", "1.6x")])]])
    index_paths([path], store=store, progress=False)
    value = {}
    for name in ("Comprehensive income", "Cash dividends declared", "Number of employees", "Current ratio",
                 "Weighted average shares outstanding Basic", "Earnings per share Basic"):
        got = chart(f"{path}:1", expression=f'cell("2023", "{name}")', store=store, settings=settings)
        value[name] = got.value
        if name == "Weighted average shares outstanding Basic":
            assert got.cells[0].scale == "in millions"  # the cell's own scale, not the table's
    assert value == {"Comprehensive income": 55_000_000, "Cash dividends declared": 10_000_000,
                     "Number of employees": 12_400, "Current ratio": Fraction("1.8"),
                     "Weighted average shares outstanding Basic": 100_000_000, "Earnings per share Basic": Fraction("0.50")}


def test_names_with_abbreviations_typographic_quotes_and_huge_results(filing: PageStore, settings: Settings) -> None:
    eps = chart("filing.pdf:1", expression="cell(“2023”, “Diluted EPS”)", store=filing, settings=settings)
    assert eps.value == Fraction("2.38") and not eps.needs_review
    huge = chart("filing.pdf:2", expression='cell("2023", "Total assets") ** 40', store=filing, settings=settings)
    data = huge.to_json()  # beyond a float: the exact digits are still there
    assert data["value"] is None and data["exact"] == str(Fraction(5_800_000_000) ** 40)
    code, out, err = run("chart", "filing.pdf:2", "--expr", "10**400", "--json", "--store", str(settings.store))
    assert code == 0 and json.loads(out)["exact"] == str(10**400) and "Traceback" not in err


def test_a_line_item_named_like_arithmetic_is_a_lookup_not_a_computation() -> None:
    from docagent.question import Question

    assert not Question.parse("What were Intel's weighted average diluted shares for the three months?").arithmetic
    assert not Question.parse("What were weighted-average shares outstanding in 2023?").arithmetic
    assert Question.parse("What was the average revenue over 2022 and 2023?").arithmetic


def test_eval_cells_scores_a_value_only_at_the_digits_it_gives_and_goes_on_past_a_missing_page(tmp_path: Path) -> None:
    folder = tmp_path / "labels"
    folder.mkdir()
    statements_pdf(folder / "filing.pdf", [[BALANCE]])
    (folder / "tables.jsonl").write_text(json.dumps({"doc": "filing.pdf", "page": 1, "header": [["", "a", "b"]],
                                                     "rows": [["x", "1", "2"]]}) + "\n")
    ratio = 'cell("2023", "Total current assets") / cell("2023", "Total current liabilities")'  # 0.683544...
    (folder / "cells.jsonl").write_text("\n".join(json.dumps(c) for c in [
        {"doc": "filing.pdf", "page": 1, "expression": ratio, "value": "0.6835"},
        {"doc": "filing.pdf", "page": 1, "expression": ratio, "value": "0.6"},
        {"doc": "filing.pdf", "page": 1, "row": "Total assets", "column": "2023", "value": "5,800,000,000"},
        {"doc": "filing.pdf", "page": 1, "row": "Total assets", "column": "2023", "value": "5000000000"},
        {"doc": "filing.pdf", "page": 9, "row": "Total assets", "column": "2023", "value": "1"},
    ]) + "\n")
    code, out, err = run("eval", "tables", str(folder / "tables.jsonl"), "--cells", str(folder / "cells.jsonl"), "--json",
                         "--store", str(tmp_path / "store"))
    assert code == 0, err
    outcomes = [o["outcome"] for o in json.loads(out)["cells"][str(folder / "cells.jsonl")]["outcomes"]]
    assert outcomes == ["right", "wrong", "right", "wrong", "refused"]


def test_a_scale_the_sentence_above_a_table_states_is_applied(store: PageStore, settings: Settings, docs_dir: Path) -> None:
    path = statements_pdf(docs_dir / "lead.pdf", [[
        "Net sales by segment, as reported and at prior year exchange rates, are as follows (in millions):",
        Statement("", "", "", ["2023", "2022"], [("North America", "87,887", "78,843"), ("International", "32,137", "27,720")])]])
    index_paths([path], store=store, progress=False)
    answer = chart(f"{path}:1", expression='cell("2023", "North America")', store=store, settings=settings)
    assert answer.value == 87_887_000_000 and answer.cells[0].scale == "in millions"


def test_a_label_whose_last_line_starts_with_a_figure_carries_the_row_values(store: PageStore, settings: Settings,
                                                                            docs_dir: Path) -> None:
    path = statements_pdf(docs_dir / "equity.pdf", [[Statement(
        "CONSOLIDATED BALANCE SHEETS", "(In millions)", "", ["2023", "2022"],
        [("Total current liabilities", "28,614", "32,155"), ("Debt", "46,591", "37,684"),
         ("Other long-term liabilities", "7,946", "8,978"), ("Stockholders' equity:",),
         ("Common stock and capital in excess of par value, 4,216 issued (4,137 as of December",),
         ("31, 2022)", "35,653", "31,580"), ("Retained earnings", "67,021", "70,405"),
         ("Total stockholders' equity", "102,674", "101,985")])]])
    index_paths([path], store=store, progress=False)
    answer = chart(f"{path}:1", expression='cell("2023", "Common stock and capital in excess of par value")',
                   store=store, settings=settings)
    assert answer.value == 35_653_000_000, answer.error
