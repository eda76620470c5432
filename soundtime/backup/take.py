"""Taking a backup while the server runs: one database snapshot, and exactly the blobs it refers to.

The database is dumped by pg_dump from a snapshot exported by a repeatable-read transaction; the same snapshot
lists the audio and cover blobs the dump refers to. Blobs are immutable and published before the row naming
them commits, so every blob of the snapshot exists — unless a track was removed after the snapshot was taken.
Such a blob is missed by the copy, and the whole round is repeated with a new snapshot (blobs already copied
are kept: they are named by their hash). A blob that is still referenced and still absent in the next round,
or whose bytes do not match its hash, is one the instance itself lacks: it is listed as unavailable.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

import soundtime
from soundtime.backup import manifest as layout
from soundtime.backup import pgtools
from soundtime.backup import repository as repo
from soundtime.backup.files import Copied, copy_verified, hash_file, sync_dir
from soundtime.backup.progress import Reporter
from soundtime.blobs.store import BlobStore
from soundtime.config import Settings
from soundtime.credentials.crypto import KEY_FILE

#: Rounds before giving up on a library that changes faster than it can be copied.
MAX_ROUNDS = 5


class BackupError(Exception):
    """The backup could not be taken; the message says why (the folder is left without a manifest)."""


@dataclass(slots=True)
class BackupReport:
    """What a finished backup holds."""

    folder: Path
    node_id: str | None
    audio: int = 0
    covers: int = 0
    bytes: int = 0
    rounds: int = 0
    unavailable: list[layout.Blob] = field(default_factory=list)
    seconds: float = 0.0


def key_sources(settings: Settings) -> dict[str, Path]:
    """Where each secret a backup carries lives for these settings."""
    return {
        "node_secret_key": settings.secret_key_path,
        "app_password_key": settings.data_dir / KEY_FILE,
        "jwt_secret": settings.data_dir / "jwt_secret",
    }


def node_id_of(key_file: bytes) -> str | None:
    """The node id (hex Ed25519 public key) of a secret key file's content, None if it is not a key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from soundtime.p2p.identity import IdentityError, parse_secret_key

    try:
        secret = parse_secret_key(key_file, Path("node_secret_key"))
    except IdentityError:
        return None
    return Ed25519PrivateKey.from_private_bytes(secret).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def prepare_folder(folder: Path) -> None:
    """Create ``folder``, or accept it when empty; a folder with anything in it is refused."""
    if folder.exists() and not folder.is_dir():
        raise BackupError(f"{folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty: give a new or empty folder (a backup never overwrites files)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create {folder}: {exc.strerror or exc}") from None


def _copy_keys(settings: Settings, folder: Path) -> dict[str, layout.FileEntry]:
    keys: dict[str, layout.FileEntry] = {}
    (folder / layout.KEYS_DIR).mkdir(mode=0o700)
    for name, source in key_sources(settings).items():
        try:
            data = source.read_bytes()
        except FileNotFoundError:
            continue
        target = folder / layout.KEYS_DIR / name
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        digest, size = hash_file(target)
        keys[name] = layout.FileEntry(size=size, blake3=digest)
    sync_dir(folder / layout.KEYS_DIR)
    return keys


@dataclass(slots=True)
class _Snapshot:
    revision: str | None
    wanted: dict[str, dict[str, int]]  # store → digest → size


async def _dump_snapshot(url: str, target: Path) -> _Snapshot:
    """Dump the database to ``target`` and list the blobs of the same snapshot."""
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as plain:
            conn = await plain.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                snapshot_id = await repo.export_snapshot(conn)
                revision = await repo.schema_revision(conn)
                if revision is None:
                    raise BackupError("the database has no soundtime schema yet: there is nothing to back up")
                wanted = {"audio": await repo.local_audio(conn), "covers": await repo.covers(conn)}
                await pgtools.dump(url, target, snapshot=snapshot_id)  # the transaction keeps the snapshot valid
    finally:
        await engine.dispose()
    return _Snapshot(revision, wanted)


class _Copier:
    """Copies blobs into the backup folder across rounds, remembering what is there."""

    def __init__(self, folder: Path, stores: dict[str, BlobStore], reporter: Reporter) -> None:
        self.folder, self.stores, self.reporter = folder, stores, reporter
        self.copied: dict[tuple[str, str], int] = {}
        self.damaged: set[tuple[str, str]] = set()
        self.absent: set[tuple[str, str]] = set()  # absent in the last round

    async def round(self, wanted: dict[str, dict[str, int]]) -> set[tuple[str, str]]:
        """Copy what ``wanted`` lists and is not copied yet; returns the blobs absent this round for the first
        time (a retry with a new snapshot tells a removed track from a blob the instance lacks)."""
        todo = [
            (store, digest, size)
            for store, blobs in wanted.items()
            for digest, size in blobs.items()
            if (store, digest) not in self.copied and (store, digest) not in self.damaged
        ]
        self.reporter.begin("copying audio and covers", sum(size for _, _, size in todo))
        absent: set[tuple[str, str]] = set()
        shards: set[Path] = set()
        for store, digest, _ in todo:
            target = layout.blob_path(self.folder, store, digest)
            source = self.stores[store].path_for(digest)
            outcome = await asyncio.to_thread(copy_verified, source, target, digest, self.reporter.advance)
            if outcome is Copied.COPIED:
                self.copied[store, digest] = target.stat().st_size
                shards.add(target.parent)
            elif outcome is Copied.DAMAGED:
                self.damaged.add((store, digest))
            else:
                absent.add((store, digest))
        for shard in shards:
            await asyncio.to_thread(sync_dir, shard)
        first_time = absent - self.absent
        self.absent = absent
        return first_time

    def drop_unwanted(self, wanted: dict[str, dict[str, int]]) -> None:
        """Remove copies of blobs the final snapshot no longer refers to (tracks removed during the backup)."""
        for store, digest in list(self.copied):
            if digest not in wanted[store]:
                layout.blob_path(self.folder, store, digest).unlink()
                del self.copied[store, digest]


async def take_backup(
    settings: Settings, url: str, folder: Path, stores: dict[str, BlobStore], reporter: Reporter
) -> BackupReport:
    """Write a complete backup of the instance (``url``, the stores ``audio``/``covers``, the keys) to ``folder``."""
    started = time.monotonic()
    prepare_folder(folder)
    reporter.step("copying the keys")
    keys = _copy_keys(settings, folder)
    node_key = folder / layout.KEYS_DIR / "node_secret_key"
    report = BackupReport(folder, node_id_of(node_key.read_bytes()) if node_key.exists() else None)
    dump_file = folder / layout.DATABASE_NAME
    copier = _Copier(folder, stores, reporter)
    for rounds in range(1, MAX_ROUNDS + 1):
        reporter.step("dumping the database" if rounds == 1 else "dumping the database again (a track was removed)")
        partial = dump_file.with_name(f"{dump_file.name}.part")
        snapshot = await _dump_snapshot(url, partial)
        os.replace(partial, dump_file)
        if not await copier.round(snapshot.wanted):
            break
    else:
        raise BackupError(
            f"tracks kept being removed while the backup ran ({MAX_ROUNDS} rounds): try again at a quieter time"
        )
    report.rounds = rounds
    copier.drop_unwanted(snapshot.wanted)
    reporter.step("checking the database dump")
    dump_digest, dump_size = await asyncio.to_thread(hash_file, dump_file)
    unavailable = sorted(b for b in copier.absent | copier.damaged if b[1] in snapshot.wanted[b[0]])
    found = {store: [d for s, d in copier.copied if s == store] for store in layout.STORE_NAMES}
    written = layout.Manifest(
        format=layout.FORMAT,
        version=layout.VERSION,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        soundtime_version=soundtime.__version__,
        schema_revision=snapshot.revision,
        node_id=report.node_id,
        database=layout.FileEntry(size=dump_size, blake3=dump_digest),
        keys=keys,
        audio=[layout.Blob(d, copier.copied["audio", d]) for d in sorted(found["audio"])],
        covers=[layout.Blob(d, copier.copied["covers", d]) for d in sorted(found["covers"])],
        unavailable=[layout.Blob(d, snapshot.wanted[s][d]) for s, d in unavailable],
    )
    _write_manifest(folder, layout.encode(written))
    report.audio, report.covers = len(written.audio), len(written.covers)
    report.bytes = sum(copier.copied.values())
    report.unavailable = written.unavailable
    report.seconds = time.monotonic() - started
    return report


def _write_manifest(folder: Path, data: bytes) -> None:
    """The manifest last, atomically: its presence is what makes the folder a complete backup."""
    path = folder / layout.MANIFEST_NAME
    temporary = folder / f".{layout.MANIFEST_NAME}.part"
    temporary.write_bytes(data)
    with temporary.open("rb") as written:
        os.fsync(written.fileno())
    os.replace(temporary, path)
    sync_dir(folder)
