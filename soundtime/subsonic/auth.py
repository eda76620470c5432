"""Who is calling ``/rest/``: app passwords (token ``t``/``s``, or ``p`` / ``p=enc:HEX``) and API keys (``apiKey``).

Login passwords are never accepted here: they stay Argon2id hashes, which the token scheme (``t = md5(secret +
salt)``) cannot be checked against. What each refusal answers, and why:

- A wrong token, or a wrong ``p`` for an unknown user: **40** (wrong credentials). Never 41: DSub reacts to 41 by
  switching that server to ``p=`` for good, which would put the password in every URL it sends and still fail.
- The account's *login* password sent as ``p``: **42** (this mechanism is not supported for it), with a message
  saying to create an app password and ``helpUrl`` pointing at the browser app. 42 is the OpenSubsonic code for
  "use another way to sign in"; clients that know API keys offer them, and DSub shows the server's message for
  42 (for 40 it shows only its own "wrong password" text, which would send the user round in circles).
  Detecting it costs one Argon2id check, so it is done only after the app passwords failed, under the same limits
  as a login: the client address limit and the per-account throttle of /api/auth/login.
- ``apiKey`` with ``u``, or ``p`` with ``t``: **43**; an unknown or revoked key: **44**.

Failed attempts count against the client address (AUTH_RATE_LIMIT_PER_MINUTE) and the account (the login
throttle); successful ones do not, so a busy client is never slowed down. Past the limit the answer is error 0
with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from soundtime.auth import repository as accounts
from soundtime.context import AppContext
from soundtime.credentials import service as credentials
from soundtime.models import User
from soundtime.subsonic.errors import Code, SubsonicError, missing
from soundtime.subsonic.params import Params

HELP = "create an app password (or an API key) for this app in soundtime's web page, under your account"


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated user of a request and the client app they use."""

    user_id: uuid.UUID
    username: str
    is_admin: bool
    client: str


def _decode_password(raw: str) -> str | None:
    """``p`` as sent: clear text, or ``enc:`` + hex of its UTF-8 bytes (None when that hex is invalid)."""
    if not raw.startswith("enc:"):
        return raw
    try:
        return bytes.fromhex(raw[4:]).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def _token_check(token: str, salt: str) -> Callable[[str], bool]:
    expected = token.strip().lower()

    def check(secret: str) -> bool:
        return hmac.compare_digest(hashlib.md5((secret + salt).encode(), usedforsecurity=False).hexdigest(), expected)

    return check


def _password_check(password: str) -> Callable[[str], bool]:
    given = password.encode()
    return lambda secret: hmac.compare_digest(secret.encode(), given)


def _too_many(retry_after: float) -> SubsonicError:
    seconds = max(1, int(retry_after + 0.999))
    message = f"too many failed sign-ins; try again in {seconds} s"
    return SubsonicError(Code.GENERIC, message, headers={"Retry-After": str(seconds)})


async def authenticate(context: AppContext, params: Params, address: str, help_url: str) -> Caller:
    """The caller, or a :class:`SubsonicError` with the code clients act on (see the module's description)."""
    client = (params.get("c") or "unknown")[:64]
    username, api_key = params.get("u"), params.get("apiKey")
    password, token, salt = params.get("p"), params.get("t"), params.get("s")
    if api_key is not None:
        if username is not None or password or token or salt:
            raise SubsonicError(Code.CONFLICTING_MECHANISMS, "apiKey cannot be combined with u, p, t or s")
        return await _by_api_key(context, api_key, address, client)
    if not username:
        raise missing("u")
    if password and (token or salt):
        raise SubsonicError(Code.CONFLICTING_MECHANISMS, "send either p, or t and s, not both")
    if not password:
        if not token and not salt:
            raise missing("p")
        if not token or not salt:
            raise missing("t" if not token else "s")
    retry_after = max(context.auth_limiter.blocked(address), context.login_throttle.retry_after(username, address))
    if retry_after > 0:
        raise _too_many(retry_after)
    clear = _decode_password(password) if password else None
    matches = _token_check(token or "", salt or "") if not password else _password_check(clear or "")
    async with context.db.transaction() as session:
        user, exists = await credentials.user_by_app_password(session, context.secret_box, username, matches)
        login_hash = None
        if user is None and exists and clear is not None:
            account = await accounts.find_user(session, username)
            login_hash = account.password_hash if account is not None else None
    if user is not None:
        context.login_throttle.succeeded(username, address)
        return _active(user, client)
    context.auth_limiter.record(address)
    context.login_throttle.failed(username)
    if clear is not None and await context.passwords.verify_async(login_hash, clear):
        raise SubsonicError(
            Code.MECHANISM_NOT_SUPPORTED,
            f"your login password is not accepted by client apps: {HELP}",
            help_url=help_url,
        )
    raise SubsonicError(Code.WRONG_CREDENTIALS, f"wrong username or app password ({HELP})", help_url=help_url)


async def _by_api_key(context: AppContext, key: str, address: str, client: str) -> Caller:
    retry_after = context.auth_limiter.blocked(address)
    if retry_after > 0:
        raise _too_many(retry_after)
    async with context.db.transaction() as session:
        user = await credentials.user_by_api_key(session, key) if 0 < len(key) <= 256 else None
    if user is None:
        context.auth_limiter.record(address)
        raise SubsonicError(Code.INVALID_API_KEY, "invalid API key (unknown or revoked)")
    return _active(user, client)


def _active(user: User, client: str) -> Caller:
    """The caller, unless an administrator disabled the account (told only to holders of valid credentials)."""
    if not user.is_active:
        raise SubsonicError(Code.NOT_AUTHORISED, "this account is disabled; ask an administrator")
    return Caller(user.id, user.username, user.is_admin, client)
