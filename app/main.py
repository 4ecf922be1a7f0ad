"""docagent's app, one page at a time (started by ``docagent app``, or ``streamlit run app/main.py``)."""

from __future__ import annotations

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import streamlit as st

from docagent_app import charts, chat, extract, library, settings_page, tables, ui

PAGES = {"Library": library.render, "Chat": chat.render, "Extract": extract.render, "Charts": charts.render,
         "Tables": tables.render, "Settings": settings_page.render}

st.set_page_config(page_title="docagent", page_icon="📄", layout="wide")
if st.get_option("client.toolbarMode") == "auto":  # `streamlit run app/main.py` by hand: as `docagent app` sets it
    st.set_option("client.toolbarMode", "viewer")  # from the next rerun on; no "Deploy" button
if not ui.admitted():  # the password first, when one is set; nothing beyond loopback without access control
    st.stop()
shown = st.query_params.get("page", "Library")  # in the address: a reload stays on the page
page = st.sidebar.radio("docagent", list(PAGES), index=list(PAGES).index(shown) if shown in PAGES else 0, key="page")
st.query_params["page"] = page
ctx = ui.context()
st.sidebar.caption(ui.as_text(f"Store: {ui.store_label(ctx)}"))
if not ui.store_notice(ctx):  # new or empty: said on every page; unreadable: said instead of the page
    st.stop()
PAGES[page](ctx)
