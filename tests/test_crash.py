"""A process killed at any moment during `index` leaves a store that a rerun completes exactly:
no page missing, no page twice, no orphan images or file copies."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from docagent.config import Settings
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from tests import factories

pytestmark = pytest.mark.slow  # starts real programs (see CONTRIBUTING.md: slow tests)

WORDS = ["solar", "wind", "turbine", "battery", "inverter", "grid", "storage", "panel", "roof", "crew", "warehouse", "invoice", "delivery"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("crash_corpus")
    for n, count in enumerate([70, 70, 5, 5]):  # long documents are written in several chunks of pages
        pages = [" ".join(f"{WORDS[(n * 7 + p * 3 + i) % len(WORDS)]}{p}" for i in range(150)) for p in range(count)]
        factories.text_pdf(d / f"doc{n}.pdf", pages, fontsize=7)
    factories.text_image(["Scanned receipt 4471", "Total 12.50"], size=(500, 200)).save(d / "receipt.png")
    return d


def _args(corpus: Path, store: Path, workers: int = 1) -> list[str]:
    return [sys.executable, "-m", "docagent", "index", str(corpus), "--store", str(store), "--render", "eager", "--dpi", "40", "-q",
            "--workers", str(workers)]


def snapshot(store_dir: Path, embedder) -> dict:
    with PageStore(Settings(store=store_dir), embedder=embedder) as store:
        db = store.catalog.db
        passages = store.vectors.passages()
        ids = list(passages)
        return {
            "documents": sorted(db.execute("SELECT name, doc_id, status, pages, ocr_pages FROM documents").fetchall()),
            "pages": sorted(db.execute("SELECT doc_id, page, ocr, text FROM pages").fetchall()),
            "passages": sorted(db.execute("SELECT doc_id, page, idx, start, end FROM passages").fetchall()),
            "vector_ids": sorted(ids),
            "vectors_unique": len(ids) == len(set(ids)) == store.vectors.count(),
            "vector_pages": sorted({(p.doc_id, p.page) for p in passages.values()}),
            "files": sorted(str(p.relative_to(store_dir)) for sub in ("pages", "files") for p in (store_dir / sub).rglob("*") if p.is_file()),
            # the lexical index holds exactly the catalog's passages, with their text
            "lexical": sorted(db.execute("SELECT p.doc_id, p.page, p.idx, f.text FROM passages p "
                                         "JOIN passages_fts f ON f.rowid = p.id").fetchall()),
            "lexical_rows": db.execute("SELECT count(*) FROM passages_fts").fetchone()[0],
            "vectors_match_passages": set(ids) == {f"{d}:{pg}:{i}" for d, pg, i in
                                                   db.execute("SELECT doc_id, page, idx FROM passages")},
        }


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory: pytest.TempPathFactory, embedder) -> dict:
    store_dir = tmp_path_factory.mktemp("reference") / "store"
    report = index_paths([corpus], Settings(store=store_dir, render="eager", dpi=40), progress=False)
    assert report.documents == 5 and not report.failed
    snap = snapshot(store_dir, embedder)
    assert snap["vectors_unique"] and len(snap["pages"]) == 151 and snap["vectors_match_passages"]
    assert snap["lexical_rows"] == len(snap["passages"]) == len(snap["lexical"])
    return snap


def _status(store: Path) -> list[tuple[str, str, int]]:
    db_path = store / "catalog.sqlite"
    if not db_path.exists():
        return []
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
        rows = db.execute("SELECT d.name, d.status, (SELECT count(*) FROM pages p WHERE p.doc_id = d.doc_id) FROM documents d").fetchall()
        db.close()
    except sqlite3.Error:
        return []
    return rows


def _kill_when(store: Path, corpus: Path, moment, workers: int) -> list[tuple[str, str, int]]:
    proc = subprocess.Popen(_args(corpus, store, workers), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            rows = _status(store)
            if moment(rows):
                workers = psutil.Process(proc.pid).children(recursive=True)
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                _, alive = psutil.wait_procs(workers, timeout=60)  # they notice within a second or two
                assert not alive, f"worker processes outlived their killed driver: {[p.pid for p in alive]}"
                return rows
            if proc.poll() is not None:
                pytest.fail("index finished before the moment to kill it came")
            time.sleep(0.01)
        pytest.fail("the moment to kill never came")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return []


MOMENTS = {
    # a document row exists, no page written yet
    "document begun": lambda rows: any(s == "indexing" for _, s, _ in rows),
    # between documents: two finished, the third not begun
    "between documents": lambda rows: sum(s == "ready" for _, s, _ in rows) >= 2,
}


@pytest.mark.parametrize(("moment", "workers"), [("document begun", 1), ("between documents", 1), ("between documents", 2)])
def test_rerun_after_sigkill_completes_the_store_exactly(moment: str, workers: int, corpus: Path, reference: dict, tmp_path: Path,
                                                         embedder) -> None:
    """With ``--workers 2`` the driver dies while files it handed to its workers are being read (not yet committed)."""
    store = tmp_path / "store"
    seen = _kill_when(store, corpus, MOMENTS[moment], workers)
    assert MOMENTS[moment](seen)
    rerun = subprocess.run(_args(corpus, store), capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr
    after = snapshot(store, embedder)
    assert after == reference


SEED = int(os.environ.get("DOCAGENT_CRASH_SEED", "20261122"))


@pytest.mark.parametrize("workers", [1, 2])
def test_rerun_after_sigkill_at_seeded_random_moments(workers: int, corpus: Path, reference: dict, tmp_path: Path, embedder) -> None:
    """SIGKILL after a random delay (seeded: DOCAGENT_CRASH_SEED; DOCAGENT_CRASH_ROUNDS kills, default 3), from start-up to the last document; each
    time a rerun must leave exactly the reference store."""
    rng = random.Random(SEED)
    for round_ in range(int(os.environ.get("DOCAGENT_CRASH_ROUNDS", "3"))):
        store = tmp_path / f"store{round_}"
        delay = rng.uniform(0.5, 14.0)
        proc = subprocess.Popen(_args(corpus, store, workers), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        rerun = subprocess.run(_args(corpus, store), capture_output=True, text=True, timeout=300, check=False)
        assert rerun.returncode == 0, (SEED, round_, delay, rerun.stderr)
        assert snapshot(store, embedder) == reference, (SEED, round_, delay)

