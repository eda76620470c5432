"""Writing one blob into a store's temp area: steps 1 and 2 of the publish protocol described in
:mod:`soundtime.blobs.store`.
"""

from __future__ import annotations

import io
import os
import re
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from blake3 import blake3

from soundtime.blobs.errors import BlobError, BlobTooLarge
from soundtime.blobs.refs import BlobRef, PendingBlob, check_digest

__all__ = ["TEMP_NAME_RE", "BlobWriter"]

#: Name of an in-flight temp file, as made by :class:`BlobWriter`: ``<owner>-<random>.part``.
TEMP_NAME_RE = re.compile(r"\A(?P<owner>[0-9a-f]{16})-[0-9a-f]{16}\.part\Z")
_BLOB_MODE = 0o444
_TEMP_MODE = 0o600


def _create_temp(temp_dir: Path, owner: str) -> tuple[Path, io.FileIO]:
    """A new private (``O_EXCL``, mode 0600) temp file ``<owner>-<random>.part`` in ``temp_dir``."""
    for _ in range(8):
        path = temp_dir / f"{owner}-{secrets.token_hex(8)}.part"
        try:
            return path, io.FileIO(path, "xb", opener=_private_opener)
        except FileExistsError:
            continue
    raise BlobError("could not create a unique temporary file")


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, _TEMP_MODE)


def _write_all(file: io.FileIO, view: memoryview) -> None:
    while view:
        written = file.write(view)
        if not written:
            raise BlobError("short write to temporary file")
        view = view[written:]


def _seal(file: io.FileIO, *, fsync: bool) -> None:
    """Make a temp file read-only and durable, then close it."""
    os.fchmod(file.fileno(), _BLOB_MODE)
    if fsync:
        os.fsync(file.fileno())
    file.close()


_WriterState = Literal["open", "finished", "committed", "aborted"]


class BlobWriter:
    """Incremental, synchronous writer of one blob; abort unless committed.

    Made by :meth:`BlobStore.writer <soundtime.blobs.store.BlobStore.writer>`, which passes the store's
    temp directory, the owner of its temp files (:mod:`soundtime.blobs.owner`), its fsync setting and the two
    store operations :meth:`commit` needs.
    Not thread-safe itself: use one writer per thread (any number may run concurrently).
    Used as a context manager, it aborts on exit unless :meth:`commit` or :meth:`finish` succeeded.
    """

    def __init__(
        self,
        temp_dir: Path,
        *,
        owner: str,
        fsync: bool,
        already_stored: Callable[[str], bool],
        commit_pending_many: Callable[[Sequence[PendingBlob]], list[BlobRef]],
        max_size: int | None = None,
    ) -> None:
        if max_size is not None and max_size < 0:
            raise ValueError("max_size must not be negative")
        self._fsync = fsync
        self._already_stored = already_stored
        self._commit_pending_many = commit_pending_many
        self._max_size = max_size
        self._hasher = blake3()
        self._state: _WriterState = "open"
        self.size = 0
        self.temp_path, self._file = _create_temp(temp_dir, owner)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data``; past ``max_size`` the writer aborts and raises :class:`BlobTooLarge`."""
        self._require_open("write to")
        view = memoryview(data).cast("B")
        if self._max_size is not None and self.size + view.nbytes > self._max_size:
            self.abort()
            raise BlobTooLarge(self._max_size)
        try:
            _write_all(self._file, view)
        except BaseException:
            self.abort()
            raise
        self._hasher.update(view)
        self.size += view.nbytes

    def digest(self) -> str:
        """Hex digest of the bytes written so far."""
        return self._hasher.hexdigest()

    def commit(self, expected_digest: str | None = None) -> BlobRef:
        """Publish the blob; on any failure (e.g. :class:`HashMismatch`) the temp file is removed."""
        self._require_open("commit")
        digest = self.digest()
        try:
            check_digest(expected_digest, digest)
            duplicate = self._already_stored(digest)
        except BaseException:
            self.abort()
            raise
        if duplicate:  # no need to make our copy durable
            self._close("committed")
            return BlobRef(digest, self.size, created=False)
        pending = self.finish()
        self._state = "aborted"  # commit_pending_many consumes the temp file even if it fails
        (ref,) = self._commit_pending_many([pending])
        self._state = "committed"
        return ref

    def finish(self) -> PendingBlob:
        """Seal the bytes (read-only, fsynced) without publishing them; the temp file is handed over.

        Publish with :meth:`BlobStore.commit_pending_many` or drop with :meth:`BlobStore.discard_pending`.
        """
        self._require_open("finish")
        try:
            _seal(self._file, fsync=self._fsync)
        except BaseException:
            self.abort()
            raise
        self._state = "finished"
        return PendingBlob(self.digest(), self.size, self.temp_path)

    def abort(self) -> None:
        """Discard the temp file; does nothing once finished, committed or aborted."""
        if self._state == "open":
            self._close("aborted")

    def _close(self, state: _WriterState) -> None:
        self._state = state
        self._file.close()
        self.temp_path.unlink(missing_ok=True)

    def _require_open(self, action: str) -> None:
        if self._state != "open":
            raise BlobError(f"cannot {action} a writer that was already {self._state}")
