"""Financial statements printed as filings print them: a bold title, a scale caption ("(In millions, except per
share data)"), a spanning period header over a row of years, ``$`` signs in columns of their own, section
headings ("Current liabilities:") and blank lines inside the table, indented items, totals, an unlabelled total
row, a percent-to-sales column, two statements on a page, a statement continued on the next page.

``Statement`` is what a statement says; :func:`statements_pdf` prints pages of them. The structures are the ones
real 10-K, 10-Q and earnings-release pages split or misread (issue 29)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pymupdf

SIZE = 8.5
LH = SIZE * 1.45


@dataclass
class Statement:
    title: str
    caption: str
    periods: str
    """The spanning header over the value columns ("Years Ended December 31"); empty for none."""
    years: list[str]
    rows: list[tuple[str, ...]]
    """``(label, value, value ...)``; a label alone is a section heading; ``("",)`` is a blank line; a label
    starting with two spaces is indented; a value starting with ``$`` prints its ``$`` in a column of its own."""
    percent_heads: list[str] = field(default_factory=list)
    """Extra columns after each year's value (``% of sales``), one head each; their values in ``rows`` follow
    every year's value."""


def _right(writer: pymupdf.TextWriter, font: pymupdf.Font, x: float, y: float, text: str) -> None:
    writer.append((x - font.text_length(text, SIZE), y), text, font=font, fontsize=SIZE)


def draw_statement(page: pymupdf.Page, st: Statement, y: float, *, header: bool = True, rows: slice = slice(None)) -> float:
    """Print ``st`` from ``y`` down; returns the y under it. Value columns end at 400, 470 (and 540); with
    ``percent_heads``, each year's value is followed by its percent column."""
    regular, bold = pymupdf.Font("helv"), pymupdf.Font("hebo")
    writer = pymupdf.TextWriter(page.rect)
    per_year = 1 + len(st.percent_heads)
    ncols = len(st.years) * per_year
    heads = [h for year in st.years for h in [year, *st.percent_heads]]
    widest = max(bold.text_length(h, SIZE) for h in heads)
    step = 200 / max(1, ncols - 1) if ncols > 2 else max(70.0, widest + 20)
    rights = [540 - step * (ncols - 1 - k) for k in range(ncols)]
    if header:
        writer.append((72, y), st.title, font=bold, fontsize=SIZE + 2)
        y += LH * 1.3
        if st.caption:
            writer.append((72 + (468 - regular.text_length(st.caption, SIZE)) / 2, y), st.caption, font=regular, fontsize=SIZE)
            y += LH * 1.6
        if st.periods:
            mid = (rights[0] - 30 + rights[-1]) / 2  # centred over the value columns
            writer.append((mid - bold.text_length(st.periods, SIZE) / 2, y), st.periods, font=bold, fontsize=SIZE)
            y += LH
        for x, text in zip(rights, heads, strict=True):
            _right(writer, bold, x, y, text)
        page.draw_line((rights[0] - 45, y + 3), (540, y + 3), width=0.5)
        y += LH * 1.2
    for label, *values in st.rows[rows]:
        if label == "" and not values:
            y += LH * 0.9  # a blank line inside the statement
            continue
        if label.startswith("  "):
            writer.append((84, y), label.strip(), font=regular, fontsize=SIZE)
        elif label:
            writer.append((72, y), label, font=regular, fontsize=SIZE)
        for x, text in zip(rights, values, strict=False):
            if text.startswith("$"):
                writer.append((x - 44, y), "$", font=regular, fontsize=SIZE)
                text = text[1:].strip()
            if text:
                _right(writer, regular, x, y, text)
        y += LH
    writer.write_text(page)
    return y


@dataclass
class Part:
    """Part of a statement: its ``rows`` slice, printed with or without its title and column heads (the part of a
    statement carried over to the next page)."""

    statement: Statement
    rows: slice
    header: bool = True


def statements_pdf(path: Path, pages: list[list[Statement | Part | str]], company: str = "") -> Path:
    """Pages of statements (whole, or :class:`Part` of one) and paragraphs of prose between them (strings), from
    the top, under a running header (and the ``company``'s name, when given, as filings print it)."""
    doc = pymupdf.open()
    for items in pages:
        page = doc.new_page(width=612, height=792)
        page.insert_text((72, 40), "Table of Contents", fontsize=7, fontname="helv")
        if company:
            page.insert_text((72, 58), company, fontsize=9, fontname="hebo")
        y = 70.0
        for item in items:
            if isinstance(item, str):
                page.insert_textbox(pymupdf.Rect(72, y, 540, 760), item, fontsize=SIZE, fontname="helv")
                y = max(w[3] for w in page.get_text("words")) + 2 * LH
            elif isinstance(item, Part):
                y = draw_statement(page, item.statement, y, header=item.header, rows=item.rows) + LH * 2
            else:
                y = draw_statement(page, item, y) + LH * 2
    doc.save(path)
    doc.close()
    return path


INCOME = Statement(
    "CONSOLIDATED STATEMENTS OF OPERATIONS", "(In millions, except per share data)", "Years Ended December 31",
    ["2023", "2022"],
    [("Net sales:",),
     ("  Products", "$ 4,200", "$ 3,900"),
     ("  Services", "1,800", "1,600"),
     ("Total net sales", "6,000", "5,500"),
     ("",),
     ("Operating expenses:",),
     ("  Cost of sales", "3,300", "3,100"),
     ("  Research and development", "700", "650"),
     ("  Selling, general and administrative", "500", "450"),
     ("Total operating expenses", "4,500", "4,200"),
     ("",),
     ("Operating income", "1,500", "1,300"),
     ("Net income", "$ 1,200", "$ 1,050"),
     ("Earnings per share:",),
     ("  Basic", "$ 2.40", "$ 2.10"),
     ("  Diluted", "$ 2.38", "$ 2.08"),
     ("Shares used in computing earnings per share:",),
     ("  Diluted", "504", "505")])
"""An income statement split by section headings and blank lines, "except per share data" in its caption."""

BALANCE = Statement(
    "CONSOLIDATED BALANCE SHEETS", "(In millions)", "", ["December 31, 2023", "December 31, 2022"],
    [("ASSETS:",),
     ("Current assets:",),
     ("  Cash and cash equivalents", "$ 900", "$ 800"),
     ("  Accounts receivable, net", "1,100", "1,000"),
     ("  Inventories", "700", "650"),
     ("Total current assets", "2,700", "2,450"),
     ("",),
     ("Property, plant and equipment, net (PP&E)", "3,100", "2,900"),
     ("Total assets", "$ 5,800", "$ 5,350"),
     ("",),
     ("LIABILITIES AND SHAREHOLDERS' EQUITY:",),
     ("Current liabilities:",),
     ("  Accounts payable", "$ 1,900", "$ 1,700"),
     ("  Accrued expenses", "2,050", "1,900"),
     ("Total current liabilities", "3,950", "3,600"),
     ("",),
     ("Long-term debt (1)", "800", "850"),
     ("Total liabilities", "4,750", "4,450"),
     ("Total shareholders' equity", "1,050", "900"),
     ("Total liabilities and shareholders' equity", "$ 5,800", "$ 5,350")])
"""A balance sheet with two section headings in a row, blank lines, a parenthetical abbreviation and a footnote
mark in row labels, dates as column heads."""

MARGINS = Statement(
    "SEGMENT RESULTS", "(Dollars in millions)", "", ["2023", "2022"],
    [("Domestic", "$ 969", "74.5%", "$ 900", "75.0%"),
     ("International", "331", "25.5%", "300", "25.0%"),
     ("", "1,300", "100.0%", "1,200", "100.0%")],
    percent_heads=["% of Sales"])
"""Percent-to-sales columns beside each year's amounts, and a total row printed without a label. Values per row:
2023 amount, its %, 2022 amount, its %."""

CASH = Statement(
    "CONSOLIDATED STATEMENTS OF CASH FLOWS", "(In millions)", "Years Ended December 31", ["2023", "2022"],
    [("Operating activities:",),
     ("  Net income", "$ 1,200", "$ 1,050"),
     ("  Depreciation and amortization", "400", "380"),
     ("Cash generated by operating activities", "1,600", "1,430"),
     ("",),
     ("Investing activities:",),
     ("  Purchases of property, plant and equipment", "(450)", "(400)"),
     ("  Proceeds from sales of investments", "120", "90"),
     ("Cash used in investing activities", "(330)", "(310)"),
     ("",),
     ("Financing activities:",),
     ("  Repayments of debt", "(50)", "(40)"),
     ("  Dividends paid", "(200)", "(180)"),
     ("Cash used in financing activities", "(250)", "(220)"),
     ("",),
     ("Increase in cash and cash equivalents", "1,020", "900")])
