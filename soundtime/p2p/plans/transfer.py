"""What a listener may read of a blob while it is being fetched: bytes as they arrive, but never the bytes that
complete a range before the whole blob has been verified against its hash."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TransferState:
    """Progress of one transfer of ``size`` bytes."""

    size: int
    received: int = 0
    verified: bool = False
    failed: bool = False

    def advance(self, count: int) -> None:
        """``count`` more bytes arrived (never beyond the announced size)."""
        if count < 0 or self.received + count > self.size:
            raise ValueError(f"{count} more bytes would exceed the {self.size} announced")
        self.received += count

    def verify(self) -> None:
        """Every byte arrived and the hash matches."""
        if self.received != self.size:
            raise ValueError(f"only {self.received} of {self.size} bytes arrived")
        self.verified = True

    def readable(self, pos: int, limit: int, stop: int) -> int:
        """The end of what a listener at ``pos`` (reading at most ``limit`` bytes of ``[.., stop)``) may have
        now; ``pos`` when it must wait. The bytes that complete ``[.., stop)`` wait for the verification."""
        end = min(self.received, stop, pos + limit)
        if end > pos and (end < stop or self.verified):
            return end
        return pos
