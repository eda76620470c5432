"""SQLAlchemy models; importing this package registers every table on ``Base.metadata``."""

from soundtime.models.base import Base
from soundtime.models.credentials import ApiKey, AppPassword
from soundtime.models.federation import BlockedDomain, Peer, PeerLink, RemoteTrackSource, track_sources
from soundtime.models.health import TrackHealth
from soundtime.models.instance import InstanceSetting
from soundtime.models.library import Album, Artist, Cover, ImportedFile, Track
from soundtime.models.listening import (
    AlbumAnnotation,
    ArtistAnnotation,
    Play,
    Playlist,
    PlaylistEntry,
    PlayQueue,
    PlayQueueEntry,
    TrackAnnotation,
)
from soundtime.models.users import RefreshToken, User

__all__ = [
    "Album",
    "AlbumAnnotation",
    "ApiKey",
    "AppPassword",
    "Artist",
    "ArtistAnnotation",
    "Base",
    "BlockedDomain",
    "Cover",
    "ImportedFile",
    "InstanceSetting",
    "Peer",
    "PeerLink",
    "Play",
    "PlayQueue",
    "PlayQueueEntry",
    "Playlist",
    "PlaylistEntry",
    "RefreshToken",
    "RemoteTrackSource",
    "Track",
    "TrackAnnotation",
    "TrackHealth",
    "User",
    "track_sources",
]
