from __future__ import annotations

import os

# Before anything imports transformers, onnxruntime or the hub client: no network, no telemetry.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["ANONYMIZED_TELEMETRY"] = "False"

from pathlib import Path

import pytest

from docagent.config import Settings
from docagent.index.embeddings import Embedder
from docagent.index.store import PageStore


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real packaged all-MiniLM-L6-v2, loaded once for the whole session."""
    e = Embedder()
    _ = e.model
    return e


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(store=tmp_path / "store")


@pytest.fixture
def store(settings: Settings, embedder: Embedder):
    with PageStore(settings, embedder=embedder) as s:
        yield s


@pytest.fixture
def docs_dir(tmp_path: Path) -> Path:
    d = tmp_path / "docs"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised BERT cross-encoder (1 label) with MiniLM's tokenizer, saved to disk and
    loaded back by path like any user's reranker: its scores are noise, its plumbing is real."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from docagent.index.embeddings import resolve_embedding_model

    out = tmp_path_factory.mktemp("tiny-cross-encoder")
    tokenizer = AutoTokenizer.from_pretrained(resolve_embedding_model(None).location)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512, num_labels=1,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


_TINY_VLM: list[Path] = []


def tiny_idefics2_path() -> Path:
    """A tiny random Idefics2 with Idefics2's genuine tokenizer (32,003 tokens, from the mistral-common wheel),
    saved like a downloaded checkpoint, built once per test process (also reachable from the LangChain
    standard-suite classes, which cannot take fixtures)."""
    if not _TINY_VLM:
        import tempfile

        from docagent.models.scratch import save_idefics2

        _TINY_VLM.append(save_idefics2(Path(tempfile.mkdtemp(prefix="tiny-idefics2-")), "tiny"))
    return _TINY_VLM[0]


@pytest.fixture(scope="session")
def tiny_idefics2() -> Path:
    return tiny_idefics2_path()


@pytest.fixture(scope="session")
def tiny_chat(tiny_idefics2: Path):
    """ChatIdefics2 over the tiny checkpoint, loaded through the same from_pretrained path users take."""
    from docagent.models import ChatIdefics2

    return ChatIdefics2(model=str(tiny_idefics2), max_tokens=24).load()


# The longest tests (minutes each: SIGKILLed indexing runs, two writers, 5,000 pages under a memory limit) go
# first, so that with `-n 2` (make test-slow) the two processes share them instead of one running them last.
_LONGEST = ("tests/test_crash.py", "tests/test_concurrency.py", "test_memory_stays_bounded_on_a_huge_page")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not any(part in item.nodeid for part in _LONGEST))
