"""Extraction quality: field-level precision, recall and F1 (normalised exact match) and grounding rate.

LABELS is JSON lines, one document per line, file paths relative to the labels file::

    {"file": "receipts/001.jpg", "fields": {"company": "OJC MARKETING SDN BHD", "date": "15/01/2019",
     "total": "193.00"}, "types": {"date": "date", "total": "decimal"}}

``types`` is optional (``str`` by default; also ``int``, ``float``, ``decimal``, ``date``, ``bool``) and
decides how values compare: numbers by value, dates by day, text after case, spacing and punctuation are
normalised. A null label means the field is absent: predicting a value for it costs precision.
Grounding rate: the share of predicted values that were found on the page (a box to point at). Unflagged
precision and recall: the same, counting only the values not flagged ``needs_review``.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from docagent.evaluation.report import Report
from docagent.evaluation.retrieval import parse_lines
from docagent.tasks.schema import TYPES, FieldSpec, coerce
from docagent.types import Extraction

__all__ = ["DocumentResult", "ExtractionLabel", "ExtractionMetrics", "ExtractionReport", "FieldCounts", "FieldResult",
           "evaluate_extraction", "load_extraction_labels", "same_value"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractionLabel:
    file: Path
    fields: dict[str, Any]
    types: dict[str, str] = field(default_factory=dict)

    @property
    def specs(self) -> list[FieldSpec]:
        return [FieldSpec(name, self.types.get(name, "str")) for name in self.fields]


def load_extraction_labels(path: str | Path) -> list[ExtractionLabel]:
    """The labelled documents of a JSON-lines file; malformed lines are skipped with a warning naming them."""
    path = Path(path)

    def parse(_number: int, row: dict) -> ExtractionLabel:
        types = dict(row.get("types") or {})
        bad = {k: v for k, v in types.items() if v not in TYPES}
        if bad or not isinstance(row["fields"], dict) or not row["fields"]:
            raise ValueError(f"unknown types {bad}" if bad else "'fields' must be a non-empty object")
        return ExtractionLabel((path.parent / row["file"]).resolve(), dict(row["fields"]), types)

    return parse_lines(path, parse, "JSON lines with 'file' and 'fields'")


def _text(value: Any) -> str:
    return "".join(re.findall(r"\w+", str(value).lower()))


def same_value(predicted: Any, gold: Any, kind: str = "str") -> bool:
    """Normalised exact match: by value for numbers and dates, else by their letters and digits (case, spacing
    and punctuation ignored)."""
    if predicted is None or gold is None:
        return predicted is None and gold is None
    if kind != "str":
        try:
            return bool(coerce(predicted, kind) == coerce(gold, kind))
        except ValueError:
            pass  # a label in a form the parser does not know: compare the text
    return _text(predicted) == _text(gold)


@dataclass(frozen=True)
class FieldResult:
    """One labelled field of one document."""

    gold: Any
    """The labelled value, as the labels file holds it (JSON); None: the field is absent."""
    predicted: Any
    """The extracted value as JSON (``FieldValue.to_json()["value"]``); None when nothing was extracted."""
    correct: bool


@dataclass(frozen=True)
class DocumentResult:
    """One labelled document: the extraction's errors and each labelled field."""

    file: str
    errors: list[str]
    fields: dict[str, FieldResult]


@dataclass(frozen=True)
class FieldCounts:
    """Values of one field over all documents: predicted, labelled (not null) and correct."""

    predicted: int
    gold: int
    correct: int


@dataclass(frozen=True)
class ExtractionMetrics:
    documents: int
    fields_gold: int
    fields_predicted: int
    fields_correct: int
    precision: float
    recall: float
    f1: float
    grounding_rate: float
    """The share of predicted values found on the page."""
    unflagged_precision: float
    """Precision over the values not flagged ``needs_review``."""
    unflagged_recall: float
    """Recall counting only the values not flagged ``needs_review``."""


@dataclass(frozen=True)
class ExtractionReport(Report):
    """What ``docagent eval extract`` measures: the metrics, counts per field, each document's result."""

    metrics: ExtractionMetrics
    per_field: dict[str, FieldCounts]
    results: tuple[DocumentResult, ...]


def evaluate_extraction(labels: Sequence[ExtractionLabel], run: Callable[[ExtractionLabel], Extraction],
                        *, progress: bool = False) -> ExtractionReport:
    """Extract every labelled document (``run(label)``) and score the fields."""
    predicted = gold = correct = grounded = sure = sure_correct = 0
    per_field: dict[str, Counter[str]] = {}
    rows: list[DocumentResult] = []
    for label in tqdm(labels, desc="documents", disable=not progress, unit="doc"):
        result = run(label)
        fields: dict[str, FieldResult] = {}
        for spec in label.specs:
            want = label.fields.get(spec.name)
            got = result.fields.get(spec.name)
            value = got.value if got is not None else None
            ok = value is not None and want is not None and same_value(value, want, spec.type)
            stats = per_field.setdefault(spec.name, Counter())
            stats["predicted"] += value is not None
            stats["gold"] += want is not None
            stats["correct"] += ok
            predicted += value is not None
            gold += want is not None
            correct += ok
            if got is not None and value is not None:
                grounded += got.grounded
                sure += not got.needs_review
                sure_correct += ok and not got.needs_review
            fields[spec.name] = FieldResult(want, got.to_json()["value"] if got else None, ok)
        rows.append(DocumentResult(str(label.file), result.errors, fields))
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    metrics = ExtractionMetrics(
        documents=len(labels), fields_gold=gold, fields_predicted=predicted, fields_correct=correct,
        precision=precision, recall=recall, f1=f1,
        grounding_rate=grounded / predicted if predicted else 0.0,
        unflagged_precision=sure_correct / sure if sure else 0.0, unflagged_recall=sure_correct / gold if gold else 0.0)
    counts = {name: FieldCounts(c["predicted"], c["gold"], c["correct"]) for name, c in per_field.items()}
    return ExtractionReport(metrics, counts, tuple(rows))
