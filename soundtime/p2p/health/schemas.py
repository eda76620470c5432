"""HTTP models of track health; :class:`SweepReport` is also the persisted form of the last sweep."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from soundtime.p2p.health.states import State


class StateCounts(BaseModel):
    """Tracks per health state (every state present, zero when none)."""

    healthy: int = 0
    recovered: int = 0
    degraded: int = 0
    dereferenced: int = 0


class SweepReport(BaseModel):
    """What one sweep over the replicated tracks saw and did."""

    started_at: datetime
    finished_at: datetime
    duration: float = Field(description="seconds")
    checked: int = Field(description="replicated tracks looked at")
    counts: StateCounts = Field(description="states of the checked tracks once the sweep had handled them")
    recovered: int = Field(description="degraded tracks whose source answered again")
    struck: int = Field(description="degraded tracks none of whose sources answered (one strike each)")
    rereferenced: int = Field(description="automatically dereferenced tracks back in service")


class HealthSummary(BaseModel):
    """Health of the replicated library: counts, the last sweep, and whether one is running."""

    counts: StateCounts = Field(description="tracks without a health row count as healthy")
    manually_dereferenced: int
    total: int = Field(description="replicated tracks")
    last_sweep: SweepReport | None
    sweep_running: bool


class TrackHealthOut(BaseModel):
    """The health of one replicated track."""

    track_id: uuid.UUID
    state: State
    consecutive_failures: int
    manually_dereferenced: bool
    last_checked_at: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None


class RemoteTrackOut(BaseModel):
    """A replicated track with its health, sources and whether its audio is cached here."""

    id: uuid.UUID
    title: str
    artist: str
    album: str | None
    format: str
    content_hash: str
    file_size: int
    origin_node: str
    state: State
    consecutive_failures: int
    manually_dereferenced: bool
    source_count: int
    cached: bool
    last_error: str | None
    last_checked_at: datetime | None
