"""HTTP models of the auth routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$")
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]


class Credentials(BaseModel):
    """Username and password, for registration and login."""

    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Password


class RefreshRequest(BaseModel):
    """A refresh token to rotate or revoke."""

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class UserOut(BaseModel):
    """An account as shown to its owner and to administrators."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    role: Literal["admin", "user"]
    created_at: datetime


class TokenPair(BaseModel):
    """Tokens returned by register, login and refresh."""

    access_token: str
    refresh_token: str | None = Field(description="null when sent as an HttpOnly cookie (X-Refresh-Cookie: true)")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int = Field(description="lifetime of the access token in seconds")
    user: UserOut


class Registration(BaseModel):
    """Whether a visitor may create an account."""

    open: bool = Field(description="an account can be created now")
    first_account: bool = Field(description="no account exists yet: the next one becomes the administrator")
