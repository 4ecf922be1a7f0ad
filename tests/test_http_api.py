"""The HTTP API: the real server (uvicorn) on a loopback port, called over HTTP.

In-process servers carry scripted chat models (known answers); `docagent serve` runs as a subprocess for
what only the command decides (refusing to listen beyond loopback without a token, requiring it when set).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import Field

pytest.importorskip("fastapi", reason="the HTTP API needs the server extra: pip install 'docagent[server]'")

import uvicorn

from docagent.config import Settings
from docagent.index.indexer import index_paths
from docagent.models.abilities import ModelAbilities
from docagent_connectors.http_api import ApiSettings, create_app
from tests import factories
from tests.factories import mail_with_pdf, word_file, workbook
from tests.processes import wait_until_up
from tests.scripted import Scripted, scripted
from tests.test_agents import INVOICE, REPORT, REVENUE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port, in a thread; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def files(docs_dir: Path) -> dict[str, Path]:
    return {"invoice": factories.text_pdf(docs_dir / "invoice.pdf", INVOICE),
            "report": factories.text_pdf(docs_dir / "report.pdf", REPORT),
            "form": factories.form_pdf(docs_dir / "membership.pdf")}


@pytest.fixture
def indexed(settings: Settings, files: dict[str, Path]) -> Settings:
    assert not index_paths(list(files.values()), settings, progress=False).failed
    return settings


def sse(response: httpx.Response) -> list[tuple[str, Any]]:
    """(event, data) pairs of a server-sent-event stream."""
    events, kind, data = [], "message", []
    for line in response.iter_lines():
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            events.append((kind, json.loads("\n".join(data))))
            kind, data = "message", []
    return events


def test_upload_indexes_good_files_and_rejects_bad_ones_by_content_and_size(settings: Settings, files: dict[str, Path],
                                                                            tmp_path: Path) -> None:
    html = b"<!doctype html><html><body>Not a PDF</body></html>"
    big = b"%PDF-1.7\n" + b"0" * (1 << 20)
    api = ApiSettings(max_upload_mb=0.5)
    with running(create_app(settings, api)) as url, httpx.Client(base_url=url, timeout=120) as client:
        uploads = [("files", ("invoice.pdf", files["invoice"].read_bytes(), "application/pdf")),
                   ("files", ("../../escape.pdf", files["report"].read_bytes(), "application/pdf")),
                   ("files", ("page.pdf", html, "application/pdf")),
                   ("files", ("huge.pdf", big, "application/pdf"))]
        r = client.post("/documents", params={"wait": "true"}, files=uploads)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["indexed"]["documents"] == 2
        rejected = {x["file"]: (x["status"], x["error"]) for x in body["rejected"]}
        assert rejected["page.pdf"][0] == 415 and "content looks like an HTML page" in rejected["page.pdf"][1]
        assert rejected["huge.pdf"] == (413, "larger than the limit of 0.5 MiB; split or compress it")
        names = [d["doc"] for d in client.get("/documents").json()["documents"]]
        assert sorted(names) == ["escape.pdf", "invoice.pdf"]  # the path was dropped from the name
        assert not (tmp_path.parent / "escape.pdf").exists() and not (settings.store.parent / "escape.pdf").exists()
        only_bad = client.post("/documents", params={"wait": "true"}, files=[("files", ("page.pdf", html, "application/pdf"))])
        assert only_bad.status_code == 415
        too_many = client.post("/documents", params={"wait": "true"}, files=[("files", (f"{i}.pdf", b"%PDF-", "application/pdf")) for i in range(21)])
        assert too_many.status_code == 413 and "at most 20 files" in too_many.json()["detail"]


def test_search_ask_and_the_cited_page_image(indexed: Settings) -> None:
    llm = scripted("The total due is 7,981.99 EUR [1].")
    with running(create_app(indexed, llm=llm)) as url, httpx.Client(base_url=url, timeout=120) as client:
        hits = client.get("/search", params={"q": "total due invoice", "k": 2}).json()["results"]
        assert (hits[0]["doc"], hits[0]["page"]) == ("invoice.pdf", 1)
        cards = {d["doc"]: d["card"] for d in client.get("/documents").json()["documents"]}
        assert cards["invoice.pdf"]["kind"] == "invoice" and "Northwind Solar" in cards["invoice.pdf"]["title"]
        by_kind = client.get("/search", params={"q": "total due", "doc_kind": "invoice"}).json()["results"]
        assert {h["doc"] for h in by_kind} == {"invoice.pdf"}
        assert client.get("/search", params={"q": "total due", "doc_kind": "manual"}).json()["results"] == []
        assert client.get("/search", params={"q": "total due", "year": "soon"}).status_code == 422
        answer = client.post("/ask", json={"question": "What is the total due on the invoice?", "k": 2}).json()
        assert answer["answer"] == "The total due is 7,981.99 EUR [1]." and not answer["abstained"]
        citation = answer["citations"][0]
        assert (citation["doc"], citation["page"]) == ("invoice.pdf", 1) and citation["boxes"]
        image = client.get(citation["image_url"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content.startswith(b"\x89PNG")
        assert client.get("/documents/invoice.pdf/pages/9.png").status_code == 404


def test_without_a_model_the_lead_says_how_sure_it_is(indexed: Settings, tmp_path: Path) -> None:
    """Retrieval-only over HTTP: the lead with its confidence and whether to check it, as in the CLI and the app."""
    settings = indexed.model_copy(update={"vlm_model": str(tmp_path / "no-such-model")})
    with running(create_app(settings)) as url, httpx.Client(base_url=url, timeout=120) as client:
        answer = client.post("/ask", json={"question": "What is the total due on the invoice?", "k": 2}).json()
    lead = answer["answer_span"]
    assert answer["mode"] == "retrieval-only" and lead["doc"] == "invoice.pdf"
    assert 0 < lead["confidence"] < 1 and lead["needs_review"] == (lead["confidence"] < 0.8) and lead["basis"]
    assert answer["answer"].startswith(("Most likely answer (found without a model, confidence ",
                                        "Possible answer, check it (found without a model, confidence "))


def test_a_cited_image_is_the_cited_version_even_after_a_replacement(indexed: Settings, docs_dir: Path) -> None:
    """Results and citations name their page image by version (``image``: docagent://pages/{version}/{n}.png), served
    at /pages/{version}/{n}.png by any replica; once the document is replaced that URL says so (404) instead of
    showing the new version's page under the old answer's boxes."""
    llm = scripted("The total due is 7,981.99 EUR [1].")
    with running(create_app(indexed, llm=llm)) as url, httpx.Client(base_url=url, timeout=120) as client:
        hit = client.get("/search", params={"q": "total due invoice", "k": 1}).json()["results"][0]
        citation = client.post("/ask", json={"question": "What is the total due on the invoice?", "k": 2}).json()["citations"][0]
        assert hit["image"] == citation["image"] and hit["image"].startswith("docagent://pages/")
        versioned = hit["image"].removeprefix("docagent:/")
        first = client.get(versioned)
        assert first.status_code == 200 and first.content == client.get(citation["image_url"]).content
        assert str(indexed.store) not in json.dumps(hit) + json.dumps(citation)  # no path of the server's disk

        factories.text_pdf(docs_dir / "invoice.pdf", ["Credit note: nothing is due."])
        assert client.post("/documents", params={"wait": "true"},
                           files=[("files", ("invoice.pdf", (docs_dir / "invoice.pdf").read_bytes(), "application/pdf"))]
                           ).json()["indexed"]["replaced"] == ["invoice.pdf"]
        gone = client.get(versioned)
        assert gone.status_code == 404 and "replaced or removed" in gone.json()["detail"]
        assert client.get(citation["image_url"]).content != first.content  # the name shows the new version
        assert client.get("/pages/not-a-version/1.png").status_code == 404


def test_ask_streams_tokens_then_the_answer(indexed: Settings) -> None:
    llm = scripted("The total due is 7,981.99 EUR [1].")
    with running(create_app(indexed, llm=llm)) as url, httpx.Client(base_url=url, timeout=120) as client, \
            client.stream("POST", "/ask", json={"question": "What is the total due?", "stream": True}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse(r)
    tokens = [data["text"] for kind, data in events if kind == "token"]
    assert len(tokens) > 3 and events[-1][0] == "answer"
    assert "".join(tokens) == events[-1][1]["answer"] == "The total due is 7,981.99 EUR [1]."
    assert events[-1][1]["citations"][0]["doc"] == "invoice.pdf"


@pytest.mark.slow
def test_extract_and_chart(indexed: Settings) -> None:
    fields = [{"name": "full_name", "type": "str"}, {"name": "newsletter", "type": "bool"}]
    with running(create_app(indexed, llm=scripted())) as url, httpx.Client(base_url=url, timeout=120) as client:
        r = client.post("/extract", json={"docs": ["membership.pdf"], "fields": fields})
        got = r.json()["documents"][0]["fields"]
        assert got["full_name"]["value"] == "Ada Lovelace" and got["newsletter"]["value"] is True
        assert got["full_name"]["source"] == "acroform" and got["full_name"]["page"] == 1
        assert got["full_name"]["label"] == "Applicant's full name"
        # every field asked for comes back, untyped ones as text: not found is null with its reason
        r = client.post("/extract", json={"docs": ["membership.pdf"], "use_model": False,
                                          "fields": [{"name": "po_number", "type": ""}, {"name": "member_no"}]})
        got = r.json()["documents"][0]["fields"]
        assert r.status_code == 200 and list(got) == ["po_number", "member_no"]
        assert (got["po_number"]["value"], got["po_number"]["source"], got["po_number"]["reason"]) == (
            None, "none", "not found on the pages")
        assert (got["member_no"]["value"], got["member_no"]["reason"]) == (None, "the form field is empty")
        assert client.post("/extract", json={"docs": ["nope.pdf"]}).status_code == 404
    llm = scripted(REVENUE, {"expression": 'cell("Q4") - cell("Q1")'})
    with running(create_app(indexed, llm=llm)) as url, httpx.Client(base_url=url, timeout=120) as client:
        r = client.post("/chart", json={"doc": "report.pdf", "page": 1, "question": "How much higher was Q4 than Q1?"})
        assert r.status_code == 200 and r.json()["exact"] == "470" and r.json()["page"] == 1


def test_remove_bad_requests_and_the_openapi_spec(indexed: Settings) -> None:
    with running(create_app(indexed, llm=scripted())) as url, httpx.Client(base_url=url, timeout=120) as client:
        assert client.post("/ask", json={"question": "q", "docs": ["missing.pdf"]}).status_code == 404
        assert client.post("/ask", json={"question": "q", "k": 0}).status_code == 422
        assert client.delete("/documents/invoice.pdf").json() == {"removed": "invoice.pdf", "attachments_removed": []}
        assert client.delete("/documents/invoice.pdf").status_code == 404
        assert "invoice.pdf" not in [d["doc"] for d in client.get("/documents").json()["documents"]]
        spec = client.get("/openapi.json").json()
    assert {"/documents", "/documents/{name}", "/search", "/ask", "/extract", "/chart"} <= set(spec["paths"])
    assert spec["components"]["schemas"]["AskRequest"]["properties"]["question"]["description"] == "the question"


def test_a_token_once_set_is_required_on_loopback_too(indexed: Settings) -> None:
    api = ApiSettings(token="s3cret-token")
    with running(create_app(indexed, api, llm=scripted())) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert client.get("/health").status_code == 200  # status only, no data
        refused = client.get("/documents")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert client.get("/documents", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/documents", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200


def _serve(store: Path, host: str, port: int, token: str | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "DOCAGENT_API_TOKEN"}
    if token:
        env["DOCAGENT_API_TOKEN"] = token
    return subprocess.Popen([sys.executable, "-m", "docagent", "serve", "--host", host, "--port", str(port),
                             "--store", str(store)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_docagent_serve_beyond_loopback_refuses_to_start_without_a_token(indexed: Settings) -> None:
    proc = _serve(indexed.store, "0.0.0.0", free_port(), None)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "set DOCAGENT_API_TOKEN" in err and "--host 127.0.0.1" in err


@pytest.mark.slow
def test_docagent_serve_beyond_loopback_requires_the_token(indexed: Settings) -> None:
    port = free_port()
    proc = _serve(indexed.store, "0.0.0.0", port, "tok-123")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(proc, url + "/health", lambda r: r.status_code == 200, "docagent serve",
                      lambda: proc.communicate()[1])
        assert httpx.get(url + "/documents").status_code == 401
        ok = httpx.get(url + "/documents", headers={"Authorization": "Bearer tok-123"})
        assert ok.status_code == 200 and {d["doc"] for d in ok.json()["documents"]} >= {"invoice.pdf"}
    finally:
        proc.terminate()
        proc.wait(30)


# -- Office files, Markdown and e-mail over the API (issue 18) ---------------------------------------------------


@pytest.mark.slow
def test_upload_a_word_file_without_a_suffix_a_workbook_and_markdown_refusing_other_zips(
        settings: Settings, docs_dir: Path) -> None:
    import io
    import zipfile

    report = word_file(docs_dir / "report.docx", ["Revenue rose by 12 percent in the third quarter.",
                                                  "The zanzibarium contract was signed on 3 October."])
    budget = workbook(docs_dir / "budget.xlsx", [("Quokkafluff licences", 1234.5), ("Travel", 800)])
    notes = b"# Meeting notes\n\nWe agreed to order the *marmalite* panels next spring.\n"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:  # a ZIP that is no Office file
        z.writestr("readme.txt", "just a text file in an archive")
    cut = report.read_bytes()[: report.stat().st_size // 2]  # a DOCX cut short: its ZIP directory is gone
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    with running(create_app(settings)) as url, httpx.Client(base_url=url, timeout=300) as client:
        r = client.post("/documents", params={"wait": "true"}, files=[
            ("files", ("quarterly-report", report.read_bytes(), "application/octet-stream")),  # no suffix
            ("files", ("budget.xlsx", budget.read_bytes(), "application/octet-stream")),
            ("files", ("notes.md", notes, "text/markdown")),
            ("files", ("photos.zip", archive.getvalue(), "application/zip")),
            ("files", ("broken.docx", cut, docx_type))])
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["indexed"]["documents"] == 3 and body["indexed"]["failed"] == [], body
        rejected = {x["file"]: (x["status"], x["error"]) for x in body["rejected"]}
        assert set(rejected) == {"photos.zip", "broken.docx"}, body
        status, error = rejected["photos.zip"]
        assert status == 415 and "a ZIP archive that is no Word, PowerPoint, Excel or OpenDocument file" in error
        assert "unpack it and index the files inside" in error
        status, error = rejected["broken.docx"]
        assert status == 415 and "damaged or truncated ZIP" in error and "re-export or re-download it" in error

        listed = {d["doc"]: d for d in client.get("/documents").json()["documents"]}
        assert set(listed) == {"quarterly-report.docx", "budget.xlsx", "notes.md"}  # the Word suffix was added
        assert {name: d["kind"] for name, d in listed.items()} == {
            "quarterly-report.docx": "word", "budget.xlsx": "spreadsheet", "notes.md": "markdown"}
        assert listed["quarterly-report.docx"]["pages"] == 2 and listed["quarterly-report.docx"]["attached_to"] is None

        hits = client.get("/search", params={"q": "zanzibarium contract", "k": 3}).json()["results"]
        assert (hits[0]["doc"], hits[0]["page"]) == ("quarterly-report.docx", 2), hits
        assert "zanzibarium" in hits[0]["text"]
        image = client.get(hits[0]["image_url"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content.startswith(b"\x89PNG")
        assert client.get("/documents/quarterly-report.docx/pages/3.png").status_code == 404

        cell = client.get("/search", params={"q": "Quokkafluff licences", "k": 3}).json()["results"]
        assert cell[0]["doc"] == "budget.xlsx" and "1234.5" in cell[0]["text"].replace(",", ""), cell
        md = client.get("/search", params={"q": "marmalite panels", "k": 3}).json()["results"]
        assert (md[0]["doc"], md[0]["page"]) == ("notes.md", 1) and "marmalite" in md[0]["text"]
        assert client.get(md[0]["image_url"]).content.startswith(b"\x89PNG")

        only_bad = client.post("/documents", params={"wait": "true"}, files=[("files", ("broken.docx", cut, docx_type))])
        assert only_bad.status_code == 415 and only_bad.json()["indexed"] is None


def test_upload_an_email_indexes_its_attachment_and_removing_the_message_removes_both(
        settings: Settings, docs_dir: Path) -> None:
    from urllib.parse import quote

    pdf = factories.text_pdf(docs_dir / "invoice.pdf", INVOICE)
    eml = mail_with_pdf(pdf, "invoice.pdf", "Hello,\n\nplease find the invoice for the heliotrope array attached.\n")
    attachment = "msg.eml/invoice.pdf"
    with running(create_app(settings)) as url, httpx.Client(base_url=url, timeout=300) as client:
        r = client.post("/documents", params={"wait": "true"}, files=[("files", ("msg.eml", eml, "message/rfc822"))])
        assert r.status_code == 200, r.text
        assert r.json()["rejected"] == [] and r.json()["indexed"]["documents"] >= 1, r.json()
        listed = {d["doc"]: d for d in client.get("/documents").json()["documents"]}
        assert set(listed) == {"msg.eml", attachment}, listed
        assert (listed["msg.eml"]["kind"], listed["msg.eml"]["attached_to"]) == ("email", None)
        assert (listed[attachment]["kind"], listed[attachment]["attached_to"]) == ("pdf", "msg.eml")
        assert listed[attachment]["pages"] == 2

        body = client.get("/search", params={"q": "heliotrope array", "k": 3}).json()["results"]
        assert (body[0]["doc"], body[0]["page"]) == ("msg.eml", 1), body
        hits = client.get("/search", params={"q": "total due invoice", "k": 3}).json()["results"]
        assert (hits[0]["doc"], hits[0]["page"]) == (attachment, 1), hits
        assert hits[0]["image_url"] == f"/documents/{quote(attachment, safe='')}/pages/1.png"
        image = client.get(hits[0]["image_url"])  # the attachment's page, its name's "/" encoded as %2F
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG"), (image.status_code, image.text)

        removed = client.delete("/documents/msg.eml")
        assert removed.status_code == 200 and removed.json()["removed"] == "msg.eml"
        assert client.get("/documents").json()["documents"] == []  # the attachment went with its message
        assert client.get("/search", params={"q": "total due invoice"}).json()["results"] == []
        assert client.get(hits[0]["image_url"]).status_code == 404


def test_an_attachment_can_be_removed_by_its_name(settings: Settings, docs_dir: Path) -> None:
    """DELETE /documents/{name} with the "/" of an attachment's name percent-encoded."""
    from urllib.parse import quote

    pdf = factories.text_pdf(docs_dir / "invoice.pdf", INVOICE)
    with running(create_app(settings)) as url, httpx.Client(base_url=url, timeout=300) as client:
        r = client.post("/documents", params={"wait": "true"}, files=[("files", ("msg.eml", mail_with_pdf(pdf, "invoice.pdf", "See attached."),
                                                        "message/rfc822"))])
        assert r.status_code == 200, r.text
        gone = client.delete(f"/documents/{quote('msg.eml/invoice.pdf', safe='')}")
        assert gone.status_code == 200, (gone.status_code, gone.text)
        assert gone.json() == {"removed": "msg.eml/invoice.pdf", "attachments_removed": []}
        assert [d["doc"] for d in client.get("/documents").json()["documents"]] == ["msg.eml"]


def test_two_replicas_uploading_one_new_name_at_once_one_wins_and_the_other_is_told(settings: Settings,
                                                                                       docs_dir: Path) -> None:
    """Two API processes on one store (two app instances: no lock of one process is shared); both are sent a file of
    the same new name with replace=false at the same moment."""
    (docs_dir / "a").mkdir()
    (docs_dir / "b").mkdir()
    first = factories.text_pdf(docs_dir / "a" / "plan.pdf", ["Plan A: the bridge opens in May."])
    second = factories.text_pdf(docs_dir / "b" / "plan.pdf", ["Plan B: the bridge opens in June."])
    replies: list[httpx.Response] = []
    with running(create_app(settings)) as one, running(create_app(settings)) as two:
        start = threading.Barrier(2)

        def upload(url: str, path: Path) -> None:
            with httpx.Client(base_url=url, timeout=300) as client:
                start.wait()
                replies.append(client.post("/documents", params={"replace": "false", "wait": "true"},
                                           files=[("files", ("plan.pdf", path.read_bytes(), "application/pdf"))]))

        threads = [threading.Thread(target=upload, args=args) for args in ((one, first), (two, second))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        with httpx.Client(base_url=one, timeout=60) as client:
            docs = client.get("/documents").json()["documents"]
    assert sorted(r.status_code for r in replies) == [200, 409], [r.text for r in replies]
    told = next(r for r in replies if r.status_code == 409).json()["rejected"][0]
    assert told["file"] == "plan.pdf" and "already indexed" in told["error"]
    assert [d["doc"] for d in docs] == ["plan.pdf"] and docs[0]["pages"] == 1
    won = next(r for r in replies if r.status_code == 200).json()["indexed"]
    assert won["documents"] == 1 and won["replaced"] == []


def test_an_upload_is_a_job_whose_progress_any_replica_reports(settings: Settings, files: dict[str, Path]) -> None:
    """202 at once with a job id; GET /jobs/{id} on the other replica of the same store follows it to the end."""
    with running(create_app(settings)) as one, running(create_app(settings)) as two, \
            httpx.Client(timeout=120) as client:
        started = client.post(one + "/documents", files=[
            ("files", ("invoice.pdf", files["invoice"].read_bytes(), "application/pdf")),
            ("files", ("report.pdf", files["report"].read_bytes(), "application/pdf")),
            ("files", ("page.pdf", b"<!doctype html><html>no</html>", "application/pdf"))])
        assert started.status_code == 202, started.text
        body = started.json()
        assert body["state"] == "queued" and body["files"] == ["invoice.pdf", "report.pdf"]
        assert body["status_url"] == f"/jobs/{body['job']}" and body["rejected"][0]["status"] == 415
        seen: list[tuple[str, int]] = []
        deadline = time.monotonic() + 120
        while True:
            status = client.get(two + body["status_url"])
            assert status.status_code == 200, status.text
            job = status.json()
            seen.append((job["state"], job["done"]))
            if job["state"] in ("done", "failed"):
                break
            assert time.monotonic() < deadline, seen
            time.sleep(0.05)
        assert job["state"] == "done" and job["done"] == job["total"] == 2, job
        assert job["indexed"]["documents"] == 2 and [r["status"] for r in job["rejected"]] == [415]
        assert [s for s, _ in seen][-1] == "done" and all(s in ("queued", "running", "done") for s, _ in seen)
        assert sorted(d["doc"] for d in client.get(two + "/documents").json()["documents"]) == ["invoice.pdf", "report.pdf"]
        assert client.get(two + "/jobs/0000000000000000").status_code == 404


class _Served(Scripted):
    """A scripted model that says it is served elsewhere (as ChatOpenAIServer does); each generation waits (30 s at most)
    until ``expected`` are under way, and ``peak`` records how many ever were at once."""

    abilities: ClassVar[ModelAbilities] = ModelAbilities(local=False)
    expected: int = 2
    active: list[int] = Field(default_factory=list)
    peak: list[int] = Field(default_factory=list)

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.active.append(1)
        self.peak.append(len(self.active))
        deadline = time.monotonic() + 30
        while len(self.active) < self.expected and time.monotonic() < deadline:
            time.sleep(0.01)
        self.peak.append(len(self.active))
        try:
            return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        finally:
            self.active.pop()


def test_a_model_served_elsewhere_answers_requests_at_once_not_in_turn(indexed: Settings) -> None:
    from langchain_core.messages import AIMessage

    llm = _Served(messages=iter([AIMessage("The total due is 7,981.99 EUR [1].")] * 2))
    with running(create_app(indexed, llm=llm)) as url, ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda _: httpx.post(url + "/ask", json={"question": "What is the total due?", "k": 1},
                                                     timeout=120), range(2)))
    assert [r.status_code for r in replies] == [200, 200]
    assert max(llm.peak) == 2, "the second generation waited for the first: requests to a served model were taken in turn"
