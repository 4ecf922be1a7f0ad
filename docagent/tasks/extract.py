"""Extract: fields of forms, receipts and contracts into a schema, typed, validated and pointed to on the page.

    file -> index (text layer / OCR, word boxes, AcroForm widgets, page images)
         -> AcroForm widgets: exact values, matched to fields by name, tooltip and printed label   (acroform)
         -> fields still open: the chat model reads the pages (the retriever narrows long documents)
            and fills the schema through structured output; values are coerced to their types and
            re-asked with the error a bounded number of times                                       (vlm)
            no model: the words printed after each field's label                                     (text)
         -> grounding: each value found in the page's words (case, spacing, number and date formats
            normalised) gives page and box; a value not found is kept with low confidence
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from tqdm import tqdm

from docagent.config import Settings
from docagent.errors import DocagentError, ModelError
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.retrieve import PageRetriever
from docagent.tasks.llm import ask_until_valid
from docagent.tasks.prompts import DATA_RULE, page_blocks
from docagent.tasks.schema import FieldSpec, coerce, fields_of, schema_model
from docagent.types import Extraction, FieldValue, Page, Widget, Word

__all__ = ["extract", "extractions_csv", "extractions_jsonl", "widget_label"]

log = logging.getLogger(__name__)

_SYSTEM = (
    "You extract fields from document pages, numbered [1], [2], ... Copy values exactly as printed "
    "(dates and amounts too). Use null for a field that is not on the pages. " + DATA_RULE
)
_MATCH = 0.5  # share of a field's words a widget's name, tooltip or label must carry to be that field


def extract(
    files: Sequence[str | Path] = (),
    schema: Any = None,
    *,
    docs: Sequence[str] = (),
    settings: Settings | None = None,
    store: PageStore | None = None,
    llm: Any = None,
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
    """
    settings = settings or Settings()
    specs = fields_of(schema) if schema is not None else None
    own = store is None
    store = store or PageStore(settings)
    state = {"llm": llm if use_model else None, "tried": llm is not None or not use_model}
    try:
        report = index_paths(list(files), store=store, progress=False) if files else None
        failed = {Path(f.path).name: f.error for f in report.failed} if report else {}
        results = []
        names = [Path(f).name for f in files] + list(docs)
        for name in tqdm(names, desc="extract", unit="file", disable=not progress):
            if name in failed or store.document(name) is None:
                results.append(Extraction(name, errors=[failed.get(name, "not indexed: `docagent docs` lists the documents")]))
                continue
            try:
                results.append(_extract_one(store, name, specs, state, model or settings.vlm_model, max_pages, retries))
            except DocagentError as e:
                results.append(Extraction(name, errors=[str(e)]))
        return results
    finally:
        if own:
            store.close()


def _extract_one(store: PageStore, name: str, specs: list[FieldSpec] | None, state: dict[str, Any], model: str,
                 max_pages: int, retries: int) -> Extraction:
    rec = store.document(name)
    pages = [store.page(name, n) for n in range(1, rec.pages + 1)]
    result = Extraction(name)
    widgets = [(p, w) for p in pages for w in p.widgets]
    if specs is None:
        if not widgets:
            result.errors.append("no schema given and the document has no form fields: pass a schema (--schema or --fields)")
        for page, w in widgets:
            result.fields[w.name] = FieldValue(w.value, page.number, page.to_pixels(w.box), 1.0, "acroform", True)
        return result
    result.fields.update(_from_widgets(specs, widgets, result.errors))
    todo = [s for s in specs if s.name not in result.fields]
    if not todo:
        return result
    llm = _model(state, model)
    if llm is not None:
        chosen = pages if len(pages) <= max_pages else _narrow(store, name, pages, todo, max_pages)
        try:
            images = [store.page_image(name, p.number) for p in chosen]
            result.fields.update(_from_model(llm, chosen, images, todo, retries, result.errors))
            return result
        except ModelError as e:
            result.errors.append(f"the model failed ({e}); fields read from the text instead")
    result.fields.update(_from_text(pages, todo))
    return result


def _model(state: dict[str, Any], name: str) -> Any:
    if not state["tried"]:
        state["tried"] = True
        try:
            from docagent.models.resolve import loaded_chat_model

            state["llm"] = loaded_chat_model(name)
        except ModelError as e:
            state["llm"] = None
            log.warning("no model for extraction (%s); fields are read next to their printed labels", " ".join(str(e).split()))
    return state["llm"]


# --------------------------------------------------------------------------- AcroForm


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def widget_label(page: Page, widget: Widget) -> str:
    """The text printed next to a widget: its tooltip, the words left of it on its line, the words just above."""
    x0, y0, x1, y1 = widget.box
    mid = (y0 + y1) / 2

    def printed(w: Word) -> bool:  # not a value shown inside some widget (a filled field's appearance)
        cx, cy = (w.box[0] + w.box[2]) / 2, (w.box[1] + w.box[3]) / 2
        return not any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in (o.box for o in page.widgets))

    words = [w for w in page.words if printed(w)]
    line = [w for w in words if w.box[1] <= mid <= w.box[3]]
    if widget.type in ("checkbox", "radiobutton"):  # a tick box's label is printed to its right
        stop = min((o.box[0] for o in page.widgets if o.box[0] > x1 and o.box[1] <= mid <= o.box[3]), default=1e9)
        near = sorted((w for w in line if x1 - 2 <= w.box[0] and w.box[2] <= stop + 2), key=lambda w: w.box[0])[:6]
        return " ".join([widget.label, *(w.text for w in near)]).strip()
    left = sorted((w for w in line if w.box[2] <= x0 + 2), key=lambda w: -w.box[2])[:6]
    above = [w for w in words if y0 - 12 <= w.box[3] <= y0 + 2 and w.box[0] < x1 and w.box[2] > x0]
    near = sorted(left, key=lambda w: w.box[0]) + sorted(above, key=lambda w: w.box[0])[:10]
    return " ".join([widget.label, *(w.text for w in near)]).strip()


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


def _from_widgets(specs: list[FieldSpec], widgets: list[tuple[Page, Widget]], errors: list[str]) -> dict[str, FieldValue]:
    pairs = []
    for i, (page, w) in enumerate(widgets):
        tail = re.sub(r"\[\d+\]", "", w.name.split(".")[-1])
        names = [w.name.replace("_", " "), re.sub(r"(?<=[a-z])(?=[A-Z])", " ", tail).replace("_", " ")]
        label = widget_label(page, w)
        for spec in specs:
            exact = tail.lower() == spec.name.lower()
            score = 2.0 if exact else _score(spec, [*names, label])
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
        raw = w.value if w.value not in ("", None) else None
        try:
            value = coerce(raw, kinds[field]) if not isinstance(raw, bool) or kinds[field] == "bool" else raw
            confidence = 1.0 if score >= 1 else round(score, 2)
        except ValueError as e:
            value, confidence = raw, 0.3
            errors.append(f"{field}: form value {e}")
        chosen[field] = FieldValue(value, page.number, page.to_pixels(w.box), confidence, "acroform", True)
    return chosen


# ------------------------------------------------------------------------------ model


def _narrow(store: PageStore, name: str, pages: list[Page], specs: list[FieldSpec], k: int) -> list[Page]:
    query = " ".join(f"{s.words} {s.description}" for s in specs)
    hits = PageRetriever(store=store, k=k).search(query, docs=[name])
    numbers = sorted({h.page for h in hits}) or [p.number for p in pages[:k]]
    return [pages[n - 1] for n in numbers]


def _prompt(pages: list[Page], specs: list[FieldSpec], images: list[Path]) -> list[Any]:
    content: list[dict[str, Any]] = []
    for i, (page, image) in enumerate(zip(pages, images, strict=True), 1):
        content += page_blocks(f"[{i}] page {page.number}:", page, image, 1500)
    listing = "; ".join(f"{s.name} ({s.type}{': ' + s.description if s.description else ''})" for s in specs)
    content.append({"type": "text", "text": f"Fields to extract, as JSON: {listing}"})
    return [SystemMessage(_SYSTEM), HumanMessage(content=content)]


def _from_model(llm: Any, pages: list[Page], images: list[Path], specs: list[FieldSpec], retries: int,
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
            continue
        where = _ground(value, spec.type, pages)
        out[spec.name] = FieldValue(value, *(where or (None, None)), 0.9 if where else 0.3, "vlm", where is not None)
    return out


# ---------------------------------------------------------------------- grounding


def _norm(text: str) -> str:
    return re.sub(r"[^\w]+", "", text.lower())


def _union(page: Page, words: list[Word]) -> tuple[int, int, int, int]:
    return page.to_pixels((min(w.box[0] for w in words), min(w.box[1] for w in words),
                           max(w.box[2] for w in words), max(w.box[3] for w in words)))


def _ground(value: Any, kind: str, pages: list[Page]) -> tuple[int, tuple[int, int, int, int]] | None:
    """Page number and pixel box of ``value`` printed on one of ``pages`` (compared after normalising)."""
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
                    return page.number, _union(page, span)
    return None


# --------------------------------------------------------------------------- no model


def _from_text(pages: list[Page], specs: list[FieldSpec]) -> dict[str, FieldValue]:
    """Fields read as the words printed after their label (``Invoice number: INV-7``), without a model."""
    out = {}
    for spec in specs:
        label = spec.words.split()
        for page in pages:
            words = page.words
            normal = [_norm(w.text) for w in words]
            at = next((i for i in range(len(words) - len(label) + 1) if normal[i : i + len(label)] == label), None)
            if at is None or at + len(label) >= len(words):
                continue
            first = words[at + len(label)]
            mid = (first.box[1] + first.box[3]) / 2
            span = [first] + [w for w in words[at + len(label) + 1 :][:12] if w.box[1] <= mid <= w.box[3]]
            found = _value_in(span, spec.type)
            if found is not None:
                value, used = found
                out[spec.name] = FieldValue(value, page.number, _union(page, used), 0.5, "text", True)
                break
    return out


def _value_in(span: list[Word], kind: str) -> tuple[Any, list[Word]] | None:
    """The value at the start of the words after a label: for typed fields the shortest start that reads
    as the type; for text, up to the next label on the line (``... Customer:``)."""
    if kind != "str":
        for end in range(1, len(span) + 1):
            try:
                return coerce(" ".join(w.text for w in span[:end]).strip(" :"), kind), span[:end]
            except ValueError:
                continue
        return None
    end = next((i for i, w in enumerate(span) if i and w.text.endswith(":")), len(span))
    if end < len(span):  # drop the next label's leading words (capitalised, letters only)
        while end > 1 and span[end - 1].text[:1].isupper() and span[end - 1].text.isalpha():
            end -= 1
    text = " ".join(w.text for w in span[:end]).strip(" :")
    return (text, span[:end]) if text else None


def extractions_csv(results: list[Extraction]) -> str:
    """One row per document, one column per field (values as JSON would carry them), then errors."""
    import csv
    import io

    names = list(dict.fromkeys(n for r in results for n in r.fields))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["doc", *names, "errors"])
    for r in results:
        writer.writerow([r.doc, *(r.fields[n].to_json()["value"] if n in r.fields else "" for n in names),
                         "; ".join(r.errors)])
    return out.getvalue()


def extractions_jsonl(results: list[Extraction]) -> str:
    """One JSON document per line, as ``docagent extract --json`` prints each."""
    import json

    return "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in results)

