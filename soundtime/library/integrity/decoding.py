"""The arbiter for what the fast checks cannot settle: does the audio decode? (PyAV, i.e. FFmpeg.)

Run only for a :class:`~soundtime.library.integrity.common.Defect` that asks for it (bytes after the last MP3
frame, chained Ogg streams), never for an ordinary file. Bounded: at most :data:`DECODE_BUDGET_SECONDS` of
wall-clock time per file; a file not decoded by then is refused rather than accepted unverified.
"""

from __future__ import annotations

import time
from typing import BinaryIO

import av
import av.error

from soundtime.library.integrity.common import WHOLE_FILE, Defect

#: Longest a decoder may work on one file before the file is refused as unverifiable.
DECODE_BUDGET_SECONDS = 30.0


class NotDecodable(Exception):
    """The audio does not decode (or could not be decoded within the budget); the message says why."""


def decoded_seconds(fileobj: BinaryIO, defect: Defect, *, budget: float | None = None) -> float:
    """Decode what ``defect`` asks to confirm; the seconds of audio decoded, or :class:`NotDecodable`.

    A span ``(start, end)`` is decoded up to ``end`` (packets from there on are the bytes the defect says are
    not audio); :data:`WHOLE_FILE` is decoded to its end, every logical stream of it.
    """
    assert defect.decode is not None
    until = None if defect.decode == WHOLE_FILE else defect.decode[1]
    deadline = time.monotonic() + (DECODE_BUDGET_SECONDS if budget is None else budget)
    fileobj.seek(0)
    seconds = 0.0
    try:
        with av.open(fileobj, mode="r") as container:
            if not container.streams.audio:
                raise NotDecodable("FFmpeg finds no audio stream in it")
            for packet in container.demux(container.streams.audio[0]):
                if until is not None and packet.pos is not None and packet.pos >= until:
                    break
                if time.monotonic() > deadline:
                    raise NotDecodable(f"it could not be decoded within {DECODE_BUDGET_SECONDS:.0f} s")
                seconds += sum(frame.samples / frame.sample_rate for frame in packet.decode() if frame.sample_rate)
    except av.error.FFmpegError as exc:
        raise NotDecodable(f"it does not decode ({_reason(exc)})") from exc
    if seconds <= 0:
        raise NotDecodable("no audio decodes from it")
    return seconds


def _reason(exc: av.error.FFmpegError) -> str:
    text = (exc.strerror or str(exc)).strip()
    return text[:120] or type(exc).__name__
