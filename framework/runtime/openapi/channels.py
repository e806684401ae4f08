"""Channels: CRUD, permissions, voice members, audio and mic, schedules (protocol.md §9.2)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from framework.models.api import (
    AudioControl,
    ChannelPermissions,
    ChannelToCreate,
    ChannelToPatch,
    OnlineNums,
    Schedule,
)
from framework.models.common import Member
from framework.models.events import Channel
from framework.runtime.openapi._group import EndpointGroup

__all__ = ["ChannelsAPI"]

_CHANNEL = msgspec.json.Decoder(Channel)
_CHANNELS = msgspec.json.Decoder(list[Channel])
_MEMBERS = msgspec.json.Decoder(list[Member])
_PERMS = msgspec.json.Decoder(ChannelPermissions)
_SCHEDULE = msgspec.json.Decoder(Schedule)
_SCHEDULES = msgspec.json.Decoder(list[Schedule])
_ONLINE = msgspec.json.Decoder(OnlineNums)


class _ScheduleWrapper(msgspec.Struct, omit_defaults=True):
    schedule: Schedule


class ChannelsAPI(EndpointGroup):
    async def get_channel(self, channel_id: str) -> Channel:
        """``GET /channels/{channel_id}``."""
        return (await self._call("GET", "/channels/{channel_id}", path={"channel_id": channel_id})).decode(_CHANNEL)

    async def get_channels(self, guild_id: str) -> list[Channel]:
        """``GET /guilds/{guild_id}/channels``."""
        answer = await self._call("GET", "/guilds/{guild_id}/channels", path={"guild_id": guild_id})
        return answer.decode(_CHANNELS)

    async def create_channel(self, guild_id: str, channel: ChannelToCreate) -> Channel:
        """``POST /guilds/{guild_id}/channels``."""
        answer = await self._call("POST", "/guilds/{guild_id}/channels", path={"guild_id": guild_id}, json=channel)
        return answer.decode(_CHANNEL)

    async def create_private_channel(
        self, guild_id: str, channel: ChannelToCreate, user_ids: Sequence[str] = ()
    ) -> Channel:
        """Create a private channel: visible to admins only (``private_type`` 1), or to admins and
        ``user_ids`` (``private_type`` 2). botgo has these two inverted; this follows the documented meaning.
        """
        ids = list(user_ids)
        private = msgspec.structs.replace(channel, private_type=2 if ids else 1, private_user_ids=ids or None)
        return await self.create_channel(guild_id, private)

    async def patch_channel(self, channel_id: str, changes: ChannelToPatch) -> Channel:
        """``PATCH /channels/{channel_id}``."""
        answer = await self._call(
            "PATCH", "/channels/{channel_id}", path={"channel_id": channel_id}, json=changes, idempotent=True
        )
        return answer.decode(_CHANNEL)

    async def delete_channel(self, channel_id: str) -> None:
        """``DELETE /channels/{channel_id}``."""
        await self._call("DELETE", "/channels/{channel_id}", path={"channel_id": channel_id})

    async def get_voice_channel_members(self, channel_id: str) -> list[Member]:
        """``GET /channels/{channel_id}/voice/members``."""
        answer = await self._call("GET", "/channels/{channel_id}/voice/members", path={"channel_id": channel_id})
        return answer.decode(_MEMBERS)

    async def get_online_nums(self, channel_id: str) -> int:
        """``GET /channels/{channel_id}/online_nums``: how many members are online in the channel."""
        answer = await self._call("GET", "/channels/{channel_id}/online_nums", path={"channel_id": channel_id})
        return answer.decode(_ONLINE).online_nums

    async def get_channel_permissions(self, channel_id: str, user_id: str) -> ChannelPermissions:
        """``GET /channels/{channel_id}/members/{user_id}/permissions``."""
        answer = await self._call(
            "GET",
            "/channels/{channel_id}/members/{user_id}/permissions",
            path={"channel_id": channel_id, "user_id": user_id},
        )
        return answer.decode(_PERMS)

    async def put_channel_permissions(
        self, channel_id: str, user_id: str, *, add: int | str = 0, remove: int | str = 0
    ) -> None:
        """``PUT /channels/{channel_id}/members/{user_id}/permissions``: bits to add and remove."""
        await self._call(
            "PUT",
            "/channels/{channel_id}/members/{user_id}/permissions",
            path={"channel_id": channel_id, "user_id": user_id},
            json={"add": _bits(add), "remove": _bits(remove)},
        )

    async def get_channel_role_permissions(self, channel_id: str, role_id: str) -> ChannelPermissions:
        """``GET /channels/{channel_id}/roles/{role_id}/permissions``."""
        answer = await self._call(
            "GET",
            "/channels/{channel_id}/roles/{role_id}/permissions",
            path={"channel_id": channel_id, "role_id": role_id},
        )
        return answer.decode(_PERMS)

    async def put_channel_role_permissions(
        self, channel_id: str, role_id: str, *, add: int | str = 0, remove: int | str = 0
    ) -> None:
        """``PUT /channels/{channel_id}/roles/{role_id}/permissions``."""
        await self._call(
            "PUT",
            "/channels/{channel_id}/roles/{role_id}/permissions",
            path={"channel_id": channel_id, "role_id": role_id},
            json={"add": _bits(add), "remove": _bits(remove)},
        )

    async def post_audio(self, channel_id: str, control: AudioControl) -> AudioControl:
        """``POST /channels/{channel_id}/audio``: play/pause/resume/stop. The server sends no body; the
        control is returned as sent."""
        await self._call("POST", "/channels/{channel_id}/audio", path={"channel_id": channel_id}, json=control)
        return control

    async def put_mic(self, channel_id: str) -> None:
        """``PUT /channels/{channel_id}/mic``: the bot takes the mic."""
        await self._call("PUT", "/channels/{channel_id}/mic", path={"channel_id": channel_id})

    async def delete_mic(self, channel_id: str) -> None:
        """``DELETE /channels/{channel_id}/mic``: the bot leaves the mic."""
        await self._call("DELETE", "/channels/{channel_id}/mic", path={"channel_id": channel_id})

    async def get_schedules(self, channel_id: str, *, since: int | None = None) -> list[Schedule]:
        """``GET /channels/{channel_id}/schedules`` (``since`` in ms)."""
        answer = await self._call(
            "GET", "/channels/{channel_id}/schedules", path={"channel_id": channel_id}, params={"since": since}
        )
        return answer.decode(_SCHEDULES)

    async def get_schedule(self, channel_id: str, schedule_id: str) -> Schedule:
        """``GET /channels/{channel_id}/schedules/{schedule_id}``."""
        answer = await self._call(
            "GET",
            "/channels/{channel_id}/schedules/{schedule_id}",
            path={"channel_id": channel_id, "schedule_id": schedule_id},
        )
        return answer.decode(_SCHEDULE)

    async def create_schedule(self, channel_id: str, schedule: Schedule) -> Schedule:
        """``POST /channels/{channel_id}/schedules``."""
        answer = await self._call(
            "POST",
            "/channels/{channel_id}/schedules",
            path={"channel_id": channel_id},
            json=_ScheduleWrapper(schedule=schedule),
        )
        return answer.decode(_SCHEDULE)

    async def patch_schedule(self, channel_id: str, schedule_id: str, schedule: Schedule) -> Schedule:
        """``PATCH /channels/{channel_id}/schedules/{schedule_id}``."""
        answer = await self._call(
            "PATCH",
            "/channels/{channel_id}/schedules/{schedule_id}",
            path={"channel_id": channel_id, "schedule_id": schedule_id},
            json=_ScheduleWrapper(schedule=schedule),
            idempotent=True,
        )
        return answer.decode(_SCHEDULE)

    async def delete_schedule(self, channel_id: str, schedule_id: str) -> None:
        """``DELETE /channels/{channel_id}/schedules/{schedule_id}``."""
        await self._call(
            "DELETE",
            "/channels/{channel_id}/schedules/{schedule_id}",
            path={"channel_id": channel_id, "schedule_id": schedule_id},
        )


def _bits(value: int | str) -> str:
    """Permission bit sets travel as decimal strings; checked locally as unsigned 64-bit."""
    number = int(value)
    if not 0 <= number < 1 << 64:
        raise ValueError(f"permission bits out of range: {value!r}")
    return str(number)
