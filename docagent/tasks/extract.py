"""Extract: fields of forms, receipts and contracts into a schema, typed, validated and pointed to on the page.

    file -> index (text layer / OCR, word boxes, AcroForm widgets, page images)
         -> AcroForm widgets: exact values, matched to fields by name, tooltip and printed label   (acroform)
         -> fields still open: the chat model reads the pages (the retriever narrows long documents)
            and fills the schema through structured output; values are coerced to their types and
            re-asked with the error a bounded number of times                                       (vlm)
            no model: the words printed after each field's label; an amount such as a receipt's total
            from the layout (the last labelled amount before the payment lines, checked against them);
            a date with no label, the page's only date                                               (text)
         -> grounding: each value found in the page's words (case, spacing, number and date formats
            normalised) gives page and box; a value not found is kept, flagged
         -> every field of the schema in the result: not found, null with the reason; confidence calibrated per
            source and match quality (CONFIDENCE), needs_review below REVIEW_BELOW
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from statistics import median
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from tqdm import tqdm

from docagent.config import Settings
from docagent.context import Context
from docagent.errors import DocagentError, ModelError
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.retrieve import PageRetriever
from docagent.tasks.llm import ask_until_valid
from docagent.tasks.prompts import DATA_RULE, page_blocks
from docagent.tasks.schema import ExtractionSchema, FieldSpec, coerce, fields_of, schema_model
from docagent.text import words
from docagent.types import Box, Extraction, FieldValue, Page, PageImage, Widget, Word

__all__ = ["CONFIDENCE", "NO_VALUE_CONFIDENCE", "REVIEW_BELOW", "extract", "extractions_csv", "extractions_jsonl", "widget_label"]

log = logging.getLogger(__name__)

_SYSTEM = (
    "You extract fields from document pages, numbered [1], [2], ... Copy values exactly as printed "
    "(dates and amounts too). Use null for a field that is not on the pages. " + DATA_RULE
)
_MATCH = 0.5  # share of a field's words a widget's name, tooltip or label must carry to be that field
NO_FIELDS = "no fields to extract were given and the document has no form fields: give the fields to extract"


def extract(
    files: Sequence[str | Path] = (),
    schema: ExtractionSchema | None = None,
    *,
    docs: Sequence[str] = (),
    context: Context | None = None,
    settings: Settings | None = None,
    store: PageStore | None = None,
    llm: BaseChatModel | None = None,
    model: str | None = None,
    max_pages: int = 4,
    retries: int = 2,
    use_model: bool = True,
    progress: bool = False,
) -> list[Extraction]:
    """Extract ``schema``'s fields (pydantic model, JSON Schema, ``"name:type, ..."`` or FieldSpecs) from
    each file and each indexed document named in ``docs``.

    Without a schema, a fillable PDF gives all its form fields by name. ``llm``: any LangChain chat model
    that reads images (else ``model`` or ``settings.vlm_model`` is loaded when a field needs it; when none
    loads, or ``use_model=False``, fields are read next to their printed labels). One :class:`Extraction`
    per file, in order, then one per name in ``docs`` (documents already indexed, read from the store); a
    file that cannot be read gets its error and the batch goes on.

    ``context``: the settings, store and model to work with (:class:`docagent.Context`); else one is made of
    ``settings``, ``store``, ``llm`` and ``model`` for this call.
    """
    specs = fields_of(schema) if schema is not None else None
    with Context.of(context, settings=settings, store=store, llm=llm, model=model) as ctx:
        reader = _Reader(ctx, use_model)
        report = index_paths(list(files), store=ctx.store, progress=False) if files else None
        failed = {Path(f.path).name: f.error for f in report.failed} if report else {}
        results = []
        names = [Path(f).name for f in files] + list(docs)
        for name in tqdm(names, desc="extract", unit="file", disable=not progress):
            if name in failed or ctx.store.document(name) is None:
                error = failed.get(name, "not indexed: `docagent docs` lists the documents")
                unread = {s.name: _not_found("the document could not be read") for s in specs or ()}
                results.append(Extraction(name, unread, [error]))
                continue
            try:
                results.append(_extract_one(ctx, name, specs, reader, max_pages, retries))
            except DocagentError as e:
                results.append(Extraction(name, {s.name: _not_found("the document could not be read") for s in specs or ()},
                                          [str(e)]))
        return results


@dataclass(slots=True)
class _Reader:
    """The chat model one ``extract`` call reads pages with: asked of the context once, when the first field
    needs it (none with ``use_model=False``); when none loads, said once and fields are read from the text."""

    ctx: Context
    use_model: bool
    asked: bool = False
    llm: BaseChatModel | None = None

    def model(self) -> BaseChatModel | None:
        if self.use_model and not self.asked:
            self.asked = True
            self.llm, why = self.ctx.chat_model_or_reason()
            if self.llm is None:
                log.warning("no model for extraction (%s); fields are read next to their printed labels", why)
        return self.llm


def _extract_one(ctx: Context, name: str, specs: list[FieldSpec] | None, reader: _Reader, max_pages: int,
                 retries: int) -> Extraction:
    store = ctx.store
    rec = ctx.require_document(name)
    pages = [store.page(name, n) for n in range(1, rec.pages + 1)]
    result = Extraction(name)
    widgets = [(p, w) for p in pages for w in p.widgets]
    if specs is None:
        if not widgets:
            result.errors.append(NO_FIELDS)
        kinds = {w.name: "bool" if w.type in ("checkbox", "radiobutton") else "str" for _, w in widgets}
        specs = [FieldSpec(n, k) for n, k in kinds.items()]
    found = _from_widgets(specs, widgets, result.errors)
    todo = [s for s in specs if s.name not in found]
    llm = reader.model() if todo else None
    if llm is not None:
        chosen = pages if len(pages) <= max_pages else _narrow(store, name, pages, todo, max_pages)
        try:
            images = [store.page_image(name, p.number) for p in chosen]
            found.update(_from_model(llm, chosen, images, todo, retries, result.errors))
        except ModelError as e:
            result.errors.append(f"the model failed ({e}); fields read from the text instead")
    if todo and any(s.name not in found for s in todo):
        found.update(_from_text(pages, [s for s in todo if s.name not in found]))
    result.fields = {s.name: found.get(s.name) or _not_found() for s in specs}  # every field, in the schema's order
    return result


# --------------------------------------------------------------------------- confidence

CONFIDENCE: dict[str, float] = {
    "acroform:name": 0.99,     # 85/85  the widget's full name, or its last part, is the field's name
    "acroform:label": 0.97,    # 35/35  all the field's words in the widget's name, tooltip or printed label
    "acroform:partial": 0.67,  # 1/1    only some of them (too few cases to say more)
    "text:typed": 0.97,        # 28/28  no model: no label, the only date on a one-page document
    "text:paid": 0.97,         # 34/34  a receipt's total: the last amount labelled total before its payment lines, and
                               #        they agree (paid less change is that amount: "TOTAL 39.80 / CASH 40.00 / CHANGE 0.20")
    "text:last-total": 0.91,   # 9/9    the last amount labelled total, no payment lines after it ("Total Payable: 23.35")
    "text:value": 0.86,        # 29/33  a date or number read as its type right after its label ("Date: 22/08/2017")
    "text:stamp": 0.83,        # 4/4    no label: the only date, printed stuck to its time or label ("Date:27/01/2018")
    "text:label": 0.65,        # 133/204 text right after its label ("Customer: Brightwater Bakery GmbH."): where it ends is a guess
    "text:before-paid": 0.56,  # 4/7    the last amount labelled total before the payment lines, which do not agree with it
    "text:phrase": 0.50,       # 23/46  text, the label inside a longer one ("Sub Total", "Company Reg No.")
    "text:several": 0.41,      # 42/102 the label stands at several places with different values: the best match
    "text:below": 0.34,        # 14/42  text on the line under its label
    "text:gap": 0.33,          # 0/1    other words between label and value ("Total for all 65+ respondents: 71"; 4/7
                               #        before receipts' totals were read from their layout)
    "vlm:grounded": 0.90,      # not measured (no model on the benchmark machine): a prior
    "vlm:ungrounded": 0.30,    # not measured: a prior, below the threshold on purpose
}
"""The share of values that were right, per source and match quality: calibrated confidence. Measured by
``python benchmarks/extract.py`` (2026-12-01, no model: SROIE's 60 receipts and FUNSD's 47 test forms through
OCR, the fillable forms; right/claimed after each entry, the figure (right + 1) / (n + 2))."""

NO_VALUE_CONFIDENCE = 0.0
"""The confidence of a field left null (``source="none"``): there is no value to be sure of."""

REVIEW_BELOW = 0.8
"""``needs_review`` below this. Measured by the same run: of the values below it 46% were wrong, of those above it
3% (16.5x; 2% and 26x counting the 1040's 85 widget names), so a value not flagged is right 97 times in 100."""

_WHY = {
    "acroform:partial": "the form field matches only some of the field's words",
    "text:label": "read after its label without a model: where the value ends is a guess",
    "text:below": "read on the line under its label",
    "text:gap": "other words stand between the label and the value",
    "text:phrase": "the label is part of a longer label",
    "text:several": "the label stands at several places with different values",
    "text:before-paid": "the amount paid less the change printed below it is not this amount",
    "text:stamp": "no label found: the only date on the page, printed stuck to other text",
    "text:typed": "no label found: the only value of its type on the page",
    "vlm:ungrounded": "the model's value is not printed on the pages",
}
EMPTY, NOT_FOUND, UNTICKED = "the form field is empty", "not found on the pages", "no box is ticked"


def _found(kind: str, value: object, page: Page | None = None, box: Box | None = None, *, label: str = "",
           reason: str = "") -> FieldValue:
    """A value found by ``kind`` (a key of :data:`CONFIDENCE`: its source, then how it matched), with its calibrated
    confidence, flagged for review below :data:`REVIEW_BELOW` with the reason."""
    confidence = CONFIDENCE[kind]
    review = confidence < REVIEW_BELOW
    where = page.to_pixels(box) if page is not None and box is not None else None
    return FieldValue(value=value, page=page.number if page is not None else None, box=where, confidence=confidence,
                      source=kind.split(":")[0], grounded=where is not None, needs_review=review, label=label,
                      reason="; ".join(filter(None, (reason, _WHY.get(kind, "") if review else ""))))


def _not_found(reason: str = NOT_FOUND) -> FieldValue:
    return FieldValue(value=None, confidence=NO_VALUE_CONFIDENCE, source="none", reason=reason)


# --------------------------------------------------------------------------- AcroForm

_STOP = frozenset(["a", "an", "and", "are", "as", "at", "by", "for", "from", "in", "is", "it", "its", "of", "on", "or", "the", "s", "to", "with", "your"])


def _tokens(text: str) -> set[str]:
    return set(words(text)) - _STOP


def widget_label(page: Page, widget: Widget) -> str:
    """A widget's label in words a person reads: its tooltip, else the words printed next to it."""
    return widget.label or _printed_label(page, widget)


def _printed_label(page: Page, widget: Widget) -> str:
    """The label printed nearest a widget: the words left of it on its line (dot leaders skipped, back to the
    previous widget beside it), else those printed just above it, line by line. Words left of it that stand far
    from it (a paragraph beside a box) give way to a caption right over it, or over the row of boxes it is part of
    ("Social security number" over the three parts of an SSN). A label whose first line is the tail of a longer
    one ("entity's name on line 2.)") is read from where it starts on the line above ("1 Name of
    entity/individual."). A tick box's label is printed to its right."""
    x0, y0, x1, y1 = widget.box
    mid = (y0 + y1) / 2

    def printed(w: Word) -> bool:  # words, not leaders; not a value shown inside some widget
        cx, cy = (w.box[0] + w.box[2]) / 2, (w.box[1] + w.box[3]) / 2
        return bool(re.search(r"\w", w.text)) and not any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3]
                                                          for b in (o.box for o in page.widgets))

    words = [w for w in page.words if printed(w)]
    line = [w for w in words if w.box[1] <= mid <= w.box[3]]
    beside = [o.box for o in page.widgets if o is not widget and o.box[1] < y1 - 1 and o.box[3] > y0 + 1]
    if widget.type in ("checkbox", "radiobutton"):
        stop = min((b[0] for b in beside if b[0] >= x1 and b[1] <= mid <= b[3]), default=1e9)
        near = sorted((w for w in line if x1 - 2 <= w.box[0] and w.box[2] <= stop + 2), key=lambda w: w.box[0])[:6]
        return " ".join(w.text for w in near)
    start = max((b[2] for b in beside if b[2] <= x0), default=-1e9)
    left = sorted((w for w in line if start - 2 <= w.box[0] and w.box[2] <= x0 + 2), key=lambda w: -w.box[2])[:8]
    height = median([w.box[3] - w.box[1] for w in line or words] or [10.0])
    above = _above(words, y0, x0, x1, height) or _above(words, y0, *_box_row(widget, page.widgets, words), height)
    if left and x0 - left[0].box[2] > 2 * height and above:
        # far from the box, no leader dots between: a paragraph beside it; the caption over it is its label
        leaders = [w for w in page.words if w.box[1] <= mid <= w.box[3] and left[0].box[2] <= w.box[0] and w.box[2] <= x0
                   and not re.search(r"\w", w.text)]
        left = left if sum(len(w.text) for w in leaders) >= 3 else []  # ". . ." or "......."
    if left:
        text = " ".join(w.text for w in sorted(left, key=lambda w: w.box[0]))
        parts = re.split(r"(?:(?<=[^\W\d_]{2}\.)|(?<=\)\.)|(?<=\s\d\.))\s+(?=[A-Z(])", text)
        if len(parts) > 1:  # "and 8. This is your total income 9": the label is the last sentence
            return parts[-1]
        return _from_its_start(sorted(left, key=lambda w: w.box[0]), words)
    return _from_its_start(above, words) if above else ""


def _above(words: list[Word], y0: float, x0: float, x1: float, height: float) -> list[Word]:
    """The words printed less than 12 points above ``y0`` over ``x0``..``x1``, line by line (at most ten), the
    nearest line's phrase whole ("number" over one part of an SSN is "Social security number")."""
    over = [w for w in words if y0 - 12 <= w.box[3] <= y0 + 2 and w.box[0] < x1 and w.box[2] > x0]
    lines: list[list[Word]] = []
    for w in sorted(over, key=lambda w: w.box[3]):
        if lines and abs(lines[-1][-1].box[3] - w.box[3]) <= 3:
            lines[-1].append(w)
        else:
            lines.append([w])
    if lines:
        last = sorted(lines[-1], key=lambda w: w.box[0])
        row = sorted((w for w in words if w in last or any(abs(w.box[3] - x.box[3]) <= 3 for x in last)),
                     key=lambda w: w.box[0])  # the line's words beside it (a skewed line drifts: chained)
        i, j = row.index(last[0]), row.index(last[-1])
        while i > 0 and last[0].box[0] < x0 and last[0].box[0] - row[i - 1].box[2] < 2.5 * height:  # runs in from the left
            i -= 1
            last.insert(0, row[i])
        while j < len(row) - 1 and row[j + 1].box[0] - last[-1].box[2] < 2.5 * height:
            j += 1
            last.append(row[j])
        lines[-1] = last
    return [w for ln in lines for w in sorted(ln, key=lambda w: w.box[0])][:10]


def _box_row(widget: Widget, widgets: list[Widget], words: list[Word]) -> tuple[float, float]:
    """The x extent of the row of boxes a widget belongs to: widgets of its type and height on its line, each less
    than 24 points from the next with nothing printed between (the parts of an SSN)."""
    x0, y0, x1, y1 = widget.box
    row = sorted((o.box for o in widgets if o.type == widget.type and abs(o.box[1] - y0) < 2 and abs(o.box[3] - y1) < 2),
                 key=lambda b: b[0])

    def apart(a: float, b: float) -> bool:
        return b - a >= 24 or any(a <= (w.box[0] + w.box[2]) / 2 <= b and w.box[1] < y1 and w.box[3] > y0
                                  and re.search(r"[^\W\d_]", w.text) for w in words)

    lo, hi = x0, x1
    for b in reversed([b for b in row if b[2] <= x0 + 1]):
        if apart(b[2], lo):
            break
        lo = b[0]
    for b in (b for b in row if b[0] >= x1 - 1):
        if apart(hi, b[0]):
            break
        hi = b[2]
    return lo, hi


def _from_its_start(label: list[Word], words: list[Word]) -> str:
    """A label's words; when they are the tail of a longer label (a lowercase word of three letters or more first:
    "entity's name on line 2.)"), the line above where it starts with a number or a capital, in its column
    ("1 Name of entity/individual. ..."), joined to it, to the end of that label's first sentence."""
    text = " ".join(w.text for w in label)
    first = label[0]
    if not re.match(r"[a-z][a-z'’-]{2,}", first.text):
        return text
    height = first.box[3] - first.box[1]
    above = [w for w in words if first.box[1] - 1.6 * height <= w.box[1] < first.box[1] - 0.5 * height
             and first.box[0] - 15 <= w.box[0] <= first.box[0] + 3]
    if not above:
        return text
    head = min((w for w in above if w.box[1] >= max(a.box[1] for a in above) - 2), key=lambda w: w.box[0])
    if not re.match(r"\d|[A-Z]", head.text):
        return text
    line = [head]
    for w in sorted((w for w in words if abs(w.box[1] - head.box[1]) <= 2 and w.box[0] > head.box[0]), key=lambda w: w.box[0]):
        if w.box[0] - line[-1].box[2] >= 2.5 * height:
            break  # the phrase ends: what follows stands in another column
        line.append(w)
    joined = " ".join(w.text for w in line) + " " + text
    return _first_sentence(joined)


def _first_sentence(text: str) -> str:
    """Up to the first full stop after a word ("1 Name of entity/individual. An entry is required." -> its first
    sentence); "(2) Social", "apt. or" and "no.)." do not end one before a capital does."""
    return re.split(r"(?:(?<=[^\W\d_]{2}\.)|(?<=\)\.))\s+(?=[A-Z(])", text, maxsplit=1)[0]


def _score(spec: FieldSpec, candidates: Iterable[str]) -> float:
    """Share of the field's words (name, or description) that a candidate text carries; a name of two
    words or more needs two of them (``invoice_number`` is not any "number")."""
    best = 0.0
    for wanted in filter(None, (_tokens(spec.words), _tokens(spec.description))):
        for text in candidates:
            shared = len(wanted & _tokens(text))
            if shared >= min(2, len(wanted)):
                best = max(best, shared / len(wanted))
    return round(best, 2)


def _group(name: str) -> str:
    return re.sub(r"\[\d+\]$", "", name)


def _from_widgets(specs: list[FieldSpec], widgets: list[tuple[Page, Widget]], errors: list[str]) -> dict[str, FieldValue]:
    """Each field's widget: by full name, then by last name part, then by the most of its words in the widget's
    name, tooltip or printed label; every widget serves one field at most."""
    printed = [_printed_label(page, w) for page, w in widgets]
    labels = [w.label or p for (_, w), p in zip(widgets, printed, strict=True)]
    pairs = []
    for i, (_page, w) in enumerate(widgets):
        tail = re.sub(r"\[\d+\]", "", w.name.split(".")[-1])
        names = [re.sub(r"(?<=[a-z])(?=[A-Z])", " ", n).replace("_", " ") for n in (w.name, tail)]
        for spec in specs:
            if w.name.lower() == spec.name.lower():
                score = 3.0
            elif tail.lower() == spec.name.lower():
                score = 2.0
            else:
                score = _score(spec, [*names, w.label, printed[i]])
            if score >= _MATCH:
                pairs.append((score, spec.name, i))
    chosen: dict[str, FieldValue] = {}
    used: set[int] = set()
    kinds = {s.name: s.type for s in specs}
    # best match first; on a tie the widget met first in reading order (the filer before the spouse)
    for score, field, i in sorted(pairs, key=lambda p: (-p[0], p[2])):
        if field in chosen or i in used:
            continue
        used.add(i)
        page, w = widgets[i]
        match = "acroform:name" if score >= 2 else "acroform:label" if score >= 1 else "acroform:partial"
        value, reason = _widget_value(w, kinds[field], widgets, labels, errors, field)
        chosen[field] = _found(match, value, page, w.box, label=labels[i], reason=reason)
    return chosen


def _widget_value(w: Widget, kind: str, widgets: list[tuple[Page, Widget]], labels: list[str], errors: list[str],
                  field: str) -> tuple[object, str]:
    """A widget's value as ``kind``, with the reason when it is null. A tick box read as text gives the printed
    label of the ticked box of its group (else null: no box is ticked); as a number or date, null."""
    if isinstance(w.value, bool) or w.type in ("checkbox", "radiobutton"):
        if kind == "bool":
            return bool(w.value), ""
        if kind != "str":
            return None, f"a tick box, not a {kind}"
        ticked = [(lw, o) for lw, (_p, o) in zip(labels, widgets, strict=True)
                  if o.value is True and _group(o.name) == _group(w.name)]
        if not ticked:
            return None, UNTICKED
        text, box = ticked[0]
        return text or (box.options[0] if box.options else "yes"), ""
    if w.value in ("", None):
        return None, EMPTY
    try:
        return coerce(w.value, kind), ""
    except ValueError as e:
        errors.append(f"{field}: form value {e}")
        return None, f"the form value {e}"


# ------------------------------------------------------------------------------ model


def _narrow(store: PageStore, name: str, pages: list[Page], specs: list[FieldSpec], k: int) -> list[Page]:
    query = " ".join(f"{s.words} {s.description}" for s in specs)
    hits = PageRetriever(store=store, k=k).search(query, docs=[name])
    numbers = sorted({h.page for h in hits}) or [p.number for p in pages[:k]]
    return [pages[n - 1] for n in numbers]


def _prompt(pages: list[Page], specs: list[FieldSpec], images: list[PageImage]) -> list[BaseMessage]:
    content: list[str | dict[str, Any]] = []
    for i, (page, image) in enumerate(zip(pages, images, strict=True), 1):
        content += page_blocks(f"[{i}] page {page.number}:", page, image, 1500)
    listing = "; ".join(f"{s.name} ({s.type}{': ' + s.description if s.description else ''})" for s in specs)
    content.append({"type": "text", "text": f"Fields to extract, as JSON: {listing}"})
    return [SystemMessage(_SYSTEM), HumanMessage(content=content)]


def _from_model(llm: BaseChatModel, pages: list[Page], images: list[PageImage], specs: list[FieldSpec], retries: int,
                errors: list[str]) -> dict[str, FieldValue]:
    values: dict[str, Any] = {}

    def check(data: dict[str, Any]) -> list[str]:
        values.clear()
        problems = []
        for spec in specs:
            try:
                values[spec.name] = coerce(data.get(spec.name), spec.type)
            except ValueError as e:
                problems.append(f"{spec.name}: {e}")
        return problems

    _, problems = ask_until_valid(llm, schema_model(specs), _prompt(pages, specs, images), check, retries)
    if problems:
        errors.append(f"model output still invalid after {retries + 1} tries: " + "; ".join(problems))
    out = {}
    for spec in specs:
        value = values.get(spec.name)
        if value is None:
            bad = next((p for p in problems if p.startswith(f"{spec.name}: ")), "")
            out[spec.name] = _not_found(f"the model's value was invalid ({bad.partition(': ')[2]})" if bad
                                        else "the model did not find it on the pages")
            continue
        where = _ground(value, spec.type, pages)
        out[spec.name] = _found("vlm:grounded", value, *where) if where else _found("vlm:ungrounded", value)
    return out


# ---------------------------------------------------------------------- grounding


def _norm(text: str) -> str:
    return re.sub(r"[^\w]+", "", text.lower())


def _union_box(words: list[Word]) -> Box:
    return (min(w.box[0] for w in words), min(w.box[1] for w in words),
            max(w.box[2] for w in words), max(w.box[3] for w in words))


def _ground(value: Any, kind: str, pages: list[Page]) -> tuple[Page, Box] | None:
    """The page and box of ``value`` printed on one of ``pages`` (compared after normalising)."""
    if kind == "bool":
        return None  # a tick has no words to find
    for page in pages:
        words = page.words
        for size in range(1, 9):
            for i in range(len(words) - size + 1):
                span = words[i : i + size]
                text = " ".join(w.text for w in span)
                if kind in ("str",):
                    hit = _norm(text) == _norm(str(value))
                else:
                    try:
                        hit = coerce(text.strip(" :;()"), kind) == value
                    except ValueError:
                        hit = False
                if hit:
                    return page, _union_box(span)
    return None


# --------------------------------------------------------------------------- no model

_DOCUMENT_DATE = frozenset(["date", "dated", "receipt", "invoice", "bill", "purchase", "transaction", "sale", "sales", "order", "issue", "issued", "document", "of", "the"])
"""The words of a field that asks for the document's own date ("date", "receipt_date"), which the only date printed
on a one-page document is; "expiry_date" or "delivery_date" is not."""
_UNITS = frozenset(["rm", "usd", "eur", "gbp", "myr", "sgd", "chf", "inr", "no", "nr"])  # words a label may carry before its value


def _from_text(pages: list[Page], specs: list[FieldSpec]) -> dict[str, FieldValue]:
    """Fields read as the words printed after their label (``Invoice number: INV-7``), without a model; the
    match's quality (value right after the label, under it, words between, label inside a longer phrase) is
    its confidence. A date with no label on a one-page document (a receipt) is the page's only date."""
    out = {}
    for spec in specs:
        best: tuple[float, str, Any, Page, list[Word]] | None = None
        values = set()
        label = spec.words.split()
        for page in pages:
            words = page.words
            normal = [_norm(w.text) for w in words]
            for at in (i for i in range(len(words) - len(label) + 1) if normal[i : i + len(label)] == label):
                found = _after_label(words, at, len(label), spec.type)
                if found is not None:
                    values.add(str(found[1]))
                    rank = -CONFIDENCE[found[0]]  # the best match; on a tie the first
                    if best is None or rank < best[0]:
                        best = (rank, *found[:2], page, found[2])
        if spec.type in ("int", "float", "decimal") and (best is None or len(values) > 1 or best[1] != "text:value"):
            settled = _settled_amount(pages, label, spec.type)  # several places or no clean match: read the layout
            if settled is not None:
                best, values = (0, *settled), set()
        if best is None and spec.type == "date" and len(pages) == 1 and set(label) <= _DOCUMENT_DATE:
            dates = [(p, *d) for p in pages for d in _typed(p.words, "date")]
            stamps = [(p, *d) for p in pages for d in _stamps(p.words)]
            if len({d[1] for d in dates}) == 1:
                best = (0, "text:typed", dates[0][1], dates[0][0], dates[0][2])
            elif not dates and len({d[1] for d in stamps}) == 1:
                best = (0, "text:stamp", stamps[0][1], stamps[0][0], stamps[0][2])
        if best is not None:
            _, kind, value, page, used = best
            out[spec.name] = _found("text:several" if len(values) > 1 else kind, value, page, _union_box(used))
    return out


_PAYMENT = frozenset(["cash", "change", "tendered", "tender", "paid", "payment", "visa", "mastercard", "amex", "card", "credit", "debit"])
_COUNT = frozenset(["qty", "quantity", "items", "item", "pcs", "units", "count"])


def _lead(text: str) -> str:
    """A word's first run of letters and digits, lower case (``TOTAL(INCL`` -> ``total``)."""
    m = re.search(r"[^\W_]+", text)
    return m.group().lower() if m else ""


def _lines(pages: list[Page]) -> list[list[Word]]:
    """The words of ``pages`` as printed lines, in reading order."""
    out: list[list[Word]] = []
    for page in pages:
        start = len(out)
        for w in page.words:
            if len(out) > start and _same_line(out[-1][-1], w):
                out[-1].append(w)
            else:
                out.append([w])
    return out


def _amounts(words: list[Word], kind: str) -> list[tuple[Any, Word]]:
    """The words of a line that read as one amount each (``$7.60``, ``132.50``; not ``6%``, not ``GST06``)."""
    out = []
    for w in words:
        text = re.sub(r"^(?:[A-Z]{1,3}|[$€£¥])(?=\d)", "", w.text.strip(" :;()"))  # a currency stuck to it: RM14.50
        if not text or not re.search(r"\d", text) or not _looks(text, kind):
            continue
        try:
            out.append((coerce(text, kind), w))
        except ValueError:
            continue
    return out


def _settled_amount(pages: list[Page], label: list[str], kind: str) -> tuple[str, Any, Page, list[Word]] | None:
    """A receipt's or invoice's total, read from its layout: the amounts printed on the lines that carry the
    label as a word of their own (``TOTAL``, ``Net Total``, ``TOTAL(INCL GST)``; not ``SUBTOTAL``, ``Sub Total``
    or a count such as ``Total Qty``) and end with an amount (else start with one: ``39.80 NET TOTAL``), as an
    amount column does (a sentence such as "Total for all 65+ respondents: 71 percent" does not); the last such amount
    before the payment lines (``CASH``, ``CHANGE``, ``VISA``, ``Paid``) that follow them. Its kind says how sure
    it is: the payment lines agree (an amount paid, less the change, is that amount), they do not, or there are
    none (the last labelled amount)."""
    lines = _lines(pages)
    page_of = {id(w): p for p in pages for w in p.words}
    found: list[tuple[int, Any, Word]] = []  # line, amount, its word
    for n, line in enumerate(lines):
        leads = [_lead(w.text) for w in line]
        for at in range(len(line) - len(label) + 1):
            if leads[at : at + len(label)] != label:
                continue
            before, after = leads[:at], leads[at + len(label) :]
            if (before and before[-1] == "sub") or (after and after[0] in _COUNT):
                continue  # a subtotal, or a count of items
            right = _amounts(line[-1:], kind) if at + len(label) < len(line) else []  # the amount ends the line
            left = _amounts(line[:1], kind) if at and at + len(label) == len(line) else []  # or starts it, label last
            if right or left:
                value, word = (right or left)[0]
                found.append((n, value, word))
    if not found:
        return None
    paying = [n for n in range(found[0][0] + 1, len(lines))
              if {_lead(w.text) for w in lines[n]} & _PAYMENT and _amounts(lines[n], kind)]
    if paying:
        first = paying[0]
        before_paid = [f for f in found if f[0] < first]
        if not before_paid:
            return None
        n, value, word = before_paid[-1]
        paid: list[Decimal] = []
        change = [Decimal(0)]
        for m in paying:
            amounts = [Decimal(str(a)) for a, _ in _amounts(lines[m], kind)]
            (change if "change" in {_lead(w.text) for w in lines[m]} else paid).extend(amounts)
        try:
            settled = any(p - c == Decimal(str(value)) for p in paid for c in change)
        except ArithmeticError:
            settled = False
        match = "text:paid" if settled else "text:before-paid"
    else:
        n, value, word = found[-1]
        match = "text:last-total"
    return match, value, page_of[id(word)], [word]


def _same_line(a: Word, b: Word) -> bool:
    mid = (b.box[1] + b.box[3]) / 2
    return a.box[1] <= mid <= a.box[3]


def _after_label(words: list[Word], at: int, size: int, kind: str) -> tuple[str, Any, list[Word]] | None:
    """The value after the label ``words[at : at + size]`` and how it was found."""
    last = words[at + size - 1]
    before = words[at - 1] if at else None
    phrase = (before is not None and _same_line(last, before) and before.box[2] <= words[at].box[0]
              and bool(re.search(r"[A-Za-z]", before.text)) and not before.text.endswith((":", ".")))
    rest = words[at + size :]
    if not rest:
        return None
    line = [w for w in rest[:16] if _same_line(last, w)] if _same_line(last, rest[0]) else []
    below = not line
    if below:  # the value stands on the line under the label
        line = [w for w in rest[:16] if _same_line(rest[0], w)]
    found = _value_in(line, kind)
    if found is None:
        return None
    value, used, skipped = found
    gap = any(_norm(w.text) and _norm(w.text) not in _UNITS for w in skipped)
    longer = gap and skipped[-1].text.endswith(":")  # "Total Payable: 23.35": the label goes on to its colon
    match = "text:phrase" if phrase or longer else "text:gap" if gap else "text:below" if below else "text:label"
    if kind != "str" and match in ("text:label", "text:phrase"):
        match = "text:value"  # a date or amount read as its type where the label ends: no guess where it stops
    return match, value, used


def _looks(text: str, kind: str) -> bool:
    """Whether printed words look like a value of ``kind`` (a number is mostly digits)."""
    if kind in ("int", "float", "decimal"):
        if kind != "float" and text.endswith("%"):
            return False  # a rate, not an amount
        alnum = re.sub(r"\W", "", text)
        return bool(alnum) and sum(c.isdigit() for c in alnum) >= 0.6 * len(alnum)
    return True


def _typed(words: list[Word], kind: str) -> list[tuple[Any, list[Word]]]:
    out = []
    for i in range(len(words)):
        for end in range(i + 1, min(i + 4, len(words)) + 1):
            text = " ".join(w.text for w in words[i:end]).strip(" :;,()")
            if not _looks(text, kind) or not re.search(r"\d", text):
                continue
            try:
                out.append((coerce(text, kind), words[i:end]))
                break
            except ValueError:
                continue
    return out


_STAMP = re.compile(r"(?:[A-Za-z]+\s*[:.]\s*)?"  # its label stuck to it: Date:27/01/2018
                    r"(\d{1,2}([/.-])(?:\d{1,2}|[A-Za-z]{3})\2(?:\d{4}|\d{2}))"  # 27/01/2018, 11-Apr-2018
                    r"(?:[-\s]?\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AaPp][Mm])?)?(?:-.*)?")  # its time stuck to it


def _stamps(words: list[Word]) -> list[tuple[Any, list[Word]]]:
    """Dates printed stuck to their time or label, as one word (``01-06-201814:20:08``, ``Date:27/01/2018``)."""
    out = []
    for w in words:
        m = _STAMP.fullmatch(w.text.strip(" ;,()"))
        if m:
            try:
                out.append((coerce(m.group(1), "date"), [w]))
            except ValueError:
                continue
    return out


def _value_in(span: list[Word], kind: str) -> tuple[Any, list[Word], list[Word]] | None:
    """The value among the words after a label, with the words it skipped: for typed fields the first words that
    read as the type; for text, up to the next label on the line (``... Customer:``)."""
    if kind != "str":
        for start in range(min(len(span), 6)):
            for end in range(start + 1, min(start + 4, len(span)) + 1):
                text = " ".join(w.text for w in span[start:end]).strip(" :")
                if not text:
                    continue
                if kind != "bool" and not (_looks(text, kind) and re.search(r"\d", text)) and kind != "date":
                    continue
                try:
                    return coerce(text, kind), span[start:end], span[:start]
                except ValueError:
                    continue
        return None
    span = span[1:] if span and not _norm(span[0].text) else span  # a colon on its own
    gaps = [i for i in range(1, len(span)) if span[i].box[0] - span[i - 1].box[2] > 2.5 * (span[i].box[3] - span[i].box[1])]
    span = span[: gaps[0]] if gaps else span  # the next column starts after a wide gap
    end = next((i for i, w in enumerate(span) if i and w.text.endswith(":")), len(span))
    if end < len(span):  # drop the next label's leading words (capitalised, letters only)
        while end > 1 and span[end - 1].text[:1].isupper() and span[end - 1].text.isalpha():
            end -= 1
    text = " ".join(w.text for w in span[:end]).strip(" :")
    return (text, span[:end], []) if text else None


def extractions_csv(results: list[Extraction]) -> str:
    """One row per document, one column per field (values as JSON would carry them), then the fields to check
    (``needs_review``, each with its reason), then errors."""
    import csv
    import io

    names = list(dict.fromkeys(n for r in results for n in r.fields))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["doc", *names, "needs_review", "errors"])
    for r in results:
        review = "; ".join(f"{n}: {v.reason}" for n, v in r.fields.items() if v.needs_review)
        writer.writerow([r.doc, *(r.fields[n].to_json()["value"] if n in r.fields else "" for n in names), review,
                         "; ".join(r.errors)])
    return out.getvalue()


def extractions_jsonl(results: list[Extraction]) -> str:
    """One JSON document per line, as ``docagent extract --json`` prints each."""
    import json

    return "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in results)

