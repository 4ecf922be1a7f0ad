"""Messy input: each file of a generated bad corpus is indexed or gets its own clear error, the batch goes on,
what the store held before is intact, and memory stays bounded on huge files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from docagent.config import Settings
from docagent.index.extract import MAX_RENDER_PIXELS
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.retrieve import PageRetriever
from tests import factories


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return factories.bad_corpus(tmp_path_factory.mktemp("bad") / "inbox")


def _state(store: PageStore) -> dict:
    db = store.catalog.db
    return {"documents": sorted(db.execute("SELECT name, doc_id, pages, status FROM documents").fetchall()),
            "pages": sorted(db.execute("SELECT doc_id, page, text FROM pages").fetchall()),
            "vectors": store.vectors.count(), "passages": db.execute("SELECT count(*) FROM passages").fetchone()[0]}


@pytest.mark.slow
def test_every_bad_file_is_indexed_or_gets_its_own_error_and_nothing_is_lost(corpus: Path, tmp_path: Path,
                                                                            embedder) -> None:
    keeper = factories.text_pdf(tmp_path / "keeper.pdf", ["Board minutes: the budget was approved on 3 May."])
    with PageStore(Settings(store=tmp_path / "store", ocr="off"), embedder=embedder) as store:
        assert not index_paths([keeper], store=store, progress=False).failed
        before = _state(store)
        report = index_paths([corpus], store=store, progress=False)
        failed = {Path(f.path).name: f.error for f in report.failed}
        assert set(failed) == set(factories.BAD_FAILED)
        for name, start in factories.BAD_FAILED.items():
            assert failed[name].startswith(start), (name, failed[name])
        assert {d.name: d.pages for d in store.documents()} == {"keeper.pdf": 1, **factories.BAD_INDEXED}
        after = _state(store)
        kept = {row for row in after["documents"] if row[0] == "keeper.pdf"}
        assert kept == {row for row in before["documents"]} and set(before["pages"]) <= set(after["pages"])
        assert after["vectors"] == after["passages"]  # Chroma and the catalog in step
        top = PageRetriever(store=store, k=1).search("when was the budget approved")[0]
        assert (top.doc, top.page) == ("keeper.pdf", 1)
        for name in factories.BAD_INDEXED:  # every page renders
            with Image.open(store.page_image(name, 1)) as image:
                assert image.width * image.height <= MAX_RENDER_PIXELS * 1.01, name
        with Image.open(store.page_image("huge_page.pdf", 1)) as image:  # 900 megapixels at 150 dpi, capped
            assert image.width * image.height > MAX_RENDER_PIXELS * 0.9
        assert store.page("résumé.pdf", 1).text.startswith("Quarterly report")  # a Latin-1 name, read as such
        assert "Mode test 42" not in store.page("png_named.pdf", 1).text  # an image by content: OCR was off


@pytest.mark.slow
def test_an_encrypted_pdf_is_indexed_with_its_password(corpus: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    run = [sys.executable, "-m", "docagent", "index", str(corpus / "locked.pdf"), "--store", str(store), "--json"]
    wrong = subprocess.run([*run, "--password", "guess"], capture_output=True, text=True, timeout=300, check=False)
    assert wrong.returncode == 1
    assert json.loads(wrong.stdout)["failed"][0]["error"].startswith("the PDF is encrypted and the password given does not")
    right = subprocess.run([*run, "--password", "s3cret"], capture_output=True, text=True, timeout=300, check=False)
    assert right.returncode == 0 and json.loads(right.stdout)["documents"] == 1
    with PageStore(Settings(store=store)) as opened:  # later, without the password: the store kept a decrypted copy
        assert opened.page("locked.pdf", 1).text.startswith("Quarterly report")
        assert opened.page_image("locked.pdf", 1).read_bytes().startswith(b"\x89PNG")


def _peak_rss_mb(args: list[str]) -> float:
    """Peak resident memory of `docagent index ARGS` run in its own process."""
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "docagent", "index", *args, "-q"],
                         capture_output=True, text=True, timeout=600, check=True).stdout.split()
    assert out[0] == "0", out
    return int(out[1]) / 1024


@pytest.mark.slow
def test_memory_stays_bounded_on_a_huge_page_and_a_5000_page_pdf(tmp_path: Path) -> None:
    small = factories.text_pdf(tmp_path / "small.pdf", ["One short page."])
    huge = factories.huge_page_pdf(tmp_path / "huge.pdf")
    long = factories.long_pdf(tmp_path / "long.pdf", 5000)
    common = ["--ocr", "off", "--render", "eager"]
    baseline = _peak_rss_mb([str(small), "--store", str(tmp_path / "s1"), *common])
    huge_mb = _peak_rss_mb([str(huge), "--store", str(tmp_path / "s2"), *common])
    long_mb = _peak_rss_mb([str(long), "--store", str(tmp_path / "s3"), "--ocr", "off", "--dpi", "36"])
    print(f"\npeak RSS: one small page {baseline:.0f} MB, one 200x200 in page {huge_mb:.0f} MB (+{huge_mb - baseline:.0f}), "
          f"5000 pages {long_mb:.0f} MB (+{long_mb - baseline:.0f})")
    assert huge_mb - baseline < 600 and long_mb - baseline < 300
    with PageStore(Settings(store=tmp_path / "s3")) as store:
        assert store.document("long.pdf").pages == 5000 and store.vectors.count() == 5000


FUZZ = sorted((Path(__file__).parent / "data" / "fuzz").iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("path", FUZZ, ids=[p.name for p in FUZZ])
def test_files_the_fuzzer_broke_ingest_with_now_fail_alone_with_a_clear_error(path: Path) -> None:
    """Found by `python benchmarks/fuzz.py` (broken PNG chunks, a lost page tree, a damaged form field):
    each used to raise from deep inside Pillow or MuPDF; now it reads, or fails as a DocumentLoadError."""
    from docagent.errors import DocumentLoadError
    from docagent.ingest import open_source

    try:
        with open_source(path) as source:
            pages = [source.read_page(i) for i in range(source.page_count)]
            source.render(0, 0.5)
        assert pages
    except DocumentLoadError as e:
        assert e.reason.startswith(("unreadable image", "damaged or truncated PDF", "damaged PDF: its pages", "page 1 cannot be read",
                                    "page 2 cannot be read", "the PDF has no pages")), e.reason


def test_a_number_too_large_for_a_float_is_a_calculation_error() -> None:
    from docagent.errors import CalculationError
    from docagent.tasks.calc import evaluate

    with pytest.raises(CalculationError, match="too large"):
        evaluate("1e9666 - 1")  # found by the fuzzer: used to escape as a ValueError


@pytest.mark.parametrize(("raw", "stored"), [
    ("../../outside.pdf", "outside.pdf"), ("/etc/cron.d/job.pdf", "job.pdf"), ("C:\\Windows\\evil.pdf", "evil.pdf"),
    ("..\\..\\up.pdf", "up.pdf"), (".hidden.pdf", "hidden.pdf"), ("tab\tand\nnewline.pdf", "tabandnewline.pdf"),
])
def test_uploaded_names_cannot_escape_the_upload_folder(tmp_path: Path, raw: str, stored: str) -> None:
    from docagent.ingest.uploads import save_upload

    folder = tmp_path / "uploads" / "batch"
    folder.mkdir(parents=True)
    path = save_upload(raw, [b"%PDF-1.7\n"], folder, 1 << 20)
    assert path == folder / stored and path.read_bytes() == b"%PDF-1.7\n"
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [path]


@pytest.mark.parametrize("raw", ["", "..", "/", "...", "\x00"])
def test_an_upload_with_no_usable_name_is_refused(tmp_path: Path, raw: str) -> None:
    from docagent.errors import UnsupportedFileError
    from docagent.ingest.uploads import save_upload

    with pytest.raises(UnsupportedFileError, match="no usable name"):
        save_upload(raw, [b"%PDF-1.7\n"], tmp_path, 1 << 20)
    assert list(tmp_path.iterdir()) == []
