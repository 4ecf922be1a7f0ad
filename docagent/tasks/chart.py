"""Chart and table arithmetic that is computed, not guessed: the program computes from numbers it was given.

    a table docagent found on the page (docagent.ingest.tables, at indexing) -> nothing is transcribed:
               an expression over its cells (``--expr``, no model) or the model's expression for the question
               is computed over the printed numbers, and the answer cites the cells used, each with its box
    otherwise: page image -> the model transcribes the chart or table into a data table (structured output)
               -> the model turns the question into an expression over named cells (structured output),
                  checked by computing it; errors go back to the model a bounded number of times
               -> the calculator computes it exactly (docagent.tasks.calc)
               -> the answer shows the table, the expression, the result with its unit, and the page
    born-digital pages: transcribed values are cross-checked against the numbers printed in the text layer
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field, ValidationError

from docagent.config import Settings
from docagent.context import Context
from docagent.errors import CalculationError, ModelError
from docagent.index.store import PageStore
from docagent.ingest.tables import parse_number
from docagent.question import needs_arithmetic
from docagent.tasks.calc import FUNCTIONS, evaluate, number_text
from docagent.tasks.llm import ask_until_valid
from docagent.tasks.prompts import DATA_RULE, quoted
from docagent.tasks.tables import (
    CitedCell,
    Computed,
    column_names,
    compute,
    matching_tables,
    resolve_source,
    row_names,
    select_tables,
    tables_text,
)
from docagent.tasks.words import Worded, in_words
from docagent.types import Table, decimal_text

__all__ = ["ChartAnswer", "ChartRow", "ChartTable", "chart", "needs_arithmetic", "table_from_csv"]


class ChartRow(BaseModel):
    category: str = Field(description="the x-axis label, year, or row name")
    values: list[float | None] = Field(description="one value per series, in the order of `series`; null if unreadable")


class ChartTable(BaseModel):
    """A chart or table as data (the DePlot idea: a linearised table)."""

    title: str | None = None
    unit: str | None = Field(default=None, description="unit of the values: %, million EUR, ...")
    series: list[str] = Field(description="series (legend) names; one name for a single-series chart")
    rows: list[ChartRow]

    def cells(self) -> dict[tuple[str, str], float]:
        out = {}
        for row in self.rows:
            for name, value in zip(self.series, row.values, strict=False):
                if value is not None:
                    out[(name, row.category)] = value
        return out

    def markdown(self) -> str:
        lines = ["| category | " + " | ".join(self.series) + " |", "|---" * (len(self.series) + 1) + "|"]
        for row in self.rows:
            values = [("" if v is None else decimal_text(Decimal(repr(v)))) for v in row.values]  # 1234500000, not 1.2345e+09
            lines.append(f"| {row.category} | " + " | ".join(values) + " |")
        return "\n".join(lines)


class _Expression(BaseModel):
    expression: str = Field(description='arithmetic over cell("series", "category"), col("series"), numbers and functions')
    unit: str | None = Field(default=None, description="unit of the result")


@dataclass(slots=True)
class ChartAnswer:
    question: str
    table: ChartTable | None = None
    expression: str = ""
    value: Fraction | None = None
    unit: str | None = None
    doc: str = ""
    page: int | None = None
    mismatches: list[str] = field(default_factory=list)
    """Transcribed values not printed in the page's text layer (born-digital pages only)."""
    error: str = ""
    cells: list[CitedCell] = field(default_factory=list)
    """The table cells the expression read, each with its box (when computed from a table docagent found)."""
    source: str = ""
    """Where the numbers came from: ``table`` (a table found on the page at indexing: exact, nothing transcribed),
    ``words`` (that table too, the expression built from the question's words with no model: none was set, or it
    failed) or ``transcribed`` (the model read a chart or table image)."""
    notes: list[str] = field(default_factory=list)
    """What a reader must know about the result: cells left out, the scale applied, a table that goes on over
    another page."""
    review: list[str] = field(default_factory=list)
    """Why the result must be checked before it is used (:attr:`needs_review`): cells of different scales or
    units taken together, a column or row named by position only. Empty when it need not."""

    @property
    def needs_review(self) -> bool:
        return bool(self.review)

    def referenced_values(self) -> list[float]:
        """The table values the expression uses (``cell`` and ``col`` references)."""
        if self.cells:
            return [float(c.value) for c in self.cells]
        if self.table is None:
            return []
        cells = self.table.cells()
        single = self.table.series[0] if len(self.table.series) == 1 else None
        out = []
        for first, second in re.findall(r'cell\(\s*"([^"]*)"(?:\s*,\s*"([^"]*)")?\s*\)', self.expression):
            key = (first, second) if second else (single or "", first)
            if key in cells:
                out.append(cells[key])
        for series in re.findall(r'col\(\s*"([^"]*)"\s*\)', self.expression):
            out += [v for (s, _), v in cells.items() if s == series]
        return out

    @property
    def text(self) -> str:
        if self.value is None:
            return f"Cannot compute it: {self.error}"
        unit = f" {self.unit}" if self.unit and self.unit != "%" else (self.unit or "")
        review = f" (needs review: {'; '.join(self.review)})" if self.review else ""
        return f"{number_text(self.value)}{unit}{review}"

    def explain(self, cite: str | None = None) -> str:
        """The result, where it comes from, the table, the expression, the cells read and any checks and notes,
        one per line. ``cite``: how to name the page (``[1]`` in an answer that numbers its pages) instead of
        ``from DOC, page N``."""
        source = f"from {self.doc}, page {self.page}" if self.doc else ""
        parts = [self.text, cite if cite is not None and source else source]
        if self.table is not None:
            parts.append(self.table.markdown())
        if self.expression:
            parts.append(f"expression: {self.expression}")
        parts += [f"cell: {c.row} / {c.column} = {c.text} (page {c.page}, table {c.table + 1}"
                  f"{'; ' + c.scale if c.scale else ''})" for c in self.cells]
        parts += [f"check: {m}" for m in self.mismatches]
        parts += [f"note: {n}" for n in self.notes]
        return "\n".join(p for p in parts if p)

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question, "answer": self.text, "value": _float(self.value),
            "exact": str(self.value) if self.value is not None else None, "unit": self.unit, "expression": self.expression,
            "table": self.table.model_dump() if self.table else None, "doc": self.doc, "page": self.page,
            "mismatches": self.mismatches, "error": self.error, "source": self.source, "notes": self.notes,
            "needs_review": self.needs_review, "review": self.review, "cells": [c.to_json() for c in self.cells],
        }




_TRANSCRIBE = ("Transcribe the chart or table on this page into a data table: series (legend) names, one row per "
               "category (x-axis label or row), each value as printed, and the unit. Numbers only in values.")


def _expression_prompt(table: ChartTable, question: str) -> list[BaseMessage]:
    names = "; ".join(f'"{s}"' for s in table.series)
    categories = "; ".join(f'"{r.category}"' for r in table.rows)
    data = f"{table.markdown()}\n\nSeries: {names}\nCategories: {categories}"
    text = (f"Data table:\n{quoted(data)}\n\n"
            f"Write an arithmetic expression that answers: {question}\n"
            'Refer to values only as cell("series", "category") or col("series"); use numbers, + - * / ** and '
            f"{', '.join(FUNCTIONS)}. percent_change(old, new) gives percent.")
    return [SystemMessage("You turn questions about a data table into arithmetic expressions. " + DATA_RULE),
            HumanMessage(text)]


def table_from_csv(text: str) -> ChartTable:
    """A table from ChartQA-style CSV (first column categories, other columns series; ``%`` and ``,`` allowed)."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text.strip())))
    header, body = rows[0], rows[1:]

    def number(cell: str) -> float | None:
        cleaned = re.sub(r"[^\d.\-]", "", cell.replace(",", ""))
        try:
            return float(cleaned)
        except ValueError:
            return None

    unit = "%" if any(c.strip().endswith("%") for r in body for c in r[1:]) else None
    return ChartTable(unit=unit, series=header[1:], rows=[ChartRow(category=r[0], values=[number(c) for c in r[1:]]) for r in body])


def _numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*\.?\d*", text) if n.replace(",", "").strip("-.")]


def _cross_check(table: ChartTable, page_text: str) -> list[str]:
    printed = _numbers(page_text)
    if not printed:
        return []
    out = []
    for (series, category), value in table.cells().items():
        if not any(abs(p - value) <= max(abs(value) * 0.005, 1e-9) for p in printed):
            out.append(f"{series} / {category} = {value:g} is not printed on the page")
    return out


def chart(
    source: str | Path | tuple[str, int],
    question: str = "",
    *,
    expression: str | None = None,
    context: Context | None = None,
    llm: BaseChatModel | None = None,
    model: str | None = None,
    settings: Settings | None = None,
    store: PageStore | None = None,
    retries: int = 2,
) -> ChartAnswer:
    """Answer an arithmetic ``question`` about the chart or table on a page, computing it exactly.

    ``source``: an image file, ``"report.pdf:2"`` / ``"report.pdf"`` (page 1), or ``(doc, page)`` of a
    document already indexed. The file is indexed first (unchanged files cost nothing).

    ``expression``: arithmetic over the cells of the tables found on the page, such as
    ``cell("2019", "Revenue") - cell("2018", "Revenue")`` (docagent.tasks.tables): computed with no model, citing
    the cells. Without it, a question whose rows or columns a table on the page names is turned into such an
    expression by the model; any other is answered from the model's transcription of the page image.

    ``context``: the settings, store and model to work with (:class:`docagent.Context`); else one is made of
    ``settings``, ``store``, ``llm`` and ``model`` for this call (the model loads only for a question).
    """
    with Context.of(context, settings=settings, store=store, llm=llm, model=model) as ctx:
        return _chart(ctx, source, question, expression, retries)


def _chart(ctx: Context, source: str | Path | tuple[str, int], question: str, expression: str | None,
           retries: int) -> ChartAnswer:
    store = ctx.store
    doc, number = resolve_source(store, source)
    answer = ChartAnswer(question or expression or "", doc=doc, page=number)
    tables = store.tables(doc, number)
    if expression is not None:
        return _from_table(answer, tables, expression, store)
    if not question.strip():
        answer.error = "give a question, or an expression over the page's table cells"
        return answer
    try:
        llm = ctx.chat_model()
        named = matching_tables(tables, question)
        if named:
            done = _table_expression(answer, named, question, llm, retries)
            if done.value is not None:
                return done
            answer = ChartAnswer(question, doc=doc, page=number)  # the table did not answer it: read the page
        return _transcribed(answer, store, question, llm, retries)
    except ModelError as e:  # no model, or it failed (its server went away): a found table may answer all the same
        if not tables:
            raise
        worded = in_words(question, tables)  # arithmetic asked in words over the table's names needs no model
        if isinstance(worded, Worded):
            done = _from_table(ChartAnswer(question, doc=doc, page=number), [worded.table], worded.expression, store)
            done.notes.append(f"no model read the page ({' '.join(str(e).split())}): computed from the table's cells")
            done.source = "words"
            return done
        msg = (f"{e}. Without a model, {worded}; give chart an expression over the cells of the table found on "
               f"{doc} page {number}, such as {_example(tables[0])}")
        raise type(e)(msg) from e


def _example(table: Table) -> str:
    """An expression over a table's first numeric cells, as an example that works on it."""
    columns, rows = column_names([table]), row_names(table)
    numeric = [c for c in table.body() if c.number is not None and (table.index, c.col) in columns]
    if not numeric:
        return 'cell("column", "row")'
    c = numeric[0]
    return f'cell("{columns[(table.index, c.col)]}", "{rows[c.row - table.header_rows]}")'


def _from_table(answer: ChartAnswer, tables: list[Table], expression: str, store: PageStore) -> ChartAnswer:
    answer.expression, answer.source = expression, "table"
    if not tables:
        _, why = select_tables(store, answer.doc, answer.page)
        answer.error = f"{why}: an expression over cells needs a table (a chart needs a question and a model instead)"
        return answer
    try:
        done = compute(expression, tables)
    except CalculationError as e:
        answer.error = str(e)
        return answer
    answer.value, answer.cells, answer.notes, answer.review = done.value, done.cells, done.notes, done.review
    _describe(answer, tables, expression)
    return answer


def _describe(answer: ChartAnswer, tables: list[Table], expression: str) -> None:
    """The table shown with a result computed from found cells, its unit, and the scale applied to it."""
    used = [t for t in tables if any(c.table == t.index for c in answer.cells)] or tables
    answer.table = _as_chart_table(used[0])
    answer.unit = answer.unit or _result_unit(expression, answer.cells, used)
    scaled = sorted({c.scale for c in answer.cells if c.scale})
    plain = sorted({c.row for c in answer.cells if not c.scale})
    if scaled and answer.value is not None:
        factor = answer.cells[0].value / Decimal(_printed(answer.cells[0].text) or 1) if answer.cells else Decimal(1)
        printed = (f" ({number_text(answer.value / Fraction(factor))} as the table prints it)"
                   if len(scaled) == 1 and not plain and "/" not in expression and "percent_change" not in expression
                   and factor != 0 else "")
        answer.notes.append(f"the table's numbers are printed {' / '.join(scaled)}; the result has that scale "
                            f"applied{printed}" + (f"; {', '.join(plain[:4])} read as printed (not scaled)" if plain else ""))


def _float(value: Fraction | None) -> float | None:
    """The value as a JSON number, None when it has none or is beyond a float (``exact`` has every digit)."""
    try:
        return float(value) if value is not None else None
    except OverflowError:
        return None


def _printed(text: str) -> Decimal | None:
    """The number a cell prints, without any scale."""
    value, _ = parse_number(text)
    return value if value else None


def _table_expression(answer: ChartAnswer, tables: list[Table], question: str, llm: BaseChatModel,
                      retries: int) -> ChartAnswer:
    """The model writes the expression over the found table (nothing to transcribe); the cells are cited."""
    answer.source, answer.table = "table", _as_chart_table(tables[0])
    result: dict[str, Computed] = {}

    def problems(data: dict[str, Any]) -> list[str]:
        try:
            result["done"] = compute(str(data.get("expression", "")), tables)
        except CalculationError as e:
            return [str(e)]
        return []

    data, failed = ask_until_valid(llm, _Expression, _found_table_prompt(tables, question), problems, retries)
    answer.expression = str((data or {}).get("expression", ""))
    if failed:
        answer.error = "the table does not answer it: " + "; ".join(failed)
        return answer
    done: Computed = result["done"]
    answer.value, answer.cells, answer.notes, answer.review = done.value, done.cells, done.notes, done.review
    answer.unit = (data or {}).get("unit")
    _describe(answer, tables, answer.expression)
    return answer


def _transcribed(answer: ChartAnswer, store: PageStore, question: str, llm: BaseChatModel, retries: int) -> ChartAnswer:
    """The model transcribes the page image into a table; the expression is computed over the transcription."""
    doc, number = answer.doc, answer.page or 1
    page, image = store.page(doc, number), store.page_image(doc, number)
    answer.source = "transcribed"
    prompt = [SystemMessage("You read charts and tables exactly. " + DATA_RULE),
              HumanMessage(content=[{"type": "image", "path": str(image.path())}, {"type": "text", "text": _TRANSCRIBE}])]

    def table_problems(data: dict[str, Any]) -> list[str]:
        try:
            table = ChartTable.model_validate(data)
        except ValidationError as e:
            return [f"not a table: {e.errors()[0]['loc']} {e.errors()[0]['msg']}"]
        if not table.rows or not table.series:
            return ["the table has no rows or no series"]
        return [f"row {r.category!r} has {len(r.values)} values for {len(table.series)} series"
                for r in table.rows if len(r.values) != len(table.series)]

    data, problems = ask_until_valid(llm, ChartTable, prompt, table_problems, retries)
    if problems or data is None:
        answer.error = "the chart could not be transcribed: " + "; ".join(problems)
        return answer
    answer.table = table = ChartTable.model_validate(data)
    if not page.ocr and page.text.strip():
        answer.mismatches = _cross_check(table, page.text)
    cells = table.cells()
    result: dict[str, Any] = {}

    def expression_problems(data: dict[str, Any]) -> list[str]:
        try:
            result["value"] = evaluate(str(data.get("expression", "")), cells)
        except CalculationError as e:
            return [str(e)]
        return []

    data, problems = ask_until_valid(llm, _Expression, _expression_prompt(table, question), expression_problems, retries)
    answer.expression = str((data or {}).get("expression", ""))
    if problems:
        answer.error = "the table does not answer it: " + "; ".join(problems)
        return answer
    answer.value = result["value"]
    answer.unit = (data or {}).get("unit") or table.unit
    return answer


def _found_table_prompt(tables: list[Table], question: str) -> list[BaseMessage]:
    """The found tables as printed (names as the headers and labels say them), for an expression over them."""
    columns = column_names(tables)
    names = "; ".join(f'"{columns[(t.index, k)]}"' for t in tables for k in range(1, t.cols) if (t.index, k) in columns)
    rows = "; ".join(f'"{r}"' for t in tables for r in row_names(t) if r)
    scale = "".join(f"\nNumbers of table {t.index + 1} are {t.scale_text}: cell() gives them with that scale applied."
                    for t in tables if t.scale_text)
    text = (f"Tables:\n{quoted(tables_text(tables))}\n\nColumns: {names}\nRows: {rows}{scale}\n\n"
            f"Write an arithmetic expression that answers: {question}\n"
            'Refer to values only as cell("column", "row") or col("column"); use numbers, + - * / ** and '
            f"{', '.join(FUNCTIONS)}. percent_change(old, new) gives percent.")
    return [SystemMessage("You turn questions about a table into arithmetic expressions. " + DATA_RULE),
            HumanMessage(text)]


def _as_chart_table(table: Table) -> ChartTable:
    """A found table as the data table answers show and expression prompts give the model."""
    names = column_names([table])
    units = [c.unit for c in table.body() if c.number is not None and c.unit]
    rows = []
    for r, label in enumerate(row_names(table), table.header_rows):
        values = []
        for k in range(1, table.cols):
            cell = table.at(r, k)
            values.append(float(cell.number) if cell is not None and cell.number is not None else None)
        rows.append(ChartRow(category=label, values=values))
    numbers = [c for c in table.body() if c.number is not None and c.col > 0]
    unit = units[0] if units and len(units) == len(numbers) and len(set(units)) == 1 else None  # every number's
    return ChartTable(title=table.title or None, unit=unit, series=[names.get((table.index, k), "") for k in range(1, table.cols)],
                      rows=rows)


def _result_unit(expression: str, cells: list[CitedCell], tables: list[Table]) -> str | None:
    """The unit of a result computed from cells: % for a percent change, none for a ratio, else the unit the
    cells share, else the currency the tables' scale names ("in millions of USD")."""
    if "percent_change" in expression:
        return "%"
    units = {c.unit for c in cells}
    if "/" in expression or len(units) > 1:
        return None
    unit = units.pop() if units else ""
    if not unit:
        named = re.search(r"\b(USD|EUR|GBP|JPY|CHF|CNY|INR|CAD|AUD|dollars|euros|pounds|yen)\b|[$€£¥]",
                          " ".join(t.scale_text for t in tables))
        unit = named.group(0) if named else ""
    return unit or None
