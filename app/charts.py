"""Charts: a page (chosen, or found from the question), the table docagent found on it (or its chart transcribed by
the model), the expression written over it, and the result computed exactly, the cells it read boxed on the page.
On a chosen page with a found table, an expression over its cells needs no model."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import docagent
from docagent.errors import ModelError
from docagent.index.store import PageStore
from docagent.tasks.qa import evidence_image
from docagent.tasks.tables import column_names, row_names
from docagent.types import Citation, decimal_text
from docagent_app.ui import Context, as_text, chat_model, no_model_banner, tasks, without_server_paths


def render(ctx: Context) -> None:
    st.header("Compute from a chart or table")
    with PageStore(ctx.settings) as store:
        docs = {d.name: d.pages for d in store.documents()}
    if not docs:
        return  # the store notice above says what to do
    question = st.text_input("Question", placeholder="By what percent did revenue grow from Q1 to Q4?", key="chart_q")
    route = st.radio("Page", ["Find it from the question", "Choose it"], horizontal=True, key="chart_route")
    expression = ""
    if route == "Choose it":
        doc = st.selectbox("Document", list(docs), key="chart_doc")
        page = int(st.number_input("Page number", 1, docs[doc], 1, key="chart_page"))
        with PageStore(ctx.settings) as store:
            tables = store.tables(doc, page)
        if tables:
            expression = st.text_input(
                "Or an expression over the cells of the table found on this page (no model needed)",
                placeholder='cell("2019", "Revenue") - cell("2018", "Revenue")', key="chart_expr",
                help='Name a cell by its column header and row label: cell("2019", "Revenue"); a column\'s numbers '
                     'without its totals: col("2019"). Also + - * / ** and sum, mean, median, min, max, round, '
                     'percent_change(old, new).').strip()
            columns = column_names(tables)
            st.caption(as_text("Columns: " + ", ".join(f'"{c}"' for c in columns.values())
                               + " · rows: " + ", ".join(f'"{r}"' for t in tables for r in row_names(t) if r)))
        else:
            st.caption("No table was found on this page: a question about a chart or a picture of a table needs a "
                       "model to read it.")
    if not st.button("Compute", type="primary", key="compute", disabled=not (question or expression)):
        return
    if expression:
        with tasks(ctx) as task_context:  # an expression needs no model
            answer = docagent.chart((doc, page), question, expression=expression, context=task_context)
    else:
        llm, reason = chat_model(ctx)  # without one, arithmetic asked in words over a found table is still computed
        if route != "Choose it":
            hits = docagent.search(question, k=1, settings=ctx.settings)
            if not hits:
                st.warning("No page matches the question.")
                return
            doc, page = hits[0].doc, hits[0].page
        try:
            with tasks(ctx, llm) as task_context:
                answer = docagent.chart((doc, page), question, context=task_context)
        except ModelError as e:
            no_model_banner(ctx, reason, "charts cannot be read, and this question could not be computed from a "
                                         "table without one")
            st.error(as_text(without_server_paths(ctx, str(e))))
            return
    shown, result = st.columns([2, 3])
    with PageStore(ctx.settings) as store:
        image, page_obj = store.page_image(doc, page), store.page(doc, page)
        boxes = [page_obj.to_pixels(c.box) for c in answer.cells]
        shown.image(evidence_image(Citation(doc, page, boxes, image)) if boxes else image.read_bytes(),
                    caption=as_text(f"{doc} · page {page}"))
    with result:
        if answer.value is None:
            st.error(as_text(answer.text))
        else:
            st.metric("Result", as_text(answer.text))
        if answer.expression:
            st.code(answer.expression, language=None)
        if answer.cells:
            st.caption("Cells read (boxed on the page)")
            st.dataframe(pd.DataFrame([{"row": c.row, "column": c.column, "printed": c.text,
                                        "value": decimal_text(c.value)} for c in answer.cells]), hide_index=True)
        if answer.table is not None:
            what = "Table found on the page" if answer.source in ("table", "words") else "Transcribed table"
            st.caption(as_text(f"{what}{': ' + answer.table.title if answer.table.title else ''}"
                               f"{' (' + answer.table.unit + ')' if answer.table.unit else ''}"))
            names: list[str] = []
            for name in ["category", *answer.table.series]:  # a header printed twice is two columns
                names.append(name if name not in names else f"{name} ({sum(n.startswith(name) for n in names) + 1})")
            st.dataframe(pd.DataFrame([[r.category, *r.values] for r in answer.table.rows], columns=names),
                         hide_index=True)
        for mismatch in answer.mismatches:
            st.warning(f"Check: {as_text(mismatch)}")
        for note in answer.notes:
            st.warning(f"Note: {as_text(note)}")
