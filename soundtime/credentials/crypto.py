"""Generating credentials, and keeping app passwords encrypted with the server's key.

The key is 32 random bytes kept (hex) in ``$SOUNDTIME_DATA_DIR/app_password_key`` (mode 0600), created on first
start. App passwords are sealed with AES-256-GCM, with the owner's id as associated data, so a sealed value copied
to another account's row does not open. Without the key file, existing app passwords stop working (users create
new ones); API keys are unaffected (only their hash is kept).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from soundtime.kit.secret_file import read_or_create

KEY_FILE = "app_password_key"
_NONCE = 12
_CONTEXT = b"soundtime app password v1:"
#: Letters and digits nobody confuses when reading them off a screen (no 0/o, 1/l/i).
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_GROUPS, _GROUP = 4, 5
API_KEY_PREFIX = "st_"


class SecretBox:
    """Seals and opens app passwords with one server key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the app password key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> SecretBox:
        """The box of the key kept in the data directory (created on first use)."""
        return cls(bytes.fromhex(read_or_create(data_dir / KEY_FILE, min_length=64)[:64]))

    def seal(self, user_id: uuid.UUID, secret: str) -> bytes:
        """Encrypt ``secret`` for ``user_id``: nonce + ciphertext + tag."""
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, secret.encode(), _CONTEXT + user_id.bytes)

    def open(self, user_id: uuid.UUID, sealed: bytes) -> str | None:
        """The secret sealed for ``user_id``, or None when it does not open (another key, another user, damage)."""
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], _CONTEXT + user_id.bytes).decode()
        except (InvalidTag, ValueError, UnicodeDecodeError):
            return None


def new_app_password() -> str:
    """A random app password such as ``k3m9x-p2hqa-…``: 4 groups of 5 unambiguous characters (~99 bits)."""
    groups = ("".join(secrets.choice(_ALPHABET) for _ in range(_GROUP)) for _ in range(_GROUPS))
    return "-".join(groups)


def spellings(app_password: str) -> tuple[str, ...]:
    """The ways a user may have typed an app password into a client (with or without its dashes)."""
    return (app_password, app_password.replace("-", ""))


def new_api_key() -> str:
    """A random API key (256 bits, URL-safe)."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def api_key_hash(key: str) -> str:
    """What is stored of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()
