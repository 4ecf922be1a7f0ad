"""Library: upload documents (every format docagent reads, told by content and named by
``docagent.ingest.formats.describe()``), index them as a background job (docagent.index.jobs: it goes on when the page
is reloaded or closed, and its progress is shown to whoever opens the Library), see and delete documents (an
e-mail with its attachments)."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import streamlit as st

import docagent
from docagent.config import Settings
from docagent.errors import DocumentLoadError
from docagent.index.catalog import JobRecord
from docagent.index.jobs import FINISHED, IndexJobs
from docagent.index.store import PageStore
from docagent.ingest.formats import describe
from docagent.ingest.uploads import save_upload
from docagent_app.ui import Context, as_text, plural

_CHUNK = 1 << 20
SHOWN_FOR = 15 * 60
"""A finished job's outcome stays on the Library page this many seconds."""

_RUNNERS: dict[str, IndexJobs] = {}
_RUNNERS_LOCK = threading.Lock()


def runner(settings: Settings) -> IndexJobs:
    """The app server's job runner for this store (one per store, for the server's life: jobs outlive page loads)."""
    key = settings.model_dump_json(include={"store", "catalog_url", "blob_url", "chroma_url"})
    with _RUNNERS_LOCK:
        if key not in _RUNNERS:
            _RUNNERS[key] = IndexJobs(PageStore(settings), poll=5.0).start()  # its own batches wake it at once
        return _RUNNERS[key]


def render(ctx: Context) -> None:
    st.header("Library")
    batch = st.session_state.setdefault("upload_batch", 0)
    files = st.file_uploader(f"Add documents ({describe()}; up to {ctx.max_upload_mb:g} MiB each)",
                             accept_multiple_files=True, key=f"uploads:{batch}")
    if files and st.button("Index", type="primary", key="index"):
        _index(ctx, files)
    _jobs_panel(ctx)
    _documents(ctx)


@st.fragment(run_every=2.0)
def _jobs_panel(ctx: Context) -> None:
    """The jobs, looked at again every two seconds (this part of the page only); when the last one under way ends,
    the whole page, so that its documents are listed."""
    busy = _jobs(ctx)
    if st.session_state.get("jobs_busy") and not busy:
        st.session_state["jobs_busy"] = False
        st.rerun()
    st.session_state["jobs_busy"] = busy


def _index(ctx: Context, files: list) -> None:
    folder = Path(tempfile.mkdtemp(prefix="docagent-app-"))
    try:
        accepted, rejected = [], []
        for f in files:  # the type comes from the content, not the name
            try:
                chunks = iter(lambda f=f: f.read(_CHUNK), b"")
                accepted.append(save_upload(f.name, chunks, folder, int(ctx.max_upload_mb * (1 << 20))))
            except DocumentLoadError as e:
                rejected.append({"file": f.name, "error": e.reason, "status": 415})
        if not accepted:
            for r in rejected:
                st.error(f"{as_text(r['file'])}: {as_text(r['error'])}")
            return
        runner(ctx.settings).submit(accepted, rejected=rejected)  # the bytes are copied into the store
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    st.session_state["upload_batch"] = st.session_state.get("upload_batch", 0) + 1  # an empty uploader
    st.rerun()


def _jobs(ctx: Context) -> bool:
    """The store's indexing jobs under way and those finished lately, with their outcome; True while one is under way."""
    jobs = runner(ctx.settings)
    recent = [j for j in jobs.recent(10) if j.state not in FINISHED or time.time() - j.updated < SHOWN_FOR]
    busy = [j for j in recent if j.state not in FINISHED]
    for job in recent:
        _job(job, stalled=jobs.stalled(job))
    return bool(busy)


def _job(job: JobRecord, *, stalled: bool) -> None:
    data = job.data
    done, total, current = int(str(data.get("done", 0))), int(str(data.get("total", 0))), str(data.get("current", ""))
    rejected = [r for r in data.get("rejected", []) if isinstance(r, dict)]  # type: ignore[union-attr]
    if job.state not in FINISHED:
        text = (f"Indexing {as_text(current)} ({done + 1} of {total})" if current
                else f"Waiting to index {plural(total, 'file')}" if job.state == "queued" else "Indexing ...")
        st.progress(done / max(total, 1), text=text)
        if stalled:
            st.warning("The server indexing this batch stopped; the next one to start takes it up again.")
    for r in rejected:
        st.error(f"{as_text(str(r.get('file', '')))}: {as_text(str(r.get('error', '')))}")
    if job.state == "failed":
        st.error(f"Indexing failed: {as_text(str(data.get('error', '')))}")
    report = data.get("indexed")
    if job.state == "done" and isinstance(report, dict) and (report.get("documents") or report.get("skipped")):
        ocr, skipped = int(report.get("ocr_pages", 0)), int(report.get("skipped", 0))
        st.success(f"Indexed {plural(int(report['documents']), 'document')}, {plural(int(report['pages']), 'page')}"
                   + (f" ({ocr} by OCR)" if ocr else "") + (f"; {skipped} unchanged" if skipped else "") + ".")


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
                if st.session_state.get("deleting") == d.name:  # asked first: a removal cannot be undone
                    st.warning(f"Remove {as_text(d.name)} and everything indexed from it?")
                    yes, no = st.columns(2)
                    if yes.button("Remove", key=f"confirm-delete:{d.name}", type="primary"):
                        st.session_state.pop("deleting", None)
                        docagent.remove([d.name], ctx.settings)
                        st.rerun()
                    if no.button("Keep", key=f"keep:{d.name}"):
                        st.session_state.pop("deleting", None)
                        st.rerun()
                elif st.button("Delete", key=f"delete:{d.name}"):
                    st.session_state["deleting"] = d.name
                    st.rerun()
