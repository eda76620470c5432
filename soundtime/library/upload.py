"""Streaming multipart/form-data receiver: file parts go straight into the blob store's staging area.

Starlette's form parser spools whole files to a temporary directory before the endpoint sees them; this
receiver instead hashes and writes each part as it arrives, enforces the size limit while reading (an
oversized file is refused without being stored) and hands each completed file to the caller while the
rest of the request is still arriving.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio.to_thread
from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from soundtime.blobs.store import BlobStore, BlobTooLarge, BlobWriter
from soundtime.kit.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

_FLUSH_AT = 1 << 20
_MAX_FIELD_BYTES = 64 * 1024
_MAX_FILENAME = 255


@dataclass
class ReceivedFile:
    """A file part: staged in ``writer`` when accepted, or carrying the reason it was refused."""

    filename: str
    writer: BlobWriter | None
    error: PayloadTooLarge | None = None


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    writer: BlobWriter | None = None
    buffer: bytearray = field(default_factory=bytearray)
    error: PayloadTooLarge | None = None
    #: Set on a file past the per-request limit: the request stops there (earlier files are kept).
    fatal: PayloadTooLarge | None = None
    field_bytes: int = 0


class _Receiver:
    """Parser callbacks collecting parts; file bytes are buffered and written in large blocks off the loop."""

    def __init__(self, store: BlobStore, max_file_size: int, max_files: int) -> None:
        self.store = store
        self.max_file_size = max_file_size
        self.max_files = max_files
        self.files_seen = 0
        self.part: _Part | None = None
        self.completed: list[_Part] = []
        self._header_name = bytearray()
        self._header_value = bytearray()

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self.part = _Part()

    def _header_end(self) -> None:
        assert self.part is not None
        name = self._header_name.decode("latin-1").lower()
        self.part.headers[name] = self._header_value.decode("utf-8", "replace")
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        part = self.part
        assert part is not None
        _, options = parse_options_header(part.headers.get("content-disposition", ""))
        raw = options.get(b"filename")
        if raw is None:
            return
        part.filename = _clean_filename(raw.decode("utf-8", "replace"))
        self.files_seen += 1
        if self.files_seen > self.max_files:
            message = (
                "send one file per request (use /api/upload/batch for several)"
                if self.max_files == 1
                else f"at most {self.max_files} files per request"
            )
            part.fatal = PayloadTooLarge(message, code="too_many_files")
        else:
            part.writer = self.store.writer(max_size=self.max_file_size)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        assert part is not None
        if part.filename is None:
            part.field_bytes += end - start
            if part.field_bytes > _MAX_FIELD_BYTES:
                raise BadRequest("a form field is too large")
        elif part.writer is not None:
            part.buffer.extend(data[start:end])

    def _part_end(self) -> None:
        if self.part is not None and self.part.filename is not None:
            self.completed.append(self.part)
        self.part = None

    def pending(self) -> list[_Part]:
        """Parts that have buffered data to write (including the one being received)."""
        parts = list(self.completed)
        if self.part is not None and self.part.writer is not None:
            parts.append(self.part)
        return parts


def _clean_filename(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return cleaned[:_MAX_FILENAME] or "upload"


def _boundary(request: Request) -> bytes:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise UnsupportedMediaType("send the file as multipart/form-data", code="expected_multipart")
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("multipart/form-data without a boundary")
    return boundary


async def _flush(part: _Part, final: bool) -> None:
    """Write ``part``'s buffered bytes once there are enough (or at its end); refuse an over-limit file."""
    if part.writer is None or not (final or len(part.buffer) >= _FLUSH_AT):
        return
    data = bytes(part.buffer)
    part.buffer.clear()
    try:
        await anyio.to_thread.run_sync(part.writer.write, data)
    except BlobTooLarge as exc:
        part.writer.abort()
        part.writer = None
        part.error = PayloadTooLarge(f"the file is larger than the limit of {exc.limit:,} bytes")


async def receive_files(
    request: Request, store: BlobStore, *, max_file_size: int, max_files: int, fail_fast: bool = False
) -> AsyncIterator[ReceivedFile]:
    """Yield each file part of a multipart request as soon as it is complete.

    Writers of files not yet handed over are aborted if the request fails midway (client gone, malformed
    body, too many files); the caller owns (finishes or aborts) the writers it receives. With ``fail_fast`` a
    file over the size limit ends the request at once (413) instead of being reported when its part ends.
    """
    receiver = _Receiver(store, max_file_size, max_files)
    try:
        parser = MultipartParser(_boundary(request), receiver.callbacks())  # type: ignore[arg-type]
    except FormParserError as exc:
        raise BadRequest(f"unusable multipart boundary: {exc}") from exc
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            for part in receiver.pending():
                await _flush(part, final=part in receiver.completed)
                if fail_fast and part.error is not None:
                    raise part.error
            while receiver.completed:
                part = receiver.completed.pop(0)
                if part.fatal is not None:
                    raise part.fatal
                yield ReceivedFile(part.filename or "upload", part.writer, part.error)
                part.writer = None
            if receiver.part is not None and receiver.part.fatal is not None:
                raise receiver.part.fatal
        parser.finalize()
    except MultipartParseError as exc:
        raise BadRequest(f"malformed multipart body: {exc}") from exc
    except ClientDisconnect as exc:
        raise BadRequest("the client disconnected before the upload finished") from exc
    finally:
        for part in [*receiver.completed, *([receiver.part] if receiver.part else [])]:
            if part.writer is not None:
                part.writer.abort()
    if receiver.part is not None and receiver.part.filename is not None:
        raise BadRequest("the upload ended in the middle of a file")
