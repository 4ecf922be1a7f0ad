"""Word search over the catalog's passages and cards: BM25 and the term statistics that abstention and misspelling
matching use. It lives in the catalog's own database and is written in the catalog's transactions, so it can never
drift from the passages it indexes.

:class:`Fts5Lexical` is SQLite's FTS5 (the embedded default); the PostgreSQL catalog has its own
(:class:`docagent.index.postgres.PostgresLexical`: BM25 computed in SQL from a postings table, with the same formula
and constants as FTS5's). Both pass :class:`docagent.testing.catalog.LexicalContract`.
"""

from __future__ import annotations

import abc
import difflib
import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from docagent.errors import StoreError
from docagent.index.vectors import EVERYWHERE, SearchScope

__all__ = ["Fts5Lexical", "Lexical", "LexicalHit", "Sql", "TermStats", "best_near"]


Row = tuple[Any, ...]
"""A row of a query's result: its columns' values, of whatever type each column holds."""


class Cursor(Protocol):
    def fetchone(self) -> Row | None: ...

    def fetchall(self) -> list[Row]: ...

    def __iter__(self) -> Iterator[Row]: ...


class Sql(Protocol):
    """A connection the catalog's SQL runs on (``?`` placeholders): sqlite3's, or the PostgreSQL catalog's wrapper."""

    def execute(self, sql: str, parameters: Sequence[object] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[object]], /) -> object: ...


@dataclass(frozen=True)
class TermStats:
    """How common some words are in a store: ``holding[term]`` of ``passages`` passages hold each."""

    passages: int
    holding: dict[str, int]
    near: dict[str, str] = field(default_factory=dict)
    """A word no passage holds -> the store's word it is most likely a misspelling of ("netfilx" -> "netflix",
    as the index stems it)."""

    def idf(self, term: str) -> float:
        """BM25's IDF, ``ln(1 + (N - n + 0.5) / (n + 0.5))``: a word no passage holds weighs most."""
        n = self.holding.get(term, 0)
        return math.log(1 + (self.passages - n + 0.5) / (n + 0.5))


@dataclass(frozen=True)
class LexicalHit:
    """A passage BM25 found (:meth:`Lexical.search`)."""

    doc_id: str
    page: int
    start: int
    """Where the passage starts in its page's text."""
    end: int
    """Where it ends (exclusive)."""
    bm25: float
    """The BM25 score as FTS5 gives it: negative, lower is better."""


class Lexical(abc.ABC):
    """The lexical index of one catalog. Writes take the connection of the catalog's open transaction; reads use
    ``reader()``, the catalog's connection for the calling thread."""

    seconds: float = 0.0
    """Time spent writing the index (part of indexing's "write")."""

    def __init__(self, reader: Callable[[], Sql]) -> None:
        self.reader = reader
        self.seconds = 0.0

    @abc.abstractmethod
    def add(self, db: Sql, rows: Sequence[tuple[int, str]]) -> None:
        """Index passages ``(id, text)``; the text is what the words are found in (the context line and the passage)."""

    @abc.abstractmethod
    def add_card(self, db: Sql, doc_id: str, names: str, about: str) -> None:
        """Index a document's card words (replacing any): ``names`` (one name a line), ``about`` (kind, periods...)."""

    @abc.abstractmethod
    def remove(self, db: Sql, doc_id: str) -> None:
        """Drop a document version's passages and card from the index (before its passage rows go)."""

    @abc.abstractmethod
    def search(self, terms: list[str], n: int, scope: SearchScope = EVERYWHERE, *, budget: int = 20_000) -> list[LexicalHit]:
        """BM25 over the passages in ``scope`` of ready documents, best first. Terms are taken rarest first while
        their postings fit in ``budget`` (at least two terms)."""

    @abc.abstractmethod
    def term_stats(self, terms: Iterable[str]) -> TermStats:
        """How many passages of the store hold each term (stemmed as the index stems), of how many; for a few words
        none holds, the indexed word they most likely misspell."""

    @abc.abstractmethod
    def card_count(self) -> int: ...

    @abc.abstractmethod
    def card_hits(self, column: str, term: str, limit: int) -> list[str]:
        """Up to ``limit`` documents whose card holds ``term`` among its ``names`` or ``about`` words."""

    @abc.abstractmethod
    def card_names(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """Each card's names text (one name a line)."""

    @abc.abstractmethod
    def card_near(self, term: str) -> str:
        """The word of the cards' names that ``term`` most likely misspells ("Neflix": ``netflix``; see
        :func:`best_near`), "" when none is close."""


def best_near(term: str, vocabulary: Iterable[tuple[str, int]]) -> tuple[str, int]:
    """The word of ``vocabulary`` (word, passages holding it) that ``term`` most likely misspells: spelled at least 80%
    alike (compared over the word's length); none when none is close."""
    scored = [(difflib.SequenceMatcher(None, term[: len(word) + 1], word).ratio(), n, word) for word, n in vocabulary]
    best = max(scored, default=(0.0, 0, ""))
    return (best[2], best[1]) if best[0] >= 0.8 else ("", 0)


def near_bounds(term: str) -> tuple[str, str, int, int] | None:
    """The vocabulary a misspelling is looked for in: same first two letters, five letters or more and at most two
    fewer or more; none for short words and words with other characters than letters."""
    if len(term) < 6 or not term.isalpha():
        return None
    return term[:2], term[:2] + "\uffff", max(5, len(term) - 2), len(term) + 2


def _quoted(term: str) -> str:
    return '"' + term.replace('"', "") + '"'


class Fts5Lexical(Lexical):
    """SQLite's FTS5: ``passages_fts`` (porter stemming, rowid = passages.id) and ``cards_fts`` (no stemming: "use" is
    not "US"), in the catalog's database."""

    def add(self, db: Sql, rows: Sequence[tuple[int, str]]) -> None:
        t0 = time.perf_counter()
        db.executemany("INSERT INTO passages_fts(rowid, text) VALUES (?, ?)", rows)
        self.seconds += time.perf_counter() - t0

    def add_card(self, db: Sql, doc_id: str, names: str, about: str) -> None:
        db.execute("DELETE FROM cards_fts WHERE doc_id = ?", (doc_id,))
        db.execute("INSERT INTO cards_fts(doc_id, names, about) VALUES (?, ?, ?)", (doc_id, names, about))

    def remove(self, db: Sql, doc_id: str) -> None:
        db.execute("DELETE FROM cards_fts WHERE doc_id = ?", (doc_id,))
        db.execute("DELETE FROM passages_fts WHERE rowid IN (SELECT id FROM passages WHERE doc_id = ?)", (doc_id,))

    def card_count(self) -> int:
        row = self.reader().execute("SELECT count(*) FROM cards_fts").fetchone()
        return int(row[0]) if row else 0

    def card_hits(self, column: str, term: str, limit: int) -> list[str]:
        try:
            return [r[0] for r in self.reader().execute("SELECT doc_id FROM cards_fts WHERE cards_fts MATCH ? LIMIT ?",
                                                        (f"{column} : {_quoted(term)}", limit))]
        except sqlite3.OperationalError as e:
            msg = f"document search failed for {term!r} ({e})"
            raise StoreError(msg) from e

    def card_names(self, doc_ids: Sequence[str]) -> dict[str, str]:
        marks = ",".join("?" * len(doc_ids))
        return dict(self.reader().execute(f"SELECT doc_id, names FROM cards_fts WHERE doc_id IN ({marks})", list(doc_ids)).fetchall())

    def card_near(self, term: str) -> str:
        bounds = near_bounds(term)
        if bounds is None:
            return ""
        db = self.reader()
        db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.cards_vocab USING fts5vocab(main, cards_fts, col)")
        rows = db.execute("SELECT term, doc FROM temp.cards_vocab WHERE col = 'names' AND term >= ? AND term < ? "
                          "AND length(term) BETWEEN ? AND ?", bounds).fetchall()
        return best_near(term, rows)[0]

    def term_stats(self, terms: Iterable[str]) -> TermStats:
        db = self.reader()
        # the passages table holds one row a passage as passages_fts does (written and removed together): counting
        # its b-tree takes 1 ms at 100,000 passages, counting the FTS5 table reads every row's text (28 ms)
        row = db.execute("SELECT count(*) FROM passages").fetchone()
        total = int(row[0]) if row else 0
        holding = {}
        for term in terms:
            try:
                found = db.execute("SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?", [_quoted(term)]).fetchone()
                holding[term] = int(found[0]) if found else 0
            except sqlite3.OperationalError:
                holding[term] = 0
        near = {}
        for term in [t for t, n in holding.items() if not n][:5]:  # a few: a long question cannot make this slow
            bounds = near_bounds(term)
            if bounds is None:
                continue
            db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.passages_vocab USING fts5vocab(main, passages_fts, row)")
            rows = db.execute("SELECT term, doc FROM temp.passages_vocab WHERE term >= ? AND term < ? AND length(term) "
                              "BETWEEN ? AND ?", bounds).fetchall()
            word, n = best_near(term, rows)
            if word:
                near[term], holding[word] = word, n
        return TermStats(total, holding, near)

    def search(self, terms: list[str], n: int, scope: SearchScope = EVERYWHERE, *, budget: int = 20_000) -> list[LexicalHit]:
        db = self.reader()
        bounds = ""
        bound_args: list[object] = []
        doc_ids = list(scope.doc_ids) if scope.doc_ids is not None else None
        if doc_ids == []:
            return []
        if doc_ids is not None:
            # a document version's passages have consecutive ids: FTS5 skips straight to them
            row = db.execute(f"SELECT min(id), max(id) FROM passages WHERE doc_id IN ({','.join('?' * len(doc_ids))})",
                             doc_ids).fetchone()
            if row is None or row[0] is None:
                return []
            bounds, bound_args = " AND passages_fts.rowid BETWEEN ? AND ?", [row[0], row[1]]
        counted = []
        for q in [_quoted(t) for t in terms]:
            found = db.execute(f"SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?{bounds}", [q, *bound_args]).fetchone()
            if found and found[0]:
                counted.append((int(found[0]), q))
        keep: list[str] = []
        postings = 0
        for df, q in sorted(counted):
            if len(keep) >= 2 and postings + df > budget:
                break
            keep.append(q)
            postings += df
        if not keep:
            return []
        match = " OR ".join(keep)
        if scope.pages is None and scope.ocr is None and scope.kind is None:
            return self._top(match, n, bounds, bound_args, doc_ids)
        sql = [
            'SELECT p.doc_id, p.page, p.start, p."end", bm25(passages_fts) AS score',
            "FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid JOIN documents d ON d.doc_id = p.doc_id",
        ]
        where = ["passages_fts MATCH ?" + bounds, "d.status = 'ready'"]
        args: list[object] = [match, *bound_args]
        if doc_ids is not None:
            where.append(f"p.doc_id IN ({','.join('?' * len(doc_ids))})")
            args += doc_ids
        if scope.pages is not None:
            where.append("p.page BETWEEN ? AND ?")
            args += list(scope.pages)
        if scope.ocr is not None:
            sql.append("JOIN pages g ON g.doc_id = p.doc_id AND g.page = p.page")
            where.append("g.ocr = ?")
            args.append(int(scope.ocr))
        if scope.kind is not None:
            where.append("d.kind = ?")
            args.append(scope.kind)
        sql.append("WHERE " + " AND ".join(where) + " ORDER BY score LIMIT ?")
        args.append(n)
        try:
            return [LexicalHit(*row) for row in db.execute(" ".join(sql), args).fetchall()]
        except sqlite3.OperationalError as e:
            msg = f"lexical search failed for {terms!r} ({e})"
            raise StoreError(msg) from e

    def _top(self, match: str, n: int, bounds: str, bound_args: list[object], doc_ids: list[str] | None) -> list[LexicalHit]:
        """Rank in the FTS table alone, then look up only the winners (a join before the sort would
        touch every matching passage)."""
        db = self.reader()
        top = db.execute(
            f"SELECT rowid, bm25(passages_fts) AS score FROM passages_fts WHERE passages_fts MATCH ?{bounds} ORDER BY score LIMIT ?",
            [match, *bound_args, 2 * n],
        ).fetchall()
        if not top:
            return []
        ids = [r[0] for r in top]
        rows = db.execute(
            f'SELECT p.id, p.doc_id, p.page, p.start, p."end" FROM passages p JOIN documents d ON d.doc_id = p.doc_id '
            f"WHERE d.status = 'ready' AND p.id IN ({','.join('?' * len(ids))})",
            ids,
        ).fetchall()
        allowed = set(doc_ids) if doc_ids is not None else None
        found = {pid: (doc_id, page, start, end) for pid, doc_id, page, start, end in rows
                 if allowed is None or doc_id in allowed}
        return [LexicalHit(*found[pid], bm25=score) for pid, score in top if pid in found][:n]
