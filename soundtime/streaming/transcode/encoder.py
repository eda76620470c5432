"""The PyAV pipeline of one transcode: demux, decode, resample, skip to the offset, encode, mux — synchronous.

It runs in a worker thread (FFmpeg releases the GIL while it decodes and encodes) and hands the output to
``emit`` in chunks as it is produced: the first chunk as soon as the muxer has written any audio, then chunks of
:data:`CHUNK` bytes. ``emit`` may block (the consumer is slow) or raise :class:`Stopped` (it went away); the
FFmpeg contexts are closed however the pipeline ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import av
from av.audio.codeccontext import AudioCodecContext
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer

from soundtime.streaming.transcode.options import Format, TranscodeOptions

log = logging.getLogger(__name__)

#: Output is handed over in chunks of about this size (the first one as soon as there is any audio).
CHUNK = 32 * 1024
#: Undecodable packets tolerated in one source before the transcode gives up.
MAX_BAD_PACKETS = 50
#: Ogg pages of a quarter of a second: the first audio reaches the listener sooner (the muxer's default is 1 s).
OGG_PAGE_MICROSECONDS = 250_000
#: MPEG-1 Layer III sample rates; other sources are resampled to 44.1 or 48 kHz.
_MP3_RATES = (32000, 44100, 48000)
_OPUS_RATE = 48000


class Readable(Protocol):
    """A file object PyAV can read (it may also offer ``seekable``, ``seek`` and ``tell``)."""

    def read(self, size: int = -1, /) -> bytes: ...


#: What a transcode reads: a path, or a file object.
Source = str | Readable
#: Where a transcode's output goes, chunk by chunk (may block; raises :class:`Stopped` to stop the transcode).
Emit = Callable[[bytes], None]


class Stopped(Exception):
    """The consumer of the output went away: the pipeline stops at once."""


class TranscodeError(Exception):
    """The source could not be decoded (not audio, corrupt, or unreadable)."""


@dataclass(frozen=True, slots=True)
class Result:
    """What a finished transcode produced."""

    samples: int
    sample_rate: int
    size: int

    @property
    def duration(self) -> float:
        """Seconds of audio encoded."""
        return self.samples / self.sample_rate


@dataclass(frozen=True, slots=True)
class _Codec:
    muxer: str
    muxer_options: dict[str, str]
    encoder: str
    sample_format: str
    encoder_options: dict[str, str]


_CODECS = {
    # Constrained VBR keeps the average within about 1 % of the bitrate asked, with VBR's quality.
    Format.OPUS: _Codec(
        "ogg",
        {"page_duration": str(OGG_PAGE_MICROSECONDS)},
        "libopus",
        "flt",
        {"vbr": "constrained", "application": "audio"},
    ),
    # CBR: what players and Subsonic clients expect of a bitrate; no ID3 tag, no Xing frame (a stream cannot go
    # back to fill it in, and an empty one would tell players the stream is empty).
    Format.MP3: _Codec("mp3", {"id3v2_version": "0", "write_xing": "0"}, "libmp3lame", "fltp", {}),
}


class _Collector:
    """The muxer's output file: a write-only buffer emptied by the pipeline."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.total = 0

    def write(self, data: bytes) -> int:
        self.buffer += data
        self.total += len(data)
        return len(data)

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def transcode(
    source: Source,
    options: TranscodeOptions,
    emit: Emit,
    stopped: Callable[[], bool],
    *,
    open_options: dict[str, str] | None = None,
) -> Result:
    """Transcode ``source`` (a path or a readable file object) as ``options`` says, handing chunks to ``emit``.

    Raises :class:`TranscodeError` when the source cannot be decoded, :class:`Stopped` when ``stopped()``
    turned true or ``emit`` raised it; an exception raised by the source's ``read`` passes through.
    """
    try:
        container = av.open(source, "r", options=open_options or {})
    except av.FFmpegError as exc:
        raise TranscodeError(f"the audio could not be opened ({exc.strerror or exc})") from exc
    try:
        with container:
            return _run(container, options, emit, stopped)
    except av.FFmpegError as exc:
        raise TranscodeError(f"FFmpeg failed: {exc.strerror or exc}") from exc


def _run(container: InputContainer, options: TranscodeOptions, emit: Emit, stopped: Callable[[], bool]) -> Result:
    if not container.streams.audio:
        raise TranscodeError("the file holds no audio stream")
    stream = container.streams.audio[0]
    codec = _CODECS[options.format]
    sink = _Collector()
    with av.open(sink, "w", format=codec.muxer, options=codec.muxer_options) as out:
        pipeline = _Pipeline(container, stream=stream, out=out, sink=sink, options=options, emit=emit, stopped=stopped)
        samples = pipeline.run()
    if sink.buffer:  # the trailer (the last Ogg page, for one)
        emit(sink.take())
    return Result(samples, pipeline.rate, sink.total)


class _Pipeline:
    """One run of decode → resample → trim → encode → mux; state for the sample-exact start and the chunking."""

    def __init__(
        self,
        container: InputContainer,
        *,
        stream: AudioStream,
        out: OutputContainer,
        sink: _Collector,
        options: TranscodeOptions,
        emit: Emit,
        stopped: Callable[[], bool],
    ) -> None:
        self._container = container
        self._stream = stream
        self._out = out
        self._sink = sink
        self._options = options
        self._emit = emit
        self._stopped = stopped
        codec = _CODECS[options.format]
        source = stream.codec_context
        self.rate = _output_rate(options.format, source.sample_rate)
        layout = "mono" if source.channels == 1 else "stereo"
        self._encoder = self._add_stream(codec, layout)
        self._resampler = av.AudioResampler(format=codec.sample_format, layout=layout, rate=self.rate)
        self._fifo = av.AudioFifo()
        self._frame_size = self._encoder.frame_size or 1152
        # Timestamps count from the stream's start time (an MP3's encoder delay, say), offsets from its first sample.
        start = stream.start_time
        self._origin = float(start * stream.time_base) if start is not None and stream.time_base else 0.0
        self._skip: int | None = None  # samples to drop before the offset, known at the first decoded frame
        self._pts = 0
        self._header = 0
        self._sent = False

    def _add_stream(self, codec: _Codec, layout: str) -> AudioCodecContext:
        stream = self._out.add_stream(codec.encoder, rate=self.rate)
        assert isinstance(stream, AudioStream)
        context = stream.codec_context
        context.layout = layout
        context.format = codec.sample_format
        context.bit_rate = self._options.bitrate_kbps * 1000
        context.time_base = Fraction(1, self.rate)
        context.options = dict(codec.encoder_options)
        return context

    def run(self) -> int:
        """Transcode everything from the offset on; returns the number of samples encoded."""
        self._seek()
        self._out.start_encoding()
        self._header = self._sink.total
        bad = 0
        for packet in self._container.demux(self._stream):
            if self._stopped():
                raise Stopped
            try:
                frames = packet.decode()
            except av.InvalidDataError:
                bad += 1
                if bad > MAX_BAD_PACKETS:
                    raise TranscodeError(f"more than {MAX_BAD_PACKETS} undecodable packets") from None
                continue
            for frame in frames:
                self._feed(frame)
        for frame in self._resampler.resample(None):
            self._write(frame)
        self._encode_ready(final=True)
        self._mux(self._encoder.encode(None))
        return self._pts

    def _seek(self) -> None:
        offset = self._options.offset_s
        if not offset:
            return
        time_base = self._stream.time_base
        try:
            if time_base:
                self._container.seek(int((self._origin + offset) / time_base), stream=self._stream)
            else:
                self._container.seek(int((self._origin + offset) * av.time_base))
        except av.FFmpegError as exc:  # not seekable: decode from the start and drop what lies before the offset
            log.debug("seeking to %.3f s failed (%s); decoding from the start", offset, exc)

    def _feed(self, frame: AudioFrame) -> None:
        if self._skip is None:
            start = frame.time
            offset = self._options.offset_s
            if offset and start is not None:
                self._skip = max(0, round((offset - (start - self._origin)) * self.rate))
            else:
                self._skip = 0
        for resampled in self._resampler.resample(frame):
            self._write(resampled)
        self._encode_ready(final=False)

    def _write(self, frame: AudioFrame) -> None:
        frame.pts = None  # the FIFO would insist on continuous timestamps; the encoder's are set below
        self._fifo.write(frame)

    def _encode_ready(self, *, final: bool) -> None:
        """Drop the samples before the offset, then encode every full frame (and the last partial one)."""
        fifo = self._fifo
        while self._skip and fifo.samples:
            dropped = fifo.read(min(self._skip, fifo.samples))
            self._skip -= dropped.samples if dropped is not None else 0
        while fifo.samples >= self._frame_size or (final and fifo.samples):
            frame = fifo.read(self._frame_size, partial=final)
            if frame is None:
                break
            frame.pts = self._pts
            frame.time_base = Fraction(1, self.rate)
            self._pts += frame.samples
            self._mux(self._encoder.encode(frame))

    def _mux(self, packets: list[av.Packet[AudioStream]]) -> None:
        for packet in packets:
            self._out.mux(packet)
        sink = self._sink
        if not sink.buffer:
            return
        if not self._sent:
            if sink.total > self._header:  # some audio is out: the listener can start
                self._sent = True
                self._emit(sink.take())
        elif len(sink.buffer) >= CHUNK:
            self._emit(sink.take())


def _output_rate(fmt: Format, source_rate: int) -> int:
    if fmt is Format.OPUS:
        return _OPUS_RATE
    if source_rate in _MP3_RATES:
        return source_rate
    return 48000 if source_rate > 44100 else 44100
