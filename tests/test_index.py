"""Indexing into a real store: real embeddings, real Chroma, real files on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from docagent.config import Settings
from docagent.errors import StoreError
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.retrieve import PageRetriever
from tests import factories

TURBINE = "The wind turbine gearbox failed after 1,200 operating hours because of bearing corrosion."
BAKERY = "Our sourdough bread rises overnight and is baked in a wood-fired oven at dawn."
INVOICE = "Invoice total due: 3,480.00 EUR, payable within 30 days by bank transfer."


def _corpus(d: Path) -> Path:
    factories.text_pdf(d / "engineering.pdf", ["Maintenance log, site 4.", TURBINE, "Spare parts inventory for next quarter."])
    factories.text_pdf(d / "bakery.pdf", [BAKERY])
    factories.text_pdf(d / "invoice.pdf", [INVOICE])
    return d


def _files(store: PageStore) -> set[str]:
    return {str(p.relative_to(store.root)) for sub in ("pages", "files") for p in (store.root / sub).rglob("*") if p.is_file()}


def test_index_folder_then_find_the_right_page(store: PageStore, docs_dir: Path) -> None:
    report = index_paths([_corpus(docs_dir)], store=store, progress=False)
    assert (report.documents, report.pages, report.skipped, report.failed) == (3, 5, 0, [])
    assert [d.name for d in store.documents()] == ["bakery.pdf", "engineering.pdf", "invoice.pdf"]

    hits = PageRetriever(store=store).search("why did the gearbox break?", k=3)
    assert (hits[0].doc, hits[0].page) == ("engineering.pdf", 2)
    assert "bearing corrosion" in hits[0].text
    assert hits[0].score > hits[1].score

    hits = PageRetriever(store=store).search("how much do I have to pay", k=1)
    assert (hits[0].doc, hits[0].page) == ("invoice.pdf", 1)


def test_page_images_are_rendered_on_first_use_at_the_store_dpi(tmp_path: Path, embedder, docs_dir: Path) -> None:
    settings = Settings(store=tmp_path / "store", dpi=100)
    with PageStore(settings, embedder=embedder) as store:
        index_paths([_corpus(docs_dir)], store=store, progress=False)
        rec = store.document("engineering.pdf")
        assert not store.image_path(rec.doc_id, 2).exists()  # lazy: nothing rendered yet
        shutil.rmtree(docs_dir)  # the originals are gone; the store has its own copy
        hit = PageRetriever(store=store).search("gearbox bearing corrosion", k=1)[0]
        assert hit.image == store.image(rec.doc_id, 2) and hit.image.path() == store.image_path(rec.doc_id, 2)
        assert hit.image.path().exists() and hit.image.read_bytes() == store.image_path(rec.doc_id, 2).read_bytes()
        with Image.open(hit.image) as im:  # path-like
            assert im.size == (round(595 * 100 / 72), round(842 * 100 / 72)) or abs(im.height - 842 * 100 / 72) <= 1


def test_eager_rendering_writes_every_page(tmp_path: Path, embedder, docs_dir: Path) -> None:
    settings = Settings(store=tmp_path / "store", render="eager")
    with PageStore(settings, embedder=embedder) as store:
        index_paths([_corpus(docs_dir)], store=store, progress=False)
        pngs = list((store.root / "pages").rglob("*.png"))
    assert len(pngs) == 5


def test_unchanged_files_are_skipped_without_any_work(store: PageStore, docs_dir: Path) -> None:
    index_paths([_corpus(docs_dir)], store=store, progress=False)
    before_ids = set(store.vectors.passages())
    embed_seconds = store.embedder.seconds
    report = index_paths([docs_dir], store=store, progress=False)
    assert (report.documents, report.skipped, report.pages) == (0, 3, 0)
    assert store.embedder.seconds == embed_seconds  # nothing was embedded
    assert set(store.vectors.passages()) == before_ids


def test_changed_file_replaces_its_old_pages(store: PageStore, docs_dir: Path) -> None:
    index_paths([_corpus(docs_dir)], store=store, progress=False)
    old = store.document("engineering.pdf")
    old_files = {f for f in _files(store) if old.doc_id in f}
    store.page_image("engineering.pdf", 3)  # a cached image of the old version
    factories.text_pdf(docs_dir / "engineering.pdf", ["Only one page now: the solar inverter overheated in July."])

    report = index_paths([docs_dir], store=store, progress=False)
    assert (report.documents, report.skipped, report.replaced) == (1, 2, ["engineering.pdf"])
    new = store.document("engineering.pdf")
    assert new.doc_id != old.doc_id and new.pages == 1
    assert PageRetriever(store=store).search("gearbox bearing corrosion", k=1)[0].doc != "engineering.pdf"
    assert (PageRetriever(store=store).search("inverter overheated", k=1)[0].doc, PageRetriever(store=store).search("inverter overheated", k=1)[0].page) == ("engineering.pdf", 1)
    assert not any(p.doc_id == old.doc_id for p in store.vectors.passages().values())
    assert not (old_files | {f for f in _files(store) if old.doc_id in f}) & _files(store)
    assert store.catalog.document_by_id(old.doc_id) is None


def test_rm_removes_everything_of_a_document(store: PageStore, docs_dir: Path) -> None:
    index_paths([_corpus(docs_dir)], store=store, progress=False)
    rec = store.document("bakery.pdf")
    store.page_image("bakery.pdf", 1)
    removed, missing = store.remove(["bakery.pdf", "nope.pdf"])
    assert (removed, missing) == (["bakery.pdf"], ["nope.pdf"])
    assert store.document("bakery.pdf") is None
    assert not any(p.doc_id == rec.doc_id for p in store.vectors.passages().values())
    assert not any(rec.doc_id in f for f in _files(store))
    assert store.catalog.page(rec.doc_id, 1) is None
    assert all(h.doc != "bakery.pdf" for h in PageRetriever(store=store).search("sourdough bread oven", k=5))


def test_bad_files_fail_alone_and_nothing_indexed_is_lost(store: PageStore, docs_dir: Path) -> None:
    index_paths([_corpus(docs_dir)], store=store, progress=False)
    good_before = {d.name: d.doc_id for d in store.documents()}
    # A new batch: a changed invoice that is now broken, plus assorted bad files and one good file.
    factories.truncated(docs_dir / "invoice.pdf", docs_dir / "engineering.pdf", keep=0.0)
    factories.encrypted_pdf(docs_dir / "secret.pdf")
    (docs_dir / "notes.pdf").write_text("plain text, not a PDF")
    factories.text_pdf(docs_dir / "new.pdf", ["A brand new page about heat pumps."])

    report = index_paths([docs_dir, docs_dir / "missing.pdf"], store=store, progress=False)
    reasons = {Path(f.path).name: f.error for f in report.failed}
    assert set(reasons) == {"invoice.pdf", "secret.pdf", "notes.pdf", "missing.pdf"}
    assert "empty" in reasons["invoice.pdf"] and "password" in reasons["secret.pdf"]
    assert "looks like text, not PDF" in reasons["notes.pdf"] and "no such file" in reasons["missing.pdf"]
    assert report.documents == 1 and report.skipped == 2
    docs = {d.name: d.doc_id for d in store.documents()}
    assert docs == {**good_before, "new.pdf": docs["new.pdf"]}  # the old invoice is still there, unchanged
    assert PageRetriever(store=store).search("invoice total due", k=1)[0].doc == "invoice.pdf"


def test_scanned_pages_are_ocrd_with_word_boxes(store: PageStore, docs_dir: Path) -> None:
    factories.scanned_pdf(docs_dir / "scan.pdf", ["Warranty claim 7731", "The pump housing cracked during frost."])
    factories.multipage_tiff(docs_dir / "fax.tif", [["Delivery note 5520"], ["Pallets received: twelve"]])
    report = index_paths([docs_dir], store=store, progress=False)
    assert report.ocr_pages == 3 and report.ocr_by_doc == {"fax.tif": [1, 2], "scan.pdf": [1]}
    page = store.page("scan.pdf", 1)
    assert page.ocr and "pump housing cracked" in page.text
    word = next(w for w in page.words if w.text == "Warranty")
    x0, y0, x1, y1 = page.to_pixels(word.box)
    assert 0 < x0 < x1 < 900 and 0 < y0 < y1 < 400
    assert PageRetriever(store=store).search("pallets received", k=1)[0].doc == "fax.tif"
    assert PageRetriever(store=store).search("pallets received", k=1)[0].page == 2
    assert store.image_path(store.document("scan.pdf").doc_id, 1).exists()  # rendered for OCR, kept


def test_long_pages_are_split_into_passages_that_point_back_to_their_page(store: PageStore, docs_dir: Path) -> None:
    filler = " ".join(f"Clause {i} restates the general terms of the agreement." for i in range(120))
    text = filler + " Finally, the penalty for late delivery is 4 percent per week."
    factories.text_pdf(docs_dir / "contract.pdf", [text], fontsize=6)
    index_paths([docs_dir], store=store, progress=False)
    passages = list(store.vectors.passages().values())
    assert len(passages) >= 4 and {p.page for p in passages} == {1}
    page_text = store.page("contract.pdf", 1).text
    spans = sorted((p.start, p.end) for p in passages)
    assert spans[0][0] == 0 and spans[-1][1] >= len(page_text.rstrip()) - 1  # the whole page is covered
    # consecutive passages meet (no overlap by default): nothing between them but spaces
    assert all(a[1] <= b[0] and not page_text[a[1] : b[0]].strip() for a, b in zip(spans, spans[1:], strict=False))
    hit = PageRetriever(store=store).search("late delivery penalty", k=1)[0]
    assert hit.page == 1 and "penalty for late delivery" in " ".join(hit.text.split())


def test_fillable_form_widgets_are_kept(store: PageStore, docs_dir: Path) -> None:
    factories.form_pdf(docs_dir / "form.pdf")
    index_paths([docs_dir], store=store, progress=False)
    widgets = {w.name: w.value for w in store.page("form.pdf", 1).widgets}
    assert widgets == {"full_name": "Ada Lovelace", "member_no": None, "newsletter": True, "plan": "Gold"}


def test_interrupted_versions_are_purged_by_the_next_run(store: PageStore, docs_dir: Path) -> None:
    index_paths([_corpus(docs_dir)], store=store, progress=False)
    rec = store.document("bakery.pdf")
    store.page_image("bakery.pdf", 1)
    store.catalog.mark_deleting(rec.doc_id)  # as if a run died between the swap and the purge
    (store.root / "pages" / "0123456789abcdef").mkdir()  # an orphan folder
    report = index_paths([docs_dir], store=store, progress=False)
    assert report.documents == 1  # bakery.pdf is indexed again
    assert store.catalog.document_by_id(rec.doc_id) is not None  # same content, same id, fresh rows
    assert not (store.root / "pages" / "0123456789abcdef").exists()
    passages = store.vectors.passages()
    assert len(passages) == store.vectors.count()
    assert sum(p.doc_id == rec.doc_id for p in passages.values()) == len(store.catalog.db.execute("SELECT * FROM passages WHERE doc_id = ?", (rec.doc_id,)).fetchall())


def test_short_born_digital_pages_are_not_sent_to_ocr(store: PageStore, docs_dir: Path) -> None:
    factories.text_pdf(docs_dir / "slides.pdf", ["Agenda", "", "Thanks!"])
    report = index_paths([docs_dir], store=store, progress=False)
    # a title-only page and an empty page have nothing OCR could add... except the empty one,
    # which might be vector art; that one is tried.
    assert report.ocr_by_doc == {"slides.pdf": [2]}
    assert store.page("slides.pdf", 1).text.strip() == "Agenda" and not store.page("slides.pdf", 1).ocr


def test_a_store_of_another_layout_version_is_refused(tmp_path: Path, embedder) -> None:
    settings = Settings(store=tmp_path / "store")
    with PageStore(settings, embedder=embedder) as store:
        store.catalog.set_meta("schema", "0")
    with pytest.raises(StoreError, match="layout version 0; this docagent reads version 3. Index your documents into a new store"):
        PageStore(settings)


def test_a_page_drawn_while_its_version_is_purged_is_said_gone_not_a_crash(tmp_path: Path, embedder,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer replaces the document between the drawing of a page and its reading back (seen as a 500 from
    /search under load with S3 blobs: FileNotFoundError). The search leaves the page out; drawing it says why."""
    pdf = factories.text_pdf(tmp_path / "memo.pdf", ["The heron count was 41."])
    with PageStore(Settings(store=tmp_path / "store"), embedder=embedder) as store:
        assert index_paths([pdf], store=store, progress=False).documents == 1
        rec = store.document("memo.pdf")
        assert rec is not None
        written = store.blobs.put

        def purged_meanwhile(key: str, data: bytes) -> None:
            written(key, data)
            store.catalog.mark_deleting(rec.doc_id)  # the purge has begun: bytes first, rows last
            store.blobs.delete_prefix(f"pages/{rec.doc_id}/")

        monkeypatch.setattr(store.blobs, "put", purged_meanwhile)
        with pytest.raises(StoreError, match="removed or replaced while its page 1 was being drawn"):
            store.ensure_image(rec, 1)
        assert PageRetriever(store=store, k=3).search("heron count") == []
