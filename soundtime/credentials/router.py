"""HTTP routes of client-app credentials: /api/me/app-passwords and /api/me/api-keys (the user's own only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, status

from soundtime.auth.dependencies import CurrentUser
from soundtime.context import ContextDep, SessionDep
from soundtime.credentials import repository as repo
from soundtime.credentials import service
from soundtime.credentials.schemas import (
    ApiKeyOut,
    AppPasswordOut,
    Connection,
    CreatedApiKey,
    CreatedAppPassword,
    NewCredential,
)
from soundtime.kit.openapi import errors

router = APIRouter(prefix="/api/me", tags=["credentials"])


def _server_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/app-passwords", summary="Your app passwords")
async def list_app_passwords(user: CurrentUser, session: SessionDep) -> list[AppPasswordOut]:
    """Names, creation and last use (the passwords themselves are never shown again)."""
    return [AppPasswordOut.model_validate(row) for row in await repo.app_passwords(session, user.id)]


@router.post(
    "/app-passwords",
    status_code=status.HTTP_201_CREATED,
    summary="Create an app password for a client app (shown once)",
    responses=errors((409, "already 50 app passwords"), 422),
)
async def create_app_password(
    body: NewCredential, request: Request, user: CurrentUser, session: SessionDep, context: ContextDep
) -> CreatedAppPassword:
    """A password for one device's Subsonic app (DSub, Symfonium, …), to enter with your username; your login
    password is not accepted by /rest/. ``connection`` is what the browser shows as a QR code."""
    row, password = await service.create_app_password(session, context.secret_box, user.id, body.name)
    connection = Connection(server_url=_server_url(request), username=user.username, password=password)
    listed = AppPasswordOut.model_validate(row)
    return CreatedAppPassword(**listed.model_dump(), password=password, connection=connection)


@router.delete(
    "/app-passwords/{password_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an app password",
    responses=errors(404),
)
async def revoke_app_password(
    password_id: Annotated[uuid.UUID, Path()], user: CurrentUser, session: SessionDep
) -> None:
    """The device using it is refused from now on."""
    await service.revoke_app_password(session, user.id, password_id)


@router.get("/api-keys", summary="Your API keys")
async def list_api_keys(user: CurrentUser, session: SessionDep) -> list[ApiKeyOut]:
    """Names, prefixes, creation and last use."""
    return [ApiKeyOut.model_validate(row) for row in await repo.api_keys(session, user.id)]


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key for OpenSubsonic apps (shown once)",
    responses=errors((409, "already 50 API keys"), 422),
)
async def create_api_key(
    body: NewCredential, request: Request, user: CurrentUser, session: SessionDep
) -> CreatedApiKey:
    """A key for apps that support OpenSubsonic's ``apiKeyAuthentication`` (sent as ``apiKey=``, without a
    username). It does not expire; revoke it when the device is gone."""
    row, key = await service.create_api_key(session, user.id, body.name)
    return CreatedApiKey(**ApiKeyOut.model_validate(row).model_dump(), key=key, server_url=_server_url(request))


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key",
    responses=errors(404),
)
async def revoke_api_key(key_id: Annotated[uuid.UUID, Path()], user: CurrentUser, session: SessionDep) -> None:
    """Apps using it are refused from now on (error 44)."""
    await service.revoke_api_key(session, user.id, key_id)
