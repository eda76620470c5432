"""Streaming multipart/form-data receiver: file parts go straight into the blob store's staging area.

Starlette's form parser spools whole files to a temporary directory before the endpoint sees them; this
receiver instead hashes and writes each part as it arrives, enforces the limits while reading, and hands each
completed file to the caller while the rest of the request is still arriving.

Limits: each file at most ``max_file_size`` bytes, at most ``max_files`` files, at most 64 form fields of
64 KiB in all. Any limit ends the request with a 4xx at once (files handed over before stay with the caller).
A body arriving too slowly is cut off by the application-wide minimum rate (:mod:`soundtime.kit.slow_body`).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio.to_thread
from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from soundtime.blobs.store import BlobStore, BlobTooLarge, BlobWriter
from soundtime.kit.errors import AppError, BadRequest, PayloadTooLarge, UnsupportedMediaType

_FLUSH_AT = 1 << 20
_MAX_FIELDS = 64
_MAX_FIELD_BYTES = 64 * 1024
_MAX_FILENAME = 255


@dataclass
class ReceivedFile:
    """A complete file part, staged in ``writer`` (the caller finishes or aborts it)."""

    filename: str
    writer: BlobWriter


@dataclass
class _Part:
    headers: dict[str, bytes] = field(default_factory=dict)
    filename: str | None = None
    writer: BlobWriter | None = None
    buffer: bytearray = field(default_factory=bytearray)


class _Receiver:
    """Parser callbacks collecting parts; file bytes are buffered and written in large blocks off the loop.

    A limit broken inside a callback is recorded in ``refusal`` (raising there would lose files completed
    earlier in the same chunk); the stream loop raises it after handing those over.
    """

    def __init__(self, store: BlobStore, max_file_size: int, max_files: int) -> None:
        self.store = store
        self.max_file_size = max_file_size
        self.max_files = max_files
        self.files_seen = 0
        self.fields_seen = 0
        self.field_bytes = 0
        self.part: _Part | None = None
        self.completed: list[_Part] = []
        self.refusal: AppError | None = None
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

    def _refuse(self, error: AppError) -> None:
        if self.refusal is None:
            self.refusal = error

    def _part_begin(self) -> None:
        self.part = _Part()

    def _header_end(self) -> None:
        assert self.part is not None
        name = self._header_name.decode("latin-1").lower()
        self.part.headers[name] = bytes(self._header_value)  # decoded per parameter (file names are UTF-8)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        part = self.part
        assert part is not None
        filename = disposition_filename(part.headers.get("content-disposition", b""))
        if filename is None:
            self.fields_seen += 1
            if self.fields_seen > _MAX_FIELDS:
                self._refuse(BadRequest(f"at most {_MAX_FIELDS} form fields per request"))
            return
        part.filename = _clean_filename(filename)
        self.files_seen += 1
        if self.files_seen > self.max_files:
            message = (
                "send one file per request (use /api/upload/batch for several)"
                if self.max_files == 1
                else f"at most {self.max_files} files per request"
            )
            self._refuse(PayloadTooLarge(message, code="too_many_files"))
        elif self.refusal is None:
            part.writer = self.store.writer(max_size=self.max_file_size)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        assert part is not None
        if part.filename is None:
            self.field_bytes += end - start
            if self.field_bytes > _MAX_FIELD_BYTES:
                self._refuse(BadRequest("the form fields are too large"))
        elif part.writer is not None:
            part.buffer.extend(data[start:end])

    def _part_end(self) -> None:
        if self.part is not None and self.part.writer is not None:
            self.completed.append(self.part)
        self.part = None

    def in_flight(self) -> list[_Part]:
        """Parts holding a writer: completed but not handed over, and the one being received."""
        current = [self.part] if self.part is not None and self.part.writer is not None else []
        return [*self.completed, *current]


def disposition_filename(header: bytes) -> str | None:
    """The file name of a part's ``Content-Disposition``, or None for a plain form field.

    ``filename*`` (RFC 5987: UTF-8 or ISO-8859-1, percent-encoded) wins when it decodes; else ``filename``,
    whose bytes are UTF-8 (RFC 7578 §4.2; Latin-1 when they are not, as some old clients send), with the
    quoted-pairs of curl (``\\"``) and the ``%22``/``%0D``/``%0A`` of HTML forms undone.
    """
    # Bytes in, bytes out: the parser maps every byte to itself (latin-1), so no name is lost or mangled here.
    _, options = parse_options_header(header)
    extended = _extended_value(header)
    if extended is not None:
        return extended
    raw = options.get(b"filename")
    if raw is None:
        return None
    for escaped, char in ((b"%22", b'"'), (b"%0D", b"\r"), (b"%0A", b"\n")):
        raw = raw.replace(escaped, char).replace(escaped.lower(), char)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


_EXTENDED = re.compile(rb";\s*filename\*\s*=\s*([A-Za-z0-9_-]+)'[^']*'([^;\s]*)", re.IGNORECASE)
_CHARSETS = {b"utf-8": "utf-8", b"iso-8859-1": "latin-1"}


def _extended_value(header: bytes) -> str | None:
    """The RFC 5987 ``filename*`` value, if present, in a charset it allows, and decodable."""
    match = _EXTENDED.search(header)
    if match is None:
        return None
    charset = _CHARSETS.get(match.group(1).lower())
    if charset is None:
        return None
    try:
        return urllib.parse.unquote_to_bytes(match.group(2)).decode(charset)
    except UnicodeDecodeError:
        return None


def _clean_filename(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return cleaned[:_MAX_FILENAME] or "upload"


def _parser(request: Request, receiver: _Receiver) -> MultipartParser:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise UnsupportedMediaType("send the file as multipart/form-data", code="expected_multipart")
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("multipart/form-data without a boundary")
    try:
        return MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    except FormParserError as exc:
        raise BadRequest(f"unusable multipart boundary: {exc}") from exc


async def _flush(part: _Part, final: bool) -> None:
    """Write ``part``'s buffered bytes once there are enough (or at its end); 413 once it is over the limit."""
    if part.writer is None or not (final or len(part.buffer) >= _FLUSH_AT):
        return
    data = bytes(part.buffer)
    part.buffer.clear()
    try:
        await anyio.to_thread.run_sync(part.writer.write, data)
    except BlobTooLarge as exc:
        raise PayloadTooLarge(f"{part.filename}: larger than the limit of {exc.limit:,} bytes") from exc


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    """The request body; 400 if the client leaves (a client too slow is cut off by ``kit.slow_body`` with 408)."""
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect as exc:
        raise BadRequest("the client disconnected before the upload finished") from exc


async def receive_files(
    request: Request, store: BlobStore, *, max_file_size: int, max_files: int
) -> AsyncIterator[ReceivedFile]:
    """Yield each file part of a multipart request as soon as it is complete (see the module's limits).

    Writers of files not yet handed over are aborted when the request fails midway; the caller owns (finishes
    or aborts) the writers it receives.
    """
    receiver = _Receiver(store, max_file_size, max_files)
    parser = _parser(request, receiver)
    try:
        async for chunk in _chunks(request):
            parser.write(chunk)
            for part in receiver.in_flight():
                await _flush(part, final=part in receiver.completed)
            while receiver.completed:
                part = receiver.completed.pop(0)
                assert part.writer is not None
                yield ReceivedFile(part.filename or "upload", part.writer)
                part.writer = None
            if receiver.refusal is not None:
                raise receiver.refusal
        parser.finalize()
    except MultipartParseError as exc:
        raise BadRequest(f"malformed multipart body: {exc}") from exc
    finally:
        for part in receiver.in_flight():
            if part.writer is not None:
                part.writer.abort()
    if receiver.part is not None:
        raise BadRequest("the upload ended in the middle of a part")
