"""Extract: fields (name, type, description) in an editable table or from a JSON Schema, run over chosen
documents; values with their page, confidence and the library's review flag, each shown on its page; a form
widget's printed label beside its internal name; CSV and JSON downloads.

No field is preset and no document is preselected (unless the library holds just one): preset fields fit one
kind of document only, and a document guessed for them would be a choice the user never made. An empty table
reads every form field of a fillable PDF."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pandas as pd
import streamlit as st

import docagent
from docagent.errors import DocagentError
from docagent.index.store import PageStore
from docagent.tasks.extract import extractions_csv
from docagent.tasks.qa import evidence_image
from docagent.tasks.schema import TYPES, FieldSpec, fields_of
from docagent.types import Citation, FieldValue
from docagent_app.ui import Context, as_text, chat_model, no_model_banner, plural, tasks

_COLUMNS = ["name", "type", "description"]
_IN_APP_WORDS = [  # the library speaks to command-line users; here the same advice, in the app's terms
    (re.compile(r"pass a schema \(--schema or --fields\)|give the fields to extract$"),
     "name them in the table above (or load a JSON Schema)"),
    (re.compile(r"\s*\(?--schema(?: or --fields)?\)?|\s*\(?--fields\)?"), " (the field table above)"),
    (re.compile(r"`docagent docs` lists the documents"), "the Library lists the documents"),
]


def render(ctx: Context) -> None:
    st.header("Extract fields")
    with PageStore(ctx.settings) as store:
        names = [d.name for d in store.documents()]
    if not names:
        return  # the store notice above says what to do
    st.caption("Name the fields to read (for example `invoice_number`, `total` as decimal, `due` as date); a field "
               "without a type is text. Leave the table empty to read every form field of a fillable PDF.")
    schema_file = st.file_uploader("Load a JSON Schema (optional)", key="schema_file")
    edited = st.data_editor(pd.DataFrame(_fields(schema_file), columns=_COLUMNS), num_rows="dynamic",
                            key=f"fields:{schema_file.name if schema_file else ''}", use_container_width=True,
                            column_config={"type": st.column_config.SelectboxColumn(options=list(TYPES), default="str")})
    chosen = st.multiselect("Documents", names, default=names if len(names) == 1 else [], key="extract_docs",
                            placeholder="Choose the documents to read")
    use_model = st.checkbox("Let the vision-language model read the pages", value=True, key="use_model")
    if st.button("Extract", type="primary", key="extract", disabled=not chosen):
        specs, unnamed = _specs(edited)
        if unnamed:
            st.warning(f"{plural(unnamed, 'row')} without a name left out: give each field a name.")
        llm, reason = chat_model(ctx) if use_model else (None, "")
        if use_model and llm is None:
            no_model_banner(ctx, reason, "fields are read next to their printed labels (and from form fields)")
        try:
            with tasks(ctx, llm) as task_context:
                st.session_state["extraction"] = docagent.extract(docs=chosen, schema=specs or None,
                                                                  context=task_context, use_model=llm is not None)
            st.session_state["extraction_fields"] = [s.name for s in specs]
        except DocagentError as e:
            st.error(as_text(in_app_words(str(e))))
    if st.session_state.get("extraction"):
        _results(ctx, st.session_state["extraction"])


def in_app_words(message: str) -> str:
    """A library message with its command-line advice (``--schema``, ``--fields``) put in the app's terms."""
    for pattern, words in _IN_APP_WORDS:
        message = pattern.sub(words, message)
    return message


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or not str(value).strip()


def _specs(edited: pd.DataFrame) -> tuple[list[FieldSpec], int]:
    """Every named row of the table as a field (no type: text), and how many rows were described but not named."""
    specs, unnamed = [], 0
    for row in edited.to_dict("records"):
        if _blank(row.get("name")):
            unnamed += not _blank(row.get("description"))  # a type alone is the column's default
            continue
        kind = "str" if _blank(row.get("type")) else str(row["type"])
        about = "" if _blank(row.get("description")) else str(row["description"])
        specs.append(FieldSpec(str(row["name"]).strip(), kind, about))
    return specs, unnamed


def _fields(schema_file: object) -> list[dict[str, str]]:
    if schema_file is None:
        return []
    try:
        specs = fields_of(json.loads(schema_file.getvalue()))
    except (ValueError, DocagentError) as e:
        st.error(f"That JSON Schema cannot be used: {as_text(in_app_words(str(e)))}")
        return []
    return [{"name": s.name, "type": s.type, "description": s.description} for s in specs]


def _shown(v: FieldValue) -> str:
    """The value as a person reads it: an empty one is "empty" (never "None"), one not found is blank."""
    value = v.to_json()["value"]
    if value is None or (isinstance(value, str) and not value.strip()):
        return "" if v.source == "none" else "empty"
    return str(value)


def _check(v: FieldValue) -> str:
    if v.source == "none":
        return "not found"
    return "⚠ check it" if v.needs_review else ""


def _results(ctx: Context, results: list[docagent.Extraction]) -> None:
    rows = []
    for r in results:
        rows += [{"document": r.doc, "field": name, "label": v.label, "value": _shown(v), "page": v.page,
                  "confidence": round(v.confidence, 2), "source": v.source, "check": _check(v), "why": v.reason}
                 for name, v in r.fields.items()]
        rows += [{"document": r.doc, "field": name, "label": "", "value": "", "page": None, "confidence": 0.0,
                  "source": "none", "check": "not found", "why": ""}
                 for name in st.session_state.get("extraction_fields", []) if name not in r.fields]
        for error in r.errors:
            st.warning(f"{as_text(r.doc)}: {as_text(in_app_words(error))}")
    flagged = sum(row["check"] == "⚠ check it" for row in rows)
    if flagged:
        st.warning(f"{plural(flagged, 'value')} to check by eye: the **check** column marks "
                   f"{'it' if flagged == 1 else 'them'} and **why** says what is doubtful.", icon="⚠️")
    st.dataframe(pd.DataFrame(rows), hide_index=True, use_container_width=True,
                 column_config={"label": st.column_config.TextColumn(help="The label printed beside a form field")})
    located = [row for row in rows if row["page"]]
    if located:
        named = [r["field"] + (f" ({r['label']})" if r["label"] else "") for r in located]  # the label beside the name
        keys = [f"{r['document']} · {r['field']}" for r in located]
        labels = {k: f"{r['document']} · {n}" for k, r, n in zip(keys, located, named, strict=True)}
        key = st.selectbox("Show a value on its page", keys, key="show_value", format_func=labels.get)
        row = located[keys.index(key)]
        value = next(r for r in results if r.doc == row["document"]).fields[row["field"]]
        with PageStore(ctx.settings) as store:
            image = store.page_image(row["document"], value.page)
        st.image(evidence_image(Citation(row["document"], value.page, [value.box] if value.box else [], image)),
                 caption=as_text(f"{row['document']} · page {value.page} · {named[keys.index(key)]}"))
    left, right = st.columns(2)
    left.download_button("Download CSV", extractions_csv(results), "extraction.csv", "text/csv", key="csv")
    right.download_button("Download JSON", json.dumps({"documents": [r.to_json() for r in results]}, ensure_ascii=False,
                                                      indent=2), "extraction.json", "application/json", key="json")
