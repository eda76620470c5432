"""A replicated track's transfer from a peer as a file that PyAV reads while the bytes arrive."""

from __future__ import annotations

import os

from soundtime.p2p.face import Download
from soundtime.streaming.transcode.worker import Worker

#: The most one read asks the transfer for.
MAX_READ = 256 * 1024


class DownloadReader:
    """Reads a running :class:`Download` from the worker thread, waiting for bytes that have not arrived yet.

    Its last bytes come only once the transfer is verified (see :meth:`Download.read`), so a transcode of
    unverified audio never completes. Not seekable unless asked: demuxers that may seek (MP3 looks for a tag
    at the end of the file) would otherwise wait for the whole transfer before the first frame.
    """

    def __init__(self, download: Download, worker: Worker, *, seekable: bool) -> None:
        self._download = download
        self._worker = worker
        self._seekable = seekable
        self._size = download.size
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        if self._pos >= self._size:
            return b""
        want = self._size - self._pos if size < 0 else size
        data = self._worker.call(self._download.read(self._pos, min(want, MAX_READ), self._size))
        self._pos += len(data)
        return data

    def seekable(self) -> bool:
        return self._seekable

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("cannot seek before the start of the track")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos
