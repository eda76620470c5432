"""Accounts and their refresh tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from soundtime.models.base import Base, CreatedAt, UuidPk

ROLES = ("admin", "user")


class User(Base):
    """A listener or administrator of this instance."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'user')", name="role"),
        CheckConstraint("token_generation >= 0", name="token_generation_nonnegative"),
    )

    id: Mapped[UuidPk]
    username: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="user")
    created_at: Mapped[CreatedAt]
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Set while an administrator has disabled the account: it cannot sign in and its tokens stop working.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Tokens carry the generation they were issued in; raising it (password reset, disabling) revokes them all.
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def is_admin(self) -> bool:
        """True for administrators."""
        return self.role == "admin"

    @property
    def is_active(self) -> bool:
        """False while the account is disabled."""
        return self.disabled_at is None


class RefreshToken(Base):
    """One issued refresh token (its JWT id); rotation revokes it, reuse of a revoked one revokes all."""

    __tablename__ = "refresh_tokens"

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The token this one was rotated into (NULL when revoked by logout or by a reuse alarm).
    replaced_by: Mapped[uuid.UUID | None] = mapped_column()
    #: Set when a concurrent refresh got a second token from this one (allowed once).
    reissued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[CreatedAt]


Index("uq_users_username_lower", func.lower(User.username), unique=True)
