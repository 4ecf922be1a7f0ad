"""The store's catalog: documents, pages (text, word boxes, widgets) and passages, in SQLite.

A document row moves through ``indexing`` -> ``ready`` -> ``deleting``. Only ``ready`` documents
are visible. Rows of any other status are leftovers of an interrupted run, and
:meth:`PageStore.recover` removes them with everything they own, so a killed ``index`` leaves
nothing half-done behind once the next run starts.
"""

from __future__ import annotations

import abc
import json
import math
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from docagent.errors import StoreError
from docagent.index.lexical import Fts5Lexical, Lexical, LexicalHit, Sql, TermStats, near_bounds
from docagent.index.vectors import EVERYWHERE, SearchScope
from docagent.ingest.identity import CARD_VERSION
from docagent.types import DocumentCard, Page, ReportPeriod, Table, Widget, Word

__all__ = ["Catalog", "DatedDocument", "DocumentRecord", "JobRecord", "LexicalHit", "PageFields", "SqliteCatalog", "TermStats"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    source      TEXT NOT NULL,
    stored_file TEXT NOT NULL,
    kind        TEXT NOT NULL,
    pages       INTEGER NOT NULL DEFAULT 0,
    ocr_pages   INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL,
    indexed_at  REAL NOT NULL,
    parent      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS documents_name ON documents(name, status);
CREATE TABLE IF NOT EXISTS pages (
    doc_id  TEXT NOT NULL,
    page    INTEGER NOT NULL,
    width   REAL NOT NULL,
    height  REAL NOT NULL,
    scale   REAL NOT NULL,
    ocr     INTEGER NOT NULL,
    text    TEXT NOT NULL,
    words   TEXT NOT NULL,
    widgets TEXT NOT NULL,
    PRIMARY KEY (doc_id, page)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS passages (
    id     INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    page   INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    start  INTEGER NOT NULL,
    end    INTEGER NOT NULL,
    UNIQUE (doc_id, page, idx)
);
-- BM25 over the same passages as the vectors; rowid = passages.id. Being in this database, it is
-- written and removed in the same transactions as the passages, so it can never drift from them.
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(text, tokenize = 'porter unicode61 remove_diacritics 2');
-- Each document's card (what it says about itself, docagent.ingest.identity) and its words for ranking documents.
CREATE TABLE IF NOT EXISTS cards (doc_id TEXT PRIMARY KEY, version INTEGER NOT NULL, card TEXT NOT NULL);
-- names: file name words, organisations, parties; about: kind, periods, years. No stemming: "use" is not "US".
CREATE VIRTUAL TABLE IF NOT EXISTS cards_fts USING fts5(doc_id UNINDEXED, names, about, tokenize = 'unicode61 remove_diacritics 2');
-- The tables found on each page (docagent.ingest.tables), as Table.to_json(); idx is the table's index on its page.
-- Each page's title (its own, running headers left out) and the row labels and column headers of its tables: the
-- page's structure, which the retriever's second stage reads and search results show.
-- Each page's printed label ("50", "iv"), when it has one (docagent.types.Page.label).
CREATE TABLE IF NOT EXISTS page_labels (doc_id TEXT NOT NULL, page INTEGER NOT NULL, label TEXT NOT NULL,
                                        PRIMARY KEY (doc_id, page));
CREATE TABLE IF NOT EXISTS page_fields (
    doc_id TEXT NOT NULL,
    page   INTEGER NOT NULL,
    title  TEXT NOT NULL,
    labels TEXT NOT NULL,
    PRIMARY KEY (doc_id, page)
) WITHOUT ROWID;
-- Abbreviations a document defines ("property, plant and equipment (PP&E)"): short (lower case) -> long.
CREATE TABLE IF NOT EXISTS abbreviations (
    doc_id TEXT NOT NULL,
    short  TEXT NOT NULL,
    long   TEXT NOT NULL,
    PRIMARY KEY (doc_id, short)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tables (
    doc_id TEXT NOT NULL,
    page   INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    data   TEXT NOT NULL,
    PRIMARY KEY (doc_id, page, idx)
) WITHOUT ROWID;
-- Indexing jobs (the HTTP API's uploads): their state and progress, readable from any process (any API replica).
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
    data TEXT NOT NULL);
"""


@dataclass(frozen=True)
class DatedDocument:
    """A document whose card resolved the period it reports on."""

    name: str
    period: ReportPeriod
    organisations: tuple[str, ...]


@dataclass(frozen=True)
class PageFields:
    """What a page's structure says: its title and the row labels and column headers of its tables (one a line)."""

    page: int
    title: str
    labels: str


@dataclass(frozen=True)
class JobRecord:
    """An indexing job (an upload to the HTTP API): ``state`` is ``queued``, ``running``, ``done`` or ``failed``;
    ``data`` what its runner says of it (files, progress, the report)."""

    id: str
    state: str
    created: float
    updated: float
    data: dict[str, object]


def _job(row: Sequence[Any]) -> JobRecord:
    return JobRecord(str(row[0]), str(row[1]), float(row[2]), float(row[3]), json.loads(row[4]))


@dataclass(frozen=True)
class DocumentRecord:
    doc_id: str
    name: str
    sha256: str
    source: str
    stored_file: str
    kind: str
    pages: int
    ocr_pages: int
    status: str
    indexed_at: float
    parent: str = ""
    """Name of the document this one came inside (an e-mail, for its attachments); empty for files indexed
    directly. Removing the parent removes it."""

    def to_json(self) -> dict[str, object]:
        return {
            "doc": self.name,
            "kind": self.kind,
            "pages": self.pages,
            "ocr_pages": self.ocr_pages,
            "sha256": self.sha256,
            "source": self.source,
            "indexed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.indexed_at)),
            "attached_to": self.parent or None,
        }


def _words_to_json(words: Iterable[Word]) -> str:
    return json.dumps([[round(c, 2) for c in w.box] + [w.text] for w in words], ensure_ascii=False, separators=(",", ":"))


def _widgets_to_json(widgets: Iterable[Widget]) -> str:
    return json.dumps(
        [
            {"name": w.name, "type": w.type, "value": w.value, "box": [round(c, 2) for c in w.box], "label": w.label, "options": list(w.options)}
            for w in widgets
        ],
        ensure_ascii=False,
    )


# Words that only say what kind of body a name is ("Acme Holdings, Inc."): naming "Acme" names it whole.
_LEGAL_WORDS = frozenset(["inc", "incorporated", "corp", "corporation", "company", "co", "ltd", "limited", "llc", "l", "p", "lp", "llp", "plc", "ag", "gmbh", "sa", "nv", "se", "group", "holdings", "holding", "the", "of", "and", "for", "de"])


NEAR_NAMES = 5
"""At most this many of a question's names that no card holds are looked up as misspellings (a long question cannot
make routing slow)."""


def _name_match(names: str, idf: dict[str, float]) -> float:
    """The best of a card's names (one a line) for the query's name words ``idf``: the IDF of the words it holds,
    times the share of its own distinctive words they are."""
    best = 0.0
    for line in names.splitlines():
        core = {w for w in re.findall(r"[^\W_]+", line.lower()) if w not in _LEGAL_WORDS and (len(w) > 1 or w.isdigit())}
        found = core & idf.keys()
        if found:
            best = max(best, sum(idf[w] for w in found) * len(found) / len(core))
    return best


class _Reader:
    """One thread's reading connection, closed with the thread's locals."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __del__(self) -> None:
        self.conn.close()


class Catalog(abc.ABC):
    """Documents, pages, passages, cards, tables, the store's generation and its writer exclusion. The SQL here is
    shared by both engines (``?`` placeholders, upserts written as ``ON CONFLICT``); each engine gives its
    connections, its schema, the lexical index (:attr:`words`) and the exclusion. :class:`SqliteCatalog` is the
    embedded default; :class:`docagent.index.postgres.PostgresCatalog` serves many machines. Both pass
    :class:`docagent.testing.catalog.CatalogContract`."""

    words: Lexical
    """The lexical index of the passages and cards (docagent.index.lexical)."""
    location: str
    """Where the catalog is, for people: a file, or a server (its password left out)."""

    @property
    @abc.abstractmethod
    def db(self) -> Sql:
        """The connection writes go through (outside :meth:`transaction`, each statement commits alone)."""

    @abc.abstractmethod
    def reader(self) -> Sql:
        """A connection for reads beside the writer, the calling thread's own."""

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[Sql]:
        """One write transaction; inside another, part of it (committed or rolled back with it)."""

    @abc.abstractmethod
    def exclusive(self, timeout: float, on_wait: Callable[[], None]) -> AbstractContextManager[None]:
        """The right to write, held by one writer of the whole store at a time, on any machine; ``on_wait`` is called
        once when another writer holds it. Raises :class:`TimeoutError` after ``timeout`` seconds."""

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def _json(self, column: str, key: str) -> str:
        """SQL giving the JSON text of ``key`` in the JSON object ``column`` holds (NULL when absent or null)."""

    def upgrade(self, version: str, to: str) -> None:
        """Bring a catalog of layout ``version`` to ``to`` (only SQLite stores have older layouts)."""
        msg = f"the catalog at {self.location} has layout version {version}, which this engine cannot upgrade"
        raise StoreError(msg)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._periodic: tuple[int, dict[str, DatedDocument]] | None = None

    @property
    def lexical_seconds(self) -> float:
        """Time spent writing the lexical index."""
        return self.words.seconds

    # -- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.reader().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (key, value))

    def add_meta(self, values: dict[str, str]) -> None:
        """Set meta keys that are not set yet (two processes opening a new store at once agree on the first)."""
        for key, value in values.items():
            self.db.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING", (key, value))

    @staticmethod
    def _pending_key(doc_id: str) -> str:
        return f"attachments_pending:{doc_id}"

    def set_pending(self, doc_id: str, pending: bool) -> None:
        """Mark a document version whose attachments are not all indexed yet (an interrupted run leaves it so),
        or clear the mark once they all were tried."""
        if pending:
            self.set_meta(self._pending_key(doc_id), "attachments")
        else:
            self.db.execute("DELETE FROM meta WHERE key = ?", (self._pending_key(doc_id),))

    def pending(self, doc_id: str) -> bool:
        return self.get_meta(self._pending_key(doc_id)) is not None

    def generation(self) -> int:
        """How many times documents have been made visible or removed in this store, by any process: a reader
        holding state of its own (the embedded Chroma's index) reopens it when this has moved."""
        row = self.reader().execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _advance(db: Sql) -> None:
        db.execute("INSERT INTO meta(key, value) VALUES ('generation', '1') "
                   "ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)")

    # -- documents ----------------------------------------------------------------------------
    def documents(self, status: str | None = "ready") -> list[DocumentRecord]:
        if status is None:
            rows = self.reader().execute("SELECT * FROM documents ORDER BY name")
        else:
            rows = self.reader().execute("SELECT * FROM documents WHERE status = ? ORDER BY name", (status,))
        return [DocumentRecord(*row) for row in rows]

    def has_documents(self) -> bool:
        return self.reader().execute("SELECT 1 FROM documents WHERE status = 'ready' LIMIT 1").fetchone() is not None

    def document(self, name: str) -> DocumentRecord | None:
        row = self.reader().execute("SELECT * FROM documents WHERE name = ? AND status = 'ready'", (name,)).fetchone()
        return DocumentRecord(*row) if row else None

    def attached(self, parent: str) -> list[DocumentRecord]:
        """The ready documents that came inside ``parent`` (an e-mail's attachments), theirs too, in name order."""
        found, todo = [], [parent]
        while todo:
            rows = self.reader().execute("SELECT * FROM documents WHERE parent = ? AND status = 'ready' ORDER BY name",
                                         (todo.pop(),))
            children = [DocumentRecord(*row) for row in rows]
            found += children
            todo += [c.name for c in children]
        return found

    def rendering(self, sha256: str, kind: str, suffix: str) -> str | None:
        """The stored file of a ready document of this content and kind kept as a rendering whose name ends with
        ``suffix`` (``.r2.pdf``: made the way this docagent makes it)."""
        rows = self.reader().execute("SELECT stored_file FROM documents WHERE sha256 = ? AND kind = ? AND status = 'ready'",
                                     (sha256, kind)).fetchall()
        return next((r[0] for r in rows if r[0].endswith(suffix)), None)

    def document_by_id(self, doc_id: str) -> DocumentRecord | None:
        row = self.reader().execute("SELECT * FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return DocumentRecord(*row) if row else None

    def begin_document(self, rec: DocumentRecord) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM documents WHERE doc_id = ?", (rec.doc_id,))
            db.execute("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'indexing', ?, ?)",
                       (rec.doc_id, rec.name, rec.sha256, rec.source, rec.stored_file, rec.kind, 0, 0, rec.indexed_at, rec.parent))

    def add_pages(self, doc_id: str, pages: list[Page], spans: list[list[tuple[int, int]]], contexts: list[str] | None = None,
                  rows: list[list[tuple[int, int, str]]] | None = None) -> None:
        """Pages and their passages; each passage is searchable by its page's ``contexts`` line (the document's
        identity and section) as well as its own text. ``rows``: per page, passages of table rows ``(start, end,
        text)`` searched by ``text`` (the row with its headers) and shown as the page text's span."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO pages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (doc_id, p.number, p.width, p.height, p.image_scale, int(p.ocr), p.text, _words_to_json(p.words), _widgets_to_json(p.widgets))
                    for p in pages
                ],
            )
            db.executemany("INSERT INTO page_labels VALUES (?, ?, ?)", [(doc_id, p.number, p.label) for p in pages if p.label])
            extra = rows or [[] for _ in pages]
            passages = [[(start, end, p.text[start:end]) for start, end in sp] + ex
                        for p, sp, ex in zip(pages, spans, extra, strict=True)]
            records = [(doc_id, p.number, i, start, end) for p, ps in zip(pages, passages, strict=True)
                       for i, (start, end, _) in enumerate(ps)]
            lines = contexts or [""] * len(pages)
            texts = [f"{ctx}\n{text}" if ctx else text
                     for ps, ctx in zip(passages, lines, strict=True) for _, _, text in ps]
            row = db.execute("SELECT coalesce(max(id), 0) + 1 FROM passages").fetchone()
            first = int(row[0]) if row else 1
            db.executemany("INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?)", [(first + j, *rec) for j, rec in enumerate(records)])
            self.words.add(db, [(first + j, t) for j, t in enumerate(texts)])

    def commit_document(self, rec: DocumentRecord, pages: list[Page], spans: list[list[tuple[int, int]]], contexts: list[str],
                        rows: list[list[tuple[int, int, str]]], *, fields: Iterable[PageFields], tables: list[Table],
                        card: DocumentCard | None, card_words: tuple[str, str], abbreviations: dict[str, str],
                        ocr_pages: int, pending: bool) -> list[str]:
        """Every row of a begun document version (:meth:`begin_document`) and its switch to ``ready``, in one
        transaction. Returns the ids of older versions of its name, now marked ``deleting``."""
        with self.transaction():
            self.add_pages(rec.doc_id, pages, spans, contexts, rows)
            self.add_page_fields(rec.doc_id, fields)
            if tables:
                self.add_tables(rec.doc_id, tables)
            if card is not None:
                self.put_card(rec.doc_id, card, CARD_VERSION, card_words)
            self.add_abbreviations(rec.doc_id, abbreviations)
            if pending:
                self.set_pending(rec.doc_id, True)
            return self.finish_document(rec.doc_id, rec.name, len(pages), ocr_pages)

    def finish_document(self, doc_id: str, name: str, pages: int, ocr_pages: int) -> list[str]:
        """Make ``doc_id`` the visible version of ``name``, in one transaction. Returns the ids of
        older versions, now marked ``deleting``."""
        with self.transaction() as db:
            old = [r[0] for r in db.execute("SELECT doc_id FROM documents WHERE name = ? AND doc_id != ? AND status = 'ready'", (name, doc_id))]
            db.executemany("UPDATE documents SET status = 'deleting' WHERE doc_id = ?", [(o,) for o in old])
            db.execute(
                "UPDATE documents SET status = 'ready', pages = ?, ocr_pages = ?, indexed_at = ? WHERE doc_id = ?",
                (pages, ocr_pages, time.time(), doc_id),
            )
            self._advance(db)
        return old

    def mark_deleting(self, doc_id: str) -> None:
        self.db.execute("UPDATE documents SET status = 'deleting' WHERE doc_id = ?", (doc_id,))

    def unfinished(self) -> list[DocumentRecord]:
        rows = self.reader().execute("SELECT * FROM documents WHERE status != 'ready'")
        return [DocumentRecord(*row) for row in rows]

    def put_card(self, doc_id: str, card: DocumentCard, version: int, words: tuple[str, str]) -> None:
        """Store a document version's card (replacing any) and the words it is found by: ``(names, about)``."""
        with self.transaction() as db:
            db.execute("INSERT INTO cards VALUES (?, ?, ?) ON CONFLICT(doc_id) DO UPDATE SET version = excluded.version, "
                       "card = excluded.card", (doc_id, version, json.dumps(card.to_json(), ensure_ascii=False)))
            self.words.add_card(db, doc_id, *words)

    def card(self, doc_id: str) -> DocumentCard | None:
        row = self.reader().execute("SELECT card FROM cards WHERE doc_id = ?", (doc_id,)).fetchone()
        return DocumentCard.from_json(json.loads(row[0])) if row else None

    def cards(self) -> dict[str, DocumentCard]:
        """The card of every ready document that has one, by doc_id."""
        rows = self.reader().execute("SELECT c.doc_id, c.card FROM cards c JOIN documents d USING (doc_id) WHERE d.status = 'ready'")
        return {doc_id: DocumentCard.from_json(json.loads(card)) for doc_id, card in rows}

    def periodic(self) -> dict[str, DatedDocument]:
        """Every ready document whose card resolved a reporting period, by doc_id, with its name and organisations
        (what a question asking for "the latest" or "Q2 2023" is matched against). Read once per store generation."""
        generation = self.generation()
        with self._lock:
            if self._periodic is not None and self._periodic[0] == generation:
                return self._periodic[1]
        rows = self.reader().execute(
            f"SELECT c.doc_id, d.name, {self._json('c.card', 'period')}, {self._json('c.card', 'organisations')} "
            f"FROM cards c JOIN documents d USING (doc_id) WHERE d.status = 'ready' AND {self._json('c.card', 'period')} IS NOT NULL")
        found = {doc_id: DatedDocument(name, ReportPeriod.from_json(json.loads(period)), tuple(json.loads(orgs or "[]")))
                 for doc_id, name, period, orgs in rows}
        with self._lock:
            self._periodic = (generation, found)
        return found

    def identities(self, doc_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Each document's file name and the organisations its card names: the words that say whose it is."""
        wanted = list(dict.fromkeys(doc_ids))
        if not wanted:
            return {}
        rows = self.reader().execute(
            f"SELECT d.doc_id, d.name, {self._json('c.card', 'organisations')} FROM documents d LEFT JOIN cards c USING (doc_id) "
            f"WHERE d.doc_id IN ({','.join('?' * len(wanted))})", wanted)
        return {doc_id: (name, *json.loads(orgs or "[]")) for doc_id, name, orgs in rows}

    def card_version(self, doc_id: str) -> int | None:
        row = self.reader().execute("SELECT version FROM cards WHERE doc_id = ?", (doc_id,)).fetchone()
        return int(row[0]) if row else None

    def card_scores(self, terms: list[str], names: set[str] | frozenset[str] = frozenset()) -> dict[str, float]:
        """How well each ready document's card matches a query, 0-1 (documents matching nothing are left out).

        ``terms`` are the query's words; ``names`` those written as names (capitalised, upper-case or with a
        digit, and adjacent pairs run together: "Best Buy" also gives "bestbuy"). A word counts with its IDF over
        the cards, ``ln(1 + (N - n + 0.5) / (n + 0.5))`` for N cards, n of them holding it (BM25's, as Lucene
        smooths it): among a card's kind, periods and years any word counts; among its names (file name words,
        organisations, parties) only a name, and only as much as it covers of one name: "Activision Blizzard"
        covers "Activision Blizzard, Inc." whole, "Global" half of "HID Global Corporation". The score is this
        card's share of what the query names in any card, times the confidence that it names a document at all
        (all of it together against a word only one card holds, 1 at most). A name that no card and no passage
        holds counts as the card name it most likely misspells, if one is close (:meth:`Lexical.card_near`): an
        ordinary word ("Revenue", "Summarize") is printed somewhere and is left alone. A question whose only card word is
        one most cards share gets little; one naming a company and a year lifts the documents that say both."""
        if not terms and not names:
            return {}
        n_cards = self.words.card_count()

        def hits(column: str, term: str) -> tuple[list[str], float]:
            """The cards holding ``term`` in ``column``, and its IDF; none for a word most cards hold (its IDF
            is near 0, and fetching thousands of rows per query would cost more than it says)."""
            rows = self.words.card_hits(column, term, n_cards // 2 + 1)
            if len(rows) > n_cards // 2:
                return [], 0.0
            return rows, math.log(1 + (n_cards - len(rows) + 0.5) / (len(rows) + 0.5))

        scores: dict[str, float] = {}
        named = 0.0
        for term in terms:
            rows, idf = hits("about", term)
            if rows:
                named += idf
                for doc_id in rows:
                    scores[doc_id] = scores.get(doc_id, 0.0) + idf
        name_idf: dict[str, float] = {}
        holders: set[str] = set()
        unheld: list[str] = []
        for term in names:
            rows, idf = hits("names", term)
            if rows:
                name_idf[term] = idf
                holders.update(rows)
            elif near_bounds(term) is not None:  # long enough, letters only
                unheld.append(term)
        for term in unheld[:NEAR_NAMES]:  # a name no card and no passage holds ("Neflix"): the card name it misspells
            near = self.words.card_near(term)  # the cards' names are few: look there first, passages only for a near one
            if near and near != term and near not in _LEGAL_WORDS and not self.words.term_stats([term]).holding.get(term):
                rows, idf = hits("names", near)
                if rows:
                    name_idf[near] = idf
                    holders.update(rows)
        named += sum(name_idf.values())
        if holders:
            for doc_id, text in self.words.card_names(sorted(holders)).items():
                scores[doc_id] = scores.get(doc_id, 0.0) + _name_match(text, name_idf)
        if not named:
            return {}
        confidence = min(1.0, named / math.log(1 + (n_cards - 0.5) / 1.5))
        # a card is written just before its document is made ready and removed with it; the retriever keeps only
        # pages of ready documents, so a card of one still being indexed changes nothing
        return {doc_id: confidence * min(1.0, score / named) for doc_id, score in scores.items() if score > 0}

    # -- tables -------------------------------------------------------------------------------
    def add_page_fields(self, doc_id: str, fields: Iterable[PageFields]) -> None:
        """Pages' titles and table labels (see :class:`PageFields`)."""
        rows = [f for f in fields if f.title or f.labels]
        if not rows:
            return
        with self.transaction() as db:
            db.executemany("INSERT INTO page_fields VALUES (?, ?, ?, ?) ON CONFLICT(doc_id, page) DO UPDATE SET "
                           "title = excluded.title, labels = excluded.labels", [(doc_id, f.page, f.title, f.labels) for f in rows])

    def page_labels(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
        """The printed label of each ``(doc_id, page)`` that has one."""
        by_doc: dict[str, list[int]] = {}
        for doc_id, page in set(keys):
            by_doc.setdefault(doc_id, []).append(page)
        out: dict[tuple[str, int], str] = {}
        db = self.reader()
        for doc_id, pages in by_doc.items():
            marks = ",".join("?" * len(pages))
            for page, label in db.execute(f"SELECT page, label FROM page_labels WHERE doc_id = ? AND page IN ({marks})",
                                          (doc_id, *pages)):
                out[(doc_id, page)] = label
        return out

    def page_fields(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], PageFields]:
        """The title and table labels of each ``(doc_id, page)`` that has any."""
        by_doc: dict[str, list[int]] = {}
        for doc_id, page in keys:
            by_doc.setdefault(doc_id, []).append(page)
        out: dict[tuple[str, int], PageFields] = {}
        db = self.reader()
        for doc_id, pages in by_doc.items():  # one look-up of the primary key a document
            for i in range(0, len(pages), 500):
                part = pages[i : i + 500]
                sql = f"SELECT page, title, labels FROM page_fields WHERE doc_id = ? AND page IN ({','.join('?' * len(part))})"
                for page, title, labels in db.execute(sql, [doc_id, *part]):
                    out[(doc_id, page)] = PageFields(page, title, labels)
        return out

    def add_abbreviations(self, doc_id: str, found: dict[str, str]) -> None:
        """Abbreviations ``doc_id`` defines: short form (any case) -> long form."""
        if found:
            with self.transaction() as db:
                lowered = {short.lower(): long for short, long in found.items()}  # "PP&E" and "pp&e": one row
                db.executemany("INSERT INTO abbreviations VALUES (?, ?, ?) ON CONFLICT(doc_id, short) DO UPDATE SET "
                               "long = excluded.long", list((doc_id, short, long) for short, long in lowered.items()))

    def abbreviations(self, shorts: Iterable[str]) -> dict[str, str]:
        """The long form the most ready documents give each of ``shorts`` (lower case)."""
        wanted = sorted({s.lower() for s in shorts})
        if not wanted:
            return {}
        rows = self.reader().execute(
            f"SELECT a.short, min(a.long) AS long, count(*) AS n FROM abbreviations a JOIN documents d ON d.doc_id = a.doc_id "
            f"WHERE d.status = 'ready' AND a.short IN ({','.join('?' * len(wanted))}) GROUP BY a.short, lower(a.long) "
            "ORDER BY a.short, n DESC, long", wanted).fetchall()
        out: dict[str, str] = {}
        for short, long, _ in rows:
            out.setdefault(short, long)
        return out

    def add_tables(self, doc_id: str, tables: Iterable[Table]) -> None:
        """Store tables found on a document version's pages (replacing any with the same page and index)."""
        with self.transaction() as db:
            db.executemany("INSERT INTO tables VALUES (?, ?, ?, ?) ON CONFLICT(doc_id, page, idx) DO UPDATE SET data = excluded.data",
                           [(doc_id, t.page, t.index, json.dumps(t.to_json(), ensure_ascii=False)) for t in tables])

    def tables(self, doc_id: str, page: int | None = None) -> list[Table]:
        """The tables of a document version, page by page (of one page when ``page`` is given), in order."""
        if page is None:
            rows = self.reader().execute("SELECT data FROM tables WHERE doc_id = ? ORDER BY page, idx", (doc_id,))
        else:
            rows = self.reader().execute("SELECT data FROM tables WHERE doc_id = ? AND page = ? ORDER BY idx",
                                         (doc_id, page))
        return [Table.from_json(json.loads(r[0])) for r in rows]

    def table_pages(self, doc_ids: Iterable[str]) -> set[tuple[str, int]]:
        """``(doc_id, page)`` of the pages among these documents' that hold a table."""
        ids = list(set(doc_ids))
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {(d, p) for d, p in self.reader().execute(
            f"SELECT DISTINCT doc_id, page FROM tables WHERE doc_id IN ({marks})", ids)}

    def delete_document(self, doc_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM tables WHERE doc_id = ?", (doc_id,))
            db.execute("DELETE FROM page_fields WHERE doc_id = ?", (doc_id,))
            db.execute("DELETE FROM page_labels WHERE doc_id = ?", (doc_id,))
            db.execute("DELETE FROM abbreviations WHERE doc_id = ?", (doc_id,))
            self.words.remove(db, doc_id)
            db.execute("DELETE FROM cards WHERE doc_id = ?", (doc_id,))
            db.execute("DELETE FROM passages WHERE doc_id = ?", (doc_id,))
            db.execute("DELETE FROM pages WHERE doc_id = ?", (doc_id,))
            db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
            db.execute("DELETE FROM meta WHERE key = ?", (self._pending_key(doc_id),))
            self._advance(db)

    def all_doc_ids(self) -> set[str]:
        return {r[0] for r in self.reader().execute("SELECT doc_id FROM documents")}

    def ready_ids(self, doc_ids: Iterable[str]) -> dict[str, str]:
        """``{doc_id: name}`` for those of ``doc_ids`` that are ready."""
        ids = list(set(doc_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.reader().execute(f"SELECT doc_id, name FROM documents WHERE status = 'ready' AND doc_id IN ({marks})", ids)
        return dict(rows.fetchall())

    # -- pages --------------------------------------------------------------------------------
    def page(self, doc_id: str, number: int) -> Page | None:
        row = self.reader().execute(
            "SELECT d.name, p.width, p.height, p.scale, p.ocr, p.text, p.words, p.widgets, f.title, l.label "
            "FROM pages p JOIN documents d USING (doc_id) "
            "LEFT JOIN page_fields f ON f.doc_id = p.doc_id AND f.page = p.page "
            "LEFT JOIN page_labels l ON l.doc_id = p.doc_id AND l.page = p.page WHERE p.doc_id = ? AND p.page = ?",
            (doc_id, number),
        ).fetchone()
        if row is None:
            return None
        name, width, height, scale, ocr, text, words, widgets, title, label = row
        return Page(
            doc=name,
            number=number,
            width=width,
            height=height,
            text=text,
            words=[Word(w[4], (w[0], w[1], w[2], w[3])) for w in json.loads(words)],
            widgets=[Widget(w["name"], w["type"], w["value"], tuple(w["box"]), w["label"], tuple(w["options"])) for w in json.loads(widgets)],
            ocr=bool(ocr),
            image_scale=scale,
            title=title or "",
            label=label or "",
        )

    def page_text(self, doc_id: str, number: int) -> str:
        row = self.reader().execute("SELECT text FROM pages WHERE doc_id = ? AND page = ?", (doc_id, number)).fetchone()
        return row[0] if row else ""

    def spans(self, doc_id: str) -> dict[int, list[tuple[int, int]]]:
        """Each page's passage spans, in order."""
        out: dict[int, list[tuple[int, int]]] = {}
        for page, start, end in self.reader().execute('SELECT page, start, "end" FROM passages WHERE doc_id = ? ORDER BY page, idx', (doc_id,)):
            out.setdefault(page, []).append((start, end))
        return out

    # -- jobs -----------------------------------------------------------------------------------
    def put_job(self, job: JobRecord) -> None:
        """Write a job's state (creating it, or replacing what it said before)."""
        self.db.execute("INSERT INTO jobs VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state, "
                        "updated = excluded.updated, data = excluded.data",
                        (job.id, job.state, job.created, job.updated, json.dumps(job.data, ensure_ascii=False)))

    def job(self, job_id: str) -> JobRecord | None:
        row = self.reader().execute("SELECT id, state, created, updated, data FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def jobs(self, limit: int = 20, states: Sequence[str] = ()) -> list[JobRecord]:
        """The newest jobs first (only those in ``states``, when given)."""
        where = f" WHERE state IN ({', '.join('?' * len(states))})" if states else ""
        rows = self.reader().execute(f"SELECT id, state, created, updated, data FROM jobs{where} ORDER BY created DESC "
                                     "LIMIT ?", (*states, limit))
        return [_job(r) for r in rows]

    def touch_job(self, job_id: str) -> None:
        """Say a running job's runner is alive (a long file gives no progress for minutes)."""
        self.db.execute("UPDATE jobs SET updated = ? WHERE id = ? AND state = 'running'", (time.time(), job_id))

    def claim_job(self, job_id: str, stale_before: float) -> JobRecord | None:
        """Take a job to run: one that is queued, or running but silent since ``stale_before`` (its runner stopped).
        Of several processes or machines claiming it at once exactly one gets it (the others None)."""
        row = self.db.execute("UPDATE jobs SET state = 'running', updated = ? WHERE id = ? AND (state = 'queued' OR "
                              "(state = 'running' AND updated < ?)) RETURNING id, state, created, updated, data",
                              (time.time(), job_id, stale_before)).fetchone()
        return _job(row) if row else None

    # -- lexical search (docagent.index.lexical) ------------------------------------------------
    def term_stats(self, terms: Iterable[str]) -> TermStats:
        """How many passages of the store hold each term (stemmed as the lexical index stems), of how many."""
        return self.words.term_stats(terms)

    def lexical(self, terms: list[str], n: int, scope: SearchScope = EVERYWHERE, *,
                budget: int = 20_000) -> list[LexicalHit]:
        """BM25 over the passages in ``scope`` of ready documents, best first (see :meth:`Lexical.search`)."""
        return self.words.search(terms, n, scope, budget=budget)

    def page_numbers(self, doc_id: str) -> list[int]:
        return [r[0] for r in self.reader().execute("SELECT page FROM pages WHERE doc_id = ? ORDER BY page", (doc_id,))]

    def page_scale(self, doc_id: str, number: int) -> float | None:
        row = self.reader().execute("SELECT scale FROM pages WHERE doc_id = ? AND page = ?", (doc_id, number)).fetchone()
        return row[0] if row else None


class SqliteCatalog(Catalog):
    """SQLite in WAL mode, in the store's folder: readers (search, the app) never wait for an indexing run. Writes go
    through one connection; every read through a connection of the reading thread's own, so a server's request
    threads never share a connection with each other or see a write half done. Writers exclude each other with a
    file lock beside it (one machine: SQLite's WAL mode is not for network file systems)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._readers = threading.local()
        self._reader_conns: weakref.WeakSet[_Reader] = weakref.WeakSet()
        super().__init__()
        self.words = Fts5Lexical(self.reader)

    @property
    def db(self) -> sqlite3.Connection:
        return self._db

    def reader(self) -> sqlite3.Connection:
        """A connection of the calling thread's own, for reads that may run beside the main one
        (a sqlite3 connection must not be used by two threads at once). It is closed when the thread ends,
        so a server that starts a thread per request does not pile up connections."""
        held = getattr(self._readers, "held", None)
        if held is None:
            held = _Reader(sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False))
            self._readers.held = held
            self._reader_conns.add(held)
        return held.conn

    def close(self) -> None:
        for held in list(self._reader_conns):
            held.conn.close()
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; inside another, part of it (committed or rolled back with it)."""
        if self._db.in_transaction:
            yield self._db
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def exclusive(self, timeout: float, on_wait: Callable[[], None]) -> Iterator[None]:
        """A file lock beside the catalog, taken in turn: a file lock is not fair (a process releasing it and taking it
        again at once would nearly always win against one polling for it), so a writer first takes a turnstile
        (``.lock.turn``), holds it while it waits for the lock, and releases it once it has the lock: a writer that
        wants the lock again queues behind the one already waiting."""
        turn = FileLock(str(self.path.parent / ".lock.turn"))
        lock = FileLock(str(self.path.parent / ".lock"))
        deadline = time.monotonic() + timeout
        waited = False

        def take(part: FileLock) -> None:
            nonlocal waited
            try:
                part.acquire(timeout=0, poll_interval=0.01)
                return
            except Timeout:
                pass
            if not waited:
                on_wait()
                waited = True
            try:
                part.acquire(timeout=max(0.0, deadline - time.monotonic()), poll_interval=0.01)
            except Timeout as e:
                raise TimeoutError from e

        take(turn)
        try:
            take(lock)
        finally:
            turn.release()
        try:
            yield
        finally:
            lock.release()

    def _json(self, column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    def upgrade(self, version: str, to: str) -> None:
        """Bring a catalog of layout ``version`` to ``to``, in one transaction (a second process opening it at the
        same time waits, then finds it done). 1 -> 2: documents gain ``parent`` (attachments' links); 2 -> 3: pages gain their tables."""
        with self.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None or row[0] != version:
                return
            if (version, to) == ("1", "2"):
                columns = {r[1] for r in db.execute("PRAGMA table_info(documents)")}
                if "parent" not in columns:
                    db.execute("ALTER TABLE documents ADD COLUMN parent TEXT NOT NULL DEFAULT ''")
            # 2 -> 3: the ``tables`` table, which the schema script creates on opening; documents indexed before
            # have none until indexed again (their card version is older, so the next ``index`` reads them anew)
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (to,))

