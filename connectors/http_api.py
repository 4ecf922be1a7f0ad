"""docagent over HTTP: a FastAPI app, each endpoint one library call.

    docagent serve                                         # 127.0.0.1:8080, no token needed on loopback
    DOCAGENT_API_TOKEN=$(python -c "import secrets; print(secrets.token_urlsafe(32))") \\
        docagent serve --host 0.0.0.0                      # beyond loopback a bearer token is required

    POST   /documents                        upload documents (multipart field "files"): 202 with a job to follow,
                                             or ?wait=true: 200 once indexed
    GET    /jobs/{id}                        an upload's state and progress (from any replica of the store)
    GET    /documents                        the indexed documents
    DELETE /documents/{name}                 remove one completely (an e-mail with its attachments)
    GET    /documents/{name}/pages/{n}.png   a page image of the document as it is now (citations link here)
    GET    /pages/{version}/{n}.png          the page image of one version of a document: what a result's or a
                                             citation's ``image`` (docagent://pages/{version}/{n}.png) names; 404
                                             once that version is replaced or removed
    GET    /documents/{name}/tables          the tables found at indexing: JSON (cells with numbers and boxes; the
                                             table's image_box on the page image), or ?format=csv|html|markdown;
                                             &page=N, &table=K (from 1, on page N)
    GET    /search?q=...&k=5&doc=...         the pages that match (doc_kind, year, org: card filters)
    POST   /ask                              answer with citations; "stream": true sends server-sent events
                                             ("token" pieces, then one "answer")
    POST   /extract                          fields from indexed documents into a schema
    POST   /chart                            arithmetic over the chart or table on a page, computed exactly
    GET    /health                           status (no token needed)
    GET    /openapi.json, /docs              the API, described

Uploads: at most ``max_upload_mb`` per file and ``max_files`` per request; the type is read from the
content (the formats of ``docagent.ingest.formats``), not the name; names are reduced to a bare file name, so nothing is
written outside a temporary folder and the store. A bad file is reported and the others are indexed. A
file named like an indexed document replaces it, and the result lists it under ``replaced``; send
``?replace=false`` to have it refused instead (checked as the document is written: of two replicas adding one new name
at once, one wins and the other's job says 409). An upload is a job: its state lives in the store's catalog, so with
a PostgreSQL catalog any replica answers ``GET /jobs/{id}``. The files are staged in the store's blob store, so whichever
replica is free runs the job (docagent.index.jobs), and a job whose replica stopped mid-way is taken up by another.

Web pages cannot use a server on loopback behind the user's back: without a token, a request must name a
loopback host (``Host``; a DNS-rebinding page names its own) or one of ``allowed_hosts``; and a request
that changes anything (POST, DELETE) sent by a page of another origin (``Origin``, ``Sec-Fetch-Site``) is
refused, token or not. Request bodies are counted as they arrive, chunked or not: JSON bodies beyond
``max_json_kb``, uploads beyond their limits, are cut off with 413. Generation is bounded in time and
stops when a streaming client goes away. Responses name documents, never server paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders

import docagent
from docagent.agents.tools import FieldArg, TableFormat, table_json
from docagent.config import Settings, is_loopback
from docagent.context import Context
from docagent.errors import (
    ConfigError,
    DocagentError,
    DocumentLoadError,
    FileTooLargeError,
    ModelError,
    StoreError,
)
from docagent.index.catalog import DocumentRecord
from docagent.index.jobs import IndexJobs
from docagent.index.store import PageStore
from docagent.ingest.base import display_name
from docagent.ingest.formats import describe
from docagent.ingest.uploads import save_upload
from docagent.models.abilities import abilities
from docagent.tasks.tables import select_tables

__all__ = ["ApiSettings", "create_app", "serve"]

_CHUNK = 1 << 20
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
_OPEN_PATHS = frozenset({"/health", "/docs", "/openapi.json", "/docs/oauth2-redirect"})
"""What answers without the token: status and the API's description, no data."""
_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]+@")
_UPLOAD_FOLDER = re.compile(r"[^\s'\"]*docagent-(?:upload|job)-[^/\s]+/")
_BEARER = HTTPBearer(auto_error=False)


class ApiSettings(BaseSettings):
    """The HTTP server's own settings (``DOCAGENT_API_`` environment variables)."""

    model_config = SettingsConfigDict(env_prefix="DOCAGENT_API_")

    token: SecretStr | None = None
    """Bearer token every request must carry (``Authorization: Bearer ...``). Required to listen beyond
    loopback; optional (then enforced too) on loopback."""
    max_upload_mb: float = Field(default=50, gt=0)
    """Largest file accepted, in MiB."""
    max_files: int = Field(default=20, ge=1)
    """Most files in one upload request."""
    job_silence_minutes: float = Field(default=30, gt=0)
    """An upload job whose runner has said nothing for this long (it says it is alive every 10 s, even inside a long
    file) is reported ``stalled`` and taken up again by the next replica that looks for work."""
    max_json_kb: float = Field(default=256, gt=0)
    """Largest JSON request body, in KiB."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Host names (besides loopback ones) requests may be addressed to when no token is set, e.g. the name
    of a reverse proxy in front (``DOCAGENT_API_ALLOWED_HOSTS='["docs.internal"]'``)."""

    @field_validator("token", mode="before")
    @classmethod
    def _no_empty_token(cls, value: object) -> object:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str) and not raw.strip():
            msg = ("DOCAGENT_API_TOKEN is set but empty, which would leave the API open: set a real token "
                   "(`python -c \"import secrets; print(secrets.token_urlsafe(32))\"`) or unset the variable")
            raise ValueError(msg)
        return value




# ---------------------------------------------------------------------------------- requests


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=4000, description="the question")
    k: int = Field(default=4, ge=1, le=16, description="pages to read")
    docs: list[str] | None = Field(default=None, description="only these documents")
    stream: bool = Field(default=False, description="send server-sent events: token pieces, then the answer")


class ExtractRequest(BaseModel):
    docs: list[str] = Field(min_length=1, description="indexed documents to extract from")
    fields: list[FieldArg] | None = Field(default=None, description="the fields; omit for every form field")
    json_schema: dict[str, Any] | None = Field(default=None, description="or a JSON Schema with 'properties'")
    use_model: bool = Field(default=True, description="false: read values next to their printed labels only")


class ChartRequest(BaseModel):
    doc: str = Field(min_length=1, description="an indexed document")
    page: int = Field(default=1, ge=1, description="the page with the chart or table")
    question: str = Field(default="", max_length=4000, description="the arithmetic question (needs a model)")
    expression: str | None = Field(default=None, max_length=2000, description='instead of a question: arithmetic over '
                                   'the cells of the table found on the page, cell("2019", "Revenue") - cell("2018", '
                                   '"Revenue"); no model')

    @model_validator(mode="after")
    def _one_of(self) -> ChartRequest:
        if not self.question.strip() and not (self.expression or "").strip():
            msg = "give a question, or an expression over the cells of the page's table"
            raise ValueError(msg)
        return self


# ------------------------------------------------------------------------------------ helpers


def _image_url(doc: str, page: int) -> str:
    from urllib.parse import quote

    return f"/documents/{quote(doc, safe='')}/pages/{page}.png"


def _answer_json(answer: docagent.Answer) -> dict[str, Any]:
    out = answer.to_json()
    out.pop("evidence_images", None)
    for c in out["citations"]:
        c["image_url"] = _image_url(c["doc"], c["page"])
    return out


def _require_doc(store: PageStore, name: str, page: int | None = None) -> None:
    rec = store.document(name)
    if rec is None:
        raise HTTPException(404, f"no document named {name!r}; GET /documents lists them")
    if page is not None and not 1 <= page <= rec.pages:
        raise HTTPException(404, f"{name} has {rec.pages} page{'s' if rec.pages != 1 else ''}; there is no page {page}")


_TEXT_TYPES = {"csv": "text/csv", "html": "text/html", "markdown": "text/markdown"}
_SUFFIX = {"csv": "csv", "html": "html", "markdown": "md"}


def _tables_text(doc: str, found: list[docagent.Table], fmt: str) -> Response:
    """Tables as one text of ``fmt``: one table as exported; several, each after a line naming it (markdown:
    a heading, HTML: a caption) or, in CSV, separated by an empty line."""
    from html import escape
    from urllib.parse import quote

    def name(t: docagent.Table) -> str:
        return f"{doc} · page {t.page} · table {t.index + 1}" + (f": {t.title}" if t.title else "")

    if fmt == "csv":
        text = "\n".join(t.to_csv() for t in found)
    elif fmt == "markdown":
        text = "\n\n".join(f"### {escape(name(t), quote=False)}\n\n{t.to_markdown()}" for t in found) + "\n"
    else:  # a page of its own: the cells' text escaped, nothing runs or loads
        tables = "\n".join(t.to_html().replace("<table>", f"<table>\n<caption>{escape(name(t))}</caption>", 1)
                           for t in found)
        text = (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{escape(doc)} tables</title></head>"
                f"<body>\n{tables}\n</body></html>\n")
    stem = doc.rsplit("/", 1)[-1]
    if len(found) == 1:
        stem += f"-page{found[0].page}-table{found[0].index + 1}"
    elif len({t.page for t in found}) == 1:
        stem += f"-page{found[0].page}-tables"
    else:
        stem += "-tables"
    filename = f"{stem}.{_SUFFIX[fmt]}"
    headers = {"Content-Disposition": f"inline; filename*=UTF-8''{quote(filename)}",
               "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
    return Response(text, media_type=f"{_TEXT_TYPES[fmt]}; charset=utf-8", headers=headers)


class _Abandoned(Exception):
    """Raised into a generation whose client has disconnected, so it stops and frees the model."""


def _host_of(header: str) -> str:
    """The host of a ``Host`` header, without its port (``[::1]:8080`` -> ``::1``)."""
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _public(text: str, names: dict[str, str]) -> str:
    """A message for a client: one line, with this machine's paths, the model's folder or server URL and any
    credentials in a URL replaced by what they are (``names``: text -> what to say instead)."""
    text = " ".join(str(text).split())
    for name, label in sorted(names.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(name, label)
    return _CREDENTIALS.sub(r"\1", _UPLOAD_FOLDER.sub("", text))


def _scrubbed(value: Any, public: Any) -> Any:
    """``value`` (JSON) with every message in it (notice, error, reason, detail) passed through ``public``."""
    if isinstance(value, dict):
        return {k: public(v) if k in ("notice", "error", "reason", "detail") and isinstance(v, str)
                else _scrubbed(v, public) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, public) for v in value]
    return value


class _Guard:
    """ASGI middleware: a request ``refusal`` answers is refused before anything reads its body, and every
    response may be read by pages of this origin only (``Cross-Origin-Resource-Policy``). Pure ASGI, so an
    endpoint still hears its client hang up (``Request.is_disconnected``)."""

    def __init__(self, app: Any, refusal: Any) -> None:
        self.app, self.refusal = app, refusal

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self.refusal(Request(scope))
        if refused is not None:
            await refused(scope, receive, send)
            return

        async def send_marked(message: Any) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Cross-Origin-Resource-Policy"] = "same-origin"
            await send(message)

        await self.app(scope, receive, send_marked)


def create_app(settings: Settings | None = None, api: ApiSettings | None = None, *, llm: BaseChatModel | None = None,
               model: str | None = None, require_token: bool = False) -> FastAPI:
    """The app over the store of ``settings``. ``llm`` (any LangChain chat model) or ``model`` reads pages;
    without either, ``settings.vlm_model`` is loaded on first need (answers are retrieval-only when it
    cannot be). ``require_token``: refuse to build without ``api.token`` (set when listening beyond loopback)."""
    settings = settings or Settings()
    api = api or ApiSettings()
    if require_token and api.token is None:
        msg = ("listening beyond loopback exposes your documents: set DOCAGENT_API_TOKEN (for example "
               "`python -c \"import secrets; print(secrets.token_urlsafe(32))\"`) or listen on 127.0.0.1")
        raise ConfigError(msg)
    token = api.token.get_secret_value().encode() if api.token else None
    max_bytes = int(api.max_upload_mb * (1 << 20))
    max_json = int(api.max_json_kb * 1024)
    allowed_hosts = {h.lower() for h in api.allowed_hosts}
    model_lock = threading.Lock()  # one generation at a time when the model runs here: the GPU is shared
    write_lock = threading.Lock()
    state: dict[str, Context] = {}
    runners: dict[str, IndexJobs] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # one context for the server's life: its store opened now and closed at shutdown, its model on first need
        with Context(settings, llm=llm, model=model) as ctx:
            _ = ctx.store
            state["context"] = ctx
            # this replica runs upload jobs, its own and any other replica's (queued, or left by one that stopped)
            runners["jobs"] = IndexJobs(ctx.store, silence=api.job_silence_minutes * 60, public=public,
                                         replace_hint="send replace=true to replace it, or rename the file").start()
            try:
                yield
            finally:  # a job under way finishes (its documents whole) before the store closes; queued ones wait
                runners["jobs"].close(wait=True)  # in the catalog for the next replica

    app = FastAPI(title="docagent", version=docagent.__version__, lifespan=lifespan,
                  description="Question answering, chart arithmetic and form-field extraction over documents: "
                              f"{describe()}.")
    guarded = [Depends(_BEARER)]  # describes the bearer scheme in the OpenAPI spec; the guard checks the token

    def context() -> Context:
        return state["context"]

    def _serial() -> bool:
        """Whether generations take turns: yes while the model runs in this process (or is not loaded yet, when which
        it is cannot be known); a model served elsewhere (``abilities.local`` false) batches requests itself."""
        ctx = context()
        return not ctx.has_model or abilities(ctx.chat_model()).local

    @contextlib.contextmanager
    def generating() -> Iterator[None]:
        if _serial():
            with model_lock:
                yield
        else:
            yield

    def store() -> PageStore:
        return context().store

    hidden = {str(settings.store): "the store"}
    for name in {getattr(llm, "model", None) or "", model or "", settings.vlm_model}:
        if name and not _HUB_ID.fullmatch(name):  # a folder or a server URL (TGI, vLLM): where is nobody's business
            hidden.update({name: "the configured model", name.split("?")[0].rstrip("/"): "the configured model"})

    def public(text: str) -> str:
        return _public(text, hidden)

    @app.exception_handler(DocagentError)
    async def docagent_error(_: Request, e: DocagentError) -> JSONResponse:
        status = 503 if isinstance(e, ModelError) else 415 if isinstance(e, DocumentLoadError) else 400
        return JSONResponse({"detail": public(str(e))}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, e: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input, which may not even be JSON (1e400 is infinity)
        problems = [{"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
                    for err in e.errors()]
        return JSONResponse({"detail": problems}, status_code=422)

    def refusal(request: Request) -> JSONResponse | None:
        """Refuse, before any work (before the body is read): a missing or wrong token, requests addressed to
        another host when no token is set (DNS rebinding), changes sent by pages of another origin, and
        anything but a navigation from a page of another site (an <img> probing which documents exist)."""
        if token is not None and request.url.path not in _OPEN_PATHS:
            given = request.headers.get("authorization", "")
            scheme, _, credentials = given.partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(credentials.strip().encode(), token):
                return JSONResponse({"detail": "a valid bearer token is required (Authorization: Bearer "
                                               "<DOCAGENT_API_TOKEN>)"}, status_code=401,
                                    headers={"WWW-Authenticate": "Bearer"})
        if token is None:
            host = _host_of(request.headers.get("host", "")).lower()
            if not (is_loopback(host) or host in allowed_hosts):
                return JSONResponse({"detail": f"this server answers requests for loopback hosts only, not "
                                               f"{host or 'a request without a Host header'!r}; add the name to "
                                               "DOCAGENT_API_ALLOWED_HOSTS or set DOCAGENT_API_TOKEN"},
                                    status_code=421)
        fetch_site = request.headers.get("sec-fetch-site", "same-origin")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("origin")
            same = origin is None or _host_of(urlsplit(origin).netloc).lower() in (
                _host_of(request.headers.get("host", "")).lower(), *allowed_hosts)
            if fetch_site not in ("same-origin", "none") or not same:
                return JSONResponse({"detail": "requests from web pages of another origin may not change "
                                               "documents or run the model"}, status_code=403)
        elif fetch_site == "cross-site" and request.headers.get("sec-fetch-mode") != "navigate":
            return JSONResponse({"detail": "pages of another site may not read from this server"}, status_code=403)
        return None

    app.add_middleware(_Guard, refusal=refusal)

    @app.get("/health")
    def health() -> dict[str, Any]:
        name = getattr(llm, "model", None) or model or settings.vlm_model
        return {"status": "ok", "version": docagent.__version__, "documents": len(store().documents()),
                "model": name if _HUB_ID.fullmatch(name) else "configured"}  # a folder or URL says too much

    @app.post("/documents", dependencies=guarded, max_body_size=max_bytes * api.max_files + _CHUNK,
              status_code=202, responses={200: {"description": "indexed (wait=true)"}})
    async def upload(files: list[UploadFile],
                     replace: Annotated[bool, Query(description="a file named like an indexed document replaces "
                                                                "it (listed under 'replaced'); false: refuse it")] = True,
                     wait: Annotated[bool, Query(description="answer once indexed (200, with the report) instead of "
                                                             "at once with a job to follow (202, GET /jobs/{id})")] = False,
                     ) -> JSONResponse:
        if len(files) > api.max_files:
            raise HTTPException(413, f"at most {api.max_files} files per request; send the rest in another request")
        folder = Path(tempfile.mkdtemp(prefix="docagent-upload-"))
        try:
            accepted, rejected = [], []
            for upload in files:
                chunks = iter(lambda f=upload.file: f.read(_CHUNK), b"")  # starlette spooled it to disk
                name = display_name(upload.filename or "")
                try:
                    path = await run_in_threadpool(save_upload, upload.filename, chunks, folder, max_bytes)
                except DocumentLoadError as e:
                    status = 413 if isinstance(e, FileTooLargeError) else 415
                    rejected.append({"file": name, "error": public(e.reason), "status": status})
                    continue
                accepted.append(path)
            if not accepted:
                return JSONResponse({"indexed": None, "rejected": rejected},
                                    status_code=max((r["status"] for r in rejected), default=400))
            jobs = runners["jobs"]  # the files go into the store's blob store: any replica can run the job
            job_id = await run_in_threadpool(lambda: jobs.submit(accepted, replace=replace, rejected=rejected))
            if wait:
                done = await run_in_threadpool(jobs.wait, job_id)
                if done.state == "failed":
                    raise HTTPException(503, public(str(done.data.get("error", "indexing failed"))))
                return JSONResponse({"job": job_id, "indexed": done.data["indexed"],
                                     "rejected": _scrubbed(done.data["rejected"], public)},
                                    status_code=int(str(done.data["status"])))
            return JSONResponse({"job": job_id, "status_url": f"/jobs/{job_id}", "state": "queued",
                                 "files": [p.name for p in accepted], "rejected": rejected}, status_code=202)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @app.get("/jobs/{job_id}", dependencies=guarded)
    def job(job_id: str) -> dict[str, Any]:
        """An upload's state and progress, from any replica of the store."""
        record = store().catalog.job(job_id)
        if record is None:
            raise HTTPException(404, f"no job {job_id!r}; POST /documents answers with the id of the one it starts")
        out = {"job": record.id, "state": record.state, "created": record.created, "updated": record.updated,
               **_scrubbed({k: v for k, v in record.data.items() if k != "replace"}, public)}  # any runner wrote it
        if runners["jobs"].stalled(record):  # nothing half-indexed is visible; the job is whole in the catalog
            out["stalled"] = ("the server running this job stopped; the next replica of this store to look for work "
                              "takes it up again")
        return out

    def _public_record(d: DocumentRecord, cards: dict[str, Any]) -> dict[str, Any]:
        out = d.to_json()
        out["source"] = Path(d.source).name  # where the file came from on this machine is nobody's business
        out["card"] = cards[d.doc_id].to_json() if d.doc_id in cards else None
        return out

    @app.get("/documents", dependencies=guarded)
    def documents() -> dict[str, Any]:
        cards = store().catalog.cards()
        return {"documents": [_public_record(d, cards) for d in store().documents()]}

    # {name:path}: an e-mail's attachments are named "message.eml/attachment.pdf" (the slash sent as %2F or not)
    @app.delete("/documents/{name:path}", dependencies=guarded)
    def remove(name: str) -> dict[str, Any]:
        with write_lock:
            removed, _ = store().remove([name])
        if not removed:
            raise HTTPException(404, f"no document named {name!r}; GET /documents lists them")
        return {"removed": removed[0], "attachments_removed": removed[1:]}

    @app.get("/documents/{name:path}/pages/{page}.png", dependencies=guarded, response_class=Response,
             responses={200: {"content": {"image/png": {}}}})
    def page_image(name: str, page: int) -> Response:
        _require_doc(store(), name, page)
        try:  # read whole (a page is ~150 KB): a removal meanwhile cannot cut the body short
            return Response(store().page_image(name, page).read_bytes(), media_type="image/png")
        except (StoreError, FileNotFoundError) as e:
            raise HTTPException(404, f"{name} was removed or replaced meanwhile; GET /documents lists what is indexed") from e

    @app.get("/pages/{version}/{page}.png", dependencies=guarded, response_class=Response,
             responses={200: {"content": {"image/png": {}}}})
    def version_image(version: str, page: int) -> Response:
        try:
            png = store().image_bytes(f"docagent://pages/{version}/{page}.png")
        except ValueError as e:
            raise HTTPException(404, "no such page image; search results and citations give their image's URI") from e
        except StoreError as e:
            raise HTTPException(404, str(e)) from e
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=86400, immutable"})

    @app.get("/documents/{name:path}/tables", dependencies=guarded,
             responses={200: {"content": {"application/json": {}, "text/csv": {}, "text/html": {},
                                          "text/markdown": {}}},
                        404: {"description": "no such document, page or table; or (csv, html, markdown) no tables there"}})
    def tables(name: str,
               page: Annotated[int | None, Query(ge=1, description="only this page's tables (from 1)")] = None,
               table: Annotated[int | None, Query(ge=1, description="only this table of the page (from 1, top "
                                                                    "to bottom); needs page")] = None,
               format: Annotated[TableFormat, Query(description="json (default): each table with its cells, "
                                                                "numbers and boxes; csv, html or markdown: "
                                                                "the tables as text")] = "json",
               ) -> Response:
        _require_doc(store(), name, page)
        if table is not None and page is None:
            raise HTTPException(400, "table needs page: tables are numbered on each page, from 1 "
                                     f"(?page=N&table={table})")
        try:
            found, why = select_tables(store(), name, page, table)
            listed = [{**table_json(t, "json", store()), "image_url": _image_url(name, t.page)}
                      for t in found] if format == "json" else []
        except StoreError as e:  # removed meanwhile
            raise HTTPException(404, f"{name} was removed or replaced meanwhile; GET /documents lists what is indexed") from e
        if not found and (format != "json" or table is not None):  # a list may be empty; a text or one table not
            raise HTTPException(404, why)
        if format == "json":
            return JSONResponse({"doc": name, "page": page, "tables": listed, **({"note": why} if why else {})})
        return _tables_text(name, found, format)

    @app.get("/search", dependencies=guarded)
    def search(q: Annotated[str, Query(min_length=1, max_length=4000, description="the query")],
               k: Annotated[int, Query(ge=1, le=50, description="pages to return")] = 5,
               doc: Annotated[list[str] | None, Query(description="only these documents (repeatable)")] = None,
               doc_kind: Annotated[str | None, Query(description="only documents of this kind (their card's kind: annual report, agreement ...)")] = None,
               year: Annotated[int | None, Query(ge=1000, le=9999, description="only documents whose card covers this year")] = None,
               org: Annotated[str | None, Query(min_length=1, description="only documents whose card names this organisation (part of the name)")] = None,
               ) -> dict[str, Any]:
        from docagent.retrieve import PageRetriever

        card_filter = {key: value for key, value in (("doc_kind", doc_kind), ("year", year), ("organisation", org)) if value is not None}
        hits = PageRetriever(store=store(), k=k, render_images=False).search(q, docs=doc, filter=card_filter or None)
        return {"results": [{"doc": h.doc, "page": h.page, "page_label": h.label, "score": round(h.score, 6), "title": h.title,
                             "text": h.text,
                             "image": h.image.uri, "image_url": _image_url(h.doc, h.page)} for h in hits]}

    def _ask(req: AskRequest, gone: threading.Event, on_token: Any = None) -> docagent.Answer:
        """One answer, once the model is free; given up (``_Abandoned``) as soon as ``gone`` is set: while
        waiting for the model, or at the next token."""
        serial = _serial()
        while serial and not model_lock.acquire(timeout=0.25):
            if gone.is_set():
                raise _Abandoned

        def token(piece: str) -> None:
            if gone.is_set():
                raise _Abandoned
            if on_token is not None:
                on_token(piece)

        try:
            return docagent.ask(req.question, context=context(), k=req.k, docs=req.docs, on_token=token)
        finally:
            if serial:
                model_lock.release()

    # bodies are counted as they arrive, chunked or not, and cut off with 413 past each route's limit
    @app.post("/ask", dependencies=guarded, max_body_size=max_json, responses={200: {"content": {"text/event-stream": {}}}})
    async def ask(req: AskRequest, request: Request) -> Any:
        for name in req.docs or []:
            _require_doc(store(), name)
        gone = threading.Event()
        if not req.stream:
            async def watch() -> None:  # a client that hangs up frees the model too
                while not gone.is_set():
                    if await request.is_disconnected():
                        gone.set()
                    await asyncio.sleep(0.25)

            watcher = asyncio.create_task(watch())
            try:
                answer = await run_in_threadpool(_ask, req, gone)
            except _Abandoned:
                return Response(status_code=499)  # nobody is listening
            finally:
                gone.set()
                watcher.cancel()
            return _scrubbed(_answer_json(answer), public)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

        def on_token(piece: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, ("token", piece))

        def produce() -> None:
            try:
                answer = _ask(req, gone, on_token)
                event = ("answer", json.dumps(_scrubbed(_answer_json(answer), public), ensure_ascii=False))
            except _Abandoned:
                return
            except Exception as e:  # noqa: BLE001 - the client hears about any failure, in the stream
                event = ("error", json.dumps({"detail": public(str(e)) or type(e).__name__}))
            with contextlib.suppress(RuntimeError):  # the loop is closing: nobody is listening
                loop.call_soon_threadsafe(queue.put_nowait, event)

        async def events() -> AsyncIterator[dict[str, str]]:
            loop.run_in_executor(None, produce)  # a pooled thread: nothing is left behind per request
            try:
                while True:
                    kind, data = await queue.get()
                    yield {"event": kind, "data": json.dumps({"text": data}) if kind == "token" else data}
                    if kind != "token":
                        return
            finally:
                gone.set()  # the client went away (or the answer is out): a generation still running stops

        return EventSourceResponse(events())

    @app.post("/extract", dependencies=guarded, max_body_size=max_json)
    def extract(req: ExtractRequest) -> dict[str, Any]:
        from docagent.tasks.schema import FieldSpec

        for name in req.docs:
            _require_doc(store(), name)
        schema = ([FieldSpec(f.name, f.type, f.description) for f in req.fields] if req.fields
                  else req.json_schema)
        with generating():
            results = docagent.extract(docs=req.docs, schema=schema, context=context(), use_model=req.use_model)
        return _scrubbed({"documents": [r.to_json() for r in results]}, public)

    @app.post("/chart", dependencies=guarded, max_body_size=max_json)
    def chart(req: ChartRequest) -> dict[str, Any]:
        _require_doc(store(), req.doc, req.page)
        if req.expression:  # computed over the found table: no model, no need to wait for it
            answer = docagent.chart((req.doc, req.page), req.question, expression=req.expression, context=context())
            return _scrubbed(answer.to_json(), public)
        with generating():
            answer = docagent.chart((req.doc, req.page), req.question, context=context())
        return _scrubbed(answer.to_json(), public)

    return app


def serve(host: str = "127.0.0.1", port: int = 8080, *, settings: Settings | None = None,
          api: ApiSettings | None = None, model: str | None = None) -> None:
    """Run the API with uvicorn until interrupted. Beyond loopback a token is required."""
    import uvicorn

    app = create_app(settings, api, model=model, require_token=not is_loopback(host))
    uvicorn.run(app, host=host, port=port, log_level="warning")
