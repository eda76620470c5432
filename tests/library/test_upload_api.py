"""Uploading audio over HTTP: every format, duplicates, refusals, batches — and what lands on disk and in rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from blake3 import blake3
from fastapi import FastAPI
from sqlalchemy import func, select

from soundtime.kit import slow_body
from soundtime.models import Album, Artist, Cover, Track
from tests.conftest import asgi_client, make_settings, running_app
from tests.support.api import bearer, context_of, error_code, register, upload
from tests.support.audio import EXTENSIONS, FORMATS, AudioFactory, TrackSpec, make_cover_png
from tests.support.files import stored_files


async def count(app: FastAPI, model: type) -> int:
    async with context_of(app).db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


@pytest.mark.parametrize("fmt", FORMATS)
async def test_upload_each_format_creates_rows_and_a_blob(
    fmt: str, client: httpx.AsyncClient, app: FastAPI, audio: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    spec = TrackSpec(
        title=f"Song in {fmt}",
        artist="Queen",
        album="A Night at the Opera",
        album_artist="Queen",
        track_number=11,
        disc_number=1,
        year=1975,
        genre="Rock",
        cover=make_cover_png(7),
    )
    path = audio.make(tmp_path / f"song{EXTENSIONS[fmt]}", fmt, spec)
    response = await upload(client, token, path)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "imported"
    track = body["track"]
    assert track["title"] == f"Song in {fmt}"
    assert track["artist"]["name"] == "Queen"
    assert track["album"]["title"] == "A Night at the Opera"
    assert (track["track_number"], track["disc_number"], track["year"], track["genre"]) == (11, 1, 1975, "Rock")
    assert track["format"] == fmt
    assert track["duration_secs"] == pytest.approx(1.0, abs=0.2)
    assert track["bitrate_kbps"] > 0
    assert track["sample_rate"] in (44100, 48000)
    assert track["channels"] == 2
    assert track["is_local"] is True

    data = path.read_bytes()
    assert track["content_hash"] == blake3(data).hexdigest()
    assert track["file_size"] == len(data)
    context = context_of(app)
    blob = context.audio.path_for(track["content_hash"])
    assert blob.read_bytes() == data
    async with context.db.transaction() as session:
        row = (await session.execute(select(Track))).scalar_one()
        assert row.file_path == str(blob.relative_to(context.audio.root))
        cover = (await session.execute(select(Cover))).scalar_one()
        album = (await session.execute(select(Album))).scalar_one()
    assert album.cover_hash == cover.hash == blake3(make_cover_png(7)).hexdigest()
    assert cover.mime == "image/png"
    assert context.blobs.path_for(cover.hash).read_bytes() == make_cover_png(7)


async def test_identical_bytes_twice_are_one_track(
    client: httpx.AsyncClient, app: FastAPI, audio: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    path = audio.make(tmp_path / "a.flac", "flac", TrackSpec(title="Once"))
    first = await upload(client, token, path)
    second = await upload(client, token, path, name="renamed copy.flac")
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["status"] == "duplicate"
    assert second.json()["message"] == "identical audio is already in the library"
    assert second.json()["track"]["id"] == first.json()["track"]["id"]
    assert await count(app, Track) == 1
    assert [p.name for p in stored_files(context_of(app).audio.root)] == [first.json()["track"]["content_hash"]]


async def test_album_is_unique_on_title_and_album_artist(
    client: httpx.AsyncClient, app: FastAPI, audio: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    specs = [
        TrackSpec(title="One", artist="A", album="Greatest Hits", album_artist="A"),
        TrackSpec(title="Two", artist="B feat. A", album="Greatest Hits", album_artist="A"),
        TrackSpec(title="Three", artist="B", album="Greatest Hits", album_artist="B"),
    ]
    for index, spec in enumerate(specs):
        assert (await upload(client, token, audio.make(tmp_path / f"{index}.mp3", "mp3", spec))).status_code == 201
    assert await count(app, Album) == 2
    assert await count(app, Artist) == 3


async def test_only_covers_an_album_shows_are_kept(
    client: httpx.AsyncClient, app: FastAPI, audio: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    specs = [
        TrackSpec(title="Single", album=None, cover=make_cover_png(1)),  # no album: nowhere to show it
        TrackSpec(title="A1", album="Album", cover=make_cover_png(2)),
        TrackSpec(title="A2", album="Album", cover=make_cover_png(3)),  # the album already has a cover
        TrackSpec(title="A3", album="Album", cover=make_cover_png(2)),
    ]
    for index, spec in enumerate(specs):
        assert (await upload(client, token, audio.make(tmp_path / f"{index}.mp3", "mp3", spec))).status_code == 201
    context = context_of(app)
    async with context.db.transaction() as session:
        covers = list((await session.execute(select(Cover.hash))).scalars())
    assert covers == [blake3(make_cover_png(2)).hexdigest()]
    assert [p.name for p in stored_files(context.blobs.root)] == covers


async def test_missing_tags_fall_back_to_file_name_and_unknown_artist(
    client: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    path = audio.make(tmp_path / "x.ogg", "ogg", TrackSpec(title="", artist=None, album=None))
    response = await upload(client, token, path, name="My Demo Take 3.ogg")
    track = response.json()["track"]
    assert track["title"] == "My Demo Take 3"
    assert track["artist"]["name"] == "Unknown Artist"
    assert track["album"] is None


@pytest.mark.parametrize(
    ("content", "name"),
    [(b"just some text\n" * 100, "notes.mp3"), (make_cover_png(1), "cover.flac"), (b"", "empty.wav")],
)
async def test_non_audio_is_415_and_leaves_nothing(
    client: httpx.AsyncClient, app: FastAPI, tmp_path: Path, content: bytes, name: str
) -> None:
    token = await register(client)
    path = tmp_path / name
    path.write_bytes(content)
    response = await upload(client, token, path)
    assert response.status_code == 415
    assert error_code(response) == "not_audio"
    assert stored_files(context_of(app).audio.root) == []
    assert await count(app, Track) == 0


@pytest.mark.parametrize("fmt", FORMATS)
async def test_truncated_audio_is_422_and_leaves_nothing(
    fmt: str, client: httpx.AsyncClient, app: FastAPI, audio: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    whole = audio.make(tmp_path / f"whole{EXTENSIONS[fmt]}", fmt, TrackSpec(duration=2.0, cover=make_cover_png(3)))
    cut = tmp_path / f"cut{EXTENSIONS[fmt]}"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    response = await upload(client, token, cut)
    assert response.status_code == 422, response.text
    assert error_code(response) in {"truncated", "corrupt"}
    assert "truncated" in response.json()["error"]["message"] or "corrupt" in response.json()["error"]["message"]
    assert stored_files(context_of(app).audio.root) == []
    assert stored_files(context_of(app).blobs.root) == []
    assert await count(app, Track) == 0


async def test_oversize_file_is_413_without_being_stored(
    tmp_path: Path, database_url: str, audio: AudioFactory
) -> None:
    settings = make_settings(tmp_path / "data", database_url, MAX_UPLOAD_SIZE="1MB")
    big = audio.make(tmp_path / "big.wav", "wav", TrackSpec(duration=8.0))  # ~1.4 MB of PCM
    async with running_app(settings) as app, asgi_client(app) as client:
        token = await register(client)
        response = await upload(client, token, big)
        assert response.status_code == 413
        assert "1,048,576" in response.json()["error"]["message"]
        # Without a Content-Length (chunked body) the limit is enforced while reading.
        boundary = "b0undary"
        head = f"--{boundary}\r\nContent-Disposition: form-data; name=file; filename=big.wav\r\n\r\n".encode()
        body = head + big.read_bytes() + f"\r\n--{boundary}--\r\n".encode()

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 65536):
                yield body[start : start + 65536]

        chunked = await client.post(
            "/api/upload",
            content=chunks(),
            headers={**bearer(token), "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert chunked.status_code == 413
        assert stored_files(context_of(app).audio.root) == []


async def test_two_files_on_the_single_route_save_nothing(
    client: httpx.AsyncClient, app: FastAPI, audio: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    first = audio.make(tmp_path / "one.mp3", "mp3", TrackSpec(title="One"))
    second = audio.make(tmp_path / "two.mp3", "mp3", TrackSpec(title="Two"))
    files = [("file", (p.name, p.read_bytes())) for p in (first, second)]
    response = await client.post("/api/upload", files=files, headers=bearer(token))
    assert response.status_code == 413
    assert error_code(response) == "too_many_files"
    assert "/api/upload/batch" in response.json()["error"]["message"]
    assert await count(app, Track) == 0
    assert stored_files(context_of(app).audio.root) == []


async def test_upload_needs_authentication_and_multipart(client: httpx.AsyncClient, tmp_path: Path) -> None:
    path = tmp_path / "a.mp3"
    path.write_bytes(b"x")
    with path.open("rb") as handle:
        assert (await client.post("/api/upload", files={"file": handle})).status_code == 401
    token = await register(client)
    not_multipart = await client.post("/api/upload", content=b"raw", headers=bearer(token))
    assert not_multipart.status_code == 415
    empty = await client.post("/api/upload", files={"other": (None, "value")}, headers=bearer(token))
    assert empty.status_code == 400
    assert error_code(empty) == "no_file"
    broken = await client.post(
        "/api/upload",
        content=b"--xyz\r\nContent-Disposition: form-data; name=file; filename=a.mp3\r\n\r\nabc",
        headers={**bearer(token), "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert broken.status_code == 400
    long_boundary = await client.post(
        "/api/upload",
        content=b"--",
        headers={**bearer(token), "Content-Type": "multipart/form-data; boundary=" + "b" * 300},
    )
    assert long_boundary.status_code == 400


async def test_batch_upload_reports_each_file(
    client: httpx.AsyncClient, app: FastAPI, audio: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    good = [audio.make(tmp_path / f"t{i}{EXTENSIONS[f]}", f, TrackSpec(title=f"T{i}")) for i, f in enumerate(FORMATS)]
    junk = tmp_path / "readme.txt"
    junk.write_text("not music")
    files = [("files", (p.name, p.read_bytes())) for p in [*good, good[0], junk]]
    response = await client.post("/api/upload/batch", files=files, headers=bearer(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["imported"], body["duplicates"], body["rejected"]) == (len(FORMATS), 1, 1)
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["imported"] * len(FORMATS) + ["duplicate", "rejected"]
    assert body["results"][-1]["error"]["code"] == "not_audio"
    assert await count(app, Track) == len(FORMATS)


async def test_batch_over_the_file_limit_is_413_and_says_what_was_saved(
    tmp_path: Path, database_url: str, audio: AudioFactory
) -> None:
    settings = make_settings(tmp_path / "data", database_url, UPLOAD_BATCH_MAX_FILES=3)
    paths = [audio.make(tmp_path / f"{i}.mp3", "mp3", TrackSpec(title=f"T{i}")) for i in range(5)]
    async with running_app(settings) as app, asgi_client(app) as client:
        token = await register(client)
        files = [("files", (p.name, p.read_bytes())) for p in paths]
        response = await client.post("/api/upload/batch", files=files, headers=bearer(token))
        assert response.status_code == 413
        assert error_code(response) == "too_many_files"
        processed = response.json()["error"]["details"]["processed"]
        assert [p["status"] for p in processed] == ["imported"] * 3
        assert await count(app, Track) == 3
        assert len(stored_files(context_of(app).audio.root)) == 3


async def test_form_field_floods_are_refused_and_save_nothing(
    client: httpx.AsyncClient, app: FastAPI, audio: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    path = audio.make(tmp_path / "a.mp3", "mp3", TrackSpec())
    many = [("file", (path.name, path.read_bytes()))] + [(f"f{i}", (None, "x")) for i in range(100)]
    assert (await client.post("/api/upload", files=many, headers=bearer(token))).status_code == 400
    big = [("file", (path.name, path.read_bytes())), ("notes", (None, "x" * 100_000))]
    response = await client.post("/api/upload", files=big, headers=bearer(token))
    assert response.status_code == 400
    assert "too large" in response.json()["error"]["message"]
    assert await count(app, Track) == 0
    assert stored_files(context_of(app).audio.root) == []


async def test_an_oversize_file_ends_a_batch_and_earlier_files_are_kept(
    tmp_path: Path, database_url: str, audio: AudioFactory
) -> None:
    settings = make_settings(tmp_path / "data", database_url, MAX_UPLOAD_SIZE="1MB")
    small = audio.make(tmp_path / "small.mp3", "mp3", TrackSpec())
    big = audio.make(tmp_path / "big.wav", "wav", TrackSpec(duration=8.0))
    async with running_app(settings) as app, asgi_client(app) as client:
        token = await register(client)
        files = [("f", (p.name, p.read_bytes())) for p in (small, big, small)]
        response = await client.post("/api/upload/batch", files=files, headers=bearer(token))
        assert response.status_code == 413
        assert "big.wav" in response.json()["error"]["message"]
        assert [r["status"] for r in response.json()["error"]["details"]["processed"]] == ["imported"]
        assert await count(app, Track) == 1
        assert len(stored_files(context_of(app).audio.root)) == 1


async def test_a_stalled_upload_times_out(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slow_body, "BODY_RATE", slow_body.BodyRate(max_gap=0.2))
    token = await register(client)

    async def stalls() -> AsyncIterator[bytes]:
        yield b"--b\r\nContent-Disposition: form-data; name=file; filename=a.mp3\r\n\r\nID3"
        await asyncio.sleep(2)
        yield b"more"

    response = await client.post(
        "/api/upload", content=stalls(), headers={**bearer(token), "Content-Type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 408
    assert stored_files(context_of(app).audio.root) == []


# --- file names: any Unicode name round-trips (RFC 7578 UTF-8 filename, RFC 5987 filename*) --------------------

NAMES = [
    "Café del Mar — Entre Dos Aguas.ogg",  # Latin-1 letters and a dash outside Latin-1
    "Кино — Группа крови.ogg",
    "坂本龍一 - 戦場のメリークリスマス.ogg",
    "🎵 Daft Punk ⚡ One More Time.ogg",
    "naïve ß Ærø.ogg",
    'He said "hi".ogg',  # a quote: browsers send it as %22
]


def _multipart(disposition: bytes, body: bytes, boundary: bytes = b"soundtime-test-boundary") -> tuple[bytes, str]:
    """A one-file multipart body with the Content-Disposition parameters given verbatim (as bytes on the wire)."""
    payload = b"".join(
        [
            b"--" + boundary + b"\r\n",
            b'Content-Disposition: form-data; name="file"; ' + disposition + b"\r\n",
            b"Content-Type: application/octet-stream\r\n\r\n",
            body,
            b"\r\n--" + boundary + b"--\r\n",
        ]
    )
    return payload, f"multipart/form-data; boundary={boundary.decode()}"


async def _untagged(audio: AudioFactory, tmp_path: Path) -> bytes:
    return audio.make(tmp_path / "untagged.ogg", "ogg", TrackSpec(title="", artist=None, album=None)).read_bytes()


@pytest.mark.parametrize("name", NAMES)
async def test_any_file_name_round_trips_on_the_single_route(
    client: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path, name: str
) -> None:
    token = await register(client)
    data = await _untagged(audio, tmp_path)
    response = await client.post("/api/upload", files={"file": (name, data)}, headers=bearer(token))
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == name
    assert response.json()["track"]["title"] == name.removesuffix(".ogg")  # an untagged file is named after it


async def test_any_file_name_round_trips_on_the_batch_route(
    client: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    paths = [audio.make(tmp_path / f"{i}.ogg", "ogg", TrackSpec(title="", frequency=300.0 + 50 * i)) for i in range(3)]
    files = [("files", (name, path.read_bytes())) for name, path in zip(NAMES, paths, strict=False)]
    files.append(("files", (NAMES[3].replace(".ogg", ".txt"), b"not audio")))
    response = await client.post("/api/upload/batch", files=files, headers=bearer(token))
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["filename"] for r in results] == [*NAMES[:3], NAMES[3].replace(".ogg", ".txt")]
    assert [r["status"] for r in results] == ["imported"] * 3 + ["rejected"]


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('filename="Кино.ogg"'.encode(), "Кино.ogg"),  # RFC 7578: UTF-8 bytes in the quoted string
        ('filename="caf\xe9.ogg"'.encode("latin-1"), "café.ogg"),  # an old client's Latin-1 bytes
        (b"filename*=UTF-8''%F0%9F%8E%B5%20caf%C3%A9.ogg", "🎵 café.ogg"),  # RFC 5987
        (b"filename*=utf-8'fr'caf%C3%A9.ogg", "café.ogg"),
        (b"filename*=ISO-8859-1''caf%E9.ogg", "café.ogg"),
        (b"filename=\"fallback.ogg\"; filename*=UTF-8''%D0%9A%D0%B8%D0%BD%D0%BE.ogg", "Кино.ogg"),  # * wins
        (b"filename=\"fallback.ogg\"; filename*=KOI8-R''%EB.ogg", "fallback.ogg"),  # unknown charset: ignored
        (b"filename=\"fallback.ogg\"; filename*=UTF-8''%FF%FE.ogg", "fallback.ogg"),  # not UTF-8: ignored
        (b'filename="a \\"quoted\\" name.ogg"', 'a "quoted" name.ogg'),  # RFC 2616 quoted-pairs (curl)
        (b'filename="a %22quoted%22 name.ogg"', 'a "quoted" name.ogg'),  # HTML's form encoding (browsers)
        (b'filename="C:\\\\Music\\\\song.ogg"', "song.ogg"),  # a path: only its last part
        (b'filename="../../etc/passwd.ogg"', "passwd.ogg"),
        (b'filename="line%0D%0Abreak.ogg"', "linebreak.ogg"),
        (b'filename=""', "upload"),
        (b"filename=bare.ogg", "bare.ogg"),
    ],
)
async def test_file_name_encodings_on_the_wire(
    client: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path, disposition: bytes, expected: str
) -> None:
    token = await register(client)
    body, content_type = _multipart(disposition, await _untagged(audio, tmp_path))
    response = await client.post("/api/upload", content=body, headers={**bearer(token), "Content-Type": content_type})
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == expected


async def test_form_fields_with_unicode_names_are_no_error(
    client: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    files = [("file", ("Кино.ogg", await _untagged(audio, tmp_path))), ("заметка 🎵", (None, "примечание"))]
    response = await client.post("/api/upload", files=files, headers=bearer(token))
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "Кино.ogg"
