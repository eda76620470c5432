"""The one settings object: the only reader of the process environment.

Every setting is named by its environment variable (the names SoundTime uses, plus ours) and documented in
``.env.example``; a test keeps the two in step. Invalid values fail at startup with a message that names the
variable, never later at first use.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from soundtime.kit.secret_file import read_or_create
from soundtime.p2p.ids import is_node_id
from soundtime.p2p.policy import Timings

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_HOSTPORT_RE = re.compile(r"^[A-Za-z0-9.\-\[\]:]+$")

#: JWT secrets that are published (in our docs or SoundTime's) and therefore never acceptable in production.
#: Live transcodes allowed at once per CPU core when TRANSCODE_MAX_CONCURRENT is unset (see bench/transcode_bench.py:
#: one core sustains about 30 MP3 or 80 Opus transcodes at real time; a quarter of the MP3 figure leaves headroom).
TRANSCODES_PER_CORE = 8
KNOWN_WEAK_JWT_SECRETS = frozenset({"", "change-me", "changeme", "secret", "change-me-in-production"})
MIN_JWT_SECRET_LENGTH = 32


class Environment(StrEnum):
    """Deployment mode; production refuses unsafe defaults."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    """How log records are written to stderr."""

    TEXT = "text"
    JSON = "json"


class SettingsError(Exception):
    """A setting has a value the server cannot run with; the message names the variable."""


def parse_size(value: str | int) -> int:
    """Parse a byte size such as ``2GB``, ``512MB``, ``1.5G`` or ``1048576`` (units are 1024-based)."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    match = _SIZE_RE.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a size (examples: 2GB, 512MB, 1048576)")
    number, unit = match.groups()
    multiplier = _SIZE_UNITS[(unit or "").upper().rstrip("B").rstrip("I")]
    return int(float(number) * multiplier)


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _check_seed_peer(entry: str) -> str:
    """Accept a node id, ``id@host:port`` or an iroh ticket (full parsing happens in the p2p layer)."""
    lowered = entry.strip()
    if lowered.lower().startswith("endpoint"):
        return lowered
    node_id, _, address = lowered.partition("@")
    node_id = node_id.lower()
    if not is_node_id(node_id):
        raise ValueError(f"{entry!r} is not a node id (64 hex characters), id@ip:port, or an iroh ticket")
    if address and (":" not in address or not _HOSTPORT_RE.match(address)):
        raise ValueError(f"{entry!r}: the address after @ must be ip:port")
    return f"{node_id}@{address}" if address else node_id


CsvList = Annotated[list[str], NoDecode]

#: The longest federation timing ``P2P_TIMINGS`` may set, in seconds (a day).
MAX_P2P_TIMING = 86_400.0


def _parse_timings(value: Any) -> Any:
    """``name=seconds,name=seconds`` → {name: seconds}; each name a field of ``soundtime.p2p.policy.Timings``."""
    if not isinstance(value, str):
        return value
    known = set(Timings.__dataclass_fields__)
    timings: dict[str, float] = {}
    for entry in _split_csv(value):
        name, _, seconds = entry.partition("=")
        name = name.strip()
        if name not in known:
            raise ValueError(f"{name!r} is not a federation timing (known: {', '.join(sorted(known))})")
        try:
            number = float(seconds)
        except ValueError:
            raise ValueError(f"{entry!r}: the value after = must be a number of seconds") from None
        if not 0 < number <= MAX_P2P_TIMING:
            raise ValueError(f"{entry!r}: seconds must be above 0 and at most {MAX_P2P_TIMING:.0f}")
        timings[name] = number
    return timings


class Settings(BaseSettings):
    """Runtime configuration, read from the environment and an optional ``.env`` file."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=True,
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
    )

    environment: Environment = Field(Environment.DEVELOPMENT, alias="SOUNDTIME_ENV")
    data_dir: Path = Field(Path("data"), alias="SOUNDTIME_DATA_DIR")
    host: str = Field("127.0.0.1", alias="SOUNDTIME_HOST")
    port: int = Field(8080, ge=1, le=65535, alias="SOUNDTIME_PORT")
    domain: str = Field("localhost:8080", alias="SOUNDTIME_DOMAIN")
    cors_origins: CsvList = Field(default_factory=list, alias="CORS_ORIGINS")
    forwarded_allow_ips: str = Field("127.0.0.1", alias="FORWARDED_ALLOW_IPS")
    log_level: str = Field("info", alias="LOG_LEVEL")
    log_format: LogFormat = Field(LogFormat.TEXT, alias="LOG_FORMAT")

    database_url: str | None = Field(None, alias="DATABASE_URL")
    database_pool_size: int = Field(10, ge=1, le=200, alias="DATABASE_POOL_SIZE")

    jwt_secret: str | None = Field(None, alias="JWT_SECRET", repr=False)
    auth_rate_limit_per_minute: int = Field(10, ge=1, le=10_000, alias="AUTH_RATE_LIMIT_PER_MINUTE")
    metrics_token: str | None = Field(None, alias="METRICS_TOKEN", repr=False)

    audio_storage_path: Path | None = Field(None, alias="AUDIO_STORAGE_PATH")
    max_upload_size: int = Field(1 << 30, alias="MAX_UPLOAD_SIZE")
    upload_batch_max_files: int = Field(200, ge=1, le=10_000, alias="UPLOAD_BATCH_MAX_FILES")

    subsonic_search_peers: bool = Field(True, alias="SUBSONIC_SEARCH_PEERS")
    subsonic_transcode_format: Literal["mp3", "opus"] = Field("mp3", alias="SUBSONIC_TRANSCODE_FORMAT")

    p2p_enabled: bool = Field(True, alias="P2P_ENABLED")
    p2p_bind_port: int = Field(11204, ge=0, le=65535, alias="P2P_BIND_PORT")
    p2p_blobs_dir: Path | None = Field(None, alias="P2P_BLOBS_DIR")
    p2p_secret_key_path: Path | None = Field(None, alias="P2P_SECRET_KEY_PATH")
    p2p_seed_peers: CsvList = Field(default_factory=list, alias="P2P_SEED_PEERS")
    p2p_local_discovery: bool = Field(True, alias="P2P_LOCAL_DISCOVERY")
    p2p_relay: bool = Field(True, alias="P2P_RELAY")
    p2p_cache_max_size: int = Field(2 << 30, alias="P2P_CACHE_MAX_SIZE")
    p2p_serve_cache: bool = Field(True, alias="P2P_SERVE_CACHE")
    p2p_max_tracks_per_peer: int = Field(500_000, ge=0, le=100_000_000, alias="P2P_MAX_TRACKS_PER_PEER")
    p2p_max_connections: int = Field(256, ge=1, le=10_000, alias="P2P_MAX_CONNECTIONS")
    #: Overrides of the federation's timings (``soundtime.p2p.policy.Timings``); empty: the defaults.
    p2p_timings: Annotated[dict[str, float], NoDecode] = Field(default_factory=dict, alias="P2P_TIMINGS")

    transcode_max_concurrent: int | None = Field(None, ge=1, le=10_000, alias="TRANSCODE_MAX_CONCURRENT")
    transcode_cache_path: Path | None = Field(None, alias="TRANSCODE_CACHE_DIR")
    transcode_cache_max_size: int = Field(1 << 30, alias="TRANSCODE_CACHE_MAX_SIZE")
    transcode_opus_bitrate: int = Field(128, ge=16, le=256, alias="TRANSCODE_OPUS_BITRATE")
    transcode_mp3_bitrate: int = Field(192, ge=32, le=320, alias="TRANSCODE_MP3_BITRATE")

    @field_validator(
        "audio_storage_path",
        "p2p_blobs_dir",
        "p2p_secret_key_path",
        "transcode_cache_path",
        "transcode_max_concurrent",
        mode="before",
    )
    @classmethod
    def _empty_path(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if len(value.strip()) < MIN_JWT_SECRET_LENGTH:
            raise ValueError(
                f"must be a random value of at least {MIN_JWT_SECRET_LENGTH} characters (openssl rand -hex 32)"
            )
        return value.strip()

    @field_validator("cors_origins", "p2p_seed_peers", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("p2p_timings", mode="before")
    @classmethod
    def _timings(cls, value: Any) -> Any:
        return _parse_timings(value)

    @field_validator("p2p_seed_peers")
    @classmethod
    def _seed_peers(cls, value: list[str]) -> list[str]:
        return [_check_seed_peer(entry) for entry in value]

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"{origin!r} is not an origin like https://music.example.org")
        return value

    @field_validator("max_upload_size", "p2p_cache_max_size", "transcode_cache_max_size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int:
        return parse_size(value)

    @field_validator("max_upload_size")
    @classmethod
    def _upload_size(cls, value: int) -> int:
        if value < 1 << 20:
            raise ValueError("must be at least 1MB")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().lower()
        if level not in {"debug", "info", "warning", "error", "critical"}:
            raise ValueError("must be one of debug, info, warning, error, critical")
        return level

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        url = value.strip()
        for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        raise ValueError("must be a PostgreSQL URL such as postgresql+asyncpg://user:password@host:5432/db")

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not _HOSTPORT_RE.match(value):
            raise ValueError("must be a host name with an optional port, such as music.example.org")
        return value

    @model_validator(mode="after")
    def _separate_stores(self) -> Self:
        audio, blobs = self.audio_dir.resolve(), self.blobs_dir.resolve()
        if audio == blobs or audio in blobs.parents or blobs in audio.parents:
            raise ValueError(
                "AUDIO_STORAGE_PATH and P2P_BLOBS_DIR must be separate folders (neither inside the other): "
                "each store removes files that its own table does not list"
            )
        return self

    @model_validator(mode="after")
    def _separate_transcode_cache(self) -> Self:
        cache = self.transcode_dir.resolve()
        for store in (self.audio_dir.resolve(), self.blobs_dir.resolve()):
            if cache == store or cache in store.parents or store in cache.parents:
                raise ValueError(
                    "TRANSCODE_CACHE_DIR must be a folder of its own, neither inside nor around AUDIO_STORAGE_PATH "
                    "or P2P_BLOBS_DIR: the cache removes files it does not know"
                )
        return self

    @model_validator(mode="after")
    def _production_secrets(self) -> Self:
        if self.environment is Environment.PRODUCTION:
            secret = self.jwt_secret or ""
            if secret in KNOWN_WEAK_JWT_SECRETS or len(secret) < MIN_JWT_SECRET_LENGTH:
                raise ValueError(
                    "JWT_SECRET must be set to a random value of at least "
                    f"{MIN_JWT_SECRET_LENGTH} characters in production (for example: openssl rand -hex 32)"
                )
        return self

    # Paths derived from the data directory when not set explicitly.
    @property
    def audio_dir(self) -> Path:
        """Where uploaded and imported audio lives (content-addressed)."""
        return self.audio_storage_path or self.data_dir / "music"

    @property
    def blobs_dir(self) -> Path:
        """Content-addressed store for cover art fetched from peers and extracted from uploads."""
        return self.p2p_blobs_dir or self.data_dir / "p2p" / "blobs"

    @property
    def cache_dir(self) -> Path:
        """Content-addressed cache of audio fetched from peers (bounded by ``P2P_CACHE_MAX_SIZE``)."""
        return self.blobs_dir / "cache"

    @property
    def transcode_dir(self) -> Path:
        """Finished transcodes, bounded by ``TRANSCODE_CACHE_MAX_SIZE``."""
        return self.transcode_cache_path or self.data_dir / "transcodes"

    @property
    def transcode_slots(self) -> int:
        """Live transcodes allowed at once: ``TRANSCODE_MAX_CONCURRENT``, or 8 per CPU core this process may use."""
        if self.transcode_max_concurrent is not None:
            return self.transcode_max_concurrent
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return TRANSCODES_PER_CORE * cores

    @property
    def secret_key_path(self) -> Path:
        """The node identity key file."""
        return self.p2p_secret_key_path or self.data_dir / "p2p" / "secret_key"

    @property
    def embedded_database_dir(self) -> Path:
        """Where the private PostgreSQL cluster lives when ``DATABASE_URL`` is unset."""
        return self.data_dir / "postgres"

    @property
    def is_production(self) -> bool:
        """True when running with ``SOUNDTIME_ENV=production``."""
        return self.environment is Environment.PRODUCTION


def env_names() -> set[str]:
    """Every environment variable the settings object reads."""
    return {field.alias or name.upper() for name, field in Settings.model_fields.items()}


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation failures into one readable :class:`SettingsError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"  {where}: {message}")
        raise SettingsError("invalid configuration:\n" + "\n".join(lines)) from None


def resolve_jwt_secret(settings: Settings) -> str:
    """Return the signing secret: the configured one, or (in development) one kept in the data directory.

    A generated development secret is persisted with mode 0600 so that tokens survive restarts.
    """
    if settings.jwt_secret:
        return settings.jwt_secret
    if settings.is_production:  # pragma: no cover - the model validator already refused this
        raise SettingsError("JWT_SECRET is required in production")
    return read_or_create(settings.data_dir / "jwt_secret", min_length=MIN_JWT_SECRET_LENGTH)
