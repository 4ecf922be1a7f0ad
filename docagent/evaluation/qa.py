"""Question-answering quality: answer accuracy, abstention precision/recall, citation page accuracy.

LABELS is JSON lines, one question per line (MMLongBench-Doc's qrels.jsonl has this shape)::

    {"qid": "q1", "question": "What is the invoice total?", "answer": "10,431.54",
     "scope": "invoice.pdf", "relevant": [{"doc": "invoice.pdf", "page": 1}]}

An answer of ``Not answerable`` (or empty) marks a question the documents do not answer.

Scoring, per question:
  * unanswerable: 1 when ``ask`` abstained, else 0 (exact);
  * a number (``1,234.5``, ``17.6%``, ``$12``): 1 when a number in the answer is within 5% of it (relaxed);
  * text: ANLS (normalised Levenshtein similarity, 0 below 0.5) of the answer against the label, or 1 when
    the label appears in the answer word for word (answers are sentences, labels are short);
  * an abstention on an answerable question scores 0.
Citation page accuracy: over questions with ``relevant`` pages, the share where a cited page is one of them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz.distance import Levenshtein
from tqdm import tqdm

from docagent.errors import DocagentError
from docagent.evaluation.report import Report
from docagent.evaluation.retrieval import parse_lines, relevant_pages
from docagent.types import Answer

__all__ = ["Label", "QAMetrics", "QAReport", "QAResult", "evaluate_qa", "load_labels", "score_answer"]

log = logging.getLogger(__name__)

_UNANSWERABLE = {"", "not answerable", "unanswerable", "none", "n/a"}
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_CITE = re.compile(r"\[\d{1,3}\]")


@dataclass(frozen=True)
class Label:
    qid: str
    question: str
    answer: str
    scope: str | None = None
    relevant: frozenset[tuple[str, int]] = frozenset()

    @property
    def answerable(self) -> bool:
        return self.answer.strip().lower() not in _UNANSWERABLE


def load_labels(path: str | Path) -> list[Label]:
    """The labelled questions of a JSON-lines file; malformed lines are skipped with a warning naming them."""
    def parse(number: int, row: dict) -> Label:
        answer = row["answer"]
        return Label(
            qid=str(row.get("qid", number)),
            question=str(row["question"]),
            answer=", ".join(map(str, answer)) if isinstance(answer, list) else str(answer),
            scope=row.get("scope"),
            relevant=relevant_pages(row),
        )

    return parse_lines(Path(path), parse, "JSON lines with 'question' and 'answer'")


def _numbers(text: str) -> list[float]:
    out = []
    for match in _NUMBER.findall(text):
        try:
            out.append(float(match.replace(",", "")))
        except ValueError:
            continue
    return out


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w%.\-]+", " ", text.lower()).split())


def score_answer(answer: Answer, label: Label) -> float:
    """0..1 for one answer (see the module docstring for the rules)."""
    if not label.answerable:
        return 1.0 if answer.abstained else 0.0
    if answer.abstained:
        return 0.0
    predicted = _CITE.sub(" ", answer.text)
    gold_numbers = _numbers(label.answer)
    gold_is_number = len(gold_numbers) == 1 and not re.sub(r"[\d.,%$€£\s\-]", "", label.answer)
    if gold_is_number:
        target = gold_numbers[0]
        tolerance = abs(target) * 0.05
        return 1.0 if any(abs(n - target) <= tolerance for n in _numbers(predicted)) else 0.0
    gold, said = _normal(label.answer), _normal(predicted)
    if gold and re.search(rf"(?<!\w){re.escape(gold)}(?!\w)", said):
        return 1.0
    similarity = Levenshtein.normalized_similarity(gold, said)
    return similarity if similarity >= 0.5 else 0.0


@dataclass(frozen=True)
class QAResult:
    """One question's answer and its score."""

    qid: str
    question: str
    gold: str
    """The labelled answer."""
    answer: str
    """What ``ask`` answered."""
    mode: str
    """``ask``'s mode (``vlm``, ``retrieval-only``; ``error`` when it raised)."""
    abstained: bool
    answerable: bool
    score: float
    """0..1 (:func:`score_answer`)."""
    cited: tuple[str, ...]
    """The cited pages as ``doc#page``, sorted."""
    citation_hit: bool | None
    """Whether a cited page is a labelled evidence page; None when the label names none."""


@dataclass(frozen=True)
class QAMetrics:
    questions: int
    answerable: int
    unanswerable: int
    accuracy: float
    """Mean :attr:`QAResult.score`."""
    abstention_precision: float
    abstention_recall: float
    with_evidence: int
    """Questions whose label names evidence pages: those that count for :attr:`citation_accuracy`."""
    citation_accuracy: float


@dataclass(frozen=True)
class QAReport(Report):
    """What ``docagent eval qa`` measures: the metrics and each question's result."""

    metrics: QAMetrics
    results: tuple[QAResult, ...]


def evaluate_qa(labels: Sequence[Label], answer: Callable[[str, list[str] | None], Answer],
                *, progress: bool = False) -> QAReport:
    """Ask every question (``answer(question, scope_docs)``) and score the answers."""
    rows: list[QAResult] = []
    for label in tqdm(labels, desc="questions", disable=not progress, unit="q"):
        try:
            result = answer(label.question, [label.scope] if label.scope else None)
        except DocagentError as e:
            log.warning("%s: %s", label.qid, e)
            result = Answer(label.question, "", "error", False, notice=str(e))
        cited = {(c.doc, c.page) for c in result.citations}
        rows.append(QAResult(
            qid=label.qid, question=label.question, gold=label.answer, answer=result.text,
            mode=result.mode, abstained=result.abstained, answerable=label.answerable,
            score=score_answer(result, label),
            cited=tuple(sorted(f"{d}#{p}" for d, p in cited)),
            citation_hit=bool(cited & label.relevant) if label.relevant else None,
        ))
    n = len(rows)
    abstained = [r for r in rows if r.abstained]
    unanswerable = [r for r in rows if not r.answerable]
    correct_abstentions = [r for r in abstained if not r.answerable]
    hits = [r.citation_hit for r in rows if r.citation_hit is not None]
    metrics = QAMetrics(
        questions=n,
        answerable=n - len(unanswerable),
        unanswerable=len(unanswerable),
        accuracy=sum(r.score for r in rows) / n if n else 0.0,
        abstention_precision=len(correct_abstentions) / len(abstained) if abstained else 0.0,
        abstention_recall=len(correct_abstentions) / len(unanswerable) if unanswerable else 0.0,
        with_evidence=len(hits),
        citation_accuracy=sum(hits) / len(hits) if hits else 0.0,
    )
    return QAReport(metrics, tuple(rows))
