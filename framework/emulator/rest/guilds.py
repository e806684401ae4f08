"""Guild, channel, member, role, mute and permission routes over the world (protocol.md §9.2)."""

from __future__ import annotations

from typing import Any

from framework.emulator.http import (
    ApiError,
    Code,
    HttpResponse,
    json_response,
    opt_int,
    opt_str,
    query_int,
    require_str,
)
from framework.emulator.rest.base import Call, RestContext
from framework.emulator.world import WorldChannel, WorldGuild, WorldMember, WorldRole

__all__ = ["register_guild_routes"]

_ROLE_FIELDS = frozenset({"name", "color", "hoist"})


class _Guilds:
    def __init__(self, ctx: RestContext) -> None:
        self.ctx = ctx
        self.world = ctx.world

    def _guild(self, guild_id: str) -> WorldGuild:
        return self.ctx.guild(guild_id)

    def _channel(self, channel_id: str) -> WorldChannel:
        return self.ctx.channel(channel_id)

    def _member(self, guild_id: str, user_id: str) -> WorldMember:
        member = self.world.members.get(self._guild(guild_id).id, {}).get(user_id)
        if member is None:
            raise ApiError(404, Code.NOT_FOUND, "member not found")
        return member

    def _role(self, guild_id: str, role_id: str) -> WorldRole:
        role = self.world.roles.get(self._guild(guild_id).id, {}).get(role_id)
        if role is None:
            raise ApiError(404, Code.NOT_FOUND, "role not found")
        return role

    def _member_event(self, member: WorldMember) -> dict[str, Any]:
        return {**member.to_json(), "guild_id": member.guild_id, "op_user_id": self.world.bot.id}

    # guilds ----------------------------------------------------------------------------------

    async def me_guilds(self, call: Call) -> HttpResponse:
        limit = query_int(call.req.query, "limit", 100, 1, 100)
        ids = sorted(self.world.guilds, key=int)
        after, before = call.req.query.get("after"), call.req.query.get("before")
        if after:
            ids = [g for g in ids if int(g) > int(after)][:limit] if after.isdigit() else []
        elif before:
            ids = [g for g in ids if int(g) < int(before)][-limit:] if before.isdigit() else []
        else:
            ids = ids[:limit]
        return json_response(200, [self.world.guild_json(self.world.guilds[g]) for g in ids])

    async def get_guild(self, call: Call) -> HttpResponse:
        return json_response(200, self.world.guild_json(self._guild(call.params["guild_id"])))

    # channels --------------------------------------------------------------------------------

    async def list_channels(self, call: Call) -> HttpResponse:
        gid = self._guild(call.params["guild_id"]).id
        return json_response(200, [c.to_json() for c in self.world.channels.values() if c.guild_id == gid])

    async def get_channel(self, call: Call) -> HttpResponse:
        return json_response(200, self._channel(call.params["channel_id"]).to_json())

    def _apply_channel(self, channel: WorldChannel, body: dict[str, Any]) -> None:
        name = opt_str(body, "name")
        if name is not None:
            channel.name = name
        for field in ("type", "sub_type", "position", "private_type", "speak_permission"):
            value = opt_int(body, field)
            if value is not None:
                setattr(channel, field, value)
        parent = opt_str(body, "parent_id")
        if parent is not None:
            channel.parent_id = parent
        app = opt_str(body, "application_id")
        if app is not None:
            channel.application_id = app

    async def create_channel(self, call: Call) -> HttpResponse:
        guild = self._guild(call.params["guild_id"])
        body = call.body()
        channel = self.world.add_channel(guild.id, name=require_str(body, "name"))
        self._apply_channel(channel, body)
        channel.owner_id = self.world.bot.id
        self.world.emit("CHANNEL_CREATE", {**channel.to_json(), "op_user_id": self.world.bot.id}, guild_id=guild.id)
        return json_response(200, channel.to_json())

    async def patch_channel(self, call: Call) -> HttpResponse:
        channel = self._channel(call.params["channel_id"])
        self._apply_channel(channel, call.body())
        d = {**channel.to_json(), "op_user_id": self.world.bot.id}
        self.world.emit("CHANNEL_UPDATE", d, guild_id=channel.guild_id)
        return json_response(200, channel.to_json())

    async def delete_channel(self, call: Call) -> HttpResponse:
        channel = self._channel(call.params["channel_id"])
        del self.world.channels[channel.id]
        d = {**channel.to_json(), "op_user_id": self.world.bot.id}
        self.world.emit("CHANNEL_DELETE", d, guild_id=channel.guild_id)
        return json_response(200, channel.to_json())

    # members ---------------------------------------------------------------------------------

    async def list_members(self, call: Call) -> HttpResponse:
        gid = self._guild(call.params["guild_id"]).id
        limit = query_int(call.req.query, "limit", 1, 1, 1000)
        after = call.req.query.get("after", "0") or "0"
        members = sorted(self.world.members[gid].values(), key=lambda m: int(m.user.id) if m.user.id.isdigit() else 0)
        if after.isdigit():
            members = [m for m in members if not m.user.id.isdigit() or int(m.user.id) > int(after)]
        return json_response(200, [m.to_json() for m in members[:limit]])

    async def get_member(self, call: Call) -> HttpResponse:
        return json_response(200, self._member(call.params["guild_id"], call.params["user_id"]).to_json())

    async def delete_member(self, call: Call) -> HttpResponse:
        member = self._member(call.params["guild_id"], call.params["user_id"])
        call.body()  # validate the optional {add_blacklist, delete_history_msg_days}
        del self.world.members[member.guild_id][member.user.id]
        self.world.emit("GUILD_MEMBER_REMOVE", self._member_event(member), guild_id=member.guild_id)
        return json_response(204, None)

    async def role_members(self, call: Call) -> HttpResponse:
        role = self._role(call.params["guild_id"], call.params["role_id"])
        start = query_int(call.req.query, "start_index", 0, 0, 1 << 31)
        limit = query_int(call.req.query, "limit", 100, 1, 400)
        members = [m for m in self.world.members[role.guild_id].values() if role.id in m.roles]
        page = members[start : start + limit]
        nxt = str(start + limit) if start + limit < len(members) else ""
        return json_response(200, {"data": [m.to_json() for m in page], "next": nxt})

    # roles -----------------------------------------------------------------------------------

    async def list_roles(self, call: Call) -> HttpResponse:
        gid = self._guild(call.params["guild_id"]).id
        roles = [self.world.role_json(r) for r in self.world.roles[gid].values()]
        return json_response(200, {"guild_id": gid, "roles": roles, "role_num_limit": "32"})

    def _apply_role(self, role: WorldRole, body: dict[str, Any]) -> None:
        # BD channel/role-group/post_guild_role.md: a flat {name, color, hoist}; botgo's
        # {guild_id, filter, info} wrapper is refused (protocol.md §0 "Role create/patch")
        unknown = sorted(set(body) - _ROLE_FIELDS)
        if unknown:
            raise ApiError(
                400, Code.BODY_INVALID, f"role body takes only name, color and hoist (flat), not {', '.join(unknown)}"
            )
        name = opt_str(body, "name")
        if name is not None:
            role.name = name
        color = opt_int(body, "color")
        if color is not None:
            if not 0 <= color < 1 << 32:
                raise ApiError(400, Code.BODY_INVALID, "color must be an ARGB value in 0..0xFFFFFFFF")
            role.color = color
        hoist = body.get("hoist")
        if hoist is not None:
            if hoist not in (0, 1):  # True/False compare equal to 1/0
                raise ApiError(400, Code.BODY_INVALID, "hoist must be 0 or 1")
            role.hoist = int(hoist)

    async def create_role(self, call: Call) -> HttpResponse:
        guild = self._guild(call.params["guild_id"])
        role = self.world.add_role(guild.id, "")
        self._apply_role(role, call.body())
        return json_response(200, {"role_id": role.id, "guild_id": guild.id, "role": self.world.role_json(role)})

    async def patch_role(self, call: Call) -> HttpResponse:
        role = self._role(call.params["guild_id"], call.params["role_id"])
        self._apply_role(role, call.body())
        return json_response(200, {"guild_id": role.guild_id, "role_id": role.id, "role": self.world.role_json(role)})

    async def delete_role(self, call: Call) -> HttpResponse:
        role = self._role(call.params["guild_id"], call.params["role_id"])
        del self.world.roles[role.guild_id][role.id]
        for member in self.world.members[role.guild_id].values():
            if role.id in member.roles:
                member.roles.remove(role.id)
        return json_response(204, None)

    async def add_member_role(self, call: Call) -> HttpResponse:
        role = self._role(call.params["guild_id"], call.params["role_id"])
        member = self._member(call.params["guild_id"], call.params["user_id"])
        call.body()
        if role.id not in member.roles:
            member.roles.append(role.id)
        return json_response(204, None)

    async def remove_member_role(self, call: Call) -> HttpResponse:
        role = self._role(call.params["guild_id"], call.params["role_id"])
        member = self._member(call.params["guild_id"], call.params["user_id"])
        call.body()
        if role.id in member.roles:
            member.roles.remove(role.id)
        return json_response(204, None)

    # mute and permissions --------------------------------------------------------------------

    def _mute_body(self, body: dict[str, Any]) -> dict[str, Any]:
        end = opt_str(body, "mute_end_timestamp")
        seconds = opt_str(body, "mute_seconds")
        if end is None and seconds is None:
            raise ApiError(400, Code.BODY_INVALID, "give mute_end_timestamp or mute_seconds (strings)")
        return {"mute_end_timestamp": end, "mute_seconds": seconds}

    async def mute_guild(self, call: Call) -> HttpResponse:
        gid = self._guild(call.params["guild_id"]).id
        body = call.body()
        mute = self._mute_body(body)
        user_ids = body.get("user_ids")
        if user_ids is None:
            self.world.mutes[(gid, "*")] = mute
            return json_response(204, None)
        if not isinstance(user_ids, list) or not all(isinstance(u, str) for u in user_ids):
            raise ApiError(400, Code.BODY_INVALID, "user_ids must be a list of strings")
        for uid in user_ids:
            self.world.mutes[(gid, uid)] = mute
        return json_response(200, {"user_ids": user_ids})

    async def mute_member(self, call: Call) -> HttpResponse:
        member = self._member(call.params["guild_id"], call.params["user_id"])
        self.world.mutes[(member.guild_id, member.user.id)] = self._mute_body(call.body())
        return json_response(204, None)

    def _perm_key(self, call: Call) -> tuple[str, str]:
        channel = self._channel(call.params["channel_id"])
        if "role_id" in call.params:
            return channel.id, "role:" + call.params["role_id"]
        return channel.id, call.params["user_id"]

    async def get_permissions(self, call: Call) -> HttpResponse:
        key = self._perm_key(call)
        out: dict[str, Any] = {"channel_id": key[0], "permissions": str(self.world.channel_permissions.get(key, 0))}
        if key[1].startswith("role:"):
            out["role_id"] = key[1][5:]
        else:
            out["user_id"] = key[1]
        return json_response(200, out)

    async def put_permissions(self, call: Call) -> HttpResponse:
        key = self._perm_key(call)
        body = call.body()
        bits = self.world.channel_permissions.get(key, 0)
        for name in ("add", "remove"):
            raw = opt_str(body, name) or "0"
            if raw == "None":  # nonebot-adapter-qq sends str(None) for an absent side
                raw = "0"
            if not raw.isdigit():
                raise ApiError(400, Code.BODY_INVALID, f"{name} must be a decimal string")
            bits = bits | int(raw) if name == "add" else bits & ~int(raw)
        self.world.channel_permissions[key] = bits
        return json_response(204, None)

    async def message_setting(self, call: Call) -> HttpResponse:
        self._guild(call.params["guild_id"])
        body = {"disable_create_dm": False, "disable_push_msg": False, "channel_ids": [], "channel_push_max_num": 2}
        return json_response(200, body)

    async def api_permissions(self, call: Call) -> HttpResponse:
        self._guild(call.params["guild_id"])
        routes = [(m, p) for m, p in self.ctx.router.routes() if not p.startswith(("/_emulator", "/app/"))]
        return json_response(200, {"apis": [{"path": p, "method": m, "desc": "", "auth_status": 1} for m, p in routes]})


def register_guild_routes(ctx: RestContext) -> None:
    """Register guild, channel, member and role routes."""
    g = _Guilds(ctx)
    r = ctx.route
    r("GET", "/users/@me/guilds", g.me_guilds)
    r("GET", "/guilds/{guild_id}", g.get_guild)
    r("GET", "/guilds/{guild_id}/channels", g.list_channels)
    r("POST", "/guilds/{guild_id}/channels", g.create_channel)
    r("GET", "/channels/{channel_id}", g.get_channel)
    r("PATCH", "/channels/{channel_id}", g.patch_channel)
    r("DELETE", "/channels/{channel_id}", g.delete_channel)
    r("GET", "/guilds/{guild_id}/members", g.list_members)
    r("GET", "/guilds/{guild_id}/members/{user_id}", g.get_member)
    r("DELETE", "/guilds/{guild_id}/members/{user_id}", g.delete_member)
    r("GET", "/guilds/{guild_id}/roles/{role_id}/members", g.role_members)
    r("GET", "/guilds/{guild_id}/roles", g.list_roles)
    r("POST", "/guilds/{guild_id}/roles", g.create_role)
    r("PATCH", "/guilds/{guild_id}/roles/{role_id}", g.patch_role)
    r("DELETE", "/guilds/{guild_id}/roles/{role_id}", g.delete_role)
    r("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", g.add_member_role)
    r("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", g.remove_member_role)
    r("PATCH", "/guilds/{guild_id}/mute", g.mute_guild)
    r("PATCH", "/guilds/{guild_id}/members/{user_id}/mute", g.mute_member)
    for kind in ("members/{user_id}", "roles/{role_id}"):
        r("GET", f"/channels/{{channel_id}}/{kind}/permissions", g.get_permissions)
        r("PUT", f"/channels/{{channel_id}}/{kind}/permissions", g.put_permissions)
    r("GET", "/guilds/{guild_id}/message/setting", g.message_setting)
    r("GET", "/guilds/{guild_id}/api_permission", g.api_permissions)
