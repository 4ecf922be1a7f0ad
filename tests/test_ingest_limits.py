"""Limits on what indexing reads (issue 16, items 7, 9 and 11): files that never end are refused alone, every
frame of an image and the page count are checked before anything is decoded, the write lock is held one
document at a time, and form fields are probed in a spawned child, never a fork of a threaded process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from docagent.cli import _parser, _settings
from docagent.config import Settings
from docagent.errors import UnsupportedFileError
from docagent.index.indexer import file_sha256, index_paths
from docagent.index.store import PageStore
from docagent.ingest import open_source
from docagent.ingest import pdf as pdf_module
from docagent.ingest.images import ImageSource
from tests import factories

_SCRIPT = Path(sys.executable).with_name("docagent")
DOCAGENT = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "docagent"]
FUZZ = Path(__file__).parent / "data" / "fuzz"


# -- item 7: files that never end ----------------------------------------------------------------------------

@pytest.mark.slow
def test_a_fifo_and_a_link_to_dev_zero_fail_alone_and_the_rest_is_indexed(tmp_path: Path) -> None:
    """Both used to hang `docagent index` for ever, holding the store lock: a FIFO blocks the first read until
    a writer comes, /dev/zero never ends. The real command, in its own process, must exit promptly."""
    docs = tmp_path / "inbox"
    docs.mkdir()
    factories.text_pdf(docs / "good.pdf", ["The pump in hall 3 was serviced on 4 March."])
    os.mkfifo(docs / "pipe.pdf")
    (docs / "zero.pdf").symlink_to("/dev/zero")
    cmd = [*DOCAGENT, "index", str(docs), "--store", str(tmp_path / "store"), "--ocr", "off", "--json", "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    report = json.loads(proc.stdout)
    failed = {Path(f["path"]).name: f["error"] for f in report["failed"]}
    assert proc.returncode == 1 and report["documents"] == 1, proc.stderr
    assert set(failed) == {"pipe.pdf", "zero.pdf"}
    assert failed["pipe.pdf"].startswith("not a regular file (a named pipe)"), failed
    assert failed["zero.pdf"].startswith("not a regular file (a character device)"), failed
    with PageStore(Settings(store=tmp_path / "store")) as store:
        assert [d.name for d in store.documents()] == ["good.pdf"]


def _returns_within(seconds: float, call, unblock) -> object:
    """``call()``'s result, failing the test (instead of hanging it) when it takes longer than ``seconds``."""
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(_outcome(call)), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        unblock()
        thread.join(5)
        pytest.fail(f"still reading after {seconds} s")
    return out[0]


def _outcome(call):
    try:
        return call()
    except Exception as e:  # noqa: BLE001 - handed to the test to check
        return e


def test_opening_or_hashing_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.pdf"
    os.mkfifo(fifo)

    def unblock() -> None:  # a writer that opens and closes gives a blocked reader its end of file
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    for call in (lambda: open_source(fifo), lambda: file_sha256(fifo)):
        error = _returns_within(5, call, unblock)
        assert isinstance(error, UnsupportedFileError), error
        assert error.reason.startswith("not a regular file (a named pipe)") and "copy" in error.reason


def test_reads_stop_at_the_size_the_file_had_when_it_was_opened(tmp_path: Path) -> None:
    """A file that keeps growing (a log, a download in progress) is read as it was when opened: hashing and the
    store's copy end there, instead of chasing the writer."""
    import hashlib

    from docagent.ingest.base import open_regular, read_bounded

    path = tmp_path / "growing.pdf"
    path.write_bytes(b"%PDF-1.7\n" + b"x" * 3_000_000)
    with open_regular(path) as (f, size):
        with path.open("ab") as writer:
            writer.write(b"y" * 5_000_000)
        data = b"".join(read_bounded(f, size))
    assert len(data) == size == 3_000_009 and set(data[9:]) == {ord("x")}
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()  # a file at rest: all of it


# -- item 9: limits on frames and pages -----------------------------------------------------------------------

def _tiff_with_a_huge_second_frame(path: Path) -> Path:
    """A tiny first frame, then a 13000×13000 one (169 megapixels): all white, 1 bit, group 4, so about 10 KB."""
    Image.new("1", (100, 100), 1).save(path, save_all=True, append_images=[Image.new("1", (13000, 13000), 1)],
                                       compression="group4")
    return path


def test_a_tiff_whose_second_frame_is_too_large_is_refused_before_any_frame_is_decoded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _tiff_with_a_huge_second_frame(tmp_path / "scan.tif")
    decoded: list[int] = []
    real_frame = ImageSource._frame
    monkeypatch.setattr(ImageSource, "_frame", lambda self, i: decoded.append(i) or real_frame(self, i))
    with pytest.raises(UnsupportedFileError) as e:
        open_source(path)
    assert "frame 2 is 13000×13000 pixels (169 megapixels), more than the 100" in e.value.reason, e.value.reason
    assert "scale it down" in e.value.reason
    assert decoded == []


def test_a_document_over_the_page_cap_is_refused_before_its_pages_are_read(
        tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = factories.long_pdf(tmp_path / "ledger.pdf", 30)
    scan = factories.multipage_tiff(tmp_path / "scan.tiff", [["one"], ["two"], ["three"]])
    read: list[int] = []
    real_read = pdf_module.PdfSource.read_page
    monkeypatch.setattr(pdf_module.PdfSource, "read_page", lambda self, i: read.append(i) or real_read(self, i))
    with PageStore(Settings(store=tmp_path / "store", ocr="off", max_pages=20), embedder=embedder) as store:
        report = index_paths([ledger], store=store, progress=False)
        assert report.documents == 0 and read == [] and store.documents() == []
        [failed] = report.failed
        assert failed.error.startswith("the document has 30 pages, more than the 20 docagent indexes"), failed.error
        assert "--max-pages" in failed.error and "DOCAGENT_MAX_PAGES" in failed.error
    with pytest.raises(UnsupportedFileError, match="has 3 pages, more than the 2"):  # frames are pages too
        open_source(scan, max_pages=2)
    with PageStore(Settings(store=tmp_path / "store", ocr="off", max_pages=30), embedder=embedder) as store:
        report = index_paths([ledger], store=store, progress=False)
        assert report.documents == 1 and not report.failed and store.document("ledger.pdf").pages == 30


def test_the_page_cap_has_a_default_a_variable_and_a_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().max_pages == 5000
    monkeypatch.setenv("DOCAGENT_MAX_PAGES", "12")
    assert Settings().max_pages == 12
    assert _settings(_parser().parse_args(["index", "x.pdf", "--max-pages", "7"])).max_pages == 7
    with pytest.raises(ValueError, match="max_pages"):
        Settings(max_pages=0)


@pytest.mark.slow
def test_a_batch_holds_the_store_lock_one_document_at_a_time(tmp_path: Path, embedder) -> None:
    """A removal started while another process indexes a folder gets the lock after one document or so, not
    after the whole folder. The removal runs in this process, already started, so what is timed is the wait
    for the lock and not a Python starting up; the batch is a real `docagent index` in its own process."""
    store_dir = tmp_path / "store"
    old = factories.text_pdf(tmp_path / "old.pdf", ["A memo about the canteen menu for the spring term."])
    docs = tmp_path / "inbox"
    docs.mkdir()
    names = [f"ledger{i}.pdf" for i in range(5)]
    for name in names:
        factories.long_pdf(docs / name, 20)
    with PageStore(Settings(store=store_dir, ocr="off"), embedder=embedder) as store:
        assert index_paths([old], store=store, progress=False).documents == 1

        def ledgers() -> int:
            return sum(d.name.startswith("ledger") for d in store.documents())

        batch = subprocess.Popen([*DOCAGENT, "index", str(docs), "--store", str(store_dir), "--ocr", "off", "-q"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 300
            while ledgers() == 0:  # the batch is under way: it has written its first document
                assert batch.poll() is None and time.monotonic() < deadline, batch.communicate()
                time.sleep(0.02)
            assert store.remove(["old.pdf"]) == (["old.pdf"], [])
            done = ledgers()
            assert done < len(names), "the removal waited for the whole batch"
            _, err = batch.communicate(timeout=300)
            assert batch.returncode == 0, err
        finally:
            if batch.poll() is None:
                batch.kill()
                batch.communicate()
    check = ("import json, sys; from docagent.config import Settings; from docagent.index.store import PageStore; "
             "s = PageStore(Settings(store=sys.argv[1])); print(json.dumps([sorted(d.name for d in s.documents()), "
             "s.catalog.db.execute('SELECT count(*) FROM passages').fetchone()[0], s.vectors.count()]))")
    out = subprocess.run([sys.executable, "-c", check, str(store_dir)], capture_output=True, text=True, timeout=120,
                         check=True).stdout  # a fresh process: what is on disk, not what this one remembers
    assert json.loads(out) == [names, len(names) * 20, len(names) * 20]


# -- item 11: the form-field probe ---------------------------------------------------------------------------

def test_form_fields_are_probed_without_forking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store) -> None:
    """A fork copies one thread of a threaded process (the server, the app) with every lock as it was; the probe
    runs in a freshly started Python instead, and the fields are still read."""
    def no_fork() -> int:
        raise AssertionError("os.fork() called while reading a form")

    monkeypatch.setattr(os, "fork", no_fork)
    form = factories.form_pdf(tmp_path / "form.pdf")
    report = index_paths([form], store=store, progress=False)
    assert report.documents == 1 and not report.failed
    widgets = {w.name: w.value for w in store.page("form.pdf", 1).widgets}
    assert widgets["full_name"] == "Ada Lovelace" and widgets["newsletter"] is True and widgets["plan"] == "Gold"


@pytest.mark.slow
def test_the_probe_opens_an_encrypted_form_with_its_password(tmp_path: Path) -> None:
    """The child gets the password through a pipe (never on its command line, which other users can read)."""
    form = factories.form_pdf(tmp_path / "plain.pdf")
    locked = tmp_path / "locked.pdf"
    doc = pymupdf.open(form)
    doc.save(locked, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="hunter2", owner_pw="owner")
    doc.close()
    assert pdf_module._probe(locked, "hunter2", 30) is True
    assert pdf_module._probe(locked, "wrong", 30) is False  # the child cannot open it: no fields, not a hang
    with open_source(locked, "hunter2") as source:
        assert {w.name: w.value for w in source.read_page(0).widgets}["full_name"] == "Ada Lovelace"


def test_a_probe_that_hangs_is_killed_at_its_time_limit() -> None:
    """MuPDF loops for ever in C on this damaged field tree (found by fuzzing)."""
    t0 = time.monotonic()
    assert pdf_module._probe(FUZZ / "ingest-hang-form-fields.pdf", None, 1.5) is False
    assert time.monotonic() - t0 < 6


def test_the_probe_tells_an_exception_from_a_crash(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A Python exception in the child is no hang: the parent reads the fields itself (and handles what they
    raise). A child killed by a signal is treated like a hang: the fields are left out."""
    damaged = FUZZ / "ingest-9b3378f49004.pdf"  # a form whose page tree is lost: reading it raises
    assert pdf_module._probe(damaged, None, 30) is True
    form = factories.form_pdf(tmp_path / "form.pdf")
    monkeypatch.setattr(pdf_module, "_PROBE_CHILD", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    assert pdf_module._probe(form, None, 30) is False
