"""What every :class:`~docagent.index.blobs.BlobStore` must do; subclass :class:`BlobStoreContract` and give it a
``blobs`` fixture returning an empty store."""

from __future__ import annotations

import threading

import pytest

from docagent.index.blobs import BlobStore

__all__ = ["BlobStoreContract"]


class BlobStoreContract:
    """Run against every blob store docagent ships (tests/test_blobs.py) and any other."""

    @pytest.fixture
    def blobs(self) -> BlobStore:
        raise NotImplementedError("give the contract a `blobs` fixture returning an empty BlobStore")

    def test_bytes_come_back_as_written(self, blobs: BlobStore) -> None:
        data = bytes(range(256)) * 1000
        blobs.put("files/0123456789abcdef.pdf", data)
        assert blobs.get("files/0123456789abcdef.pdf") == data
        assert blobs.exists("files/0123456789abcdef.pdf")
        assert blobs.local_path("files/0123456789abcdef.pdf").read_bytes() == data

    def test_a_missing_key_is_file_not_found_everywhere(self, blobs: BlobStore) -> None:
        assert not blobs.exists("pages/nothere/0001.png")
        with pytest.raises(FileNotFoundError):
            blobs.get("pages/nothere/0001.png")
        with pytest.raises(FileNotFoundError):
            blobs.local_path("pages/nothere/0001.png")
        blobs.delete("pages/nothere/0001.png")  # nothing to do, no error
        blobs.delete_prefix("pages/nothere/")

    def test_put_replaces(self, blobs: BlobStore) -> None:
        blobs.put("pages/aaaa/0001.png", b"old")
        blobs.put("pages/aaaa/0001.png", b"new")
        assert blobs.get("pages/aaaa/0001.png") == b"new"

    def test_keys_are_listed_by_prefix_and_a_prefix_is_deleted_whole(self, blobs: BlobStore) -> None:
        for key in ("pages/aaaa/0001.png", "pages/aaaa/0002.png", "pages/aaab/0001.png", "files/aaaa.pdf"):
            blobs.put(key, key.encode())
        assert sorted(blobs.list_keys("pages/aaaa/")) == ["pages/aaaa/0001.png", "pages/aaaa/0002.png"]
        assert blobs.folders("pages/") == {"aaaa", "aaab"} and blobs.folders("files/") == set()
        assert sorted(blobs.list_keys()) == ["files/aaaa.pdf", "pages/aaaa/0001.png", "pages/aaaa/0002.png", "pages/aaab/0001.png"]
        blobs.delete_prefix("pages/aaaa/")
        assert sorted(blobs.list_keys()) == ["files/aaaa.pdf", "pages/aaab/0001.png"]
        assert not blobs.exists("pages/aaaa/0001.png")
        with pytest.raises(FileNotFoundError):
            blobs.local_path("pages/aaaa/0002.png")
        blobs.delete("files/aaaa.pdf")
        assert not blobs.exists("files/aaaa.pdf") and list(blobs.list_keys("files/")) == []

    def test_keys_that_climb_out_are_refused(self, blobs: BlobStore) -> None:
        for key in ("../escape", "/etc/passwd", "pages/../../x", ""):
            with pytest.raises(ValueError, match="not a blob key"):
                blobs.put(key, b"x")

    def test_readers_beside_a_writer_see_whole_bytes(self, blobs: BlobStore) -> None:
        versions = [bytes([n]) * 200_000 for n in range(6)]
        blobs.put("pages/race/0001.png", versions[0])
        seen: list[bytes] = []
        stop = threading.Event()

        def read() -> None:
            while not stop.is_set():
                seen.append(blobs.get("pages/race/0001.png"))

        reader = threading.Thread(target=read)
        reader.start()
        try:
            for data in versions[1:]:
                blobs.put("pages/race/0001.png", data)
        finally:
            stop.set()
            reader.join()
        assert seen and all(data in versions for data in seen)

    def test_a_write_into_a_prefix_being_removed_succeeds_or_says_not_found(self, blobs: BlobStore) -> None:
        """A reader draws a page while another writer purges that document version (seen as a 500 under load: mkdir
        met the removal half-way and raised FileExistsError). Whatever the interleaving, a put succeeds or raises
        FileNotFoundError, and a read after it finds the bytes or FileNotFoundError."""
        stop = threading.Event()
        surprises: list[BaseException] = []

        def purge() -> None:
            while not stop.is_set():
                blobs.delete_prefix("pages/purged/")

        remover = threading.Thread(target=purge)
        remover.start()
        try:
            for i in range(200):
                try:
                    blobs.put(f"pages/purged/{i:04d}.png", b"png")
                    blobs.local_path(f"pages/purged/{i:04d}.png")
                except FileNotFoundError:
                    pass
                except BaseException as e:  # noqa: BLE001 - collected and shown
                    surprises.append(e)
        finally:
            stop.set()
            remover.join()
        assert surprises == []

    def test_check_passes_on_a_reachable_store(self, blobs: BlobStore) -> None:
        blobs.check()
