"""Generate small, real, tagged audio files for tests and benchmarks.

Audio is encoded with PyAV (a dev dependency) and tagged with mutagen. Encoding is
the slow part, so each distinct signal is encoded once per work directory and
every further file is a copy of that cache entry with fresh tags written on top.
"""

from __future__ import annotations

import array
import base64
import io
import math
import os
import random
import re
import struct
import sys
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from mutagen.aiff import AIFF
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3, TALB, TCON, TDRC, TIT2, TPE1, TPE2, TPOS, TRCK
from mutagen.mp4 import MP4, MP4Cover
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

FORMATS: tuple[str, ...] = ("mp3", "flac", "ogg", "opus", "m4a", "wav", "aiff")
EXTENSIONS: dict[str, str] = {
    "mp3": ".mp3",
    "flac": ".flac",
    "ogg": ".ogg",
    "opus": ".opus",
    "m4a": ".m4a",
    "aac": ".aac",
    "wav": ".wav",
    "aiff": ".aiff",
}

# format -> (muxer, encoder, encoder options); "aac" (raw ADTS) is extra, for reader tests.
_ENCODERS: dict[str, tuple[str, str, dict[str, str]]] = {
    "mp3": ("mp3", "libmp3lame", {}),
    "flac": ("flac", "flac", {}),
    "ogg": ("ogg", "vorbis", {"strict": "experimental"}),
    "opus": ("ogg", "libopus", {}),
    "m4a": ("ipod", "aac", {}),
    "aac": ("adts", "aac", {}),
    "wav": ("wav", "pcm_s16le", {}),
    "aiff": ("aiff", "pcm_s16be", {}),
}
_OPUS_RATE = 48000
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 6: "5.1"}

# Logical tag field -> (ID3 frame, Vorbis comment key, MP4 atom).
_FIELDS: dict[str, tuple[type, str, str]] = {
    "title": (TIT2, "TITLE", "\xa9nam"),
    "artist": (TPE1, "ARTIST", "\xa9ART"),
    "album_artist": (TPE2, "ALBUMARTIST", "aART"),
    "album": (TALB, "ALBUM", "\xa9alb"),
    "track_number": (TRCK, "TRACKNUMBER", "trkn"),
    "disc_number": (TPOS, "DISCNUMBER", "disk"),
    "year": (TDRC, "DATE", "\xa9day"),
    "genre": (TCON, "GENRE", "\xa9gen"),
}


@dataclass(frozen=True)
class TrackSpec:
    """What one generated file should contain."""

    title: str = "Test Tone"
    artist: str | None = "Test Artist"
    album: str | None = "Test Album"
    album_artist: str | None = None
    track_number: int | None = None
    disc_number: int | None = None
    year: int | None = None
    genre: str | None = None
    cover: bytes | None = None
    duration: float = 1.0
    frequency: float = 440.0
    sample_rate: int = 44100
    channels: int = 2

    def tag_fields(self) -> dict[str, str]:
        """The spec's tags as logical field -> text, omitting unset ones."""
        values = {
            "title": self.title,
            "artist": self.artist,
            "album_artist": self.album_artist,
            "album": self.album,
            "track_number": self.track_number,
            "disc_number": self.disc_number,
            "year": self.year,
            "genre": self.genre,
        }
        return {key: str(value) for key, value in values.items() if value is not None}


# -- cover images -----------------------------------------------------------------------------


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _seed_colour(seed: int) -> tuple[int, int, int]:
    mixed = (seed * 2654435761 + 0x9E3779B9) & 0xFFFFFFFF
    return mixed & 0xFF, (mixed >> 8) & 0xFF, (mixed >> 16) & 0xFF


def make_cover_png(seed: int = 0, size: int = 8) -> bytes:
    """A tiny valid RGB PNG whose pixels (and so bytes) differ per seed."""
    red, green, blue = _seed_colour(seed)
    rows = b"".join(
        b"\x00" + bytes(value & 0xFF for x in range(size) for value in (red ^ x, green ^ y, blue ^ (x + y)))
        for y in range(size)
    )
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"tEXt", b"seed\x00" + str(seed).encode())
        + _png_chunk(b"IEND", b"")
    )


def make_cover_jpeg(seed: int = 0, size: int = 16) -> bytes:
    """A tiny valid baseline JPEG (PyAV's mjpeg encoder), distinct per seed."""
    frame = av.VideoFrame(size, size, "yuvj420p")
    for plane, value in zip(frame.planes, _seed_colour(seed), strict=True):
        plane.update(bytes([value]) * plane.buffer_size)
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width = codec.height = size
    codec.pix_fmt = "yuvj420p"
    codec.time_base = Fraction(1, 25)
    packets = codec.encode(frame) + codec.encode(None)
    return bytes(packets[0])


def image_mime(data: bytes) -> str:
    """The MIME type of an image from its magic bytes (JPEG unless recognised)."""
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"


# -- encoding -----------------------------------------------------------------------------------


def _sine_pcm(spec: TrackSpec, rate: int) -> tuple[bytes, int]:
    """Interleaved native-endian s16 samples of the spec's tone at `rate`."""
    count = max(1, round(spec.duration * rate))
    step = 2 * math.pi * spec.frequency / rate
    mono = array.array("h", [round(16383 * math.sin(step * i)) for i in range(count)])
    pcm = array.array("h", bytes(2 * count * spec.channels))
    for channel in range(spec.channels):
        pcm[channel :: spec.channels] = mono
    return pcm.tobytes(), count


def encode_tone(path: Path, fmt: str, spec: TrackSpec) -> None:
    """Encode the spec's sine tone into `path` as `fmt`, without tags."""
    muxer, encoder, options = _ENCODERS[fmt]
    if fmt == "ogg" and spec.channels != 2:
        raise ValueError("FFmpeg's native vorbis encoder (libvorbis is absent) only encodes stereo")
    encode_with(path, muxer, encoder, spec, rate=_OPUS_RATE if fmt == "opus" else None, options=options)


def encode_with(
    path: Path,
    muxer: str,
    encoder: str,
    spec: TrackSpec,
    *,
    rate: int | None = None,
    options: Mapping[str, str] | None = None,
) -> None:
    """Encode the spec's tone with any FFmpeg muxer/encoder pair (e.g. "mp2", "asf"/"wmav2")."""
    rate = rate or spec.sample_rate
    pcm, _ = _sine_pcm(spec, rate)
    _encode_pcm(path, muxer, encoder, pcm, rate=rate, channels=spec.channels, options=options)


def encode_noise(
    path: Path,
    muxer: str,
    encoder: str,
    *,
    seconds: float,
    rate: int = 44100,
    channels: int = 2,
    seed: int = 0,
    options: Mapping[str, str] | None = None,
) -> None:
    """Encode full-scale white noise, the least compressible signal: the largest frames, full of false sync codes."""
    count = max(1, round(seconds * rate))
    pcm = random.Random(seed).randbytes(2 * count * channels)  # s16 noise in either byte order
    _encode_pcm(path, muxer, encoder, pcm, rate=rate, channels=channels, options=options)


def encode_segments(
    path: Path, muxer: str, encoder: str, segments: list[tuple[float, float]], *, rate: int = 44100, channels: int = 2
) -> None:
    """Encode consecutive (frequency, seconds) tones (frequency 0: silence): audio whose content tells the time."""
    pcm = b"".join(
        _sine_pcm(TrackSpec(duration=seconds, frequency=freq, channels=channels), rate)[0]
        if freq
        else bytes(2 * channels * round(seconds * rate))
        for freq, seconds in segments
    )
    _encode_pcm(path, muxer, encoder, pcm, rate=rate, channels=channels, options=None)


@dataclass(frozen=True)
class Decoded:
    """What PyAV makes of some encoded audio."""

    container: str
    codec: str
    sample_rate: int
    channels: int
    samples: int
    #: Mean absolute sample value (0..1) of each 10 ms window of the first channel: where the sound is.
    loudness: list[float]

    @property
    def duration(self) -> float:
        return self.samples / self.sample_rate


def decode(data: bytes) -> Decoded:
    """Decode a whole stream held in memory."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=stream.codec_context.sample_rate)
        samples = 0
        pcm = array.array("h")
        for frame in container.decode(stream):
            samples += frame.samples
            for mono in resampler.resample(frame):
                pcm.frombytes(bytes(mono.planes[0])[: 2 * mono.samples])
        window = stream.codec_context.sample_rate // 100
        loudness = [
            sum(abs(value) for value in pcm[start : start + window]) / window / 32768
            for start in range(0, len(pcm) - window + 1, window)
        ]
        return Decoded(
            container.format.name,
            stream.codec_context.codec.name,
            stream.codec_context.sample_rate,
            stream.codec_context.channels,
            samples,
            loudness,
        )


def _encode_pcm(
    path: Path, muxer: str, encoder: str, pcm: bytes, *, rate: int, channels: int, options: Mapping[str, str] | None
) -> None:
    """Encode interleaved native-endian s16 samples."""
    layout = _LAYOUTS[channels]
    count = len(pcm) // (2 * channels)
    frame = av.AudioFrame(format="s16", layout=layout, samples=count)
    frame.planes[0].update(pcm if sys.byteorder == "little" else _byteswapped(pcm))
    frame.sample_rate = rate
    frame.pts = 0
    frame.time_base = Fraction(1, rate)
    with av.open(str(path), "w", format=muxer, options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream(encoder, rate=rate)
        stream.codec_context.layout = layout
        if options:
            stream.codec_context.options = dict(options)
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _byteswapped(pcm: bytes) -> bytes:
    samples = array.array("h", pcm)
    samples.byteswap()
    return samples.tobytes()


# -- tagging ------------------------------------------------------------------------------------


def _number_pair(text: str) -> tuple[int, int]:
    """Parse "3/12" into (3, 12) for MP4 trkn/disk atoms, which hold integers only."""
    parts = [int(part) if re.fullmatch(r"\s*[0-9]+\s*", part) else 0 for part in text.split("/", 1)]
    return parts[0], parts[1] if len(parts) > 1 else 0


def _picture(cover: bytes, picture_type: int) -> Picture:
    picture = Picture()
    picture.type = picture_type
    picture.mime = image_mime(cover)
    picture.desc = "Cover"
    picture.data = cover
    return picture


def _write_id3(path: Path, fmt: str, fields: Mapping[str, str], cover: bytes | None, cover_type: int) -> None:
    tags = ID3()
    for key, text in fields.items():
        frame_type = _FIELDS[key][0]
        tags.add(frame_type(encoding=3, text=[text]))
    if cover is not None:
        tags.add(APIC(encoding=3, mime=image_mime(cover), type=cover_type, desc="Cover", data=cover))
    if fmt in {"mp3", "aac"}:
        tags.save(path)
        return
    # WAV/AIFF keep ID3 in an "id3 " / "ID3 " chunk, which mutagen's file classes manage.
    audio = WAVE(path) if fmt == "wav" else AIFF(path)
    if audio.tags is None:
        audio.add_tags()
    audio.tags.clear()
    for frame in tags.values():
        audio.tags.add(frame)
    audio.save()


def _write_vorbis(path: Path, fmt: str, fields: Mapping[str, str], cover: bytes | None, cover_type: int) -> None:
    audio = FLAC(path) if fmt == "flac" else OggVorbis(path) if fmt == "ogg" else OggOpus(path)
    if audio.tags is None:
        audio.add_tags()
    audio.tags.clear()
    for key, text in fields.items():
        audio.tags[_FIELDS[key][1]] = [text]
    if isinstance(audio, FLAC):
        audio.clear_pictures()
    if cover is not None:
        picture = _picture(cover, cover_type)
        if isinstance(audio, FLAC):
            audio.add_picture(picture)
        else:
            audio.tags["METADATA_BLOCK_PICTURE"] = [base64.b64encode(picture.write()).decode("ascii")]
    audio.save()


def _write_mp4(path: Path, fields: Mapping[str, str], cover: bytes | None) -> None:
    audio = MP4(path)
    if audio.tags is None:
        audio.add_tags()
    audio.tags.clear()
    for key, text in fields.items():
        atom = _FIELDS[key][2]
        audio.tags[atom] = [_number_pair(text)] if atom in {"trkn", "disk"} else [text]
    if cover is not None:
        kind = MP4Cover.FORMAT_PNG if image_mime(cover) == "image/png" else MP4Cover.FORMAT_JPEG
        audio.tags["covr"] = [MP4Cover(cover, imageformat=kind)]
    audio.save()


def write_tags(
    path: Path, fmt: str, fields: Mapping[str, str], cover: bytes | None = None, cover_type: int = 3
) -> None:
    """Replace the tags of `path` with `fields` (logical name -> raw text) and an optional cover.

    Logical names are those of TrackSpec: title, artist, album_artist, album, track_number,
    disc_number, year, genre. Values are written verbatim (e.g. "3/12", "1975-10-31"), which
    lets tests plant odd values; MP4 number atoms get the parsed "n/total" pair.
    """
    if fmt in {"mp3", "wav", "aiff", "aac"}:
        _write_id3(path, fmt, fields, cover, cover_type)
    elif fmt in {"flac", "ogg", "opus"}:
        _write_vorbis(path, fmt, fields, cover, cover_type)
    elif fmt == "m4a":
        _write_mp4(path, fields, cover)
    else:
        raise ValueError(f"unknown format {fmt!r}")


def flac_blocks(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The (type, body) metadata blocks of a FLAC file and the audio frames after them."""
    pos, blocks, last = 4, [], False
    while not last:
        last, kind, length = bool(data[pos] & 0x80), data[pos] & 0x7F, int.from_bytes(data[pos + 1 : pos + 4], "big")
        blocks.append((kind, data[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    return blocks, data[pos:]


def flac_file(blocks: list[tuple[int, bytes]], audio: bytes) -> bytes:
    """A FLAC file of these metadata blocks (the last one flagged) and audio frames."""
    out = [b"fLaC"]
    for index, (kind, body) in enumerate(blocks):
        flag = 0x80 if index == len(blocks) - 1 else 0
        out.append(bytes([flag | kind]) + len(body).to_bytes(3, "big") + body)
    return b"".join([*out, audio])


# -- factory ------------------------------------------------------------------------------------


class AudioFactory:
    """Makes tagged audio files, encoding each distinct tone only once per work directory."""

    def __init__(self, workdir: Path) -> None:
        self._cache_dir = workdir / ".audio-cache"
        self._memory: dict[str, bytes] = {}

    def make(self, path: Path, fmt: str, spec: TrackSpec = TrackSpec()) -> Path:
        """Write a file of format `fmt` carrying `spec`'s tone and tags to `path` (parents are created)."""
        if fmt not in _ENCODERS:
            raise ValueError(f"unknown format {fmt!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self._encoded(fmt, spec))
        write_tags(path, fmt, spec.tag_fields(), spec.cover)
        return path

    def _encoded(self, fmt: str, spec: TrackSpec) -> bytes:
        key = f"{fmt}-{spec.duration!r}-{spec.frequency!r}-{spec.sample_rate}-{spec.channels}"
        key = re.sub(r"[^A-Za-z0-9.-]", "_", key) + EXTENSIONS[fmt]
        cached = self._memory.get(key)
        if cached is not None:
            return cached
        target = self._cache_dir / key
        if not target.exists():
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{os.getpid()}-{threading.get_ident()}-{key}")
            encode_tone(partial, fmt, spec)
            os.replace(partial, target)
        data = target.read_bytes()
        self._memory[key] = data
        return data
