"""``soundtime import DIR``: add a folder of audio files to the library.

Tags are read and files staged by a pool of worker processes (CPU-bound mutagen parsing and hashing run in
parallel), while this process saves finished files in batches through the same ingest path as uploads.
Files whose path, size and modification time match the previous import, and whose track is still in the
library, are skipped without being opened. A file that changed (re-tagged, re-encoded) replaces the track of its
previous version, unless another imported file still provides that version.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from soundtime.blobs.store import BlobStore
from soundtime.kit.db import Database
from soundtime.library.ingest import (
    PreparedTrack,
    discard_prepared,
    prepare_path,
    save_prepared,
)
from soundtime.library.removal import remove_track
from soundtime.library.repository import writes as repo
from soundtime.library.tags import AudioRejected

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset(
    {
        ".mp3",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".m4a",
        ".mp4",
        ".m4b",
        ".aac",
        ".wav",
        ".aif",
        ".aiff",
        ".aifc",
    }
)
SAVE_BATCH = 200


@dataclass(frozen=True, slots=True)
class FoundFile:
    """An audio file found on disk with what identifies its version."""

    path: Path
    size: int
    mtime_ns: int


@dataclass
class ImportReport:
    """What an import did."""

    found: int = 0
    unreadable_folders: list[str] = field(default_factory=list)
    imported: int = 0
    duplicates: int = 0
    unchanged: int = 0
    replaced: int = 0
    ignored: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    #: Files accepted although something is wrong with them (they play): (path, what is wrong).
    defective: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


ProgressCallback = Callable[[int, int], None]


def scan(folder: Path) -> tuple[list[FoundFile], int, list[Path]]:
    """Audio files under ``folder`` (hidden files and folders skipped), the count of other files, and the
    folders that could not be read (listed, not fatal: e.g. ``lost+found`` at the root of a drive)."""
    found: list[FoundFile] = []
    ignored = 0
    unreadable: list[Path] = []
    stack = [folder]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            unreadable.append(directory)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file() and Path(entry.name).suffix.lower() in AUDIO_EXTENSIONS:
                    st = entry.stat()
                    found.append(FoundFile(Path(entry.path), st.st_size, st.st_mtime_ns))
                else:
                    ignored += 1
            except OSError:
                ignored += 1
    found.sort(key=lambda f: f.path)
    return found, ignored, unreadable


# --- worker process ------------------------------------------------------------------------------------------

_worker_stores: tuple[BlobStore, BlobStore, int] | None = None


def _init_worker(audio: tuple[Path, str], blobs: tuple[Path, str], max_size: int) -> None:
    """Open the stores in a worker; its temp files belong to the importing process (alive while it is)."""
    global _worker_stores  # noqa: PLW0603 - one pair of stores per worker process
    _worker_stores = (BlobStore(audio[0], owner=audio[1]), BlobStore(blobs[0], owner=blobs[1]), max_size)


def _prepare_in_worker(path: Path) -> PreparedTrack | AudioRejected:
    assert _worker_stores is not None
    audio, blobs, max_size = _worker_stores
    try:
        return prepare_path(path, audio, blobs, max_size)
    except AudioRejected as exc:
        return exc
    except OSError as exc:
        return AudioRejected("unreadable", f"cannot read the file: {exc.strerror or exc}")


# --- orchestration -------------------------------------------------------------------------------------------


class FolderImport:
    """One run of ``soundtime import``."""

    def __init__(
        self,
        db: Database,
        audio: BlobStore,
        blobs: BlobStore,
        *,
        max_size: int,
        workers: int | None = None,
        uploaded_by: uuid.UUID | None = None,
    ) -> None:
        self.db = db
        self.audio = audio
        self.blobs = blobs
        self.max_size = max_size
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.uploaded_by = uploaded_by
        self._previous: dict[bytes, repo.ImportedState] = {}

    async def run(self, folder: Path, progress: ProgressCallback | None = None) -> ImportReport:
        """Import every audio file under ``folder``; ``progress(done, total)`` is called as files finish."""
        started = time.perf_counter()
        root = await asyncio.to_thread(folder.resolve)
        report = ImportReport()
        files, report.ignored, unreadable = await asyncio.to_thread(scan, root)
        report.unreadable_folders = [display_path(p) for p in unreadable]
        report.found = len(files)
        async with self.db.transaction() as session:
            self._previous = await repo.imported_files_under(session, os.fsencode(root) + os.sep.encode())
        todo = [f for f in files if not self._unchanged(f)]
        report.unchanged = len(files) - len(todo)
        if progress:
            progress(report.unchanged, len(files))
        if todo:
            await self._process(
                todo, report, lambda n: progress(report.unchanged + n, len(files)) if progress else None
            )
        report.seconds = time.perf_counter() - started
        return report

    def _unchanged(self, found: FoundFile) -> bool:
        state = self._previous.get(os.fsencode(found.path))
        return state is not None and state.in_library and (state.size, state.mtime_ns) == (found.size, found.mtime_ns)

    def _executor(self) -> Executor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=((self.audio.root, self.audio.owner), (self.blobs.root, self.blobs.owner), self.max_size),
        )

    async def _process(self, todo: list[FoundFile], report: ImportReport, progress: Callable[[int], None]) -> None:
        loop = asyncio.get_running_loop()
        queue = iter(todo)
        in_flight: dict[asyncio.Future[PreparedTrack | AudioRejected], FoundFile] = {}
        batch: list[tuple[FoundFile, PreparedTrack]] = []
        done = 0
        with self._executor() as pool:

            def submit_next() -> None:
                found = next(queue, None)
                if found is not None:
                    in_flight[loop.run_in_executor(pool, _prepare_in_worker, found.path)] = found

            for _ in range(self.workers * 8):  # bounded look-ahead keeps memory flat for huge folders
                submit_next()
            try:
                while in_flight:
                    finished, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    for future in finished:
                        found = in_flight.pop(future)
                        submit_next()
                        result = future.result()
                        if isinstance(result, AudioRejected):
                            report.rejected.append((display_path(found.path), result.reason))
                        else:
                            batch.append((found, result))
                        done += 1
                    if len(batch) >= SAVE_BATCH:
                        await self._save(batch, report)
                        batch = []
                    progress(done)
                await self._save(batch, report)
            except BaseException:
                for future in in_flight:
                    future.cancel()
                for _, item in batch:
                    discard_prepared(item, self.audio, self.blobs)
                raise

    async def _save(self, batch: list[tuple[FoundFile, PreparedTrack]], report: ImportReport) -> None:
        """Save a batch in one transaction; if the database refuses it, save file by file to find the culprit."""
        if not batch:
            return
        try:
            await self._save_together(batch, report)
        except DBAPIError as exc:
            if not _refused_values(exc):
                raise
            log.warning("the database refused a batch of %d files; saving them one by one", len(batch))
            for found, item in batch:
                try:
                    await self._save_together([(found, item)], report)
                except DBAPIError as single:
                    if not _refused_values(single):
                        raise
                    reason = str(single.orig).splitlines()[0] if single.orig else "invalid values"
                    report.rejected.append((display_path(found.path), f"the database refused its values: {reason}"))
                    discard_prepared(item, self.audio, self.blobs)

    async def _save_together(self, batch: list[tuple[FoundFile, PreparedTrack]], report: ImportReport) -> None:
        items = [item for _, item in batch]
        async with self.db.transaction() as session:
            outcomes = await save_prepared(session, items, self.audio, self.blobs, uploaded_by=self.uploaded_by)
            await repo.record_imported_files(
                session, [(os.fsencode(f.path), f.size, f.mtime_ns, item.audio.digest) for f, item in batch]
            )
        report.replaced += await self._remove_replaced(batch)
        report.imported += sum(o.status == "imported" for o in outcomes)
        report.defective += [
            (display_path(found.path), "; ".join(d.message for d in item.tags.defects))
            for found, item in batch
            if item.tags.defects
        ]
        report.duplicates += sum(o.status == "duplicate" for o in outcomes)

    async def _remove_replaced(self, batch: list[tuple[FoundFile, PreparedTrack]]) -> int:
        """Remove the previous version of files that changed, once no imported file provides it any more.

        Each removal is its own transaction, so its digest locks are taken alone and in order.
        """
        old = {
            state.content_hash
            for found, item in batch
            if (state := self._previous.get(os.fsencode(found.path))) and state.content_hash != item.audio.digest
        }
        if not old:
            return 0
        async with self.db.transaction() as session:
            stale = await repo.replaceable_tracks(session, old, self.uploaded_by)
        removed = 0
        for track in stale:
            async with self.db.transaction() as session:
                removed += await remove_track(session, self.audio, self.blobs, track)
        return removed


def display_path(path: Path) -> str:
    """A path for messages: undecodable bytes of a file name shown as U+FFFD."""
    return os.fsencode(path).decode("utf-8", "replace")


def _refused_values(exc: DBAPIError) -> bool:
    """True when the database refused the data itself (not when it could not be reached)."""
    return not exc.connection_invalidated and not isinstance(exc, OperationalError | InterfaceError)


def iter_rejections(report: ImportReport, limit: int) -> Iterator[str]:
    """Lines describing rejected files, at most ``limit`` of them plus a count of the rest."""
    for path, reason in report.rejected[:limit]:
        yield f"{path}: {reason}"
    if len(report.rejected) > limit:
        yield f"... and {len(report.rejected) - limit} more"
