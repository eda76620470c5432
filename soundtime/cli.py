"""The ``soundtime`` command line: serve, migrate, import, user, backup, restore."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

import soundtime
from soundtime import runtime
from soundtime.config import Settings, SettingsError, load_settings
from soundtime.kit.embedded_pg import EmbeddedDatabaseError
from soundtime.kit.logging import configure_logging

app = typer.Typer(help="soundtime: a self-hosted music server that federates over iroh.", no_args_is_help=True)
user_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
app.add_typer(user_app, name="user")
console = Console(stderr=True, soft_wrap=True)

if TYPE_CHECKING:
    from soundtime.backup.manifest import Blob
    from soundtime.blobs.store import BlobStore
    from soundtime.library.importer import ImportReport


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise _fail(str(exc), 2) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


@contextmanager
def _database(
    settings: Settings, *, migrate: bool, on_signal: str | None = "interrupted", check_schema: bool = True
) -> Iterator[str]:
    """The database URL with its schema checked (or migrated; left alone without ``check_schema``); errors become
    one readable line.

    SIGINT/SIGTERM unwind normally, so the embedded database is released whenever the command ends (even during
    start-up or a migration). ``on_signal`` is printed, with exit code 130, when a signal interrupted the work;
    without it a signal is a normal stop (exit 0, as for ``serve``).
    """
    with _stop_on_signals(on_signal):
        try:
            with runtime.database(settings) as url:
                if check_schema:
                    runtime.ensure_schema(url, migrate=migrate)
                yield url
        except (EmbeddedDatabaseError, runtime.SchemaOutOfDate) as exc:
            raise _fail(str(exc)) from None
        except OSError as exc:
            raise _fail(f"cannot reach the database: {exc}") from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface to listen on [default: SOUNDTIME_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port [default: SOUNDTIME_PORT]")] = None,
    migrate: Annotated[bool, typer.Option(help="apply database migrations before starting")] = True,
) -> None:
    """Run the server (HTTP API; with no DATABASE_URL, a private PostgreSQL in the data folder)."""
    import uvicorn

    from soundtime.app import create_app

    settings = _settings()
    if settings.p2p_enabled:
        _check_p2p(settings)
    with _database(settings, migrate=migrate, on_signal=None) as url:
        bind_host, bind_port = host or settings.host, port or settings.port
        console.print(
            f"soundtime {soundtime.__version__} on [bold]http://{bind_host}:{bind_port}[/] "
            f"(data in {settings.data_dir.resolve()}); the first account registered becomes admin",
            highlight=False,
        )
        uvicorn.Server(runtime.server_config(create_app(settings, url), settings, host=bind_host, port=bind_port)).run()


def _check_p2p(settings: Settings) -> None:
    """Refuse to start with an unusable node key or a busy UDP port, before anything starts (exit 2, no traceback)."""
    import socket

    from soundtime.p2p.identity import IdentityError, load_or_create_secret_key

    try:
        load_or_create_secret_key(settings.secret_key_path)
    except IdentityError as exc:
        raise _fail(str(exc), 2) from None
    if settings.p2p_bind_port == 0:
        return
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("0.0.0.0", settings.p2p_bind_port))  # noqa: S104 - what the node will bind
    except OSError as exc:
        message = f"UDP port {settings.p2p_bind_port} (P2P_BIND_PORT) is not available: {exc.strerror}"
        raise _fail(f"{message}; stop what uses it or choose another port (0 = random)", 2) from None


class _Stopped(Exception):
    """SIGINT/SIGTERM (also the one uvicorn re-raises after its graceful shutdown): unwind with cleanup."""


@contextmanager
def _stop_on_signals(interrupted_message: str | None) -> Iterator[None]:
    """Turn SIGINT/SIGTERM into an exception that unwinds every context (the embedded database stops)."""

    def stop(signum: int, _frame: object) -> None:
        raise _Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except _Stopped:
        if interrupted_message is not None:
            raise _fail(interrupted_message, 130) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    with _database(settings, migrate=True):
        console.print("database schema is up to date")


@app.command("import")
def import_command(
    folder: Annotated[Path, typer.Argument(help="folder to import (searched recursively)")],
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="tag-reading processes [default: CPUs]")] = None,
    owner: Annotated[str | None, typer.Option(help="username recorded as the uploader")] = None,
) -> None:
    """Copy the audio files of a folder into the library; unchanged files of a previous import are skipped."""
    if not folder.is_dir():
        raise _fail(f"{folder} is not a folder", 2)
    from sqlalchemy.exc import SQLAlchemyError

    from soundtime.blobs.store import BlobError

    settings = _settings()
    interrupted = "import interrupted; files saved so far are kept (run it again to continue)"
    with _database(settings, migrate=settings.database_url is None, on_signal=interrupted) as url:
        try:
            report = asyncio.run(_import(settings, url, folder, workers, owner))
        except (SQLAlchemyError, OSError, BlobError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise _fail(
                f"the import stopped: {reason}. Files saved so far are kept; run the command again to continue."
            ) from None
    _print_report(report)
    if report.found == 0:
        console.print(f"no audio files found in {folder}")


async def _import(settings: Settings, url: str, folder: Path, workers: int | None, owner: str | None) -> ImportReport:
    from soundtime.auth import repository as auth_repo
    from soundtime.blobs.store import BlobStore
    from soundtime.kit.db import Database
    from soundtime.library.importer import FolderImport
    from soundtime.library.maintenance import sweep_temp

    db = Database(url, pool_size=2)
    stores = BlobStore(settings.audio_dir), BlobStore(settings.blobs_dir)
    try:
        owner_id = None
        if owner is not None:
            async with db.transaction() as session:
                user = await auth_repo.find_user(session, owner)
            if user is None:
                raise _fail(f"no user named {owner!r}", 2)
            owner_id = user.id
        sweep_temp(stores)  # what an earlier import or server left when it was killed
        job = FolderImport(
            db,
            *stores,
            max_size=settings.max_upload_size,
            workers=workers,
            uploaded_by=owner_id,
        )
        with Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        ) as bar:
            task = bar.add_task("import", total=None)
            return await job.run(folder, lambda done, total: bar.update(task, completed=done, total=total))
    finally:
        for store in stores:
            store.release_owner()
        await db.dispose()


def _print_report(report: ImportReport) -> None:
    from soundtime.library.importer import iter_rejections

    table = Table(title=f"import finished in {report.seconds:.1f} s", show_header=False)
    table.add_row("imported", str(report.imported))
    table.add_row("duplicates (already in the library)", str(report.duplicates))
    table.add_row("unchanged since the last import", str(report.unchanged))
    table.add_row("replaced (changed since the last import)", str(report.replaced))
    table.add_row("rejected", str(len(report.rejected)))
    table.add_row("accepted with a defect (they play)", str(len(report.defective)))
    table.add_row("other files ignored", str(report.ignored))
    console.print(table)
    for folder in report.unreadable_folders:
        console.print(f"[yellow]could not read the folder[/] {folder}", highlight=False)
    if report.rejected:
        console.print("[bold]rejected files:[/]")
        for line in iter_rejections(report, 100):
            console.print(f"  {line}", highlight=False, markup=False)
    if report.defective:
        console.print("[bold]accepted with a defect:[/]")
        for path, what in report.defective[:100]:
            console.print(f"  {path}: {what}", highlight=False, markup=False)
        if len(report.defective) > 100:
            console.print(f"  … and {len(report.defective) - 100} more", highlight=False, markup=False)


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if not 8 <= len(password) <= 256:
        raise _fail("the password must have 8 to 256 characters", 2)
    return password


@user_app.command("create")
def user_create(
    username: str,
    admin: Annotated[bool, typer.Option(help="give the administrator role")] = False,
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
) -> None:
    """Create an account (works even when registration is closed)."""
    from soundtime.auth.schemas import Credentials

    password = _read_password(password_stdin)
    try:
        Credentials(username=username, password=password)
    except ValueError:
        raise _fail("usernames have 3 to 32 letters, digits, '.', '_' or '-'", 2) from None
    settings = _settings()
    with _database(settings, migrate=settings.database_url is None) as url:
        asyncio.run(_user_create(url, username, password, admin))
    console.print(f"created {'administrator' if admin else 'user'} {username}")


async def _user_create(url: str, username: str, password: str, admin: bool) -> None:
    from soundtime.auth import service
    from soundtime.auth.passwords import Passwords
    from soundtime.kit.db import Database
    from soundtime.kit.errors import AppError

    password_hash = await Passwords().hash_async(password)
    db = Database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            await service.create_user(session, username, password_hash, admin=admin)
    except AppError as exc:
        raise _fail(exc.message, 2) from None
    finally:
        await db.dispose()


@user_app.command("list")
def user_list() -> None:
    """List accounts."""
    settings = _settings()
    with _database(settings, migrate=settings.database_url is None) as url:
        users = asyncio.run(_user_list(url))
    table = Table("username", "role", "created")
    for name, role, created in users:
        table.add_row(name, role, created)
    Console().print(table)


async def _user_list(url: str) -> list[tuple[str, str, str]]:
    from soundtime.auth import repository as repo
    from soundtime.kit.db import Database

    db = Database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            return [(u.username, u.role, f"{u.created_at:%Y-%m-%d %H:%M}") for u in await repo.list_users(session)]
    finally:
        await db.dispose()


@user_app.command("set-password")
def user_set_password(
    username: str,
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
) -> None:
    """Set a new password for an account (and sign out its sessions)."""
    password = _read_password(password_stdin)
    settings = _settings()
    with _database(settings, migrate=settings.database_url is None) as url:
        found = asyncio.run(_set_password(url, username, password))
    if not found:
        raise _fail(f"no user named {username!r}", 2)
    console.print(f"password of {username} changed")


async def _set_password(url: str, username: str, password: str) -> bool:
    from soundtime.auth import repository as repo
    from soundtime.auth import service
    from soundtime.auth.passwords import Passwords
    from soundtime.kit.db import Database

    password_hash = await Passwords().hash_async(password)
    db = Database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            user = await repo.find_user(session, username)
            if user is None:
                return False
            await service.set_password(session, user.id, password_hash)
            return True
    finally:
        await db.dispose()


class _RichReporter:
    """Shows a backup's or restore's steps as lines and its byte-counted steps as a progress bar."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def step(self, message: str) -> None:
        """Print the step."""
        self._progress.console.print(message, highlight=False)

    def begin(self, what: str, total_bytes: int) -> None:
        """Start a bar."""
        if self._task is not None:
            self._progress.update(self._task, completed=self._progress.tasks[-1].total)
        self._task = self._progress.add_task(what, total=total_bytes)

    def advance(self, nbytes: int) -> None:
        """Move the bar (thread-safe)."""
        if self._task is not None:
            self._progress.advance(self._task, nbytes)


@contextmanager
def _reporter() -> Iterator[_RichReporter]:
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, TimeRemainingColumn(), console=console) as progress:
        yield _RichReporter(progress)


def _stores(settings: Settings) -> dict[str, BlobStore]:
    from soundtime.blobs.store import BlobStore

    return {"audio": BlobStore(settings.audio_dir), "covers": BlobStore(settings.blobs_dir)}


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


@app.command()
def backup(
    folder: Annotated[Path, typer.Argument(help="a new or empty folder to write the backup to")],
) -> None:
    """Back up this instance into FOLDER while it runs: database, audio, covers, node key and secrets.

    The database is dumped from one snapshot and exactly the audio and covers it refers to are copied, each
    checked against its hash; the manifest is written last. Restore with `soundtime restore FOLDER`.
    """
    from soundtime.backup.pgtools import DatabaseToolError
    from soundtime.backup.take import BackupError, prepare_folder, take_backup

    settings = _settings()
    try:
        prepare_folder(folder)  # before the database is started
    except BackupError as exc:
        raise _fail(str(exc), 2) from None
    interrupted = f"backup interrupted: {folder} is incomplete (it has no manifest); delete it and back up again"
    with _database(settings, migrate=False, on_signal=interrupted) as url:
        stores = _stores(settings)
        try:
            with _reporter() as reporter:
                report = asyncio.run(take_backup(settings, url, folder, stores, reporter))
        except (BackupError, DatabaseToolError) as exc:
            raise _fail(f"{exc}\n{folder} is incomplete: delete it") from None
        except OSError as exc:
            raise _fail(f"the backup stopped: {exc}; {folder} is incomplete: delete it") from None
    console.print(
        f"backup of node {report.node_id or '(no node key yet)'} written to {folder} in {report.seconds:.1f} s: "
        f"{report.audio} audio files and {report.covers} covers ({_megabytes(report.bytes)}), database, keys",
        highlight=False,
    )
    _warn_unavailable(report.unavailable, "the instance lacks them itself; they are not in the backup")


def _warn_unavailable(blobs: list[Blob], why: str) -> None:
    if blobs:
        console.print(f"[yellow]{len(blobs)} files the database refers to are missing or damaged[/] ({why}):")
        for blob in blobs[:10]:
            console.print(f"  {blob.digest} ({blob.size} bytes)", highlight=False)


@app.command()
def restore(
    folder: Annotated[Path, typer.Argument(help="a folder written by `soundtime backup`")],
) -> None:
    """Restore a backup into a new data folder (or an empty DATABASE_URL database), with the same node identity.

    Every file is checked before the database is loaded; the database is loaded in one transaction and then
    brought up to this version's schema. An interrupted restore can be run again.
    """
    from soundtime.backup.manifest import BackupInvalid
    from soundtime.backup.pgtools import DatabaseToolError
    from soundtime.backup.restore import RestoreError, check_keys, restore_backup, verify_backup
    from soundtime.blobs.store import BlobError

    settings = _settings()
    try:
        with _reporter() as reporter:
            checked = verify_backup(folder, reporter)  # a wrong folder is refused before anything is created
        check_keys(settings, folder, checked)
    except (BackupInvalid, RestoreError) as exc:
        raise _fail(str(exc), 2) from None
    interrupted = "restore interrupted: run it again to finish (the database was not loaded)"
    with _database(settings, migrate=False, on_signal=interrupted, check_schema=False) as url:
        stores = _stores(settings)
        try:
            with _reporter() as reporter:
                report = asyncio.run(restore_backup(settings, url, folder, checked, stores=stores, reporter=reporter))
        except (BackupInvalid, RestoreError) as exc:
            raise _fail(str(exc), 2) from None
        except (DatabaseToolError, BlobError, OSError) as exc:
            raise _fail(f"the restore stopped: {exc}") from None
        finally:
            for store in stores.values():
                store.release_owner()
    console.print(
        f"restored node {report.node_id or '(the backup has no node key)'}: {report.audio} audio files and "
        f"{report.covers} covers ({_megabytes(report.bytes)}) into {settings.data_dir.resolve()}, and the database; "
        "start the server with `soundtime serve`",
        highlight=False,
    )
    _warn_unavailable(report.unavailable, "the original instance lacked them when the backup was taken")


@app.command()
def version() -> None:
    """Print the version."""
    print(soundtime.__version__)


def main() -> None:
    """Entry point of the ``soundtime`` script."""
    app()
