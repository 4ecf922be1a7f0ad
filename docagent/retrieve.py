"""Page retrieval: a dense ranking (passage vectors, in Chroma by default: docagent.index.vectors) and a lexical
one (BM25 over the same passages, SQLite FTS5 in the store's catalog), each folded to pages by their best passage and fused by
reciprocal rank. Passages are indexed with their document's identity and section (docagent.ingest.identity),
so both rankings already lean towards the document a question names.

Hybrid search then fuses the two page rankings by reciprocal rank (a page that one side did not rank, when that
side stopped at its depth, counts there as ranked just below its last rather than not at all, so a page that
tops one side is not beaten by pages both sides rank low; a dense rank weighs ``dense_weight`` of the same BM25
rank), and ranks documents and pages together: every page of a document the
question names gets a prior of up to ``card_weight`` first-place ranks of BM25, from the card match
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

import math
import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PrivateAttr

from docagent.config import Settings
from docagent.errors import ConfigError, DocagentError, StoreError
from docagent.index.catalog import PageFields, TermStats
from docagent.index.store import PageStore
from docagent.index.vectors import SearchScope, VectorHit
from docagent.ingest import formats
from docagent.ingest.identity import name_words
from docagent.question import ANNUAL as _ANNUAL
from docagent.question import QUARTERLY as _QUARTERLY
from docagent.question import Question, lexical_terms, names_in, parse
from docagent.text import words
from docagent.types import DocumentCard, PageHit

__all__ = ["MODES", "PageRetriever", "lexical_terms", "names_in"]

Mode = Literal["hybrid", "dense", "lexical"]
MODES: tuple[str, ...] = ("hybrid", "dense", "lexical")

_PERIOD_WORDS = frozenset(["fy", "fiscal", "q1", "q2", "q3", "q4", "10", "k", "q", "latest", "quarter", "quarterly", "annual",
                           "first", "second", "third", "fourth", "january", "february", "march", "april", "may", "june",
                           "july", "august", "september", "october", "november", "december"])
"""Capitalised words that name a period or a form, not whose report it is."""

_VALUE_KINDS = frozenset(["amount", "percent", "count"])
_PERIOD_TOKEN = re.compile(r"q[1-4]|[1-4]q\d*|fy\d+|h[12]|\d+[a-z]{0,2}")
"""Words that say when ("q3", "fy2023", "3q23", "1st"), not what."""
STAGE_MIN_PAGES = 20
"""The second stage weighs a word by its rarity among the candidates' titles: with fewer candidate pages than this
(a small store, a short document) rarity says nothing, and the stage stays out."""
DENSE_WEIGHT = 0.5
"""What a rank of the dense ranking is worth against the same rank of BM25's (``PageRetriever.dense_weight``)."""

_SHORT_FORM = re.compile(r"(?<![\w&])([A-Za-z][A-Za-z&/.-]{1,9})(?![\w&])")


def _short_forms(text: str) -> set[str]:
    """Words of ``text`` that may be abbreviations: two capitals or more ("PP&E", "EBITDA", "MD&A"), lower-cased."""
    return {m.group(1).rstrip(".").lower() for m in _SHORT_FORM.finditer(text) if sum(c.isupper() for c in m.group(1)) >= 2}


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
    dense_weight: float = Field(default=DENSE_WEIGHT, ge=0, le=1)
    """Hybrid mode: what a rank of the dense ranking is worth against the same rank of BM25's (1). Below 1 the
    small embedder's ranking adds to BM25's without outvoting it (fit by cross-validation: see the README)."""
    lexical_budget: int = Field(default=20_000, ge=1)
    """BM25 scores at most about this many passage postings per query: the rarest query words are
    kept (at least two), the most common dropped once the budget is spent. Common words add little to
    BM25 but cost the most; this bounds lexical latency however large the store grows."""
    card_weight: float = Field(default=0.5, ge=0)
    """Hybrid mode: the document prior a full card match gives each of its pages, in first-place ranks of BM25 (0: off)."""
    expand_above: float = Field(default=0.8, ge=0, le=1)
    """Hybrid mode: card match from which a document is also searched on its own."""
    expand_docs: int = Field(default=2, ge=0)
    """Hybrid mode: documents searched on their own, the best-matched first, this many at most."""
    period_weight: float = Field(default=1.0, ge=0)
    """Hybrid mode: first-place ranks of BM25 given to every page of a document whose resolved reporting period is the one
    the question asks for ("Q2 2023", "FY2022"), or that is the newest of the documents it names when it asks for
    the latest (0: off)."""
    stage_pages: int = Field(default=50, ge=0)
    """Hybrid mode: fused pages the second stage rescores by their structure (0: off)."""
    stage_weights: tuple[float, float, float] = (0.25, 0.1, 0.0)
    """Second stage, in first-place ranks of BM25: for the share of the question's words in the page's title, the share in
    its tables' row labels and column headers, and the question's year among its column headers (fit on the
    development sets; see the README)."""
    stage_values_only: bool = True
    """The second stage only for questions that ask for a figure (an amount, a percentage, a count, a computation):
    for questions about a discussion it cost rank-1 hits on the development sets (README)."""
    keep_firsts: bool = True
    """Hybrid mode: the page BM25 ranks first stays in the top ``k`` (last, when fusion would push it out), if its
    document is among those of the top ``k`` or BM25 ranked it first decisively (twice its second's score). When
    the two sides disagree sharply (a page that holds every rare word of the question, which the embedder or a
    document's card ranks down), it is not lost behind pages both rank moderately (measured: README)."""
    facets: bool = True
    """Hybrid mode: when a question names two or more things of the glossary that different pages of its document
    print as a title or among their tables' labels (two statements; "capex as a share of revenue": a line item of
    the cash-flow statement and one of the income statement), the first such page for each stays in the top ``k``
    (an answer spread over pages needs every one of them)."""
    rerank_model: str | None = None
    """A local sentence-transformers cross-encoder directory; off when unset."""
    rerank_top: int = Field(default=20, ge=1)
    """Fused pages the cross-encoder rescores."""
    render_images: bool = True
    """Draw each returned page's image now (kept in the blob store after the first time); off, it is drawn when
    first read (``hit.image.read_bytes()``)."""

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
        query: str | Question,
        *,
        k: int | None = None,
        mode: Mode | None = None,
        docs: list[str] | None = None,
        pages: tuple[int, int] | None = None,
        filter: dict[str, Any] | None = None,
    ) -> list[PageHit]:
        """Like ``invoke`` but returns :class:`~docagent.types.PageHit` objects. ``query``: the question as text, or
        read already (:func:`docagent.question.parse`)."""
        k = self.k if k is None else k
        mode = mode or self.mode
        if mode not in MODES:
            msg = f"unknown retrieval mode {mode!r}; use one of {', '.join(MODES)}"
            raise ConfigError(msg)
        if k < 1:
            msg = "k must be at least 1"
            raise ConfigError(msg)
        text = query.text if isinstance(query, Question) else query
        if not text.strip():
            msg = "the query is empty; type a question or some words to look for"
            raise DocagentError(msg)
        store = self._store()
        scope = _scope(store, docs if docs is not None else self.docs, pages or self.pages, filter if filter is not None else self.filter)
        if not store.catalog.has_documents() or scope.doc_ids == ():
            return []
        q = parse(query)
        q = q.with_abbreviations({s: v for s, v in store.catalog.abbreviations(_short_forms(q.search_text)).items()
                                  if s not in q.abbreviations})
        n = max(self.candidates, k * 4)
        found: dict[tuple[str, int], _Candidate] = {}
        terms = self._terms(q) if mode in ("hybrid", "lexical") else []
        if mode in ("hybrid", "dense"):
            store.check_embedder()
        cards: dict[str, float] = {}
        periods: dict[str, float] = {}
        extra: list[str] = []
        two_level = mode == "hybrid" and (self.card_weight > 0 or self.period_weight > 0)
        if two_level:
            cards = self._card_match(store, q, scope) if self.card_weight > 0 else {}
            periods = self._period_match(store, q, scope) if self.period_weight > 0 else {}
            named = sorted(cards, key=lambda d: -(cards[d] + periods.get(d, 0.0)))
            extra = [d for d in named[: self.expand_docs] if cards[d] >= self.expand_above or periods.get(d, 0.0) >= 1.0]
        # the documents the question names are also searched on their own (as if the store-wide search had gone deep
        # enough to reach their best passages). BM25 in SQLite and vector search release the GIL: the four searches
        # run side by side
        sub = scope.narrowed(extra) if extra else None
        searches = self._executor()
        lexical = searches.submit(store.catalog.lexical, terms, n, scope, budget=self.lexical_budget) if terms else None
        lexical_more = searches.submit(store.catalog.lexical, terms, n // 2, sub, budget=self.lexical_budget) \
            if terms and sub is not None else None
        dense_more: Future[list[VectorHit]] | None = None
        vector = None
        dense_rows: list[VectorHit] = []
        try:
            if mode in ("hybrid", "dense"):
                vector = store.embedder.embed_query(q.dense_text)
                if sub is not None:
                    dense_more = searches.submit(store.vectors.search, vector, n // 2, sub)
                dense_rows = store.vectors.search(vector, n, scope)
        finally:  # never leave a search thread on a store the caller may close after an error
            running: list[Future[Any]] = [f for f in (lexical, lexical_more, dense_more) if f is not None]
            wait(running)
        lexical_rows = lexical.result() if lexical is not None else []
        if dense_more is not None:
            seen = {_span(h) for h in dense_rows}
            dense_rows = sorted(dense_rows + [h for h in dense_more.result() if _span(h) not in seen], key=lambda h: -h.score)
        if lexical_more is not None:
            seen_lex = {(h.doc_id, h.page, h.start, h.end) for h in lexical_rows}
            lexical_rows = sorted(lexical_rows + [h for h in lexical_more.result() if (h.doc_id, h.page, h.start, h.end) not in seen_lex],
                                  key=lambda h: h.bm25)
        prior: dict[tuple[str, int], float] = {}
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
        unit = 1.0 / (self.rrf_k + 1)
        if two_level:
            prior = {key: unit * (self.card_weight * cards.get(c.doc_id, 0.0) + self.period_weight * periods.get(c.doc_id, 0.0))
                     for key, c in found.items() if c.doc_id in cards or c.doc_id in periods}
        ranked = sorted((c for c in found.values() if c.doc_id in ready), key=lambda c: -(self._fused(c, mode) + prior.get((c.doc_id, c.page), 0.0)))
        fields: dict[tuple[str, int], PageFields] = {}
        read: set[tuple[str, int]] = set()  # the pages whose fields were read (a page may have none)
        staged = False
        head = ranked[: self.stage_pages]
        if mode == "hybrid" and self.stage_pages and len(head) >= STAGE_MIN_PAGES \
                and (not self.stage_values_only or q.kind in _VALUE_KINDS or q.arithmetic):
            read = {(c.doc_id, c.page) for c in head}
            fields, staged = store.catalog.page_fields(read), True
            whose = {w for parts in store.catalog.identities(c.doc_id for c in head).values()
                     for w in words(" ".join((name_words(parts[0]), *parts[1:])))}
            second = _Stage(q, [fields.get((c.doc_id, c.page)) for c in head], self.stage_weights, store.catalog.term_stats, whose)
            stage = {id(c): unit * second.score(i) for i, c in enumerate(head)}
            prior = {key: prior.get(key, 0.0) + stage.get(id(c), 0.0) for key, c in found.items()}
            ranked = sorted(head, key=lambda c: -(self._fused(c, mode) + prior[(c.doc_id, c.page)])) + ranked[self.stage_pages :]
        if mode == "hybrid" and self.keep_firsts:
            ranked = _keep_firsts(ranked, k)
        if mode == "hybrid" and self.facets and k > 1 and len(q.expansions) > 1 and ranked:
            pool = [c for c in ranked[: self.stage_pages or k] if c.doc_id == ranked[0].doc_id]
            unread = {(c.doc_id, c.page) for c in pool} - read
            fields, read = {**fields, **store.catalog.page_fields(unread)}, read | unread
            ranked = _with_facets(ranked, k, q, pool, fields)
        top = ranked[: max(k, self.rerank_top if self.rerank_model else k)]
        for cand in top:
            if cand.text is None:
                cand.text = store.catalog.page_text(cand.doc_id, cand.page)[cand.passage[0] : cand.passage[1]]
        boost = (self.card_weight + self.period_weight) * unit * bool(prior) + unit * sum(self.stage_weights) * staged
        best = max((self._fused(c, mode) for c in top), default=1.0) if mode == "lexical" else self._fused_max(mode) + boost
        scores = {id(c): min(1.0, (self._fused(c, mode) + prior.get((c.doc_id, c.page), 0.0)) / best) for c in top}
        if self.rerank_model and top:
            top, scores = self._rerank(q.search_text, top)
        unread = {(c.doc_id, c.page) for c in top[:k]} - read
        if unread:
            fields = {**fields, **store.catalog.page_fields(unread)}
        labels = store.catalog.page_labels((c.doc_id, c.page) for c in top[:k])
        hits = []
        for cand in top[:k]:
            rec = store.catalog.document_by_id(cand.doc_id)
            if rec is None:
                continue  # removed while we were ranking
            try:
                image = store.image(rec.doc_id, cand.page)
                if self.render_images:  # drawn now: whoever shows the hits does not wait, even once the store is closed
                    image = image.drawn()
            except StoreError:
                continue  # removed (by another process too) while its page was being drawn
            info = fields.get((cand.doc_id, cand.page))
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
                    title=info.title if info else "",
                    label=labels.get((cand.doc_id, cand.page), ""),
                )
            )
        return hits

    @staticmethod
    def _terms(q: Question) -> list[str]:
        """What BM25 looks for: the question's own words, then each glossary variant it did not say, as a phrase
        (a phrase matches only where all its words stand together, so a long variant cannot outweigh the question)."""
        phrases = [" ".join(words(v)) for _, others in q.expansions for v in others]
        return list(dict.fromkeys([*q.terms, *(p for p in phrases if p and p not in q.terms)]))

    def _card_match(self, store: PageStore, q: Question, scope: SearchScope) -> dict[str, float]:
        """Each document's card match for the question, 0-1, within the scope (see ``Catalog.card_scores``)."""
        raw = store.catalog.card_scores(list(q.terms), set(q.names))
        allowed = set(scope.doc_ids) if scope.doc_ids is not None else None
        return {d: s for d, s in raw.items() if s > 0 and (allowed is None or d in allowed)}

    @staticmethod
    def _period_match(store: PageStore, q: Question, scope: SearchScope) -> dict[str, float]:
        """Each document's match (0-1) with the period the question asks for, by the period its card resolved: the
        same fiscal quarter 1, the same calendar quarter 0.6 (unless the question said "fiscal"), the same year for
        a question naming only a year 0.8 (fiscal) or 0.5 (calendar). A question asking for the latest, naming no
        period: 1 for the newest report. Either only among the documents whose file names and organisations share
        most of the names the question says (all, when it names none): "Q2 2023 at Orchard" lifts no one else's
        second quarter."""
        if not q.periods and not q.latest:
            return {}
        allowed = set(scope.doc_ids) if scope.doc_ids is not None else None
        known = store.catalog.periodic()
        dated = {d: doc.period for d, doc in known.items() if allowed is None or d in allowed}
        if not dated:
            return {}
        asked = {w for w in q.names if w.isalpha() and len(w) > 1}
        first = re.match(r"\W*([^\W\d_]+)", q.search_text)
        if first and not first.group(1).isupper():
            asked.discard(first.group(1).lower())  # "Summarize ...": a capital that starts a sentence names no one
        overlap = {d: len(asked & set(words(" ".join((name_words(known[d].name), *known[d].organisations))))) for d in dated}
        most = max(overlap.values(), default=0)
        if asked and not most and any(w not in _PERIOD_WORDS for w in asked):
            return {}  # it names someone none of the dated reports is by: their periods say nothing about it
        named = [d for d in dated if overlap[d] == most]  # the documents of the company it names (all, for none)
        if _QUARTERLY.search(q.search_text) and not _ANNUAL.search(q.search_text):
            named = [d for d in named if not dated[d].annual]  # "the latest 10-Q" is no 10-K
        elif _ANNUAL.search(q.search_text) and not _QUARTERLY.search(q.search_text):
            named = [d for d in named if dated[d].annual]
        if not named:
            return {}
        out: dict[str, float] = {}
        if q.periods:
            for doc_id in named:
                period, best = dated[doc_id], 0.0
                for asked_period in q.periods:
                    if asked_period.quarter is not None and not period.annual:
                        if (period.fiscal_year, period.quarter) == (asked_period.year, asked_period.quarter):
                            best = max(best, 1.0)
                        elif not asked_period.fiscal and period.calendar == (asked_period.year, asked_period.quarter):
                            best = max(best, 0.6)
                    elif asked_period.quarter == 4 and period.fiscal_year == asked_period.year:
                        best = max(best, 0.8)  # a fourth quarter is reported in the year's annual report
                    elif asked_period.quarter is None:
                        if period.fiscal_year == asked_period.year:
                            best = max(best, 0.8 if period.annual else 0.6)
                        elif not asked_period.fiscal and period.end.year == asked_period.year:
                            best = max(best, 0.5 if period.annual else 0.4)
                if best:
                    out[doc_id] = best
            return out
        newest = max(dated[d].end for d in named)
        return {d: 1.0 for d in named if dated[d].end == newest}

    def _fused(self, cand: _Candidate, mode: str) -> float:
        """Dense: cosine similarity. Lexical: BM25. Hybrid: reciprocal-rank fusion of both."""
        if mode != "hybrid":
            return cand.scores[mode]
        return sum((self.dense_weight if side == "dense" else 1.0) / (self.rrf_k + r)
                   for side, r in (*cand.ranks.items(), *cand.below.items()))

    def _fused_max(self, mode: str) -> float:
        return (1.0 + self.dense_weight) / (self.rrf_k + 1) if mode == "hybrid" else 1.0

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
                self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="docagent-search")
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


LEXICAL_DECISIVE = 2.0
"""BM25's first page is decisive when it scores this many times its second: kept in the top k even when its document
is none of those fusion chose."""


def _keep_firsts(ranked: list[_Candidate], k: int) -> list[_Candidate]:
    """``ranked`` with the page BM25 ranked first moved up to the last place of the top ``k`` when fusion put it below
    them, if its document is one the top ``k`` holds or BM25 found it decisively (:data:`LEXICAL_DECISIVE`); with
    ``k`` = 1 the fused first stays alone. Without that condition, another filing's page with the same line items
    displaced the right filing's pages (the card and period priors had ranked it down); dense's first, moved the same
    way, cost more than it gained on the development sets."""
    if k < 2:
        return ranked
    first = next((i for i, c in enumerate(ranked) if c.ranks.get("lexical") == 1), None)
    if first is None or first < k:
        return ranked
    lead = ranked[first]
    second = max((c.scores.get("lexical", 0.0) for c in ranked if c.ranks.get("lexical", 1) > 1), default=0.0)
    decisive = second <= 0 or lead.scores.get("lexical", 0.0) >= LEXICAL_DECISIVE * second
    if lead.doc_id not in {c.doc_id for c in ranked[:k]} and not decisive:
        return ranked
    return [*ranked[: k - 1], lead, *ranked[k - 1 : first], *ranked[first + 1 :]]


def _with_facets(ranked: list[_Candidate], k: int, q: Question, pool: list[_Candidate],
                 fields: dict[tuple[str, int], PageFields]) -> list[_Candidate]:
    """``ranked`` with the page that prints each glossary group the question names kept in the top ``k``. For each
    group, the page is the best-ranked of ``pool`` (the leading document's first pages) whose title holds one of the
    group's wordings, else one of whose tables' row labels or column headers does (all its words on one line: "Net
    income" and "operating activities" are no "operating income"). When two groups or more lead to different pages, each of
    those missing from the top ``k`` takes the place of the lowest-ranked page of the same document there that is
    not one of them, BM25's first page last (the first page and other documents' pages always stay)."""
    chosen: list[_Candidate] = []
    for said, others in q.expansions:
        group = [v for v in (_stems(w) for w in (said, *others)) if v]
        for part in ("title", "labels"):
            page = next((c for c in pool if (f := fields.get((c.doc_id, c.page)))
                         and any(v <= _stems(line) for line in getattr(f, part).splitlines() for v in group)), None)
            if page is not None:
                if all(page is not c for c in chosen):
                    chosen.append(page)
                break
    top = ranked[:k]
    missing = [c for c in chosen if all(c is not t for t in top)]
    if len(chosen) < 2 or not missing:
        return ranked
    # only the leading document's pages give way (other documents keep theirs); BM25's first (kept there on purpose)
    # last, when no other page of that document can
    mine = [c for c in reversed(top[1:]) if c.doc_id == top[0].doc_id and all(c is not x for x in chosen)]
    spare = sorted(mine, key=lambda c: c.ranks.get("lexical") == 1)[: len(missing)]
    kept = [c for c in top if all(c is not x for x in spare)] + missing[: len(spare)]
    return kept + [c for c in ranked if all(c is not x for x in kept)]


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


def _topic_terms(terms: Iterable[str], whose: set[str]) -> list[str]:
    """The terms that say what is asked about, not whose or when: a page's title and table labels are matched on
    these ("AMAZON.COM, INC." over a statement names the company, which says nothing of the page). ``whose``: the
    words of the candidate documents' names and organisations."""
    return [t for t in terms if t not in whose and not t.isdigit() and not _PERIOD_TOKEN.fullmatch(t)]


def _stems(text: str) -> set[str]:
    """Words as the second stage compares them: lower case, a plural's "s" dropped."""
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words(text)}


class _Stage:
    """The second stage's view of a question over the first pages of a ranking: what each candidate's title and
    table labels hold of what the question asks for. Each thing asked for weighs by how rare it is in the store
    (BM25's IDF over the passages: "aardvark3" outweighs "report") times how rare among those candidates' titles
    (labels): "consolidated", "statements" or "notes", printed over most pages of a filing, weigh nothing there."""

    def __init__(self, q: Question, fields: list[PageFields | None], weights: tuple[float, float, float],
                 stats: Callable[[list[str]], TermStats], whose: set[str]) -> None:
        self.weights = weights
        topic = _topic_terms(q.terms, whose)
        # each thing asked for: a glossary group the question names (found when any of its variants is: "capex" on a
        # page that prints "purchases of property and equipment"), or a word of it that no such group covers
        covered = set().union(*(_stems(said) for said, _ in q.expansions)) if q.expansions else set()
        said_words = [lexical_terms(said) for said, _ in q.expansions]
        counted = stats(list(dict.fromkeys([*topic, *(w for ws in said_words for w in ws)])))
        self.asked: list[tuple[set[str], ...]] = []
        self.rarity: list[float] = []
        for (said, others), ws in zip(q.expansions, said_words, strict=True):
            group = tuple(_stems(v) for v in (said, *others) if _stems(v))
            if group:
                self.asked.append(group)
                self.rarity.append(max((counted.idf(w) for w in ws), default=1.0))
        for w in dict.fromkeys(topic):
            stem = next(iter(_stems(w)), "")
            if stem and stem not in covered and ({stem},) not in self.asked:
                self.asked.append(({stem},))
                self.rarity.append(counted.idf(w))
        self.titles = [_stems(f.title) if f else set() for f in fields]
        self.labels = [_stems(f.labels) if f else set() for f in fields]
        self.years = {str(p.year) for p in q.periods}
        self.heads = [f.labels if f else "" for f in fields]
        self.title_idf = [a * b for a, b in zip(self._idf(self.titles), self.rarity, strict=True)]
        self.label_idf = [a * b for a, b in zip(self._idf(self.labels), self.rarity, strict=True)]

    def _idf(self, held: list[set[str]]) -> list[float]:
        n = len(held)
        out = []
        for variants in self.asked:
            df = sum(any(v <= h for v in variants) for h in held)
            out.append(math.log(1 + (n - df + 0.5) / (df + 0.5)))
        return out

    @staticmethod
    def _share(asked: list[tuple[set[str], ...]], idf: list[float], held: set[str]) -> float:
        total = sum(idf)
        return sum(w for variants, w in zip(asked, idf, strict=True) if any(v <= held for v in variants)) / total if total else 0.0

    def score(self, i: int) -> float:
        """Candidate ``i``'s structure score, in first-place ranks of BM25."""
        if not self.asked:
            return 0.0
        title = self._share(self.asked, self.title_idf, self.titles[i])
        labels = self._share(self.asked, self.label_idf, self.labels[i])
        period = 1.0 if self.years and any(y in self.heads[i] for y in self.years) else 0.0
        return self.weights[0] * title + self.weights[1] * labels + self.weights[2] * period


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
            "page_label": hit.label,
            "score": hit.score,
            "image": hit.image.uri,
            "passage": hit.text,
            "passage_span": list(hit.passage),
            "doc_id": hit.doc_id,
            **{f"{side}_rank": rank for side, rank in hit.ranks.items()},
        },
    )
