"""Failures of federation calls, as the layers above the transport see them."""

from __future__ import annotations


class PeerError(Exception):
    """A call to a peer did not succeed."""


class PeerUnavailable(PeerError):
    """The peer could not be reached (blocked, no address, unreachable, timed out, connection lost)."""


class PeerMisbehaved(PeerError):
    """The peer answered something invalid (malformed frame, wrong reply, bytes that do not match their hash)."""


class BlobUnavailable(PeerError):
    """The peer does not offer the requested blob (a zero-length FetchTrack reply)."""
