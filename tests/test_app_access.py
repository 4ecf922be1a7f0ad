"""`docagent app` beyond loopback, as real processes: refused without access control (a password or an
authenticating proxy the user names), started with one. What the page then asks is in test_app.py (AppTest)
and test_app_browser.py (Chromium)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from docagent.config import is_loopback
from tests.processes import wait_until_up
from tests.test_http_api import free_port

pytest.importorskip("streamlit", reason="the app needs the app extra: pip install 'docagent[app]'")

PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_in_every_form_is_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "[::]", "", "0", "10.1.2.3", "192.168.0.7", "fe80::1",
                                  "example.com", "127.0.0.1 evil.example"])
def test_wildcards_other_addresses_and_names_are_not(host: str) -> None:
    assert not is_loopback(host)


def environment(password: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCAGENT_APP_")}
    if password is not None:
        env["DOCAGENT_APP_PASSWORD"] = password
    return env


def docagent_app(tmp_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "docagent", "app", "--store", str(tmp_path / "store"), "--port", str(free_port()),
            *args]


@pytest.mark.parametrize(("host", "password"), [("0.0.0.0", None), ("::", None), ("[::]", None),
                                                ("0.0.0.0", ""), ("0.0.0.0", " \t ")])
def test_beyond_loopback_without_a_password_or_a_proxy_it_refuses_to_start(tmp_path: Path, host: str,
                                                                           password: str | None) -> None:
    done = subprocess.run(docagent_app(tmp_path, "--host", host), env=environment(password), capture_output=True,
                          text=True, timeout=30)  # today's code starts the server: it never returns
    assert done.returncode == 1, done.stderr
    assert "beyond loopback" in done.stderr and "anyone who reaches it could read, upload and delete" in done.stderr
    assert "set DOCAGENT_APP_PASSWORD (at least 12 characters" in done.stderr and "--behind-auth-proxy" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_short_password_is_refused_on_any_host(tmp_path: Path) -> None:
    done = subprocess.run(docagent_app(tmp_path), env=environment("hunter2"), capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 1
    assert "DOCAGENT_APP_PASSWORD is shorter than 12 characters: choose a longer one" in done.stderr


@contextlib.contextmanager
def started(command: list[str], env: dict[str, str], log: Path):
    """The server `command` starts, until it answers its health check on 127.0.0.1."""
    port = command[command.index("--port") + 1]
    with log.open("w") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_up(proc, f"http://127.0.0.1:{port}/_stcore/health", lambda r: r.text == "ok", "docagent app",
                      log.read_text)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.slow
@pytest.mark.parametrize(("flags", "password"), [((), PASSWORD), (("--behind-auth-proxy",), None)])
def test_beyond_loopback_with_a_password_or_a_named_proxy_it_starts(tmp_path: Path, flags: tuple[str, ...],
                                                                    password: str | None) -> None:
    with started(docagent_app(tmp_path, "--host", "0.0.0.0", *flags), environment(password), tmp_path / "app.log"):
        pass


def test_the_app_starts_as_an_app_without_streamlit_s_deploy_button(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`docagent app` becomes `streamlit run` with the toolbar in viewer mode: no "Deploy" button, no developer
    menu (tests/test_app_browser.py looks for the button in Chromium)."""
    from docagent.cli import main
    from docagent_app import commands

    started: list[list[str]] = []
    monkeypatch.setattr(commands.os, "execve", lambda path, argv, env: started.append(argv))
    monkeypatch.delenv("DOCAGENT_APP_PASSWORD", raising=False)
    assert main(["app", "--store", str(tmp_path / "store"), "--port", "8999"]) == 0
    command = started[0]
    assert command[command.index("--client.toolbarMode") + 1] == "viewer"
