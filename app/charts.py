"""Charts: a page (chosen, or found from the question), its chart transcribed to a table, the expression
written over it, and the result computed exactly."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import docagent
from app.ui import Context, as_text, chat_model, no_model_banner
from docagent.index.store import PageStore


def render(ctx: Context) -> None:
    st.header("Compute from a chart or table")
    with PageStore(ctx.settings) as store:
        docs = {d.name: d.pages for d in store.documents()}
    if not docs:
        return  # the store notice above says what to do
    question = st.text_input("Question", placeholder="By what percent did revenue grow from Q1 to Q4?", key="chart_q")
    route = st.radio("Page", ["Find it from the question", "Choose it"], horizontal=True, key="chart_route")
    if route == "Choose it":
        doc = st.selectbox("Document", list(docs), key="chart_doc")
        page = int(st.number_input("Page number", 1, docs[doc], 1, key="chart_page"))
    if not st.button("Compute", type="primary", key="compute", disabled=not question):
        return
    llm, reason = chat_model(ctx)
    if llm is None:
        no_model_banner(ctx, reason, "charts cannot be read: transcribing a chart needs one")
        return
    if route != "Choose it":
        hits = docagent.search(question, k=1, settings=ctx.settings)
        if not hits:
            st.warning("No page matches the question.")
            return
        doc, page = hits[0].doc, hits[0].page
    answer = docagent.chart((doc, page), question, llm=llm, settings=ctx.settings)
    shown, result = st.columns([2, 3])
    with PageStore(ctx.settings) as store:
        shown.image(str(store.page_image(doc, page)), caption=as_text(f"{doc} · page {page}"))
    with result:
        if answer.value is None:
            st.error(as_text(answer.text))
        else:
            st.metric("Result", as_text(answer.text))
        if answer.expression:
            st.code(answer.expression, language=None)
        if answer.table is not None:
            st.caption(as_text(f"Transcribed table{': ' + answer.table.title if answer.table.title else ''}"
                               f"{' (' + answer.table.unit + ')' if answer.table.unit else ''}"))
            st.dataframe(pd.DataFrame([[r.category, *r.values] for r in answer.table.rows],
                                      columns=["category", *answer.table.series]), hide_index=True)
        for mismatch in answer.mismatches:
            st.warning(f"Check: {as_text(mismatch)}")
