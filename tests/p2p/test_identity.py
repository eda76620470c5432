"""The node's secret key file: created once (64 lowercase hex, 0600), read in both formats, never replaced."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from soundtime.p2p.identity import IdentityError, load_or_create_secret_key


def test_a_missing_key_is_created_as_lowercase_hex_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "secret.key"

    key = load_or_create_secret_key(path)

    assert len(key) == 32
    content = path.read_bytes()
    assert content == key.hex().encode()
    assert len(content) == 64
    assert content == content.lower()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temporary file left behind
    assert load_or_create_secret_key(path) == key


def test_new_keys_are_random(tmp_path: Path) -> None:
    assert load_or_create_secret_key(tmp_path / "a") != load_or_create_secret_key(tmp_path / "b")


def test_a_file_of_32_raw_bytes_is_the_key(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    raw = bytes(range(200, 232))
    path.write_bytes(raw)
    path.chmod(0o600)

    assert load_or_create_secret_key(path) == raw
    assert path.read_bytes() == raw


def test_upper_case_hex_with_surrounding_whitespace_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    raw = bytes(range(32))
    path.write_text(f"  \n{raw.hex().upper()}\r\n\t")
    path.chmod(0o600)

    assert load_or_create_secret_key(path) == raw


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"", "found 0 characters"),
        (b"\xff" * 31, "neither a raw key nor text"),
        (b"a" * 31, "found 31 characters"),
        (b"ab" * 31 + b"a", "found 63 characters"),
        (b"ab" * 32 + b"c", "found 65 characters"),
        (b"zz" * 32, "not hexadecimal"),
        (b"not a key at all, just some text that is long enough", "characters of text"),
    ],
)
def test_anything_else_is_an_error_naming_the_file_and_the_file_is_kept(
    tmp_path: Path, content: bytes, detail: str
) -> None:
    path = tmp_path / "secret.key"
    path.write_bytes(content)

    with pytest.raises(IdentityError) as raised:
        load_or_create_secret_key(path)

    assert str(path) in str(raised.value)
    assert detail in str(raised.value)
    assert path.read_bytes() == content


def test_a_directory_in_place_of_the_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.mkdir()

    with pytest.raises(IdentityError, match=r"secret\.key"):
        load_or_create_secret_key(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_an_unreadable_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_bytes(bytes(32))
    path.chmod(0)

    with pytest.raises(IdentityError, match="cannot read"):
        load_or_create_secret_key(path)


def test_a_key_readable_by_others_is_used_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "secret.key"
    path.write_text(bytes(range(32)).hex())
    path.chmod(0o644)

    with caplog.at_level(logging.WARNING, logger="soundtime.p2p.identity"):
        assert load_or_create_secret_key(path) == bytes(range(32))

    assert "chmod 600" in caplog.text
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
