"""HTTP models of the monitoring routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class LogEntryOut(BaseModel):
    """One log record of the federation."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="increases with every record (ids start again at 1 when the server restarts)")
    time: datetime
    level: LogLevel
    logger: str = Field(description="e.g. soundtime.p2p.sync")
    message: str = Field(description="at most 2,000 characters; tokens and passwords are replaced by [redacted]")


class LogPage(BaseModel):
    """Recent federation log entries, oldest first."""

    entries: list[LogEntryOut]
    next_after: int = Field(description="pass as `after` to get only newer entries (live tail)")
    first_id: int | None = Field(description="oldest entry still held (entries before it were dropped or cleared)")
    capacity: int = Field(description="most entries held; older ones are dropped")
