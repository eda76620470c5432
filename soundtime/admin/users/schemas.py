"""HTTP models of users administration."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from soundtime.auth.schemas import Password, Username

Role = Literal["admin", "user"]


class AdminUserOut(BaseModel):
    """An account as administrators see it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    role: Role
    created_at: datetime
    last_login_at: datetime | None
    disabled: bool = Field(description="a disabled account cannot sign in and its tokens no longer work")
    disabled_at: datetime | None


class UserCreate(BaseModel):
    """A new account."""

    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Password
    role: Role = "user"


class UserPatch(BaseModel):
    """Changes to an account; omitted fields keep their value."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    disabled: bool | None = Field(None, description="true disables the account (signing it out everywhere)")


class PasswordReset(BaseModel):
    """A new password for an account."""

    model_config = ConfigDict(extra="forbid")

    password: Password
