"""Persisted health of replicated tracks (SoundTime keeps it in memory and forgets it at restart)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, SmallInteger, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from soundtime.models.base import Base

HEALTH_STATES = ("healthy", "recovered", "degraded", "dereferenced")


class TrackHealth(Base):
    """Health of one replicated track: consecutive failures, state, and whether an admin pinned it."""

    __tablename__ = "track_health"
    __table_args__ = (
        CheckConstraint("state IN (" + ", ".join(f"'{s}'" for s in HEALTH_STATES) + ")", name="state"),
        CheckConstraint("consecutive_failures >= 0", name="failures_nonnegative"),
    )

    track_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="healthy", server_default="healthy", index=True)
    consecutive_failures: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    #: An administrator's dereference; the sweep never undoes it.
    manually_dereferenced: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
