"""Secrets the server generates once and keeps in its data directory (mode 0600)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def read_or_create(path: Path, *, min_length: int = 32) -> str:
    """The secret stored in ``path``; a new random one (64 hex characters) when the file is missing or too short.

    A new file is written to a temporary name created with mode 0600, then renamed into place, so the secret is
    never readable by others nor half-written.
    """
    if path.exists():
        secret = path.read_text(encoding="utf-8").strip()
        if len(secret) >= min_length:
            return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, secret.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    return secret
