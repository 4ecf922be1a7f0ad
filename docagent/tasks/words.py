"""Arithmetic asked in words, turned into an expression over a found table's cells without a model.

"How many more installations were there in the North in 2025 than in 2024?" over a table with a row North and
columns 2024 and 2025 becomes ``cell("2025", "North") - cell("2024", "North")``, which
:func:`docagent.tasks.tables.compute` computes exactly, citing the cells. The question must name one row and
several of the table's columns (or one column, or a table of one value column, and several rows), and say what to
do with them:

* difference ("difference", "how many more / less", "change", "increase", "decrease"): with "than", the first
  named less the second; otherwise the later period less the earlier (years), else the second named less the first;
* percent change ("percent change", "grow by what percent", "% increase"): from the earlier period (or the first
  named) to the later, in percent;
* ratio ("ratio", "times", "divided"): the first named over the second;
* sum ("sum", "total of", "combined", "altogether", "add"), average ("average", "mean"), and the largest or
  smallest ("highest", "largest", "most" / "lowest", "smallest", "least") of those named.

Anything else is not guessed: :func:`in_words` gives None and says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docagent.question import Question, parse
from docagent.tasks.tables import _norm, _words, column_names, matching_tables, row_names
from docagent.types import Table

__all__ = ["Worded", "in_words"]

_OPERATIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("percent change", re.compile(r"\b(percent(age)?|%) (change|increase|decrease|growth|rise|fall|drop)\b|"
                                  r"\bby what (percent(age)?|%)|\bgr[eo]w(th)? (rate|by how many percent)\b|"
                                  r"\b(change|increase|decrease|growth|rise|fall) in percent\b")),
    ("ratio", re.compile(r"\bratio\b|\bhow many times\b|\bdivided\b")),
    ("average", re.compile(r"\baverage\b|\bmean\b")),
    ("sum", re.compile(r"\bsum\b|\btotal of\b|\bcombined\b|\baltogether\b|\badd(ed)? up\b|\bin total\b")),
    ("difference", re.compile(r"\bdifference\b|\bdiffer\b|\bhow (much|many) (more|less|fewer|higher|lower|bigger|"
                              r"smaller)\b|\bchange\b|\bincrease\b|\bdecrease\b|\bminus\b|\bgap\b")),
    ("max", re.compile(r"\b(highest|largest|biggest|most|maximum|greatest)\b")),
    ("min", re.compile(r"\b(lowest|smallest|least|fewest|minimum)\b")),
)
_YEAR = re.compile(r"\b(19|20)\d\d\b")


@dataclass(frozen=True, slots=True)
class Worded:
    """An expression a question asks for in words, over one table."""

    expression: str
    operation: str
    """``difference``, ``percent change``, ``ratio``, ``sum``, ``average``, ``max`` or ``min``."""
    table: Table


def operation(question: str | Question) -> str | None:
    """What a question asks to do with the values it names (see the module's list); None when it asks none."""
    text = " ".join(parse(question).search_text.lower().split())
    return next((name for name, pattern in _OPERATIONS if pattern.search(text)), None)


def in_words(question: str | Question, tables: list[Table]) -> Worded | str:
    """The expression the question asks for over the first of ``tables`` whose row and columns it names (see the
    module); else why none could be built, in a sentence."""
    q = parse(question)
    op = operation(q)
    if op is None:
        return "the question names no computation docagent can build without a model"
    tokens = [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in _norm(q.search_text).split()]
    asked = set(tokens) | {str(p.year) for p in q.periods}
    named = matching_tables(tables, q)
    if not named:
        return "no table found names the rows or columns the question asks about"
    built = [(fit, expression, table) for table in named
             for fit, expression in [_expression(op, q.search_text, tokens, asked, table)] if expression]
    if not built:
        return ("the question does not name one row and two or more columns (or one column and two or more rows) "
                "of a table found")
    best = max(fit for fit, _, _ in built)
    fitting = [(expression, table) for fit, expression, table in built if fit == best]
    if len({expression for expression, _ in fitting}) > 1 or len({(t.doc, t.page, t.index) for _, t in fitting}) > 1:
        where = "; ".join(f"{expression} (table {t.index + 1}, page {t.page})" for expression, t in fitting[:4])
        return f"the question fits several tables equally: {where}"
    expression, table = fitting[0]
    # a bare row name the question says ("revenue") also names rows under sections it does not say ("Europe
    # Revenue", "Asia Revenue"): which one is meant is not guessed
    used = {name for name in row_names(table) if f'"{_q(name)}")' in expression}
    bare = all(_words(name) == _words(label) for label, name in zip(table.row_labels(), row_names(table), strict=False)
               if name in used)
    others = [] if not bare else [name for t in named for label, name in zip(t.row_labels(), row_names(t), strict=False)
              if name not in used and _words(label) and _words(label) <= asked and not _words(name) <= asked]
    if others:
        return (f"the question's row fits several rows ({', '.join([*sorted(used), *others][:5])}); name the one "
                "meant (its section too)")
    return Worded(expression, op, table)


def _first(words: set[str], tokens: list[str]) -> int:
    return min((i for i, t in enumerate(tokens) if t in words), default=len(tokens))


def _expression(op: str, text: str, tokens: list[str], asked: set[str], table: Table) -> tuple[int, str | None]:
    """The expression over ``table``, and how many of the question's words its names account for (the table whose
    names say most of the question wins: "Asia revenue" is the row Revenue under Asia, not a bare Revenue)."""
    heads = table.column_headers()
    heads_words = [_words(h) for h in heads]
    shared = set.intersection(*heads_words[1:]) if len(heads_words) > 2 else set()
    names = column_names([table])
    columns = [(c, names[(table.index, c)]) for c in range(1, table.cols) if (table.index, c) in names]
    said_cols = [(_first(heads_words[c] - shared, tokens), c, name) for c, name in columns
                 if (heads_words[c] - shared) & asked]
    rows = row_names(table)  # with their section ("Asia Revenue"): what tells a row from the others
    said_rows = []
    for i, name in enumerate(rows):
        words = _words(name)
        if name and words and words <= asked:
            said_rows.append((_first(words, tokens), i, name, len(words)))
    # a row named inside a longer named row ("Revenue" in "Total revenue") is that longer row
    said_rows = [r for r in said_rows if not any(o[3] > r[3] and _words(r[2]) < _words(o[2]) for o in said_rows)]
    fit = sum(r[3] for r in said_rows) + len(said_cols)
    if len(said_rows) == 1 and len(said_cols) >= 2:
        operands = [(pos, f'cell("{_q(name)}", "{_q(said_rows[0][2])}")', name) for pos, _, name in sorted(said_cols)]
    elif len(said_rows) >= 2 and (len(said_cols) == 1 or len(columns) == 1):
        column = said_cols[0][2] if said_cols else columns[0][1]
        operands = [(pos, f'cell("{_q(column)}", "{_q(row)}")', row) for pos, _, row, _ in sorted(said_rows)]
    else:
        return 0, None
    cells = [cell for _, cell, _ in operands]
    if op in ("sum", "average", "max", "min"):
        function = "mean" if op == "average" else op
        return fit, f"{function}({', '.join(cells)})"
    if len(operands) != 2:
        return 0, None
    (_, a, a_name), (_, b, b_name) = operands
    than = re.search(r"\bthan\b", text, re.IGNORECASE) is not None
    years = [_YEAR.search(a_name), _YEAR.search(b_name)]
    if op in ("difference", "percent change") and not than and years[0] and years[1] \
            and int(years[0].group()) > int(years[1].group()):
        a, b = b, a  # earlier first: the change runs from the earlier period to the later
    if op == "difference":
        return fit, f"{a} - {b}" if than else f"{b} - {a}"
    if op == "percent change":
        return fit, f"percent_change({a}, {b})"
    return fit, f"{a} / {b}"  # ratio


def _q(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')
