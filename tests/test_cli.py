"""The command line as a user runs it: clear errors (never a traceback), accounts, migrations."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import truncate_all


def soundtime(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m soundtime ARGS`` with only ``env`` (plus PATH/HOME) as its environment."""
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    return subprocess.run(
        [sys.executable, "-m", "soundtime", *args],
        env={**base, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {"SOUNDTIME_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": database_url, "LOG_LEVEL": "warning"}


def test_help_answers_without_loading_the_server(env: dict[str, str]) -> None:
    """``soundtime --help`` and settings errors need neither the web framework, the database driver nor alembic:
    loading them doubled the time before the first line of output."""
    probe = (
        "import sys, soundtime.cli; "
        "print(' '.join(m for m in ('fastapi', 'sqlalchemy', 'alembic', 'uvicorn', 'iroh') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    assert loaded == []
    result = soundtime("--help", env=env)
    assert result.returncode == 0
    assert "serve" in result.stdout


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("P2P_BIND_PORT", "eleven", "P2P_BIND_PORT"),
        ("SOUNDTIME_ENV", "production", "JWT_SECRET"),
        ("MAX_UPLOAD_SIZE", "huge", "MAX_UPLOAD_SIZE"),
    ],
)
def test_bad_settings_stop_the_server_with_a_message(tmp_path: Path, setting: str, value: str, named: str) -> None:
    result = soundtime("serve", env={"SOUNDTIME_DATA_DIR": str(tmp_path), setting: value})
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_a_damaged_node_key_stops_the_server_without_replacing_it(tmp_path: Path) -> None:
    key = tmp_path / "p2p" / "secret_key"
    key.parent.mkdir()
    key.write_text("not a key")
    result = soundtime("serve", env={"SOUNDTIME_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert str(key) in result.stderr
    assert "Traceback" not in result.stderr
    assert key.read_text() == "not a key"


def test_a_busy_p2p_port_stops_the_server_with_a_message(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("0.0.0.0", 0))
        port = busy.getsockname()[1]
        result = soundtime("serve", env={"SOUNDTIME_DATA_DIR": str(tmp_path), "P2P_BIND_PORT": str(port)})
    assert result.returncode == 2
    assert f"UDP port {port} (P2P_BIND_PORT) is not available" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = soundtime("migrate", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 1
    assert "cannot reach the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_import_of_a_missing_folder(env: dict[str, str], tmp_path: Path) -> None:
    result = soundtime("import", str(tmp_path / "nowhere"), env=env)
    assert result.returncode == 2
    assert "is not a folder" in result.stderr


def test_users_and_migrate(env: dict[str, str], database_url: str) -> None:
    try:
        created = soundtime(
            "user", "create", "root_admin", "--admin", "--password-stdin", env=env, stdin="long password\n"
        )
        assert created.returncode == 0, created.stderr
        again = soundtime("user", "create", "ROOT_admin", "--password-stdin", env=env, stdin="long password\n")
        assert again.returncode == 2
        assert "taken" in again.stderr
        short = soundtime("user", "create", "bob", "--password-stdin", env=env, stdin="short\n")
        assert short.returncode == 2
        listed = soundtime("user", "list", env=env)
        assert "root_admin" in listed.stdout
        assert "admin" in listed.stdout
        changed = soundtime(
            "user", "set-password", "root_admin", "--password-stdin", env=env, stdin="another long one\n"
        )
        assert changed.returncode == 0, changed.stderr
        missing = soundtime("user", "set-password", "ghost", "--password-stdin", env=env, stdin="another long one\n")
        assert missing.returncode == 2
        assert "up to date" in soundtime("migrate", env=env).stderr
    finally:
        import asyncio

        asyncio.run(truncate_all(database_url))
