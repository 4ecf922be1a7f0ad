"""Library: upload documents (every format docagent reads, told by content and named by
``docagent.ingest.formats.describe()``), index them with a live progress bar, see and delete documents (an
e-mail with its attachments)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import streamlit as st

import docagent
from docagent.errors import DocumentLoadError
from docagent.index.store import PageStore
from docagent.ingest.formats import describe
from docagent.ingest.uploads import save_upload
from docagent_app.ui import Context, as_text, plural

_CHUNK = 1 << 20


def render(ctx: Context) -> None:
    st.header("Library")
    files = st.file_uploader(f"Add documents ({describe()}; up to {ctx.max_upload_mb:g} MiB each)",
                             accept_multiple_files=True, key="uploads")
    if files and st.button("Index", type="primary", key="index"):
        _index(ctx, files)
    _documents(ctx)


def _index(ctx: Context, files: list) -> None:
    folder = Path(tempfile.mkdtemp(prefix="docagent-app-"))
    try:
        accepted = []
        for f in files:  # the type comes from the content, not the name
            try:
                chunks = iter(lambda f=f: f.read(_CHUNK), b"")
                accepted.append(save_upload(f.name, chunks, folder, int(ctx.max_upload_mb * (1 << 20))))
            except DocumentLoadError as e:
                st.error(f"{as_text(f.name)}: {as_text(e.reason)}")
        if not accepted:
            return
        bar = st.progress(0.0, text="Indexing ...")

        def progress(done: int, total: int, name: str) -> None:
            text = as_text(f"Indexing {name} ({done + 1} of {total})") if name else "Indexed"  # names are text
            bar.progress(done / max(total, 1), text=text)

        report = docagent.index(accepted, ctx.settings, on_file=progress)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for failed in report.failed:
        st.error(f"{as_text(Path(failed.path).name)}: {as_text(failed.error)}")
    if report.documents or report.skipped:
        st.success(f"Indexed {plural(report.documents, 'document')}, {plural(report.pages, 'page')}"
                   + (f" ({report.ocr_pages} by OCR)" if report.ocr_pages else "")
                   + (f"; {report.skipped} unchanged" if report.skipped else "") + ".")


def _documents(ctx: Context) -> None:
    with PageStore(ctx.settings) as store:
        docs = store.documents()
        st.subheader(plural(len(docs), "document"))
        for d in docs:
            thumb, about, action = st.columns([1, 4, 1])
            with thumb:
                st.image(store.page_image(d.name, 1).read_bytes(), width=90)
            with about:
                st.markdown(f"**{as_text(d.name)}**  \n{plural(d.pages, 'page')}"
                            + (f", {d.ocr_pages} by OCR" if d.ocr_pages else ""))
            with action:
                if st.button("Delete", key=f"delete:{d.name}"):
                    docagent.remove([d.name], ctx.settings)
                    st.rerun()
