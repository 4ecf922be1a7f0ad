"""The servers under attack, under load and beside other writers (issue 16): real `docagent serve`
processes on loopback ports, real `docagent index` / `rm` processes on the same store."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi", reason="the HTTP API needs the server extra: pip install 'docagent[server]'")

from docagent.config import Settings
from docagent.index.indexer import index_paths
from tests import factories
from tests.processes import wait_until_up
from tests.test_http_api import free_port

ZEBRAS = [f"Field notes {i}: the zebra herds crossed the Mara river at dawn, {i * 40} animals counted." for i in range(1, 7)]
LATTICE = [f"Lab report {i}: the quantum lattice held its coherence for {i * 3} microseconds." for i in range(1, 7)]


def _env(token: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCAGENT_")}
    if token is not None:
        env["DOCAGENT_API_TOKEN"] = token
    return env


@contextlib.contextmanager
def serving(store: Path, *, host: str = "127.0.0.1", token: str | None = None,
            extra: tuple[str, ...] = ()) -> Iterator[str]:
    """`docagent serve` on a free port over ``store``; yields the base URL once /health answers."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "docagent", "serve", "--host", host, "--port", str(port),
                             "--store", str(store), *extra], env=_env(token), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, url + "/health", lambda r: r.status_code == 200, "docagent serve",
                      lambda: proc.communicate()[1])
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "docagent", *args], env=_env(), capture_output=True, text=True,
                          timeout=300, check=False)


def _texts(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return " ".join(r["text"] for r in response.json()["results"])


# ------------------------------------------------------------------- one store, many processes


@pytest.mark.slow
def test_a_running_server_sees_what_another_process_indexes_and_removes(settings: Settings, docs_dir: Path,
                                                                         tmp_path: Path) -> None:
    report = factories.text_pdf(docs_dir / "report.pdf", ZEBRAS)
    assert not index_paths([report], settings, progress=False).failed
    with serving(settings.store) as url, httpx.Client(base_url=url, timeout=120) as client:
        assert "zebra" in _texts(client.get("/search", params={"q": "zebra herds river", "k": 3}))
        changed = tmp_path / "changed"
        changed.mkdir()
        factories.text_pdf(changed / "report.pdf", LATTICE)  # the same name, other content: replaces it
        done = _cli("index", str(changed / "report.pdf"), "--store", str(settings.store))
        assert done.returncode == 0, done.stderr
        for _ in range(3):  # every later request, not just the first
            found = _texts(client.get("/search", params={"q": "quantum lattice coherence", "k": 3}))
            assert "quantum lattice" in found and "zebra" not in found
            assert "zebra" not in _texts(client.get("/search", params={"q": "zebra herds river", "k": 3}))
            asked = client.post("/ask", json={"question": "How long did the lattice hold its coherence?"})
            assert asked.status_code == 200 and asked.json()["citations"]
        removed = _cli("rm", "report.pdf", "--store", str(settings.store))
        assert removed.returncode == 0, removed.stderr
        assert client.get("/search", params={"q": "quantum lattice", "k": 3}).json()["results"] == []


@pytest.mark.slow
def test_what_one_server_writes_another_long_lived_reader_sees(settings: Settings, docs_dir: Path) -> None:
    assert not index_paths([factories.text_pdf(docs_dir / "report.pdf", ZEBRAS)], settings, progress=False).failed
    memo = factories.text_pdf(docs_dir / "memo.pdf", LATTICE)
    with serving(settings.store) as writer, serving(settings.store) as reader, \
            httpx.Client(timeout=120) as client:
        assert "zebra" in _texts(client.get(reader + "/search", params={"q": "zebra herds", "k": 3}))
        with memo.open("rb") as f:
            assert client.post(writer + "/documents", params={"wait": "true"}, files=[("files", ("memo.pdf", f, "application/pdf"))]).status_code == 200
        assert "quantum lattice" in _texts(client.get(reader + "/search", params={"q": "quantum lattice", "k": 3}))
        assert client.delete(writer + "/documents/report.pdf").status_code == 200
        found = _texts(client.get(reader + "/search", params={"q": "zebra herds river", "k": 5}))
        assert "zebra" not in found
        assert [d["doc"] for d in client.get(reader + "/documents").json()["documents"]] == ["memo.pdf"]


# ------------------------------------------------------------------------------ authentication


@pytest.mark.parametrize("token", ["", "   "])
@pytest.mark.parametrize("host", ["127.1", "0.0.0.0"])
def test_an_empty_token_is_refused_not_taken_for_no_token(settings: Settings, token: str, host: str) -> None:
    port = free_port()
    proc = subprocess.run([sys.executable, "-m", "docagent", "serve", "--host", host, "--port", str(port),
                           "--store", str(settings.store)], env=_env(token), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 1 and "DOCAGENT_API_TOKEN is set but empty" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_loopback_in_every_spelling_and_nothing_else() -> None:
    from docagent.config import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "", "10.0.0.1", "example.com", "127.1 x"))


# ------------------------------------------------------------------ in-process servers (uvicorn)


@pytest.fixture
def three_pages(settings: Settings, docs_dir: Path) -> Settings:
    report = factories.text_pdf(docs_dir / "report.pdf", ZEBRAS[:3])
    assert not index_paths([report], settings, progress=False).failed
    return settings


def test_simultaneous_first_renders_of_a_page_all_succeed(three_pages: Settings) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from docagent_connectors.http_api import create_app
    from tests.test_http_api import running

    with running(create_app(three_pages)) as url:
        def get(_: int) -> httpx.Response:
            return httpx.get(url + "/documents/report.pdf/pages/3.png", timeout=60)

        with ThreadPoolExecutor(12) as pool:
            responses = list(pool.map(get, range(12)))
    assert [r.status_code for r in responses] == [200] * 12
    assert len({r.content for r in responses}) == 1 and responses[0].content.startswith(b"\x89PNG")
    assert not list((three_pages.store / "pages").rglob("*.tmp*"))


class _Endless:
    """Builds a chat model that streams for ever when asked to ("forever") and answers at once otherwise;
    ``stopped`` is set when a never-ending stream is closed by its reader."""

    @staticmethod
    def model() -> Any:
        from langchain_core.language_models import BaseChatModel
        from langchain_core.messages import AIMessage, AIMessageChunk
        from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

        class Endless(BaseChatModel):
            stopped: Any

            @property
            def _llm_type(self) -> str:
                return "endless"

            def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
                return ChatResult(generations=[ChatGeneration(message=AIMessage("The herds crossed at dawn."))])

            def _stream(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
                if "forever" not in str(messages):
                    yield ChatGenerationChunk(message=AIMessageChunk(content="The herds crossed at dawn."))
                    return
                try:
                    while True:
                        time.sleep(0.02)
                        yield ChatGenerationChunk(message=AIMessageChunk(content="la "))
                finally:
                    self.stopped.set()

        import threading

        return Endless(stopped=threading.Event())


def test_a_client_leaving_a_stream_frees_the_model_for_the_next_question(three_pages: Settings) -> None:
    from docagent_connectors.http_api import create_app
    from tests.test_http_api import running

    llm = _Endless.model()
    with running(create_app(three_pages, llm=llm)) as url, httpx.Client(base_url=url, timeout=30) as client:
        with client.stream("POST", "/ask", json={"question": "Sing about the zebras forever", "stream": True}) as r:
            for line in r.iter_lines():
                if line.startswith("event: token"):
                    break  # and hang up
        assert llm.stopped.wait(15), "generation went on after the client left"
        answer = client.post("/ask", json={"question": "When did the herds cross the river?"})
        assert answer.status_code == 200 and answer.json()["mode"] == "vlm"


def test_bad_input_is_a_4xx_with_a_reason_never_a_500(three_pages: Settings, docs_dir: Path) -> None:
    from docagent_connectors.http_api import ApiSettings, create_app
    from tests.test_http_api import running

    emoji = "\U0001f600" * 70 + ".pdf"
    api = ApiSettings(max_json_kb=64)
    with running(create_app(three_pages, api)) as url, httpx.Client(base_url=url, timeout=60) as client:
        with (docs_dir / "report.pdf").open("rb") as f:
            up = client.post("/documents", params={"wait": "true"}, files=[("files", (emoji, f, "application/pdf"))])
        assert up.status_code == 200, up.text
        [doc] = [d["doc"] for d in client.get("/documents").json()["documents"] if d["doc"] != "report.pdf"]
        assert doc.endswith(".pdf") and len(doc.encode()) <= 200
        bad_schema = client.post("/extract", json={"docs": ["report.pdf"], "json_schema": {"properties": {"a": 1}}})
        assert bad_schema.status_code == 400 and "properties/a" in bad_schema.json()["detail"]
        huge_k = client.post("/ask", content=b'{"question": "zebras?", "k": 1e400}',
                             headers={"content-type": "application/json"})
        assert huge_k.status_code == 422 and huge_k.json()["detail"][0]["loc"] == ["body", "k"]
        big = client.post("/ask", json={"question": "x", "docs": ["y" * 1000] * 100})
        assert big.status_code == 413

        def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"question": "x", "docs": ['
            for _ in range(200):
                yield b'"' + b"y" * 1000 + b'",'
            yield b'"z"]}'

        streamed = client.post("/ask", content=chunked(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413


def test_web_pages_cannot_reach_or_change_a_loopback_server(three_pages: Settings, docs_dir: Path) -> None:
    from docagent_connectors.http_api import create_app
    from tests.test_http_api import running

    with running(create_app(three_pages)) as url, httpx.Client(base_url=url, timeout=60) as client:
        rebound = client.get("/documents", headers={"Host": "attacker.example:8080"})
        assert rebound.status_code == 421 and "loopback" in rebound.json()["detail"]
        assert client.get("/documents", headers={"Host": "localhost"}).status_code == 200
        with (docs_dir / "report.pdf").open("rb") as f:
            forged = client.post("/documents", params={"wait": "true"}, files=[("files", ("evil.pdf", f, "application/pdf"))],
                                 headers={"Origin": "http://attacker.example"})
        assert forged.status_code == 403
        assert client.delete("/documents/report.pdf", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        assert [d["doc"] for d in client.get("/documents").json()["documents"]] == ["report.pdf"]
        factories.text_pdf(docs_dir / "new" / "report.pdf", LATTICE[:2]) if (docs_dir / "new").mkdir() is None else None
        with (docs_dir / "new" / "report.pdf").open("rb") as f:
            kept = client.post("/documents", params={"replace": "false", "wait": "true"},
                               files=[("files", ("report.pdf", f, "application/pdf"))])
        assert kept.status_code == 409 and "replace=true" in kept.json()["rejected"][0]["error"]
        with (docs_dir / "new" / "report.pdf").open("rb") as f:
            replaced = client.post("/documents", params={"wait": "true"}, files=[("files", ("report.pdf", f, "application/pdf"))],
                                   headers={"Origin": url})
        assert replaced.status_code == 200 and replaced.json()["indexed"]["replaced"] == ["report.pdf"]
        [record] = client.get("/documents").json()["documents"]
        assert record["source"] == "report.pdf"  # not /tmp/docagent-upload-.../report.pdf
        assert "/" not in json.dumps(replaced.json())


# --------------------------------------------------------------------- a model server that dies


@contextlib.contextmanager
def dying_model_server() -> Iterator[str]:
    """An OpenAI-compatible server that starts streaming an answer, then drops the connection."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in ("The herds ", "crossed "):
                event = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                         "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                data = f"data: {json.dumps(event)}\n\n".encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.close_connection = True  # and no final chunk: the server process died

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1?model=m"
    finally:
        server.shutdown()


@pytest.mark.slow
def test_a_model_server_dying_mid_answer_falls_back_to_retrieval_with_one_line(three_pages: Settings) -> None:
    with dying_model_server() as model_url:
        done = subprocess.run([sys.executable, "-m", "docagent", "ask", "When did the herds cross the river?",
                               "--store", str(three_pages.store), "--model", model_url],
                              env=_env(), capture_output=True, text=True,
                              timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        [why] = [line for line in done.stderr.splitlines() if "retrieval-only" in line]
        assert "stopped in the middle of an answer" in why
        assert "report.pdf" in done.stdout  # the passages that were found, with their pages

        from docagent_connectors.http_api import create_app
        from tests.test_http_api import running, sse

        with running(create_app(three_pages, model=model_url)) as url:
            with httpx.Client(base_url=url, timeout=120) as client:
                with client.stream("POST", "/ask", json={"question": "When did the herds cross?", "stream": True}) as r:
                    events = sse(r)
        kind, answer = events[-1]
        assert kind == "answer" and answer["mode"] == "retrieval-only" and "stopped" in answer["notice"]
        assert answer["citations"][0]["doc"] == "report.pdf"


# ---------------------------------------------------------------------------------- memory


def test_a_remembered_model_failure_does_not_grow_with_each_ask() -> None:
    import traceback

    from docagent.errors import ModelError
    from docagent.models.resolve import loaded_chat_model

    depths = []
    for _ in range(5):
        with pytest.raises(ModelError) as caught:
            loaded_chat_model("/nonexistent/model-folder-for-this-test")
        depths.append(len(traceback.extract_tb(caught.value.__traceback__)))
    assert depths[1:] == [depths[1]] * 4, depths


def test_reading_threads_do_not_leave_connections_open(three_pages: Settings) -> None:
    import threading

    from docagent.index.store import PageStore

    def open_catalogs() -> int:
        return sum(1 for fd in Path("/proc/self/fd").iterdir()
                   if os.path.realpath(fd).endswith("catalog.sqlite"))

    with PageStore(three_pages) as store:
        before = open_catalogs()
        for _ in range(30):  # a thread per streamed answer, as the server once did
            t = threading.Thread(target=lambda: store.catalog.card_scores(["zebra"]))
            t.start()
            t.join()
        import gc

        gc.collect()
        assert open_catalogs() <= before + 1


# ------------------------------------------------------------------------------- found in review


def test_without_the_token_nothing_of_the_body_is_read(three_pages: Settings) -> None:
    import socket

    from docagent_connectors.http_api import ApiSettings, create_app
    from tests.test_http_api import running

    with running(create_app(three_pages, ApiSettings(token="a-long-enough-token"))) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(b"POST /documents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                         b"boundary=x\r\nContent-Length: 10000000\r\n\r\n")  # and no body at all
            reply = conn.recv(4096)
    assert reply.startswith(b"HTTP/1.1 401"), reply[:80]


def test_the_model_folder_url_and_credentials_stay_on_the_server(three_pages: Settings) -> None:
    from docagent_connectors.http_api import create_app
    from tests.test_http_api import running

    for secret in ("/home/alice/secret-models/idefics2-ft", "http://admin:hunter2@127.0.0.1:9/v1"):
        with running(create_app(three_pages, model=secret)) as url, httpx.Client(base_url=url, timeout=120) as client:
            health = client.get("/health").json()
            asked = client.post("/ask", json={"question": "When did the herds cross?"})
            assert health["model"] == "configured"
            assert asked.status_code == 200 and asked.json()["mode"] == "retrieval-only"
            text = json.dumps(asked.json())
            assert "alice" not in text and "hunter2" not in text and "127.0.0.1:9" not in text
            assert "the configured model" in asked.json()["notice"]


def test_a_client_hanging_up_on_a_plain_question_frees_the_model(three_pages: Settings) -> None:
    from docagent_connectors.http_api import create_app
    from tests.test_http_api import running

    llm = _Endless.model()
    with running(create_app(three_pages, llm=llm)) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url + "/ask", json={"question": "Sing about the zebras forever"}, timeout=2)
        assert llm.stopped.wait(15), "generation went on after the client left"
        answer = httpx.post(url + "/ask", json={"question": "When did the herds cross the river?"}, timeout=30)
        assert answer.status_code == 200


def test_pages_of_another_site_cannot_probe_documents(three_pages: Settings, docs_dir: Path) -> None:
    from docagent_connectors.http_api import create_app
    from tests.test_http_api import running

    with running(create_app(three_pages)) as url, httpx.Client(base_url=url, timeout=60) as client:
        probe = client.get("/documents/report.pdf/pages/1.png", headers={"Sec-Fetch-Site": "cross-site",
                                                                         "Sec-Fetch-Mode": "no-cors"})
        assert probe.status_code == 403
        own = client.get("/documents/report.pdf/pages/1.png", headers={"Sec-Fetch-Site": "same-origin"})
        assert own.status_code == 200 and own.headers["cross-origin-resource-policy"] == "same-origin"
        pdf = (docs_dir / "report.pdf").read_bytes()
        both = client.post("/documents", params={"wait": "true"}, files=[("files", ("dup.pdf", pdf, "application/pdf")),
                                                ("files", ("dup", pdf, "application/pdf"))])
        assert [r["file"] for r in both.json()["rejected"]] == ["dup"]
        assert "twice" in both.json()["rejected"][0]["error"]


def test_uploads_are_held_to_their_own_limit_not_the_json_one(three_pages: Settings, tmp_path: Path) -> None:
    from docagent_connectors.http_api import ApiSettings, create_app
    from tests.test_http_api import running

    big = factories.scanned_pdf(tmp_path / "scan.pdf", ["A scanned page " * 4] * 1)
    big.write_bytes(big.read_bytes() + b"%" + os.urandom(600_000))  # 600 KB of comment after the PDF
    with running(create_app(three_pages, ApiSettings(max_json_kb=64, max_upload_mb=2, max_files=1))) as url:
        with big.open("rb") as f:
            ok = httpx.post(url + "/documents", params={"wait": "true"}, files=[("files", ("scan.pdf", f, "application/pdf"))],
                            timeout=120)
        assert ok.status_code == 200, ok.text
        too_big = httpx.post(url + "/documents", timeout=120,
                             files=[("files", ("p.pdf", b"%PDF-1.4" + os.urandom(4_000_000), "application/pdf"))])
        assert too_big.status_code == 413
