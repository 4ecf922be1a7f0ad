"""Page retrieval: a dense ranking (passage vectors, in Chroma by default: docagent.index.vectors) and a lexical
one (BM25 over the same passages, SQLite FTS5 in the store's catalog), each folded to pages by their best passage and fused by
reciprocal rank. Passages are indexed with their document's identity and section (docagent.ingest.identity),
so both rankings already lean towards the document a question names.

Hybrid search then fuses the two page rankings by reciprocal rank (a page that one side did not rank, when that
side stopped at its depth, counts there as ranked just below its last rather than not at all, so a page that
tops one side is not beaten by pages both sides rank low), and ranks documents and pages together: every page of a document the
question names gets a prior of up to ``card_weight`` first-place ranks, from the card match
(:meth:`~docagent.index.catalog.Catalog.card_scores`: the names, kinds, periods and years on the document's
card that the question says, by IDF, so words every card shares are worth almost nothing and a question that
names no document ranks as before). The documents named most clearly (card match >= ``expand_above``) are
also searched on their own, their passages merged into the two rankings by score, so their best pages are
candidates even when look-alike pages of other documents fill the corpus-wide top.

Optionally a cross-encoder you point to reranks the fused top pages.

Setup:
    .. code-block:: python

        from docagent import PageRetriever, Settings

        retriever = PageRetriever(settings=Settings(store="my-store"), k=5)

Invoke:
    .. code-block:: python

        docs = retriever.invoke("What was the revenue in Q3?")
        docs[0].metadata  # {"doc": "report.pdf", "page": 2, "score": 0.97, "image": ".../0002.png",
                          #  "passage": "...", "passage_span": [0, 412], "doc_id": "...", "dense_rank": 1, ...}

    ``invoke(query, k=3, mode="lexical", docs=["report.pdf"], pages=(2, 5))`` overrides per call.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PrivateAttr

from docagent.config import Settings
from docagent.errors import ConfigError, DocagentError, StoreError
from docagent.index.catalog import LexicalHit
from docagent.index.store import PageStore
from docagent.index.vectors import SearchScope, VectorHit
from docagent.ingest import formats
from docagent.text import WORD, words
from docagent.types import DocumentCard, PageHit

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MODES", "PageRetriever", "lexical_terms", "names_in"]

Mode = Literal["hybrid", "dense", "lexical"]
MODES: tuple[str, ...] = ("hybrid", "dense", "lexical")

# Words that carry no evidence of which page is meant. Dropping them keeps BM25 fast on large stores
# (a query term in every passage makes FTS5 score every passage) and changes no ranking that matters.
_STOPWORDS = frozenset(
    ["a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves", "according", "also", "among", "amongst", "many", "much", "per", "shown", "show", "shows", "tell", "give", "given", "list", "please", "document", "documents", "page", "pages"]
)


_YEAR_IN = re.compile(r"^(?:[a-z]+)?((?:19|20)\d\d)(?:[a-z]+)?$")


def _tokens(text: str) -> list[str]:
    """Lower-cased words; a year run together with letters also gives the year alone ("FY2018" -> "fy2018", "2018")."""
    out = []
    for token in words(text):
        out.append(token)
        year = _YEAR_IN.match(token)
        if year and year.group(1) != token:
            out.append(year.group(1))
    return out


def names_in(question: str) -> set[str]:
    """The question's words written as names are (capitalised, upper-case, or with a digit), lower-cased, and
    adjacent pairs of them run together: "Best Buy" -> best, buy, bestbuy; "3M"; "FY2018" -> fy2018, 2018.
    Not "best" or "global" written in lower case."""
    words = WORD.findall(question)
    out: set[str] = set()
    prev = ""
    for word in words:
        if word[0].isupper() or any(c.isdigit() for c in word):
            low = word.lower()
            out.update(t for t in _tokens(low) if t not in _STOPWORDS)
            if prev:
                out.add(prev + low)
            prev = "" if low in _STOPWORDS else low
        else:
            prev = ""
    return out


def lexical_terms(question: str) -> list[str]:
    """The question's content words, lower-cased, in order, each once ("FY2018" also gives "2018")."""
    seen: dict[str, None] = {}
    for token in _tokens(question):
        if token not in _STOPWORDS and (len(token) > 1 or token.isdigit()):
            seen.setdefault(token, None)
    return list(seen)


@dataclass
class _Candidate:
    doc_id: str
    page: int
    passage: tuple[int, int]
    text: str | None
    """The passage's text; None until it is read from the catalog (BM25 finds only where it is)."""
    ranks: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    below: dict[str, int] = field(default_factory=dict)
    """For a side that did not rank the page: the rank just below that side's last."""


class PageRetriever(BaseRetriever):
    """Pages of indexed documents that answer a query, best first, as LangChain ``Document`` objects.

    Each ``Document`` is one page: ``page_content`` is the page's text; ``metadata`` holds ``doc``
    (file name), ``page`` (1-based), ``score`` (0-1, higher is better), ``image`` (path of the page
    PNG, rendered on first use), ``passage`` (the text that matched) and ``passage_span``.

    Modes: ``hybrid`` (default: dense and BM25 fused by reciprocal rank), ``dense``, ``lexical``.
    Filters: ``docs`` (file names), ``pages`` (inclusive 1-based range), ``filter`` on page metadata
    (``{"ocr": True}``, ``{"kind": "image"}``). ``rerank_model``: a local cross-encoder directory.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: PageStore | None = None
    """An open store; when unset, one is opened from ``settings``."""
    settings: Settings | None = None
    """Where the store is (``Settings().store`` by default)."""
    k: int = Field(default=5, ge=1)
    """Pages to return."""
    mode: Mode = "hybrid"
    """``hybrid``, ``dense`` or ``lexical``."""
    docs: list[str] | None = None
    """Only these documents (file names)."""
    pages: tuple[int, int] | None = None
    """Only pages in this inclusive 1-based range."""
    filter: dict[str, Any] | None = None
    """Page and document metadata that must match: ``ocr`` (bool), ``kind`` (``pdf`` or ``image``), and from the
    document card ``doc_kind`` (``annual report``, ``agreement`` ...), ``year`` (int: a year the document
    covers), ``organisation`` (a name the card lists, case-insensitive, part of it is enough)."""
    candidates: int = Field(default=50, ge=1)
    """Passages each ranking contributes before fusion."""
    rrf_k: int = Field(default=60, ge=1)
    """Reciprocal-rank-fusion constant: larger flattens the difference between ranks."""
    lexical_budget: int = Field(default=20_000, ge=1)
    """BM25 scores at most about this many passage postings per query: the rarest query words are
    kept (at least two), the most common dropped once the budget is spent. Common words add little to
    BM25 but cost the most; this bounds lexical latency however large the store grows."""
    card_weight: float = Field(default=0.5, ge=0)
    """Hybrid mode: the document prior a full card match gives each of its pages, in first-place ranks (0: off)."""
    expand_above: float = Field(default=0.8, ge=0, le=1)
    """Hybrid mode: card match from which a document is also searched on its own."""
    expand_docs: int = Field(default=2, ge=0)
    """Hybrid mode: documents searched on their own, the best-matched first, this many at most."""
    rerank_model: str | None = None
    """A local sentence-transformers cross-encoder directory; off when unset."""
    rerank_top: int = Field(default=20, ge=1)
    """Fused pages the cross-encoder rescores."""
    render_images: bool = True
    """Render each returned page's image now (cached after the first time); off, ``image`` is the
    path where it will be."""

    _own_store: PageStore | None = PrivateAttr(default=None)
    _reranker: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _pool: ThreadPoolExecutor | None = PrivateAttr(default=None)

    # -- LangChain entry point -------------------------------------------------------------------
    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any) -> list[Document]:
        return [hit_to_document(hit, self._store()) for hit in self.search(query, **kwargs)]

    # -- the work --------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        mode: Mode | None = None,
        docs: list[str] | None = None,
        pages: tuple[int, int] | None = None,
        filter: dict[str, Any] | None = None,
    ) -> list[PageHit]:
        """Like ``invoke`` but returns :class:`~docagent.types.PageHit` objects."""
        k = self.k if k is None else k
        mode = mode or self.mode
        if mode not in MODES:
            msg = f"unknown retrieval mode {mode!r}; use one of {', '.join(MODES)}"
            raise ConfigError(msg)
        if k < 1:
            msg = "k must be at least 1"
            raise ConfigError(msg)
        if not query.strip():
            msg = "the query is empty; type a question or some words to look for"
            raise DocagentError(msg)
        store = self._store()
        scope = _scope(store, docs if docs is not None else self.docs, pages or self.pages, filter if filter is not None else self.filter)
        if not store.catalog.has_documents() or scope.doc_ids == ():
            return []
        n = max(self.candidates, k * 4)
        found: dict[tuple[str, int], _Candidate] = {}
        terms = lexical_terms(query) if mode in ("hybrid", "lexical") else []
        if mode in ("hybrid", "dense"):
            store.check_embedder()
        lexical: Future[list[LexicalHit]] | None = None
        if terms:
            # BM25 in SQLite and the query embedding + vector search both release the GIL: run them side by side
            lexical = self._executor().submit(store.catalog.lexical, terms, n, scope, budget=self.lexical_budget)
        vector = None
        dense_rows: list[VectorHit] = []
        try:
            if mode in ("hybrid", "dense"):
                vector = store.embedder.embed_query(query)
                dense_rows = store.vectors.search(vector, n, scope)
        finally:
            if lexical is not None:  # never leave the BM25 thread on a store the caller may close after an error
                wait([lexical])
        lexical_rows = lexical.result() if lexical is not None else []
        prior: dict[tuple[str, int], float] = {}
        cards: dict[str, float] = {}
        two_level = mode == "hybrid" and self.card_weight > 0
        if two_level:
            cards = self._card_match(store, query, terms, scope)
            extra = [d for d in sorted(cards, key=lambda d: -cards[d])[: self.expand_docs] if cards[d] >= self.expand_above]
            if extra:
                dense_rows, lexical_rows = self._expand(store, extra, terms, vector, dense_rows, lexical_rows, n, scope)
        _fold(found, "dense", ((h.passage.doc_id, h.passage.page, (h.passage.start, h.passage.end), h.passage.text, h.score)
                               for h in dense_rows))
        _fold(found, "lexical", ((h.doc_id, h.page, (h.start, h.end), None, -h.bm25) for h in lexical_rows))
        if mode == "hybrid":
            # a side that stopped at its depth may have ranked a missing page just below; one that returned every
            # passage it matched (fewer than asked) did not match the page at all
            sides = [side for side, rows in (("dense", dense_rows), ("lexical", lexical_rows)) if len(rows) >= n]
            depth = {side: max(c.ranks.get(side, 0) for c in found.values()) for side in sides}
            for cand in found.values():
                cand.below = {side: depth[side] + 1 for side in sides if side not in cand.ranks}
        ready = store.catalog.ready_ids(doc_id for doc_id, _ in found)
        if two_level:
            unit = self.card_weight / (self.rrf_k + 1)
            prior = {key: unit * cards[c.doc_id] for key, c in found.items() if c.doc_id in cards}
        ranked = sorted((c for c in found.values() if c.doc_id in ready), key=lambda c: -(self._fused(c, mode) + prior.get((c.doc_id, c.page), 0.0)))
        top = ranked[: max(k, self.rerank_top if self.rerank_model else k)]
        for cand in top:
            if cand.text is None:
                cand.text = store.catalog.page_text(cand.doc_id, cand.page)[cand.passage[0] : cand.passage[1]]
        best = max((self._fused(c, mode) for c in top), default=1.0) if mode == "lexical" else self._fused_max(mode) + self.card_weight / (self.rrf_k + 1) * bool(prior)
        scores = {id(c): min(1.0, (self._fused(c, mode) + prior.get((c.doc_id, c.page), 0.0)) / best) for c in top}
        if self.rerank_model and top:
            top, scores = self._rerank(query, top)
        hits = []
        for cand in top[:k]:
            rec = store.catalog.document_by_id(cand.doc_id)
            if rec is None:
                continue  # removed while we were ranking
            try:
                image = store.ensure_image(rec, cand.page) if self.render_images else store.image_path(rec.doc_id, cand.page)
            except StoreError:
                continue  # removed (by another process too) while its page was being drawn
            hits.append(
                PageHit(
                    doc=rec.name,
                    page=cand.page,
                    score=scores[id(cand)],
                    text=cand.text or "",
                    image=image,
                    doc_id=cand.doc_id,
                    passage=cand.passage,
                    ranks=dict(cand.ranks),
                )
            )
        return hits

    def _card_match(self, store: PageStore, query: str, terms: list[str], scope: SearchScope) -> dict[str, float]:
        """Each document's card match for the query, 0-1, within the scope (see ``Catalog.card_scores``)."""
        raw = store.catalog.card_scores(terms, names_in(query))
        allowed = set(scope.doc_ids) if scope.doc_ids is not None else None
        return {d: s for d, s in raw.items() if s > 0 and (allowed is None or d in allowed)}

    def _expand(
        self, store: PageStore, doc_ids: list[str], terms: list[str], vector: np.ndarray | None,
        dense_rows: list[VectorHit], lexical_rows: list[LexicalHit], n: int, scope: SearchScope,
    ) -> tuple[list[VectorHit], list[LexicalHit]]:
        """Search the named documents on their own and merge by score: the same rankings, as if the corpus-wide
        search had gone deep enough to reach their best passages."""
        sub = scope.narrowed(doc_ids)
        if vector is not None:
            more = store.vectors.search(vector, n // 2, sub)
            seen = {_span(h) for h in dense_rows}
            dense_rows = sorted(dense_rows + [h for h in more if _span(h) not in seen], key=lambda h: -h.score)
        if terms:
            more_lex = store.catalog.lexical(terms, n // 2, sub, budget=self.lexical_budget)
            seen_lex = {(h.doc_id, h.page, h.start, h.end) for h in lexical_rows}
            lexical_rows = sorted(lexical_rows + [h for h in more_lex if (h.doc_id, h.page, h.start, h.end) not in seen_lex],
                                  key=lambda h: h.bm25)
        return dense_rows, lexical_rows

    def _fused(self, cand: _Candidate, mode: str) -> float:
        """Dense: cosine similarity. Lexical: BM25. Hybrid: reciprocal-rank fusion of both."""
        if mode != "hybrid":
            return cand.scores[mode]
        return sum(1.0 / (self.rrf_k + r) for r in (*cand.ranks.values(), *cand.below.values()))

    def _fused_max(self, mode: str) -> float:
        return 2.0 / (self.rrf_k + 1) if mode == "hybrid" else 1.0

    def _rerank(self, query: str, top: list[_Candidate]) -> tuple[list[_Candidate], dict[int, float]]:
        import numpy as np

        model = self._cross_encoder()
        logits = np.asarray(model.predict([(query, c.text or "") for c in top], show_progress_bar=False), dtype=np.float64).reshape(len(top), -1)[:, -1]
        probs = 1.0 / (1.0 + np.exp(-logits))
        order = np.argsort(-probs, kind="stable")
        return [top[i] for i in order], {id(top[i]): float(probs[i]) for i in order}

    def _cross_encoder(self) -> Any:
        with self._lock:
            if self._reranker is None:
                from sentence_transformers import CrossEncoder

                from docagent.errors import ModelLoadError

                try:
                    self._reranker = CrossEncoder(self.rerank_model, device="cpu", local_files_only=True)
                except Exception as e:
                    msg = f"cannot load the reranker {self.rerank_model!r} ({type(e).__name__}: {e}); point rerank_model at a local cross-encoder directory"
                    raise ModelLoadError(msg) from e
            return self._reranker

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="docagent-bm25")
            return self._pool

    def _store(self) -> PageStore:
        if self.store is not None:
            return self.store
        with self._lock:
            if self._own_store is None:
                self._own_store = PageStore(self.settings)
            return self._own_store


_Row = tuple[str, int, tuple[int, int], "str | None", float]
"""One passage of a ranking: ``(doc_id, page, (start, end), text or None, score)``, higher scores better."""


def _span(hit: VectorHit) -> tuple[str, int, int, int]:
    """A passage found, by where it is: ``(doc_id, page, start, end)``."""
    return hit.passage.doc_id, hit.passage.page, hit.passage.start, hit.passage.end


def _fold(found: dict[tuple[str, int], _Candidate], side: str, rows: Iterable[_Row]) -> None:
    """Fold one ranking of passages (best first) into pages: a page's rank and score on a side are those
    of its best passage. The passage shown for a page is its best dense one, else its best lexical one."""
    rank = 0
    for doc_id, page, span, text, score in rows:
        cand = found.get((doc_id, page))
        if cand is None:
            cand = found[(doc_id, page)] = _Candidate(doc_id, page, span, text)
        elif side in cand.ranks:
            continue
        elif side == "dense":
            cand.passage, cand.text = span, text
        rank += 1
        cand.ranks[side] = rank
        cand.scores[side] = score


_CARD_FILTERS = ("doc_kind", "year", "organisation")


def _card_matches(card: DocumentCard, flt: dict[str, Any]) -> bool:
    if "doc_kind" in flt and card.kind != str(flt["doc_kind"]).strip().lower():
        return False
    if "year" in flt:
        try:
            year = int(flt["year"])
        except (TypeError, ValueError) as e:
            msg = f"the year filter must be a year such as 2018, not {flt['year']!r}"
            raise ConfigError(msg) from e
        if year not in card.years and not any(str(year) in p for p in card.periods):
            return False
    if "organisation" in flt:
        wanted = " ".join(str(flt["organisation"]).lower().split())
        if not any(wanted in " ".join(o.lower().split()) for o in card.organisations):
            return False
    return True


def _scope(store: PageStore, docs: list[str] | None, pages: tuple[int, int] | None, flt: dict[str, Any] | None) -> SearchScope:
    """What a search may return, checked: every document named exists, the page range is not empty, each filter
    is one we know. Card filters become the documents whose cards match; ``ocr`` and ``kind`` stay filters."""
    doc_ids = None
    if docs:
        doc_ids = []
        for name in docs:
            rec = store.catalog.document(name)
            if rec is None:
                msg = f"{name!r} is not in the store at {store.root}; `docagent docs` lists what is"
                raise DocagentError(msg)
            doc_ids.append(rec.doc_id)
    if pages is not None:
        lo, hi = pages
        if lo < 1 or hi < lo:
            msg = f"page range {lo}-{hi} is empty; pages are numbered from 1"
            raise ConfigError(msg)
    flt = dict(flt or {})
    unknown = set(flt) - {"ocr", "kind", *_CARD_FILTERS}
    if unknown:
        kinds = " or ".join(repr(k) for k in formats.kinds())
        msg = (f"cannot filter on {', '.join(sorted(unknown))}; filters are 'ocr' (bool), 'kind' ({kinds}), "
               "and from document cards 'doc_kind', 'year' (int) and 'organisation'")
        raise ConfigError(msg)
    card_filter = {key: flt[key] for key in _CARD_FILTERS if key in flt}
    if card_filter:
        matching = [doc_id for doc_id, card in store.catalog.cards().items() if _card_matches(card, card_filter)]
        doc_ids = matching if doc_ids is None else [d for d in doc_ids if d in set(matching)]
    return SearchScope(
        doc_ids=tuple(doc_ids) if doc_ids is not None else None,
        pages=(pages[0], pages[1]) if pages is not None else None,
        ocr=bool(flt["ocr"]) if "ocr" in flt else None,
        kind=str(flt["kind"]) if "kind" in flt else None,
    )


def hit_to_document(hit: PageHit, store: PageStore) -> Document:
    text = store.catalog.page_text(hit.doc_id, hit.page)
    return Document(
        page_content=text,
        metadata={
            "doc": hit.doc,
            "page": hit.page,
            "score": hit.score,
            "image": str(hit.image),
            "passage": hit.text,
            "passage_span": list(hit.passage),
            "doc_id": hit.doc_id,
            **{f"{side}_rank": rank for side, rank in hit.ranks.items()},
        },
    )
