"""Two `docagent index` processes on one store are serialised by its lock, the waiting one says so, and
searches keep working while a write is under way."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from docagent.config import Settings
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.retrieve import PageRetriever
from tests import factories

pytestmark = pytest.mark.slow  # starts real programs (see CONTRIBUTING.md: slow tests)


def _writing(store: Path, name: str) -> bool:
    try:
        db = sqlite3.connect(f"file:{store / 'catalog.sqlite'}?mode=ro", uri=True, timeout=1)
        row = db.execute("SELECT status FROM documents WHERE name = ?", (name,)).fetchone()
        db.close()
    except sqlite3.Error:
        return False
    return row is not None and row[0] == "indexing"


def test_a_writer_reading_a_long_document_holds_up_no_other_and_searches_keep_working(tmp_path: Path, embedder) -> None:
    """Files are read outside the store's lock: a small file indexed beside a 3000-page one is in long before it."""
    settings = Settings(store=tmp_path / "store", ocr="off")
    keeper = factories.text_pdf(tmp_path / "keeper.pdf", ["Board minutes: the budget was approved on 3 May."])
    assert not index_paths([keeper], settings, progress=False).failed
    big = factories.long_pdf(tmp_path / "big.pdf", 3000)
    small = factories.text_pdf(tmp_path / "small.pdf", ["Visitor policy: badges are returned at reception."])
    command = [sys.executable, "-m", "docagent", "index", "--store", str(settings.store)]
    writers = [subprocess.Popen([*command, str(path)], stderr=subprocess.PIPE, text=True) for path in (big, small)]
    searches, during_write, big_running_when_small_done = 0, 0, None
    with PageStore(settings, embedder=embedder) as store:  # a reader beside the writers
        while any(w.poll() is None for w in writers):
            hits = PageRetriever(store=store, k=1).search("when was the budget approved")
            assert (hits[0].doc, hits[0].page) == ("keeper.pdf", 1)
            searches += 1
            during_write += _writing(settings.store, "big.pdf")
            if big_running_when_small_done is None and writers[1].poll() is not None:
                big_running_when_small_done = writers[0].poll() is None
            time.sleep(0.05)
    errors = [w.communicate(timeout=300)[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0], errors
    assert big_running_when_small_done, "the small file waited for the big one to be read"
    assert during_write >= 1, "no search ran while the big document was being written"
    with PageStore(settings, embedder=embedder) as store:
        assert {d.name: d.pages for d in store.documents()} == {"keeper.pdf": 1, "big.pdf": 3000, "small.pdf": 1}
        assert store.vectors.count() == 3002


def test_a_writer_that_finds_the_store_locked_says_so_and_goes_on_after(tmp_path: Path, embedder) -> None:
    settings = Settings(store=tmp_path / "store", ocr="off")
    small = factories.text_pdf(tmp_path / "small.pdf", ["Visitor policy: badges are returned at reception."])
    command = [sys.executable, "-m", "docagent", "index", "--store", str(settings.store), str(small)]
    lines: list[str] = []
    with PageStore(settings, embedder=embedder) as store:
        with store.lock():  # another writer committing
            writer = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
            assert writer.stderr is not None
            for line in writer.stderr:  # held until the writer says it waits
                lines.append(line)
                if "another docagent process is writing to" in line:
                    break
            assert writer.poll() is None and not store.documents()  # it waits: nothing written meanwhile
        rest = writer.communicate(timeout=300)[1]
    said = "".join(lines) + rest
    assert writer.returncode == 0, said
    assert "waiting for it to finish" in said and "searches keep working meanwhile" in said
    assert "the other process finished; going on" in said
    with PageStore(settings, embedder=embedder) as store:
        assert [d.name for d in store.documents()] == ["small.pdf"]
