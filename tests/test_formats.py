"""The format registry, and HTML, Markdown and plain text rendered to paged PDF (issue 18, first slice)."""

from __future__ import annotations

import codecs
import shutil
import socket
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

import docagent
from docagent.config import Settings
from docagent.errors import CorruptDocumentError, EmptyDocumentError, UnsupportedFileError
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.ingest import SUPPORTED_SUFFIXES, describe, is_supported, open_source, sniff
from docagent.ingest.formats import FORMATS, decode_text, kinds
from docagent.ingest.markup import MAX_MARKUP_BYTES
from docagent.ingest.uploads import save_upload
from docagent.retrieve import PageRetriever
from tests import factories

NOTES = """# Garden notes

The greenhouse tomatoes were planted in March. See [the seed catalogue](https://seeds.example.org/tomatoes).

## Watering

Water the beds every morning.

{filler}

## Harvest

The pumpkin harvest weighed 48 kilograms in October.
"""

FILLER = "\n\n".join(f"Paragraph {i} about soil, compost and mulch in the vegetable beds." for i in range(90))


def _loopback_listener() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    return server


def _connections(server: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = server.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


@pytest.fixture(scope="module")
def listener() -> socket.socket:
    server = _loopback_listener()
    yield server
    server.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, listener: socket.socket) -> Path:
    root = tmp_path_factory.mktemp("formats") / "inbox"
    root.mkdir()
    port = listener.getsockname()[1]
    remote = f"http://127.0.0.1:{port}"
    (root / "notes.md").write_text(NOTES.format(filler=FILLER), encoding="utf-8")
    (root / "page.html").write_text(f"""<!DOCTYPE html>
<html><head><title>Quarterly bulletin</title>
<link rel="stylesheet" href="{remote}/style.css">
<style>@import url("{remote}/import.css"); h1 {{ color: navy; background: url({remote}/bg.png); }}</style>
<script src="{remote}/app.js"></script>
<script>var secret = "xylophonezebra"; fetch("{remote}/beacon");</script>
</head><body onload="steal()">
<h1 id="top">Quarterly bulletin</h1>
<p>Revenue from the Lisbon office grew by 9 percent. <a href="https://example.com/report">Full report</a>.</p>
<img src="{remote}/logo.png" alt="logo"><img srcset="{remote}/big.png 2x">
<div style="background-image: url('{remote}/div.png')">Back to <a href="#top">the top</a>.</div>
<iframe src="{remote}/frame.html">iframe fallback text</iframe>
<noscript>Shown without scripts.</noscript>
</body></html>""", encoding="utf-8")
    (root / "server.log.txt").write_bytes(codecs.BOM_UTF8 + "\n".join(
        f"line {i:04d}: request served in {i % 97} ms" + ("\tcafé" if i == 7 else "") for i in range(400)).encode())
    (root / "garbage.txt").write_bytes(bytes(range(256)) * 16)  # binary data renamed .txt
    (root / "empty.md").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def indexed(folder: Path, tmp_path_factory: pytest.TempPathFactory, embedder, listener: socket.socket):
    settings = Settings(store=tmp_path_factory.mktemp("store") / "store", ocr="off")
    with PageStore(settings, embedder=embedder) as store:
        report = index_paths([folder], store=store, progress=False)
        yield store, report, settings


@pytest.mark.slow
def test_a_batch_of_html_markdown_and_text_is_indexed_and_bad_files_fail_alone(indexed) -> None:
    store, report, _ = indexed
    failed = {Path(f.path).name: f.error for f in report.failed}
    assert set(failed) == {"garbage.txt", "empty.md"}
    assert failed["garbage.txt"] == ("not a document docagent reads: its content looks like binary data, "
                                     f"despite the .txt suffix; docagent reads {describe()}")
    assert failed["empty.md"].startswith("the file is empty (0 bytes)")
    docs = {d.name: d for d in store.documents()}
    assert {name: d.kind for name, d in docs.items()} == {"notes.md": "markdown", "page.html": "html",
                                                          "server.log.txt": "text"}
    assert docs["notes.md"].pages >= 2 and docs["server.log.txt"].pages >= 5 and docs["page.html"].pages == 1
    for name, rec in docs.items():  # the store keeps the rendering as the file copy
        stored = store.stored_file(rec)
        assert stored.suffix == ".pdf" and stored.read_bytes().startswith(b"%PDF-"), name


def test_pages_have_text_word_boxes_and_citable_page_numbers(indexed) -> None:
    store, _, settings = indexed
    first = store.page("notes.md", 1)
    assert first.doc == "notes.md" and "greenhouse tomatoes were planted" in " ".join(first.text.split())
    assert any(w.text == "greenhouse" for w in first.words)
    assert all(0 <= w.box[0] < w.box[2] <= first.width and 0 <= w.box[1] < w.box[3] <= first.height for w in first.words)
    last = store.document("notes.md").pages
    assert "pumpkin harvest weighed 48 kilograms" in " ".join(store.page("notes.md", last).text.split())
    hits = docagent.search("how much did the pumpkin harvest weigh", k=1, settings=settings)
    assert (hits[0].doc, hits[0].page) == ("notes.md", last)
    log_text = "\n".join(store.page("server.log.txt", n).text for n in range(1, store.document("server.log.txt").pages + 1))
    lines = [line for line in log_text.splitlines() if line.startswith("line ")]
    assert [int(line[5:9]) for line in lines] == list(range(400))  # every line once, in order, across pages
    assert lines[7].split() == ["line", "0007:", "request", "served", "in", "7", "ms", "café"]  # BOM dropped, UTF-8 read


def test_page_images_render_later_from_the_stored_rendering(indexed) -> None:
    store, _, _ = indexed
    factories.assert_pages_redraw(store, ("notes.md", "page.html", "server.log.txt"), 1000)


def test_headings_become_the_outline_and_links_are_kept(indexed, folder: Path) -> None:
    store, _, _ = indexed
    with pymupdf.open(store.stored_file(store.document("notes.md"))) as doc:
        toc = doc.get_toc()
        links = [link for page in doc for link in page.get_links()]
    assert [(level, title) for level, title, _ in toc] == [(1, "Garden notes"), (2, "Watering"), (2, "Harvest")]
    assert toc[-1][2] == store.document("notes.md").pages
    assert [link["uri"] for link in links if link["kind"] == pymupdf.LINK_URI] == ["https://seeds.example.org/tomatoes"]
    with open_source(folder / "page.html") as source:
        assert source.metadata()["title"] == "Quarterly bulletin"
        assert [h.title for h in source.outline()] == ["Quarterly bulletin"]
        page = source._doc[0]
        kinds_of_links = sorted((link["kind"], link.get("uri", "")) for link in page.get_links())
    assert kinds_of_links == [(pymupdf.LINK_GOTO, ""), (pymupdf.LINK_URI, "https://example.com/report")]


def test_html_scripts_are_neither_run_nor_indexed_and_nothing_remote_is_fetched(indexed, listener: socket.socket) -> None:
    store, _, _ = indexed
    text = " ".join(store.page("page.html", 1).text.split())
    assert "Revenue from the Lisbon office grew by 9 percent" in text and "Back to the top" in text
    assert "Shown without scripts" in text  # no script runs, so the noscript text is what a reader sees
    for hidden in ("xylophonezebra", "fetch", "iframe fallback", "[image]", "logo"):
        assert hidden not in text
    assert not any(h.doc == "page.html" for h in PageRetriever(store=store, k=5, mode="lexical").search("xylophonezebra"))
    assert _connections(listener) == 0  # the stylesheet, scripts, images and frame were never requested


def test_the_kind_filter_takes_the_registry_s_kinds(indexed) -> None:
    store, _, _ = indexed
    hits = PageRetriever(store=store, k=10).search("soil compost", filter={"kind": "markdown"})
    assert hits and {h.doc for h in hits} == {"notes.md"}
    assert {d.kind for d in store.documents()} <= set(kinds())


def test_the_kind_comes_from_the_content_and_the_name_only_picks_among_text_formats(docs_dir: Path) -> None:
    pdf = factories.text_pdf(docs_dir / "real.pdf", ["A PDF in disguise."])
    shutil.copy(pdf, docs_dir / "pdf_named.txt")
    shutil.copy(factories.shapes_png(docs_dir / "shapes.png"), docs_dir / "png_named.md")
    (docs_dir / "README").write_text("# Not Markdown without its suffix\n")
    (docs_dir / "readme.markdown").write_text("# Markdown\n")
    (docs_dir / "page.txt").write_text("\n  <!-- saved -->\n<!DOCTYPE html><html><body>x</body></html>")
    (docs_dir / "fragment.htm").write_text("<p>a fragment</p>")
    (docs_dir / "unicode.md").write_bytes("# Ünïcode".encode("utf-16"))
    expected = {"pdf_named.txt": "pdf", "png_named.md": "image", "README": "text", "readme.markdown": "markdown",
                "page.txt": "html", "fragment.htm": "html", "unicode.md": "markdown"}
    assert {name: sniff(docs_dir / name) for name in expected} == expected
    with open_source(docs_dir / "pdf_named.txt") as source:
        assert source.kind == "pdf" and "PDF in disguise" in source.read_page(0).text
    with open_source(docs_dir / "unicode.md") as source:
        assert source.outline()[0].title == "Ünïcode"


def test_a_text_file_named_like_a_binary_format_is_refused_with_how_to_rename_it(docs_dir: Path) -> None:
    (docs_dir / "minutes.png").write_text("Minutes of the board meeting")
    with pytest.raises(UnsupportedFileError, match=r"minutes\.png: its content looks like text, not PNG, JPEG, TIFF as "
                                                   r"the \.png suffix says .*rename it minutes\.txt"):
        open_source(docs_dir / "minutes.png")
    (docs_dir / "deck.txt").write_bytes(b"PK\x03\x04" + bytes(200))
    with pytest.raises(CorruptDocumentError, match=r"deck\.txt: damaged or truncated ZIP .*re-export or re-download it"):
        open_source(docs_dir / "deck.txt")


def test_the_folder_walk_and_uploads_use_the_registry(docs_dir: Path, tmp_path: Path) -> None:
    assert {s for f in FORMATS for s in f.suffixes} == SUPPORTED_SUFFIXES
    assert all(is_supported(Path(f"x{s.upper()}")) for s in (".md", ".html", ".htm", ".txt", ".pdf", ".tiff"))
    assert is_supported(Path("x.docx")) and is_supported(Path("x.EML")) and not is_supported(Path("x.zip"))
    assert describe() == ("PDF, PNG, JPEG, TIFF, DOCX, DOC, ODT, RTF, PPTX, PPT, ODP, XLSX, XLS, ODS, "
                          "e-mail (EML, mbox), HTML, Markdown and plain text")
    assert len(kinds()) == len(FORMATS)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    assert save_upload("notes", [b"plain notes"], uploads, 1 << 20).name == "notes.txt"
    assert save_upload("todo.md", [b"# To do"], uploads, 1 << 20).name == "todo.md"
    assert save_upload("export", [b"<!doctype html><p>x"], uploads, 1 << 20).name == "export.html"
    with pytest.raises(UnsupportedFileError, match="binary data"):
        save_upload("blob.txt", [bytes(range(256))], uploads, 1 << 20)
    assert not (uploads / "blob.txt").exists()


def test_text_encodings(docs_dir: Path) -> None:
    assert decode_text("naïve".encode()) == "naïve"
    assert decode_text(codecs.BOM_UTF8 + "naïve".encode()) == "naïve"
    assert decode_text("naïve".encode("utf-16")) == "naïve"  # with its BOM
    assert decode_text("naïve café".encode("cp1252")) == "naïve café"
    assert decode_text("naïve".encode("utf-16-le")) is None  # no BOM: NUL bytes, binary
    assert decode_text(bytes(range(256))) is None
    assert decode_text("é".encode()[:1] + b"", complete=False) is not None  # a head cut inside a character


def test_empty_and_blank_markdown(docs_dir: Path) -> None:
    (docs_dir / "empty.md").write_bytes(b"")
    with pytest.raises(EmptyDocumentError, match=r"empty\.md: the file is empty"):
        open_source(docs_dir / "empty.md")
    (docs_dir / "blank.md").write_text("\n\n   \n")
    with pytest.raises(EmptyDocumentError, match=r"blank\.md: the Markdown file has no text"):
        open_source(docs_dir / "blank.md")
    (docs_dir / "scripts_only.html").write_text("<!doctype html><html><script>alert(1)</script></html>")
    with pytest.raises(EmptyDocumentError, match=r"the HTML page shows no text"):
        open_source(docs_dir / "scripts_only.html")


def test_huge_text_is_bounded_by_size_and_by_max_pages(docs_dir: Path) -> None:
    huge = docs_dir / "huge.txt"
    huge.write_bytes(b"x" * (MAX_MARKUP_BYTES + 1))
    with pytest.raises(UnsupportedFileError, match=r"huge\.txt: the file holds 8\.0 MiB of text, more than the 8 MiB"):
        open_source(huge)
    long = docs_dir / "long.txt"
    long.write_text("\n".join(f"row {i}" for i in range(2000)))
    with pytest.raises(UnsupportedFileError, match=r"long\.txt: rendered, it runs past 5 pages, the most docagent "
                                                   r"indexes; raise the cap"):
        open_source(long, max_pages=5)
    wide = docs_dir / "wide.txt"
    wide.write_text("start " + "q" * 5000 + " end")  # one line with a 5000-character word: wrapped, nothing lost
    with open_source(wide) as source:
        text = "".join(source.read_page(i).text for i in range(source.page_count))
    assert text.replace("\u200b", "").replace(" ", "").replace("\n", "").count("q") == 5000
    assert "end" in text


def test_an_embedded_image_is_shown_scaled_to_the_page_and_what_follows_it_is_kept(docs_dir: Path) -> None:
    import base64
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (3000, 5000), "red").save(buffer, "PNG")  # taller than a page
    data = base64.b64encode(buffer.getvalue()).decode()
    (docs_dir / "poster.html").write_text(f'<!doctype html><p>Before the poster.</p>'
                                          f'<img src="data:image/png;base64,{data}"><p>After the poster.</p>')
    with open_source(docs_dir / "poster.html") as source:
        text = " ".join(source.read_page(i).text for i in range(source.page_count))
        assert source.has_images(0) and "Before the poster." in text and "After the poster." in text


@pytest.mark.slow
def test_an_embedded_decompression_bomb_is_dropped_not_decoded(docs_dir: Path) -> None:
    import base64
    import io

    buffer = io.BytesIO()
    Image.new("1", (40000, 40000)).save(buffer, "PNG", optimize=True)  # 1.6 gigapixels in a few hundred KB
    data = base64.b64encode(buffer.getvalue()).decode()
    (docs_dir / "bomb.html").write_text(f'<!doctype html><p>Text beside a bomb.</p><img src="data:image/png;base64,{data}">')
    with open_source(docs_dir / "bomb.html") as source:
        assert source.page_count == 1 and not source.has_images(0)
        assert "Text beside a bomb." in source.read_page(0).text


def test_legacy_encodings_read_as_their_language_not_as_mojibake(tmp_path: Path) -> None:
    cases = {
        "ru.html": ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251"></head>'
                    "<body><p>Бюджет компании на следующий год</p></body></html>", "cp1251",
                    "Бюджет компании на следующий год"),
        "jp.txt": ("これは会社の予算に関するテスト文書です。請求書番号 12345", "shift_jis",
                   "これは会社の予算に関するテスト文書です。請求書番号 12345"),
        "cn.txt": ("发票号码 12345 金额 人民币 五千元整 这是一个测试文件", "gbk", "发票号码 12345 金额 人民币 五千元整 这是一个测试文件"),
        "fr.txt": ("Le résumé du café, naïve", "cp1252", "Le résumé du café, naïve"),
    }
    for name, (text, encoding, shown) in cases.items():
        (tmp_path / name).write_bytes(text.encode(encoding))
        with open_source(tmp_path / name) as source:
            assert " ".join(source.read_page(0).text.split()) == shown, name
