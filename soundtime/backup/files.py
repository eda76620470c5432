"""Copying files with their BLAKE3 hash checked on the way, and writing files that must not replace others."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from enum import Enum
from pathlib import Path

from blake3 import blake3

_CHUNK = 1 << 20


class Copied(Enum):
    """What became of one blob copy."""

    COPIED = "copied"
    MISSING = "missing"
    DAMAGED = "damaged"


def hash_file(path: Path, advance: Callable[[int], None] | None = None) -> tuple[str, int]:
    """BLAKE3 hex digest and size of a file, read in chunks."""
    hasher, size = blake3(), 0
    with path.open("rb") as source:
        while chunk := source.read(_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
            if advance is not None:
                advance(len(chunk))
    return hasher.hexdigest(), size


def copy_verified(source: Path, target: Path, digest: str, advance: Callable[[int], None]) -> Copied:
    """Copy the blob ``digest`` from ``source`` to ``target`` (through ``target.part``, fsynced, renamed) unless
    its bytes do not hash to ``digest``; ``advance`` is told of each chunk read."""
    try:
        reader = source.open("rb")
    except FileNotFoundError:
        return Copied.MISSING
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.part")
    hasher = blake3()
    try:
        with reader, partial.open("wb") as writer:
            while chunk := reader.read(_CHUNK):
                hasher.update(chunk)
                writer.write(chunk)
                advance(len(chunk))
            writer.flush()
            os.fsync(writer.fileno())
        if hasher.hexdigest() != digest:
            partial.unlink()
            return Copied.DAMAGED
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    return Copied.COPIED


def write_new(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create ``path`` holding ``data`` (fsynced, ``mode`` whatever the umask); FileExistsError if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.restoring")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, path)  # never replaces an existing file
    finally:
        temporary.unlink()
    sync_dir(path.parent)


def sync_dir(path: Path) -> None:
    """fsync a folder, so the names created in it survive a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
