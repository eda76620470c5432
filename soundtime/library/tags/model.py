"""What reading an audio file's tags yields: AudioTags (with CoverArt), or AudioRejected."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AudioDefect", "AudioRejected", "AudioTags", "CoverArt"]


@dataclass(frozen=True, slots=True)
class CoverArt:
    """Embedded cover image; `mime` comes from the image's magic bytes."""

    data: bytes
    mime: str


@dataclass(frozen=True, slots=True)
class AudioDefect:
    """Something wrong with a file that was accepted anyway (it plays): a stable code and a sentence."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class AudioTags:
    """Normalised tags and stream properties of one audio file."""

    format: str
    title: str | None
    artist: str | None
    album_artist: str | None
    album: str | None
    track_number: int | None
    disc_number: int | None
    year: int | None
    genre: str | None
    duration_secs: float
    bitrate_kbps: int | None
    sample_rate: int | None
    channels: int | None
    cover: CoverArt | None
    #: What is wrong with the file although it was accepted (e.g. bytes after its audio).
    defects: tuple[AudioDefect, ...] = ()


class AudioRejected(Exception):
    """A file that cannot enter the library. `reason` is a short user-facing sentence, `code` a stable slug.

    Codes: "not_audio", "unsupported_format", "truncated", "corrupt", "no_audio".
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason

    def __reduce__(self) -> tuple[type[AudioRejected], tuple[str, str]]:
        """Survive pickling across a process pool (Exception's default loses `reason`)."""
        return AudioRejected, (self.code, self.reason)
