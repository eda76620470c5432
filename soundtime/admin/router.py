"""HTTP routes of administration: /api/admin/settings and /api/admin/stats."""

from __future__ import annotations

from fastapi import APIRouter

from soundtime.admin import repository as repo
from soundtime.admin.schemas import InstanceSettings, InstanceSettingsPatch, Stats
from soundtime.auth.dependencies import AdminUser
from soundtime.context import SessionDep

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/settings", summary="Instance settings")
async def get_settings(_: AdminUser, session: SessionDep) -> InstanceSettings:
    """Settings changed at run time (registration, instance name)."""
    return await repo.load_instance_settings(session)


@router.patch("/settings", summary="Change instance settings")
async def patch_settings(body: InstanceSettingsPatch, _: AdminUser, session: SessionDep) -> InstanceSettings:
    """Change some settings; omitted keys keep their value."""
    await repo.save_instance_settings(session, body.model_dump(exclude_none=True))
    return await repo.load_instance_settings(session)


@router.get("/stats", summary="Instance statistics")
async def get_stats(_: AdminUser, session: SessionDep) -> Stats:
    """Counts of users, library rows, audio bytes and peers."""
    return await repo.stats(session)
