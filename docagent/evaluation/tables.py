"""Table structure quality: precision, recall and F1 of (row header, column header, value) triples.

LABELS is JSON lines, one table per line, pages 1-based::

    {"doc": "report.pdf", "page": 3, "header": [["", "2019", "2018"]],
     "rows": [["Revenue", "1,234", "(56)"], ["Net income", "210", "-"]]}

``header`` is zero or more header rows, top to bottom, one text per column; a header cell that spans several
columns (a year over its quarters) is written in every column it spans. ``rows`` are the body rows; the first
column is the row label (empty text where a row has none). ``"continued_from_previous": true`` marks the part of
a table carried over from the page before: with an empty ``header`` it inherits the header of the same
document's last labelled table on the previous page, as docagent's continuation does. Other keys (``title``,
``kind`` ...) are kept for breakdowns and otherwise ignored.

Each table gives a triple per body cell with text outside the label column: (row label, its column's header
rows joined top to bottom, the cell's text), as :meth:`docagent.types.Table.triples`. A predicted triple matches
a gold one on the same page when the headers are equal after normalising (case, spacing and punctuation
ignored) and the values are equal: by number when both parse (:func:`docagent.ingest.tables.parse_number`, so
``(1,234)`` equals ``-1234``), else as normalised text. Each gold triple is matched at most once. Scores are
micro-averaged over all triples; per page, the counts are kept for inspection.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

from docagent.evaluation.report import Report
from docagent.evaluation.retrieval import parse_lines
from docagent.ingest.tables import parse_number, states_nothing
from docagent.types import Table, TableCell

log = logging.getLogger(__name__)

__all__ = ["CellLabel", "CellOutcome", "CellScore", "PageScore", "TableLabel", "TableScore", "evaluate_cells",
           "evaluate_tables", "gold_tables", "label_table", "load_cell_labels", "load_table_labels", "score_tables",
           "seal_labels"]


@dataclass(frozen=True)
class TableLabel:
    doc: str
    page: int
    header: list[list[str]]
    rows: list[list[str]]
    continued_from_previous: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    """The line's other keys (``kind``, ``title`` ...), for breakdowns."""
    sealed: tuple[str, ...] = ()
    """A sealed label's triple digests (``header`` and ``rows`` are then empty)."""


def load_table_labels(path: str | Path) -> list[TableLabel]:
    """The labelled tables of a JSON-lines file; lines that are not labels are skipped with a warning."""
    path = Path(path)
    known = {"doc", "page", "header", "rows", "continued_from_previous", "sealed"}

    def parse(_number: int, row: dict) -> TableLabel:
        page = int(row["page"])
        if page < 1:
            msg = f"page {page} is not 1-based"
            raise ValueError(msg)
        extra = {k: v for k, v in row.items() if k not in known}
        if "sealed" in row:
            sealed = row["sealed"]
            if not isinstance(sealed, list) or not sealed or not all(isinstance(d, str) and re.fullmatch(r"[0-9a-f]{16}", d)
                                                                     for d in sealed):
                msg = "'sealed' must be a list of 16-hex-digit triple digests (made by seal_labels)"
                raise ValueError(msg)
            if "rows" in row or "header" in row:
                msg = "a label is sealed or has rows, not both"
                raise ValueError(msg)
            return TableLabel(str(row["doc"]), page, [], [], extra=extra, sealed=tuple(sealed))
        header = [[str(c) for c in r] for r in row.get("header") or []]
        rows = [[str(c) for c in r] for r in row["rows"]]
        if not rows:
            msg = "a table needs body rows"
            raise ValueError(msg)
        return TableLabel(str(row["doc"]), page, header, rows, bool(row.get("continued_from_previous")), extra)

    return parse_lines(path, parse, "JSON lines with 'doc', 'page' and 'rows' (or 'sealed')")


def label_table(label: TableLabel, index: int = 0) -> Table:
    """The table a label describes (no boxes: all zero), so that ``Table.triples()`` gives the gold triples. Equal
    neighbouring texts in a header row become one spanning cell."""
    cols = max(len(r) for r in [*label.header, *label.rows])
    cells: list[TableCell] = []
    for r, row in enumerate(label.header):
        row = row + [""] * (cols - len(row))
        k = 0
        while k < cols:
            span = 1
            while row[k] and k + span < cols and row[k + span] == row[k]:
                span += 1
            if row[k]:
                cells.append(TableCell(r, k, row[k], (0.0, 0.0, 0.0, 0.0), col_span=span))
            k += span
    for r, row in enumerate(label.rows, len(label.header)):
        for k, text in enumerate(row):
            if text:
                number, unit = parse_number(text) if k else (None, "")
                cells.append(TableCell(r, k, text, (0.0, 0.0, 0.0, 0.0), number, unit))
    return Table(label.doc, label.page, index, (0.0, 0.0, 0.0, 0.0), len(label.header) + len(label.rows), cols,
                 len(label.header), cells)


def _key(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _value_key(text: str) -> str:
    number, _ = parse_number(text)
    if number is not None:
        return f"#{number.normalize()}"
    return "-" if states_nothing(text) else _key(text)


def _digest(r: str, c: str, v: str) -> str:
    return hashlib.sha256("\x1f".join((r, c, v)).encode()).hexdigest()[:16]


def _triples(table: Table) -> Counter[str]:
    """The table's triples, normalised and digested (so plain and sealed labels compare alike)."""
    return Counter(_digest(_key(r), _key(c), _value_key(v)) for r, c, v in table.triples())


def seal_labels(labels: Sequence[TableLabel]) -> list[dict[str, Any]]:
    """``labels`` as sealed JSON objects (one per table, in order): document, page, their ``kind`` and the digests
    of their triples (a continuation's with the header it inherits); titles and other texts are left out."""
    gold = gold_tables(labels)
    seen: Counter[tuple[str, int]] = Counter()
    out = []
    for label in labels:
        key = (label.doc, label.page)
        digests = label.sealed or tuple(sorted(_triples(gold[key][seen[key]]).elements()))
        seen[key] += not label.sealed
        out.append({"doc": label.doc, "page": label.page} | ({"kind": label.extra["kind"]} if "kind" in label.extra
                                                              else {}) | {"sealed": list(digests)})
    return out


@dataclass(frozen=True)
class PageScore:
    doc: str
    page: int
    gold: int
    found: int
    matched: int
    tables_labelled: int
    tables_found: int


@dataclass(frozen=True)
class TableScore(Report):
    """What ``docagent eval tables`` measures: triple precision, recall and F1, with the counts of each page."""

    precision: float
    recall: float
    f1: float
    gold: int
    """Gold triples."""
    found: int
    """Predicted triples on labelled pages."""
    matched: int
    tables_labelled: int
    tables_found: int
    pages: int
    per_page: list[PageScore] = field(default_factory=list)
    statements: int = 0
    """Labels of ``"kind": "statement"`` (a financial statement printed as one table)."""
    whole: int = 0
    """Of those, the statements one found table holds (90% of the statement's triples or more in a single table)."""

    def to_json(self) -> dict[str, Any]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4),
                "gold": self.gold, "found": self.found, "matched": self.matched,
                "tables_labelled": self.tables_labelled, "tables_found": self.tables_found, "pages": self.pages,
                "statements": self.statements, "statements_whole": self.whole,
                "per_page": [vars(p) for p in self.per_page]}

    def table(self) -> str:
        """A text summary: the scores, then the pages that lost the most triples."""
        lines = [f"{'pages':>8} {'tables':>7} {'found':>6} {'triples':>8} {'P':>6} {'R':>6} {'F1':>6}",
                 f"{self.pages:>8} {self.tables_labelled:>7} {self.tables_found:>6} {self.gold:>8} "
                 f"{self.precision:>6.3f} {self.recall:>6.3f} {self.f1:>6.3f}"]
        if self.statements:
            lines.append(f"statements found as one table: {self.whole} of {self.statements}")
        worst = sorted(self.per_page, key=lambda p: (p.matched - max(p.gold, p.found)))[:5]
        worst = [p for p in worst if p.matched < max(p.gold, p.found)]
        if worst:
            lines.append("worst pages (doc page: matched/gold, found):")
            lines += [f"  {p.doc} {p.page}: {p.matched}/{p.gold}, {p.found}" for p in worst]
        return "\n".join(lines)


def _prf(matched: int, gold: int, found: int) -> tuple[float, float, float]:
    p = matched / found if found else 0.0
    r = matched / gold if gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def gold_tables(labels: Sequence[TableLabel]) -> dict[tuple[str, int], list[Table]]:
    """The labelled tables by ``(doc, page)``, continuations given the header of the part they continue."""
    out: dict[tuple[str, int], list[Table]] = {}
    sealed = {(label.doc, label.page) for label in labels if label.sealed}
    for label in labels:
        if label.sealed:  # no text: scored by its digests alone
            continue
        table = label_table(label, len(out.get((label.doc, label.page), [])))
        if label.continued_from_previous and not label.header:
            before = out.get((label.doc, label.page - 1))
            if before:
                table.inherited_header = before[-1].column_headers()
            elif (label.doc, label.page - 1) in sealed:
                log.warning("%s page %d continues a sealed label, whose header it cannot inherit: seal them together",
                            label.doc, label.page)
        out.setdefault((label.doc, label.page), []).append(table)
    return out


def score_tables(predicted: dict[tuple[str, int], list[Table]], labels: Sequence[TableLabel]) -> TableScore:
    """Triple precision/recall/F1 of ``predicted`` tables (by ``(doc, page)``) against ``labels``, over the
    labelled pages (tables found on other pages are not counted)."""
    plain = gold_tables(labels)
    gold: dict[tuple[str, int], list[tuple[Any, Counter[str]]]] = {}  # each page's labels: kind, triple digests
    seen: Counter[tuple[str, int]] = Counter()
    for label in labels:
        key = (label.doc, label.page)
        own = Counter(label.sealed) if label.sealed else _triples(plain[key][seen[key]])
        seen[key] += not label.sealed
        gold.setdefault(key, []).append((label.extra.get("kind"), own))
    per_page = []
    statements = whole = 0
    for (doc, page), tables in sorted(gold.items()):
        want = sum((own for _, own in tables), Counter())
        mine = predicted.get((doc, page), [])
        found = [_triples(t) for t in mine]
        got = sum(found, Counter())
        per_page.append(PageScore(doc, page, sum(want.values()), sum(got.values()), sum((want & got).values()),
                                  len(tables), len(mine)))
        for kind, own in tables:
            if kind == "statement":
                statements += 1
                held = max((sum((own & t).values()) for t in found), default=0)
                whole += held >= 0.9 * sum(own.values())
    return replace(_total(per_page), statements=statements, whole=whole)


def _total(per_page: Iterable[PageScore]) -> TableScore:
    per_page = list(per_page)
    g, f, m = (sum(getattr(p, a) for p in per_page) for a in ("gold", "found", "matched"))
    p, r, f1 = _prf(m, g, f)
    return TableScore(p, r, f1, g, f, m, sum(x.tables_labelled for x in per_page),
                      sum(x.tables_found for x in per_page), len(per_page), per_page)


def evaluate_tables(labels: Sequence[TableLabel], tables_of: Callable[[str, int], list[Table]]) -> TableScore:
    """Score what ``tables_of(doc, page)`` (docagent's tables on a page) returns for every labelled page."""
    pages = sorted({(label.doc, label.page) for label in labels})
    return score_tables({key: tables_of(*key) for key in pages}, labels)


# -- cells and expressions named as users write them --------------------------------------------------------------

@dataclass(frozen=True)
class CellLabel:
    """A cell a user names (``row``, ``column`` as they would write them) and the value it states with its scale
    applied (``"81797000000"`` for 81,797 in a table "in millions"); or an ``expression`` over such names and its
    exact value."""

    doc: str
    page: int
    value: Decimal
    row: str = ""
    column: str = ""
    expression: str = ""


def load_cell_labels(path: str | Path) -> list[CellLabel]:
    """JSON lines ``{"doc", "page", "row", "column", "value"}`` or ``{"doc", "page", "expression", "value"}``
    (``"exact"``, when given, is preferred to ``"value"``: the unrounded result)."""

    def parse(_number: int, row: dict) -> CellLabel:
        text = str(row.get("exact", row["value"])).replace(",", "").replace(" ", "").replace("$", "")
        try:
            value = Decimal(text)
        except InvalidOperation as e:
            msg = f"value {row.get('exact', row['value'])!r} is not a number (write it in full: \"124963000000\")"
            raise ValueError(msg) from e
        if "expression" in row:
            return CellLabel(str(row["doc"]), int(row["page"]), value, expression=str(row["expression"]))
        return CellLabel(str(row["doc"]), int(row["page"]), value, str(row["row"]), str(row["column"]))

    return parse_lines(Path(path), parse, "JSON lines with 'doc', 'page', 'value' and 'row' and 'column' or 'expression'")


@dataclass(frozen=True)
class CellOutcome:
    label: CellLabel
    outcome: str
    """``right``, ``refused`` (a clear error), ``flagged`` (a wrong value marked needs review) or ``wrong``
    (a wrong value not flagged: the one outcome that must never happen)."""
    got: str = ""


@dataclass(frozen=True)
class CellScore(Report):
    """Cells and expressions named as users write them, computed over docagent's tables with their scale."""

    total: int
    right: int
    refused: int
    flagged: int
    wrong: int
    outcomes: list[CellOutcome] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "right": self.right, "refused": self.refused, "flagged": self.flagged,
                "wrong": self.wrong, "outcomes": [{"doc": o.label.doc, "page": o.label.page, "row": o.label.row,
                                                   "column": o.label.column, "expression": o.label.expression,
                                                   "want": str(o.label.value), "outcome": o.outcome, "got": o.got}
                                                  for o in self.outcomes]}

    def table(self) -> str:
        lines = [f"{'asked':>6} {'right':>6} {'refused':>8} {'flagged':>8} {'wrong':>6}",
                 f"{self.total:>6} {self.right:>6} {self.refused:>8} {self.flagged:>8} {self.wrong:>6}"]
        lines += [f"  {o.outcome}: {o.label.doc} p{o.label.page} {o.label.expression or (o.label.column, o.label.row)}: "
                  f"{o.got[:160]}" for o in self.outcomes if o.outcome != "right"][:12]
        return "\n".join(lines)


def _close(got: Fraction, want: Decimal) -> bool:
    """Equal; or, for a label written with decimals, equal at those decimals ("0.9816" is right for 0.98156...,
    "0.9" is not). A whole number must be equal."""
    exponent = want.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) else 0
    if places <= 0:
        return got == Fraction(want)
    scale = 10**places  # rounded to those decimals, or cut there (a long exact value written to 20 places)
    cut = places >= 8 and int(got * scale) == int(Fraction(want) * scale)
    return abs(got - Fraction(want)) <= Fraction(1, 2 * scale) or cut


def evaluate_cells(labels: Sequence[CellLabel], tables_of: Callable[[str, int], list[Table]]) -> CellScore:
    """Each label's cell or expression computed over ``tables_of(doc, page)`` as ``chart --expr`` computes it."""
    from docagent.errors import CalculationError, StoreError
    from docagent.tasks.calc import number_text
    from docagent.tasks.tables import compute

    outcomes = []
    for label in labels:
        expression = label.expression or f'cell("{label.column}", "{label.row}")'
        try:
            done = compute(expression, tables_of(label.doc, label.page))
        except (CalculationError, StoreError) as e:  # a page the document lacks is refused, the rest goes on
            outcomes.append(CellOutcome(label, "refused", str(e)))
            continue
        got = number_text(done.value)[:40] + (f" (needs review: {'; '.join(done.review)})" if done.review else "")
        outcome = "right" if _close(done.value, label.value) else "flagged" if done.review else "wrong"
        outcomes.append(CellOutcome(label, outcome, got))
    count = Counter(o.outcome for o in outcomes)
    return CellScore(len(outcomes), count["right"], count["refused"], count["flagged"], count["wrong"], outcomes)
