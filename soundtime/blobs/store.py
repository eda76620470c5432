"""Content-addressed blob store keyed by the BLAKE3-256 of each blob's bytes.

Layout under ``root``::

    <first two hex digits>/<64 hex digest>   committed blobs, mode 0444, never rewritten
    .tmp/<owner>-<random>.part               in-flight writes, directory mode 0700
    .tmp/<digest>.<owner>-<random>.removing  blobs moved aside by a staged removal
    .tmp/<owner>.owner                       locked by the live process that owns those files

Publishing one blob:

1. the bytes go to a fresh temp file in ``root/.tmp`` (same filesystem, ``O_EXCL``) and are
   hashed as they are written;
2. at commit the temp file is made read-only and fsynced;
3. it is hard-linked to its final name (``link(2)`` never replaces an existing name), the
   shard directory is fsynced and the temp name is removed.

:class:`~soundtime.blobs.writer.BlobWriter` does steps 1 and 2, :class:`BlobStore` step 3. A crash
therefore leaves at most a temp file, never a partial file under a digest path; the temp files of a process
that is gone are recognised by their owner's lock (:mod:`soundtime.blobs.owner`) and removed by
:meth:`BlobStore.cleanup_temp` at once, those of live processes only once untouched for an hour.

Step 2 and step 3 can be split: :meth:`BlobWriter.finish` seals the temp file into a picklable
:class:`PendingBlob` (e.g. in a worker process) and :meth:`BlobStore.commit_pending_many` publishes a batch of
them, fsyncing each shard once.

Concurrent commits of the same bytes (threads or processes): the first link wins and reports
``created=True``; every other writer finds the name taken, discards its temp file and reports
``created=False``. An existing blob is never overwritten. On filesystems without hard links
the store falls back to ``rename``; there two racing writers may both report ``created=True``,
which is harmless because a rename only ever swaps in identical, complete bytes.

Removal inside a database transaction: :meth:`BlobStore.stage_removal` moves a blob aside into
``.tmp``; ``confirm()`` deletes it after commit, ``cancel()`` puts it back after rollback. After a
crash :meth:`BlobStore.cleanup_temp` puts the staged removals of processes that are gone back: at worst that
leaves an unreferenced blob, never a referenced one missing.

Only strings matching :data:`DIGEST_RE` are ever turned into paths; temp files named in a
:class:`PendingBlob` are only looked up by name inside ``.tmp``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import time
from collections.abc import AsyncGenerator, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
from blake3 import blake3

from soundtime.blobs.errors import BlobError, BlobNotFound, BlobTooLarge, HashMismatch, InvalidDigest
from soundtime.blobs.owner import OWNER_RE, is_alive, own, owner_of_lock, release
from soundtime.blobs.refs import DIGEST_RE, BlobRef, PendingBlob, check_digest, is_digest, require_digest
from soundtime.blobs.writer import TEMP_NAME_RE, BlobWriter

__all__ = [
    "DIGEST_RE",
    "BlobError",
    "BlobNotFound",
    "BlobRef",
    "BlobStore",
    "BlobTooLarge",
    "BlobWriter",
    "HashMismatch",
    "InvalidDigest",
    "PendingBlob",
    "StagedRemoval",
    "is_digest",
]

_SHARD_RE = re.compile(r"\A[0-9a-f]{2}\Z")
_REMOVAL_RE = re.compile(r"\A(?P<digest>[0-9a-f]{64})\.(?P<owner>[0-9a-f]{16}|[0-9]+)-[0-9a-f]{16}\.removing\Z")

TEMP_DIR_NAME = ".tmp"
_READ_CHUNK = 256 * 1024
_TEMP_DIR_MODE = 0o700
# errno values meaning "this filesystem cannot hard-link": fall back to rename.
_NO_HARDLINK = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})


@dataclass(frozen=True, slots=True)
class StagedRemoval:
    """A blob moved aside by :meth:`BlobStore.stage_removal`."""

    store: BlobStore
    digest: str
    aside: Path

    def confirm(self) -> None:
        """Delete the blob for good (after the transaction committed)."""
        self.aside.unlink(missing_ok=True)

    def cancel(self) -> None:
        """Put the blob back (after a rollback)."""
        self.store._restore(self.aside, self.digest)


def _hash_blob(path: Path) -> str:
    """Hex digest of a file, hashed through mmap without loading it."""
    before = os.stat(path)
    digest = blake3(max_threads=blake3.AUTO).update_mmap(path).hexdigest()
    after = os.stat(path)
    if _identity(before) != _identity(after):
        raise BlobError(f"{path} changed while it was being hashed")
    return digest


def _identity(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_ino, st.st_size, st.st_mtime_ns


def _open_blob(path: Path, digest: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise BlobNotFound(digest) from exc


def _resolve_range(size: int, start: int, end: int | None, chunk_size: int) -> int:
    """Validate ``[start, end)`` against a blob of ``size`` bytes; return the exclusive stop."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    stop = size if end is None else end
    if not 0 <= start <= stop <= size:
        raise ValueError(f"invalid range [{start}, {end}) for a blob of {size} bytes")
    return stop


def _read_chunk(fd: int, pos: int, stop: int, chunk_size: int) -> bytes:
    chunk = os.pread(fd, min(chunk_size, stop - pos), pos)
    if not chunk:
        raise BlobError("blob is shorter than its recorded size")
    return chunk


def _ensure_private_dir(path: Path) -> None:
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, _TEMP_DIR_MODE)
    mode = os.lstat(path).st_mode
    if not stat.S_ISDIR(mode):
        raise BlobError(f"{path} exists and is not a directory")
    if stat.S_IMODE(mode) != _TEMP_DIR_MODE:
        os.chmod(path, _TEMP_DIR_MODE)


def _is_stale(entry: os.DirEntry[str], cutoff: float) -> bool:
    return not entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime <= cutoff


def _owner_in(name: str) -> str | None:
    """The owner a ``.tmp`` entry belongs to (temp file, staged removal or lock), None for anything else."""
    if (match := TEMP_NAME_RE.match(name)) or (match := _REMOVAL_RE.match(name)):
        return match["owner"] if OWNER_RE.match(match["owner"]) else None
    return owner_of_lock(name)


class BlobStore:
    """BLAKE3 content-addressed blobs under ``root``; safe for concurrent threads and processes."""

    def __init__(self, root: Path, *, fsync: bool = True, owner: str | None = None) -> None:
        """Open (creating) the store at ``root``; ``owner``: write temp files as that owner (a worker process
        writing for its parent, which holds the owner's lock) instead of this process's own."""
        self.root = Path(root)
        self.temp_dir = self.root / TEMP_DIR_NAME
        self._fsync = fsync
        self.root.mkdir(parents=True, exist_ok=True)
        _ensure_private_dir(self.temp_dir)
        if owner is not None and not OWNER_RE.match(owner):
            raise ValueError(f"not an owner: {owner!r}")
        self._owner = owner

    def release_owner(self) -> None:
        """At a clean exit: this process no longer owns temp files here (its lock file is removed)."""
        if self._owner is not None:
            release(self.temp_dir, self._owner)

    @property
    def owner(self) -> str:
        """The owner this store's temp files are written as (this process's, taken on first use)."""
        if self._owner is None:
            self._owner = own(self.temp_dir)
        return self._owner

    def __repr__(self) -> str:
        return f"BlobStore({str(self.root)!r})"

    # -- addressing -------------------------------------------------------------------------

    def path_for(self, digest: str) -> Path:
        """``root/<first 2 hex>/<digest>``; raises :class:`InvalidDigest` for anything else."""
        require_digest(digest)
        return self.root / digest[:2] / digest

    def exists(self, digest: str) -> bool:
        return self.size(digest) is not None

    def size(self, digest: str) -> int | None:
        """Size in bytes, or None when the blob is absent."""
        try:
            return os.stat(self.path_for(digest)).st_size
        except FileNotFoundError:
            return None

    # -- writing ----------------------------------------------------------------------------

    def writer(self, *, max_size: int | None = None) -> BlobWriter:
        """A :class:`BlobWriter` staging one blob in this store's ``.tmp``."""
        return BlobWriter(
            self.temp_dir,
            owner=self.owner,
            fsync=self._fsync,
            already_stored=self._already_stored,
            commit_pending_many=self.commit_pending_many,
            max_size=max_size,
        )

    def put_bytes(self, data: bytes, *, expected_digest: str | None = None) -> BlobRef:
        """Store ``data``; nothing is written when it is already stored or mismatches."""
        digest = blake3(data).hexdigest()
        check_digest(expected_digest, digest)
        if self._already_stored(digest):
            return BlobRef(digest, len(data), created=False)
        with self.writer() as writer:
            writer.write(data)
            return writer.commit(digest)

    def commit_pending_many(self, pending: Sequence[PendingBlob]) -> list[BlobRef]:
        """Publish sealed blobs (see :meth:`BlobWriter.finish`), fsyncing each touched shard once.

        The temp files are consumed whether this succeeds or raises; a malformed
        :class:`PendingBlob` is refused before anything is done.
        """
        temps = [self._pending_temp(item) for item in pending]
        try:
            refs = [
                BlobRef(item.digest, item.size, self._publish(temp, item.digest))
                for item, temp in zip(pending, temps, strict=True)
            ]
            for shard in {self.path_for(item.digest).parent for item in pending}:
                self._sync_dir(shard)
        finally:
            for temp in temps:
                temp.unlink(missing_ok=True)
        return refs

    def discard_pending(self, pending: PendingBlob) -> None:
        """Drop a sealed blob that will not be published (idempotent)."""
        self._pending_temp(pending).unlink(missing_ok=True)

    def relative_path(self, digest: str) -> str:
        """``<first 2 hex>/<digest>``: where the blob lives relative to ``root`` (POSIX separators)."""
        return f"{require_digest(digest)[:2]}/{digest}"

    # -- reading ----------------------------------------------------------------------------

    def read_range(
        self, digest: str, start: int = 0, end: int | None = None, *, chunk_size: int = _READ_CHUNK
    ) -> Generator[bytes, None, None]:
        """Chunks of ``[start, end)``; BlobNotFound and ValueError are raised by this call."""
        path = self.path_for(digest)
        try:
            size = os.stat(path).st_size
        except FileNotFoundError as exc:
            raise BlobNotFound(digest) from exc
        stop = _resolve_range(size, start, end, chunk_size)
        return self._iter_range(path, digest, start, stop, chunk_size)

    def _iter_range(
        self, path: Path, digest: str, start: int, stop: int, chunk_size: int
    ) -> Generator[bytes, None, None]:
        fd = _open_blob(path, digest)
        try:
            pos = start
            while pos < stop:
                chunk = _read_chunk(fd, pos, stop, chunk_size)
                pos += len(chunk)
                yield chunk
        finally:
            os.close(fd)

    async def aread_range(
        self, digest: str, start: int = 0, end: int | None = None, *, chunk_size: int = _READ_CHUNK
    ) -> AsyncGenerator[bytes, None]:
        """Async :meth:`read_range`: file I/O runs in worker threads; errors surface on first use."""
        path = self.path_for(digest)
        fd, stop = await anyio.to_thread.run_sync(self._open_range, path, digest, start, end, chunk_size)
        try:
            pos = start
            while pos < stop:
                chunk = await anyio.to_thread.run_sync(_read_chunk, fd, pos, stop, chunk_size)
                pos += len(chunk)
                yield chunk
        finally:
            os.close(fd)

    @staticmethod
    def _open_range(path: Path, digest: str, start: int, end: int | None, chunk_size: int) -> tuple[int, int]:
        fd = _open_blob(path, digest)
        try:
            stop = _resolve_range(os.fstat(fd).st_size, start, end, chunk_size)
        except BaseException:
            os.close(fd)
            raise
        return fd, stop

    def read_bytes(self, digest: str, *, max_size: int) -> bytes:
        """Whole blob in memory, for small blobs; :class:`BlobTooLarge` beyond ``max_size``."""
        if max_size < 0:
            raise ValueError("max_size must not be negative")
        path = self.path_for(digest)
        with open(_open_blob(path, digest), "rb", closefd=True) as blob:
            data = blob.read(max_size + 1)
        if len(data) > max_size:
            raise BlobTooLarge(max_size)
        return data

    # -- maintenance ------------------------------------------------------------------------

    def verify(self, digest: str) -> bool:
        """Re-hash the stored bytes; False when they no longer match ``digest``."""
        path = self.path_for(digest)
        try:
            actual = _hash_blob(path)
        except FileNotFoundError as exc:
            raise BlobNotFound(digest) from exc
        return actual == digest

    def delete(self, digest: str) -> bool:
        """Remove a blob; True if it existed."""
        path = self.path_for(digest)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        self._sync_dir(path.parent)
        return True

    def stage_removal(self, digest: str) -> StagedRemoval | None:
        """Move a blob aside (it disappears at once); None if it is not stored.

        Call ``confirm()`` once the transaction that dropped its last reference committed, or
        ``cancel()`` to put it back.
        """
        path = self.path_for(digest)
        aside = self.temp_dir / f"{digest}.{self.owner}-{secrets.token_hex(8)}.removing"
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return None
        return StagedRemoval(self, digest, aside)

    def iter_digests(self) -> Iterator[str]:
        """Digests of all stored blobs, in no particular order."""
        with os.scandir(self.root) as entries:
            shards = [e.name for e in entries if _SHARD_RE.match(e.name) and e.is_dir(follow_symlinks=False)]
        for shard in shards:
            with os.scandir(self.root / shard) as entries:
                names = [
                    e.name
                    for e in entries
                    if e.name.startswith(shard) and is_digest(e.name) and e.is_file(follow_symlinks=False)
                ]
            yield from names

    def cleanup_temp(self, older_than: float = 3600.0) -> int:
        """Clear ``.tmp``: remove the temp files of processes that are gone and put their staged removals back
        (whatever their age); of live processes, only what nobody touched for ``older_than`` seconds (a leak).
        Returns how many temp files and staged removals were cleared (lock files are not counted).
        """
        cutoff = time.time() - older_than
        alive: dict[str, bool] = {}
        cleared = 0
        with os.scandir(self.temp_dir) as entries:
            listed = sorted(entries, key=lambda entry: owner_of_lock(entry.name) is not None)  # locks last
        for entry in listed:
            owner = _owner_in(entry.name)
            if owner is not None and owner not in alive:
                alive[owner] = is_alive(self.temp_dir, owner)
            gone = owner is not None and not alive[owner]
            try:
                if owner_of_lock(entry.name) is not None:
                    if gone:
                        os.unlink(entry.path)  # its files are cleared above; a new owner never reuses it
                    continue
                if not gone and not _is_stale(entry, cutoff):
                    continue
                if removal := _REMOVAL_RE.match(entry.name):
                    self._restore(Path(entry.path), removal["digest"])
                else:
                    os.unlink(entry.path)
            except FileNotFoundError:
                continue
            cleared += 1
        return cleared

    # -- internals --------------------------------------------------------------------------

    def _already_stored(self, digest: str) -> bool:
        path = self.path_for(digest)
        if not path.exists():
            return False
        self._sync_dir(path.parent)  # its creator may not have synced the entry yet
        return True

    def _pending_temp(self, pending: PendingBlob) -> Path:
        """The temp file of ``pending``, looked up by validated name in this store's ``.tmp``."""
        require_digest(pending.digest)
        name = pending.temp_path.name
        if not TEMP_NAME_RE.match(name):
            raise BlobError(f"not a temp file of a blob store: {name[:80]!r}")
        return self.temp_dir / name

    def _publish(self, temp: Path, digest: str) -> bool:
        """Link a sealed temp file under ``digest``; True if this call created the blob.

        A temp file that is gone while its blob exists was published already (e.g. by a transaction that
        was then rolled back and is being retried): that is not an error.
        """
        final = self.path_for(digest)
        self._ensure_shard(final.parent)
        try:
            return self._link(temp, final)
        except FileNotFoundError as exc:
            if final.exists():
                return False
            raise BlobError(f"temporary file {temp.name} vanished before commit") from exc

    def _restore(self, aside: Path, digest: str) -> None:
        """Put a blob moved aside back under its digest (unless identical bytes were stored since)."""
        final = self.path_for(digest)
        self._ensure_shard(final.parent)
        try:
            self._link(aside, final)
        except FileNotFoundError:
            return  # already restored or confirmed
        aside.unlink(missing_ok=True)
        self._sync_dir(final.parent)

    def _link(self, src: Path, final: Path) -> bool:
        """Give ``src`` the name ``final`` without ever replacing an existing blob."""
        try:
            os.link(src, final)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in _NO_HARDLINK:
                raise
            if final.exists():
                return False
            os.replace(src, final)
        return True

    def _ensure_shard(self, shard: Path) -> None:
        try:
            os.mkdir(shard)
        except FileExistsError:
            return
        self._sync_dir(self.root)

    def _sync_dir(self, path: Path) -> None:
        if not self._fsync:
            return
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
