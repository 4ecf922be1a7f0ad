"""The embedding model: where it comes from, how pages become passages, what a store remembers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from docagent.config import Settings
from docagent.errors import ModelLoadError, StoreMismatchError
from docagent.index.embeddings import PACKAGED_MODEL_LABEL, Embedder, resolve_embedding_model
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.retrieve import PageRetriever
from tests import factories


def test_resolver_prefers_an_explicit_directory_then_the_packaged_model(tmp_path: Path) -> None:
    packaged = resolve_embedding_model(None)
    assert packaged.packaged and packaged.label == PACKAGED_MODEL_LABEL and Path(packaged.location, "config.json").exists()
    mine = tmp_path / "my-minilm"
    mine.symlink_to(packaged.location)
    explicit = resolve_embedding_model(str(mine))
    assert (explicit.location, explicit.label, explicit.packaged) == (str(mine.resolve()), Path(packaged.location).name, False)
    assert resolve_embedding_model("someone/some-model").location == "someone/some-model"  # a Hub id you named


def test_a_missing_model_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="is not a model directory"):
        resolve_embedding_model(str(tmp_path / "nope"))


def test_a_hub_id_offline_fails_fast_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="Set DOCAGENT_EMBEDDING_MODEL to a local sentence-transformers directory"):
        _ = Embedder("someone/not-downloaded-model").model


def test_bfloat16_vectors_match_float32(embedder: Embedder) -> None:
    texts = ["The pump impeller spins at 2,900 rpm.", "Lunch menu: tomato soup and apple pie.", "Invoice total 3,480 EUR"]
    fp32 = Embedder(dtype="float32").embed(texts)
    bf16 = Embedder(dtype="bfloat16").embed(texts)
    assert fp32.dtype == bf16.dtype == np.float32
    assert np.allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)
    assert (fp32 * bf16).sum(axis=1).min() > 0.99


def test_split_covers_the_text_in_windows_that_overlap_only_when_asked(embedder: Embedder) -> None:
    text = " ".join(f"word{i}" for i in range(1000))
    (spans,) = embedder.split([text])  # the default: no overlap
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] <= b[0] and not text[a[1] : b[0]].strip() for a, b in zip(spans, spans[1:], strict=False))
    assert all(text[s - 1] == " " for s, _ in spans[1:])  # cuts fall between words
    assert embedder.split([""]) == [[]] and embedder.split(["   \n "]) == [[]]
    overlapping = Embedder(passage_overlap=32)
    overlapping._model = embedder.model
    (shared,) = overlapping.split([text])
    assert shared[0][0] == 0 and shared[-1][1] == len(text) and len(shared) > len(spans)
    assert all(b[0] < a[1] for a, b in zip(shared, shared[1:], strict=False))


def test_a_store_refuses_a_different_embedding_model(tmp_path: Path, embedder: Embedder, docs_dir: Path) -> None:
    factories.text_pdf(docs_dir / "a.pdf", ["Some text about ferries and timetables."])
    settings = Settings(store=tmp_path / "store")
    with PageStore(settings, embedder=embedder) as store:
        index_paths([docs_dir], store=store, progress=False)
    other = tmp_path / "other-model"
    other.symlink_to(resolve_embedding_model(None).location)
    with PageStore(Settings(store=tmp_path / "store", embedding_model=str(other))) as store:
        with pytest.raises(StoreMismatchError, match="built with the embedding model 'sentence-transformers/all-MiniLM-L6-v2'"):
            PageRetriever(store=store).search("ferries")
