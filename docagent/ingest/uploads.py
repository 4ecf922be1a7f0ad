"""Files that arrive over the network (the HTTP API, the app): a safe name, a size limit, a type read
from the content.

    path = save_upload("../../Scan 3.PDF", chunks, folder, max_bytes=50 << 20)   # folder/"Scan 3.PDF"

Raises :class:`FileTooLargeError` over the limit and :class:`UnsupportedFileError` /
:class:`EmptyDocumentError` for content of no format docagent reads (:mod:`docagent.ingest.formats`),
whatever the name says; nothing
is left behind for a refused file, and nothing is ever written outside ``folder``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from docagent.errors import DocumentLoadError, FileTooLargeError, UnsupportedFileError
from docagent.ingest.formats import detect, is_supported

__all__ = ["safe_name", "save_upload"]

_MAX_NAME_BYTES = 200


def safe_name(raw: str | None) -> str:
    """A bare file name from whatever a client sent (``../../x.pdf``, ``C:\\x.pdf``, control characters),
    or ``""`` when nothing usable is left."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip().lstrip(".")
    if len(name.encode()) <= _MAX_NAME_BYTES:
        return name
    # file systems count bytes (255 at most), not characters: 70 emoji are 280 bytes. Keep the suffix.
    stem, dot, suffix = name.rpartition(".")
    suffix = dot + suffix if stem and len(suffix.encode()) <= 16 else ""
    stem = name[: len(name) - len(suffix)]
    room = _MAX_NAME_BYTES - len(suffix.encode())
    return stem.encode()[:room].decode(errors="ignore").rstrip() + suffix


def save_upload(raw_name: str | None, chunks: Iterable[bytes], folder: Path, max_bytes: int) -> Path:
    """Write an upload into ``folder`` under a safe name; returns its path (given a matching suffix when
    the name has none the content agrees with)."""
    name = safe_name(raw_name)
    if not name:
        raise UnsupportedFileError(Path(raw_name or "upload"), "the file has no usable name")
    target = folder / name
    if target.exists():
        raise UnsupportedFileError(target, "appears twice in this upload")
    size = 0
    try:
        with target.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    msg = f"larger than the limit of {max_bytes / (1 << 20):g} MiB; split or compress it"
                    raise FileTooLargeError(target, msg)
                out.write(chunk)
        fmt = detect(target)
    except DocumentLoadError:
        target.unlink(missing_ok=True)
        raise
    except OSError as e:  # a name the file system still refuses, a full disk
        target.unlink(missing_ok=True)
        raise UnsupportedFileError(Path(name), f"cannot be stored ({e.strerror or e})") from e
    if not is_supported(target):
        named = target.with_name(f"{name}{fmt.suffixes[0]}")
        if named.exists():  # "report" beside "report.pdf": never silently one instead of the other
            target.unlink()
            raise UnsupportedFileError(named, "appears twice in this upload (once without its suffix)")
        target = target.rename(named)
    return target
