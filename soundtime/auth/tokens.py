"""Signed JWTs: access tokens (15 minutes) and refresh tokens (7 days), HS256."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt

from soundtime.kit.errors import Unauthorized

ACCESS_TOKEN_TTL = timedelta(minutes=15)
REFRESH_TOKEN_TTL = timedelta(days=7)
_ALGORITHM = "HS256"
_ISSUER = "soundtime"

TokenType = Literal["access", "refresh"]


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says."""

    user_id: uuid.UUID
    role: str
    token_type: TokenType
    token_id: uuid.UUID
    expires_at: datetime
    #: The account's token generation when the token was issued (older generations are revoked).
    generation: int = 0


class TokenService:
    """Issue and verify tokens with one secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def issue(
        self,
        user_id: uuid.UUID,
        role: str,
        token_type: TokenType,
        *,
        now: datetime | None = None,
        generation: int = 0,
    ) -> tuple[str, Claims]:
        """Sign a new token of ``token_type`` for the user; returns the token and its claims."""
        issued = now or datetime.now(UTC)
        ttl = ACCESS_TOKEN_TTL if token_type == "access" else REFRESH_TOKEN_TTL  # noqa: S105 - a token kind
        claims = Claims(user_id, role, token_type, uuid.uuid4(), issued + ttl, generation)
        payload = {
            "iss": _ISSUER,
            "sub": str(user_id),
            "role": role,
            "typ": token_type,
            "jti": str(claims.token_id),
            "iat": int(issued.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
            "gen": generation,
        }
        return jwt.encode(payload, self._secret, algorithm=_ALGORITHM), claims

    def verify(self, token: str, expected: TokenType) -> Claims:
        """Check signature, expiry and type; raise :class:`Unauthorized` with a reason otherwise."""
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"require": ["exp", "iat", "sub", "jti", "typ"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired", code="token_expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid token", code="invalid_token") from exc
        if payload.get("typ") != expected:
            raise Unauthorized(f"an {expected} token is required", code="invalid_token")
        generation = payload.get("gen", 0)  # tokens issued before generations existed are generation 0
        try:
            if not isinstance(generation, int) or isinstance(generation, bool):
                raise TypeError("gen must be an integer")
            return Claims(
                user_id=uuid.UUID(payload["sub"]),
                role=str(payload.get("role", "user")),
                token_type=expected,
                token_id=uuid.UUID(payload["jti"]),
                expires_at=datetime.fromtimestamp(payload["exp"], UTC),
                generation=generation,
            )
        except (ValueError, TypeError) as exc:
            raise Unauthorized("invalid token", code="invalid_token") from exc
