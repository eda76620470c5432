"""Shared helpers for the blob store tests."""

from __future__ import annotations

from pathlib import Path

from blake3 import blake3

from soundtime.blobs.store import BlobStore
from tests.support.files import temp_entries

MIB = 1 << 20
HOSTILE = [
    "../etc/passwd",
    "../" + "a" * 61,
    "A" * 64,
    "a" * 63,
    "a" * 65,
    "a" * 64 + "\n",
    "\n" + "a" * 63,
    "g" * 64,
    "\uff10" * 64,  # full-width digits
    "",
    "aa/" + "a" * 61,
]


def b3(data: bytes) -> str:
    return blake3(data).hexdigest()


def temp_files(store: BlobStore) -> list[str]:
    """What ``.tmp`` holds besides the owners' lock files."""
    return temp_entries(store.temp_dir)


def files_outside_temp(store: BlobStore) -> list[Path]:
    return [p for p in store.root.rglob("*") if p.is_file() and store.temp_dir not in p.parents]
