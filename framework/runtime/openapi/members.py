"""Guild members and roles (protocol.md §9.2)."""

from __future__ import annotations

import msgspec

from framework.models.api import CreatedRole, GuildRoles, RoleMembers, UpdatedRole
from framework.models.common import Member
from framework.runtime.openapi._group import EndpointGroup

__all__ = ["MembersAPI"]

_MEMBER = msgspec.json.Decoder(Member)
_MEMBERS = msgspec.json.Decoder(list[Member])
_ROLE_MEMBERS = msgspec.json.Decoder(RoleMembers)
_ROLES = msgspec.json.Decoder(GuildRoles)
_CREATED = msgspec.json.Decoder(CreatedRole)
_UPDATED = msgspec.json.Decoder(UpdatedRole)


def _role_body(name: str | None, color: int | None, hoist: bool | None) -> dict[str, object]:
    """The flat ``{name, color, hoist}`` body (BD ``post_guild_role.md``; botgo's ``filter``/``info`` wrapper
    is not what the platform documents)."""
    body: dict[str, object] = {}
    if name is not None:
        body["name"] = name
    if color is not None:
        body["color"] = color
    if hoist is not None:
        body["hoist"] = int(hoist)
    return body


class MembersAPI(EndpointGroup):
    async def get_member(self, guild_id: str, user_id: str) -> Member:
        """``GET /guilds/{guild_id}/members/{user_id}``."""
        answer = await self._call(
            "GET", "/guilds/{guild_id}/members/{user_id}", path={"guild_id": guild_id, "user_id": user_id}
        )
        return answer.decode(_MEMBER)

    async def get_members(self, guild_id: str, *, after: str = "0", limit: int = 400) -> list[Member]:
        """``GET /guilds/{guild_id}/members``: one page (``limit`` 1-1000; pass the last user id as ``after``)."""
        answer = await self._call(
            "GET", "/guilds/{guild_id}/members", path={"guild_id": guild_id}, params={"after": after, "limit": limit}
        )
        return answer.decode(_MEMBERS)

    async def get_role_members(
        self, guild_id: str, role_id: str, *, start_index: str = "0", limit: int = 400
    ) -> RoleMembers:
        """``GET /guilds/{guild_id}/roles/{role_id}/members``: one page; ``next`` is the next start index."""
        answer = await self._call(
            "GET",
            "/guilds/{guild_id}/roles/{role_id}/members",
            path={"guild_id": guild_id, "role_id": role_id},
            params={"start_index": start_index, "limit": limit},
        )
        return answer.decode(_ROLE_MEMBERS)

    async def delete_member(
        self, guild_id: str, user_id: str, *, add_blacklist: bool = False, delete_history_msg_days: int = 0
    ) -> None:
        """``DELETE /guilds/{guild_id}/members/{user_id}``; ``delete_history_msg_days`` ∈ 0, 3, 7, 15, 30, -1."""
        await self._call(
            "DELETE",
            "/guilds/{guild_id}/members/{user_id}",
            path={"guild_id": guild_id, "user_id": user_id},
            json={"add_blacklist": add_blacklist, "delete_history_msg_days": delete_history_msg_days},
        )

    async def get_roles(self, guild_id: str) -> GuildRoles:
        """``GET /guilds/{guild_id}/roles``."""
        return (await self._call("GET", "/guilds/{guild_id}/roles", path={"guild_id": guild_id})).decode(_ROLES)

    async def create_role(
        self, guild_id: str, *, name: str | None = None, color: int | None = None, hoist: bool | None = None
    ) -> CreatedRole:
        """``POST /guilds/{guild_id}/roles``; ``color`` is ARGB (e.g. ``0xFF00A5B1``)."""
        answer = await self._call(
            "POST", "/guilds/{guild_id}/roles", path={"guild_id": guild_id}, json=_role_body(name, color, hoist)
        )
        return answer.decode(_CREATED)

    async def patch_role(
        self,
        guild_id: str,
        role_id: str,
        *,
        name: str | None = None,
        color: int | None = None,
        hoist: bool | None = None,
    ) -> UpdatedRole:
        """``PATCH /guilds/{guild_id}/roles/{role_id}``: only the given fields change."""
        answer = await self._call(
            "PATCH",
            "/guilds/{guild_id}/roles/{role_id}",
            path={"guild_id": guild_id, "role_id": role_id},
            json=_role_body(name, color, hoist),
            idempotent=True,
        )
        return answer.decode(_UPDATED)

    async def delete_role(self, guild_id: str, role_id: str) -> None:
        """``DELETE /guilds/{guild_id}/roles/{role_id}``."""
        await self._call(
            "DELETE", "/guilds/{guild_id}/roles/{role_id}", path={"guild_id": guild_id, "role_id": role_id}
        )

    async def add_member_role(
        self, guild_id: str, user_id: str, role_id: str, *, channel_id: str | None = None
    ) -> None:
        """``PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}`` (``channel_id`` for the channel-admin role)."""
        await self._call(
            "PUT",
            "/guilds/{guild_id}/members/{user_id}/roles/{role_id}",
            path={"guild_id": guild_id, "user_id": user_id, "role_id": role_id},
            json={"channel": {"id": channel_id}} if channel_id else None,
        )

    async def remove_member_role(
        self, guild_id: str, user_id: str, role_id: str, *, channel_id: str | None = None
    ) -> None:
        """``DELETE /guilds/{guild_id}/members/{user_id}/roles/{role_id}``."""
        await self._call(
            "DELETE",
            "/guilds/{guild_id}/members/{user_id}/roles/{role_id}",
            path={"guild_id": guild_id, "user_id": user_id, "role_id": role_id},
            json={"channel": {"id": channel_id}} if channel_id else None,
        )
