"""Page-retrieval quality: recall@1/5/10 and MRR@10 over labelled questions.

QRELS is JSON lines, one question per line::

    {"qid": "q1", "question": "What was Q3 revenue?", "relevant": [{"doc": "report.pdf", "page": 2}],
     "scope": "report.pdf"}

``relevant`` pages are 1-based; a question counts as found at k when any relevant page is among the
top k pages. ``scope`` (optional: a document, or a list of documents) searches only within those.
``doc@1`` is the share of questions whose top page is in a document that holds a relevant page (did
search find the right document at all).
``kind`` (optional: a string, or a list of strings) groups questions for ``--by-kind`` breakdowns (the
document's type, the evidence's source). Questions with no relevant page are
skipped (they measure abstention, not retrieval) and counted in ``skipped``; so are malformed lines and
questions whose pages are not 1-based, each with a warning naming its line.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from docagent.errors import ConfigError, DocagentError
from docagent.evaluation.report import Report

__all__ = ["CUTOFFS", "Query", "RetrievalReport", "RetrievalScores", "evaluate_retrieval", "load_qrels", "score_by_kind", "score_rankings"]

CUTOFFS = (1, 5, 10)

log = logging.getLogger(__name__)
T = TypeVar("T")
M = TypeVar("M", bound=str)


@dataclass(frozen=True)
class Query:
    qid: str
    question: str
    relevant: frozenset[tuple[str, int]]
    scope: tuple[str, ...] = ()
    """The documents to search within (a label's ``scope``: one name or a list); empty: every document."""
    kinds: tuple[str, ...] = ()

    @property
    def docs(self) -> list[str] | None:
        """The documents to search within (a retriever's ``docs``); None: every document."""
        return list(self.scope) or None


def json_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of the non-blank lines of a labels file; ConfigError when it cannot be read."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        msg = f"cannot read {path} ({e.strerror or e})"
        raise ConfigError(msg) from e
    return ((number, line) for number, line in enumerate(lines, 1) if line.strip())


def parse_lines(path: Path, parse: Callable[[int, dict], T], needs: str) -> list[T]:
    """``parse(line number, row)`` for each JSON line of ``path``; a line that is not JSON or that ``parse``
    rejects (KeyError, TypeError, ValueError) is skipped with a warning naming it. ConfigError when no
    line is usable (``needs`` says what a line must hold)."""
    items = []
    for number, line in json_lines(path):
        try:
            items.append(parse(number, json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            log.warning("%s line %d skipped: %s", path.name, number, e)
    if not items:
        msg = f"{path} holds nothing usable ({needs})"
        raise ConfigError(msg)
    return items


def relevant_pages(row: dict) -> frozenset[tuple[str, int]]:
    """The ``relevant`` pages of a labels row as ``(doc, page)`` pairs."""
    return frozenset((str(r["doc"]), int(r["page"])) for r in row.get("relevant") or [])


def scope_of(row: dict) -> tuple[str, ...]:
    """The documents a labels row's ``scope`` names (a name, or a list of names; none: every document).
    TypeError for anything else."""
    scope = row.get("scope")
    if scope is None or isinstance(scope, str):
        return (scope,) if scope else ()
    if isinstance(scope, list) and all(isinstance(doc, str) and doc for doc in scope):
        return tuple(dict.fromkeys(scope))
    msg = f"the scope must be a document name or a list of document names, not {json.dumps(scope)}"
    raise TypeError(msg)


def load_qrels(path: str | Path) -> tuple[list[Query], int]:
    """Questions with relevant pages, and how many lines were skipped. Raises ConfigError when the
    file cannot be read or holds no usable question."""
    path = Path(path)
    queries: list[Query] = []
    skipped = 0
    for number, line in json_lines(path):
        where = f"{path.name} line {number}"
        try:
            row = json.loads(line)
            question = row["question"]
            relevant = relevant_pages(row)
            scope = scope_of(row)
            if not isinstance(question, str) or not question.strip():
                raise ValueError("the question is empty")
            if any(page < 1 for _, page in relevant):
                raise ValueError("pages are 1-based")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            log.warning('%s skipped: expected {"qid", "question", "relevant": [{"doc", "page"}], "scope"?} (%s)', where, e)
            skipped += 1
            continue
        if not relevant:
            skipped += 1
            continue
        kind = row.get("kind") or ()
        kinds = (kind,) if isinstance(kind, str) else tuple(str(k) for k in kind)
        queries.append(Query(str(row.get("qid", number)), question, relevant, scope, kinds))
    if not queries:
        msg = f"{path} has no question with relevant pages"
        raise ConfigError(msg)
    return queries, skipped


@dataclass(frozen=True)
class RetrievalScores:
    """How well the ranked pages of some questions found their relevant pages."""

    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr_at_10: float
    doc_at_1: float
    """The share of questions whose top page is in a document that holds a relevant page."""
    questions: int
    """Questions scored."""
    by_kind: dict[str, RetrievalScores] | None = None
    """The same scores for each kind of question (``--by-kind``); None when not asked for."""

    def recall_at(self, cutoff: int) -> float:
        return {1: self.recall_at_1, 5: self.recall_at_5, 10: self.recall_at_10}[cutoff]

    def to_json(self) -> dict[str, Any]:
        """``{"recall@1", "recall@5", "recall@10", "mrr@10", "doc@1"}``, with ``by_kind`` when it was asked for
        (each kind's scores with ``questions``)."""
        out: dict[str, Any] = {"recall@1": self.recall_at_1, "recall@5": self.recall_at_5, "recall@10": self.recall_at_10,
                               "mrr@10": self.mrr_at_10, "doc@1": self.doc_at_1}
        if self.by_kind is not None:
            out["by_kind"] = {kind: {**s.to_json(), "questions": float(s.questions)} for kind, s in self.by_kind.items()}
        return out


@dataclass(frozen=True)
class RetrievalReport(Report):
    """What ``docagent eval retrieval`` measures: each ranking mode's scores over the same questions."""

    questions: int
    modes: dict[str, RetrievalScores]

    def to_json(self) -> dict[str, Any]:
        return {"questions": self.questions, "modes": {mode: s.to_json() for mode, s in self.modes.items()}}


def score_rankings(rankings: Iterable[tuple[Query, Sequence[tuple[str, int]]]]) -> RetrievalScores:
    """recall@1/5/10, mrr@10 and doc@1 from each question's ranked ``(doc, page)`` list."""
    n = 0
    hits = dict.fromkeys(CUTOFFS, 0)
    rr = 0.0
    doc_hits = 0
    for query, ranked in rankings:
        n += 1
        doc_hits += bool(ranked) and ranked[0][0] in {doc for doc, _ in query.relevant}
        first = next((i for i, key in enumerate(ranked[:10], 1) if key in query.relevant), None)
        if first is not None:
            rr += 1.0 / first
            for cutoff in CUTOFFS:
                hits[cutoff] += first <= cutoff
    if n == 0:
        return RetrievalScores(0.0, 0.0, 0.0, 0.0, 0.0, 0)
    return RetrievalScores(hits[1] / n, hits[5] / n, hits[10] / n, rr / n, doc_hits / n, n)


def score_by_kind(rankings: Sequence[tuple[Query, Sequence[tuple[str, int]]]]) -> dict[str, RetrievalScores]:
    """:func:`score_rankings` for each ``kind`` the questions carry (a question with several kinds counts in
    each)."""
    groups: dict[str, list[tuple[Query, Sequence[tuple[str, int]]]]] = {}
    for query, ranked in rankings:
        for kind in query.kinds or ("(none)",):
            groups.setdefault(kind, []).append((query, ranked))
    return {kind: score_rankings(rows) for kind, rows in sorted(groups.items())}


def evaluate_retrieval(
    queries: Sequence[Query],
    search: Callable[[Query, M], Sequence[tuple[str, int]]],
    modes: Sequence[M],
    *,
    known_docs: set[str] | None = None,
    progress: bool = False,
    by_kind: bool = False,
) -> RetrievalReport:
    """Score ``search(query, mode) -> ranked (doc, page)`` for each mode; with ``by_kind`` each mode's
    scores also hold ``by_kind``: the same scores for each kind of question."""
    if known_docs is not None:
        wanted = {doc for q in queries for doc in q.docs or ()} | {doc for q in queries for doc, _ in q.relevant}
        missing = sorted(wanted - known_docs)
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            msg = f"the labels name documents that are not indexed: {', '.join(missing[:5])}{more}; index them first with `docagent index`"
            raise DocagentError(msg)
    results: dict[str, RetrievalScores] = {}
    for mode in modes:
        bar = tqdm(queries, desc=f"eval {mode}", unit="q", disable=None if progress else True)
        rankings = [(q, search(q, mode)) for q in bar]
        scores = score_rankings(rankings)
        results[mode] = dataclasses.replace(scores, by_kind=score_by_kind(rankings)) if by_kind else scores
    return RetrievalReport(len(queries), results)
