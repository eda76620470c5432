"""Sources of replicated audio: the remote-track record, which peer to fetch from (SoundTime's "best copy"
score, with our bitrate bonus) and the recovery walk over a track's sources.

All sources of a track offer the same bytes (one hash), so between them only their state differs; the score
still matters when copies of one recording under different hashes are compared.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

FORMAT_SCORE = {"flac": 1000, "wav": 900, "aiff": 900, "opus": 700, "aac": 600, "m4a": 600, "ogg": 500, "mp3": 400}
OTHER_FORMAT_SCORE = 300
ONLINE_BONUS = 2000
#: Bitrates are in kbps; CD audio (1411 kbps) is the most that counts.
MAX_COUNTED_KBPS = 1411
MAX_COUNTED_HZ = 192_000


@dataclass(frozen=True, slots=True)
class RemoteTrack:
    """What fetching, probing or recovering a replicated track needs to know about it."""

    id: uuid.UUID
    content_hash: str
    file_size: int
    format: str
    bitrate_kbps: int | None
    sample_rate: int | None


@dataclass(frozen=True, slots=True)
class SourceRow:
    """A peer that offers a track's audio, with what ranking needs to know about it."""

    node_id: str
    is_origin: bool
    online: bool
    failure_count: int


def copy_score(fmt: str, bitrate_kbps: int | None, sample_rate: int | None, *, online: bool) -> int:
    """Format first, then bitrate (min(kbps, 1411) // 4), then sample rate (kHz), +2000 when reachable."""
    score = FORMAT_SCORE.get(fmt.lower(), OTHER_FORMAT_SCORE)
    score += min(max(bitrate_kbps or 0, 0), MAX_COUNTED_KBPS) // 4
    score += min(max(sample_rate or 0, 0), MAX_COUNTED_HZ) // 1000
    return score + (ONLINE_BONUS if online else 0)


def rank_sources(track: RemoteTrack, sources: Sequence[SourceRow], *, origin_first: bool = False) -> list[str]:
    """The node ids of ``sources``, best copy first (score, then fewer recent failures, then node id).

    ``origin_first`` puts the origin ahead of everything (a recovery retries the origin first).
    """

    def key(source: SourceRow) -> tuple[bool, int, int, str]:
        score = copy_score(track.format, track.bitrate_kbps, track.sample_rate, online=source.online)
        return (origin_first and not source.is_origin, -score, source.failure_count, source.node_id)

    return [source.node_id for source in sorted(sources, key=key)]


def playable_sources(track: RemoteTrack, sources: Sequence[SourceRow], is_blocked: Callable[[str], bool]) -> list[str]:
    """Whom to ask for a track's bytes, best first: every source that is not blocked."""
    return [node_id for node_id in rank_sources(track, sources) if not is_blocked(node_id)]


@dataclass
class SourceWalk:
    """A recovery's walk over a track's sources (origin first, then the best copies): ask each in turn whether it
    still offers the blob, skipping blocked peers and those known to be unreachable, until one announces the
    track's size.

    ``unreachable`` is shared by the walks of one sweep: a dead peer costs one timeout, not one per track.
    """

    candidates: Sequence[str]
    size: int
    is_blocked: Callable[[str], bool]
    unreachable: set[str] = field(default_factory=set)
    answered: bool = False
    error: str = "no peer offers this track"
    #: (node id, whether it offered the blob) for every source actually asked, in order.
    results: list[tuple[str, bool]] = field(default_factory=list)
    _next: int = 0

    @classmethod
    def of(
        cls,
        track: RemoteTrack,
        sources: Sequence[SourceRow],
        *,
        is_blocked: Callable[[str], bool],
        unreachable: set[str],
    ) -> SourceWalk:
        """The walk over ``sources`` of ``track``, origin first."""
        ranked = rank_sources(track, sources, origin_first=True)
        return cls(ranked, track.file_size, is_blocked=is_blocked, unreachable=unreachable)

    def next(self) -> str | None:
        """The next source to ask, None when the walk is over (a source answered, or none is left)."""
        while not self.answered and self._next < len(self.candidates):
            node_id = self.candidates[self._next]
            self._next += 1
            if self.is_blocked(node_id):
                self.error = f"peer {node_id[:16]} is blocked"
            elif node_id in self.unreachable:
                self.error = f"peer {node_id[:16]} is unreachable"
            else:
                return node_id
        return None

    def offered(self, node_id: str, size: int) -> None:
        """``node_id`` announced ``size`` bytes: the walk ends if that is the track's size."""
        if size == self.size:
            self.answered = True
            self.results.append((node_id, True))
        else:
            self.failed(node_id, f"peer {node_id[:16]} announced {size} bytes, the track has {self.size}")

    def failed(self, node_id: str, error: str) -> None:
        """``node_id`` answered something else (no such blob, a wrong reply)."""
        self.error = error
        self.results.append((node_id, False))

    def unavailable(self, node_id: str, error: str) -> None:
        """``node_id`` could not be reached: no later walk of this sweep asks it."""
        self.unreachable.add(node_id)
        self.failed(node_id, error)
