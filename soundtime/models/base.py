"""Declarative base with stable constraint names and shared column helpers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from sqlalchemy import DateTime, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: BLAKE3-256 digests are stored as 64 lowercase hex characters; a CHECK enforces the shape.
HEX64_PATTERN = "^[0-9a-f]{64}$"


def hex64_check(column: str) -> str:
    """The CHECK that ``column`` holds 64 lowercase hex characters, without a regular expression (the same
    rule as :data:`HEX64_PATTERN`; PostgreSQL's regex engine spends ~10 µs per row on the counted repetition,
    which a catalogue ingest pays for every track)."""
    return f"length({column}) = 64 AND ltrim({column}, '0123456789abcdef') = ''"


UuidPk = Annotated[uuid.UUID, mapped_column(primary_key=True, default=uuid.uuid4)]
CreatedAt = Annotated[datetime, mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)]
Hex64 = Annotated[str, mapped_column(String(64))]


class Base(DeclarativeBase):
    """Base of every ORM model; relationships are declared ``lazy="raise"`` and loaded explicitly."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
