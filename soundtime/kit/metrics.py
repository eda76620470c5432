"""Every Prometheus metric of the process, in one registry, and the one-line hooks that move them.

Counters and histograms live here as module-level objects (one process runs one node, so they are process-wide);
the code that does the work calls the small functions below. Values that already live elsewhere (peers and health
states in the database, the audio cache's size) are read only when ``/metrics`` is scraped: the route takes a
:class:`Snapshot` and :func:`render` exposes it through :class:`_SnapshotCollector`, so nothing polls.

Label values are always from small fixed sets (message types, route templates, outcomes): never a raw path, a
node id or anything else a client or a peer chooses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Metric,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily
from prometheus_client.registry import Collector

NAMESPACE = "soundtime"
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

# --- HTTP ---------------------------------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by method, route template (never the raw path) and status code.",
    ["method", "route", "status"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from a request's arrival to the end of its response body, by method and route template.",
    ["method", "route"],
    namespace=NAMESPACE,
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
HTTP_IN_PROGRESS = Gauge(
    "http_responses_in_progress",
    "Responses whose body is being sent, by route template (audio streams show under the stream route).",
    ["route"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)

# --- federation -----------------------------------------------------------------------------------------------------

P2P_MESSAGES_SENT = Counter(
    "p2p_messages_sent",
    "soundtime/p2p/1 messages encoded for a peer (requests, replies and heartbeats; a retried send counts once).",
    ["type"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
P2P_MESSAGES_RECEIVED = Counter(
    "p2p_messages_received",
    "soundtime/p2p/1 messages received from peers and decoded (requests and replies).",
    ["type"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
P2P_BYTES_SENT = Counter(
    "p2p_stream_bytes_sent",
    "Bytes written to QUIC streams to peers (frames and blobs; QUIC and TLS overhead excluded).",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
P2P_BYTES_RECEIVED = Counter(
    "p2p_stream_bytes_received",
    "Bytes read from QUIC streams from peers (frames and blobs; QUIC and TLS overhead excluded).",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
P2P_BLOB_FETCHES = Counter(
    "p2p_blob_fetches",
    "Blobs fetched from peers, by kind (audio for a play, cover) and outcome (ok: verified and kept).",
    ["kind", "outcome"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
P2P_VERIFICATION_FAILURES = Counter(
    "p2p_verification_failures",
    "Blobs from peers whose bytes did not match their BLAKE3 hash, by kind.",
    ["kind"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
P2P_CATALOG_TRACKS = Counter(
    "p2p_catalog_tracks",
    "Track announcements from peers, by outcome (accepted: recorded; skipped: invalid or over the quota).",
    ["outcome"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
P2P_TRANSFERS_ACTIVE = Gauge(
    "p2p_transfers_active",
    "Transfers of replicated audio from peers running now (each may feed several listeners).",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
CACHE_EVICTIONS = Counter(
    "p2p_cache_evictions",
    "Blobs removed from the audio cache, by reason (space: least recently used; admin: track dereferenced).",
    ["reason"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)

# --- transcoding ----------------------------------------------------------------------------------------------------

TRANSCODE_REQUESTS = Counter(
    "transcode_requests",
    "Requests for a transcoded stream, by format and answer (live: transcoded now; cache: a finished transcode; "
    "busy: refused, every transcode slot taken).",
    ["format", "answer"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
TRANSCODES = Counter(
    "transcodes",
    "Live transcodes ended, by format and outcome (completed; stopped: the listener went away; failed).",
    ["format", "outcome"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
TRANSCODES_ACTIVE = Gauge(
    "transcodes_active",
    "Live transcodes running now, each in its own worker thread (bounded by TRANSCODE_MAX_CONCURRENT).",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
TRANSCODE_CACHE_EVICTIONS = Counter(
    "transcode_cache_evictions",
    "Finished transcodes removed from the transcode cache to make room (least recently used first).",
    namespace=NAMESPACE,
    registry=REGISTRY,
)

# --- hooks (one call at the place where the thing happens) ---------------------------------------------------------


def message_sent(message: object) -> None:
    """A wire message was encoded for a peer."""
    P2P_MESSAGES_SENT.labels(type(message).__name__).inc()


def message_received(message: object) -> None:
    """A wire message from a peer was decoded."""
    P2P_MESSAGES_RECEIVED.labels(type(message).__name__).inc()


def bytes_sent(count: int) -> None:
    """``count`` bytes were written to a peer's stream."""
    P2P_BYTES_SENT.inc(count)


def bytes_received(count: int) -> None:
    """``count`` bytes were read from a peer's stream."""
    P2P_BYTES_RECEIVED.inc(count)


def blob_fetched(kind: str, *, ok: bool) -> None:
    """A blob fetch from peers ended (``kind``: "audio" or "cover")."""
    P2P_BLOB_FETCHES.labels(kind, "ok" if ok else "failed").inc()


def verification_failed(kind: str) -> None:
    """A peer sent bytes that do not match the hash they were asked for."""
    P2P_VERIFICATION_FAILURES.labels(kind).inc()


def catalog_ingested(accepted: int, skipped: int) -> None:
    """One message's track announcements were ingested."""
    P2P_CATALOG_TRACKS.labels("accepted").inc(accepted)
    P2P_CATALOG_TRACKS.labels("skipped").inc(skipped)


def cache_evicted(count: int, reason: str = "space") -> None:
    """``count`` blobs left the audio cache."""
    if count:
        CACHE_EVICTIONS.labels(reason).inc(count)


def transcode_requested(fmt: str, answer: str) -> None:
    """A transcoded stream was asked for and answered ``answer`` ("live", "cache" or "busy")."""
    TRANSCODE_REQUESTS.labels(fmt, answer).inc()


def transcode_ended(fmt: str, outcome: str) -> None:
    """A live transcode's worker ended ("completed", "stopped" or "failed")."""
    TRANSCODES.labels(fmt, outcome).inc()


def transcode_cache_evicted(count: int) -> None:
    """``count`` finished transcodes left the transcode cache."""
    if count:
        TRANSCODE_CACHE_EVICTIONS.inc(count)


# --- values read at scrape time --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Gauges that are read when ``/metrics`` is scraped (from the database and from memory)."""

    peers_known: int
    peers_online: int
    peers_blocked: int
    health_states: dict[str, int] = field(default_factory=dict)
    cache_bytes: int = 0
    cache_entries: int = 0
    cache_max_bytes: int = 0
    resyncs_running: int = 0


_SCRAPE: ContextVar[Snapshot | None] = ContextVar("soundtime_metrics_scrape", default=None)


class _SnapshotCollector(Collector):
    """Exposes the :class:`Snapshot` of the scrape being rendered (nothing outside a scrape)."""

    def collect(self) -> Iterator[Metric]:
        snapshot = _SCRAPE.get()
        if snapshot is None:
            return
        peers = GaugeMetricFamily(f"{NAMESPACE}_p2p_peers", "Known peers, by state.", labels=["state"])
        peers.add_metric(["known"], snapshot.peers_known)
        peers.add_metric(["online"], snapshot.peers_online)
        peers.add_metric(["blocked"], snapshot.peers_blocked)
        yield peers
        health = GaugeMetricFamily(
            f"{NAMESPACE}_p2p_tracks_by_health", "Replicated tracks per health state.", labels=["state"]
        )
        for state, count in sorted(snapshot.health_states.items()):
            health.add_metric([state], count)
        yield health
        yield GaugeMetricFamily(
            f"{NAMESPACE}_p2p_cache_bytes", "Bytes of verified audio in the cache.", value=snapshot.cache_bytes
        )
        yield GaugeMetricFamily(
            f"{NAMESPACE}_p2p_cache_entries", "Blobs in the audio cache.", value=snapshot.cache_entries
        )
        yield GaugeMetricFamily(
            f"{NAMESPACE}_p2p_cache_max_bytes",
            "The audio cache's limit (P2P_CACHE_MAX_SIZE).",
            value=snapshot.cache_max_bytes,
        )
        yield GaugeMetricFamily(
            f"{NAMESPACE}_p2p_resyncs_running",
            "Catalogue re-syncs started by an administrator that are still running.",
            value=snapshot.resyncs_running,
        )


REGISTRY.register(_SnapshotCollector())


def render(snapshot: Snapshot, accept: str | None) -> tuple[bytes, str]:
    """The exposition of every metric plus ``snapshot``: (body, content type), in the format ``accept`` asks for.

    Prometheus' text format unless the scraper asks for OpenMetrics.
    """
    encoder, content_type = choose_encoder(accept or "")
    token = _SCRAPE.set(snapshot)
    try:
        return encoder(REGISTRY), content_type
    finally:
        _SCRAPE.reset(token)
