"""Responses cut off after their headers were sent: the exception, and finding it behind another.

Kept apart from :mod:`soundtime.kit.errors` so logging can recognise it without importing the web framework.
"""

from __future__ import annotations


class ResponseAborted(Exception):
    """A response was cut off after its headers were sent (its body could not be delivered): the client sees an
    incomplete body. The server logs it as one warning line, not as an application error (see kit.logging).
    """


def aborted_cause(exc: BaseException | None) -> ResponseAborted | None:
    """The :class:`ResponseAborted` behind an exception (itself, a cause, or inside an exception group)."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, ResponseAborted):
            return exc
        # Not __context__: an error raised while an abort was being handled is a real error.
        single = isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1
        exc = exc.exceptions[0] if isinstance(exc, BaseExceptionGroup) and single else exc.__cause__
        seen += 1
    return None
