"""Where a store keeps bytes: the copies of indexed files and the page images, by key.

    files/DOC_ID.ext          the file as the store keeps it (decrypted, or the PDF rendering of a converted document)
    pages/DOC_ID/NNNN.png     a page image (rendered while indexing, or on first use)

:class:`LocalBlobs` keeps them in the store's folder (the default, as every docagent store always has);
:class:`S3Blobs` in S3-compatible object storage (``DOCAGENT_BLOB_URL=s3://bucket/prefix``, with
``DOCAGENT_S3_ENDPOINT_URL`` for a server other than AWS: MinIO, SeaweedFS, Ceph ...), so every machine of a cluster
reads the same bytes. A document version's bytes never change (its id names its content), so a machine may keep what it
fetched: :meth:`BlobStore.local_path` gives a file to hand to a reader that wants one.

Every implementation passes :class:`docagent.testing.blobs.BlobStoreContract`.
"""

from __future__ import annotations

import abc
import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from docagent.config import Settings
from docagent.errors import ConfigError, StoreError

__all__ = ["BlobStore", "LocalBlobs", "S3Blobs", "blob_store"]

STALE_TEMP_SECONDS = 3600
"""A temporary file older than this was left by a crash; a younger one may be a page another process or
thread is drawing right now (readers render without the store lock), so recovery leaves it alone."""


class BlobStore(abc.ABC):
    """Bytes by key (``files/...``, ``pages/...``): written whole or not at all, read whole."""

    url: str
    """Where the bytes are, for people (``doctor``, errors)."""

    @abc.abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any: a reader sees the old bytes or the new, never a part."""

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """The bytes under ``key``; :class:`FileNotFoundError` when there are none."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` (nothing to do when it is absent)."""

    @abc.abstractmethod
    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """Every key starting with ``prefix``, in no particular order."""

    @abc.abstractmethod
    def folders(self, prefix: str) -> set[str]:
        """The names one level below ``prefix`` (``pages/`` -> the document versions that have page images)."""

    def delete_prefix(self, prefix: str) -> None:
        """Remove every key starting with ``prefix``."""
        for key in list(self.list_keys(prefix)):
            self.delete(key)

    @abc.abstractmethod
    def path_for(self, key: str) -> Path:
        """Where :meth:`local_path` finds or puts ``key``'s file on this machine (the file may be absent)."""

    @abc.abstractmethod
    def local_path(self, key: str) -> Path:
        """A file on this machine holding ``key``'s bytes (fetched once and kept: a key's bytes never change);
        :class:`FileNotFoundError` when the key is absent."""

    def check(self) -> None:
        """Raise :class:`~docagent.errors.StoreError`, saying why, when the bytes cannot be reached."""
        try:
            next(iter(self.list_keys("files/")), None)
        except OSError as e:
            msg = f"cannot reach the blob store {self.url} ({e})"
            raise StoreError(msg) from e

    def sweep(self) -> None:  # noqa: B027 - optional hook
        """Remove what crashed writes left behind that is no key's (temporary files)."""


class LocalBlobs(BlobStore):
    """Keys as files under a folder (the store's own)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/"):
            msg = f"not a blob key: {key!r}"
            raise ValueError(msg)
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        _write(self._path(key), data)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        folder = self._path(prefix.rstrip("/"))
        if prefix.endswith("/") and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        else:
            super().delete_prefix(prefix)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        top = prefix.split("/", 1)[0]
        for base in [self.root / top] if top else [self.root / "files", self.root / "pages"]:
            if not base.is_dir():
                continue
            for path in base.rglob("*"):
                key = path.relative_to(self.root).as_posix()
                if path.is_file() and ".tmp" not in path.name and key.startswith(prefix):
                    yield key

    def path_for(self, key: str) -> Path:
        return self._path(key)

    def folders(self, prefix: str) -> set[str]:
        folder = self._path(prefix.rstrip("/"))
        return {child.name for child in folder.iterdir() if child.is_dir()} if folder.is_dir() else set()

    def local_path(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path

    def sweep(self) -> None:
        """Called with the store's lock held, under which file copies are written: a temporary copy is a crash's."""
        for tmp in (self.root / "files").glob("*.tmp*"):
            tmp.unlink(missing_ok=True)
        _sweep(self.root / "pages")


class S3Blobs(BlobStore):
    """Keys as objects under ``s3://BUCKET/PREFIX``, through boto3 (retries with backoff on throttling and dropped
    connections); what this machine read is kept under ``cache`` for :meth:`local_path`. The bucket is created when
    missing."""

    def __init__(self, url: str, cache: Path, *, endpoint_url: str | None = None, access_key_id: str | None = None,
                 secret_access_key: str | None = None, region: str | None = None) -> None:
        try:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError
        except ImportError as e:
            msg = "an S3 blob store needs boto3: pip install 'docagent[cluster]'"
            raise ConfigError(msg) from e
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            msg = f"DOCAGENT_BLOB_URL must look like s3://bucket/prefix, not {url!r}"
            raise ConfigError(msg)
        self.url = url
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/") + "/" if parsed.path.strip("/") else ""
        self.cache = cache
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url, aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
            region_name=region or "us-east-1",
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                          s3={"addressing_style": "path"}))
        self._errors = (self.client.exceptions.ClientError, BotoCoreError, OSError)
        self._unreachable = (BotoCoreError, OSError)
        self._bucket_checked = False

    def _key(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            msg = f"not a blob key: {key!r}"
            raise ValueError(msg)
        return self.prefix + key

    def _failed(self, doing: str, error: Exception) -> StoreError:
        return StoreError(f"the blob store {self.url} failed {doing} ({' '.join(str(error).split())[:200]}); "
                          "check DOCAGENT_S3_ENDPOINT_URL and the credentials, and that the server is up")

    def _ensure_bucket(self) -> None:
        if self._bucket_checked:
            return
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except self.client.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise self._failed("to open the bucket", e) from e
            try:
                self.client.create_bucket(Bucket=self.bucket)
            except self.client.exceptions.ClientError as created:
                if created.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise self._failed("to create the bucket", created) from created
        except self._unreachable as e:
            raise self._failed("to open the bucket", e) from e
        self._bucket_checked = True

    def put(self, key: str, data: bytes) -> None:
        self._ensure_bucket()
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except self._errors as e:
            raise self._failed(f"to write {key}", e) from e
        if key.startswith("pages/"):  # read soon by whoever asked for it; the cache is only a cache
            with contextlib.suppress(OSError):
                _write(self.path_for(key), data)

    def get(self, key: str) -> bytes:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except (self.client.exceptions.NoSuchKey, self.client.exceptions.NoSuchBucket) as e:
            raise FileNotFoundError(key) from e
        except self._errors as e:
            raise self._failed(f"to read {key}", e) from e
        return body

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
                return False
            raise self._failed(f"to look for {key}", e) from e
        except self._unreachable as e:
            raise self._failed(f"to look for {key}", e) from e
        return True

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchBucket:
            pass
        except self._errors as e:
            raise self._failed(f"to delete {key}", e) from e
        (self.cache / key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        keys = [self._key(k) for k in self.list_keys(prefix)]
        try:
            for i in range(0, len(keys), 1000):  # the most one request deletes
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]],
                                                                       "Quiet": True})
        except self._errors as e:
            raise self._failed(f"to delete {prefix}", e) from e
        local = self.cache / prefix
        if prefix.endswith("/"):
            shutil.rmtree(local, ignore_errors=True)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix) if prefix else self.prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"][len(self.prefix):]
        except self.client.exceptions.NoSuchBucket:
            return
        except self._errors as e:
            raise self._failed(f"to list {prefix or 'the keys'}", e) from e

    def folders(self, prefix: str) -> set[str]:
        # from the objects themselves: some servers (SeaweedFS) keep an emptied "folder" listed among common prefixes
        return {key[len(prefix):].split("/", 1)[0] for key in self.list_keys(prefix) if "/" in key[len(prefix):]}

    def path_for(self, key: str) -> Path:
        return self.cache / self._key(key)[len(self.prefix):]

    def local_path(self, key: str) -> Path:
        path = self.path_for(key)
        if not path.is_file():
            _write(path, self.get(key))
        return path

    def sweep(self) -> None:
        _sweep(self.cache)

    def check(self) -> None:
        self._ensure_bucket()


def _write(path: Path, data: bytes) -> None:
    """Write atomically: a reader never sees half a file, a crash leaves only a temp file. A folder removed while this
    writes into it (its document version purged by another writer) is a :class:`FileNotFoundError`."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}-{threading.get_ident()}")  # two threads may draw one page at once
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except (FileExistsError, FileNotFoundError) as e:  # mkdir meets a removal half-way: "exists", then it does not
        tmp.unlink(missing_ok=True)
        raise FileNotFoundError(f"{path.parent} was removed while {path.name} was written") from e


def _sweep(*folders: Path) -> None:
    """Remove temporary files older than :data:`STALE_TEMP_SECONDS` under ``folders``."""
    for base in folders:
        for tmp in base.rglob("*.tmp*") if base.is_dir() else ():
            try:
                if time.time() - tmp.stat().st_mtime > STALE_TEMP_SECONDS:
                    tmp.unlink(missing_ok=True)
            except FileNotFoundError:
                pass


def blob_store(settings: Settings) -> BlobStore:
    """The blob store ``settings`` name: ``blob_url`` (``s3://...``), else the store's own folder."""
    if not settings.blob_url:
        return LocalBlobs(settings.store)
    secret = settings.s3_secret_access_key
    return S3Blobs(settings.blob_url, settings.store / "cache", endpoint_url=settings.s3_endpoint_url,
                   access_key_id=settings.s3_access_key_id, secret_access_key=secret.get_secret_value() if secret else None,
                   region=settings.s3_region)
