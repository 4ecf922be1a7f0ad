"""docagent over HTTP: a FastAPI app, each endpoint one library call.

    docagent serve                                         # 127.0.0.1:8080, no token needed on loopback
    DOCAGENT_API_TOKEN=$(python -c "import secrets; print(secrets.token_urlsafe(32))") \\
        docagent serve --host 0.0.0.0                      # beyond loopback a bearer token is required

    POST   /documents                        upload PDFs and page images (multipart field "files"), indexed
    GET    /documents                        the indexed documents
    DELETE /documents/{name}                 remove one completely
    GET    /documents/{name}/pages/{n}.png   a page image (citations link here)
    GET    /search?q=...&k=5&doc=...         the pages that match (doc_kind, year, org: card filters)
    POST   /ask                              answer with citations; "stream": true sends server-sent events
                                             ("token" pieces, then one "answer")
    POST   /extract                          fields from indexed documents into a schema
    POST   /chart                            arithmetic over the chart or table on a page, computed exactly
    GET    /health                           status (no token needed)
    GET    /openapi.json, /docs              the API, described

Uploads: at most ``max_upload_mb`` per file and ``max_files`` per request; the type is read from the
content (PDF, PNG, JPEG, TIFF), not the name; names are reduced to a bare file name, so nothing is
written outside a temporary folder and the store. A bad file is reported and the others are indexed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

import docagent
from docagent.agents.tools import FieldArg
from docagent.config import Settings
from docagent.errors import (
    ConfigError,
    DocagentError,
    DocumentLoadError,
    FileTooLargeError,
    ModelError,
)
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.ingest.uploads import save_upload

__all__ = ["ApiSettings", "create_app", "is_loopback", "serve"]

_CHUNK = 1 << 20
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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    question: str = Field(min_length=1, max_length=4000, description="the arithmetic question")


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


def create_app(settings: Settings | None = None, api: ApiSettings | None = None, *, llm: Any = None,
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
    model_lock = threading.Lock()  # one generation at a time: the GPU is shared
    write_lock = threading.Lock()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["store"] = PageStore(settings)
        try:
            yield
        finally:
            state["store"].close()

    def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        if token is None:
            return
        if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), token):
            raise HTTPException(401, "a valid bearer token is required (Authorization: Bearer <DOCAGENT_API_TOKEN>)",
                                headers={"WWW-Authenticate": "Bearer"})

    app = FastAPI(title="docagent", version=docagent.__version__, lifespan=lifespan,
                  description="Question answering, chart arithmetic and form-field extraction over PDFs and scans.")
    guarded = [Depends(authorised)]

    def store() -> PageStore:
        return state["store"]

    @app.exception_handler(DocagentError)
    async def docagent_error(_: Request, e: DocagentError) -> JSONResponse:
        status = 503 if isinstance(e, ModelError) else 415 if isinstance(e, DocumentLoadError) else 400
        return JSONResponse({"detail": " ".join(str(e).split())}, status_code=status)

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_bytes * api.max_files + _CHUNK:
            return JSONResponse({"detail": f"request too large: at most {api.max_files} files of "
                                           f"{api.max_upload_mb:g} MiB each"}, status_code=413)
        return await call_next(request)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": docagent.__version__, "documents": len(store().documents()),
                "model": getattr(llm, "model", None) or model or settings.vlm_model}

    @app.post("/documents", dependencies=guarded)
    async def upload(files: list[UploadFile]) -> JSONResponse:
        if len(files) > api.max_files:
            raise HTTPException(413, f"at most {api.max_files} files per request; send the rest in another request")
        folder = Path(tempfile.mkdtemp(prefix="docagent-upload-"))
        try:
            accepted, rejected = [], []
            for upload in files:
                chunks = iter(lambda f=upload.file: f.read(_CHUNK), b"")  # starlette spooled it to disk
                try:
                    accepted.append(await run_in_threadpool(save_upload, upload.filename, chunks, folder, max_bytes))
                except DocumentLoadError as e:
                    status = 413 if isinstance(e, FileTooLargeError) else 415
                    rejected.append({"file": upload.filename, "error": " ".join(e.reason.split()), "status": status})
            report = None
            if accepted:
                def index() -> Any:
                    with write_lock:
                        return index_paths(accepted, store=store(), progress=False)
                report = await run_in_threadpool(index)
            failed = [{"file": f.path.rsplit("/", 1)[-1], "error": f.error, "status": 422} for f in report.failed] if report else []
            body = {"indexed": report.to_json() if report else None, "rejected": rejected + failed}
            status = 200 if report and report.documents + report.skipped else (
                max((r["status"] for r in rejected + failed), default=400))
            return JSONResponse(body, status_code=status)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @app.get("/documents", dependencies=guarded)
    def documents() -> dict[str, Any]:
        cards = store().catalog.cards()
        return {"documents": [{**d.to_json(), "card": cards[d.doc_id].to_json() if d.doc_id in cards else None} for d in store().documents()]}

    @app.delete("/documents/{name}", dependencies=guarded)
    def remove(name: str) -> dict[str, Any]:
        with write_lock:
            removed, _ = store().remove([name])
        if not removed:
            raise HTTPException(404, f"no document named {name!r}; GET /documents lists them")
        return {"removed": removed[0]}

    @app.get("/documents/{name}/pages/{page}.png", dependencies=guarded, response_class=FileResponse)
    def page_image(name: str, page: int) -> FileResponse:
        _require_doc(store(), name, page)
        return FileResponse(store().page_image(name, page), media_type="image/png")

    @app.get("/search", dependencies=guarded)
    def search(q: Annotated[str, Query(min_length=1, description="the query")],
               k: Annotated[int, Query(ge=1, le=50, description="pages to return")] = 5,
               doc: Annotated[list[str] | None, Query(description="only these documents (repeatable)")] = None,
               doc_kind: Annotated[str | None, Query(description="only documents of this kind (their card's kind: annual report, agreement ...)")] = None,
               year: Annotated[int | None, Query(ge=1000, le=9999, description="only documents whose card covers this year")] = None,
               org: Annotated[str | None, Query(min_length=1, description="only documents whose card names this organisation (part of the name)")] = None,
               ) -> dict[str, Any]:
        from docagent.retrieve import PageRetriever

        card_filter = {key: value for key, value in (("doc_kind", doc_kind), ("year", year), ("organisation", org)) if value is not None}
        hits = PageRetriever(store=store(), k=k).search(q, docs=doc, filter=card_filter or None)
        return {"results": [{"doc": h.doc, "page": h.page, "score": round(h.score, 6), "text": h.text,
                             "image_url": _image_url(h.doc, h.page)} for h in hits]}

    def _ask(req: AskRequest, on_token: Any = None) -> docagent.Answer:
        with model_lock:
            return docagent.ask(req.question, settings=settings, store=store(), llm=llm, model=model, k=req.k,
                                docs=req.docs, on_token=on_token)

    @app.post("/ask", dependencies=guarded, responses={200: {"content": {"text/event-stream": {}}}})
    async def ask(req: AskRequest) -> Any:
        for name in req.docs or []:
            _require_doc(store(), name)
        if not req.stream:
            return _answer_json(await run_in_threadpool(_ask, req))
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

        def produce() -> None:
            try:
                answer = _ask(req, lambda piece: loop.call_soon_threadsafe(queue.put_nowait, ("token", piece)))
                event = ("answer", json.dumps(_answer_json(answer), ensure_ascii=False))
            except Exception as e:  # noqa: BLE001 - the client hears about any failure, in the stream
                event = ("error", json.dumps({"detail": " ".join(str(e).split()) or type(e).__name__}))
            loop.call_soon_threadsafe(queue.put_nowait, event)

        async def events() -> AsyncIterator[dict[str, str]]:
            worker = threading.Thread(target=produce, daemon=True)
            worker.start()
            while True:
                kind, data = await queue.get()
                yield {"event": kind, "data": json.dumps({"text": data}) if kind == "token" else data}
                if kind != "token":
                    return

        return EventSourceResponse(events())

    @app.post("/extract", dependencies=guarded)
    def extract(req: ExtractRequest) -> dict[str, Any]:
        from docagent.tasks.schema import FieldSpec

        for name in req.docs:
            _require_doc(store(), name)
        schema = ([FieldSpec(f.name, f.type, f.description) for f in req.fields] if req.fields
                  else req.json_schema)
        with model_lock:
            results = docagent.extract(docs=req.docs, schema=schema, settings=settings, store=store(), llm=llm,
                                       model=model, use_model=req.use_model)
        return {"documents": [r.to_json() for r in results]}

    @app.post("/chart", dependencies=guarded)
    def chart(req: ChartRequest) -> dict[str, Any]:
        _require_doc(store(), req.doc, req.page)
        with model_lock:
            answer = docagent.chart((req.doc, req.page), req.question, llm=llm, model=model, settings=settings,
                                    store=store())
        return answer.to_json()

    return app


def serve(host: str = "127.0.0.1", port: int = 8080, *, settings: Settings | None = None,
          api: ApiSettings | None = None, model: str | None = None) -> None:
    """Run the API with uvicorn until interrupted. Beyond loopback a token is required."""
    import uvicorn

    app = create_app(settings, api, model=model, require_token=not is_loopback(host))
    uvicorn.run(app, host=host, port=port, log_level="warning")
