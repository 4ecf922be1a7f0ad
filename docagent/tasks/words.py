"""Arithmetic asked in words, turned into an expression over a found table's cells without a model.

"How many more installations were there in the North in 2025 than in 2024?" over a table with a row North and
columns 2024 and 2025 becomes ``cell("2025", "North") - cell("2024", "North")``, which
:func:`docagent.tasks.tables.compute` computes exactly, citing the cells. The question must name one row and
several of the table's columns (or one column, or a table of one value column, and several rows), and say what to
do with them:

* difference ("difference", "how many more / less", "change", "increase", "decrease"): measured against the value
  named after "than" ("How much more was A than B": A - B; "How much less was A than B": B - A); without "than",
  from the earlier period to the later (years, quarters, halves; "decrease", "fall", "lower" give the amount it
  fell), and refused when neither periods nor "from ... to" say which way;
* percent change ("percent change", "by what percent", "% increase"): against the value after "than", else from the
  earlier period to the later ("percent decrease" positive when it fell);
* ratio ("ratio", "times", "divided"): the first named over the second (with "than": over the value after it);
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


def operations(question: str | Question) -> list[tuple[str, set[str]]]:
    """Each computation a question's words ask for, with the words that ask it (see the module's list)."""
    text = " ".join(parse(question).search_text.lower().split())
    found = [(name, {w for m in pattern.finditer(text) for w in _norm(m.group()).split()})
             for name, pattern in _OPERATIONS if pattern.search(text)]
    # words within a longer asking ("change" in "percent change") ask for that one only
    return [(name, said) for name, said in found if not any(other > said for _, other in found)]


_SMALLER = re.compile(r"\b(less|fewer|lower|smaller|decrease[ds]?|decline[ds]?|fell|fall|drop(ped)?|reduction|"
                      r"shrink|shrank)\b", re.IGNORECASE)
_PERIOD = re.compile(r"\b(?:(?P<q>q[1-4])|(?P<h>h[12])|(?P<y>(?:19|20)\d\d))\b", re.IGNORECASE)


def _token(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def in_words(question: str | Question, tables: list[Table]) -> Worded | str:
    """The expression the question asks for over the table whose rows and columns it names (see the module); else
    why none could be built, in a sentence."""
    q = parse(question)
    found = operations(q)
    if not found:
        return "the question names no computation docagent can build without a model"
    if len(found) > 1:
        return (f"the question asks for several computations at once ({', '.join(name for name, _ in found)}): ask "
                "for one, or give an expression")
    op, op_words = found[0]
    tokens = [_token(w) for w in _norm(q.search_text).split()]
    asked = set(tokens) | {str(p.year) for p in q.periods}
    named = matching_tables(tables, q)
    if not named:
        return "no table found names the rows or columns the question asks about"
    built: list[tuple[int, str, Table]] = []
    refusals: list[str] = []
    for table in named:
        fit, result = _expression(op, {_token(w) for w in op_words}, q.search_text, tokens, asked, table)
        if fit and result.startswith("="):
            built.append((fit, result[1:], table))
        elif fit:
            refusals.append(result)
    if not built:
        return refusals[0] if refusals else ("the question does not name one row and two or more columns (or one "
                                             "column and two or more rows) of a table found")
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
                                  if name not in used and _words(label) and _words(label) <= asked
                                  and not _words(name) <= asked]
    if others:
        return (f"the question's row fits several rows ({', '.join([*sorted(used), *others][:5])}); name the one "
                "meant (its section too)")
    return Worded(expression, op, table)


def _first(words: set[str], tokens: list[str]) -> int:
    return min((i for i, t in enumerate(tokens) if t in words), default=len(tokens))


def _run(words: list[str], tokens: list[str]) -> int | None:
    """Where ``words`` stand together, in order, in ``tokens``; None when they do not."""
    n = len(words)
    return next((i for i in range(len(tokens) - n + 1) if tokens[i:i + n] == words), None) if n else None


def _period(name: str) -> tuple[int, int] | None:
    """A column's period, to order by: (year, quarter or half); None when it names none."""
    year, part = 0, 0
    for m in _PERIOD.finditer(name):
        if m.group("y"):
            year = int(m.group("y"))
        elif m.group("q"):
            part = int(m.group("q")[1]) * 3
        elif m.group("h"):
            part = int(m.group("h")[1]) * 6
    return (year, part) if year or part else None


def _expression(op: str, op_words: set[str], text: str, tokens: list[str], asked: set[str],
                table: Table) -> tuple[int, str]:
    """How many of the question's words ``table``'s names account for (the table whose names say most of the
    question wins: "Asia revenue" is the row Revenue under Asia, not a bare Revenue), and ``=expression``, or why
    none (0 when the table names too little to say)."""
    heads = table.column_headers()
    heads_words = [_words(h) for h in heads]
    shared = set.intersection(*heads_words[1:]) if len(heads_words) > 2 else set()
    names = column_names([table])
    columns = [(c, names[(table.index, c)]) for c in range(1, table.cols) if (table.index, c) in names]
    said_cols = [(_first(heads_words[c] - shared, tokens), c, name) for c, name in columns
                 if (heads_words[c] - shared) & asked]
    whole = [col for col in said_cols if heads_words[col[1]] - shared <= asked]
    said_cols = whole or said_cols  # "2024 H1" names that column, not "2024 H2" beside it
    # the words that name the columns, and those that ask for the computation, name no row ("2023 Notes" is not
    # named by "from 2023", the row "Total" not by "the total of", "Average price" not by "the average price")
    for_rows = asked - {w for _, c, _ in said_cols for w in heads_words[c] - shared} - op_words
    rows = row_names(table)  # with their section ("Asia Revenue"): what tells a row from the others
    said_rows = []
    for i, name in enumerate(rows):
        words = _words(name)
        if name and words and words <= for_rows:
            ordered = [_token(w) for w in _norm(name).split() if _token(w) in words]
            at = _run(ordered, tokens)
            said_rows.append((at if at is not None else -1, i, name, len(words)))
    # a row named inside a longer named row ("Revenue" in "Total revenue") is that longer row
    said_rows = [r for r in said_rows if not any(o[3] > r[3] and _words(r[2]) < _words(o[2]) for o in said_rows)]
    fit = sum(r[3] for r in said_rows) + len(said_cols)
    if len(said_rows) == 1 and len(said_cols) >= 2:
        operands = [(pos, f'cell("{_q(name)}", "{_q(said_rows[0][2])}")', name) for pos, _, name in sorted(said_cols)]
    elif len(said_rows) >= 2 and (len(said_cols) == 1 or len(columns) == 1):
        if any(pos < 0 for pos, *_ in said_rows) and op in ("difference", "percent change", "ratio"):
            return fit, "the question names the rows apart from each other; name each row as the table prints it"
        column = said_cols[0][2] if said_cols else columns[0][1]
        operands = [(pos, f'cell("{_q(column)}", "{_q(row)}")', row) for pos, _, row, _ in sorted(said_rows)]
    else:
        return 0, ""
    cells = [cell for _, cell, _ in operands]
    if op in ("sum", "average", "max", "min"):
        function = "mean" if op == "average" else op
        return fit, f"={function}({', '.join(cells)})"
    if len(operands) != 2:
        return fit, f"the question names {len(operands)} values; a {op} takes two"
    (_, a, a_name), (_, b, b_name) = operands
    smaller = _SMALLER.search(text) is not None
    than = next((i for i, t in enumerate(tokens) if t == "than"), None)
    if than is not None:  # "X ... than Y": Y is what X is measured against
        after = [(pos, cell, name) for pos, cell, name in operands if pos > than]
        if not after:
            return fit, "the question says \"than\" before neither value it compares; name them as \"X than Y\""
        (_, base, _), (_, other, _) = after[0], next(o for o in operands if o[1] != after[0][1])
        if op == "difference":
            return fit, f"={base} - {other}" if smaller else f"={other} - {base}"
        if op == "percent change":
            return fit, f"=percent_change({base}, {other})"
        return fit, f"={other} / {base}"  # ratio: how many times Y
    periods = [_period(a_name), _period(b_name)]
    if op in ("difference", "percent change"):
        if periods[0] and periods[1]:
            if periods[0] > periods[1]:
                a, b = b, a  # the change runs from the earlier period to the later
        elif op == "difference" and not re.search(r"\bfrom\b", text, re.IGNORECASE):
            return fit, "the question does not say which value to take from which; ask \"X than Y\" or \"from X to Y\""
    if op == "difference":  # a decrease is said as a positive amount
        return fit, f"={a} - {b}" if smaller else f"={b} - {a}"
    if op == "percent change":
        return fit, f"=-percent_change({a}, {b})" if smaller else f"=percent_change({a}, {b})"
    return fit, f"={a} / {b}"  # ratio: the first named over the second


def _q(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')
