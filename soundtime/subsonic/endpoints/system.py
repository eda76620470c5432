"""System and user endpoints: ping, getLicense, getOpenSubsonicExtensions, tokenInfo, getScanStatus,
getMusicFolders, getUser."""

from __future__ import annotations

from sqlalchemy import func, select

from soundtime.auth import repository as accounts
from soundtime.models import Track
from soundtime.subsonic.errors import Code, SubsonicError, not_found
from soundtime.subsonic.registry import Call, Payload, endpoint

#: The only music folder: the whole library (own and federated tracks).
MUSIC_FOLDER = {"id": 1, "name": "Music"}
#: OpenSubsonic extensions offered, with their versions.
EXTENSIONS = {"formPost": [1], "apiKeyAuthentication": [1], "indexBasedQueue": [1], "transcodeOffset": [1]}


@endpoint("ping")
async def ping(_: Call) -> Payload:
    """Checks the credentials (clients use it to test a connection)."""
    return {}


@endpoint("getLicense")
async def get_license(_: Call) -> Payload:
    """Always valid: soundtime is free software."""
    return {"license": {"valid": True}}


@endpoint("getOpenSubsonicExtensions", public=True)
async def extensions(_: Call) -> Payload:
    """The OpenSubsonic extensions this server supports (answers without authentication)."""
    return {"openSubsonicExtensions": [{"name": name, "versions": versions} for name, versions in EXTENSIONS.items()]}


@endpoint("tokenInfo")
async def token_info(call: Call) -> Payload:
    """Whose credentials these are (the apiKeyAuthentication extension)."""
    return {"tokenInfo": {"username": call.me.username}}


@endpoint("getScanStatus")
async def scan_status(call: Call) -> Payload:
    """There is no scanner (files are ingested as they are uploaded or imported): never scanning."""
    async with call.session() as session:
        count = (await session.execute(select(func.count()).select_from(Track))).scalar_one()
    return {"scanStatus": {"scanning": False, "count": int(count)}}


@endpoint("getMusicFolders")
async def music_folders(_: Call) -> Payload:
    """One folder: the library."""
    return {"musicFolders": {"musicFolder": [MUSIC_FOLDER]}}


@endpoint("getUser")
async def get_user(call: Call) -> Payload:
    """A user's roles: anyone may ask about themselves, administrators about anyone (error 50 otherwise)."""
    username = call.params.get("username") or call.me.username
    if username.lower() != call.me.username.lower() and not call.me.is_admin:
        raise SubsonicError(Code.NOT_AUTHORISED, "only administrators can see other users")
    async with call.session() as session:
        user = await accounts.find_user(session, username)
    if user is None:
        raise not_found("user")
    return {
        "user": {
            "username": user.username,
            "scrobblingEnabled": True,
            "adminRole": user.is_admin,
            "settingsRole": True,
            "downloadRole": True,
            "uploadRole": True,
            "playlistRole": True,
            "coverArtRole": False,
            "commentRole": False,
            "podcastRole": False,
            "streamRole": True,
            "jukeboxRole": False,
            "shareRole": False,
            "videoConversionRole": False,
            "folder": [MUSIC_FOLDER["id"]],
        }
    }
