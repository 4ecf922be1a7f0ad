"""Extract: fields (name, type, description) in an editable table or from a JSON Schema, run over chosen
documents; values with their page and confidence, each shown on its page; CSV and JSON downloads."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

import docagent
from app.ui import LOW_CONFIDENCE, Context, as_text, chat_model, no_model_banner
from docagent.errors import DocagentError
from docagent.index.store import PageStore
from docagent.tasks.extract import extractions_csv
from docagent.tasks.qa import evidence_image
from docagent.tasks.schema import TYPES, FieldSpec, fields_of
from docagent.types import Citation

_STARTER = [{"name": "invoice_number", "type": "str", "description": "the invoice's number"},
            {"name": "total", "type": "decimal", "description": "the amount due"}]


def render(ctx: Context) -> None:
    st.header("Extract fields")
    with PageStore(ctx.settings) as store:
        names = [d.name for d in store.documents()]
    if not names:
        st.info("Nothing is indexed yet: add documents in the Library.")
        return
    schema_file = st.file_uploader("Load a JSON Schema (optional)", key="schema_file")
    fields = _fields(schema_file)
    edited = st.data_editor(pd.DataFrame(fields, columns=["name", "type", "description"]), num_rows="dynamic",
                            key=f"fields:{schema_file.name if schema_file else ''}", use_container_width=True,
                            column_config={"type": st.column_config.SelectboxColumn(options=list(TYPES), required=True)})
    chosen = st.multiselect("Documents", names, default=names[:1], key="extract_docs")
    use_model = st.checkbox("Let the vision-language model read the pages", value=True, key="use_model")
    if st.button("Extract", type="primary", key="extract", disabled=not chosen):
        specs = [FieldSpec(str(r["name"]).strip(), str(r["type"] or "str"), str(r["description"] or ""))
                 for r in edited.to_dict("records") if str(r.get("name") or "").strip()]
        llm, reason = chat_model(ctx) if use_model else (None, "")
        if use_model and llm is None:
            no_model_banner(ctx, reason, "fields are read next to their printed labels (and from form fields)")
        try:
            st.session_state["extraction"] = docagent.extract(docs=chosen, schema=specs or None, settings=ctx.settings,
                                                              llm=llm, use_model=llm is not None)
            st.session_state["extraction_fields"] = [s.name for s in specs]
        except DocagentError as e:
            st.error(as_text(str(e)))
    if st.session_state.get("extraction"):
        _results(ctx, st.session_state["extraction"])


def _fields(schema_file: object) -> list[dict[str, str]]:
    if schema_file is None:
        return _STARTER
    try:
        specs = fields_of(json.loads(schema_file.getvalue()))
    except (ValueError, DocagentError) as e:
        st.error(f"That JSON Schema cannot be used: {as_text(str(e))}")
        return _STARTER
    return [{"name": s.name, "type": s.type, "description": s.description} for s in specs]


def _results(ctx: Context, results: list[docagent.Extraction]) -> None:
    rows = []
    for r in results:
        rows += [{"document": r.doc, "field": name, "value": str(v.to_json()["value"]), "page": v.page,
                  "confidence": round(v.confidence, 2), "source": v.source,
                  "check": "⚠ low confidence" if v.confidence < LOW_CONFIDENCE else ""}
                 for name, v in r.fields.items()]
        rows += [{"document": r.doc, "field": name, "value": "", "page": None, "confidence": 0.0, "source": "",
                  "check": "not found"}
                 for name in st.session_state.get("extraction_fields", []) if name not in r.fields]
        for error in r.errors:
            st.warning(f"{as_text(r.doc)}: {as_text(error)}")
    st.dataframe(pd.DataFrame(rows), hide_index=True, use_container_width=True)
    located = [row for row in rows if row["page"]]
    if located:
        label = st.selectbox("Show a value on its page", [f"{r['document']} · {r['field']}" for r in located],
                             key="show_value")
        row = located[[f"{r['document']} · {r['field']}" for r in located].index(label)]
        value = next(r for r in results if r.doc == row["document"]).fields[row["field"]]
        with PageStore(ctx.settings) as store:
            image = store.page_image(row["document"], value.page)
        st.image(evidence_image(Citation(row["document"], value.page, [value.box] if value.box else [], image)),
                 caption=as_text(f"{row['document']} · page {value.page} · {row['field']}"))
    left, right = st.columns(2)
    left.download_button("Download CSV", extractions_csv(results), "extraction.csv", "text/csv", key="csv")
    right.download_button("Download JSON", json.dumps({"documents": [r.to_json() for r in results]}, ensure_ascii=False,
                                                      indent=2), "extraction.json", "application/json", key="json")
