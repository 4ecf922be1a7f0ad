"""Ask: retrieve pages, let a vision-language model read them, cite and box the evidence, or abstain.

    question -> PageRetriever (top k pages)
             -> chat model reads page images (+ their text), numbered [1]..[k], answers citing [n]
                (more pages than fit in one prompt: a map step notes what each page says first)
             -> grounding: the answer's words located in the pages' word boxes (text layer or OCR)
             -> abstain when the model says the pages do not answer, or when its answer cannot be
                grounded on pages that barely match the question
    no model loadable -> retrieval-only: the best passages with their pages and boxes, said plainly
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable

from docagent.config import Settings
from docagent.context import Context
from docagent.errors import CalculationError, ModelError, StoreError
from docagent.index.store import PageStore
from docagent.models.abilities import with_image_splitting
from docagent.question import Question, parse
from docagent.retrieve import PageRetriever
from docagent.tasks.calc import number_text
from docagent.tasks.grounding import answer_terms, coverage, match_boxes, tokens
from docagent.tasks.locate import calibrated, locate
from docagent.tasks.prompts import DATA_RULE, message_text, page_blocks, quoted
from docagent.tasks.tables import Computed, compute, lookup, matching_tables, row_names, tables_text
from docagent.tasks.words import Worded, in_words
from docagent.types import Answer, AnswerSpan, Citation, Page, PageHit, Table, page_name

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = ["NOT_FOUND", "AskOptions", "ask", "draw_evidence", "evidence_image"]

NOT_FOUND = "NOT FOUND"


def _system(read_from: str) -> str:
    """The answering prompt, for pages shown as ``read_from`` (their images, or notes taken on them)."""
    return (
        f"You answer questions about documents from {read_from}, numbered [1], [2], ... "
        "Use only what the pages show. Answer briefly, then cite the pages you used by number, like [1] or [2]. "
        f"If the pages do not contain the answer, reply with exactly: {NOT_FOUND} " + DATA_RULE
    )


_SYSTEM = _system("images of their pages")
_SYSTEM_NOTES = _system("notes on their pages")  # the reduce step of a map-reduce answer
_MAP = (
    "You read one page of a document for a question. Write down, briefly, what this page says that helps "
    f"answer it (numbers and names exactly as printed). If the page says nothing about it, reply with exactly: {NOT_FOUND} "
    + DATA_RULE
)
_CITE = re.compile(r"\[(\d{1,3})\]")
_GROUNDED = 0.25  # below this share of the answer's words found on the pages, the answer is not grounded
_RELATED = 0.5  # below this share of the question's words found on the pages, the pages are off topic


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


@dataclass(frozen=True, slots=True)
class AskOptions:
    """How ``ask`` reads the pages (the keyword arguments of :func:`ask` of the same names)."""

    k: int = 4
    """Pages to retrieve and read."""
    max_pages_per_prompt: int = 4
    """More pages than this: a map step notes what each page says first, one page per prompt."""
    page_text_chars: int = 1500
    """Characters of each page's text layer (or OCR text) shown beside its image."""
    image_splitting: bool | None = None
    """For models that can (docagent.models.abilities): cut page images into crops for small print; None: for
    one or two pages, not for more."""


def ask(
    question: str,
    *,
    context: Context | None = None,
    settings: Settings | None = None,
    store: PageStore | None = None,
    llm: BaseChatModel | None = None,
    model: str | None = None,
    k: int = 4,
    docs: Iterable[str] | None = None,
    pages: Iterable[tuple[str, int]] | None = None,
    on_token: Callable[[str], None] | None = None,
    show_evidence: str | Path | None = None,
    max_pages_per_prompt: int = 4,
    page_text_chars: int = 1500,
    image_splitting: bool | None = None,
) -> Answer:
    """Answer ``question`` from the indexed documents.

    ``context``: the settings, store and model to work with (:class:`docagent.Context`); else one is made of
    ``settings``, ``store``, ``llm`` and ``model`` for this call. ``llm``: any LangChain chat model that takes
    images; else ``model`` (a Hub id, a local folder or a server URL) or ``settings.vlm_model`` is loaded, and
    when that fails the answer is retrieval-only.
    ``pages``: read these ``(doc, page)`` pages instead of retrieving (raises :class:`StoreError` for a
    page the store does not hold). ``on_token`` receives the answer as it streams. ``show_evidence``: a folder to write each cited
    page with its evidence boxes drawn. ``k``, ``max_pages_per_prompt``, ``page_text_chars``,
    ``image_splitting``: see :class:`AskOptions`.
    """
    options = AskOptions(k, max_pages_per_prompt, page_text_chars, image_splitting)
    with Context.of(context, settings=settings, store=store, llm=llm, model=model) as ctx:
        return _ask(ctx, question, options, docs=docs, pages=pages, on_token=on_token, show_evidence=show_evidence)


def _ask(ctx: Context, question: str, options: AskOptions, *, docs: Iterable[str] | None,
         pages: Iterable[tuple[str, int]] | None, on_token: Callable[[str], None] | None,
         show_evidence: str | Path | None) -> Answer:
    start = time.perf_counter()
    timings: dict[str, float] = {}
    st = ctx.store
    t = time.perf_counter()
    q = parse(question)  # read once: retrieval, the evidence test, the locator and table lookups share it
    if pages is None:
        hits = PageRetriever(store=st, k=options.k).search(q, docs=list(docs) if docs else None)
    else:
        given = [st.page(doc, n) for doc, n in pages]
        hits = [PageHit(p.doc, p.number, 1.0, p.text, st.page_image(p.doc, p.number), title=p.title, label=p.label)
                for p in given]
    read = {(h.doc, h.page): st.page(h.doc, h.page) for h in hits}
    tables = {(h.doc, h.page): st.tables(h.doc, h.page) for h in hits}
    timings["retrieve"] = _ms(t)
    related = coverage(answer_terms(q.search_text), [p.text for p in read.values()])
    notice = ""
    if not ctx.has_model:
        t = time.perf_counter()
        llm, why = ctx.chat_model_or_reason()
        notice = "retrieval-only: " + why if llm is None else ""
        timings["load_model"] = _ms(t)
    else:
        llm = ctx.chat_model()
    answer: Answer | None
    if not hits:
        answer = Answer(question, _abstain_text(question, 0), "vlm" if llm else "retrieval-only", True,
                        notice=notice or "no indexed page matches the question",
                        reason="no indexed page matches the question")
    elif llm is None:
        answer = _retrieval_only(q, hits, read, tables, st, notice)
    else:
        try:
            answer = (_computed(ctx, question, hits, read, tables, on_token, timings)
                      if q.arithmetic else None)
            answer = answer or _with_model(question, hits, read, tables, related, llm, on_token, timings, options)
        except ModelError as e:  # the server went away, the GPU ran out of memory: still show the evidence
            answer = _retrieval_only(q, hits, read, tables, st,
                                     "retrieval-only: the model failed: " + " ".join(str(e).split()))
    answer.pages = hits
    if show_evidence is not None and answer.citations:
        answer.evidence_images = draw_evidence(answer.citations, Path(show_evidence),
                                               answer.answer_span is not None and answer.answer_span.needs_review)
    timings["total"] = _ms(start)
    answer.timings = timings
    return answer


def _abstain_text(question: str, n_pages: int) -> str:
    if not n_pages:
        return f'The documents do not say. Nothing indexed matches "{question.strip()}".'
    pages = "the page that matches best" if n_pages == 1 else f"the {n_pages} pages that match best"
    return f'The documents do not say. Nothing in {pages} answers "{question.strip()}".'


def _retrieval_only(q: Question, hits: list[PageHit], pages: dict[tuple[str, int], Page],
                    tables: dict[tuple[str, int], list[Table]], store: PageStore, notice: str) -> Answer:
    """No model: the evidence test (abstain when the best pages do not speak of what is asked), the value or
    line most likely to answer, boxed, and the best passages (docagent.tasks.locate). A table cell the question
    names by its row and column is the value (docagent.tasks.tables.lookup)."""
    question, asked = q.text, q.search_text  # instructions ("in USD millions") name no row or column
    terms = answer_terms(asked)
    ids = [rec.doc_id for rec in (store.document(d) for d in dict.fromkeys(h.doc for h in hits)) if rec is not None]
    identity = [word for names in store.catalog.identities(ids).values() for word in names]
    found = locate(q, [pages[(h.doc, h.page)] for h in hits], store.catalog.term_stats, identity)
    span, fitting = found.span, ""
    if q.arithmetic and any(matching_tables(tables[(h.doc, h.page)], asked) for h in hits):
        worded = _in_words(q, hits, pages, tables, notice)
        if isinstance(worded, Answer):
            return worded
        span = None  # a computation: no printed value is its result
        fitting = (f"The question asks for a computation; without a model, {worded}. Give chart an expression over "
                   "the table's cells, such as " 'cell("2019", "Revenue") - cell("2018", "Revenue").')
    named = lookup(asked, [t for h in hits for t in tables[(h.doc, h.page)]]) if not fitting else []
    if len({" ".join(c.text.split()) for _, c in named}) == 1:  # one cell, or one figure printed in several tables
        table, cell = named[0]
        page = pages[(table.doc, table.page)]
        span = AnswerSpan(cell.text, table.doc, table.page, page.to_pixels(cell.box), "value", found.support.share,
                          "table cell")
    elif named:  # the question fits several cells: no one value is the answer
        rows = {(t.doc, t.page, t.index): row_names(t) for t, _ in named}
        heads = {(t.doc, t.page, t.index): t.column_headers() for t, _ in named}
        where = {(t.doc, t.page) for t, _ in named}
        listed = "; ".join(f"{c.text} ({rows[(t.doc, t.page, t.index)][c.row - t.header_rows]}, "
                           f"{heads[(t.doc, t.page, t.index)][c.col]}, {f'page {t.page}, ' if len(where) > 1 else ''}"
                           f"table {t.index + 1})" for t, c in named[:6])
        place = f"{named[0][0].doc} page {named[0][0].page}" if len(where) == 1 else "the pages found"
        span, fitting = None, f"Several table cells on {place} fit the question: {listed}."
    if not found.support.supported:
        if found.support.unknown:
            reason = "no indexed document mentions " + ", ".join(found.support.unknown[:4])
        elif found.support.unnamed:
            reason = "the pages found are not about " + ", ".join(found.support.unnamed[:3]).title()
        else:
            missing = list(found.support.missing[:4])
            held = store.catalog.term_stats(missing).holding if missing else {}
            elsewhere, nowhere = [m for m in missing if held.get(m)], [m for m in missing if not held.get(m)]
            read = "the page read does" if len(hits) == 1 else f"the {len(hits)} pages read do"
            reason = (f"the best pages hold {found.support.share:.0%} of what the question asks about"
                      + (f"; {read} not mention {', '.join(elsewhere)}, which other pages of the store do" if elsewhere else "")
                      + (f"; no indexed page mentions {', '.join(nowhere)}" if nowhere else ""))
        lead = f"The documents do not say: {reason}."
        passages = _passages([(h.doc, h.page) for h in hits], pages, terms)
        return Answer(question, "\n".join([lead, "Closest passages (no model read them):", *passages]), "retrieval-only",
                      True, notice=notice, reason=reason)
    citations = []
    for hit in hits:
        boxes, _ = match_boxes(pages[(hit.doc, hit.page)], terms)
        box = span.box if span is not None and (span.doc, span.page) == (hit.doc, hit.page) else None
        citations.append(Citation(hit.doc, hit.page, [box, *boxes] if box else boxes, hit.image, box, hit.label))
    if span is not None:  # the page with the answer first
        citations.sort(key=lambda c: c.answer_box is None)
        span = calibrated(span, q.kind)
        lead = f"{lead_words(span)}: {span.text} ({span.doc}, {page_name(span.page, _label(pages, span.doc, span.page))})"
    else:
        lead = fitting or "No value stands out on the best pages."
    passages = _passages([(c.doc, c.page) for c in citations], pages, terms)  # numbered as cited: [1] is citations[0]
    return Answer(question, "\n".join([lead, "Best-matching passages (no model read them):", *passages]),
                  "retrieval-only", False, citations, notice=notice, answer_span=span)


def lead_words(span: AnswerSpan) -> str:
    """How a lead found without a model is introduced: as the answer when its confidence is at least
    ``LEAD_REVIEW_BELOW``, else as a possible answer to check; a line as what it is."""
    sure = f"confidence {span.confidence:.2f}" if span.confidence is not None else "confidence not measured"
    if span.kind == "sentence":
        return f"Most relevant line, no value stands out (found without a model, {sure}; check it)"
    if span.needs_review:
        return f"Possible answer, check it (found without a model, {sure})"
    return f"Most likely answer (found without a model, {sure})"


def _label(pages: dict[tuple[str, int], Page], doc: str, number: int) -> str:
    page = pages.get((doc, number))
    return page.label if page is not None else ""


def _in_words(q: Question, hits: list[PageHit], pages: dict[tuple[str, int], Page],
              tables: dict[tuple[str, int], list[Table]], notice: str) -> Answer | str:
    """Arithmetic asked in words over the found tables of ``hits``, computed exactly (no model needed); else why it
    could not be, in a sentence."""
    worded = in_words(q, [t for h in hits for t in tables[(h.doc, h.page)]])
    if isinstance(worded, str):
        return worded
    try:
        return _computed_in_words(q, worded, compute(worded.expression, [worded.table]), hits, pages, notice)
    except CalculationError as e:
        return str(e)


def _computed_in_words(q: Question, worded: Worded, done: Computed, hits: list[PageHit], pages: dict[tuple[str, int], Page],
              notice: str) -> Answer:
    """A computation asked in words, built from the found table's names and computed exactly, the cells cited."""
    table = worded.table
    page = pages[(table.doc, table.page)]
    hit = next(h for h in hits if (h.doc, h.page) == (table.doc, table.page))
    boxes = [page.to_pixels(c.box) for c in done.cells]
    around = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    value = number_text(done.value)
    where = f"{table.doc}, {page_name(table.page, page.label)}"
    review = f" (needs review: {'; '.join(done.review)})" if done.review else ""
    lines = [f"Computed without a model: {value} = {worded.expression} ({where}){review}",
             "Cells read: " + "; ".join(f"{c.row} / {c.column} = {c.text}" for c in done.cells),
             *(f"Note: {n}" for n in done.notes)]
    citation = Citation(table.doc, table.page, boxes, hit.image, None, page.label)
    span = calibrated(AnswerSpan(value, table.doc, table.page, around, "computed", 1.0, "computed"), q.kind)
    if done.review:
        span = replace(span, needs_review=True)
    return Answer(q.text, "\n".join(lines), "retrieval-only", False, [citation], notice=notice, answer_span=span)


def _passages(keys: list[tuple[str, int]], pages: dict[tuple[str, int], Page], terms: set[str]) -> list[str]:
    """``[n] doc, page p: snippet`` for each ``(doc, page)`` of ``keys``, numbered in that order."""
    return [f"[{i}] {doc}, {page_name(page, pages[(doc, page)].label)}: {_snippet(pages[(doc, page)].text, terms)}"
            for i, (doc, page) in enumerate(keys, 1)]


def _snippet(text: str, terms: set[str], width: int = 60) -> str:
    """The ``width`` words of ``text`` richest in ``terms``, with ellipses where it was cut."""
    words = text.split()
    if len(words) <= width:
        return " ".join(words)
    found = [set(tokens(w)) & terms for w in words]

    def richness(i: int) -> tuple[int, int, float]:  # distinct terms, then occurrences, then hits centred
        window = found[i : i + width]
        at = [j for j, f in enumerate(window) if f]
        return len(set().union(*window)), len(at), -abs(sum(at) / len(at) - width / 2) if at else 0.0

    start = max(range(len(words) - width + 1), key=richness)
    return ("… " if start else "") + " ".join(words[start : start + width]) + (" …" if start + width < len(words) else "")


def _page_blocks(i: int, hit: PageHit, page: Page, text_chars: int, tables: list[Table]) -> list[str | dict[str, Any]]:
    return page_blocks(f"[{i}] {hit.doc}, page {hit.page}:", page, hit.image, text_chars, tables_text(tables))


def _bind(llm: BaseChatModel, images: int, splitting: bool | None = None) -> Runnable[LanguageModelInput, BaseMessage]:
    """Fine crops for one or two pages, whole pages when there are more (for models that can split images)."""
    return with_image_splitting(llm, images <= 2 if splitting is None else splitting)


def _stream(llm: Runnable[LanguageModelInput, BaseMessage], messages: list[BaseMessage], on_token: Callable[[str], None] | None) -> str:
    parts = []
    for chunk in llm.stream(messages):
        piece = message_text(chunk.content)
        if piece:
            parts.append(piece)
            if on_token:
                on_token(piece)
    return "".join(parts)


def _with_model(question: str, hits: list[PageHit], pages: dict[tuple[str, int], Page],
                tables: dict[tuple[str, int], list[Table]], related: float, llm: BaseChatModel,
                on_token: Callable[[str], None] | None, timings: dict[str, float], options: AskOptions) -> Answer:
    t = time.perf_counter()
    text_chars, splitting = options.page_text_chars, options.image_splitting
    if len(hits) <= options.max_pages_per_prompt:
        content: list[str | dict[str, Any]] = []
        for i, hit in enumerate(hits, 1):
            content += _page_blocks(i, hit, pages[(hit.doc, hit.page)], text_chars, tables[(hit.doc, hit.page)])
        content.append({"type": "text", "text": f"Question: {question}"})
        reply = _stream(_bind(llm, len(hits), splitting), [SystemMessage(_SYSTEM), HumanMessage(content=content)],
                        on_token)
    else:  # map: one page per prompt, in one batch; reduce: the notes, text only
        notes = _bind(llm, 1, splitting).batch([
            [SystemMessage(_MAP), HumanMessage(content=[*_page_blocks(i, h, pages[(h.doc, h.page)], text_chars,
                                                                      tables[(h.doc, h.page)]),
                                                        {"type": "text", "text": f"Question: {question}"}])]
            for i, h in enumerate(hits, 1)
        ])
        content = [{"type": "text", "text": f"[{i}] {h.doc}, page {h.page}: {quoted(message_text(n.content).strip())}"}
                   for i, (h, n) in enumerate(zip(hits, notes, strict=True), 1)
                   if not message_text(n.content).strip().upper().startswith(NOT_FOUND)]
        content.append({"type": "text", "text": f"Question: {question}"})
        reply = _stream(llm, [SystemMessage(_SYSTEM_NOTES), HumanMessage(content=content)], on_token)
    timings["generate"] = _ms(t)

    t = time.perf_counter()
    said_not_found = not reply.strip() or reply.strip().upper().startswith(NOT_FOUND)
    words = answer_terms(_CITE.sub(" ", reply))
    words = (words - answer_terms(question)) or words  # words the question already has prove nothing
    found_on: dict[int, tuple[list[tuple[int, int, int, int]], set[str]]] = {}
    grounded: set[str] = set()
    for i, hit in enumerate(hits, 1):
        boxes, found = match_boxes(pages[(hit.doc, hit.page)], words)
        found_on[i] = (boxes, found)
        grounded |= found
    share = len(grounded) / len(words) if words else 0.0
    abstained = said_not_found or (share < _GROUNDED and related < _RELATED)
    cited = [i for i in dict.fromkeys(int(n) for n in _CITE.findall(reply)) if 1 <= i <= len(hits)]
    if not cited:  # the model named no page: the pages its words stand on
        cited = sorted((i for i in found_on if found_on[i][1]), key=lambda i: -len(found_on[i][1]))[:3]
    citations = [] if abstained else [
        Citation(hits[i - 1].doc, hits[i - 1].page, found_on[i][0], hits[i - 1].image, page_label=hits[i - 1].label)
        for i in cited
    ]
    timings["ground"] = _ms(t)
    if abstained:
        why = ("the model found no answer on the pages" if said_not_found
               else f"only {share:.0%} of the answer's words are on the pages, which match {related:.0%} of the question")
        return Answer(question, _abstain_text(question, len(hits)), "vlm", True, [], notice=f"abstained: {why}",
                      model_reply=reply, reason=why)
    return Answer(question, reply.strip(), "vlm", False, citations, model_reply=reply)


def _computed(ctx: Context, question: str, hits: list[PageHit], pages: dict[tuple[str, int], Page],
              tables: dict[tuple[str, int], list[Table]], on_token: Callable[[str], None] | None,
              timings: dict[str, float]) -> Answer | None:
    """Arithmetic over a table or chart, computed (docagent.tasks.chart): over the first retrieved page with a
    table that names the question's rows or columns (its cells cited, each with its box), else over the best
    page's chart or table as the model transcribes it; None when neither answers, and the model answers in words."""
    from docagent.tasks.chart import chart

    t = time.perf_counter()
    hit = next((h for h in hits if matching_tables(tables[(h.doc, h.page)], question)), hits[0])
    result = chart((hit.doc, hit.page), question, context=ctx)
    timings["chart"] = _ms(t)
    if result.source == "words":  # the model failed and chart computed it without: so is the answer (retrieval-only)
        raise ModelError(next((n for n in result.notes if n.startswith("no model read")), "the model failed"))
    if result.value is None:
        return None
    text = result.explain(cite="[1]")
    if on_token:
        on_token(text)
    page = pages[(hit.doc, hit.page)]
    if result.cells:  # the cells it read, each where it stands
        boxes = [page.to_pixels(c.box) for c in result.cells]
    else:
        values = {Fraction(str(v)) for v in result.referenced_values()}
        boxes = [page.to_pixels(w.box) for w in page.words if _as_number(w.text) in values]
    return Answer(question, text, "vlm", False, [Citation(hit.doc, hit.page, boxes, hit.image, page_label=hit.label)], model_reply=text,
                  notice="; ".join(result.mismatches))


def _as_number(text: str) -> Fraction | None:
    cleaned = text.strip(".,:;()%€$£").replace(",", "")
    try:
        return Fraction(cleaned) if cleaned else None
    except ValueError:
        return None


WORD_BOXES = 8
"""Beside a located answer, the question's words drawn on its page: the nearest this many, thin and light."""


def evidence_image(citation: Citation, doubtful: bool = False) -> PILImage:
    """The cited page image (PIL, RGB) with the citation's evidence boxes drawn in red; with a located answer
    (retrieval-only) that answer boxed in green (amber when ``doubtful``: a possible answer to check) and only the
    :data:`WORD_BOXES` question words nearest it, thin and light (the answer is what the eye should find)."""
    from PIL import Image, ImageDraw

    if citation.image is None:
        msg = f"the citation of {citation.doc} page {citation.page} carries no page image to draw on"
        raise ValueError(msg)
    with Image.open(io.BytesIO(citation.image.read_bytes())) as src:
        image = src.convert("RGB")
    draw = ImageDraw.Draw(image)
    words = [b for b in citation.boxes if b != citation.answer_box]
    if citation.answer_box:  # the located answer, apart from the question's words
        box = citation.answer_box
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        words = sorted(words, key=lambda b: ((b[0] + b[2]) / 2 - cx) ** 2 + ((b[1] + b[3]) / 2 - cy) ** 2)[:WORD_BOXES]
        for b in words:
            draw.rectangle([b[0] - 1, b[1] - 1, b[2] + 1, b[3] + 1], outline=(240, 170, 150), width=1)
    else:
        for b in words:
            draw.rectangle([b[0] - 2, b[1] - 2, b[2] + 2, b[3] + 2], outline=(220, 30, 30), width=3)
    if citation.answer_box:
        colour = (235, 150, 0) if doubtful else (20, 150, 60)
        draw.rectangle([box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4], outline=colour, width=5)
    return image


def draw_evidence(citations: list[Citation], out_dir: Path, doubtful: bool = False) -> list[Path]:
    """Write each cited page image with its evidence boxes drawn (``doubtful``: see :func:`evidence_image`);
    returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for c in citations:
        if c.image is None:
            continue
        out = out_dir / f"{Path(c.doc).stem}-p{c.page}.png"
        try:
            evidence_image(c, doubtful).save(out)
        except StoreError:
            continue  # its document was replaced or removed meanwhile
        written.append(out)
    return written
