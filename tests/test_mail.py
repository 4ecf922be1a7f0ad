"""E-mail (.eml) made by the standard library's ``email`` package, as a mail program saves it: headers and body
as pages, attachments (an Office file, a PDF, a forwarded message with its own attachment) as documents of their own
linked to the message; listed, searched, replaced and removed with it."""

from __future__ import annotations

import shutil
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pymupdf
import pytest

from docagent.cli import main
from docagent.config import Settings
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.ingest import open_source, sniff
from docagent.ingest.formats import detect
from docagent.ingest.mail import looks_like_mail
from docagent.retrieve import PageRetriever
from tests.factories import word_file
from tests.test_cli import run


def pdf_bytes(text: str) -> bytes:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), text)
    return doc.tobytes()


def message(subject: str, body: str, attachments: list[tuple[str, bytes, str]], html: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Zoë Müller <zoe@example.org>"
    msg["To"] = "Purchasing <buy@example.com>"
    msg["Subject"] = subject
    msg["Date"] = "Tue, 01 Dec 2026 09:30:00 +0100"
    msg["Message-ID"] = "<1@example.org>"
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for name, data, mime in attachments:
        maintype, subtype = mime.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mail")
    made = root / "made"
    made.mkdir()
    folder = root / "inbox"
    folder.mkdir()
    forwarded = message("Fwd: delivery note", "The delivery note is attached.",
                        [("delivery.pdf", pdf_bytes("Delivery note: 14 pallets of kohlrabi"), "application/pdf")])
    offer = message(
        "Angebot für das Projekt Straße",  # non-ASCII: RFC 2047 encoded on the wire
        "Hello,\nour offer for the flamingo enclosure is attached. The total is 18,400 EUR.\nZoë",
        [("offer.docx", word_file(made / "offer.docx", ["Offer: flamingo enclosure, 18,400 EUR, valid 30 days"]).read_bytes(),
          "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
         ("terms.pdf", pdf_bytes("Terms: payment within 14 days of the axolotl invoice"), "application/pdf")],
        html="<html><body><p>Hello,</p><p>our offer for the <b>flamingo enclosure</b> is attached.</p>"
             "<script>document.write('stolen pelican')</script><img src='https://tracker.example/pixel.gif'></body></html>",
    )
    offer.add_attachment(forwarded)  # a forwarded message: message/rfc822
    (folder / "offer.eml").write_bytes(offer.as_bytes(policy=default_policy))
    (folder / "notes.txt").write_text("Note: call the supplier\nTodo: check the kohlrabi order\n")
    return folder


@pytest.fixture(scope="module")
def indexed(inbox: Path, tmp_path_factory: pytest.TempPathFactory, embedder):
    settings = Settings(store=tmp_path_factory.mktemp("store") / "store", ocr="off")
    with PageStore(settings, embedder=embedder) as store:
        report = index_paths([inbox], store=store, progress=False)
        yield store, report, settings


def text_of(store: PageStore, name: str) -> str:
    return " ".join(" ".join(store.page(name, n).text.split()) for n in range(1, store.document(name).pages + 1))


def test_a_message_is_recognised_by_its_headers_not_its_name(inbox: Path, tmp_path: Path) -> None:
    assert sniff(inbox / "offer.eml") == "email"
    renamed = shutil.copy(inbox / "offer.eml", tmp_path / "offer.txt")
    assert sniff(Path(renamed)) == "email"
    assert sniff(inbox / "notes.txt") == "text"  # "Note:" and "Todo:" lines are no mail headers
    assert not looks_like_mail("Subject: notes\nTopic: more notes\n\nbody")  # no From, no Received
    assert looks_like_mail("Received: from mx\n by host\nFrom: a@b\nSubject: x\n\nbody")


@pytest.mark.slow
def test_headers_and_body_are_the_first_pages_scripts_and_remote_images_left_out(indexed) -> None:
    store, report, _ = indexed
    assert report.failed == []
    rec = store.document("offer.eml")
    assert rec.kind == "email" and rec.parent == ""
    text = text_of(store, "offer.eml")
    assert text.startswith("Angebot für das Projekt Straße From Zoë Müller <zoe@example.org> To Purchasing "
                           "<buy@example.com> Date Tue, 01 Dec 2026 09:30:00 +0100 Attachments offer.docx, terms.pdf, "
                           "Fwd: delivery note.eml")
    assert "our offer for the flamingo enclosure is attached" in text  # the HTML body, preferred to the plain one
    assert "stolen pelican" not in text and "tracker" not in text
    assert any(w.text == "flamingo" for w in store.page("offer.eml", 1).words)


def test_attachments_are_documents_linked_to_their_message(indexed) -> None:
    store, _, _ = indexed
    docs = {d.name: (d.kind, d.parent) for d in store.documents()}
    assert docs == {
        "notes.txt": ("text", ""),
        "offer.eml": ("email", ""),
        "offer.eml/offer.docx": ("word", "offer.eml"),
        "offer.eml/terms.pdf": ("pdf", "offer.eml"),
        "offer.eml/Fwd: delivery note.eml": ("email", "offer.eml"),
        "offer.eml/Fwd: delivery note.eml/delivery.pdf": ("pdf", "offer.eml/Fwd: delivery note.eml"),
    }
    assert "flamingo enclosure, 18,400 EUR, valid 30 days" in text_of(store, "offer.eml/offer.docx")
    retriever = PageRetriever(store=store, k=1)
    assert retriever.search("axolotl invoice payment terms")[0].doc == "offer.eml/terms.pdf"
    assert retriever.search("how many pallets of kohlrabi")[0].doc == "offer.eml/Fwd: delivery note.eml/delivery.pdf"
    assert store.document("offer.eml/terms.pdf").source.endswith("offer.eml/terms.pdf")


@pytest.mark.slow
def test_docs_shows_the_link_and_rm_of_the_message_removes_its_attachments(
        inbox: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    code, _, _ = run(capfd, "index", str(inbox / "offer.eml"), "--store", store, "--json", "-q")
    assert code == 0
    assert main(["docs", "--store", store]) == 0
    assert "offer.eml/terms.pdf  pdf, 1 page  attached to offer.eml" in capfd.readouterr().out
    _, payload, _ = run(capfd, "docs", "--store", store, "--json")
    attached = {d["doc"]: d["attached_to"] for d in payload["documents"]}
    assert attached["offer.eml"] is None and attached["offer.eml/offer.docx"] == "offer.eml"
    _, removed, _ = run(capfd, "rm", "offer.eml", "--store", store, "--json")
    assert sorted(removed["removed"]) == sorted(attached) and len(attached) == 5
    assert run(capfd, "docs", "--store", store, "--json")[1]["documents"] == []


def test_a_new_version_of_a_message_drops_the_attachments_it_no_longer_has(tmp_path: Path, embedder) -> None:
    path = tmp_path / "thread.eml"
    keep = ("keep.pdf", pdf_bytes("The walrus budget is 300"), "application/pdf")
    drop = ("drop.pdf", pdf_bytes("The narwhal budget is 900"), "application/pdf")
    path.write_bytes(bytes(message("Budgets", "Two budgets.", [keep, drop])))
    with PageStore(Settings(store=tmp_path / "store", ocr="off"), embedder=embedder) as store:
        index_paths([path], store=store, progress=False)
        kept = store.document("thread.eml/keep.pdf")
        path.write_bytes(bytes(message("Budgets", "One budget now.", [keep])))
        report = index_paths([path], store=store, progress=False)
        assert report.replaced == ["thread.eml"] and report.skipped == 1  # keep.pdf unchanged
        assert sorted(d.name for d in store.documents()) == ["thread.eml", "thread.eml/keep.pdf"]
        assert store.document("thread.eml/keep.pdf").doc_id == kept.doc_id
        assert PageRetriever(store=store, k=3, mode="lexical").search("narwhal") == []


def test_a_bad_attachment_fails_alone_and_names_its_message(tmp_path: Path, embedder) -> None:
    path = tmp_path / "broken.eml"
    path.write_bytes(bytes(message("Files", "Two files.", [
        ("cut.docx", b"PK\x03\x04" + bytes(100), "application/octet-stream"),
        ("fine.pdf", pdf_bytes("The okapi count is 7"), "application/pdf")])))
    with PageStore(Settings(store=tmp_path / "store", ocr="off"), embedder=embedder) as store:
        report = index_paths([path], store=store, progress=False)
        assert sorted(d.name for d in store.documents()) == ["broken.eml", "broken.eml/fine.pdf"]
    [failure] = report.failed
    assert failure.path == "broken.eml/cut.docx" and failure.error.startswith("damaged or truncated ZIP")


def test_a_message_with_no_text_and_inline_images_only(tmp_path: Path) -> None:
    msg = message("Logo", "See the logo below.", [], html="<p>See the logo below.</p><img src='cid:logo'>")
    html_part = msg.get_body(preferencelist=("html",))
    png = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 4, 4), 0).tobytes("png")
    html_part.add_related(png, maintype="image", subtype="png", cid="<logo>")
    path = tmp_path / "logo.eml"
    path.write_bytes(bytes(msg))
    assert detect(path).kind == "email"
    with open_source(path) as source:
        assert source.attachments() == []  # an image shown in the body is part of the message
        assert "See the logo below." in source.read_page(0).text
        assert source.has_images(0)  # drawn on the message's page (a pasted scan gets OCR'd), never fetched


def test_signatures_and_winmail_dat_are_no_documents_and_nameless_files_get_their_type(tmp_path: Path, embedder) -> None:
    msg = message("Signed", "A signed message.", [
        ("smime.p7s", b"0\x82\x05\x00" + bytes(64), "application/pkcs7-signature"),
        ("winmail.dat", b"\x78\x9f\x3e\x22" + bytes(64), "application/ms-tnef")])
    msg.add_attachment(pdf_bytes("The nameless okapi file"), maintype="application", subtype="pdf")  # no file name
    (tmp_path / "signed.eml").write_bytes(bytes(msg))
    with PageStore(Settings(store=tmp_path / "store", ocr="off"), embedder=embedder) as store:
        report = index_paths([tmp_path / "signed.eml"], store=store, progress=False)
        assert report.failed == []
        assert sorted(d.name for d in store.documents()) == ["signed.eml", "signed.eml/attachment-3.pdf"]


def test_a_mailbox_is_a_list_of_its_messages_each_a_document(tmp_path: Path, embedder) -> None:
    first = message("Quarterly figures", "From the figures: sales rose.\nFrom now on we report monthly.", [])
    second = message("Invoice", "Invoice attached.", [("bill.pdf", pdf_bytes("Bill for 12 tonnes of oats"),
                                                         "application/pdf")])
    box = b"".join(b"From zoe@example.org Tue Dec  1 09:30:00 2026\n" + bytes(m).replace(b"\nFrom ", b"\n>From ")
                   + b"\n" for m in (first, second))
    (tmp_path / "archive.mbox").write_bytes(box)
    assert sniff(tmp_path / "archive.mbox") == "email"
    with PageStore(Settings(store=tmp_path / "store", ocr="off"), embedder=embedder) as store:
        report = index_paths([tmp_path], store=store, progress=False)  # a folder walk picks .mbox up
        assert report.failed == []
        assert {d.name: d.parent for d in store.documents()} == {
            "archive.mbox": "",
            "archive.mbox/0001 Quarterly figures.eml": "archive.mbox",
            "archive.mbox/0002 Invoice.eml": "archive.mbox",
            "archive.mbox/0002 Invoice.eml/bill.pdf": "archive.mbox/0002 Invoice.eml",
        }
        listing = text_of(store, "archive.mbox")
        assert "Mailbox of 2 messages" in listing and "Quarterly figures" in listing and "Invoice" in listing
        body = text_of(store, "archive.mbox/0001 Quarterly figures.eml")
        assert "From the figures: sales rose. From now on we report monthly." in body  # ">From" unquoted
        assert "Invoice attached" not in body


@pytest.mark.slow
def test_a_store_from_before_attachments_is_upgraded_once_even_by_processes_opening_it_at_once(
        tmp_path: Path, embedder) -> None:
    import sqlite3
    import subprocess
    import sys

    root = tmp_path / "store"
    (tmp_path / "old.pdf").write_bytes(pdf_bytes("The quokka ledger from the old store"))
    with PageStore(Settings(store=root, ocr="off"), embedder=embedder) as store:
        index_paths([tmp_path / "old.pdf"], store=store, progress=False)
    db = sqlite3.connect(root / "catalog.sqlite")  # as the release before attachments left it: layout 1, no parent
    db.execute("ALTER TABLE documents DROP COLUMN parent")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    db.commit()
    db.close()
    code = ("import sys; from docagent.config import Settings; from docagent.index.store import PageStore; "
            "PageStore(Settings(store=sys.argv[1])).close()")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(root)], stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    (tmp_path / "new.eml").write_bytes(bytes(message("Ledger", "See attached.", [
        ("ledger.pdf", pdf_bytes("The wallaby ledger"), "application/pdf")])))
    with PageStore(Settings(store=root, ocr="off"), embedder=embedder) as store:
        assert store.catalog.get_meta("schema") == "3"
        index_paths([tmp_path / "new.eml"], store=store, progress=False)
        assert {d.name: d.parent for d in store.documents()} == {
            "old.pdf": "", "new.eml": "", "new.eml/ledger.pdf": "new.eml"}
        assert PageRetriever(store=store, k=1, mode="lexical").search("quokka")[0].doc == "old.pdf"


def test_a_run_stopped_before_the_attachments_is_completed_by_the_next_run(
        tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    from docagent.index.indexer import Indexer

    path = tmp_path / "late.eml"
    path.write_bytes(bytes(message("Two files", "Both attached.", [
        ("a.pdf", pdf_bytes("The gecko count is 3"), "application/pdf"),
        ("b.pdf", pdf_bytes("The iguana count is 5"), "application/pdf")])))
    settings = Settings(store=tmp_path / "store", ocr="off")

    def killed(*args: object, **kwargs: object) -> None:  # the process dies once the message itself is written
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(Indexer, "_attachments", killed)
        with PageStore(settings, embedder=embedder) as store, pytest.raises(KeyboardInterrupt):
            index_paths([path], store=store, progress=False)
    with PageStore(settings, embedder=embedder) as store:
        report = index_paths([path], store=store, progress=False)
        assert report.skipped == 0 and report.documents == 3
        assert sorted(d.name for d in store.documents()) == ["late.eml", "late.eml/a.pdf", "late.eml/b.pdf"]
        assert index_paths([path], store=store, progress=False).skipped == 1  # complete now: skipped as unchanged
