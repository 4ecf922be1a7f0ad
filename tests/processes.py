"""Servers the tests start as real processes: wait until one answers its health check."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable

import httpx


def wait_until_up(proc: subprocess.Popen, health_url: str, ready: Callable[[httpx.Response], bool], what: str,
                  output: Callable[[], str] = lambda: "", seconds: float = 120) -> None:
    """Return once ``health_url`` answers ``ready``; fail with the process's ``output`` if it exits first."""
    deadline = time.monotonic() + seconds
    while True:
        assert proc.poll() is None, output()
        with contextlib.suppress(httpx.TransportError):
            if ready(httpx.get(health_url, timeout=2)):
                return
        assert time.monotonic() < deadline, f"{what} did not come up"
        time.sleep(0.3)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
