"""Folder import (the CLI's engine): every format, rejections with reasons, duplicates, skipping unchanged files."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from soundtime.blobs.store import BlobStore
from soundtime.kit.db import Database
from soundtime.library.importer import FolderImport, FoundFile, ImportReport
from soundtime.library.ingest import prepare_path
from soundtime.models import ImportedFile, Track
from tests.support.audio import EXTENSIONS, FORMATS, AudioFactory, TrackSpec, make_cover_png
from tests.support.files import stored_files, temp_entries


def make_job(db: Database, tmp_path: Path, **kwargs: object) -> FolderImport:
    return FolderImport(
        db,
        BlobStore(tmp_path / "store" / "music"),
        BlobStore(tmp_path / "store" / "blobs"),
        max_size=1 << 30,
        workers=2,
        **kwargs,  # type: ignore[arg-type]
    )


def build_folder(root: Path, audio: AudioFactory) -> list[Path]:
    tracks = []
    for index, fmt in enumerate(FORMATS):
        sub = root / f"Artist {index % 2}" / f"Album {index % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        spec = TrackSpec(title=f"Track {index}", album=f"Album {index % 3}", cover=make_cover_png(index % 3))
        tracks.append(audio.make(sub / f"{index:02d} track{EXTENSIONS[fmt]}", fmt, spec))
    (root / "Artist 0" / "cover.jpg").write_bytes(b"\xff\xd8\xff not really")
    (root / "notes.txt").write_text("liner notes")
    (root / ".hidden.mp3").write_bytes(b"ignored: hidden")
    broken = root / "broken.mp3"
    broken.write_bytes(b"ID3 this is not audio at all" * 10)
    cut = root / "cut.flac"
    cut.write_bytes(tracks[1].read_bytes()[:2000])
    return tracks


async def track_count(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(Track))).scalar_one())


async def test_import_then_reimport_skips_unchanged(db: Database, audio: AudioFactory, tmp_path: Path) -> None:
    folder = tmp_path / "Music"
    tracks = build_folder(folder, audio)
    job = make_job(db, tmp_path)
    seen: list[tuple[int, int]] = []

    report = await job.run(folder, lambda done, total: seen.append((done, total)))

    assert report.found == len(FORMATS) + 2
    assert report.imported == len(FORMATS)
    assert report.duplicates == 0
    assert report.ignored == 2  # cover.jpg and notes.txt; the hidden file is not even counted
    rejected = dict(report.rejected)
    assert set(rejected) == {str((folder / "broken.mp3").resolve()), str((folder / "cut.flac").resolve())}
    assert seen[-1] == (report.found, report.found)
    assert await track_count(db) == len(FORMATS)
    for path in tracks:
        assert job.audio.path_for(_blake3(path)).read_bytes() == path.read_bytes()

    again = await job.run(folder)
    assert (again.imported, again.duplicates, again.unchanged) == (0, 0, len(FORMATS))
    assert len(again.rejected) == 2  # refused files are looked at again (they may have been fixed)

    # A changed file replaces its previous version; a copy of a known file under a new name is a duplicate.
    old_digest = _blake3(tracks[0])
    audio.make(tracks[0], "mp3", TrackSpec(title="Renamed in tags"))
    (folder / "copy.flac").write_bytes(tracks[1].read_bytes())
    third = await job.run(folder)
    assert (third.imported, third.duplicates, third.unchanged, third.replaced) == (1, 1, len(FORMATS) - 1, 1)
    async with db.transaction() as session:
        titles = set((await session.execute(select(Track.title))).scalars())
        recorded = (await session.execute(select(func.count()).select_from(ImportedFile))).scalar_one()
    assert "Renamed in tags" in titles
    assert "Track 0" not in titles
    assert len(titles) == len(FORMATS)
    assert recorded == len(FORMATS) + 1
    assert not job.audio.exists(old_digest)


async def test_changed_file_keeps_a_version_another_file_still_provides(
    db: Database, audio: AudioFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "Music"
    first = audio.make(folder / "a.flac", "flac", TrackSpec(title="Original"))
    (folder / "copy of a.flac").write_bytes(first.read_bytes())
    job = make_job(db, tmp_path)
    report = await job.run(folder)
    assert (report.imported, report.duplicates) == (1, 1)
    audio.make(first, "flac", TrackSpec(title="Edited"))
    again = await job.run(folder)
    assert (again.imported, again.replaced) == (1, 0)
    async with db.transaction() as session:
        titles = set((await session.execute(select(Track.title))).scalars())
    assert titles == {"Original", "Edited"}


async def test_empty_folder(db: Database, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    report = await make_job(db, tmp_path).run(tmp_path / "empty")
    assert (report.found, report.imported) == (0, 0)


async def test_store_holds_no_leftovers_after_rejections(db: Database, audio: AudioFactory, tmp_path: Path) -> None:
    folder = tmp_path / "Music"
    build_folder(folder, audio)
    job = make_job(db, tmp_path)
    await job.run(folder)
    assert temp_entries(job.audio.temp_dir) == []
    assert temp_entries(job.blobs.temp_dir) == []
    assert len(stored_files(job.blobs.root)) == 3  # three distinct covers


def _blake3(path: Path) -> str:
    from blake3 import blake3

    return blake3(path.read_bytes()).hexdigest()


async def test_a_file_the_database_refuses_is_rejected_alone(db: Database, audio: AudioFactory, tmp_path: Path) -> None:
    """Even values that slip past validation cost one file, not the batch or the run."""
    job = make_job(db, tmp_path)
    paths = [audio.make(tmp_path / "in" / f"{i}.mp3", "mp3", TrackSpec(title=f"T{i}")) for i in range(3)]
    prepared = [prepare_path(p, job.audio, job.blobs, 1 << 30) for p in paths]
    prepared[1] = replace(prepared[1], tags=replace(prepared[1].tags, sample_rate=3_000_000_000))
    batch = [
        (FoundFile(p, p.stat().st_size, p.stat().st_mtime_ns), item) for p, item in zip(paths, prepared, strict=True)
    ]
    report = ImportReport()
    await job._save(batch, report)
    assert report.imported == 2
    assert [path for path, _ in report.rejected] == [str(paths[1])]
    assert "refused" in report.rejected[0][1]
    assert await track_count(db) == 2
    assert temp_entries(job.audio.temp_dir) == []


async def test_undecodable_file_names_and_covers_that_lose(db: Database, audio: AudioFactory, tmp_path: Path) -> None:
    """Latin-1 file names (not UTF-8) import like any other; two covers for one album do not trip the retry."""
    folder = tmp_path / "Music"
    folder.mkdir()
    latin1 = Path(os.fsdecode(os.fsencode(folder) + b"/01 caf\xe9.mp3"))
    audio.make(latin1, "mp3", TrackSpec(title="Caf", album="Same", cover=make_cover_png(1)))
    audio.make(folder / "02 next.mp3", "mp3", TrackSpec(title="Next", album="Same", cover=make_cover_png(2)))
    job = make_job(db, tmp_path)
    report = await job.run(folder)
    assert (report.imported, report.rejected) == (2, [])
    assert (await job.run(folder)).unchanged == 2
    assert temp_entries(job.blobs.temp_dir) == []


async def test_unreadable_folders_are_listed_not_fatal(
    db: Database, audio: AudioFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "Music"
    audio.make(folder / "ok.mp3", "mp3", TrackSpec())
    (folder / "lost+found").mkdir()
    real_scandir = os.scandir

    def scandir(path: str | os.PathLike[str]) -> object:
        if str(path).endswith("lost+found"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = await make_job(db, tmp_path).run(folder)
    assert report.imported == 1
    assert report.unreadable_folders == [str((folder / "lost+found").resolve())]


async def test_files_accepted_with_a_defect_are_listed(db: Database, audio: AudioFactory, tmp_path: Path) -> None:
    folder = tmp_path / "Music"
    folder.mkdir()
    song = audio.make(folder / "song.mp3", "mp3", TrackSpec(title="Junk After"))
    song.write_bytes(song.read_bytes() + b"not audio\n" * 30)
    audio.make(folder / "clean.flac", "flac", TrackSpec(title="Clean"))
    report = await make_job(db, tmp_path).run(folder)
    assert report.imported == 2
    assert report.defective == [(str(song.resolve()), "300 bytes after its last MP3 frame are not audio (ignored)")]
