"""The federation log buffer: bounded, ordered, redacted, safe from many threads."""

from __future__ import annotations

import logging
import sys
import threading
import time

from soundtime.monitoring.logbuffer import BufferHandler, LogBuffer, redact

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLXBhcnQ"


def record(name: str, level: int, message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


def test_only_the_newest_entries_are_kept_and_long_messages_are_cut() -> None:
    buffer = LogBuffer(capacity=5, max_message=20)
    for index in range(12):
        buffer.append(time.time(), "info", "soundtime.p2p.sync", f"entry {index} " + "x" * (2 * index))
    found = buffer.query()
    assert [e.id for e in found.entries] == [8, 9, 10, 11, 12]
    assert found.first_id == 8
    assert found.next_after == 12
    assert [e.message for e in found.entries][:2] == ["entry 7 xxxxxxxxxxx…", "entry 8 xxxxxxxxxxx…"]
    assert all(len(e.message) == 20 for e in found.entries)
    assert buffer.query(limit=1).entries[0].logger == "soundtime.p2p.sync"


def test_following_the_log_with_after_skips_nothing_and_repeats_nothing() -> None:
    buffer = LogBuffer(capacity=100)
    for index in range(10):
        buffer.append(time.time(), "warning" if index % 3 == 0 else "info", "soundtime.p2p", f"m{index}")
    seen: list[str] = []
    after = 0
    for _ in range(5):
        page = buffer.query(after=after, limit=3)
        seen += [e.message for e in page.entries]
        after = page.next_after
    assert seen == [f"m{i}" for i in range(10)]
    assert buffer.query(after=after).entries == []
    buffer.append(time.time(), "info", "soundtime.p2p", "m10")
    assert [e.message for e in buffer.query(after=after).entries] == ["m10"]
    # A level filter: warnings and above only, and the cursor still moves past filtered-out entries.
    warnings = buffer.query(min_level=logging.WARNING, after=0)
    assert [e.message for e in warnings.entries] == ["m0", "m3", "m6", "m9"]
    assert warnings.next_after == 11
    # Without after: the newest entries. A cursor from before a restart (larger than any id) starts over.
    assert [e.message for e in buffer.query(limit=2).entries] == ["m9", "m10"]
    assert len(buffer.query(after=10_000).entries) == 11


def test_clear_keeps_ids_increasing() -> None:
    buffer = LogBuffer()
    buffer.append(time.time(), "info", "soundtime.p2p", "before")
    buffer.clear()
    assert buffer.query().entries == []
    assert buffer.query().first_id is None
    buffer.append(time.time(), "info", "soundtime.p2p", "after")
    assert [e.id for e in buffer.query().entries] == [2]


def test_secrets_never_reach_the_buffer() -> None:
    texts = [
        f"GET /api/tracks/1/stream?token={JWT}&x=1",
        f"Authorization: Bearer {JWT}",
        "password=hunter2-long-secret",
        '{"refresh_token": "abc.def-opaque"}',
        f"peer sent {JWT}",
    ]
    buffer = LogBuffer()
    handler = BufferHandler(buffer)
    for text in texts:
        handler.handle(record("soundtime.p2p.x", logging.WARNING, "%s", text))
    kept = " ".join(e.message for e in buffer.query().entries)
    for secret in (JWT, "hunter2-long-secret", "abc.def-opaque"):
        assert secret not in kept
    assert kept.count("[redacted]") == 5
    assert redact("node 3d40ab joined") == "node 3d40ab joined"


def test_the_handler_records_levels_and_exceptions_and_survives_bad_records() -> None:
    buffer = LogBuffer()
    handler = BufferHandler(buffer)
    try:
        raise ValueError("boom")
    except ValueError:
        failing = record("soundtime.p2p.node", logging.ERROR, "job %s failed", "x")
        failing.exc_info = sys.exc_info()
    handler.handle(failing)
    handler.handle(record("soundtime.p2p.node", logging.CRITICAL + 5, "beyond critical"))
    handler.handle(record("soundtime.p2p.node", logging.INFO, "%d tracks", "not a number"))  # cannot format
    entries = buffer.query().entries
    assert [(e.level, e.message) for e in entries] == [
        ("error", "job x failed (ValueError: boom)"),
        ("critical", "beyond critical"),
    ]


def test_many_threads_appending_at_once_get_unique_increasing_ids() -> None:
    buffer = LogBuffer(capacity=1000)
    handler = BufferHandler(buffer)

    def spam(worker: int) -> None:
        for index in range(500):
            handler.handle(record("soundtime.p2p", logging.INFO, "w%d %d", worker, index))

    threads = [threading.Thread(target=spam, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = buffer.query(limit=1000).entries
    ids = [e.id for e in entries]
    assert len(entries) == 1000
    assert ids == sorted(set(ids))
    assert ids[-1] == 4000
