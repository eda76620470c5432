"""Every policy value of federation in one place: how often, how long, how many. Tests and operators read them here.

Components hold the node's :class:`Policy` and read it when they act, so a test may swap ``policy.timings`` or
``policy.limits`` (``dataclasses.replace``) on a running node. Protocol constants (frame and page sizes, the u32
length of a blob transfer) stay with the code that implements the protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol


@dataclass(frozen=True)
class Timings:
    """Intervals and deadlines, in seconds."""

    # --- the schedule
    #: A round (re-dial due peers, exchange with a few, push pending changes) runs this often.
    round_interval: float = 300.0
    #: A catalog push to one peer starts at most this often (unless asked for: a RequestCatalog, an upload).
    push_min_interval: float = 300.0
    #: Back-off after failed contacts: base * 2^failures, at most ``backoff_max`` (then a jitter of ±25 %).
    backoff_base: float = 30.0
    backoff_max: float = 3600.0
    #: After contacting a peer that has tracks, wait this long for its push before asking for its whole catalog.
    catch_up_delay: float = 20.0
    #: A delta push re-sends this much history, so rows committed late by long transactions are not missed.
    watermark_margin: float = 60.0
    #: The health sweep over every replicated track runs this often.
    sweep_interval: float = 600.0
    # --- connections
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 5.0
    #: When a peer connects to us while we hold a connection to it (it may have restarted), ours must answer a
    #: heartbeat within this time (or four round trips, when longer; at most ``heartbeat_timeout``), else it is closed.
    probe_timeout: float = 1.0
    # --- calls we make
    connect_timeout: float = 10.0
    reply_timeout: float = 10.0
    #: A fire-and-forget send waits this long for the peer's acknowledgement.
    ack_timeout: float = 30.0
    #: A failed send is tried again after this long times the attempt number (``Limits.send_attempts`` in all).
    send_retry_delay: float = 0.5
    #: A blob transfer fails when no byte arrives for this long (never because it is merely long).
    stall_timeout: float = 15.0
    #: An administrator's ping, added peer or re-sync request must be answered within this time.
    admin_ping_timeout: float = 10.0
    # --- requests we serve
    #: A request frame must arrive within this time once its stream is open.
    request_timeout: float = 30.0
    #: Writing a blob to a peer fails when it accepts no byte for this long.
    send_stall_timeout: float = 30.0
    #: The window of ``Limits.frames_per_window``.
    frame_window: float = 2.0
    #: A peer may ask for our whole catalog (RequestCatalog) once per this many seconds.
    catalog_request_interval: float = 60.0
    #: An unchanged heartbeat from a peer is written to the database at most this often.
    heartbeat_record_interval: float = 60.0
    #: Catalogue ingest runs one message at a time for this long after an audio response started (see
    #: ``Limits.concurrent_ingests``).
    ingest_yields_to_plays: float = 30.0
    # --- transfers
    #: The time one cover may take.
    cover_fetch_deadline: float = 60.0
    #: A transfer may take this long plus one second per ``Limits.min_transfer_rate`` bytes.
    transfer_base: float = 60.0
    #: A transfer nobody listens to any more is stopped after this long (a player may come back to seek).
    transfer_idle_grace: float = 10.0
    # --- LAN discovery
    #: A node on the LAN is reported again after this long even if its endpoints did not change.
    lan_report_interval: float = 60.0
    #: How long to wait for an announced service's records.
    lan_resolve_timeout: float = 2.0
    # --- library re-sync
    #: A re-sync fails when no catalogue page arrived for this long.
    resync_idle_timeout: float = 45.0
    # --- distributed search
    #: A peer's answer to our SearchQuery must arrive within this time (connecting included).
    search_reply_timeout: float = 10.0
    #: A source of a hit being imported must say within this time whether it offers the blob.
    import_probe_timeout: float = 10.0
    #: Found results stay importable this long.
    recent_hits_ttl: float = 30 * 60.0
    #: A peer's search filter not refreshed for this long is dropped (peers re-send theirs every 5 minutes).
    peer_filter_ttl: float = 15 * 60.0
    #: Library changes are collected this long before our filter is rebuilt (a catalog page or an upload batch:
    #: one rebuild), and a failed build is tried again after ``filter_retry_delay``.
    filter_rebuild_delay: float = 5.0
    filter_retry_delay: float = 30.0
    #: A rebuilt filter is sent to the online peers at most this often (the round sends it every round too).
    filter_broadcast_interval: float = 60.0
    #: A peer's filter is answered with ours unless we sent ours to it less than this long ago.
    filter_reply_interval: float = 300.0
    #: The same filter is not sent again to a peer it went to less than this long ago (at start-up the contact,
    #: the first round and the first broadcast would each send it within milliseconds).
    filter_resend_interval: float = 5.0


@dataclass(frozen=True)
class Limits:
    """Counts, sizes, rates and concurrency."""

    # --- the schedule
    #: Online peers we exchange peer lists with per round.
    exchange_fanout: int = 3
    #: Due peers re-dialled per round, and dials at once.
    redials_per_round: int = 32
    dial_concurrency: int = 8
    #: A fire-and-forget send is tried this many times.
    send_attempts: int = 3
    # --- peer exchange (spec §6)
    #: Ids per list, both ways, and addresses per id in our hint extension.
    max_exchange_ids: int = 1000
    max_hints_per_id: int = 4
    #: Addresses kept for one peer we were told about (seed, admin, LAN): those given, then those it was seen on.
    max_addresses_per_peer: int = 16
    #: The registry stops growing from peer exchange at this many peers (seeds, admins and LAN still add).
    max_learned_peers: int = 5000
    #: Peer lists learned from one peer per minute (beyond, its lists are ignored), and new ids taken from one.
    learns_per_minute: int = 6
    new_ids_per_list: int = 100
    #: Learned ids never reached after this many attempts are forgotten.
    forget_after_failures: int = 5
    # --- requests we serve
    #: Incoming connections one node id may hold at once; a new one closes its oldest.
    max_incoming_per_peer: int = 4
    #: Requests per peer per ``Timings.frame_window`` (a push is one acknowledged page at a time: ~50 pages/s).
    frames_per_window: int = 200
    #: Malformed frames a peer may send within a minute before its connection is closed.
    offences_per_minute: int = 10
    #: Peers whose last heartbeat we remember (to write unchanged ones rarely).
    max_remembered_heartbeats: int = 10_000
    # --- catalog sync
    #: Tracks per CatalogSync / CatalogDelta message we send (spec §4: at most 500, what SoundTime sends).
    catalog_page_size: int = 500
    #: Catalog pushes running at once; pages in flight to one peer of ours (SoundTime peers get one at a time).
    concurrent_pushes: int = 4
    push_window: int = 4
    #: Covers fetched at once, and covers waiting to be fetched.
    concurrent_cover_fetches: int = 2
    max_pending_covers: int = 2000
    #: Messages of one sender ingested at once (each in its own transaction: one is written while the next is read)
    #: while nobody listens; one at a time within ``Timings.ingest_yields_to_plays`` of a play. Two at once sync a
    #: 250,000-track catalogue ~25 % faster, but streams' TTFB p95 during a sync rose from ~20 to ~120 ms with it.
    concurrent_ingests: int = 2
    #: Most announcements read from one message (SoundTime sends pages of 500); the rest are skipped.
    max_tracks_per_message: int = 1000
    #: Most tracks one peer may add (``P2P_MAX_TRACKS_PER_PEER``).
    max_tracks_per_peer: int = 100_000
    # --- transfers and health
    #: Transfers running at once; a play that would start one more is refused (listeners of running ones join).
    max_transfers: int = 32
    #: Bytes per second a transfer must average (beyond ``Timings.transfer_base``).
    min_transfer_rate: int = 64 * 1024
    #: Recoveries running at once (SoundTime's limit), and those requested by failed plays that may wait.
    max_recoveries: int = 32
    max_queued_recoveries: int = 256
    #: Replicated tracks per sweep batch.
    sweep_batch: int = 500
    # --- LAN discovery
    #: Announcements being resolved at once; more are dropped until some finish.
    max_lan_pending: int = 32
    # --- library re-sync
    #: Peers whose last re-sync is remembered (for the admin panel).
    max_remembered_resyncs: int = 10_000
    # --- distributed search
    #: Searches across peers (and imports of their hits) one user may start per minute.
    searches_per_minute: int = 30
    #: Peers one search asks at most.
    search_fanout: int = 10
    #: Found results remembered for import.
    max_recent_hits: int = 10_000
    #: Most results we return to a SearchQuery whatever limit it asks for, and the length of query text read.
    max_search_results: int = 100
    max_search_query_chars: int = 256
    #: Filters of ours sent at once, and peers whose last delivery of ours we remember.
    filter_send_concurrency: int = 8
    max_remembered_filter_sends: int = 10_000
    #: Peers' filters kept, and their bitmap bytes in all (a default filter is ~117 KiB); beyond either, the
    #: filters refreshed longest ago go first.
    max_peer_filters: int = 1024
    max_peer_filter_bytes: int = 64 << 20
    #: Senders whose offered-track count is remembered between their catalog messages (spares a count per page).
    max_remembered_senders: int = 1024


class OperatorSettings(Protocol):
    """What the policy takes from the settings (``soundtime.config.Settings``, which validates them with
    :class:`Timings`' names: this module does not import the settings)."""

    @property
    def p2p_max_tracks_per_peer(self) -> int: ...

    @property
    def p2p_serve_cache(self) -> bool: ...

    @property
    def p2p_timings(self) -> Mapping[str, float]: ...


@dataclass
class Policy:
    """The policy of one node: its timings, its limits, and whether verified cached audio is offered to peers."""

    timings: Timings = field(default_factory=Timings)
    limits: Limits = field(default_factory=Limits)
    #: Offer audio cached from peers to other peers (``P2P_SERVE_CACHE``).
    serve_cache: bool = True

    @classmethod
    def from_settings(
        cls, settings: OperatorSettings, timings: Timings | None = None, limits: Limits | None = None
    ) -> Policy:
        """The defaults (or ``timings`` and ``limits``), with what the operator configured (``timings``, when
        given, replaces ``P2P_TIMINGS``)."""
        limits = replace(limits or Limits(), max_tracks_per_peer=settings.p2p_max_tracks_per_peer)
        timings = timings or replace(Timings(), **settings.p2p_timings)
        return cls(timings=timings, limits=limits, serve_cache=settings.p2p_serve_cache)
