"""HTTP models of the admin routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class InstanceSettings(BaseModel):
    """Settings an administrator changes at run time; stored in the ``instance_settings`` table."""

    registration_open: bool = Field(
        False, description="whether anyone may create an account (the first account is always allowed)"
    )
    instance_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] = "soundtime"


class InstanceSettingsPatch(BaseModel):
    """A partial update of :class:`InstanceSettings`."""

    model_config = ConfigDict(extra="forbid")

    registration_open: bool | None = None
    instance_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None


class Stats(BaseModel):
    """Counts an administrator wants at a glance."""

    users: int
    artists: int
    albums: int
    tracks: int
    local_tracks: int
    remote_tracks: int
    local_audio_bytes: int
    peers: int
    online_peers: int
