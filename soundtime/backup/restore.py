"""Restoring a backup on a fresh data folder: everything is checked before the database is loaded, and the
database is loaded last, in one transaction.

Order: read the manifest; check that every file it lists is there with its size and that the dump and keys hash
to what it says; refuse a data folder whose database holds data or whose keys differ; copy the blobs into the
stores (each hashed on the way in: a damaged one is never stored); write the keys; load the dump; migrate it to
this version's schema. Until the load, the database stays empty, so an interrupted restore can simply be run
again (blobs and keys already in place are recognised).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from soundtime.backup import manifest as layout
from soundtime.backup import pgtools
from soundtime.backup import repository as repo
from soundtime.backup.files import hash_file, write_new
from soundtime.backup.progress import Reporter
from soundtime.backup.take import key_sources
from soundtime.blobs.store import BlobStore, HashMismatch
from soundtime.config import Settings
from soundtime.kit import migrations

_COPY_CHUNK = 1 << 20
_LISTED = 5


class RestoreError(Exception):
    """The backup cannot be restored here; the message says why and what to do."""


@dataclass(slots=True)
class RestoreReport:
    """What a restore brought back."""

    node_id: str | None
    schema_revision: str | None
    audio: int = 0
    covers: int = 0
    bytes: int = 0
    unavailable: list[layout.Blob] = field(default_factory=list)
    seconds: float = 0.0


def _listing(problems: list[str]) -> str:
    shown = "\n  ".join(problems[:_LISTED])
    more = f"\n  … and {len(problems) - _LISTED} more" if len(problems) > _LISTED else ""
    return f"\n  {shown}{more}"


def check_files(folder: Path, manifest: layout.Manifest, reporter: Reporter) -> None:
    """Every file the manifest lists is present with its size; the dump and keys hash to what it says."""
    problems: list[str] = []
    for store in layout.STORE_NAMES:
        for blob in manifest.blobs(store):
            path = layout.blob_path(folder, store, blob.digest)
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                problems.append(f"{store}/{blob.digest[:2]}/{blob.digest} is missing")
                continue
            if size != blob.size:
                problems.append(f"{store}/{blob.digest[:2]}/{blob.digest} has {size} bytes instead of {blob.size}")
    files = {layout.DATABASE_NAME: manifest.database} | {
        f"{layout.KEYS_DIR}/{name}": entry for name, entry in manifest.keys.items()
    }
    reporter.begin("checking the database dump and keys", sum(entry.size for entry in files.values()))
    for name, entry in files.items():
        try:
            digest, size = hash_file(folder / name, reporter.advance)
        except FileNotFoundError:
            problems.append(f"{name} is missing")
            continue
        if (digest, size) != (entry.blake3, entry.size):
            problems.append(f"{name} is damaged (its bytes do not match the manifest)")
    if problems:
        raise layout.BackupInvalid(f"the backup in {folder} is incomplete or damaged:{_listing(problems)}")


def check_keys(settings: Settings, folder: Path, manifest: layout.Manifest) -> None:
    """Refuse a data folder that already has other keys (another node's identity would be replaced)."""
    for name, target in key_sources(settings).items():
        ours = folder / layout.KEYS_DIR / name
        if name in manifest.keys and target.exists() and target.read_bytes() != ours.read_bytes():
            raise RestoreError(
                f"{target} already exists with another key: restore into a new data folder "
                "(a backup never replaces an instance's identity or secrets)"
            )


async def check_database(url: str) -> None:
    """Refuse a database that already holds tables."""
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            tables = await repo.user_tables(conn)
    finally:
        await engine.dispose()
    if tables:
        raise RestoreError(
            f"the database already holds data (tables {', '.join(tables[:5])}…): restore into a new data folder, "
            "or point DATABASE_URL at a new, empty database"
        )


def _restore_blob(store: BlobStore, source: Path, digest: str, reporter: Reporter) -> bool:
    """Copy one blob into ``store`` unless it is there; False when its bytes do not match its name."""
    if store.exists(digest):
        reporter.advance(source.stat().st_size)
        return True
    with store.writer() as writer, source.open("rb") as reader:
        while chunk := reader.read(_COPY_CHUNK):
            writer.write(chunk)
            reporter.advance(len(chunk))
        try:
            writer.commit(digest)
        except HashMismatch:
            return False
    return True


def verify_backup(folder: Path, reporter: Reporter) -> layout.Manifest:
    """The manifest of the backup in ``folder`` once everything it lists is checked (before anything is written:
    :class:`~soundtime.backup.manifest.BackupInvalid` or :class:`RestoreError` say what is wrong)."""
    reporter.step(f"checking the backup in {folder}")
    manifest = layout.load(folder)
    if manifest.schema_revision is not None and not migrations.is_known(manifest.schema_revision):
        raise RestoreError(
            f"this backup was made by a newer soundtime ({manifest.soundtime_version}, database schema "
            f"{manifest.schema_revision}): restore it with that version or a later one"
        )
    check_files(folder, manifest, reporter)
    return manifest


async def restore_backup(
    settings: Settings,
    url: str,
    folder: Path,
    manifest: layout.Manifest,
    *,
    stores: dict[str, BlobStore],
    reporter: Reporter,
) -> RestoreReport:
    """Bring the backup in ``folder`` (``manifest`` from :func:`verify_backup`) back into this data folder and
    the (empty) database at ``url``."""
    started = time.monotonic()
    check_keys(settings, folder, manifest)
    await check_database(url)

    report = RestoreReport(manifest.node_id, manifest.schema_revision, unavailable=list(manifest.unavailable))
    reporter.begin(
        "copying audio and covers", sum(b.size for store in layout.STORE_NAMES for b in manifest.blobs(store))
    )
    damaged: list[str] = []
    for store in layout.STORE_NAMES:
        for blob in manifest.blobs(store):
            source = layout.blob_path(folder, store, blob.digest)
            if not await asyncio.to_thread(_restore_blob, stores[store], source, blob.digest, reporter):
                damaged.append(f"{store}/{blob.digest[:2]}/{blob.digest} is damaged (its bytes changed)")
            report.bytes += blob.size
    if damaged:
        raise layout.BackupInvalid(f"the backup in {folder} is damaged; nothing was loaded:{_listing(damaged)}")
    report.audio, report.covers = len(manifest.audio), len(manifest.covers)

    reporter.step("writing the keys")
    for name, target in key_sources(settings).items():
        if name in manifest.keys and not target.exists():
            write_new(target, (folder / layout.KEYS_DIR / name).read_bytes())

    reporter.step("loading the database")
    await pgtools.restore(url, folder / layout.DATABASE_NAME)
    reporter.step("bringing the database schema up to date")
    await asyncio.to_thread(migrations.upgrade, url)
    report.seconds = time.monotonic() - started
    return report
