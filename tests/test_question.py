"""A question read once: periods, recency, instructions set aside, the glossary and abbreviations."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from docagent.errors import ConfigError
from docagent.ingest.base import title_lines
from docagent.ingest.identity import page_title, report_period, running_lines
from docagent.question import Glossary, Period, abbreviations_in, glossary, parse, periods_in
from docagent.types import Page, ReportPeriod


@pytest.mark.parametrize(("text", "expected"), [
    ("revenue in Q3 2023", [Period(2023, 3)]),
    ("the second quarter of 2023", [Period(2023, 2)]),
    ("third fiscal quarter of 2023", [Period(2023, 3, fiscal=True)]),
    ("3Q23 net income", [Period(2023, 3)]),
    ("2023 Q1 margin", [Period(2023, 1)]),
    ("Q4 FY2022 results", [Period(2022, 4, fiscal=True)]),
    ("FY2022 capital expenditure", [Period(2022, fiscal=True)]),
    ("fiscal 2021 and 2020", [Period(2021, fiscal=True), Period(2020)]),
    ("FY21 revenue", [Period(2021, fiscal=True)]),
    ("What was the revenue?", []),
    ("Total was 10,431.54 in 2019", [Period(2019)]),
])
def test_periods_in_every_common_wording(text: str, expected: list[Period]) -> None:
    assert list(periods_in(text)) == expected


@pytest.mark.parametrize("text", ["the latest 10-Q", "in the most recent quarter", "its last reported quarter", "newest filing"])
def test_latest_is_recency(text: str) -> None:
    assert parse(f"What was Apple's gross margin in {text}?").latest


def test_instructions_are_set_aside_and_never_searched() -> None:
    q = parse("Using the line items clearly shown in the statement of income, what is the FY2021 operating margin? "
              "Round your answer to two decimal places. Answer in USD millions.")
    assert {"round", "decimal", "places", "usd", "millions", "clearly"}.isdisjoint(q.terms)
    assert {"operating", "margin", "income", "statement"} <= set(q.terms)
    assert any("two decimal places" in i for i in q.instructions) and any("USD millions" in i for i in q.instructions)
    assert q.periods == (Period(2021, fiscal=True),)
    assert parse("Round to one decimal place").terms  # all instruction: searched as asked, never empty


def test_the_glossary_expands_analysts_words() -> None:
    q = parse("What was the company's capex in FY2022?")
    assert {"purchases", "property", "plant", "equipment"} <= set(q.expansion_terms)
    assert q.abbreviations["capex"]
    bs = parse("What is the largest liability in the balance sheet?")
    assert {"financial", "position"} <= set(bs.expansion_terms)
    pl = parse("Using the P&L, what was gross profit?")
    assert "operations" in pl.expansion_terms
    assert parse("What is the PP&E?").abbreviations["pp&e"].startswith("property")


def test_a_user_glossary_extends_the_packaged_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "words.txt"
    mine.write_text("# ours\nARR | annual recurring revenue | subscription revenue\n", encoding="utf-8")
    monkeypatch.setenv("DOCAGENT_GLOSSARY", str(mine))
    q = parse("How did ARR grow?")
    assert {"annual", "recurring", "subscription"} <= set(q.expansion_terms)
    assert "purchases" in parse("capex?").expansion_terms  # the packaged groups are still there
    monkeypatch.setenv("DOCAGENT_GLOSSARY", str(tmp_path / "missing.txt"))
    with pytest.raises(ConfigError, match=r"missing\.txt.*cannot be read"):
        glossary()
    with pytest.raises(ValueError, match="two variants"):
        Glossary.from_text("lonely\n", "g.txt")


def test_abbreviations_defined_in_documents() -> None:
    found = abbreviations_in("Purchases of property, plant and equipment (PP&E) rose, see Management's Discussion "
                             "and Analysis (MD&A). The Company (Apple) and the Securities and Exchange Commission (the SEC).")
    assert found["PP&E"] == "property, plant and equipment"
    assert found["MD&A"] == "Management's Discussion and Analysis"
    assert found["SEC"] == "Securities and Exchange Commission"
    assert "Apple" not in found  # one capital: a name, not an abbreviation


def _page(number: int, text: str, titles: list[str] | None = None) -> Page:
    return Page(doc="r.pdf", number=number, width=612, height=792, text=text, title_lines=titles or [])


@pytest.mark.parametrize(("cover", "body", "expected"), [
    ("FORM 10-Q For the quarterly period ended July 1, 2023", "Three Months Ended Nine Months Ended\nJuly 1,\n2023",
     ReportPeriod(date(2023, 7, 1), 2023, 3)),  # a fiscal year ending in September: Q3 ends in July
    ("FORM 10-Q For the quarterly period ended\nApril 1, 2023", "Three Months Ended Six Months Ended April 1, 2023",
     ReportPeriod(date(2023, 4, 1), 2023, 2)),
    ("FORM 10-Q For the quarterly period ended December 31, 2022", "Three Months Ended",
     ReportPeriod(date(2022, 12, 31), 2023, 1)),  # Apple's first fiscal quarter of 2023
    ("FORM 10-Q For the quarterly period ended September 30, 2023", "Nine Months Ended September 30,",
     ReportPeriod(date(2023, 9, 30), 2023, 3)),
    ("FORM 10-Q For the quarterly period ended March 31, 2023", "Twelve Months Ended March 31. Commitments: Nine Months "
     "Ended December 31, 2023", ReportPeriod(date(2023, 3, 31), 2023, 1)),  # a table of future payments is no column
    ("ANNUAL REPORT For the fiscal year ended September 24, 2022", "", ReportPeriod(date(2022, 9, 24), 2022, 4, annual=True)),
    ("ANNUAL REPORT For the fiscal year ended January 1, 2022", "", ReportPeriod(date(2022, 1, 1), 2021, 4, annual=True)),
    ("A manual about tools, 2023 edition", "", None),
])
def test_report_period_read_from_the_cover(cover: str, body: str, expected: ReportPeriod | None) -> None:
    assert report_period([_page(1, cover), _page(2, "Contents"), _page(3, "Statements"), _page(4, body)]) == expected


def test_fiscal_and_calendar_quarters_differ() -> None:
    july = ReportPeriod(date(2023, 7, 1), 2023, 3)
    assert july.calendar == (2023, 2) and july.label() == "FY2023 Q3 (ended July 1, 2023)"


def test_running_headers_are_not_titles() -> None:
    pages = [_page(i, "", ["Table of Contents", f"Section {chr(65 + i)} heading"]) for i in range(1, 8)]
    pages[3].title_lines = ["Table of Contents", "CONDENSED CONSOLIDATED BALANCE SHEETS"]
    running = running_lines([p.title_lines for p in pages])
    assert page_title(pages[3], running) == "CONDENSED CONSOLIDATED BALANCE SHEETS"
    assert running_lines([["Table of Contents"], ["Table of Contents"]]) == set()  # two pages prove nothing


def test_title_lines_bold_capitals_and_larger_type_up_to_the_body() -> None:
    lines = [("Apple Inc.", 8.1, True), ("CONDENSED CONSOLIDATED BALANCE SHEETS (Unaudited)", 8.1, True),
             ("(In millions)", 8.1, False), ("Three Months Ended", 7.2, True), ("April 1,", 7.2, True),
             ("Total current assets 900 850", 8.1, False)]
    assert title_lines(lines, 8.1) == ["Apple Inc.", "CONDENSED CONSOLIDATED BALANCE SHEETS (Unaudited)"]
    prose = [("Results of Operations", 9.0, False), ("Net sales rose in the quarter because of stronger demand everywhere", 9.0, False),
             ("LATER CAPITALS", 9.0, False)]
    assert title_lines(prose, 9.0) == []  # body text first: a page with no title
    assert title_lines([("Quarter in Review", 14.4, False), ("Revenue was down in every segment this time", 7.2, False)], 7.2) == ["Quarter in Review"]


@pytest.mark.parametrize("text", ["What was revenue in the Q3 10-Q?", "3Q 10-Q cash", "Q4 50% of sales", "Q1 20 states",
                                  "over the fiscal 12 months", "the FY 10-K", "sales of $2,023 million"])
def test_numbers_that_are_not_years(text: str) -> None:
    assert periods_in(text) == ()


@pytest.mark.parametrize(("text", "expected"), [
    ("fiscal Q4 2023", [Period(2023, 4, fiscal=True)]),
    ("the last quarter of 2023", [Period(2023, 4)]),
    ("Q3, 2023", [Period(2023, 3)]),
    ("FY2023-24 revenue", [Period(2024, fiscal=True)]),  # a fiscal year is named by the year it ends
    ("FY2019/20", [Period(2020, fiscal=True)]),
    ("Q3 '23", [Period(2023, 3)]),
])
def test_more_period_wordings(text: str, expected: list[Period]) -> None:
    assert list(periods_in(text)) == expected


def test_long_questions_parse_in_linear_time() -> None:
    q = parse("2023 " * 20000)  # was quadratic: 15 s
    assert q.periods == (Period(2023),)


@pytest.mark.parametrize(("text", "kept"), [
    ("Respond with the total liabilities.", {"total", "liabilities"}),
    ("What share of sales was in euros?", {"euros"}),
    ("Is the report presented in USD?", {"usd"}),
    ("Are amounts presented in thousands or millions?", {"thousands", "millions"}),
    ("Clearly.", {"clearly"}),  # all instruction: searched as asked
])
def test_content_is_never_taken_for_an_instruction(text: str, kept: set[str]) -> None:
    assert kept <= set(parse(text).terms)


def test_glossary_groups_are_synonyms_only() -> None:
    assert {"inventory", "inventories", "turnover"}.isdisjoint(parse("What was the cost of sales?").expansion_terms)
    assert {"revenue", "sales"}.isdisjoint(parse("What was inventory turnover?").expansion_terms)
    assert "purchase" not in parse("Send it to P.O. Box 12").expansion_terms


def test_glossary_files_as_editors_write_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeff# made in Notepad\r\nC# | c sharp\r\n".encode())
    monkeypatch.setenv("DOCAGENT_GLOSSARY", str(bom))
    assert "sharp" in parse("Which C# libraries are listed?").expansion_terms
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café | coffee house\n".encode("latin-1"))
    monkeypatch.setenv("DOCAGENT_GLOSSARY", str(latin))
    with pytest.raises(ConfigError, match="not UTF-8"):
        parse("anything")


@pytest.mark.parametrize(("body", "quarter"), [
    # "primarily", "decreased", "may": no month names; a year-to-date column must end in the quarter's month
    ("Payments in the nine months ended December 31, 2024 consist primarily of leases. Sales decreased.", 1),
    ("Three Months Ended. Six Months Ended\nMarch 31, 2024", 2),
])
def test_year_to_date_columns_end_in_the_quarters_month(body: str, quarter: int) -> None:
    cover = "FORM 10-Q For the quarterly period ended March 31, 2024. We may borrow."
    found = report_period([_page(1, cover), _page(2, body)])
    assert found is not None and found.quarter == quarter


@pytest.mark.parametrize(("text", "left"), [
    ("what is Amazon's FY2017 effective tax rate? round your answer to three decimal", "what is Amazon's FY2017 effective tax rate?"),
    ("what is total current assets in FY2023 for Bestbuy? Answer in million.", "what is total current assets in FY2023 for Bestbuy? ."),
    ("what is the EBITDA % margin for Netflix?Answer in percentage term, round your answer to one decimal place",
     "what is the EBITDA % margin for Netflix? ,"),
])
def test_instructions_as_real_questions_word_them(text: str, left: str) -> None:
    assert parse(text).search_text == left
