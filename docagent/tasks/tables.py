"""Tables as evidence: cells named by their headers, computed over exactly, and cited with their boxes.

    cell("2019", "Revenue")   the body cell under the column headed 2019, in the row labelled Revenue
                              (the two names in either order; case, spacing and punctuation ignored; a column
                              under a spanning header is named by its own header or by both: "2019 Q1")
    col("2019")               every number in that column, totals rows left out (sum(col(...)) adds the items)

Tables come from the store (found at indexing, docagent.ingest.tables), so nothing is transcribed: the numbers
are the ones the text layer (or OCR) prints, parsed exactly, each with the box it stands in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from docagent.errors import CalculationError, ConfigError, DocagentError
from docagent.index.indexer import index_paths
from docagent.ingest.identity import CARD_VERSION
from docagent.index.store import PageStore
from docagent.tasks.calc import evaluate
from docagent.types import Table, TableCell, decimal_text

__all__ = ["CitedCell", "TableCells", "compute", "lookup", "matching_tables", "pages_list", "resolve_source", "select_tables",
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

    def to_json(self) -> dict[str, Any]:
        return {"doc": self.doc, "page": self.page, "table": self.table, "row": self.row, "column": self.column,
                "text": self.text, "value": decimal_text(self.value), "unit": self.unit, "box": [round(c, 2) for c in self.box]}


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def _is_total(label: str) -> bool:
    return bool(re.match(r"(grand |sub)?totals?\b", label.strip().lower()))


class TableCells(Mapping[tuple[str, str], Decimal]):
    """The numeric body cells of some tables as the calculator's ``cells``: keys are ``(column header, row
    label)``; a lookup forgives case, spacing, punctuation, the order of the two names and a spanning header left
    out, and every cell read is remembered (:attr:`used`) so the answer can cite it."""

    def __init__(self, tables: list[Table]) -> None:
        self._cells: dict[tuple[str, str], tuple[Table, TableCell]] = {}
        self._by_norm: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._totals: set[tuple[str, str]] = set()
        for table in tables:
            heads, labels = table.column_headers(), table.row_labels()
            for cell in table.body():
                if cell.number is None or cell.col == 0:
                    continue
                key = (heads[cell.col] if cell.col < len(heads) else "", labels[cell.row - table.header_rows])
                if key in self._cells:  # the same names twice (two tables, a repeated label): the first one counts
                    continue
                self._cells[key] = (table, cell)
                if _is_total(key[1]):
                    self._totals.add(key)
                for alias in self._aliases(key, table, cell):
                    self._by_norm.setdefault(alias, []).append(key)
        self.used: dict[tuple[str, str], CitedCell] = {}

    @staticmethod
    def _aliases(key: tuple[str, str], table: Table, cell: TableCell) -> set[tuple[str, str]]:
        column, row = _norm(key[0]), _norm(key[1])
        names = {column}
        own = table.at(table.header_rows - 1, cell.col) if table.header_rows else None
        if own is not None and own.col_span == 1:  # a column under a spanning header: its own header alone too
            names.add(_norm(own.text))
        return {(c, row) for c in names if c} | {(row, c) for c in names if c}

    def resolve(self, key: tuple[str, str]) -> tuple[str, str] | None:
        """The canonical key ``key`` names, None when it names none. Raises when it names several."""
        if key in self._cells:
            return key
        if (key[1], key[0]) in self._cells:
            return (key[1], key[0])
        found = list(dict.fromkeys(self._by_norm.get((_norm(key[0]), _norm(key[1])), [])))
        if len(found) > 1:
            options = "; ".join(f'cell("{c}", "{r}")' for c, r in found[:4])
            msg = f'cell("{key[0]}", "{key[1]}") could mean {options}: write the names in full'
            raise CalculationError(msg)
        return found[0] if found else None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and len(key) == 2 and self.resolve((str(key[0]), str(key[1]))) is not None

    def __getitem__(self, key: tuple[str, str]) -> Decimal:
        canonical = self.resolve(key)
        if canonical is None:
            raise KeyError(key)
        table, cell = self._cells[canonical]
        assert cell.number is not None
        self.used[canonical] = CitedCell(table.doc, table.page, table.index, canonical[1], canonical[0], cell.text,
                                         cell.number, cell.box, cell.unit)
        return cell.number

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """Every cell's key except totals rows' (``col()`` sums the items, not their total)."""
        return (k for k in self._cells if k not in self._totals)

    def __len__(self) -> int:
        return len(self._cells) - len(self._totals)

    def cell(self, key: tuple[str, str]) -> tuple[Table, TableCell] | None:
        canonical = self.resolve(key)
        return self._cells[canonical] if canonical else None


def compute(expression: str, tables: list[Table]) -> tuple[Fraction, list[CitedCell]]:
    """The exact value of ``expression`` over the tables' cells, and the cells it read, in the order read.
    Raises :class:`CalculationError` (naming the table's columns and rows) when it cannot."""
    if not tables:
        msg = "there is no table to compute over"
        raise CalculationError(msg)
    cells = TableCells(tables)
    if not len(cells) and not cells._totals:
        msg = "the tables on this page hold no numbers"
        raise CalculationError(msg)
    try:
        value = evaluate(expression, cells)  # type: ignore[arg-type]  # Decimal values, read exactly
    except CalculationError as e:
        raise CalculationError(f"{e}. {_names(tables)}") from e
    return value, list(cells.used.values())


def _names(tables: list[Table]) -> str:
    table = tables[0]
    heads = [h for h in table.column_headers()[1:] if h]
    labels = [r for r in table.row_labels() if r]
    more = f" (and {len(tables) - 1} more table{'s' if len(tables) > 2 else ''})" if len(tables) > 1 else ""
    return (f"The table{more} has columns {', '.join(map(repr, heads[:12]))} and rows "
            f"{', '.join(map(repr, labels[:20]))}")


def matching_tables(tables: list[Table], question: str) -> list[Table]:
    """The tables whose row labels or column headers the question names, best first (those naming both a row and
    a column first); empty when it names none."""
    words = set(_norm(question).split())
    scored = []
    for table in tables:
        rows = sum(1 for label in table.row_labels() if label and set(_norm(label).split()) <= words)
        cols = sum(1 for head in table.column_headers()[1:] if head and set(_norm(head).split()) & words)
        title = len(set(_norm(table.title).split()) & words)
        if rows or cols:
            scored.append(((bool(rows) and bool(cols), rows + cols, title), table))
    return [t for _, t in sorted(scored, key=lambda st: st[0], reverse=True)]


def _words(text: str) -> set[str]:
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in _norm(text).split()}


def lookup(question: str, tables: list[Table]) -> tuple[Table, TableCell] | None:
    """The one body cell a question names by its row and its column ("capital expenditures in 2018": the cell of
    the row labelled Capital expenditures under the column headed 2018), None when no cell or several fit.

    A row is named when the question holds every word of its label (two thirds of a label of four words or
    more); a column when it holds a word of the header that tells it from the table's other columns (a table of
    one value column needs none)."""
    asked = _words(question)
    best: list[tuple[tuple[int, int], Table, TableCell]] = []
    for table in tables:
        heads = [_words(h) for h in table.column_headers()]
        shared = set.intersection(*heads[1:]) if len(heads) > 2 else set()
        labels = [_words(label) for label in table.row_labels()]
        for cell in table.body():
            label = labels[cell.row - table.header_rows] if cell.row - table.header_rows < len(labels) else set()
            if cell.col == 0 or not cell.text.strip() or not label:
                continue
            row_hits = len(label & asked)
            if row_hits < (len(label) if len(label) < 4 else -(-2 * len(label) // 3)):
                continue
            own = (heads[cell.col] - shared) if cell.col < len(heads) else set()
            col_hits = len(own & asked)
            if not col_hits and table.cols > 2:
                continue
            best.append(((row_hits, col_hits), table, cell))
    if not best:
        return None
    best.sort(key=lambda b: b[0], reverse=True)
    if len(best) > 1 and best[1][0] == best[0][0]:
        return None  # two cells fit as well: the question does not say which
    return best[0][1], best[0][2]


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
    """The tables of ``doc`` (on ``page``; only its ``table``-th, from 0, when given) and, when there are none,
    why, in words that say where the tables are instead: ``report.pdf page 3 has no tables; tables were found on
    pages 2 and 5``. A document indexed by a docagent from before tables is told to be indexed again. Raises
    StoreError for a document or page the store does not hold."""
    found = store.tables(doc, page)
    if table is not None:
        if page is None:
            return [], (f"a table index needs its page: tables are numbered on each page, from 0 (get_table with "
                        f"doc={doc!r}, page=N, table={table})")
        if found and table >= len(found):
            numbers = "1 table (table 0)" if len(found) == 1 else f"{len(found)} tables (0 to {len(found) - 1})"
            return [], f"{doc} page {page} has {numbers}; there is no table {table}"
        found = found[table:table + 1]
    if found:
        return found, ""
    everywhere = store.tables(doc) if page is not None else []
    if everywhere:
        pages = sorted({t.page for t in everywhere})
        return [], f"{doc} page {page} has no tables; tables were found on {pages_list(pages)}"
    rec = store.document(doc)
    version = store.catalog.card_version(rec.doc_id) if rec is not None else None
    if version is not None and version < CARD_VERSION:
        return [], (f"{doc} was indexed by a docagent from before tables were found: index it again to find "
                    "its tables")
    where = f"{doc} page {page}" if page is not None else doc
    return [], f"no tables were found in {where} (tables are found when a document is indexed)"
