"""Extraction on a real Ray cluster (a head on loopback, two CPUs): a worker killed mid-document loses nothing, a driver
killed mid-run leaves a store the next run completes, and the store is the one an in-process run makes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from docagent.config import Settings
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from tests import factories
from tests.servers import RayHead, ray_head

pytestmark = pytest.mark.slow  # starts real programs (see CONTRIBUTING.md: slow tests)


@pytest.fixture(scope="module")
def head() -> Iterator[RayHead]:
    with ray_head() as started:
        yield started


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ray_corpus")
    factories.long_pdf(folder / "long.pdf", 300)
    factories.text_pdf(folder / "alpha.pdf", ["The alpha survey counted 41 herons.", "Page two of alpha."])
    factories.text_pdf(folder / "beta.pdf", ["Beta: the ferry leaves at 22:40."])
    return folder


def content(store_dir: Path, embedder) -> dict:
    """What a store holds, independent of ids' order of writing."""
    with PageStore(Settings(store=store_dir), embedder=embedder) as store:
        assert store.audit() == []
        db = store.catalog.reader()
        return {"documents": sorted(db.execute("SELECT name, doc_id, pages FROM documents WHERE status = 'ready'").fetchall()),
                "passages": sorted(db.execute('SELECT doc_id, page, idx, start, "end" FROM passages').fetchall()),
                "vectors": store.vectors.count()}


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory: pytest.TempPathFactory, embedder) -> dict:
    store_dir = tmp_path_factory.mktemp("reference") / "store"
    assert index_paths([corpus], Settings(store=store_dir), progress=False).documents == 3
    return content(store_dir, embedder)


def _index(head: RayHead, corpus: Path, store: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "docagent", "index", str(corpus), "--store", str(store), "--ray",
                             head.address, "--workers", "2"], env={**os.environ, **head.env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _extracting_worker(deadline: float) -> int:
    """The pid of a Ray worker process busy extracting a file (Ray names it after the method it runs)."""
    while time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-f", "ray::_ExtractingActor.extract"], capture_output=True, text=True,
                               check=False).stdout.split()
        if found:
            return int(found[0])
        time.sleep(0.1)
    pytest.fail("no Ray worker was seen extracting")


def test_a_worker_killed_mid_document_loses_nothing(head: RayHead, corpus: Path, reference: dict, tmp_path: Path,
                                                    embedder) -> None:
    run = _index(head, corpus, tmp_path / "store")
    os.kill(_extracting_worker(time.monotonic() + 120), signal.SIGKILL)
    out, err = run.communicate(timeout=600)
    assert run.returncode == 0, err[-3000:]
    assert "indexed 3 documents, 303 pages" in out and "0 failed" in out
    assert content(tmp_path / "store", embedder) == reference


def test_a_driver_killed_mid_run_leaves_a_store_the_next_run_completes(head: RayHead, corpus: Path, reference: dict,
                                                                       tmp_path: Path, embedder) -> None:
    run = _index(head, corpus, tmp_path / "store")
    _extracting_worker(time.monotonic() + 120)  # files are out on the cluster, none or some committed
    run.kill()
    run.communicate(timeout=60)
    again = _index(head, corpus, tmp_path / "store")
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-3000:]
    assert content(tmp_path / "store", embedder) == reference
