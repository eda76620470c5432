"""HTTP models of the credential routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class NewCredential(BaseModel):
    """A name for the device or app the credential is for (e.g. "Phone — Symfonium")."""

    model_config = ConfigDict(extra="forbid")

    name: Name


class AppPasswordOut(BaseModel):
    """An app password as listed (the password itself is never shown again)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None


class Connection(BaseModel):
    """What a client app needs to connect: what the browser encodes in the QR code."""

    server_url: str = Field(
        description="this server's address as the browser reached it (add nothing: apps call /rest/)"
    )
    username: str
    password: str


class CreatedAppPassword(AppPasswordOut):
    """A new app password: shown this once."""

    password: str = Field(description="the app password; it cannot be shown again")
    connection: Connection


class ApiKeyOut(BaseModel):
    """An API key as listed (only its first characters are kept in clear)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    created_at: datetime
    last_used_at: datetime | None


class CreatedApiKey(ApiKeyOut):
    """A new API key: shown this once."""

    key: str = Field(description="the key for OpenSubsonic apps (apiKey=…); it cannot be shown again")
    server_url: str
