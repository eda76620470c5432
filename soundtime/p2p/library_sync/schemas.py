"""HTTP models of the library-sync routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ResyncProgress(BaseModel):
    """The running or last re-sync of a peer (held in memory: none after a restart)."""

    model_config = ConfigDict(from_attributes=True)

    state: Literal["running", "done", "failed"] = Field(
        description="running until the peer has sent the tracks it announced (done) or went quiet (failed)"
    )
    started_at: datetime
    finished_at: datetime | None
    expected_tracks: int | None = Field(description="the track count the peer announced when asked; null until then")
    pages: int = Field(description="catalogue pages received since the request")
    tracks_received: int
    tracks_accepted: int = Field(description="recorded here (new rows or new sources)")
    tracks_skipped: int = Field(description="invalid, duplicate in a page, or over P2P_MAX_TRACKS_PER_PEER")
    last_page_at: datetime | None
    error: str | None


class PeerLibrarySync(BaseModel):
    """What we hold from one peer, and how its sync stands."""

    node_id: str
    name: str | None
    version: str | None
    is_online: bool
    blocked: bool
    last_seen_at: datetime | None
    tracks_announced: int = Field(description="the peer's own track count, from its last Pong")
    tracks_catalogued: int = Field(description="tracks here that this peer offers (it is one of their sources)")
    tracks_playable: int = Field(
        description=(
            "catalogued tracks that can be played now: our own tracks, and replicated ones that are not "
            "dereferenced and whose audio is cached here or held by at least one online source"
        )
    )
    last_synced_at: datetime | None = Field(
        description="when this peer last announced any of these tracks to us (a catalogue page, delta or upload)"
    )
    sync_state: Literal["idle", "syncing", "failed"] = Field(
        description="syncing while a re-sync runs; failed when the last re-sync failed; idle otherwise"
    )
    last_error: str | None = Field(description="why the last re-sync failed")
    resync: ResyncProgress | None


class LibrarySyncOverview(BaseModel):
    """Library sync of every known peer, online first."""

    peers: list[PeerLibrarySync]
