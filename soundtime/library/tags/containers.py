"""Tag values as mutagen finds them in each container (ID3, Vorbis comments, MP4 items), before normalisation."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mutagen import MutagenError
from mutagen.flac import Picture

_FRONT_COVER = 3


@dataclass(frozen=True, slots=True)
class _RawTags:
    """Tag values as found in the container, before normalisation."""

    title: list[str]
    artist: list[str]
    album_artist: list[str]
    album: list[str]
    track: list[str]
    disc: list[str]
    year: list[str]
    genre: list[str]
    covers: list[tuple[int, bytes]]


_NO_TAGS = _RawTags([], [], [], [], [], [], [], [], [])


def _raw_tags(fmt: str, audio: Any, tags: Any) -> _RawTags:
    if fmt in ("flac", "ogg", "opus"):
        pictures = audio.pictures if fmt == "flac" else []
        return _vorbis_tags(tags, pictures)
    if fmt == "m4a":
        return _mp4_tags(tags)
    return _id3_tags(tags)


def _id3_tags(tags: Any) -> _RawTags:
    if tags is None:
        return _NO_TAGS

    def texts(frame_id: str) -> list[str]:
        return [str(value) for frame in tags.getall(frame_id) for value in frame.text]

    return _RawTags(
        title=texts("TIT2"),
        artist=texts("TPE1"),
        album_artist=texts("TPE2"),
        album=texts("TALB"),
        track=texts("TRCK"),
        disc=texts("TPOS"),
        year=texts("TDRC") or texts("TYER") or texts("TDOR"),
        genre=[genre for frame in tags.getall("TCON") for genre in frame.genres],
        covers=[(frame.type, frame.data) for frame in tags.getall("APIC")],
    )


def _vorbis_tags(tags: Any, pictures: Iterable[Any]) -> _RawTags:
    covers = [(picture.type, picture.data) for picture in pictures]
    if tags is None:
        return _RawTags([], [], [], [], [], [], [], [], covers)

    def texts(*keys: str) -> list[str]:
        return [value for key in keys for value in tags.get(key, [])]

    covers.extend(_block_pictures(texts("METADATA_BLOCK_PICTURE")))
    covers.extend((0, data) for data in _base64_all(texts("COVERART")))
    return _RawTags(
        title=texts("title"),
        artist=texts("artist"),
        album_artist=texts("albumartist", "album artist", "album_artist"),
        album=texts("album"),
        track=texts("tracknumber"),
        disc=texts("discnumber"),
        year=texts("date") or texts("year") or texts("originaldate"),
        genre=texts("genre"),
        covers=covers,
    )


def _base64_all(values: Iterable[str]) -> Iterator[bytes]:
    for value in values:
        try:
            yield base64.b64decode(value)
        except (binascii.Error, ValueError):
            continue


_parse_picture: Callable[[bytes], Any] = Picture


def _block_pictures(values: Iterable[str]) -> Iterator[tuple[int, bytes]]:
    """Decode METADATA_BLOCK_PICTURE comments (base64 FLAC picture blocks), skipping bad ones."""
    for block in _base64_all(values):
        try:
            picture = _parse_picture(block)
        except (MutagenError, ValueError, IndexError):
            continue
        yield picture.type, picture.data


def _mp4_tags(tags: Any) -> _RawTags:
    if tags is None:
        return _NO_TAGS

    def texts(atom: str) -> list[str]:
        return [str(value) for value in tags.get(atom, [])]

    def firsts(atom: str) -> list[str]:
        return [str(pair[0]) for pair in tags.get(atom, []) if pair]

    return _RawTags(
        title=texts("\xa9nam"),
        artist=texts("\xa9ART"),
        album_artist=texts("aART"),
        album=texts("\xa9alb"),
        track=firsts("trkn"),
        disc=firsts("disk"),
        year=texts("\xa9day"),
        genre=texts("\xa9gen"),
        covers=[(_FRONT_COVER, bytes(cover)) for cover in tags.get("covr", [])],
    )
