"""The servers under attack, under load and beside other writers (issue 16): real `docagent serve`
processes on loopback ports, real `docagent index` / `rm` processes on the same store."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi", reason="the HTTP API needs the server extra: pip install 'docagent[server]'")

from docagent.config import Settings  # noqa: E402
from docagent.index.indexer import index_paths  # noqa: E402
from tests import factories  # noqa: E402
from tests.test_http_api import free_port  # noqa: E402

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
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "docagent serve did not come up"
            time.sleep(0.3)
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


def test_what_one_server_writes_another_long_lived_reader_sees(settings: Settings, docs_dir: Path) -> None:
    assert not index_paths([factories.text_pdf(docs_dir / "report.pdf", ZEBRAS)], settings, progress=False).failed
    memo = factories.text_pdf(docs_dir / "memo.pdf", LATTICE)
    with serving(settings.store) as writer, serving(settings.store) as reader, \
            httpx.Client(timeout=120) as client:
        assert "zebra" in _texts(client.get(reader + "/search", params={"q": "zebra herds", "k": 3}))
        with memo.open("rb") as f:
            assert client.post(writer + "/documents", files=[("files", ("memo.pdf", f, "application/pdf"))]).status_code == 200
        assert "quantum lattice" in _texts(client.get(reader + "/search", params={"q": "quantum lattice", "k": 3}))
        assert client.delete(writer + "/documents/report.pdf").status_code == 200
        found = _texts(client.get(reader + "/search", params={"q": "zebra herds river", "k": 5}))
        assert "zebra" not in found
        assert [d["doc"] for d in client.get(reader + "/documents").json()["documents"]] == ["memo.pdf"]
