"""Reading documents: text layers with word boxes, form widgets, images, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from docagent.errors import (
    CorruptDocumentError,
    EmptyDocumentError,
    EncryptedDocumentError,
    UnsupportedFileError,
)
from docagent.ingest import open_source, text_is_usable
from tests import factories


def test_pdf_text_layer_with_word_boxes(docs_dir: Path) -> None:
    path = factories.text_pdf(docs_dir / "a.pdf", ["Alpha bravo charlie", "Second page talks about turbines"])
    with open_source(path) as src:
        assert src.page_count == 2
        page = src.read_page(1)
    assert page.number == 2 and page.doc == "a.pdf"
    assert (page.width, page.height) == (595, 842)
    assert "turbines" in page.text
    turbine = next(w for w in page.words if w.text == "turbines")
    x0, y0, x1, y1 = turbine.box
    assert 50 <= x0 < x1 <= 545 and 50 <= y0 < y1 <= 120  # top of the text box, in points


def test_render_uses_the_requested_scale(docs_dir: Path) -> None:
    path = factories.text_pdf(docs_dir / "a.pdf", ["hello"])
    with open_source(path) as src:
        image = src.render(0, 150 / 72)
    assert image.width == 1240 and abs(image.height - 842 * 150 / 72) <= 1  # A4 at 150 dpi


def test_form_widgets_are_read_with_values(docs_dir: Path) -> None:
    with open_source(factories.form_pdf(docs_dir / "form.pdf")) as src:
        widgets = {w.name: w for w in src.read_page(0).widgets}
    assert widgets["full_name"].type == "text"
    assert widgets["full_name"].value == "Ada Lovelace"
    assert widgets["full_name"].label == "Applicant's full name"
    assert widgets["member_no"].value is None
    assert widgets["newsletter"].type == "checkbox" and widgets["newsletter"].value is True
    assert widgets["plan"].value == "Gold" and widgets["plan"].options == ("Bronze", "Silver", "Gold")
    x0, y0, x1, y1 = widgets["full_name"].box
    assert (round(x0), round(y0), round(x1), round(y1)) == (130, 105, 400, 125)


def test_multipage_tiff_gives_one_page_per_frame(docs_dir: Path) -> None:
    path = factories.multipage_tiff(docs_dir / "scan.tiff", [["first"], ["second"], ["third"]])
    with open_source(path) as src:
        assert src.kind == "image"
        assert src.page_count == 3
        page = src.read_page(2)
        assert page.text == "" and page.image_scale == 1.0
        assert src.render(2, 1.0).size == (700, 300)


@pytest.mark.parametrize("fmt,suffix", [("PNG", ".png"), ("JPEG", ".jpg")])
def test_single_images(docs_dir: Path, fmt: str, suffix: str) -> None:
    path = docs_dir / f"page{suffix}"
    factories.text_image(["hello"], size=(400, 200)).save(path, format=fmt)
    with open_source(path) as src:
        assert src.page_count == 1
        assert src.render(0, 1.0).size == (400, 200)


def test_text_usability() -> None:
    assert not text_is_usable("", 16)
    assert not text_is_usable("  3  \n", 16)
    assert not text_is_usable("\ufffd" * 40 + "abc" * 10, 16)
    assert text_is_usable("A page with a real sentence on it.", 16)


# -- bad input: each gets its own error naming the file and saying what to do -------------------


def test_empty_file(docs_dir: Path) -> None:
    path = docs_dir / "empty.pdf"
    path.write_bytes(b"")
    with pytest.raises(EmptyDocumentError, match=r"empty\.pdf: the file is empty"):
        open_source(path)


def test_not_a_document(docs_dir: Path) -> None:
    path = docs_dir / "notes.pdf"
    path.write_text("just some notes, not a PDF at all\n")
    with pytest.raises(UnsupportedFileError, match=r"notes\.pdf: its content looks like text, not PDF as the \.pdf suffix says \(saved or downloaded under the wrong name\?\); rename it notes\.txt to index it as plain text"):
        open_source(path)


def test_encrypted_pdf(docs_dir: Path) -> None:
    with pytest.raises(EncryptedDocumentError, match=r"secret\.pdf: the PDF is encrypted and needs a password.*qpdf --decrypt"):
        open_source(factories.encrypted_pdf(docs_dir / "secret.pdf"))


def test_truncated_pdf(docs_dir: Path) -> None:
    whole = factories.text_pdf(docs_dir / "whole.pdf", [f"page {i} " + "lorem ipsum " * 50 for i in range(5)])
    path = factories.truncated(docs_dir / "cut.pdf", whole, keep=0.3)
    with pytest.raises(CorruptDocumentError, match=r"cut\.pdf: .*(damaged|truncated)"), open_source(path) as src:
        for i in range(src.page_count):
            src.read_page(i)


def test_garbage_after_pdf_header(docs_dir: Path) -> None:
    path = docs_dir / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 20)
    with pytest.raises(CorruptDocumentError, match=r"broken\.pdf: damaged or truncated PDF"):
        open_source(path)


def test_truncated_png(docs_dir: Path) -> None:
    whole = docs_dir / "whole.png"
    factories.text_image(["some text"] * 5).save(whole)
    path = factories.truncated(docs_dir / "cut.png", whole, keep=0.5)
    with pytest.raises(CorruptDocumentError, match=r"cut\.png: unreadable image"):
        open_source(path)
