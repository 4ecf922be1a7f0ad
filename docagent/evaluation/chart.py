"""Chart QA quality: chart-to-table accuracy (cells within ±5%) and relaxed answer accuracy.

LABELS is JSON lines, paths relative to the file (``../shared/data/chartqa/chartqa_qa.jsonl`` has this shape)::

    {"image": "png/two_col_102007.png", "table": "tables/two_col_102007.csv",
     "query": "What was the turnover in 2016?", "label": "2094.6"}

``table`` (a ChartQA CSV) is optional; without it only answers are scored. An answer is right when it is
within 5% of a numeric label (ChartQA's relaxed accuracy) or equals a text label after normalising.
Table accuracy: the share of the true table's numeric cells found in the transcription (same category and
series, case and spacing ignored; a single-series chart matches on category alone) within 5%.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from docagent.evaluation.report import Report
from docagent.evaluation.retrieval import parse_lines
from docagent.tasks.chart import ChartAnswer, ChartTable, table_from_csv

__all__ = ["ChartLabel", "ChartMetrics", "ChartReport", "ChartResult", "evaluate_chart", "load_chart_labels", "relaxed_match", "table_accuracy"]


@dataclass(frozen=True)
class ChartLabel:
    image: Path
    query: str
    label: str
    table: Path | None = None


def load_chart_labels(path: str | Path) -> list[ChartLabel]:
    path = Path(path)

    def parse(_number: int, row: dict) -> ChartLabel:
        table = row.get("table")
        return ChartLabel((path.parent / row["image"]).resolve(), str(row["query"]), str(row["label"]),
                          (path.parent / table).resolve() if table else None)

    return parse_lines(path, parse, "JSON lines with 'image', 'query' and 'label'")


def _key(text: str) -> str:
    return "".join(re.findall(r"\w+", text.lower()))


def _number(text: str) -> float | None:
    cleaned = re.sub(r"[^\d.\-]", "", str(text).replace(",", ""))
    try:
        return float(cleaned)
    except ValueError:
        return None


def relaxed_match(answer: str | float | None, label: str) -> bool:
    """ChartQA's relaxed accuracy: within 5% of a numeric label, else equal after normalising."""
    if answer is None:
        return False
    gold = _number(label) if re.fullmatch(r"\s*-?[\d,.]+\s*%?\s*", label) else None
    if gold is not None:
        got = answer if isinstance(answer, float) else _number(str(answer))
        return got is not None and (abs(got - gold) <= abs(gold) * 0.05 if gold else got == 0)
    return _key(str(answer)) == _key(label)


def table_accuracy(predicted: ChartTable | None, truth: ChartTable) -> float:
    true_cells = truth.cells()
    if not true_cells:
        return 0.0
    if predicted is None:
        return 0.0
    got = {(_key(s), _key(c)): v for (s, c), v in predicted.cells().items()}
    by_category = {_key(c): v for (_, c), v in predicted.cells().items()} if len(truth.series) == 1 else {}
    hits = 0
    for (series, category), value in true_cells.items():
        mine = got.get((_key(series), _key(category)), by_category.get(_key(category)))
        hits += mine is not None and abs(mine - value) <= abs(value) * 0.05
    return hits / len(true_cells)


@dataclass(frozen=True)
class ChartResult:
    """One chart question's answer and its scores."""

    image: str
    query: str
    label: str
    answer: str
    expression: str
    error: str
    correct: bool
    """Within 5% of a numeric label, or equal to a text label (:func:`relaxed_match`)."""
    table_accuracy: float | None
    """:func:`table_accuracy` of the transcription; None when the label has no table."""


@dataclass(frozen=True)
class ChartMetrics:
    questions: int
    relaxed_accuracy: float
    table_accuracy: float
    """Mean over the questions whose label has a table."""
    tables_scored: int


@dataclass(frozen=True)
class ChartReport(Report):
    """What ``docagent eval chart`` measures: the metrics and each question's result."""

    metrics: ChartMetrics
    results: tuple[ChartResult, ...]


def evaluate_chart(labels: Sequence[ChartLabel], run: Callable[[ChartLabel], ChartAnswer],
                   *, progress: bool = False) -> ChartReport:
    rows: list[ChartResult] = []
    for label in tqdm(labels, desc="charts", disable=not progress, unit="q"):
        answer = run(label)
        truth = table_from_csv(label.table.read_text(encoding="utf-8")) if label.table else None
        rows.append(ChartResult(
            image=str(label.image), query=label.query, label=label.label, answer=answer.text,
            expression=answer.expression, error=answer.error,
            correct=relaxed_match(float(answer.value) if answer.value is not None else None, label.label),
            table_accuracy=table_accuracy(answer.table, truth) if truth else None,
        ))
    scored_tables = [r.table_accuracy for r in rows if r.table_accuracy is not None]
    metrics = ChartMetrics(
        questions=len(rows),
        relaxed_accuracy=sum(r.correct for r in rows) / len(rows) if rows else 0.0,
        table_accuracy=sum(scored_tables) / len(scored_tables) if scored_tables else 0.0,
        tables_scored=len(scored_tables),
    )
    return ChartReport(metrics, tuple(rows))
