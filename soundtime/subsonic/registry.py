"""The table of Subsonic endpoints: name → handler, and what every handler is given."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.context import AppContext
from soundtime.subsonic.auth import Caller
from soundtime.subsonic.params import Params

Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    """One request to an endpoint: the HTTP request, the application, its parameters and the caller."""

    request: Request
    context: AppContext
    params: Params
    #: None only for the endpoints that answer without authentication.
    caller: Caller | None

    @property
    def me(self) -> Caller:
        """The authenticated caller."""
        assert self.caller is not None, "an authenticated endpoint"
        return self.caller

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A transaction (handlers hold none while streaming or waiting for peers)."""
        async with self.context.db.transaction() as session:
            yield session


Handler = Callable[[Call], Awaitable[Payload | Response]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A handler and whether it answers without authentication."""

    handler: Handler
    public: bool = False


ENDPOINTS: dict[str, Endpoint] = {}

#: Endpoints of the Subsonic/OpenSubsonic API this server does not offer: they answer error 0 "not implemented".
NOT_IMPLEMENTED = frozenset(
    {
        "search",
        "getNowPlaying",
        "getVideos",
        "getVideoInfo",
        "getCaptions",
        "hls",
        "getSimilarSongs",
        "getSimilarSongs2",
        "getLyrics",
        "getLyricsBySongId",
        "getAvatar",
        "getShares",
        "createShare",
        "updateShare",
        "deleteShare",
        "getPodcasts",
        "getNewestPodcasts",
        "getPodcastEpisode",
        "refreshPodcasts",
        "createPodcastChannel",
        "deletePodcastChannel",
        "deletePodcastEpisode",
        "downloadPodcastEpisode",
        "jukeboxControl",
        "getInternetRadioStations",
        "createInternetRadioStation",
        "updateInternetRadioStation",
        "deleteInternetRadioStation",
        "getChatMessages",
        "addChatMessage",
        "getUsers",
        "createUser",
        "updateUser",
        "deleteUser",
        "changePassword",
        "createBookmark",
        "deleteBookmark",
        "startScan",
        "getSonicSimilarTracks",
        "findSonicPath",
        "getTranscodeDecision",
        "getTranscodeStream",
        "reportPlayback",
    }
)


def endpoint(name: str, *, public: bool = False) -> Callable[[Handler], Handler]:
    """Register a handler for ``/rest/<name>`` (and ``/rest/<name>.view``)."""

    def register(handler: Handler) -> Handler:
        ENDPOINTS[name] = Endpoint(handler, public)
        return handler

    return register


def app_state(call: Call, name: str, factory: Callable[[], Any]) -> Any:
    """A per-application object of the Subsonic API (created on first use, kept on ``app.state``)."""
    state = call.request.app.state
    found = getattr(state, name, None)
    if found is None:
        found = factory()
        setattr(state, name, found)
    return found
