"""The endpoint handlers, one module per group of the API; importing this package registers them."""

from soundtime.subsonic.endpoints import (
    annotation,
    browsing,
    lists,
    media,
    playlists,
    queue,
    searching,
    system,
)

__all__ = ["annotation", "browsing", "lists", "media", "playlists", "queue", "searching", "system"]
