"""HTTP routes of search: ``GET /api/search``, ``GET /api/p2p/search``, ``POST /api/p2p/search/import``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.auth import repository as auth_repo
from soundtime.auth.dependencies import access_claims
from soundtime.auth.gate import refuse
from soundtime.auth.tokens import Claims
from soundtime.context import ContextDep, SessionDep
from soundtime.kit.errors import Unauthorized
from soundtime.kit.openapi import errors
from soundtime.library.schemas import TrackOut
from soundtime.search import service
from soundtime.search.schemas import ImportIn, P2PSearchResults, SearchResults

router = APIRouter(tags=["search"])

SearchText = Annotated[
    str, Query(min_length=1, max_length=200, pattern=r"^[^\x00]*$", description="words to find (prefixes match)")
]
Limit = Annotated[int, Query(ge=1, le=100)]


AccessClaims = Annotated[Claims, Depends(access_claims)]


async def _check_account(session: AsyncSession, claims: Claims) -> None:
    state = await auth_repo.account_state(session, claims.user_id)
    if state is None:
        raise Unauthorized("account no longer exists", code="invalid_token")
    refuse(claims, disabled=state[0], generation=state[1])


async def signed_in(context: ContextDep, claims: AccessClaims) -> uuid.UUID:
    """The signed-in user's id, checked in a short transaction of its own: no database connection stays held
    while peers answer (up to 10 s)."""
    async with context.db.transaction() as session:
        await _check_account(session, claims)
    return claims.user_id


SignedIn = Annotated[uuid.UUID, Depends(signed_in)]


@router.get(
    "/api/search",
    summary="Search the library",
    responses=errors((429, "too many searches across peers (`include_p2p`); Retry-After says when")),
)
async def search(
    claims: AccessClaims,
    context: ContextDep,
    session: SessionDep,
    *,
    q: SearchText,
    limit: Limit = 20,
    include_p2p: Annotated[bool, Query(description="also ask peers (rate-limited per user)")] = False,
) -> SearchResults:
    """Tracks ranked by relevance (title > artist > album), and albums and artists whose names match.

    With ``include_p2p=true``, ``p2p`` holds this library's and its peers' tracks merged and ranked together.
    """
    if include_p2p:  # the request's session stays unused (it holds no connection) while peers answer
        user_id = await signed_in(context, claims)
        return await service.search_everywhere(context, q, limit, str(user_id), include_p2p=True)
    await _check_account(session, claims)  # in the search's own transaction: fewer round trips
    return await service.search(session, q, limit)


@router.get(
    "/api/p2p/search",
    summary="Search this library and its peers",
    responses=errors((429, "too many searches across peers; Retry-After says when")),
)
async def search_peers(user_id: SignedIn, context: ContextDep, q: SearchText, limit: Limit = 20) -> P2PSearchResults:
    """Tracks of this library and of the peers whose search filters match every word, ranked on one scale
    by this server; a hash held here shows as the local track (``track_id``). Rate-limited per user."""
    return await service.search_peers(context, q, limit, str(user_id))


@router.post(
    "/api/p2p/search/import",
    summary="Import a peer's search result",
    status_code=201,
    responses={
        200: {"model": TrackOut, "description": "the library already has this track"},
        **errors(
            (404, "no recent search result has this hash (`unknown_result`): search again"),
            (422, "invalid body, or the result's description was rejected (`invalid_result`)"),
            (429, "too many searches and imports across peers; Retry-After says when"),
            (503, "no peer offering the track answered (`no_source`), or federation is disabled (`p2p_disabled`)"),
        ),
    },
)
async def import_result(body: ImportIn, user_id: SignedIn, context: ContextDep, response: Response) -> TrackOut:
    """Add a recent search result to the library as a replicated track (201) so it can be streamed; 200 with
    the existing track when the library already has it."""
    track, created = await service.import_result(context, body.hash, str(user_id))
    if not created:
        response.status_code = 200
    return track
