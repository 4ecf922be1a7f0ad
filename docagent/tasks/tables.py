"""Tables as evidence: cells named by their headers, computed over exactly, and cited with their boxes.

    cell("2019", "Revenue")   the body cell under the column headed 2019, in the row labelled Revenue
                              (the two names in either order; case, spacing and punctuation ignored; a column
                              under a spanning header is named by its own header or by both: "2019 Q1")
    col("2019")               every number in that column, totals rows left out (sum(col(...)) adds the items)

Tables come from the store (found at indexing, docagent.ingest.tables), so nothing is transcribed: the numbers
are the ones the text layer (or OCR) prints, parsed exactly, each with the box it stands in.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from docagent.errors import CalculationError, ConfigError, DocagentError
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.ingest.tables import states_nothing
from docagent.question import STOPWORDS, Question, parse
from docagent.tasks.calc import evaluate
from docagent.types import Table, TableCell, decimal_text

__all__ = ["CitedCell", "Computed", "TableCells", "column_names", "compute", "lookup", "matching_tables", "pages_list", "resolve_source", "row_names", "select_tables",
           "tables_text"]


@dataclass(frozen=True, slots=True)
class CitedCell:
    """A table cell an answer used: which table, which row and column, what it says, and where it stands."""

    doc: str
    page: int
    table: int
    """The table's index on its page."""
    row: str
    """The row's label."""
    column: str
    """The column's header."""
    text: str
    """As printed."""
    value: Decimal
    """The number it states, exactly (the table's scale applied)."""
    box: tuple[float, float, float, float]
    """PDF points; ``Page.to_pixels`` gives page-image pixels."""
    unit: str = ""
    """``%``, a currency or unit printed with the number."""
    scale: str = ""
    """The scale applied to the printed number ("in millions"); empty when none was (per-share amounts,
    percentages and counts in a table "in millions, except per share data" are read as printed)."""

    def to_json(self) -> dict[str, Any]:
        return {"doc": self.doc, "page": self.page, "table": self.table, "row": self.row, "column": self.column,
                "text": self.text, "value": decimal_text(self.value), "unit": self.unit, "scale": self.scale,
                "box": [round(c, 2) for c in self.box]}


@dataclass(frozen=True, slots=True)
class Computed:
    """An expression computed over table cells: its exact value, the cells read (in the order read), notes a
    reader must see, and the reasons the result needs review (empty when it does not): cells of different
    scales or units taken together, a total row read as an item, a column or row known only by its position."""

    value: Fraction
    cells: list[CitedCell]
    notes: list[str]
    review: list[str]


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def _is_total(label: str) -> bool:
    return bool(re.match(r"(grand |sub)?totals?\b", label.strip().lower()))


def _unlabelled_totals(table: Table) -> set[int]:
    """Body rows (0-based among the body) printed without a label whose every number is the sum of the rows
    above it, back to the last heading or total: a statement's total row set under a rule without a word."""
    grid, out = table.grid(), set()
    numbers: dict[tuple[int, int], Decimal] = {(c.row, c.col): c.number for c in table.body() if c.number is not None}
    start = table.header_rows
    for r in range(table.header_rows, table.rows):
        label = grid[r][0].strip()
        filled = [k for k in range(1, table.cols) if (r, k) in numbers]
        if label and (not filled or _is_total(label)):
            start = r + 1  # a heading or a total opens the next group
            continue
        if label or not filled or r - start < 2:
            continue
        if all(sum((numbers.get((i, k), Decimal(0)) for i in range(start, r)), Decimal(0)) == numbers[(r, k)]
               for k in filled):
            out.add(r - table.header_rows)
            start = r + 1
    return out


def _sections(table: Table) -> list[str]:
    """Each body row's section: the label of the nearest row above it that has a label and no values (a heading
    such as "Asia" over its rows); empty where there is none. A section ends at its total ("Total current
    assets" ends "Current assets:"): the rows after it are in the heading over it (one ending in a colon or in
    capitals: "LIABILITIES AND EQUITY:"), and those after the current ones are named as a statement means them
    ("Noncurrent assets:", a balance sheet's order)."""
    grid, out, headings = table.grid(), [], list[str]()
    made = ""  # the heading a total implied ("Noncurrent assets:"), until the statement prints its own
    for r in range(table.header_rows, table.rows):
        label, filled = grid[r][0].strip(), any(grid[r][k].strip() for k in range(1, table.cols))
        if label and not filled:
            if made and headings[-1:] == [made]:
                headings.pop()
            headings.append(label)
            made = ""
        out.append(headings[-1] if filled and headings else "")
        said = set(_norm(_plain(label)).split()) - {"total"}
        if filled and made and headings[-1:] == [made] and said == set(_norm(made).split()[1:]):
            headings.pop()  # "Total assets" ends the noncurrent assets it implied
            made = ""
        if filled and headings and _is_total(label) and said:
            words = set(_norm(_plain(headings[-1])).split())
            if words == said:  # the section's own total ("Total current assets" for "Current assets:") closes it
                closed = _norm(_plain(headings.pop()))
                while headings and not (headings[-1].endswith(":") or headings[-1].isupper()):
                    headings.pop()  # back to a heading over it ("LIABILITIES AND EQUITY:"), past lines of no values
                if closed.startswith("current "):
                    made = f"Non{closed}:"  # "Noncurrent assets": one word as qualifier, as "current"
                    headings.append(made)
    return out


def column_names(tables: list[Table]) -> dict[tuple[int, int], str]:
    """``(table index, column) -> name`` for every value column, unique over the tables: its header, with
    ``table N:`` before it when another table has the same header, and ``(column K)`` after it when its own
    table has it twice."""
    heads = {t.index: t.column_headers() for t in tables}
    count: dict[str, set[int]] = {}
    for t in tables:
        for k in range(1, t.cols):
            count.setdefault(_norm(heads[t.index][k]), set()).add(t.index)
    names = {}
    for t in tables:
        own = [_norm(h) for h in heads[t.index]]
        for k in range(1, t.cols):
            name = heads[t.index][k] or f"column {k + 1}"
            if own.count(own[k]) > 1:
                name = f"{name} (column {k + 1})"
            if len(count[own[k]]) > 1:
                name = f"table {t.index + 1}: {name}"
            names[(t.index, k)] = name
    return names


def row_names(table: Table) -> list[str]:
    """Each body row's name, unique in its table: its label, with its section before it when the label repeats
    ("Asia Revenue"), or ``(row K)`` after it when that does not tell them apart."""
    labels, sections = table.row_labels(), _sections(table)
    totals = _unlabelled_totals(table)
    labels = ["Total" if i in totals else label for i, label in enumerate(labels)]
    keys = [_norm(label) for label in labels]
    named = [f"{s} {label}" if keys.count(_norm(label)) > 1 and s else label for label, s in zip(labels, sections, strict=True)]
    qualified = [_norm(n) for n in named]
    return [f"{n} (row {r + table.header_rows + 1})" if qualified.count(_norm(n)) > 1 else n for r, n in enumerate(named)]


class TableCells(Mapping[tuple[str, str], Decimal]):
    """The numeric body cells of the tables on a page as the calculator's ``cells``: keys are ``(column, row)``
    names unique on the page (:func:`column_names`, :func:`row_names`). A lookup forgives case, spacing,
    punctuation, the order of the two names, a spanning header left out, and a qualifier left out where it is
    not needed (``"Revenue"`` for ``"Asia Revenue"`` when only Asia has one). Where no name fits exactly, names
    as users write them are tried: a year, ``FY2022`` or ``fiscal 2022`` for the one column whose header holds
    that year ("Years Ended December 2, 2022"), a header or label without its parenthetical note or footnote
    mark ("Purchases of property, plant and equipment" for "... (PP&E)", "Long-term debt" for "Long-term debt
    (1)"). A name that fits several cells is refused with the names that tell them apart. Every cell read is
    remembered (:attr:`used`) to be cited."""

    def __init__(self, tables: list[Table]) -> None:
        self.tables = tables
        self._cells: dict[tuple[str, str], tuple[Table, TableCell]] = {}
        self._aliases: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._loose: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._column_aliases: dict[str, list[str]] = {}
        self._loose_columns: dict[str, list[str]] = {}
        self._totals: set[tuple[str, str]] = set()
        self._words: list[tuple[tuple[str, str], set[str], set[str]]] = []  # key, its label's words, with its section's
        self._labels: dict[tuple[str, str], str] = {}
        self.positional: set[tuple[str, str]] = set()
        """Cells known only by position: a column without a header, a row without a label."""
        self.dashes: set[tuple[str, str]] = set()
        """Cells printing a dash ("—"), read as 0 (nil, as statements print it)."""
        self.unreadable: dict[str, list[str]] = {}
        """Per column name, the body cells that print something that is not a number (``Süd: '2.345,50'``)."""
        columns = column_names(tables)
        for table in tables:
            heads, labels, rows, sections = table.column_headers(), table.row_labels(), row_names(table), _sections(table)
            totals = _unlabelled_totals(table)
            for cell in table.body():
                i = cell.row - table.header_rows
                if cell.col == 0 or i >= len(rows) or (table.index, cell.col) not in columns:
                    continue
                key = (columns[(table.index, cell.col)], rows[i])
                total = _is_total(labels[i]) or i in totals
                if cell.number is None and _DASH.fullmatch(cell.text.strip().lstrip("$€£¥ ")):
                    cell = replace(cell, number=Decimal(0))  # "—" in a statement's column of figures: nil
                    self.dashes.add(key)
                if cell.number is None:
                    if cell.text.strip() and not states_nothing(cell.text) and not total:
                        self.unreadable.setdefault(key[0], []).append(f"{rows[i]}: {cell.text!r}")
                    continue
                self._cells[key] = (table, cell)
                if total:
                    self._totals.add(key)
                if not heads[cell.col].strip() or (not labels[i].strip() and i not in totals):
                    self.positional.add(key)
                own = table.at(table.header_rows - 1, cell.col) if table.header_rows else None
                cols = {key[0], heads[cell.col], f"table {table.index + 1}: {heads[cell.col]}"}
                if own is not None and own.col_span == 1:  # under a spanning header: its own header alone too
                    cols.add(own.text)
                label = rows[i] if i in totals else labels[i]
                names = {key[1], label, f"{sections[i]} {label}", f"{label} {sections[i]}", f"table {table.index + 1}: {label}"}
                self._words.append((key, set(_stem(_plain(label)).split()), set(_stem(_plain(f"{sections[i]} {label}")).split())))
                self._labels[key] = _stem(_plain(label))
                self._alias(self._aliases, self._column_aliases, key, cols, names)
                loose_cols = {_stem(_plain(c)) for c in cols} | _periods(heads[cell.col])
                loose_names = {_stem(_plain(n)) for n in names}
                self._alias(self._loose, self._loose_columns, key, loose_cols, loose_names)
        self.used: dict[tuple[str, str], CitedCell] = {}
        self.read_as: dict[tuple[str, str], str] = {}
        """Cells found by a name whose words all stand in a longer label: the name the user wrote, to be shown."""

    @staticmethod
    def _alias(cells: dict[tuple[str, str], list[tuple[str, str]]], columns: dict[str, list[str]],
               key: tuple[str, str], cols: set[str], names: set[str]) -> None:
        for c in {_norm(n) for n in cols if n.strip()}:
            columns.setdefault(c, []).append(key[0])
            for r in {_norm(n) for n in names if n.strip()}:
                cells.setdefault((c, r), []).append(key)
                cells.setdefault((r, c), []).append(key)

    def resolve(self, key: tuple[str, str]) -> tuple[str, str] | None:
        """The cell's key that ``key`` names, None when it names none. Raises when it names several."""
        if key in self._cells:
            return key
        if (key[1], key[0]) in self._cells:
            return (key[1], key[0])
        asked = (_norm(key[0]), _norm(key[1]))
        found = list(dict.fromkeys(self._aliases.get(asked, [])))
        found = found or list(dict.fromkeys(self._loose.get((_stem(_plain(key[0])), _stem(_plain(key[1]))), [])))
        several = None  # a column name several headers hold: said when nothing else fits
        for c, r in (key, (key[1], key[0])):  # a column named by some of its header's words, the row as printed
            try:
                column = None if found else self.column(c)
            except CalculationError as e:
                several, column = several or e, None
            if column is not None:
                found = list(dict.fromkeys(self._aliases.get((_norm(column), _norm(r)), [])))
                found = found or list(dict.fromkeys(self._loose.get((_stem(_plain(column)), _stem(_plain(r))), [])))
        found = found or self._by_words(key) or self._by_words((key[1], key[0]))
        if not found and several is not None:
            raise several
        if len(found) > 1:
            options = "; ".join(f'cell("{c}", "{r}")' for c, r in found[:6])
            msg = f'cell("{key[0]}", "{key[1]}") fits {len(found)} cells: {options}. Write the one you mean'
            raise CalculationError(msg)
        return found[0] if found else None

    def _by_words(self, key: tuple[str, str]) -> list[tuple[str, str]]:
        """The cells in column ``key[0]`` whose row ``key[1]`` names by words in any order, its section's words
        among them ("Diluted earnings per share" for "Diluted" under "Earnings per share:", "Non-current term
        debt" for "Term debt" under "Non-current liabilities:"), the fewest words left unsaid first."""
        try:
            column = self.column(key[0])
        except CalculationError:
            return []
        if column is None:
            return []
        said = _stem(_plain(key[1]))
        asked = set(said.split())
        for short, wordings in parse(key[1]).expansions:  # "Diluted EPS": "Diluted" under "Earnings per share:"
            for wording in wordings:
                words = set(_stem(wording).split()) - STOPWORDS
                if any(words <= every for k, _, every in self._words if k[0] == column):
                    asked = (asked - set(_stem(short).split())) | words
                    break
        fits = [(len(every - asked), k) for k, own, every in self._words
                if k[0] == column and own and own <= asked <= every]
        if not fits and len(asked) >= 2:  # the label's first words, its qualifier left out: "Treasury stock" for
            fits = [(len(own), k) for k, own, _ in self._words  # "Treasury stock, at cost"
                    if k[0] == column and self._labels[k].startswith(said + " ")]
        if not fits and len(asked) >= 2:  # every word said is in one label only: "Diluted earnings per share" for
            fits = [(0, k) for k, own, _ in self._words if k[0] == column and asked <= own]  # "Earnings per share—diluted"
            if len(fits) == 1:
                self.read_as[fits[0][1]] = key[1]
        best = min((n for n, _ in fits), default=None)
        return [k for n, k in fits if n == best]

    def column(self, name: str) -> str | None:
        """The column name ``name`` names (forgiving, as cells are), None when none. Raises when several."""
        if any(c == name for c, _ in self._cells):
            return name
        found = list(dict.fromkeys(self._column_aliases.get(_norm(name), [])))
        found = found or list(dict.fromkeys(self._loose_columns.get(_stem(_plain(name)), [])))
        asked = set(_stem(_plain(name)).split())
        if not found and len(asked) >= 2:  # "nine months ended 2023": the one header holding every word said,
            found = [c for c in dict.fromkeys(c for c, _ in self._cells)  # its others only dates ("July 1")
                     if asked <= (words := set(_stem(_plain(c)).split())) and all(_dating(w, words) for w in words - asked)]
        if len(found) > 1:
            msg = f'col("{name}") fits {len(found)} columns: ' + "; ".join(f'col("{c}")' for c in found[:6])
            raise CalculationError(msg + ". Write the one you mean")
        return found[0] if found else None

    def closest(self, key: tuple[str, str]) -> str:
        """Why ``key`` names no cell, with the column and row names closest to what it says first."""
        columns = list(dict.fromkeys(c for c, _ in self._cells))
        rows = list(dict.fromkeys(r for _, r in self._cells))
        by_norm_c = {_norm(c): c for c in columns}
        by_norm_r = {_norm(r): r for r in rows}
        a, b = _norm(key[0]), _norm(key[1])
        if a in by_norm_r or b in by_norm_c or (a not in by_norm_c and b not in by_norm_r and _near(a, by_norm_r) and _near(b, by_norm_c)):
            a, b = b, a  # the row named first
        parts = [f'cell("{key[0]}", "{key[1]}") names no cell']
        if a not in by_norm_c and not self._loose_columns.get(_stem(a)):
            near = _near(a, by_norm_c) or list(by_norm_c)
            parts.append(f"no column {key[0] if a == _norm(key[0]) else key[1]!r}; closest columns: "
                         + ", ".join(repr(by_norm_c[n]) for n in near[:5]))
        asked_row = set(_stem(_plain(key[1] if b == _norm(key[1]) else key[0])).split())
        if b not in by_norm_r and not any(own and (own <= asked_row <= every or asked_row <= own) for _, own, every in self._words):
            near = _near(b, by_norm_r) or list(by_norm_r)
            parts.append(f"no row {key[1] if b == _norm(key[1]) else key[0]!r}; closest rows: "
                         + ", ".join(repr(by_norm_r[n]) for n in near[:5]))
        return "; ".join(parts)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and len(key) == 2 and self.resolve((str(key[0]), str(key[1]))) is not None

    def __getitem__(self, key: tuple[str, str]) -> Decimal:
        canonical = self.resolve(key)
        if canonical is None:
            raise KeyError(key)
        table, cell = self._cells[canonical]
        assert cell.number is not None
        scale = "" if cell.scale == 1 else table.scale_text if cell.scale == table.scale else _SCALE_WORDS.get(cell.scale, f"x{cell.scale}")
        self.used[canonical] = CitedCell(table.doc, table.page, table.index, canonical[1], canonical[0], cell.text,
                                         cell.number, cell.box, cell.unit, scale)
        return cell.number

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """Every cell's key except totals rows' (``col()`` sums the items, not their total)."""
        return (k for k in self._cells if k not in self._totals)

    def __len__(self) -> int:
        return len(self._cells) - len(self._totals)


_SCALE_WORDS = {Decimal(1000): "in thousands", Decimal(10) ** 6: "in millions", Decimal(10) ** 9: "in billions"}
"""A cell's own scale, when it is not its table's ("Shares used (000's)" in a statement in millions)."""
_DASH = re.compile(r"[-–—−]{1,3}")
_PAREN = re.compile(r"\s*(?:\([^)]*\)|\[[^\]]*\]|[*†‡§¶]+|[¹²³⁴⁵⁶⁷⁸⁹⁰]+)\s*")


def _plain(name: str) -> str:
    """A name without its parenthetical notes and footnote marks: "Long-term debt (1)" -> "Long-term debt",
    "Property, plant and equipment, net (PP&E)" -> "Property, plant and equipment, net"."""
    name = re.sub(r"^(?:less|add|plus|deduct)\s*:\s*", "", name.strip(), flags=re.I)  # "Less: Treasury stock"
    return " ".join(_PAREN.sub(" ", name).split()) or name


_MONTHS = {m: m[:3] for m in ("january", "february", "march", "april", "june", "july", "august", "september",
                               "october", "november", "december")} | {"sept": "sep"}


def _stem(name: str) -> str:
    """A name with each word's plural ``s`` dropped and months shortened: "Capital expenditure" and "capital
    expenditures" meet, as do "September 30, 2023" and "Sep 30, 2023", and "Non-current" and "Noncurrent"."""
    words = (_MONTHS.get(w, w) for w in re.sub(r"\bnon current\b", "noncurrent", _norm(name)).split())
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words)


_DATING = frozenset({"month", "week", "day", "year", "quarter", "ended", "ending", "three", "six", "nine", "twelve",
                     "fiscal", "may", *_MONTHS.values()})


def _dating(word: str, header: set[str]) -> bool:
    """Whether a header's word only dates its column ("ended", "July", the "1" of "July 1"): a name can leave
    it out. A word that says what the column holds ("%", "revenue", "amount", the "3" of "1-3 years") cannot."""
    if word.isdigit():
        return int(word) <= 31 and bool(header & set(_MONTHS.values()) | header & {"may"})
    return word in _DATING


def _periods(header: str) -> set[str]:
    """The names a user gives a column by its period: the year its header states ("Years Ended December 2,
    2022" -> "2022", "FY2022", "fiscal 2022", "FY22")."""
    years = set(re.findall(r"\b((?:19|20)\d{2})\b", header))
    if len(years) != 1:
        return set()
    (year,) = years
    return {year, f"FY{year}", f"FY {year}", f"fiscal {year}", f"fiscal year {year}", f"FY{year[2:]}"}


def _near(name: str, options: dict[str, str]) -> list[str]:
    """The options closest to ``name``, closest first (normalised names)."""
    scored = sorted(options, key=lambda o: -difflib.SequenceMatcher(None, name, o).ratio())
    return [o for o in scored if difflib.SequenceMatcher(None, name, o).ratio() >= 0.4 or set(name.split()) & set(o.split())]


_COL = re.compile(r'col\(\s*"([^"]*)"\s*\)')
_CELL = re.compile(r'cell\(\s*"([^"]*)"\s*,\s*"([^"]*)"\s*\)')


def compute(expression: str, tables: list[Table]) -> Computed:
    """The exact value of ``expression`` over the tables' cells, the cells it read, notes a reader must see
    (cells a ``col()`` left out because they print no number, a ``col()`` over a table that goes on over another
    page) and the reasons the result needs review: cells of different scales (an amount in millions with a
    per-share amount or a percentage), different units added together, a total row among the items, a column or
    row named by position only. Raises :class:`CalculationError` (naming the closest columns and rows first) when
    it cannot compute."""
    if not tables:
        msg = "there is no table to compute over"
        raise CalculationError(msg)
    cells = TableCells(tables)
    if not cells._cells:
        msg = "the tables on this page hold no numbers"
        raise CalculationError(msg)
    notes: list[str] = []
    try:
        columns = {m: cells.column(m) for m in _COL.findall(expression)}
        rewritten = _COL.sub(lambda m: f'col("{columns[m.group(1)] or m.group(1)}")', expression)
        value = evaluate(rewritten, cells)
    except CalculationError as e:
        missing = [key for key in _CELL.findall(expression) if cells.resolve(key) is None] if "fits" not in str(e) else []
        if missing:
            raise CalculationError(cells.closest(missing[0])) from e
        words = str(e).replace("categories", "rows").replace("category", "row").replace("series", "column")
        raise CalculationError(f"{words}. {_names(tables)}") from e
    used = list(cells.used.values())
    notes += [f"{r} / {c} prints {cells._cells[(c, r)][1].text!r}: read as 0" for c, r in cells.used if (c, r) in cells.dashes]
    notes += [f"{said!r} read as the row {key[1]!r}" for key, said in cells.read_as.items() if key in cells.used]
    for name in {c for c in columns.values() if c}:
        notes += [f'col("{name}") left out {what}: not a number' for what in cells.unreadable.get(name, [])]
        for t in {cells._cells[k][0].index: cells._cells[k][0] for k in cells._cells if k[0] == name}.values():
            other = t.continued_from or t.continues_on
            if other is not None:
                notes.append(f'col("{name}") covers page {t.page} only: the table goes on on page {other[0]}')
    return Computed(value, used, notes, _review(expression, used, cells))


def _review(expression: str, used: list[CitedCell], cells: TableCells) -> list[str]:
    """Why a computed result must be checked by a person before it is used (empty: it need not)."""
    out = []
    scales = {c.scale or "as printed" for c in used}
    if len(scales) > 1:
        unscaled = sorted({c.row for c in used if not c.scale})
        out.append(f"the cells have different scales ({', '.join(sorted(scales))}): {', '.join(unscaled[:4])} "
                   f"{'is' if len(unscaled) == 1 else 'are'} read as printed (per share, percent or count), the "
                   "rest scaled")
    units = {c.unit for c in used if c.unit}  # "$" printed on a statement's first row only: the rest are dollars too
    if (("%" in units and any(c.unit != "%" for c in used)) or len(units) > 1) and not _only_scaling(expression):
        named = sorted({c.unit or "no unit" for c in used})
        out.append(f"the cells used have different units ({', '.join(named)}): check what the result means")
    positional = sorted({f"{c} / {r}" for c, r in cells.used if (c, r) in cells.positional})
    if positional:
        out.append(f"named by position only (no header or label printed): {', '.join(positional[:4])}")
    return out


def _only_scaling(expression: str) -> bool:
    """Whether an expression only relates its cells (a ratio or percent change), where mixed units are expected."""
    return "percent_change" in expression or "/" in expression


def _names(tables: list[Table]) -> str:
    columns = column_names(tables)
    parts = []
    for t in tables:
        heads = [columns[(t.index, k)] for k in range(1, t.cols) if (t.index, k) in columns]
        rows = [r for r in row_names(t) if r]
        parts.append(f"Table {t.index + 1} has columns {', '.join(map(repr, heads[:12]))} and rows "
                     f"{', '.join(map(repr, rows[:20]))}" + (" ..." if len(rows) > 20 else ""))
    return "; ".join(parts)


def matching_tables(tables: list[Table], question: str | Question) -> list[Table]:
    """The tables whose row labels or column headers the question names, best first (those naming both a row and
    a column first); empty when it names none. Its instructions ("in USD millions") name nothing."""
    words = set(_norm(parse(question).search_text).split())
    scored = []
    for table in tables:
        rows = sum(1 for label in table.row_labels() if label and set(_norm(label).split()) <= words)
        cols = sum(1 for head in table.column_headers()[1:] if head and set(_norm(head).split()) & words)
        title = len(set(_norm(table.title).split()) & words)
        if rows or cols:
            scored.append(((bool(rows) and bool(cols), rows + cols, title), table))
    return [t for _, t in sorted(scored, key=lambda st: st[0], reverse=True)]


def _words(text: str) -> set[str]:
    """Its words, plural ``s`` dropped, stop words left out ("used in computing" names no row by its "in")."""
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in _norm(text).split() if w not in STOPWORDS} \
        or {w for w in _norm(text).split()}


_STATEMENT = re.compile(r"balance sheets?|statements? of (?:consolidated )?(?:operations|income|earnings|cash flows?|"
                        r"financial (?:position|condition)|comprehensive income|(?:stockholders|shareholders)|changes)", re.I)
"""A primary financial statement's title."""


def lookup(question: str | Question, tables: list[Table]) -> list[tuple[Table, TableCell]]:
    """The body cells a question names by their row and column ("capital expenditures in 2018": the cell of the
    row labelled Capital expenditures under the column headed 2018), best first: one when the question tells
    which, several when it fits them equally (the costs of two regions, of two tables), none when it names no
    row and column.

    A row is named when the question holds every word of its label (two thirds of a label of four words or
    more); a column when it holds a word of the header that tells it from the table's other columns (a table of
    one value column needs none). ``tables`` may come from several pages, best first: a primary statement's
    cell (a table titled "Consolidated Balance Sheets", "Statements of Operations" ...) comes before the same
    row in another table. A row whose every word the question holds comes before one it names only in
    part ("total current liabilities": Total current liabilities, not Total non-current liabilities); words of a
    row's section ("Diluted" under "Earnings per share:", not under "Shares used in computing earnings per
    share:") and of the table's title break ties."""
    parsed = parse(question)
    asked = _words(parsed.search_text) | {str(p.year) for p in parsed.periods}  # "FY2022" asks for the 2022 column
    wordings = [_words(w) for _, ws in parsed.expansions for w in ws]
    """Other wordings of what it says ("capex": "purchases of property, plant and equipment"): a label that holds
    one of them whole is named by it."""
    scored: list[tuple[tuple[int, int, int, int, bool, int], Table, TableCell]] = []
    for table in tables:
        heads = [_words(h) for h in table.column_headers()]
        shared = set.intersection(*heads[1:]) if len(heads) > 2 else set()
        labels = [[_words(v) for v in dict.fromkeys((label, _plain(label), _plain(label).split(",")[0])) if _words(v)]
                  for label in table.row_labels()]  # as printed, without its parenthetical, before its first comma
        sections, title = _sections(table), _words(table.title)
        for cell in table.body():
            i = cell.row - table.header_rows
            variants = labels[i] if i < len(labels) else []
            if cell.col == 0 or not cell.text.strip() or not variants:
                continue
            said_as = {id(v): asked.union(*(w for w in wordings if w and w <= v)) for v in variants}
            label = max(variants, key=lambda v: (len(v & said_as[id(v)]) - len(v), len(v)))
            row_hits = len(label & said_as[id(label)])
            if row_hits < (len(label) if len(label) < 4 else -(-2 * len(label) // 3)):
                continue
            own = (heads[cell.col] - shared) if cell.col < len(heads) else set()
            col_hits = len(own & asked)
            if not col_hits and table.cols > 2:
                continue
            section = _words(sections[i])
            said = len(section & asked.union(*(w for w in wordings if w and w <= section | label)))  # "diluted EPS"
            unsaid = len(section - asked) if said else 0
            extra = len(title & asked)
            statement = bool(_STATEMENT.search(table.title))
            explained = row_hits + said - 2 * (len(label) - row_hits)  # a label word the question lacks costs two
            scored.append(((explained, row_hits + said, -unsaid, col_hits, statement, extra), table, cell))
    if not scored:
        return []
    best = max(s for s, _, _ in scored)
    return [(t, c) for s, t, c in scored if s == best]


def tables_text(tables: list[Table], limit: int = 3000) -> str:
    """The tables as Markdown, for a model reading their page beside its image: it reads the numbers from here
    rather than from pixels. Cut to ``limit`` characters."""
    parts = []
    for table in tables:
        head = f"Table {table.index + 1}" + (f" ({table.title})" if table.title else "")
        if table.scale_text:
            head += f", {table.scale_text}"
        if table.continued_from:
            head += f", continued from page {table.continued_from[0]}"
        parts.append(f"{head}:\n{table.to_markdown()}")
    text = "\n\n".join(parts)
    return text if len(text) <= limit else text[:limit].rsplit("\n", 1)[0] + "\n[table cut]"


def resolve_source(store: PageStore, source: str | Path | tuple[str, int], *, page: int | None = 1) -> tuple[str, int | None]:
    """The indexed document and page ``source`` names: ``(doc, page)`` as given, a file (indexed first; unchanged
    files cost nothing), ``"report.pdf:2"`` (page 2), or the name of a document in the store. ``page`` is the
    page when ``source`` names none (None: the whole document)."""
    if isinstance(source, tuple):
        return source
    text = str(source)
    path, number = Path(text), page
    match = re.fullmatch(r"(.+):(\d+)", text)
    if match and not path.exists():
        path, number = Path(match.group(1)), int(match.group(2))
    if path.is_file() or (store.document(str(path)) is None and store.document(path.name) is None):
        report = index_paths([path], store=store, progress=False)  # a missing file fails here, saying so
        if report.failed:
            raise DocagentError(f"{path.name}: {report.failed[0].error}")
        name = path.name
    else:  # a stored name: "report.pdf", or an attachment's "message.eml/report.pdf"
        name = str(path) if store.document(str(path)) is not None else path.name
    rec = store.document(name)
    if rec is None:
        msg = f"{path} is neither a file nor an indexed document (`docagent docs` lists them)"
        raise ConfigError(msg)
    if number is not None and not 1 <= number <= rec.pages:
        msg = f"{name} has {rec.pages} page{'s' if rec.pages != 1 else ''}; page {number} does not exist"
        raise ConfigError(msg)
    return name, number


def pages_list(pages: list[int]) -> str:
    """``page 2``, ``pages 2 and 5``, ``pages 2, 5 and 7``."""
    if len(pages) == 1:
        return f"page {pages[0]}"
    return "pages " + ", ".join(str(p) for p in pages[:-1]) + f" and {pages[-1]}"


def select_tables(store: PageStore, doc: str, page: int | None = None, table: int | None = None) -> tuple[list[Table], str]:
    """The tables of ``doc`` (on ``page``; only its ``table``-th, counted from 1 top to bottom, when given) and,
    when there are none, why, in words that say where the tables are instead: ``report.pdf page 3 has no tables;
    tables were found on pages 2 and 5``, or in its attachments. A document indexed by a docagent from before
    tables is told to be indexed again. Raises StoreError for a document or page the store does not hold."""
    found = store.tables(doc, page)
    if table is not None:
        if page is None:
            return [], f"a table number needs its page: tables are numbered on each page, from 1 (page=N, table={table})"
        if found and not 1 <= table <= len(found):
            numbers = "1 table (table 1)" if len(found) == 1 else f"{len(found)} tables (1 to {len(found)})"
            return [], f"{doc} page {page} has {numbers}; there is no table {table}"
        found = found[table - 1:table]
    if found:
        return found, ""
    everywhere = store.tables(doc) if page is not None else []
    if everywhere:
        pages = sorted({t.page for t in everywhere})
        return [], f"{doc} page {page} has no tables; tables were found on {pages_list(pages)}"
    rec = store.document(doc)
    version = store.catalog.card_version(rec.doc_id) if rec is not None else None
    if version is not None and version < 2:  # tables are found from card version 2 on
        return [], (f"{doc} was indexed by a docagent from before tables were found: index it again to find "
                    "its tables")
    where = f"{doc} page {page}" if page is not None else doc
    inside = [a.name for a in store.catalog.attached(doc) if page is None and store.tables(a.name)]
    if inside:
        return [], f"no tables were found in {where}; its attachment{'s' if len(inside) > 1 else ''} {', '.join(inside)} have tables"
    return [], f"no tables were found in {where} (tables are found when a document is indexed)"
