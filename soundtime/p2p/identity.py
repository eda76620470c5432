"""The node's Ed25519 secret key file (spec §1): load it, or create it once; never replace it.

Accepted content: exactly 32 raw bytes, or 64 hex characters in any case with surrounding whitespace.
A new key is written as 64 lowercase hex characters (no newline), mode 0600, atomically: temporary file, fsync,
then a hard link to the final name, which fails instead of replacing a file that appeared meanwhile.

A key file readable by group or others is accepted with a warning: refusing to start would lock an operator
out of their own identity over a permission detail, and silently changing the mode of their file is not ours
to do. The warning says how to fix it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import stat
import string
from pathlib import Path

log = logging.getLogger(__name__)

SECRET_KEY_SIZE = 32
_HEX_DIGITS = frozenset(string.hexdigits)


class IdentityError(Exception):
    """The secret key file exists but cannot be used (unreadable or not a key)."""


def load_or_create_secret_key(path: Path) -> bytes:
    """Return the 32-byte secret key stored at ``path``, creating a new random one if the file is missing."""
    try:
        return _load(path)
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(SECRET_KEY_SIZE)
    try:
        _create(path, key)
    except FileExistsError:  # another process created it between our read and our link: use theirs
        return _load(path)
    except OSError as exc:
        raise IdentityError(f"cannot create the secret key file {path}: {exc.strerror or exc}") from exc
    log.info("created a new node identity in %s", path)
    return key


def parse_secret_key(data: bytes, path: Path) -> bytes:
    """Decode the content of a key file; ``path`` only names the file in error messages."""
    if len(data) == SECRET_KEY_SIZE:
        return data
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise IdentityError(_bad(path, f"found {len(data)} bytes that are neither a raw key nor text")) from None
    if len(text) != 2 * SECRET_KEY_SIZE:
        raise IdentityError(_bad(path, f"found {len(text)} characters of text"))
    if not _HEX_DIGITS.issuperset(text):
        raise IdentityError(_bad(path, "the text contains characters that are not hexadecimal digits"))
    return bytes.fromhex(text)


def _bad(path: Path, detail: str) -> str:
    return (
        f"the secret key file {path} is not a key: expected 32 raw bytes or 64 hexadecimal characters, but {detail}"
        " (refusing to replace an existing identity; fix or move the file)"
    )


def _load(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise IdentityError(f"the secret key path {path} is not a regular file")
            data = file.read(4096)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise IdentityError(f"cannot read the secret key file {path}: {exc.strerror or exc}") from exc
    key = parse_secret_key(data, path)
    if mode & 0o077:
        log.warning(
            "the secret key file %s is accessible by other users (mode %o); run: chmod 600 %s",
            path,
            stat.S_IMODE(mode),
            path,
        )
    return key


def _create(path: Path, key: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            os.fchmod(file.fileno(), 0o600)  # whatever the umask
            file.write(key.hex().encode("ascii"))
            file.flush()
            os.fsync(file.fileno())
        _publish(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    _fsync_directory(path.parent)


def _publish(temporary: Path, path: Path) -> None:
    """Give the written file its final name without ever replacing an existing file."""
    try:
        os.link(temporary, path)  # atomic; FileExistsError if the name is taken
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        if path.exists():  # file systems without hard links: check, then rename (a tiny race, never a loss here)
            raise FileExistsError(path) from exc
        temporary.rename(path)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
