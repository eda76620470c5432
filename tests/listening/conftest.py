"""A small library and two listeners for the listener-feature tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import bearer, open_registration, register, upload
from tests.support.audio import AudioFactory, TrackSpec, make_cover_png


@dataclass
class Listeners:
    """Alice (admin, uploaded the library), Bob (a second user) and the library's tracks by title."""

    client: httpx.AsyncClient
    alice: dict[str, str]
    bob: dict[str, str]
    tracks: dict[str, dict[str, Any]]

    def ids(self, *titles: str) -> list[str]:
        return [self.tracks[title]["id"] for title in titles]


SPECS = [
    TrackSpec(title="Intro", artist="Nova", album="First Light", track_number=1, cover=make_cover_png(1)),
    TrackSpec(title="Dawn", artist="Nova", album="First Light", track_number=2, cover=make_cover_png(1)),
    TrackSpec(title="Noon", artist="Nova", album="First Light", track_number=3, cover=make_cover_png(1)),
    TrackSpec(title="Tide", artist="Marée", album="Coast", track_number=1),
    TrackSpec(title="Harbour", artist="Marée", album="Coast", track_number=2),
]


@pytest.fixture
async def listeners(client: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path) -> Listeners:
    alice = await register(client, "alice")
    await open_registration(client, alice)
    bob = await register(client, "bob")
    tracks = {}
    for index, spec in enumerate(SPECS):
        response = await upload(client, alice, audio.make(tmp_path / f"{index}.mp3", "mp3", spec))
        assert response.status_code == 201, response.text
        tracks[spec.title] = response.json()["track"]
    return Listeners(client, bearer(alice), bearer(bob), tracks)
