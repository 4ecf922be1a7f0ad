"""Tables: the tables found in a document at indexing, each beside its page with the table's box drawn, to
read as a grid and download as CSV or JSON."""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
import streamlit as st

from docagent.errors import StoreError
from docagent.index.store import PageStore
from docagent.tasks.tables import pages_list, select_tables
from docagent.types import PageImage, Table
from docagent_app.ui import Context, as_text, plural

BOX_COLOUR = (220, 30, 30)
SHOWN = 20
"""Tables shown at once, each with its page (a document's every table: a page of them at most)."""


def render(ctx: Context) -> None:
    st.header("Tables")
    with PageStore(ctx.settings) as store:
        docs = [d.name for d in store.documents()]
        if not docs:
            return  # the store notice above says what to do
        doc = st.selectbox("Document", docs, key="tables_doc")
        try:
            _document(store, doc)
        except StoreError:  # removed or replaced by another session meanwhile
            st.warning(as_text(f"{doc} was removed or replaced meanwhile; choose a document again."))


def _document(store: PageStore, doc: str) -> None:
    every = store.tables(doc)
    pages = sorted({t.page for t in every})
    page = st.selectbox("Page", [None, *pages], key=f"tables_page:{doc}",
                        format_func=lambda p: (f"Every page ({pages_list(pages)})" if pages else "Every page")
                        if p is None else f"Page {p} ({plural(sum(t.page == p for t in every), 'table')})")
    found, why = select_tables(store, doc, page)
    if not found:
        said = why[:1].upper() + why[1:] if why.startswith("no ") else why  # a file name keeps its case
        again = " Add the file again in the **Library**." if "index it again" in why else ""
        st.info(as_text(said + ".") + again, icon="🔎")
        return
    st.caption(as_text(f"{plural(len(found), 'table')} in {doc}" + (f" on page {page}" if page else "")
                       + (f"; the first {SHOWN} are shown: choose a page for the others" if len(found) > SHOWN else "")))
    for table in found[:SHOWN]:
        _show(store, table)


def _show(store: PageStore, table: Table) -> None:
    name = f"{table.doc} · page {table.page} · table {table.index + 1}"
    st.subheader(as_text(f"Page {table.page} · table {table.index + 1}" + (f": {table.title}" if table.title else "")))
    grid, page_view = st.columns([3, 2])
    with grid:
        st.dataframe(frame(table), hide_index=True)
        notes = [f"{table.rows} rows × {table.cols} columns, {plural(table.header_rows, 'header row')}"]
        if table.scale_text:
            notes.append(f"numbers {table.scale_text}")
        if table.continued_from:
            notes.append(f"continues the table on page {table.continued_from[0]}")
        if table.continues_on:
            notes.append(f"continued on page {table.continues_on[0]}")
        st.caption(as_text("; ".join(notes)))
        stem = f"{table.doc.replace('/', '_')}-p{table.page}-t{table.index + 1}"
        csv_button, json_button, _ = st.columns([1, 1, 2])
        csv_button.download_button("Download CSV", table.to_csv(), file_name=f"{stem}.csv", mime="text/csv",
                                   key=f"csv:{table.page}:{table.index}", on_click="ignore")
        json_button.download_button("Download JSON", json.dumps(table.to_json(), ensure_ascii=False, indent=2),
                                    file_name=f"{stem}.json", mime="application/json",
                                    key=f"json:{table.page}:{table.index}", on_click="ignore")
    with page_view:
        page = store.page(table.doc, table.page)
        st.image(framed(store.page_image(table.doc, table.page), page.to_pixels(table.box)),
                 caption=as_text(name), width="stretch")


def frame(table: Table) -> pd.DataFrame:
    """The table's body under its column headers (each named, once: an empty header is ``column N``)."""
    heads, seen = [], set()
    for k, head in enumerate(table.column_headers()):
        head = head.strip() or f"column {k + 1}"
        label, n = head, 2
        while label in seen:
            label, n = f"{head} ({n})", n + 1
        seen.add(label)
        heads.append(label)
    return pd.DataFrame(table.grid()[table.header_rows:], columns=heads)


def framed(image: PageImage, box: tuple[int, int, int, int]) -> Any:
    """The part of the page ``image`` around ``box`` (page-image pixels: the table), the box drawn: the
    page's full width, from a little above the table (its title) to a little below."""
    from PIL import Image, ImageDraw

    with Image.open(io.BytesIO(image.read_bytes())) as png:
        page = png.convert("RGB")
    width = max(2, round(min(page.size) / 250))
    x0, y0, x1, y1 = box
    ImageDraw.Draw(page).rectangle((x0 - width, y0 - width, x1 + width, y1 + width), outline=BOX_COLOUR, width=width)
    top, bottom = max(0, y0 - page.height // 8), min(page.height, y1 + page.height // 16)
    return page.crop((0, top, page.width, bottom))
