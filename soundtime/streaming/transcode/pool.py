"""The transcoder: at most ``max_concurrent`` live transcodes, each in its own worker thread, and the cache of
finished ones; and the transcodes it hands out (a cached file, or a live encode)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from soundtime.blobs.refs import PendingBlob
from soundtime.kit import metrics
from soundtime.kit.aborts import ResponseAborted
from soundtime.kit.errors import AppError, ServiceUnavailable
from soundtime.p2p.face import Download, DownloadFailed
from soundtime.streaming.media import AUDIO_CACHE, Media
from soundtime.streaming.transcode import encoder
from soundtime.streaming.transcode.cache import CacheWriter, TranscodeCache
from soundtime.streaming.transcode.options import TranscodeOptions
from soundtime.streaming.transcode.remote import DownloadReader
from soundtime.streaming.transcode.worker import Stalled, Worker

log = logging.getLogger("soundtime.streaming.transcode.service")

#: Chunks (of about ``encoder.CHUNK`` bytes) a transcode may run ahead of its listener.
QUEUE_CHUNKS = 8
#: How long :meth:`Transcoder.close` waits for running workers to end.
CLOSE_TIMEOUT = 5.0
#: Seconds a refused client is told to wait before trying again.
RETRY_AFTER = 5


class TranscodeFailed(AppError):
    """The track's audio could not be transcoded (it does not decode)."""

    status_code = 500
    code = "transcode_failed"


@dataclass(slots=True)
class TranscodeStats:
    """Counts since start-up (also exported to ``/metrics``)."""

    live: int = 0
    from_cache: int = 0
    busy: int = 0
    cached: int = 0


@dataclass(frozen=True, slots=True)
class CachedTranscode:
    """A finished transcode from the cache: a stored file, served with ranges."""

    media: Media
    duration_s: float | None

    @property
    def media_type(self) -> str:
        return self.media.media_type

    @property
    def size(self) -> int | None:
        return self.media.size

    async def chunks(self) -> AsyncIterator[bytes]:
        """The whole file."""
        async for chunk in self.media.store.aread_range(self.media.digest):
            yield chunk

    async def aclose(self) -> None:
        """Nothing to stop."""


@dataclass(eq=False, slots=True)
class LiveTranscode:
    """A transcode being made now; its first chunk is already here. Iterate :meth:`chunks`; :meth:`aclose` stops it."""

    media_type: str
    duration_s: float | None
    _worker: Worker
    _first: bytes
    size: int | None = field(default=None, init=False)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The output as it is encoded. A failure after the first chunk raises :class:`ResponseAborted`."""
        try:
            if self._first:
                yield self._first
            while (chunk := await self._worker.next_chunk()) is not None:
                yield chunk
        except Exception as exc:  # the worker's exit logged what went wrong
            raise ResponseAborted(f"the transcode stopped: {exc or type(exc).__name__}") from exc
        finally:
            self._worker.stop()

    async def aclose(self) -> None:
        """Stop the transcode (its worker thread ends promptly and frees its slot); idempotent."""
        self._worker.stop()


Transcoded = CachedTranscode | LiveTranscode


class _Slot:
    """One of the transcoder's concurrent transcodes, held until its worker thread ended."""

    def __init__(self, transcoder: Transcoder) -> None:
        self._transcoder: Transcoder | None = transcoder
        transcoder.active += 1
        metrics.TRANSCODES_ACTIVE.inc()

    def release(self) -> None:
        if self._transcoder is not None:
            self._transcoder.active -= 1
            metrics.TRANSCODES_ACTIVE.dec()
            self._transcoder = None


@dataclass(frozen=True, slots=True)
class SourceAudio:
    """What a worker decodes: a stored file, or a transfer from a peer (released when the worker ends)."""

    path: Path | None = None
    download: Download | None = None
    seekable: bool = False

    def open(self, worker: Worker) -> encoder.Source:
        if self.download is not None:
            return DownloadReader(self.download, worker, seekable=self.seekable)
        assert self.path is not None
        return str(self.path)

    def release(self) -> None:
        if self.download is not None:
            self.download.release()


class Transcoder:
    """Runs at most ``max_concurrent`` live transcodes, each in its own thread, and keeps finished ones cached."""

    def __init__(self, cache: TranscodeCache, *, max_concurrent: int) -> None:
        self.cache = cache
        self.max_concurrent = max_concurrent
        self.active = 0
        self.stats = TranscodeStats()
        self._workers: set[Worker] = set()
        self._names = itertools.count(1)

    def cached(self, key: str, media_type: str, duration_s: float | None) -> CachedTranscode | None:
        """The finished transcode ``key``, if the cache holds it."""
        size = self.cache.lookup(key)
        if size is None:
            return None
        media = Media(self.cache.store, key, size, media_type, AUDIO_CACHE)
        return CachedTranscode(media, duration_s)

    def reserve(self, options: TranscodeOptions) -> _Slot:
        """A slot for one live transcode; 503 ``busy`` when all are taken."""
        if self.active >= self.max_concurrent:
            self.stats.busy += 1
            metrics.transcode_requested(options.format, "busy")
            raise ServiceUnavailable(
                f"the server is already transcoding {self.max_concurrent} streams; try again in a moment",
                code="busy",
                headers={"Retry-After": str(RETRY_AFTER)},
            )
        return _Slot(self)

    async def start(
        self, slot: _Slot, source: SourceAudio, options: TranscodeOptions, key: str | None, duration_s: float | None
    ) -> LiveTranscode:
        """Run a transcode in a worker thread holding ``slot``; returns once its first chunk is out.

        The slot and the source are released when the worker thread has ended, however it ends.
        """
        fmt = options.format

        def job(worker: Worker) -> encoder.Result:
            writer = self.cache.writer() if key is not None else None
            if writer is None:
                return encoder.transcode(source.open(worker), options, worker.emit, worker.stopped)
            try:
                result = encoder.transcode(source.open(worker), options, _teed(writer, worker), worker.stopped)
            except BaseException:
                writer.abort()  # stopped or failed: nothing of it is kept
                raise
            pending = writer.finish()
            if pending is not None and key is not None:
                self._keep(worker, key, pending)
            return result

        def on_exit(error: BaseException | None) -> None:
            self._workers.discard(worker)
            slot.release()
            source.release()
            stopped = isinstance(error, encoder.Stopped | Stalled)
            outcome = "completed" if error is None else "stopped" if stopped else "failed"
            metrics.transcode_ended(fmt, outcome)
            if error is not None and not stopped:
                log.warning("transcoding to %s failed: %s", fmt, error)

        worker = Worker(job, capacity=QUEUE_CHUNKS, name=f"transcode-{next(self._names)}", on_exit=on_exit)
        self._workers.add(worker)
        worker.start()
        try:
            first = await worker.next_chunk()
        except encoder.TranscodeError as exc:
            raise TranscodeFailed(f"this track's audio could not be transcoded: {exc}") from exc
        except DownloadFailed as exc:
            raise ServiceUnavailable(f"no peer could provide this track: {exc}", code="peer_unavailable") from exc
        except encoder.Stopped as exc:  # closed before it started
            raise ServiceUnavailable("the server is shutting down", code="unavailable") from exc
        except BaseException:
            worker.stop()
            raise
        self.stats.live += 1
        metrics.transcode_requested(fmt, "live")
        return LiveTranscode(options.media_type, duration_s, worker, first or b"")

    def _keep(self, worker: Worker, key: str, pending: PendingBlob) -> None:
        """Publish a cleanly finished transcode (from the worker, before its listener gets the end of the stream)."""
        try:
            if worker.call(self.cache.admit(key, pending)):
                self.stats.cached += 1
        except BaseException:
            self.cache.store.discard_pending(pending)
            raise

    async def close(self) -> None:
        """Stop every live transcode and wait (a little) for their threads to end."""
        workers = list(self._workers)
        for worker in workers:
            worker.stop()
        for worker in workers:
            ended = await asyncio.to_thread(worker.join, CLOSE_TIMEOUT)
            if not ended:
                log.warning("a transcode worker did not stop within %.0f s", CLOSE_TIMEOUT)


def _teed(writer: CacheWriter, worker: Worker) -> encoder.Emit:
    def emit(chunk: bytes) -> None:
        writer.write(chunk)
        worker.emit(chunk)

    return emit
