"""Fetching replicated audio from peers on demand: one shared, verified transfer per track.

A :class:`Download` writes the bytes into a temp file of the audio cache while any number of listeners read
from it; the bytes enter the cache only once their BLAKE3 hash matches. Listeners are never handed the last
bytes of their range before the hash has been checked, so no HTTP response completes with unverified audio.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable, Sequence

from soundtime.blobs.refs import PendingBlob
from soundtime.blobs.writer import BlobWriter
from soundtime.kit import metrics
from soundtime.kit.db import Database
from soundtime.kit.jobs import JobRunner
from soundtime.p2p import health
from soundtime.p2p import repository as repo
from soundtime.p2p.cache import AudioCache
from soundtime.p2p.errors import PeerError, PeerMisbehaved
from soundtime.p2p.plans.sources import RemoteTrack, playable_sources
from soundtime.p2p.plans.transfer import TransferState
from soundtime.p2p.policy import Policy
from soundtime.p2p.ports import Blobs, Blocklist
from soundtime.p2p.transport import Stream, StreamCode, TransportError

log = logging.getLogger(__name__)

#: A blob transfer answers u32 lengths: nothing larger can be fetched.
MAX_BLOB_SIZE = (1 << 32) - 1


class DownloadFailed(PeerError):
    """The transfer did not deliver the verified blob (no source, a source failed mid-way, wrong bytes)."""


class TooManyTransfers(DownloadFailed):
    """The node is fetching as many tracks as it allows at once (nothing was recorded against the track)."""


class Download:
    """One transfer of a blob, readable while it runs (``read`` waits for the bytes it needs)."""

    def __init__(self, track: RemoteTrack, *, idle_grace: float = 10.0) -> None:
        self.track = track
        self.idle_grace = idle_grace
        self.digest = track.content_hash
        self.size = track.file_size
        self.state = TransferState(track.file_size)
        self.finished = False
        self.source: str | None = None
        self.error: DownloadFailed | None = None
        #: Sources that failed this transfer (a recovery does not ask them again).
        self.failed_sources: list[str] = []
        self.task: asyncio.Task[None] | None = None
        self._fd: int | None = None
        self._users = 1  # the transfer itself
        self._idle: asyncio.TimerHandle | None = None
        self._changed = asyncio.Event()
        self.started = asyncio.Event()

    # --- listeners ---------------------------------------------------------------------------------------------

    def acquire(self) -> None:
        """A listener starts reading (the temp file stays open until every listener released it)."""
        self._users += 1
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def release(self) -> None:
        """A listener is done; a transfer nobody listens to any more is stopped after ``idle_grace`` seconds."""
        self._users -= 1
        if self._users == 0 and self._fd is not None:
            os.close(self._fd)
            self._fd = None
        elif self._users == 1 and not self.finished and self._idle is None:
            self._idle = asyncio.get_running_loop().call_later(self.idle_grace, self._stop_if_idle)

    def _stop_if_idle(self) -> None:
        self._idle = None
        if self._users == 1 and not self.finished and self.state.received < self.size and self.task is not None:
            log.info("nobody listens to the transfer of %s any more; stopping it", self.digest[:16])
            self.task.cancel()

    async def wait_started(self) -> None:
        """Wait until a source is sending (or raise :class:`DownloadFailed`)."""
        await self.started.wait()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self.error is not None:  # a fresh exception per listener: one shared object would pin every traceback
            raise DownloadFailed(str(self.error)) from None

    async def read(self, pos: int, limit: int, stop: int) -> bytes:
        """Up to ``limit`` bytes at ``pos`` (``< stop``), as soon as some are here.

        The bytes that complete ``[.., stop)`` are returned only once the blob is verified.
        """
        while True:
            self._raise_if_failed()
            end = self.state.readable(pos, limit, stop)
            if end > pos:
                assert self._fd is not None
                return await asyncio.to_thread(os.pread, self._fd, end - pos, pos)
            changed = self._changed
            await changed.wait()

    # --- transfer ----------------------------------------------------------------------------------------------

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def begin(self, source: str, writer: BlobWriter) -> None:
        """A source started sending; listeners may now read from the temp file."""
        self.source = source
        self._fd = os.open(writer.temp_path, os.O_RDONLY | os.O_CLOEXEC)
        self.started.set()

    def advance(self, count: int) -> None:
        """``count`` more bytes are in the temp file."""
        self.state.advance(count)
        self._notify()

    def succeed(self) -> None:
        """The blob is verified: listeners may finish."""
        self.state.verify()
        self.finished = True
        self._notify()

    def fail(self, error: DownloadFailed) -> None:
        """The transfer failed: every listener's next read raises."""
        self.error = error
        self.state.failed = True
        self.finished = True
        self.started.set()
        self._notify()


#: ``failed_play(track id, sources that failed it)``: a play failed (its strike is recorded); recover the track.
FailedPlay = Callable[[uuid.UUID, Sequence[str]], object]


class Downloads:
    """The node's transfers of replicated audio, one per hash, shared by concurrent listeners."""

    def __init__(
        self,
        *,
        db: Database,
        policy: Policy,
        jobs: JobRunner,
        messenger: Blobs,
        blocklist: Blocklist,
        cache: AudioCache,
        failed_play: FailedPlay,
    ) -> None:
        self._db = db
        self._policy = policy
        self._jobs = jobs
        self._messenger = messenger
        self._blocklist = blocklist
        self._cache = cache
        self._failed_play = failed_play
        self._running: dict[str, Download] = {}

    def in_progress(self, digest: str) -> bool:
        """Whether a transfer of this blob is running."""
        return digest in self._running

    async def open(self, track: RemoteTrack) -> Download:
        """Join the running transfer of the track's blob or start one; returns once bytes are flowing.

        The caller must :meth:`Download.release` the result. Raises :class:`DownloadFailed` when no source
        could start sending (the failure is recorded against the track's health) and :class:`TooManyTransfers`
        when the node fetches as many tracks, or as many bytes, as it allows at once.
        """
        download = self._running.get(track.content_hash)
        if download is None:
            self._check_room(track)
            download = Download(track, idle_grace=self._policy.timings.transfer_idle_grace)
            self._running[track.content_hash] = download
            download.task = self._jobs.spawn(self._transfer(download), f"download {track.content_hash[:16]}")
            download.task.add_done_callback(lambda _: self._finished(download))
            metrics.P2P_TRANSFERS_ACTIVE.inc()
        download.acquire()
        try:
            await download.wait_started()
        except BaseException:
            download.release()
            raise
        return download

    def _check_room(self, track: RemoteTrack) -> None:
        """Bound the transfers, and their temp files by the cache size (one larger track may still play alone)."""
        most = self._policy.limits.max_transfers
        if len(self._running) >= most:
            raise TooManyTransfers(f"{most} tracks are being fetched from peers already")
        in_flight = sum(d.size for d in self._running.values())
        if in_flight and in_flight + track.file_size > self._cache.max_size:
            raise TooManyTransfers("the tracks being fetched from peers already fill the audio cache")

    async def _transfer(self, download: Download) -> None:
        # A trickling peer cannot hold a slot: the deadline grows with the size, at a minimal rate.
        deadline = self._policy.timings.transfer_base + download.size / self._policy.limits.min_transfer_rate
        try:
            async with asyncio.timeout(deadline):
                await self._fetch(download)
        except TimeoutError:
            await self._failed(download, DownloadFailed(f"the transfer took longer than {deadline:.0f} s"))
        except DownloadFailed as exc:
            await self._failed(download, exc)

    def _finished(self, download: Download) -> None:
        """The transfer's task ended (however, even cancelled before it ran): release its own reference."""
        metrics.P2P_TRANSFERS_ACTIVE.dec()
        if self._running.get(download.digest) is download:
            del self._running[download.digest]
        if not download.finished:
            download.fail(DownloadFailed("the transfer was stopped"))
        download.release()

    async def _failed(self, download: Download, error: DownloadFailed) -> None:
        """Record a failed play (a strike, then a recovery that skips the failed sources), then tell listeners."""
        track = download.track
        if self._running.get(download.digest) is download:
            del self._running[download.digest]  # new plays start afresh instead of joining a failed transfer
        log.info("playing track %s failed: %s", track.id, error)
        metrics.blob_fetched("audio", ok=False)
        try:
            async with self._db.transaction() as session:
                await health.record_failure(session, track.id, str(error))
            self._failed_play(track.id, download.failed_sources)
        finally:
            download.fail(error)

    async def _fetch(self, download: Download) -> None:
        """Try the sources best first until one starts sending, then receive, verify and cache the blob."""
        track = download.track
        async with self._db.transaction() as session:
            sources = await repo.sources_of(session, track.id)
        ranked = playable_sources(track, sources, self._blocklist.is_blocked)
        if not ranked:
            raise DownloadFailed("no peer is known to hold this track")
        failures = []
        for node_id in ranked:
            try:
                stream = await self._open(node_id, track)
            except PeerError as exc:
                failures.append(f"{node_id[:16]}: {exc}")
                download.failed_sources.append(node_id)
                await self._record_source(track, node_id, ok=False)
                continue
            await self._receive(download, node_id, stream)
            return
        raise DownloadFailed("no peer holding this track could send it (" + "; ".join(failures) + ")")

    async def _open(self, node_id: str, track: RemoteTrack) -> Stream:
        stream, size = await self._messenger.open_blob(
            node_id, track.content_hash, max_size=min(track.file_size, MAX_BLOB_SIZE)
        )
        if size != track.file_size:
            await stream.abort(StreamCode.DONE)
            raise PeerMisbehaved(f"it offers {size} bytes, the track has {track.file_size}")
        return stream

    async def _receive(self, download: Download, node_id: str, stream: Stream) -> None:
        track = download.track
        cache = self._cache
        writer: BlobWriter | None = None
        try:
            writer = await asyncio.to_thread(cache.store.writer, max_size=track.file_size)
            download.begin(node_id, writer)
            try:
                async for chunk in self._messenger.read_blob(stream, track.file_size, track.content_hash):
                    await asyncio.to_thread(writer.write, chunk)
                    download.advance(len(chunk))
            except (TransportError, PeerError) as exc:
                download.failed_sources.append(node_id)
                await self._record_source(track, node_id, ok=False)
                received = download.state.received
                raise DownloadFailed(f"peer {node_id[:16]} stopped sending after {received} bytes") from exc
            if writer.digest() != track.content_hash:
                metrics.verification_failed("audio")
                download.failed_sources.append(node_id)
                await self._drop_source(track, node_id)
                raise DownloadFailed(f"peer {node_id[:16]} sent bytes that do not match the track's hash")
            pending = await asyncio.to_thread(writer.finish)
        except OSError as exc:
            raise DownloadFailed(f"the transfer could not be written to disk: {exc}") from exc
        finally:
            if writer is not None:
                writer.abort()
            await stream.abort(StreamCode.DONE)
        await self._keep(download, node_id, pending)

    async def _keep(self, download: Download, node_id: str, pending: PendingBlob) -> None:
        """Cache and record a verified blob, then let listeners finish (bookkeeping errors never fail them)."""
        track = download.track
        try:
            await self._cache.admit(pending)  # before the last bytes go out: a finished play finds it cached
            async with self._db.transaction() as session:
                await repo.record_source_result(session, track.id, node_id, ok=True)
                await health.record_success(session, track.id)
        except Exception:
            log.exception("keeping the verified audio of track %s failed", track.id)
        download.succeed()
        metrics.blob_fetched("audio", ok=True)
        log.info("fetched %s (%d bytes) from %s", track.content_hash[:16], track.file_size, node_id[:16])

    async def _record_source(self, track: RemoteTrack, node_id: str, *, ok: bool) -> None:
        async with self._db.transaction() as session:
            await repo.record_source_result(session, track.id, node_id, ok=ok)

    async def _drop_source(self, track: RemoteTrack, node_id: str) -> None:
        log.warning("peer %s sent bytes that do not match %s; it is no longer a source", node_id[:16], track.id)
        async with self._db.transaction() as session:
            await repo.drop_source(session, track.id, node_id)
