"""The page store: everything docagent knows about indexed documents, by default in one directory.

    STORE/
      catalog.sqlite    documents, pages (text, word boxes, widgets), passages
      chroma/           passage vectors (absent when DOCAGENT_CHROMA_URL points to a server, or another
                        DOCAGENT_VECTOR_BACKEND keeps them: see docagent.index.vectors)
      files/DOC_ID.ext  a copy of each indexed file, so page images can be rendered later
      pages/DOC_ID/NNNN.png   page images, rendered on first use (or while indexing)
      .lock             held by index and rm, so two writers never interleave (.lock.turn: taken in turn)

File copies and page images go through a blob store (docagent.index.blobs): with ``DOCAGENT_BLOB_URL=s3://...``
they live in object storage, and ``cache/`` holds what this machine has read of them.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from docagent.config import Settings
from docagent.errors import DocumentLoadError, StoreError, StoreMismatchError
from docagent.index.blobs import blob_store
from docagent.index.catalog import Catalog, DocumentRecord, SqliteCatalog
from docagent.index.embeddings import Embedder
from docagent.index.extract import Extracted, embedder_for, png
from docagent.index.vectors import VectorIndex, VectorSpec, vector_backend
from docagent.types import Page, PageImage, Table

__all__ = ["PageStore", "opened"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = "3"
"""Layout of the catalog and the vector metadata; a store of another version is refused, not misread (older ones
that :data:`UPGRADES` names are brought up to date when opened: a docagent from before then refuses them after)."""
UPGRADES = {"1": "2", "2": "3"}
"""Layout versions upgraded in place on opening: 1 -> 2 adds the documents' ``parent`` (e-mail attachments),
2 -> 3 the pages' tables."""


class PageStore:
    """Open (creating if needed) the store that ``settings.store`` names.

    Heavy parts load on first use: the vector index (``settings.vector_backend``, Chroma by default) when
    vectors are read or written, the embedding model when text is embedded. Listing documents or skipping unchanged files
    touches only the SQLite catalog."""

    def __init__(self, settings: Settings | None = None, *, embedder: Embedder | None = None) -> None:
        self.settings = settings or Settings()
        self.root = self.settings.store
        self.closed = False
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / "files").mkdir(exist_ok=True)
            (self.root / "pages").mkdir(exist_ok=True)
            self.catalog = open_catalog(self.settings)
            self.blobs = blob_store(self.settings)
        except (OSError, sqlite3.Error) as e:
            msg = f"cannot open the store at {self.root} ({e}); choose another with --store or DOCAGENT_STORE"
            raise StoreError(msg) from e
        # two processes opening a new store at once must agree on its id (it names the Chroma collection)
        self.catalog.add_meta({"store_id": uuid.uuid4().hex[:12], "schema": SCHEMA_VERSION})
        store_id = self.catalog.get_meta("store_id")
        schema = self.catalog.get_meta("schema")
        while schema in UPGRADES:
            try:
                self.catalog.upgrade(schema, UPGRADES[schema])
            except sqlite3.Error as e:
                self.catalog.close()
                msg = f"cannot upgrade the store at {self.root} from layout version {schema} ({e}); is it writable?"
                raise StoreError(msg) from e
            schema = self.catalog.get_meta("schema")
        if schema != SCHEMA_VERSION:
            self.catalog.close()
            msg = (
                f"the store at {self.root} has layout version {schema or '0'}; this docagent reads version "
                f"{SCHEMA_VERSION}. Index your documents into a new store (--store or DOCAGENT_STORE)"
            )
            raise StoreError(msg)
        if self.catalog.has_documents():  # a store from before backends were named keeps its vectors in Chroma
            self.catalog.add_meta({"vector_backend": "chroma"})
        self.store_id = store_id
        self._embedder = embedder
        self._vectors: VectorIndex | None = None
        self._vector_spec = VectorSpec(self.root, f"docagent_{store_id}", self.settings, self.catalog.generation)

    # -- parts loaded on demand -----------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = embedder_for(self.settings)
        return self._embedder

    def check_embedder(self, label: str | None = None) -> None:
        """Raise StoreMismatchError when the store's vectors came from another model than ``label`` (default: the
        store's own embedding model)."""
        built_with = self.catalog.get_meta("embedding_model")
        label = label or self.embedder.label
        if built_with is None:
            self.catalog.set_meta("embedding_model", label)
        elif built_with != label:
            msg = (
                f"the store at {self.root} was built with the embedding model {built_with!r}, "
                f"not {label!r}; set DOCAGENT_EMBEDDING_MODEL={built_with} or use another --store"
            )
            raise StoreMismatchError(msg)

    @property
    def vectors(self) -> VectorIndex:
        """The store's passage vectors, opened on first use by the backend ``settings.vector_backend`` names."""
        if self._vectors is None:
            backend = vector_backend(self.settings.vector_backend)
            self._check_backend(self.settings.vector_backend)
            self._vectors = backend(self._vector_spec)
        return self._vectors

    def _check_backend(self, name: str) -> None:
        """Raise StoreMismatchError when the store's vectors are kept by another backend: searching them with
        this one would find nothing and say nothing. Stores from before backends were named hold Chroma's."""
        self.catalog.add_meta({"vector_backend": name})
        kept_by = self.catalog.get_meta("vector_backend")
        if kept_by != name:
            msg = (f"the store at {self.root} keeps its vectors in the {kept_by!r} backend, not {name!r}; "
                   f"set DOCAGENT_VECTOR_BACKEND={kept_by} or use another --store")
            raise StoreMismatchError(msg)

    @contextmanager
    def lock(self, timeout: float = 600) -> Iterator[None]:
        """Exclusive right to write to the store (:meth:`Catalog.exclusive`: a file lock beside an SQLite catalog,
        an advisory lock on PostgreSQL), taken in turn. Readers do not take it."""
        waited = False

        def on_wait() -> None:
            nonlocal waited
            waited = True
            log.warning("another docagent process is writing to %s; waiting for it to finish (up to %d min; "
                        "searches keep working meanwhile)", self.root, round(timeout / 60))

        with ExitStack() as held:
            try:
                held.enter_context(self.catalog.exclusive(timeout, on_wait))
            except TimeoutError as e:
                msg = (f"another docagent process has been writing to {self.root} for over {round(timeout / 60)} min; "
                       "wait for it to finish or use another --store")
                raise StoreError(msg) from e
            if waited:
                log.warning("the other process finished; going on")
            held.enter_context(vector_backend(self.settings.vector_backend).writing(self._vector_spec))
            yield

    def close(self) -> None:
        self.closed = True
        self.catalog.close()

    def __enter__(self) -> PageStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- bytes: file copies and page images (docagent.index.blobs) ---------------------------------
    @staticmethod
    def image_key(doc_id: str, number: int) -> str:
        return PageImage(doc_id, number).key

    def image(self, doc_id: str, number: int) -> PageImage:
        """A reference to the page's PNG in this store (nothing drawn or fetched until it is read)."""
        return PageImage(doc_id, number, self)

    def image_bytes(self, image: PageImage | str) -> bytes:
        """The PNG a :class:`PageImage` (or its URI) names, drawn from the stored file on first use; a
        :class:`StoreError` when its document version is gone (replaced or removed)."""
        image = image if isinstance(image, PageImage) else PageImage.from_uri(image)
        try:
            return self.image_file(image).read_bytes()
        except FileNotFoundError as e:  # purged between the check and the read
            msg = f"{image.uri}: that version of the document was replaced or removed; search again"
            raise StoreError(msg) from e

    def image_file(self, image: PageImage | str) -> Path:
        """The PNG as a file on this machine (see :meth:`image_bytes`)."""
        image = image if isinstance(image, PageImage) else PageImage.from_uri(image)
        if self.closed:
            msg = f"{image.uri}: the store it came from ({self.root}) is closed; open it again to read the image"
            raise StoreError(msg)
        rec = self.catalog.document_by_id(image.doc_id)
        if rec is None or rec.status != "ready":
            msg = f"{image.uri}: that version of the document was replaced or removed; search again"
            raise StoreError(msg)
        return self.ensure_image(rec, image.page)

    def image_path(self, doc_id: str, number: int) -> Path:
        """Where this machine keeps the page's image (absent until rendered or fetched)."""
        return self.blobs.path_for(self.image_key(doc_id, number))

    def stored_file(self, rec: DocumentRecord) -> Path:
        """The stored copy of a document's file as a file on this machine (fetched from the blob store when needed)."""
        return self.blobs.local_path(f"files/{rec.stored_file}")

    def stored_path(self, stored_file: str) -> Path | None:
        """A stored copy by its file name, on this machine; None when it is gone (removed meanwhile)."""
        try:
            return self.blobs.local_path(f"files/{stored_file}")
        except FileNotFoundError:
            return None

    # -- writing ---------------------------------------------------------------------------------
    def commit(self, doc: Extracted, *, pending: bool = False) -> tuple[str, list[str]]:
        """Write one extracted document (:class:`~docagent.index.extract.Extracted`) as the new version of its name and
        drop the older version. Call with the lock held. Returns the version's id and the ids of those it replaced.
        ``pending``: it carries attachments not indexed yet; until they are, it counts as incomplete.

        The document's row is written first, marked ``indexing`` (what :meth:`recover` purges after a crash), then
        its file copy, page images and vectors; then every other row and the switch to ``ready`` in one transaction."""
        self.check_embedder(doc.embedding_model)
        current = self.catalog.document(doc.job.name)
        if current is not None and current.doc_id == doc.doc_id:  # the same version read again (its card was lost)
            doc = doc.renamed(hashlib.sha256(f"{doc.doc_id}\0{time.time_ns()}".encode()).hexdigest()[:16])
        rec = DocumentRecord(doc_id=doc.doc_id, name=doc.job.name, sha256=doc.job.sha256, source=doc.job.origin,
                             stored_file=doc.stored_file, kind=doc.kind, pages=0, ocr_pages=0, status="indexing",
                             indexed_at=time.time(), parent=doc.job.parent)
        self.catalog.begin_document(rec)
        self.blobs.put(f"files/{rec.stored_file}", doc.stored)
        for number, data in doc.images.items():
            self.blobs.put(self.image_key(rec.doc_id, number), data)
        if doc.passages:
            self.vectors.upsert(doc.passages, doc.vectors)
        old = self.catalog.commit_document(
            rec, doc.pages, doc.spans, doc.contexts, doc.rows, fields=doc.fields, tables=doc.tables, card=doc.card,
            card_words=doc.card_words, abbreviations=doc.abbreviations, ocr_pages=len(doc.ocr_pages), pending=pending)
        for old_id in old:
            self.purge(old_id)
        return doc.doc_id, old

    # -- reading --------------------------------------------------------------------------------
    def documents(self) -> list[DocumentRecord]:
        return self.catalog.documents()

    def document(self, name: str) -> DocumentRecord | None:
        return self.catalog.document(name)

    def page(self, doc: str, number: int) -> Page:
        rec = self._require(doc)
        page = self.catalog.page(rec.doc_id, number)
        if page is None:
            msg = f"{doc} has {rec.pages} pages; there is no page {number}"
            raise StoreError(msg)
        return page

    def tables(self, doc: str, page: int | None = None) -> list[Table]:
        """The tables found on a document's pages (on page ``page`` when given), in page order, each with its
        cells' text, numbers and boxes. A document indexed by a docagent from before tables has none until it is
        indexed again."""
        rec = self._require(doc)
        if page is not None and not 1 <= page <= rec.pages:
            msg = f"{doc} has {rec.pages} page{'s' if rec.pages != 1 else ''}; there is no page {page}"
            raise StoreError(msg)
        return self.catalog.tables(rec.doc_id, page)

    def _require(self, doc: str) -> DocumentRecord:
        rec = self.catalog.document(doc)
        if rec is None:
            msg = f"{doc!r} is not in the store at {self.root}; `docagent docs` lists what is"
            raise StoreError(msg)
        return rec

    def page_image(self, doc: str, number: int) -> PageImage:
        """The page's PNG in the document's current version, drawn now when it has not been (from the stored file) and
        readable from this machine's file even once the store is closed; a StoreError when there is no such document
        or page."""
        rec = self._require(doc)
        if self.catalog.page_scale(rec.doc_id, number) is None:
            msg = f"{doc} has no page {number}"
            raise StoreError(msg)
        return self.image(rec.doc_id, number).drawn()

    def ensure_image(self, rec: DocumentRecord, number: int) -> Path:
        key = self.image_key(rec.doc_id, number)
        try:
            return self.blobs.local_path(key)
        except FileNotFoundError:
            pass
        scale = self.catalog.page_scale(rec.doc_id, number)
        if scale is None:
            msg = f"{rec.name} has no page {number}"
            raise StoreError(msg)
        from docagent.ingest import open_source

        try:
            with open_source(self.stored_file(rec)) as source:
                image = source.render(number - 1, scale)
            self.blobs.put(key, png(image))
            return self.blobs.local_path(key)
        except (FileNotFoundError, DocumentLoadError) as e:
            now = self.catalog.document_by_id(rec.doc_id)
            if now is None or now.status != "ready":  # removed or replaced meanwhile, maybe by another process or machine
                msg = f"{rec.name} was removed or replaced while its page {number} was being drawn; ask again"
                raise StoreError(msg) from e
            raise

    def audit(self) -> list[str]:
        """What does not agree between the store's parts (catalog, vectors, lexical index, blobs), one line each; empty
        when they all hold exactly the ready documents. Reads every vector's metadata: minutes on a very large store."""
        problems: list[str] = []
        ready = {d.doc_id: d for d in self.catalog.documents()}
        others = self.catalog.all_doc_ids() - set(ready)
        if others:
            problems.append(f"{len(others)} document versions are not ready (an interrupted run: `docagent index` completes it)")
        rows = self.catalog.reader().execute("SELECT doc_id, page, idx FROM passages").fetchall()
        catalog_ids = {f"{d}:{p}:{i}" for d, p, i in rows}
        vector_ids = set(self.vectors.passages())
        if vector_ids != catalog_ids:
            problems.append(f"vectors and catalog differ: {len(vector_ids - catalog_ids)} vectors without a passage, "
                            f"{len(catalog_ids - vector_ids)} passages without a vector")
        lexical = self.catalog.term_stats([]).passages
        if lexical != len(catalog_ids):
            problems.append(f"the lexical index holds {lexical} passages, the catalog {len(catalog_ids)}")
        files = {k.removeprefix("files/") for k in self.blobs.list_keys("files/")}
        wanted = {d.stored_file for d in ready.values()} | {d.stored_file for d in self.catalog.documents(None) if d.doc_id in others}
        if files != wanted:
            problems.append(f"blobs and catalog differ: {len(files - wanted)} file copies of no document, "
                            f"{len(wanted - files)} documents without their file copy")
        strays = self.blobs.folders("pages/") - self.catalog.all_doc_ids()
        if strays:
            problems.append(f"page images of {len(strays)} document versions the catalog does not hold")
        return problems

    # -- removal and recovery --------------------------------------------------------------------
    def remove(self, names: Iterable[str]) -> tuple[list[str], list[str]]:
        """Remove documents completely, with the documents that came inside them (an e-mail's attachments).
        Returns (removed, not found)."""
        removed, missing = [], []
        with self.lock():
            for name in names:
                rec = self.catalog.document(name)
                if rec is None:
                    if name not in removed:
                        missing.append(name)
                    continue
                for gone in [rec, *self.catalog.attached(name)]:
                    self.catalog.mark_deleting(gone.doc_id)
                    self.purge(gone.doc_id)
                    removed.append(gone.name)
        return removed, missing

    def purge(self, doc_id: str) -> None:
        """Delete everything of one document version: vectors, images, file copy, then rows.
        Safe to repeat after an interruption at any point."""
        rec = self.catalog.document_by_id(doc_id)
        self.vectors.delete_doc(doc_id)
        self.blobs.delete_prefix(f"pages/{doc_id}/")
        if rec is not None:
            self.blobs.delete(f"files/{rec.stored_file}")
        self.catalog.delete_document(doc_id)

    def recover(self) -> int:
        """Finish what an interrupted run left: purge unfinished and replaced versions, delete
        bytes that no catalog row owns (a page drawn for a version removed meanwhile; a write whose commit was lost).
        Call with the lock held: no other writer is half-way through a commit then. Returns versions purged."""
        leftovers = self.catalog.unfinished()
        for rec in leftovers:
            log.info("cleaning up an interrupted run: %s (%s)", rec.name, rec.status)
            self.purge(rec.doc_id)
        known = self.catalog.all_doc_ids()
        for doc_id in self.blobs.folders("pages/") - known:
            self.blobs.delete_prefix(f"pages/{doc_id}/")
        for key in self.blobs.list_keys("files/"):
            if ".tmp" in key or key.removeprefix("files/").split(".", 1)[0] not in known:  # copies are written under the lock
                self.blobs.delete(key)
        self.blobs.sweep()
        return len(leftovers)


def open_catalog(settings: Settings) -> Catalog:
    """The catalog ``settings`` name: ``catalog_url`` (``postgresql://...``), else ``catalog.sqlite`` in the store."""
    if settings.catalog_url:
        from docagent.index.postgres import PostgresCatalog

        return PostgresCatalog(settings.catalog_url)
    return SqliteCatalog(settings.store / "catalog.sqlite")


@contextmanager
def opened(store: PageStore | None, settings: Settings | None = None) -> Iterator[PageStore]:
    """``store`` itself when given (left open for its owner), else a store opened on ``settings`` for the
    ``with`` block and closed after it: the one place "open a store unless given one" is written."""
    if store is not None:
        yield store
        return
    with PageStore(settings) as own:
        yield own
