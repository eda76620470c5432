"""Cover art at the size a client asks for: decoded with Pillow in a worker thread, at most a few at once, kept in
a bounded on-disk cache.

Covers come from uploaded files and from peers, so they are hostile: an image whose header declares more than
:data:`MAX_PIXELS` pixels is refused before it is decoded (a small file can declare a huge image), JPEGs are
decoded at a reduced scale when that is enough (``draft``), and the output is a plain RGB JPEG.
"""

from __future__ import annotations

import asyncio
import io
import os
import warnings
from collections import OrderedDict
from pathlib import Path

from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 40_000_000
MIN_SIZE, MAX_SIZE = 16, 2048
JPEG_QUALITY = 85


class CoverUnreadable(Exception):
    """The stored cover is not an image Pillow can decode safely."""


def resize(data: bytes, size: int) -> bytes | None:
    """A JPEG whose longer side is ``size`` pixels; None when the image is not larger than that already."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise CoverUnreadable(f"the cover declares {width}x{height} pixels")
                if max(width, height) <= size:
                    return None
                image.draft("RGB", (size, size))  # JPEG: decode at 1/2, 1/4 or 1/8 scale when that suffices
                rgb = image.convert("RGB")
                rgb.thumbnail((size, size), Image.Resampling.LANCZOS)
                out = io.BytesIO()
                rgb.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
                return out.getvalue()
        except (
            UnidentifiedImageError,
            OSError,
            ValueError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
        ) as exc:
            raise CoverUnreadable(str(exc)) from exc


class ResizedCovers:
    """Resized covers kept in ``directory`` as ``<hash>-<size>.jpg``, at most ``max_files`` (least recently used
    removed first); resizing runs in threads, ``concurrency`` at a time."""

    def __init__(self, directory: Path, *, max_files: int = 20_000, concurrency: int = 2) -> None:
        self.directory = directory
        self.max_files = max_files
        self._slots = asyncio.Semaphore(concurrency)
        self._index: OrderedDict[str, None] | None = None

    def _load(self) -> OrderedDict[str, None]:
        if self._index is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            files = sorted(self.directory.glob("*.jpg"), key=lambda p: p.stat().st_mtime)
            self._index = OrderedDict((p.name, None) for p in files)
        return self._index

    async def get(self, digest: str, data_of: Path, size: int) -> bytes | None:
        """The cover ``digest`` (stored at ``data_of``) resized to ``size``; None when it is small enough as is."""
        name = f"{digest}-{size}.jpg"
        index = await asyncio.to_thread(self._load)
        path = self.directory / name
        if name in index:
            try:
                data = await asyncio.to_thread(path.read_bytes)
            except FileNotFoundError:
                index.pop(name, None)
            else:
                index.move_to_end(name)
                return data
        async with self._slots:
            original = await asyncio.to_thread(data_of.read_bytes)
            resized = await asyncio.to_thread(resize, original, size)
        if resized is None:
            return None
        await asyncio.to_thread(self._store, name, resized)
        return resized

    def _store(self, name: str, data: bytes) -> None:
        index = self._load()
        tmp = self.directory / f".{name}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        tmp.replace(self.directory / name)
        index[name] = None
        index.move_to_end(name)
        while len(index) > self.max_files:
            old, _ = index.popitem(last=False)
            (self.directory / old).unlink(missing_ok=True)
