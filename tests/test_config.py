"""The settings object: names, validation, defaults, production safety, and .env.example kept in step."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from soundtime.config import SettingsError, env_names, load_settings, parse_size, resolve_jwt_secret
from tests.test_deployment import COMPOSE_ONLY_VARIABLES

ROOT = Path(__file__).resolve().parents[1]


def documented_variables() -> dict[str, str]:
    """Variables assigned in .env.example, with their example values."""
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            pairs[match.group(1)] = match.group(2)
    return pairs


def test_env_example_documents_every_setting_and_nothing_else() -> None:
    documented = set(documented_variables()) - COMPOSE_ONLY_VARIABLES
    assert documented == env_names()


def test_every_documented_variable_has_a_comment_above_it() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]*=", line):
            block = lines[max(0, index - 3) : index]
            assert any(above.startswith("# ") for above in block), f"{line} has no explanation"


def test_env_example_values_are_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in documented_variables().items():
        if name not in COMPOSE_ONLY_VARIABLES:
            monkeypatch.setenv(name, value)
    settings = load_settings(_env_file=None)
    assert settings.port == 8080
    assert settings.p2p_cache_max_size == 2 << 30
    assert settings.database_url is None  # empty means the embedded database


def test_defaults_give_zero_configuration_paths() -> None:
    settings = load_settings(_env_file=None)
    assert settings.audio_dir == Path("data/music")
    assert settings.blobs_dir == Path("data/p2p/blobs")
    assert settings.secret_key_path == Path("data/p2p/secret_key")
    assert settings.embedded_database_dir == Path("data/postgres")
    assert settings.p2p_bind_port == 11204


def test_paths_follow_the_data_dir_unless_set() -> None:
    settings = load_settings(_env_file=None, SOUNDTIME_DATA_DIR="/srv/st", P2P_BLOBS_DIR="/cache/blobs")
    assert settings.audio_dir == Path("/srv/st/music")
    assert settings.blobs_dir == Path("/cache/blobs")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2GB", 2 << 30),
        ("512MB", 512 << 20),
        ("512mib", 512 << 20),
        ("1.5G", 3 << 29),
        ("1048576", 1 << 20),
        ("7 k", 7168),
    ],
)
def test_sizes_are_1024_based(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("P2P_BIND_PORT", "70000", "P2P_BIND_PORT"),
        ("P2P_CACHE_MAX_SIZE", "lots", "not a size"),
        ("DATABASE_URL", "mysql://x@y/z", "PostgreSQL URL"),
        ("P2P_SEED_PEERS", "not-a-node", "node id"),
        ("CORS_ORIGINS", "example.org", "origin"),
        ("SOUNDTIME_ENV", "staging", "SOUNDTIME_ENV"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL"),
        ("MAX_UPLOAD_SIZE", "10KB", "at least 1MB"),
        ("P2P_RELAY", "sometimes", "P2P_RELAY"),
    ],
)
def test_bad_values_fail_with_the_variable_named(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **{name: value})
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("audio", "blobs"), [("/srv/store", "/srv/store"), ("/srv/store", "/srv/store/covers"), ("/srv/a/b", "/srv/a")]
)
def test_audio_and_blob_stores_must_not_overlap(audio: str, blobs: str) -> None:
    with pytest.raises(SettingsError, match="separate folders"):
        load_settings(_env_file=None, AUDIO_STORAGE_PATH=audio, P2P_BLOBS_DIR=blobs)


def test_seed_peers_accept_ids_addresses_and_tickets() -> None:
    node = "AB" * 32
    settings = load_settings(_env_file=None, P2P_SEED_PEERS=f"{node}, {node}@10.0.0.2:11204 ,endpointaaaa")
    assert settings.p2p_seed_peers == [node.lower(), f"{node.lower()}@10.0.0.2:11204", "endpointaaaa"]


def test_database_url_driver_is_normalised() -> None:
    settings = load_settings(_env_file=None, DATABASE_URL="postgres://u:p@db:5432/soundtime")
    assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/soundtime"


@pytest.mark.parametrize("secret", [None, "", "change-me", "short-but-not-default"])
def test_production_refuses_missing_default_or_weak_jwt_secret(secret: str | None) -> None:
    values = {"SOUNDTIME_ENV": "production"}
    if secret is not None:
        values["JWT_SECRET"] = secret
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        load_settings(_env_file=None, **values)


def test_production_accepts_a_strong_secret() -> None:
    settings = load_settings(_env_file=None, SOUNDTIME_ENV="production", JWT_SECRET="f" * 64)
    assert settings.is_production


def test_development_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    settings = load_settings(_env_file=None, SOUNDTIME_DATA_DIR=tmp_path)
    first = resolve_jwt_secret(settings)
    assert len(first) >= 32
    assert resolve_jwt_secret(settings) == first
    assert stat.S_IMODE((tmp_path / "jwt_secret").stat().st_mode) == 0o600


def test_dotenv_file_in_working_directory_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("SOUNDTIME_PORT=9999\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().port == 9999


def test_transcoding_defaults_and_an_explicit_limit() -> None:
    settings = load_settings(_env_file=None, SOUNDTIME_DATA_DIR="/srv/st", TRANSCODE_MAX_CONCURRENT="")
    assert settings.transcode_dir == Path("/srv/st/transcodes")
    assert settings.transcode_slots == 8 * len(os.sched_getaffinity(0))
    assert settings.transcode_cache_max_size == 1 << 30
    assert load_settings(_env_file=None, TRANSCODE_MAX_CONCURRENT="3").transcode_slots == 3


@pytest.mark.parametrize("folder", ["/srv/st/music", "/srv/st/music/transcodes", "/srv/st/p2p", "/srv/st/p2p/blobs/x"])
def test_the_transcode_cache_needs_a_folder_of_its_own(folder: str) -> None:
    with pytest.raises(SettingsError, match="TRANSCODE_CACHE_DIR"):
        load_settings(_env_file=None, SOUNDTIME_DATA_DIR="/srv/st", TRANSCODE_CACHE_DIR=folder)


def test_p2p_timings_change_only_the_named_federation_timings(monkeypatch: pytest.MonkeyPatch) -> None:
    from soundtime.p2p.policy import Policy, Timings

    monkeypatch.setenv("P2P_TIMINGS", "connect_timeout=3, heartbeat_interval=0.5")
    timings = Policy.from_settings(load_settings(_env_file=None)).timings
    assert timings == Timings(connect_timeout=3.0, heartbeat_interval=0.5)
    monkeypatch.setenv("P2P_TIMINGS", "")
    assert Policy.from_settings(load_settings(_env_file=None)).timings == Timings()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("connect_timout=3", "'connect_timout' is not a federation timing"),
        ("connect_timeout=soon", "must be a number of seconds"),
        ("connect_timeout", "must be a number of seconds"),
        ("connect_timeout=0", "above 0"),
        ("connect_timeout=nan", "above 0"),
        ("connect_timeout=1e9", "at most 86400"),
    ],
)
def test_bad_p2p_timings_are_refused_with_the_reason(monkeypatch: pytest.MonkeyPatch, value: str, reason: str) -> None:
    monkeypatch.setenv("P2P_TIMINGS", value)
    with pytest.raises(SettingsError, match="P2P_TIMINGS") as refused:
        load_settings(_env_file=None)
    assert reason in str(refused.value)
