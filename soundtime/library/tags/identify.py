"""The format of an audio file, judged by its bytes alone (never its name)."""

from __future__ import annotations

from typing import BinaryIO

from soundtime.library.integrity import adts_frame, find_frame_run, free_format_at, leading_tags_end, mpeg_frame
from soundtime.library.tags.model import AudioRejected

_SNIFF_WINDOW = 64 * 1024

_UNSUPPORTED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"MAC ", "Monkey's Audio"),
    (b"wvpk", "WavPack"),
    (b"MPCK", "Musepack"),
    (b"MP+", "Musepack"),
    (b"tBaK", "TAK"),
    (b"OFR ", "OptimFROG"),
    (b"TTA1", "TrueAudio"),
    (b"DSD ", "DSF"),
    (b"FRM8", "DSDIFF"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "WMA/ASF"),
    (b"MThd", "MIDI"),
    (b".snd", "Sun AU"),
    (b"caff", "Core Audio"),
    (b"RF64", "RF64 WAV"),
    (b"BW64", "BW64 WAV"),
    (b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (b"#!AMR", "AMR"),
    (b"\x0b\x77", "AC-3"),
)
# ISO-BMFF brands of still images (HEIF/AVIF), which share MP4's "ftyp" signature.
_IMAGE_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"})
# Containers whose payload may embed MPEG audio frames (AVI, ZIP...): never sniff inside them.
_OTHER_CONTAINERS = (b"RIFF", b"FORM", b"PK\x03\x04", b"%PDF", b"\x89PNG", b"GIF8", b"Rar!", b"7z\xbc\xaf", b"\x1f\x8b")
_OGG_CODECS: dict[bytes, str] = {b"\x01vorbis": "ogg", b"OpusHead": "opus"}
_OGG_UNSUPPORTED: tuple[tuple[bytes, str], ...] = (
    (b"\x7fFLAC", "Ogg FLAC"),
    (b"Speex   ", "Ogg Speex"),
    (b"\x80theora", "Ogg Theora video"),
    (b"fishead\x00", "Ogg with a skeleton stream"),
)


_FREE_FORMAT = (
    "Free-format MP3 (no standard bitrate; FFmpeg, the decoder of this server and of most browsers, cannot decode it)"
)


def _not_audio() -> AudioRejected:
    return AudioRejected("not_audio", "The file is not a recognised audio file.")


def _unsupported(what: str) -> AudioRejected:
    return AudioRejected("unsupported_format", f"{what} is not a supported format.")


def _read_at(fileobj: BinaryIO, offset: int, length: int) -> bytes:
    fileobj.seek(offset)
    return fileobj.read(length)


def _identify(fileobj: BinaryIO, size: int) -> str:
    """The format slug of an open audio file, judged by its content alone.

    Raises AudioRejected for empty, unrecognised and unsupported files. (mutagen's own
    guessing weighs file extensions and cannot spot raw AAC without one, so it is not used.)
    """
    start = leading_tags_end(fileobj)
    if start > size:
        raise AudioRejected("truncated", "The file is truncated (its leading tag runs past the end).")
    body = _read_at(fileobj, start, _SNIFF_WINDOW)
    if not body:
        if size == 0:
            raise AudioRejected("not_audio", "The file is empty.")
        raise AudioRejected("no_audio", "The file holds tags but no audio.")
    return _container_format(body) or _framed_format(body)


def _container_format(body: bytes) -> str | None:
    """Format of a file with a container signature, or None when there is none."""
    kind = body[8:12]
    if body.startswith(b"fLaC"):
        return "flac"
    if body[4:8] == b"ftyp":
        if body[8:12] in _IMAGE_BRANDS:
            raise _not_audio()
        return "m4a"
    if body.startswith(b"RIFF") and kind == b"WAVE":
        return "wav"
    if body.startswith(b"FORM") and kind in (b"AIFF", b"AIFC"):
        return "aiff"
    if body.startswith(b"FORM") and kind in (b"8SVX", b"16SV"):
        raise _unsupported("IFF 8SVX audio")
    if body.startswith(b"OggS"):
        return _ogg_format(body)
    for magic, name in _UNSUPPORTED_MAGIC:
        if body.startswith(magic):
            raise _unsupported(name)
    if body.startswith(_OTHER_CONTAINERS):  # could hold MP3 frames, but is not an audio file
        raise _not_audio()
    return None


def _ogg_format(body: bytes) -> str:
    """Vorbis or Opus, from the first packet of the first Ogg page."""
    packet = body[27 + body[26] :] if len(body) > 27 else b""
    for magic, fmt in _OGG_CODECS.items():
        if packet.startswith(magic):
            return fmt
    name = next((name for magic, name in _OGG_UNSUPPORTED if packet.startswith(magic)), "This Ogg codec")
    raise _unsupported(name)


def _framed_format(body: bytes) -> str:
    """MP3 or ADTS AAC, whichever frame run starts first, or AudioRejected."""
    mpeg_at = find_frame_run(body, mpeg_frame)
    adts_at = find_frame_run(body, adts_frame, limit=mpeg_at if mpeg_at >= 0 else None)
    if adts_at >= 0:
        return "aac"
    first = mpeg_frame(body[mpeg_at : mpeg_at + 4]) if mpeg_at >= 0 else None
    if (first is None or first.layer != 3) and free_format_at(body) >= 0:
        raise _unsupported(_FREE_FORMAT)
    if mpeg_at >= 0:
        frame = mpeg_frame(body[mpeg_at : mpeg_at + 4])
        if frame is not None and frame.layer == 3:
            return "mp3"
        raise _unsupported("MPEG Layer I/II")
    if body.startswith(b"ADIF"):
        raise _unsupported("ADIF AAC")
    raise _not_audio()
