"""stream, download and getCoverArt through /rest/: the stored bytes, ranges, resized covers kept bounded."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from soundtime.subsonic import covers
from tests.subsonic.conftest import Library
from tests.support.audio import make_cover_jpeg


async def test_stream_and_download_send_the_stored_bytes(library: Library) -> None:
    data = library.files["Intro"].read_bytes()
    whole = await library.call("stream", id=library.sid("Intro"), format="raw")
    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["content-type"] == "audio/flac"
    assert whole.headers["accept-ranges"] == "bytes"
    ranged = await library.client.get(
        "/rest/stream.view",
        params={**library.token_params(), "id": library.sid("Intro")},
        headers={"Range": "bytes=10-99"},
    )
    assert ranged.status_code == 206
    assert ranged.content == data[10:100]
    head = await library.client.head("/rest/stream", params={**library.token_params(), "id": library.sid("Intro")})
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(data))
    past = await library.client.get(
        "/rest/stream",
        params={**library.token_params(), "id": library.sid("Intro")},
        headers={"Range": "bytes=999999-"},
    )
    assert past.status_code == 416
    downloaded = await library.call("download", id=library.sid("Tide"))
    assert downloaded.content == library.files["Tide"].read_bytes()
    assert downloaded.headers["content-disposition"] == 'attachment; filename="Tide.mp3"'
    unknown = await library.call("stream", id="tr-00000000-0000-4000-8000-000000000000", f="json")
    assert unknown.json()["subsonic-response"]["error"]["code"] == 70


async def test_cover_art_at_its_size_and_scaled(library: Library) -> None:
    album = library.tracks["Intro"]["album"]["id"]
    original = await library.call("getCoverArt", id=f"al-{album}")
    assert original.status_code == 200
    assert original.content == make_cover_jpeg(3, size=64)
    assert original.headers["content-type"] == "image/jpeg"
    for kind in (library.sid("Dawn"), "ar-" + library.tracks["Dawn"]["artist"]["id"]):
        same = await library.call("getCoverArt", id=kind)
        assert same.content == original.content

    small = await library.call("getCoverArt", id=f"al-{album}", size=32)
    assert small.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(small.content)) as image:
        assert image.size == (32, 32)
    again = await library.call("getCoverArt", id=f"al-{album}", size=32)
    assert again.content == small.content  # from the cache
    cached = await library.client.get(
        "/rest/getCoverArt",
        params={**library.token_params(), "id": f"al-{album}", "size": 32},
        headers={"If-None-Match": small.headers["etag"]},
    )
    assert cached.status_code == 304
    larger = await library.call("getCoverArt", id=f"al-{album}", size=500)
    assert larger.content == original.content  # never scaled up
    none = await library.call("getCoverArt", id="ar-" + library.tracks["Loose"]["artist"]["id"], f="json")
    assert none.json()["subsonic-response"]["error"]["code"] == 70


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    with pytest.raises(covers.CoverUnreadable, match="declares 8000x8000 pixels"):
        covers.resize(png_declaring(8000, 8000), 64)  # over our 40 megapixels, under Pillow's own limit
    with pytest.raises(covers.CoverUnreadable, match="decompression bomb"):
        covers.resize(png_declaring(50_000, 50_000), 64)
    with pytest.raises(covers.CoverUnreadable):
        covers.resize(b"not an image at all", 64)
    with pytest.raises(covers.CoverUnreadable):
        covers.resize(png_declaring(64, 64), 32)  # truncated pixel data


async def test_the_resized_cache_is_bounded(tmp_path: object) -> None:
    from pathlib import Path

    directory = Path(str(tmp_path)) / "resized"
    cache = covers.ResizedCovers(directory, max_files=2)
    source = Path(str(tmp_path)) / "cover.jpg"
    source.write_bytes(make_cover_jpeg(1, size=128))
    for size in (16, 32, 48):
        assert await cache.get("ab" * 32, source, size) is not None
    assert sorted(p.name for p in directory.iterdir()) == [f"{'ab' * 32}-32.jpg", f"{'ab' * 32}-48.jpg"]
