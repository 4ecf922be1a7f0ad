"""The blob stores docagent ships pass the shipped contract: the store's folder, and S3 on a real SeaweedFS server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from docagent.index.blobs import BlobStore, LocalBlobs, S3Blobs
from docagent.testing.blobs import BlobStoreContract
from tests.servers import SeaweedS3, seaweed


class TestLocalBlobs(BlobStoreContract):
    @pytest.fixture
    def blobs(self, tmp_path: Path) -> BlobStore:
        return LocalBlobs(tmp_path / "store")


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    with seaweed(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


@pytest.mark.slow
class TestS3Blobs(BlobStoreContract):
    @pytest.fixture
    def blobs(self, s3_server: SeaweedS3, tmp_path: Path, request: pytest.FixtureRequest) -> BlobStore:
        bucket = "contract"
        return S3Blobs(f"s3://{bucket}/{request.node.name[:40]}", tmp_path / "cache", **s3_server.options())

    def test_an_unreachable_server_is_a_store_error_that_says_where(self, tmp_path: Path) -> None:
        from docagent.errors import StoreError

        blobs = S3Blobs("s3://docs/x", tmp_path / "cache", endpoint_url="http://127.0.0.1:9", access_key_id="a",
                        secret_access_key="b")
        with pytest.raises(StoreError, match=r"s3://docs/x.*DOCAGENT_S3_ENDPOINT_URL"):
            blobs.put("files/a.pdf", b"x")
