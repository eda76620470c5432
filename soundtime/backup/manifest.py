"""The backup folder's layout and its manifest: what a complete backup holds, checked before anything is restored.

Layout of a backup folder::

    soundtime-backup.json      the manifest, written last: a folder without it is an unfinished backup
    database.pgdump            pg_dump's custom format, taken from one database snapshot
    keys/<name>                the node's secret key and the server's generated secrets (mode 0600)
    audio/<2 hex>/<digest>     the audio of every track the snapshot holds locally (BLAKE3-addressed)
    covers/<2 hex>/<digest>    every cover image the snapshot lists
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final, Literal

import msgspec

from soundtime.blobs.refs import DIGEST_RE

MANIFEST_NAME = "soundtime-backup.json"
DATABASE_NAME = "database.pgdump"
KEYS_DIR = "keys"
FORMAT: Final = "soundtime-backup"
VERSION: Final = 1
#: The secrets a backup carries, by file name in ``keys/``.
KEY_NAMES = ("node_secret_key", "app_password_key", "jwt_secret")
#: The blob stores a backup carries, by folder name.
STORE_NAMES = ("audio", "covers")
#: A manifest larger than this is not ours (250,000 tracks take about 25 MB).
MAX_MANIFEST_SIZE = 512 << 20

Digest = Annotated[str, msgspec.Meta(pattern=DIGEST_RE.pattern)]
Size = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]


class BackupInvalid(Exception):
    """The folder is not a complete, intact soundtime backup; the message says what is wrong."""


class FileEntry(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A file of the backup with its size and BLAKE3 digest."""

    size: Size
    blake3: Digest


class Blob(msgspec.Struct, array_like=True, frozen=True):
    """A blob of a store: its digest (which is also its name) and size."""

    digest: Digest
    size: Size


class Manifest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """What a complete backup holds."""

    format: Literal["soundtime-backup"]
    version: Literal[1]
    created_at: str
    soundtime_version: str
    schema_revision: str | None
    node_id: str | None
    database: FileEntry
    keys: dict[str, FileEntry]
    audio: list[Blob]
    covers: list[Blob]
    #: Blobs the database refers to that the instance itself did not have intact when the backup was taken
    #: (missing, or bytes that no longer match their hash): the restored instance lacks them as the original did.
    unavailable: list[Blob] = []

    def blobs(self, store: str) -> list[Blob]:
        """The blobs of ``store`` (one of :data:`STORE_NAMES`)."""
        return self.audio if store == "audio" else self.covers


def blob_path(root: Path, store: str, digest: str) -> Path:
    """Where a blob of ``store`` lives in the backup folder ``root``."""
    if store not in STORE_NAMES or not DIGEST_RE.match(digest):
        raise ValueError(f"not a blob of a backup: {store}/{digest[:80]}")
    return root / store / digest[:2] / digest


def encode(manifest: Manifest) -> bytes:
    """The manifest as JSON."""
    return msgspec.json.format(msgspec.json.encode(manifest), indent=1)


def load(root: Path) -> Manifest:
    """Read and check the manifest of the backup in ``root`` (not the files it lists: see ``restore.verify``)."""
    if not root.is_dir():
        raise BackupInvalid(f"{root} is not a folder")
    path = root / MANIFEST_NAME
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        if (root / DATABASE_NAME).exists() or any((root / name).exists() for name in STORE_NAMES):
            raise BackupInvalid(
                f"{root} holds an unfinished backup (no {MANIFEST_NAME}: the backup was interrupted or failed); "
                "take a new one"
            ) from None
        raise BackupInvalid(f"{root} is not a soundtime backup (no {MANIFEST_NAME})") from None
    if size > MAX_MANIFEST_SIZE:
        raise BackupInvalid(f"{path} is too large to be a soundtime backup manifest")
    try:
        manifest = msgspec.json.decode(path.read_bytes(), type=Manifest)
    except msgspec.ValidationError as exc:
        raise BackupInvalid(f"{path} is not a manifest this soundtime can read: {exc}") from None
    except msgspec.DecodeError:
        raise BackupInvalid(f"{path} is damaged (not JSON)") from None
    unknown = set(manifest.keys) - set(KEY_NAMES)
    if unknown:
        raise BackupInvalid(f"{path} lists unknown key files: {', '.join(sorted(unknown))}")
    return manifest
