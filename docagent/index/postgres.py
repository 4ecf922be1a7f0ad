"""The catalog on PostgreSQL (``DOCAGENT_CATALOG_URL=postgresql://user:password@host/db``), shared by every machine
that names it: documents, pages, passages, cards, tables, the store's generation, the lexical index and the writers'
exclusion (an advisory lock, released by the server when its holder's connection drops: a writer killed mid-commit
never leaves the store locked).

The lexical index is BM25 computed in SQL from a postings table (``passage_terms``: term, passage, term frequency),
with FTS5's formula and constants (k1 = 1.2, b = 0.75, IDF ``ln((N - n + 0.5) / (n + 0.5))``), over the words FTS5's
``porter unicode61 remove_diacritics 2`` tokenizer gives (Unicode letters and digits, folded to lower case without
accents, Porter-stemmed). PostgreSQL's own ``ts_rank`` is not BM25 and is not used.

Connections come from a psycopg pool (readers) plus one for writes, which also holds the advisory lock.
"""

from __future__ import annotations

import math
import re
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse, urlunparse

from docagent.errors import ConfigError, StoreError
from docagent.index.catalog import Catalog
from docagent.index.lexical import Lexical, LexicalHit, Row, Sql, TermStats, best_near, near_bounds
from docagent.index.vectors import EVERYWHERE, SearchScope

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["PostgresCatalog", "PostgresLexical", "fts5_idf", "stems", "words"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, name TEXT NOT NULL, sha256 TEXT NOT NULL, source TEXT NOT NULL, stored_file TEXT NOT NULL,
    kind TEXT NOT NULL, pages INTEGER NOT NULL DEFAULT 0, ocr_pages INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL,
    indexed_at DOUBLE PRECISION NOT NULL, parent TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS documents_name ON documents(name, status);
CREATE INDEX IF NOT EXISTS documents_parent ON documents(parent);
CREATE INDEX IF NOT EXISTS documents_sha ON documents(sha256);
CREATE TABLE IF NOT EXISTS pages (
    doc_id TEXT NOT NULL, page INTEGER NOT NULL, width DOUBLE PRECISION NOT NULL, height DOUBLE PRECISION NOT NULL,
    scale DOUBLE PRECISION NOT NULL, ocr INTEGER NOT NULL, text TEXT NOT NULL, words TEXT NOT NULL, widgets TEXT NOT NULL,
    PRIMARY KEY (doc_id, page));
CREATE TABLE IF NOT EXISTS passages (
    id BIGINT PRIMARY KEY, doc_id TEXT NOT NULL, page INTEGER NOT NULL, idx INTEGER NOT NULL, start INTEGER NOT NULL,
    "end" INTEGER NOT NULL, UNIQUE (doc_id, page, idx));
CREATE TABLE IF NOT EXISTS cards (doc_id TEXT PRIMARY KEY, version INTEGER NOT NULL, card TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS page_labels (
    doc_id TEXT NOT NULL, page INTEGER NOT NULL, label TEXT NOT NULL, PRIMARY KEY (doc_id, page));
CREATE TABLE IF NOT EXISTS page_fields (
    doc_id TEXT NOT NULL, page INTEGER NOT NULL, title TEXT NOT NULL, labels TEXT NOT NULL, PRIMARY KEY (doc_id, page));
CREATE TABLE IF NOT EXISTS abbreviations (
    doc_id TEXT NOT NULL, short TEXT NOT NULL, long TEXT NOT NULL, PRIMARY KEY (doc_id, short));
CREATE INDEX IF NOT EXISTS abbreviations_short ON abbreviations(short);
CREATE TABLE IF NOT EXISTS tables (
    doc_id TEXT NOT NULL, page INTEGER NOT NULL, idx INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (doc_id, page, idx));
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL, created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL, data TEXT NOT NULL);
-- the lexical index: postings (byte order for terms, so a prefix range uses the index whatever the database's locale)
CREATE TABLE IF NOT EXISTS passage_terms (term TEXT COLLATE "C" NOT NULL, id BIGINT NOT NULL, tf INTEGER NOT NULL,
    PRIMARY KEY (term, id));
CREATE INDEX IF NOT EXISTS passage_terms_id ON passage_terms(id);
CREATE TABLE IF NOT EXISTS passage_lengths (id BIGINT PRIMARY KEY, len INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS card_words (doc_id TEXT PRIMARY KEY, names TEXT NOT NULL, about TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS card_terms (col TEXT NOT NULL, term TEXT COLLATE "C" NOT NULL, doc_id TEXT NOT NULL,
    PRIMARY KEY (col, term, doc_id));
CREATE INDEX IF NOT EXISTS card_terms_doc ON card_terms(doc_id);
"""

WRITER_LOCK = 0x646F6361_6765_6E74 & 0x7FFFFFFFFFFFFFFF
"""The advisory lock key that writers of a docagent catalog take (one database holds one store)."""
_SCHEMA_LOCK = WRITER_LOCK - 1

K1, B = 1.2, 0.75
"""BM25's constants, FTS5's."""

_TOKEN = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The words FTS5's unicode61 tokenizer (remove_diacritics 2) finds: runs of letters and digits, lower case,
    accents removed."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return _TOKEN.findall(folded)


_stemmers = threading.local()
_stemmed: dict[str, str] = {}


def _stem(word: str) -> str:
    found = _stemmed.get(word)
    if found is None:
        stemmer = getattr(_stemmers, "porter", None)
        if stemmer is None:
            import snowballstemmer

            stemmer = _stemmers.porter = snowballstemmer.stemmer("porter")
        found = stemmer.stemWord(word) if word.isascii() else word
        if len(_stemmed) < 500_000:
            _stemmed[word] = found
    return found


def stems(text: str) -> list[str]:
    """:func:`words`, Porter-stemmed as FTS5's porter tokenizer stems them."""
    return [_stem(w) for w in words(text)]


def fts5_idf(passages: int, holding: int) -> float:
    """FTS5's IDF, ``ln((N - n + 0.5) / (n + 0.5))`` floored at 1e-6. ``n`` is clamped to ``N``: the two are read by
    separate statements while writers commit (and a replaced version's postings stay until it is purged), so a term
    may briefly seem held by more passages than were counted."""
    n = min(holding, passages)
    return max(math.log((passages - n + 0.5) / (n + 0.5)), 1e-6)


def _pg(sql: str) -> str:
    """The catalog's SQL (``?`` placeholders) as psycopg takes it (``%s``)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Rows:
    """A statement's result, fetched whole (its connection goes back to the pool at once)."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    def fetchone(self) -> Row | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Row]:
        return self.rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)


def _result(cursor: psycopg.Cursor[Row]) -> _Rows:
    return _Rows(cursor.fetchall() if cursor.description else [])


class PgSession:
    """One connection (the writer's), running the catalog's SQL; statements outside a transaction commit alone."""

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self.conn = conn
        self.in_transaction = False
        self.mutex = threading.RLock()

    def execute(self, sql: str, parameters: Sequence[object] = (), /) -> _Rows:
        with self.mutex:
            return _result(self.conn.execute(_pg(sql), list(parameters)))

    def executemany(self, sql: str, parameters: Iterable[Sequence[object]], /) -> None:
        rows = [list(p) for p in parameters]
        if rows:
            with self.mutex, self.conn.cursor() as cur:
                cur.executemany(_pg(sql), rows)

    def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        """Load rows with COPY (the fastest way in)."""
        with self.mutex, self.conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


class PgReader:
    """Reads through the pool: each statement borrows a connection and gives it back."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    def execute(self, sql: str, parameters: Sequence[object] = (), /) -> _Rows:
        return self.raw(_pg(sql), list(parameters))

    def raw(self, sql: str, parameters: Sequence[object] | dict[str, object] = ()) -> _Rows:
        """Run SQL written for psycopg (``%s`` placeholders)."""
        with self.pool.connection() as conn:
            return _result(conn.execute(sql, parameters))

    def executemany(self, sql: str, parameters: Iterable[Sequence[object]], /) -> None:
        msg = "reads only"
        raise StoreError(msg)


def _shown(url: str) -> str:
    """The URL without its password."""
    parsed = urlparse(url)
    if parsed.password:
        parsed = parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@"))
    return urlunparse(parsed)


class PostgresCatalog(Catalog):
    """The catalog in the PostgreSQL database ``url`` names (its tables created when missing)."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        try:
            import psycopg
            import snowballstemmer  # noqa: F401  (the lexical index's stemmer)
            from psycopg_pool import ConnectionPool
        except ImportError as e:
            msg = f"a PostgreSQL catalog needs {e.name or 'psycopg'}: pip install 'docagent[cluster]'"
            raise ConfigError(msg) from e
        super().__init__()
        self.location = _shown(url)
        try:
            self._conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
            self.pool: ConnectionPool[Any] = ConnectionPool(url, min_size=1, max_size=pool_size, kwargs={"autocommit": True},
                                                            open=True, timeout=30)
        except (psycopg.Error, OSError) as e:
            msg = (f"cannot reach the PostgreSQL catalog at {self.location} ({' '.join(str(e).split())[:200]}); "
                   "check DOCAGENT_CATALOG_URL and that the server is up")
            raise StoreError(msg) from e
        self._session = PgSession(self._conn)
        self._reader = PgReader(self.pool)
        self._writers = threading.Lock()
        self._errors = psycopg.Error
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])  # two machines creating it at once
            self._conn.execute(_SCHEMA)
        self.words = PostgresLexical(self._reader, self.generation)

    @property
    def db(self) -> PgSession:
        return self._session

    def reader(self) -> PgReader:
        return self._reader

    @contextmanager
    def transaction(self) -> Iterator[PgSession]:
        session = self._session
        if session.in_transaction:
            yield session
            return
        with session.mutex, self._conn.transaction():
            session.in_transaction = True
            try:
                yield session
            finally:
                session.in_transaction = False

    @contextmanager
    def exclusive(self, timeout: float, on_wait: Callable[[], None]) -> Iterator[None]:
        """An advisory lock on the writer's connection: held by one writer of the store on any machine, and let go by
        the server when that connection drops (its process killed, its machine gone)."""
        deadline = time.monotonic() + timeout
        waited = False
        # the advisory lock belongs to the connection, and a connection's own lock is granted to it again: threads of
        # this process (a server's requests) take turns here first
        if not self._writers.acquire(blocking=False):
            on_wait()
            waited = True
            if not self._writers.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise TimeoutError
        try:
            with self._advisory(deadline, on_wait, waited):
                yield
        finally:
            self._writers.release()

    @contextmanager
    def _advisory(self, deadline: float, on_wait: Callable[[], None], waited: bool) -> Iterator[None]:
        while True:
            row = self._session.execute("SELECT pg_try_advisory_lock(?)", (WRITER_LOCK,)).fetchone()
            if row and row[0]:
                break
            if not waited:
                on_wait()
                waited = True
            if time.monotonic() > deadline:
                raise TimeoutError
            time.sleep(0.05)
        try:
            yield
        finally:
            self._session.execute("SELECT pg_advisory_unlock(?)", (WRITER_LOCK,))

    def close(self) -> None:
        self.pool.close()
        self._conn.close()

    def _json(self, column: str, key: str) -> str:
        return f"nullif(({column}::jsonb -> '{key}')::text, 'null')"


class PostgresLexical(Lexical):
    """BM25 in SQL over ``passage_terms`` (see the module's doc); cards' words in ``card_terms`` (not stemmed)."""

    def __init__(self, reader: PgReader, generation: Callable[[], int]) -> None:
        import psycopg

        super().__init__(lambda: reader)
        self.error = psycopg.Error
        self.pg = reader
        self.generation = generation
        self._stats: tuple[int, int, float] | None = None

    def add(self, db: Sql, rows: Sequence[tuple[int, str]]) -> None:
        assert isinstance(db, PgSession)
        t0 = time.perf_counter()
        postings: list[tuple[str, int, int]] = []
        lengths: list[tuple[int, int]] = []
        for pid, text in rows:
            found = stems(text)
            lengths.append((pid, len(found)))
            postings += [(term, pid, tf) for term, tf in Counter(found).items()]
        db.copy("passage_terms", ("term", "id", "tf"), postings)
        db.copy("passage_lengths", ("id", "len"), lengths)
        self.seconds += time.perf_counter() - t0

    def add_card(self, db: Sql, doc_id: str, names: str, about: str) -> None:
        assert isinstance(db, PgSession)
        db.execute("INSERT INTO card_words VALUES (?, ?, ?) ON CONFLICT(doc_id) DO UPDATE SET names = excluded.names, "
                   "about = excluded.about", (doc_id, names, about))
        db.execute("DELETE FROM card_terms WHERE doc_id = ?", (doc_id,))
        terms = {("names", w) for w in words(names)} | {("about", w) for w in words(about)}
        db.copy("card_terms", ("col", "term", "doc_id"), [(col, term, doc_id) for col, term in sorted(terms)])

    def remove(self, db: Sql, doc_id: str) -> None:
        db.execute("DELETE FROM passage_terms WHERE id IN (SELECT id FROM passages WHERE doc_id = ?)", (doc_id,))
        db.execute("DELETE FROM passage_lengths WHERE id IN (SELECT id FROM passages WHERE doc_id = ?)", (doc_id,))
        db.execute("DELETE FROM card_terms WHERE doc_id = ?", (doc_id,))
        db.execute("DELETE FROM card_words WHERE doc_id = ?", (doc_id,))

    def card_count(self) -> int:
        row = self.pg.raw("SELECT count(*) FROM card_words").fetchone()
        return int(row[0]) if row else 0

    def card_hits(self, column: str, term: str, limit: int) -> list[str]:
        found = list(dict.fromkeys(words(term)))
        if not found:
            return []
        rows = self.pg.raw("SELECT doc_id FROM card_terms WHERE col = %s AND term = ANY(%s) GROUP BY doc_id "
                           "HAVING count(*) = %s ORDER BY doc_id LIMIT %s", [column, found, len(found), limit])
        return [r[0] for r in rows]

    def card_names(self, doc_ids: Sequence[str]) -> dict[str, str]:
        return dict(self.pg.raw("SELECT doc_id, names FROM card_words WHERE doc_id = ANY(%s)", [list(doc_ids)]).fetchall())

    def card_near(self, term: str) -> str:
        bounds = near_bounds(term)
        if bounds is None:
            return ""
        rows = self.pg.raw("SELECT term, count(*) FROM card_terms WHERE col = 'names' AND term >= %s AND term < %s "
                           "AND length(term) BETWEEN %s AND %s GROUP BY term", list(bounds)).fetchall()
        return best_near(term, [(w, int(c)) for w, c in rows])[0]

    def _totals(self) -> tuple[int, float]:
        """Passages indexed and their mean length in words, read once a store generation."""
        generation = self.generation()
        if self._stats is None or self._stats[0] != generation:
            row = self.pg.raw("SELECT count(*), coalesce(avg(len), 0)::float8 FROM passage_lengths").fetchone()
            self._stats = (generation, int(row[0]) if row else 0, float(row[1]) if row else 0.0)
        return self._stats[1], self._stats[2]

    def _df(self, terms: Sequence[str], bounds: tuple[int, int] | None = None) -> dict[str, int]:
        if not terms:
            return {}
        sql = "SELECT term, count(*) FROM passage_terms WHERE term = ANY(%s)"
        args: list[object] = [list(terms)]
        if bounds is not None:
            sql += " AND id BETWEEN %s AND %s"
            args += list(bounds)
        return {t: int(n) for t, n in self.pg.raw(sql + " GROUP BY term", args)}

    def term_stats(self, terms: Iterable[str]) -> TermStats:
        total, _ = self._totals()
        asked = {term: list(dict.fromkeys(stems(term))) for term in terms}
        df = self._df(sorted({s for found in asked.values() for s in found}))
        holding = {term: min((df.get(s, 0) for s in found), default=0) for term, found in asked.items()}
        near = {}
        for term in [t for t, n in holding.items() if not n][:5]:  # a few: a long question cannot make this slow
            bounds = near_bounds(term)
            if bounds is None:
                continue
            rows = self.pg.raw("SELECT term, count(*) FROM passage_terms WHERE term >= %s AND term < %s "
                               "AND length(term) BETWEEN %s AND %s GROUP BY term", list(bounds)).fetchall()
            word, n = best_near(term, [(w, int(c)) for w, c in rows])
            if word:
                near[term], holding[word] = word, n
        return TermStats(total, holding, near)

    def search(self, terms: list[str], n: int, scope: SearchScope = EVERYWHERE, *, budget: int = 20_000) -> list[LexicalHit]:
        doc_ids = list(scope.doc_ids) if scope.doc_ids is not None else None
        if doc_ids == []:
            return []
        bounds: tuple[int, int] | None = None
        if doc_ids is not None:  # a document version's passages have consecutive ids
            row = self.pg.raw("SELECT min(id), max(id) FROM passages WHERE doc_id = ANY(%s)", [doc_ids]).fetchone()
            if row is None or row[0] is None:
                return []
            bounds = (int(row[0]), int(row[1]))
        wanted = list(dict.fromkeys(s for t in terms for s in stems(t)))
        scoped = self._df(wanted, bounds)
        keep: list[str] = []
        postings = 0
        for df, term in sorted((df, t) for t, df in scoped.items() if df):
            if len(keep) >= 2 and postings + df > budget:
                break
            keep.append(term)
            postings += df
        if not keep:
            return []
        total, mean = self._totals()
        held = self._df(keep) if bounds is not None else scoped  # the IDF is the whole store's, as FTS5's
        idf = [fts5_idf(total, held.get(t, 0)) for t in keep]
        where = ["d.status = 'ready'"]
        args: list[object] = [keep, idf, max(mean, 1e-9)]
        inner = ""
        if bounds is not None:
            inner = " AND t.id BETWEEN %s AND %s"
            args += list(bounds)
        joins = ""
        filters: list[object] = []
        if doc_ids is not None:
            where.append("p.doc_id = ANY(%s)")
            filters.append(doc_ids)
        if scope.pages is not None:
            where.append("p.page BETWEEN %s AND %s")
            filters += list(scope.pages)
        if scope.ocr is not None:
            joins = " JOIN pages g ON g.doc_id = p.doc_id AND g.page = p.page"
            where.append("g.ocr = %s")
            filters.append(int(scope.ocr))
        if scope.kind is not None:
            where.append("d.kind = %s")
            filters.append(scope.kind)
        sql = (
            "WITH q(term, idf) AS (SELECT * FROM unnest(%s::text[], %s::float8[])), "
            f"s AS (SELECT t.id, sum(q.idf * t.tf * {K1 + 1} / (t.tf + {K1} * ({1 - B} + {B} * l.len / %s))) AS score "
            "FROM passage_terms t JOIN q ON q.term = t.term JOIN passage_lengths l ON l.id = t.id "
            f"WHERE true{inner} GROUP BY t.id) "
            'SELECT p.doc_id, p.page, p.start, p."end", s.score FROM s JOIN passages p ON p.id = s.id '
            f"JOIN documents d ON d.doc_id = p.doc_id{joins} WHERE {' AND '.join(where)} ORDER BY s.score DESC, p.id LIMIT %s")
        try:
            rows = self.pg.raw(sql, [*args, *filters, n]).fetchall()
        except self.error as e:
            msg = f"lexical search failed for {terms!r} ({e})"
            raise StoreError(msg) from e
        return [LexicalHit(doc_id, page, start, end, -float(score)) for doc_id, page, start, end, score in rows]
