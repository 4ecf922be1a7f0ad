"""Office and OpenDocument files through real LibreOffice: built with python-docx, python-pptx, openpyxl,
msoffcrypto-tool and LibreOffice itself, indexed into a real store, then searched, drawn, re-indexed, replaced,
removed; and every bad input refused alone with what to do."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docx
import openpyxl
import pptx
import psutil
import pytest

import docagent
from docagent.config import Settings
from docagent.errors import ConverterMissingError, CorruptDocumentError, EncryptedDocumentError, UnsupportedFileError
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.ingest import OpenOptions, open_source, sniff
from docagent.ingest.office import MAX_ZIP_ENTRIES, find_soffice
from docagent.retrieve import PageRetriever
from tests import factories

pytestmark = pytest.mark.slow  # starts real programs (see CONTRIBUTING.md: slow tests)

if find_soffice() is None:  # CI installs it (.ci/run); failing says what is missing instead of passing quietly
    pytest.fail("LibreOffice (soffice) is not installed: `sudo apt-get install libreoffice-writer-nogui "
                "libreoffice-calc-nogui libreoffice-impress-nogui`", pytrace=False)


def soffice_convert(path: Path, to: str, out: Path) -> Path:
    """A file converted by LibreOffice itself (for formats no Python writer makes: ODT, DOC, XLS, PPT)."""
    profile = out / f"profile-{to}"
    subprocess.run([find_soffice(), "--headless", f"-env:UserInstallation={profile.as_uri()}", "--convert-to", to,
                    "--outdir", str(out), str(path)], check=True, capture_output=True, timeout=120)
    shutil.rmtree(profile, ignore_errors=True)
    return out / f"{path.stem}.{to}"


def report_docx(path: Path, marker: str, pages: int = 2) -> Path:
    doc = docx.Document()
    doc.core_properties.title = f"Annual report {marker}"
    doc.add_heading(f"Annual report of the {marker} cooperative", 1)
    for n in range(1, pages + 1):
        if n > 1:
            doc.add_page_break()
        doc.add_heading(f"Section {n}", 2)
        doc.add_paragraph(f"On page {n} the {marker} cooperative reports fact number {n}: "
                          f"{marker}{n} tonnes of apples were pressed.")
    table = doc.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "Item", (0, 1): "Cost", (1, 0): "Barrels", (1, 1): "4,200"}.items():
        table.cell(r, c).text = text
    doc.save(path)
    return path


def deck_pptx(path: Path) -> Path:
    deck = pptx.Presentation()
    for n, (title, body) in enumerate([("Roadmap", "Launch the wombat product in spring"),
                                       ("Budget", "Marketing spend rises to 90,000 euros"),
                                       ("Risks", "Supply of capybara leather is uncertain")], 1):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = f"{body} (slide {n})"
    deck.save(path)
    return path


def workbook_xlsx(path: Path) -> Path:
    book = openpyxl.Workbook()
    sales = book.active
    sales.title = "Sales"
    sales.append(["Region", "Q1", "Q2", "Q3", "Q4"])
    for region, base in (("North", 10), ("South", 20), ("Okapi Valley", 30)):
        sales.append([region, base, base + 1, base + 2, base + 3])
    costs = book.create_sheet("Costs")
    costs.append(["Rent", 5_000])
    costs.append(["Quetzal feed", 777])
    wide = book.create_sheet("Wide")
    wide.append([f"column{c:02d} marmot" for c in range(1, 41)])  # wider than a page
    book.save(path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("office")
    made = root / "made"
    made.mkdir()
    inbox = root / "inbox"
    inbox.mkdir()
    out = {
        "report.docx": report_docx(inbox / "report.docx", "aardvark", pages=3),
        "deck.pptx": deck_pptx(inbox / "deck.pptx"),
        "book.xlsx": workbook_xlsx(inbox / "book.xlsx"),
    }
    for source, to, name in ((report_docx(made / "minutes.docx", "bison"), "odt", "minutes.odt"),
                             (report_docx(made / "legacy.docx", "chinchilla"), "doc", "legacy.doc"),
                             (workbook_xlsx(made / "old.xlsx"), "xls", "old.xls"),
                             (deck_pptx(made / "old.pptx"), "ppt", "old.ppt"),
                             (deck_pptx(made / "talk.pptx"), "odp", "talk.odp"),
                             (workbook_xlsx(made / "sheet.xlsx"), "ods", "sheet.ods")):
        out[name] = shutil.move(soffice_convert(source, to, made), inbox / name)
    (inbox / "memo.rtf").write_text(r"{\rtf1\ansi\deff0 {\fonttbl {\f0 Times;}}\f0\fs24 The gnu memo says: "
                                    r"meet at noon.\par}")
    out["memo.rtf"] = inbox / "memo.rtf"
    return out


@pytest.fixture(scope="module")
def indexed(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, embedder):
    settings = Settings(store=tmp_path_factory.mktemp("store") / "store", ocr="off")
    with PageStore(settings, embedder=embedder) as store:
        report = index_paths([next(iter(files.values())).parent], store=store, progress=False)
        yield store, report, settings


def text_of(store: PageStore, name: str) -> str:
    rec = store.document(name)
    return " ".join(" ".join(store.page(name, n).text.split()) for n in range(1, rec.pages + 1))


def test_every_office_family_is_indexed_by_content_with_its_kind(indexed, files) -> None:
    store, report, _ = indexed
    assert report.failed == [] and report.documents == len(files)
    kinds = {d.name: d.kind for d in store.documents()}
    assert kinds == {"report.docx": "word", "minutes.odt": "word", "legacy.doc": "word", "memo.rtf": "word",
                     "deck.pptx": "presentation", "old.ppt": "presentation", "talk.odp": "presentation",
                     "book.xlsx": "spreadsheet", "old.xls": "spreadsheet", "sheet.ods": "spreadsheet"}
    assert all(store.document(n).stored_file.endswith(".pdf") for n in kinds)  # the rendering is the file copy
    assert report.seconds["convert"] > 0
    assert "gnu memo says: meet at noon" in text_of(store, "memo.rtf")
    assert "chinchilla2 tonnes of apples" in text_of(store, "legacy.doc")
    assert "bison2 tonnes" in text_of(store, "minutes.odt")


def test_pages_words_and_search_hits_land_on_the_right_page(indexed) -> None:
    store, _, settings = indexed
    assert store.document("report.docx").pages == 3
    third = store.page("report.docx", 3)
    assert "aardvark3 tonnes of apples were pressed" in " ".join(third.text.split())
    assert third.doc == "report.docx"
    word = next(w for w in third.words if w.text == "aardvark3")
    assert 0 <= word.box[0] < word.box[2] <= third.width and 0 <= word.box[1] < word.box[3] <= third.height
    hits = docagent.search("how many tonnes did aardvark3 report", k=1, settings=settings)
    assert (hits[0].doc, hits[0].page) == ("report.docx", 3)
    slides = store.document("deck.pptx").pages
    assert slides == 3
    retriever = PageRetriever(store=store, k=1)
    hits = retriever.search("capybara leather supply", docs=["deck.pptx"])
    assert (hits[0].doc, hits[0].page) == ("deck.pptx", 3)
    hits = retriever.search("quetzal feed", filter={"kind": "spreadsheet"})
    assert hits[0].doc in {"book.xlsx", "old.xls", "sheet.ods"} and "Quetzal feed" in " ".join(hits[0].text.split())


def test_sheets_show_every_cell_whole_sheet_after_sheet_and_wide_sheets_in_bands(indexed) -> None:
    store, _, _ = indexed
    for name in ("book.xlsx", "old.xls", "sheet.ods"):
        text = text_of(store, name)
        # LibreOffice's print would clip "Okapi Valley" to "Okapi Valle" (the next cell is filled): not here
        sales, costs, wide = text.index("Sales Region Q1"), text.index("Costs Rent"), text.index("Wide (columns A-")
        assert sales < text.index("Okapi Valley 30 31 32 33") < costs < text.index("Quetzal feed 777") < wide, name
        bands = re.findall(r"Wide \(columns ([A-Z]+)-([A-Z]+) of A-AN\) column01 marmot", text)
        assert len(bands) >= 3 and bands[0][0] == "A" and bands[-1][1] == "AN", name  # the row labels repeated
        assert [n for n in range(1, 41) if f"column{n:02d} marmot" not in text] == [], name


def test_page_images_come_from_the_stored_rendering(indexed) -> None:
    store, _, _ = indexed
    factories.assert_pages_redraw(store, ("report.docx", "deck.pptx", "book.xlsx"), 800)


def test_unchanged_files_are_skipped_and_the_same_content_is_not_converted_again(indexed, files, tmp_path) -> None:
    store, _, _ = indexed
    again = index_paths([files["report.docx"].parent], store=store, progress=False)
    assert again.documents == 0 and again.skipped == len(files) and again.seconds.get("convert", 0) == 0
    copy = tmp_path / "report copy.docx"
    shutil.copy(files["report.docx"], copy)
    report = index_paths([copy], store=store, progress=False)
    assert report.documents == 1 and report.seconds["convert"] == 0  # the stored rendering of the same bytes
    assert text_of(store, "report copy.docx") == text_of(store, "report.docx")
    store.remove(["report copy.docx"])


def test_a_changed_file_replaces_its_older_version_and_rm_removes_everything(files, tmp_path, embedder) -> None:
    settings = Settings(store=tmp_path / "store", ocr="off")
    path = report_docx(tmp_path / "plan.docx", "ibex", pages=1)
    with PageStore(settings, embedder=embedder) as store:
        index_paths([path], store=store, progress=False)
        first = store.document("plan.docx")
        report_docx(path, "jackal", pages=2)
        report = index_paths([path], store=store, progress=False)
        assert report.replaced == ["plan.docx"]
        now = store.document("plan.docx")
        assert now.pages == 2 and "jackal" in text_of(store, "plan.docx") and "ibex" not in text_of(store, "plan.docx")
        assert not store.blobs.exists(f"files/{first.stored_file}") and not list(store.blobs.list_keys(f"pages/{first.doc_id}/"))
        assert store.remove(["plan.docx"]) == (["plan.docx"], [])
        assert store.documents() == [] and not store.blobs.exists(f"files/{now.stored_file}")
        assert PageRetriever(store=store, k=3).search("jackal") == []


def test_bad_office_files_fail_one_by_one_with_what_to_do(files, tmp_path, embedder) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = shutil.copy(files["report.docx"], inbox / "good.docx")
    data = files["report.docx"].read_bytes()
    (inbox / "truncated.docx").write_bytes(data[: len(data) // 2])
    from msoffcrypto.format.ooxml import OOXMLFile

    with open(good, "rb") as plain, open(inbox / "locked.docx", "wb") as locked:
        OOXMLFile(plain).encrypt("secret", locked)
    with zipfile.ZipFile(files["report.docx"]) as src, zipfile.ZipFile(inbox / "broken.docx", "w") as out:
        for name in src.namelist():  # a sound ZIP whose document part is garbage
            out.writestr(name, b"<w:document garbage" if name == "word/document.xml" else src.read(name))
    with zipfile.ZipFile(inbox / "many.docx", "w") as bomb:  # a ZIP bomb by entry count
        bomb.writestr("[Content_Types].xml", "wordprocessingml.document.main")
        for i in range(MAX_ZIP_ENTRIES + 1):
            bomb.writestr(f"word/media/{i}.bin", b"")
    with zipfile.ZipFile(inbox / "huge.docx", "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as bomb:
        bomb.writestr("[Content_Types].xml", "wordprocessingml.document.main")
        with bomb.open("word/document.xml", "w", force_zip64=True) as big:  # 1.1 GiB of zeros in about 1 MB
            for _ in range(1100):
                big.write(bytes(1 << 20))
    book = openpyxl.Workbook()
    book.active["A1"] = "start"
    book.active["Z100000"] = "end"  # a used range of 2.6 million cells
    book.save(inbox / "vast.xlsx")
    (inbox / "archive.zip").write_bytes(_plain_zip())
    settings = Settings(store=tmp_path / "store", ocr="off")
    with PageStore(settings, embedder=embedder) as store:
        report = index_paths([inbox], store=store, progress=False)
        failed = {Path(f.path).name: f.error for f in report.failed}
        assert [d.name for d in store.documents()] == ["good.docx"]  # the rest of the batch went on
    assert set(failed) == {"truncated.docx", "locked.docx", "broken.docx", "many.docx", "huge.docx", "vast.xlsx"}
    assert failed["truncated.docx"].startswith("damaged or truncated ZIP")
    assert "password-protected" in failed["locked.docx"] and "remove the password" in failed["locked.docx"]
    assert failed["broken.docx"].startswith("LibreOffice could not load it") and "save it as PDF" in failed["broken.docx"]
    assert "20,002 packed parts" in failed["many.docx"] and "ZIP bomb" in failed["many.docx"]
    assert "unpacks to 1.1 GiB" in failed["huge.docx"]
    assert "2,600,000 cells (the largest A1:Z100000)" in failed["vast.xlsx"]
    with pytest.raises(UnsupportedFileError, match="a ZIP archive that is no Word, PowerPoint, Excel or OpenDocument "
                                                   "file.*unpack it and index the files inside"):
        open_source(inbox / "archive.zip")
    with pytest.raises(EncryptedDocumentError):
        open_source(inbox / "locked.docx")


def _plain_zip() -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("notes.txt", "not an office file")
    return buffer.getvalue()


def test_without_libreoffice_office_files_fail_alone_saying_what_to_install(files, tmp_path, embedder, monkeypatch) -> None:
    monkeypatch.delenv("DOCAGENT_SOFFICE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no soffice, no libreoffice
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(files["report.docx"], inbox / "report.docx")
    (inbox / "notes.md").write_text("# Notes\n\nThe walrus count is 12.")
    with PageStore(Settings(store=tmp_path / "store", ocr="off"), embedder=embedder) as store:
        report = index_paths([inbox], store=store, progress=False)
        assert [d.name for d in store.documents()] == ["notes.md"]
    [failure] = report.failed
    assert failure.error.startswith("Office files are converted by LibreOffice, which is not installed: install "
                                    "LibreOffice (Debian/Ubuntu: `sudo apt-get install libreoffice-writer-nogui")
    monkeypatch.setenv("DOCAGENT_SOFFICE", str(tmp_path / "no-such-soffice"))
    with pytest.raises(ConverterMissingError, match=r"DOCAGENT_SOFFICE=\S*no-such-soffice names no program"):
        open_source(inbox / "report.docx")


def _soffice_processes(where: Path) -> set[int]:
    """LibreOffice processes converting in a folder under ``where`` (conversions of other tests' or processes'
    are elsewhere)."""
    return {p.pid for p in psutil.process_iter(["name", "cmdline"])
            if "soffice" in (p.info["name"] or "") and str(where) in " ".join(p.info["cmdline"] or [])}


@pytest.fixture
def own_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_conversions_are_bounded_in_time_and_memory_and_leave_no_process(files, own_temp: Path) -> None:
    with pytest.raises(UnsupportedFileError, match=r"did not finish converting it within 0.2 s.*DOCAGENT_CONVERT_SECONDS"):
        open_source(files["report.docx"], options=OpenOptions(convert_seconds=0.2))
    # out of memory, LibreOffice either dies or reports the file could not be loaded: both name the limit
    with pytest.raises(CorruptDocumentError,
                       match=r"LibreOffice (stopped|could not load it) .*more than the 300 MiB .*DOCAGENT_CONVERT_MEMORY_MB"):
        open_source(files["report.docx"], options=OpenOptions(convert_memory_mb=300))
    assert _soffice_processes(own_temp) == set()


def test_parallel_conversions_each_have_their_own_profile(files, own_temp: Path) -> None:
    def convert(name: str) -> str:
        with open_source(files[name]) as source:
            return " ".join(source.read_page(0).text.split())

    # no deadline of the test's own: each conversion is bounded by the time limit open_source gives LibreOffice
    # (OpenOptions.convert_seconds, 180 s), and three starting together on a loaded machine took more than two minutes
    # in CI; a failed one raises its error here
    with ThreadPoolExecutor(max_workers=3) as pool:
        started = {n: pool.submit(convert, n) for n in ("report.docx", "deck.pptx", "book.xlsx")}
        results = {n: future.result() for n, future in started.items()}
    assert "aardvark cooperative" in results["report.docx"] and "wombat" in results["deck.pptx"]
    assert "Okapi Valley" in results["book.xlsx"]
    assert _soffice_processes(own_temp) == set()


def test_macro_enabled_files_are_indexed_and_their_macros_never_run(files, tmp_path) -> None:
    marker = tmp_path / "macro-ran"
    odt = tmp_path / "macros.odt"
    with zipfile.ZipFile(files["minutes.odt"]) as src, zipfile.ZipFile(odt, "w", zipfile.ZIP_DEFLATED) as out:
        content = src.read("content.xml").decode()
        start = content.index(">", content.index("<office:document-content")) + 1
        content = (content[:start] + '<office:scripts><office:event-listeners><script:event-listener '
                   'script:language="ooo:script" script:event-name="dom:load" xlink:type="simple" '
                   'xlink:href="vnd.sun.star.script:Standard.Module1.Main?language=Basic&amp;location=document"/>'
                   '</office:event-listeners></office:scripts>' + content[start:])
        basic = {
            "Basic/script-lc.xml": '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE library:libraries PUBLIC '
            '"-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "libraries.dtd">\n<library:libraries xmlns:library='
            '"http://openoffice.org/2000/library" xmlns:xlink="http://www.w3.org/1999/xlink"><library:library '
            'library:name="Standard" library:link="false"/></library:libraries>',
            "Basic/Standard/script-lb.xml": '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE library:library PUBLIC '
            '"-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "library.dtd">\n<library:library xmlns:library='
            '"http://openoffice.org/2000/library" library:name="Standard" library:readonly="false" '
            'library:passwordprotected="false"><library:element library:name="Module1"/></library:library>',
            "Basic/Standard/Module1.xml": '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE script:module PUBLIC '
            '"-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "module.dtd">\n<script:module xmlns:script='
            '"http://openoffice.org/2000/script" script:name="Module1" script:language="StarBasic">Sub Main\n'
            f' Open &quot;{marker}&quot; For Output As #1\n Print #1, &quot;ran&quot;\n Close #1\nEnd Sub\n'
            '</script:module>',
        }
        manifest = src.read("META-INF/manifest.xml").decode().replace("</manifest:manifest>", "".join(
            f'<manifest:file-entry manifest:full-path="{n}" manifest:media-type="text/xml"/>' for n in basic)
            + "</manifest:manifest>")
        out.writestr(zipfile.ZipInfo("mimetype"), src.read("mimetype"))  # first and stored, as ODF wants
        for name in src.namelist():
            if name != "mimetype":
                data = {"content.xml": content, "META-INF/manifest.xml": manifest}.get(name)
                out.writestr(name, data if data is not None else src.read(name))
        for name, text in basic.items():
            out.writestr(name, text)
    assert sniff(odt) == "word"
    with open_source(odt) as source:
        assert "bison1 tonnes" in " ".join(source.read_page(0).text.split())
    assert not marker.exists()


def test_a_workbook_of_one_sheet_still_shows_the_sheet_name(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    lookup = book.create_sheet("Lookup", 0)  # hidden, first: LibreOffice exports only the visible sheet
    lookup.append(["hidden value"])
    lookup.sheet_state = "hidden"
    budget = book["Sheet"]
    budget.title = "Budget 2027"
    budget.append(["Item", "Amount"])
    budget.append(["Pangolin sanctuary", 1234.5])
    book.save(tmp_path / "budget.xlsx")
    with open_source(tmp_path / "budget.xlsx") as source:
        assert " ".join(source.read_page(0).text.split()) == "Budget 2027 Item Amount Pangolin sanctuary 1234.5"


def test_speaker_notes_are_indexed_on_their_slides_page(tmp_path: Path) -> None:
    deck = pptx.Presentation()
    for n, note in enumerate(["Mention the tapir budget of 40,000 euros", "Thank the llama team"], 1):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Slide title {n}"
        slide.notes_slide.notes_text_frame.text = note
    deck.save(tmp_path / "talk.pptx")
    odp = soffice_convert(tmp_path / "talk.pptx", "odp", tmp_path)
    for path in (tmp_path / "talk.pptx", odp):
        with open_source(path) as source:
            pages = [" ".join(source.read_page(i).text.split()) for i in range(source.page_count)]
        assert len(pages) == 2, path  # one page a slide, its notes under it
        assert "Slide title 1" in pages[0] and "tapir budget of 40,000 euros" in pages[0], path
        assert "Slide title 2" in pages[1] and "Thank the llama team" in pages[1], path


def test_a_blank_page_of_a_rendering_is_not_ocred(tmp_path: Path, embedder) -> None:
    doc = docx.Document()
    doc.add_paragraph("Before the blank page: the emu census.")
    doc.add_page_break()
    doc.add_page_break()  # an empty page between two breaks
    doc.add_paragraph("After the blank page: the kiwi census.")
    doc.save(tmp_path / "gap.docx")
    with PageStore(Settings(store=tmp_path / "store", ocr="auto"), embedder=embedder) as store:
        report = index_paths([tmp_path / "gap.docx"], store=store, progress=False)
        assert report.pages == 3 and store.page("gap.docx", 2).text.strip() == ""
    assert report.ocr_pages == 0 and "ocr" not in report.seconds  # OCR costs about a second a page for nothing


def test_a_long_sheet_repeats_its_column_headers_on_every_page(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    ledger = book.active
    ledger.title = "Ledger"
    ledger.append(["Date", "Account", "Amount"])
    for i in range(1, 501):
        ledger.append([f"2026-02-{i % 28 + 1:02d}", f"Account {i}", i * 10])
    book.save(tmp_path / "ledger.xlsx")
    with open_source(tmp_path / "ledger.xlsx") as source:
        pages = [" ".join(source.read_page(i).text.split()) for i in range(source.page_count)]
        first = source.read_page(0)
    assert first.width < first.height  # three narrow columns: portrait, more rows a page
    assert 8 <= len(pages) <= 12  # about 50 rows of one line a page
    assert pages[0].startswith("Ledger Date Account Amount 2026-02-02 Account 1 10")
    assert all(p.startswith("Date Account Amount 2026-02-") for p in pages[1:])  # every page says what its columns are
    rows = [int(n) for p in pages for n in re.findall(r"Account (\d+) ", p)]
    assert rows == list(range(1, 501))  # every row once, in order, none cut off a page
