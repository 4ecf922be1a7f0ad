"""Page images (PNG, JPEG, TIFF with any number of frames) through Pillow.

A page image is its own rendering: points equal pixels (``image_scale`` 1), and it has no
text layer, so its text comes from OCR."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from docagent.errors import (
    CorruptDocumentError,
    EmptyDocumentError,
    UnsupportedFileError,
)
from docagent.ingest.base import Source, check_page_count
from docagent.types import Page

__all__ = ["ImageSource"]

_FORMATS = {"PNG", "JPEG", "TIFF", "MPO"}
MAX_IMAGE_PIXELS = 100_000_000
"""Larger page images are refused (a 600 dpi A3 scan is 70 megapixels; beyond this lie decompression bombs)."""


class ImageSource(Source):
    kind = "image"

    def __init__(self, path: Path, *, max_pages: int | None = None) -> None:
        super().__init__(path)
        try:
            with warnings.catch_warnings():  # the size is checked here, with a message that says what to do
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                self._image = Image.open(path)
        except Image.DecompressionBombError as e:
            raise UnsupportedFileError(path, f"{_too_large(e)}; scale it down (for example to 300 dpi)") from e
        except UnidentifiedImageError as e:
            msg = "unreadable image: Pillow does not recognise its format; re-save it as PNG, JPEG or TIFF"
            raise CorruptDocumentError(path, msg) from e
        except (OSError, SyntaxError, ValueError) as e:  # Pillow raises SyntaxError for broken PNG chunks
            raise CorruptDocumentError(path, f"unreadable image ({e})") from e
        if self._image.format not in _FORMATS:
            self._image.close()
            raise UnsupportedFileError(path, f"{self._image.format} images are not supported; convert it to PNG")
        try:
            self._frames = getattr(self._image, "n_frames", 1)
            if self._frames < 1:
                raise EmptyDocumentError(path, "the image file holds no frames")
            check_page_count(path, self._frames, max_pages)
            self._check_frame_sizes()
        except BaseException:
            self._image.close()
            raise
        # Decode every frame now, so a truncated file fails here and not halfway through indexing.
        for i in range(self._frames):
            self._frame(i)

    def _check_frame_sizes(self) -> None:
        """Refuse the file when any frame is larger than MAX_IMAGE_PIXELS, before any is decoded: the frames of a
        TIFF each have their own size, and a tiny first one can hide a decompression bomb behind it. Seeking to
        a frame reads its header, not its pixels (an animated PNG's frames share the first one's canvas, and
        seeking there would decode them, so only the first is looked at)."""
        for i in range(1 if self._image.format == "PNG" else self._frames):
            try:
                self._image.seek(i)
            except (OSError, EOFError, ValueError, SyntaxError) as e:
                msg = f"unreadable image: frame {i + 1} cannot be read ({e}); the file is probably truncated"
                raise CorruptDocumentError(self.path, msg) from e
            width, height = self._image.size
            if width * height > MAX_IMAGE_PIXELS:
                which = f"frame {i + 1}" if self._frames > 1 else "the image"
                msg = (f"{which} is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels), more than the "
                       f"{MAX_IMAGE_PIXELS / 1e6:.0f} docagent reads; scale it down (for example to 300 dpi)")
                raise UnsupportedFileError(self.path, msg)
        self._image.seek(0)

    @property
    def page_count(self) -> int:
        return self._frames

    @property
    def native_scale(self) -> float:
        return 1.0

    def _frame(self, index: int) -> Image.Image:
        try:
            self._image.seek(index)
            frame = self._image.copy()
            frame.load()
        except (OSError, EOFError, ValueError, SyntaxError) as e:
            msg = f"unreadable image: frame {index + 1} cannot be decoded ({e}); the file is probably truncated"
            raise CorruptDocumentError(self.path, msg) from e
        frame = ImageOps.exif_transpose(frame)
        return frame if frame.mode == "RGB" else frame.convert("RGB")

    def read_page(self, index: int) -> Page:
        width, height = self._frame_size(index)
        return Page(doc=self.name, number=index + 1, width=width, height=height, text="", image_scale=1.0)

    def _frame_size(self, index: int) -> tuple[int, int]:
        self._image.seek(index)
        size = self._image.size
        # EXIF rotation swaps the sides of what a person sees.
        if self._image.getexif().get(0x0112) in (5, 6, 7, 8):
            size = (size[1], size[0])
        return size

    def render(self, index: int, scale: float) -> Image.Image:
        frame = self._frame(index)
        if abs(scale - 1.0) > 1e-6:
            size = (max(1, round(frame.width * scale)), max(1, round(frame.height * scale)))
            frame = frame.resize(size, Image.Resampling.LANCZOS)
        return frame

    def close(self) -> None:
        self._image.close()


def _too_large(error: Exception) -> str:
    pixels = re.search(r"\((\d+) pixels\)", str(error))
    size = f" ({int(pixels.group(1)) / 1e6:.0f} megapixels)" if pixels else ""
    return f"the image is too large{size}, more than the {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels docagent reads"

