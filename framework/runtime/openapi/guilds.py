"""Guilds: guild info, message settings, API permissions, guild announcements, muting (protocol.md §9.2)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from framework.models.api import (
    Announces,
    APIPermission,
    APIPermissionDemand,
    APIPermissions,
    MessageSetting,
    MuteResult,
    RecommendChannel,
)
from framework.models.events import Guild
from framework.runtime.openapi._group import EndpointGroup

__all__ = ["GuildsAPI"]

_GUILD = msgspec.json.Decoder(Guild)
_SETTING = msgspec.json.Decoder(MessageSetting)
_PERMS = msgspec.json.Decoder(APIPermissions)
_DEMAND = msgspec.json.Decoder(APIPermissionDemand)
_ANNOUNCES = msgspec.json.Decoder(Announces)
_MUTE = msgspec.json.Decoder(MuteResult)


def _mute_body(mute_end_timestamp: int | str | None, mute_seconds: int | str | None) -> dict[str, str]:
    body: dict[str, str] = {}
    if mute_end_timestamp is not None:
        body["mute_end_timestamp"] = str(mute_end_timestamp)
    if mute_seconds is not None:
        body["mute_seconds"] = str(mute_seconds)
    return body


class GuildsAPI(EndpointGroup):
    async def get_guild(self, guild_id: str) -> Guild:
        """``GET /guilds/{guild_id}``."""
        return (await self._call("GET", "/guilds/{guild_id}", path={"guild_id": guild_id})).decode(_GUILD)

    async def get_message_setting(self, guild_id: str) -> MessageSetting:
        """``GET /guilds/{guild_id}/message/setting``."""
        answer = await self._call("GET", "/guilds/{guild_id}/message/setting", path={"guild_id": guild_id})
        return answer.decode(_SETTING)

    async def get_api_permissions(self, guild_id: str) -> list[APIPermission]:
        """``GET /guilds/{guild_id}/api_permission``: the APIs and whether the guild granted them."""
        answer = await self._call("GET", "/guilds/{guild_id}/api_permission", path={"guild_id": guild_id})
        return answer.decode(_PERMS).apis

    async def demand_api_permission(
        self, guild_id: str, *, channel_id: str, path: str, method: str, desc: str = ""
    ) -> APIPermissionDemand:
        """``POST /guilds/{guild_id}/api_permission/demand``: ask the guild admins to grant an API."""
        body = {"channel_id": channel_id, "api_identify": {"path": path, "method": method.upper()}, "desc": desc}
        answer = await self._call(
            "POST", "/guilds/{guild_id}/api_permission/demand", path={"guild_id": guild_id}, json=body
        )
        return answer.decode(_DEMAND)

    async def create_guild_announce(
        self,
        guild_id: str,
        *,
        channel_id: str = "",
        message_id: str = "",
        announces_type: int = 0,
        recommend_channels: Sequence[RecommendChannel] = (),
    ) -> Announces:
        """``POST /guilds/{guild_id}/announces``; ``announces_type`` 0 member, 1 welcome."""
        body = {
            "channel_id": channel_id,
            "message_id": message_id,
            "announces_type": announces_type,
            "recommend_channels": list(recommend_channels),
        }
        answer = await self._call("POST", "/guilds/{guild_id}/announces", path={"guild_id": guild_id}, json=body)
        return answer.decode(_ANNOUNCES)

    async def delete_guild_announce(self, guild_id: str, message_id: str) -> None:
        """``DELETE /guilds/{guild_id}/announces/{message_id}``."""
        await self._call(
            "DELETE",
            "/guilds/{guild_id}/announces/{message_id}",
            path={"guild_id": guild_id, "message_id": message_id},
        )

    async def clean_guild_announces(self, guild_id: str) -> None:
        """``DELETE /guilds/{guild_id}/announces/all``."""
        await self._call("DELETE", "/guilds/{guild_id}/announces/all", path={"guild_id": guild_id})

    async def mute_guild(
        self, guild_id: str, *, mute_end_timestamp: int | str | None = None, mute_seconds: int | str | None = None
    ) -> None:
        """``PATCH /guilds/{guild_id}/mute``: mute everyone (``mute_seconds`` or an end timestamp; 0 unmutes)."""
        body = _mute_body(mute_end_timestamp, mute_seconds)
        await self._call("PATCH", "/guilds/{guild_id}/mute", path={"guild_id": guild_id}, json=body, idempotent=True)

    async def mute_members(
        self,
        guild_id: str,
        user_ids: Sequence[str],
        *,
        mute_end_timestamp: int | str | None = None,
        mute_seconds: int | str | None = None,
    ) -> list[str]:
        """``PATCH /guilds/{guild_id}/mute`` with ``user_ids``: returns the users muted."""
        body: dict[str, object] = {**_mute_body(mute_end_timestamp, mute_seconds), "user_ids": list(user_ids)}
        answer = await self._call(
            "PATCH", "/guilds/{guild_id}/mute", path={"guild_id": guild_id}, json=body, idempotent=True
        )
        return answer.decode(_MUTE).user_ids

    async def mute_member(
        self,
        guild_id: str,
        user_id: str,
        *,
        mute_end_timestamp: int | str | None = None,
        mute_seconds: int | str | None = None,
    ) -> None:
        """``PATCH /guilds/{guild_id}/members/{user_id}/mute``."""
        await self._call(
            "PATCH",
            "/guilds/{guild_id}/members/{user_id}/mute",
            path={"guild_id": guild_id, "user_id": user_id},
            json=_mute_body(mute_end_timestamp, mute_seconds),
            idempotent=True,
        )
