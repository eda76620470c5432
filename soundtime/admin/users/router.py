"""HTTP routes of users administration: /api/admin/users (administrators only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from soundtime.admin.users import service
from soundtime.admin.users.schemas import AdminUserOut, PasswordReset, UserCreate, UserPatch
from soundtime.auth.dependencies import AdminUser
from soundtime.context import ContextDep
from soundtime.kit.openapi import errors
from soundtime.kit.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page

router = APIRouter(prefix="/api/admin/users", tags=["admin"])

NOT_FOUND = (404, "no such user (`user_not_found`)")


@router.get("", summary="Accounts", responses=errors(400, 401, 403, 422))
async def list_users(
    _: AdminUser,
    context: ContextDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")] = None,
) -> Page[AdminUserOut]:
    """Every account in case-insensitive username order, with its role and whether it is disabled."""
    return await service.list_users(context, limit, cursor)


@router.post(
    "",
    summary="Create an account",
    status_code=201,
    responses=errors(401, 403, (409, "the username is taken (`username_taken`)"), 422, 503),
)
async def create_user(body: UserCreate, _: AdminUser, context: ContextDep) -> AdminUserOut:
    """Create an account with a password and a role (whether or not registration is open)."""
    return await service.create_user(context, body)


@router.get("/{user_id}", summary="One account", responses=errors(401, 403, NOT_FOUND, 422))
async def get_user(user_id: uuid.UUID, _: AdminUser, context: ContextDep) -> AdminUserOut:
    """An account as administrators see it."""
    return await service.get_user(context, user_id)


@router.patch(
    "/{user_id}",
    summary="Change an account's role, or disable / enable it",
    responses=errors(
        401,
        403,
        NOT_FOUND,
        (409, "it would leave no active administrator (`last_admin`)"),
        422,
    ),
)
async def update_user(user_id: uuid.UUID, body: UserPatch, _: AdminUser, context: ContextDep) -> AdminUserOut:
    """Change the role and/or disable the account (it cannot sign in, its tokens stop working) or enable it."""
    return await service.update_user(context, user_id, body)


@router.post(
    "/{user_id}/password",
    summary="Reset an account's password",
    status_code=204,
    responses=errors(401, 403, NOT_FOUND, 422, 503),
)
async def reset_password(user_id: uuid.UUID, body: PasswordReset, _: AdminUser, context: ContextDep) -> Response:
    """Set a new password; every session of the account is signed out."""
    await service.reset_password(context, user_id, body.password)
    return Response(status_code=204)
