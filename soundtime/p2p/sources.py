"""Which peer to fetch a replicated track from: SoundTime's "best copy" score, with our bitrate bonus.

All sources of a track offer the same bytes (one hash), so between them only their state differs; the score
still matters when copies of one recording under different hashes are compared.
"""

from __future__ import annotations

from collections.abc import Sequence

from soundtime.p2p.repository import SourceRow

FORMAT_SCORE = {"flac": 1000, "wav": 900, "aiff": 900, "opus": 700, "aac": 600, "m4a": 600, "ogg": 500, "mp3": 400}
OTHER_FORMAT_SCORE = 300
ONLINE_BONUS = 2000
#: Bitrates are in kbps; CD audio (1411 kbps) is the most that counts.
MAX_COUNTED_KBPS = 1411
MAX_COUNTED_HZ = 192_000


def copy_score(fmt: str, bitrate_kbps: int | None, sample_rate: int | None, *, online: bool) -> int:
    """Format first, then bitrate (min(kbps, 1411) // 4), then sample rate (kHz), +2000 when reachable."""
    score = FORMAT_SCORE.get(fmt.lower(), OTHER_FORMAT_SCORE)
    score += min(max(bitrate_kbps or 0, 0), MAX_COUNTED_KBPS) // 4
    score += min(max(sample_rate or 0, 0), MAX_COUNTED_HZ) // 1000
    return score + (ONLINE_BONUS if online else 0)


def rank_sources(
    sources: Sequence[SourceRow],
    fmt: str,
    bitrate_kbps: int | None,
    sample_rate: int | None,
    *,
    origin_first: bool = False,
) -> list[SourceRow]:
    """Sources best copy first (score, then fewer recent failures, then node id: deterministic).

    ``origin_first`` puts the origin ahead of everything (a recovery retries the origin first).
    """

    def key(source: SourceRow) -> tuple[bool, int, int, str]:
        score = copy_score(fmt, bitrate_kbps, sample_rate, online=source.online)
        return (origin_first and not source.is_origin, -score, source.failure_count, source.node_id)

    return sorted(sources, key=key)
