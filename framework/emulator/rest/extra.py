"""Minimal models of the less-used endpoints (protocol.md §9.2, §9.3, §5.2): message edit, setting
guides, announces, schedules, audio/mic, voice members, online counts, API-permission demands, forum
threads and the chunked upload flow.

Each validates the request's shape (required fields, types) the way the other routes do and answers
with a plausible body; none of them changes what bots receive beyond that. Shapes that no primary
source documents (forum threads, chunked uploads) are marked UNCONFIRMED in ``docs/emulator.md``.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from framework.emulator.http import ApiError, Code, HttpRequest, HttpResponse, json_response, query_int
from framework.emulator.rest.base import Call, RestContext
from framework.emulator.rest.validate import check_fields, present
from framework.emulator.world import Upload, UploadSession, World, WorldChannel

__all__ = ["CHUNK_SIZE", "finish_chunked_upload", "register_extra_routes"]

#: Part size the emulator hands out in ``upload_prepare`` (UNCONFIRMED: the platform's is not published).
CHUNK_SIZE = 1 << 20
_MAX_FILE = 200 << 20  # hard limit for every file type (protocol.md §5.2, CRAWL-M §8)


def _require(body: dict[str, Any], name: str, kind: type, *, where: str = "") -> Any:
    check_fields(body, {name: kind}, where=where)
    if not present(body, name) and not (kind is int and body.get(name) == 0):
        raise ApiError(400, Code.BODY_INVALID, f"{where}{name} is required")
    return body[name]


def _ms_string(body: dict[str, Any], name: str) -> str:
    value = _require(body, name, str, where="schedule.")
    if not value.isdigit():
        raise ApiError(400, Code.BODY_INVALID, f"schedule.{name} must be a millisecond timestamp string")
    return str(value)


class _Extra:
    def __init__(self, ctx: RestContext) -> None:
        self.ctx = ctx
        self.world = ctx.world

    def _channel(self, channel_id: str) -> WorldChannel:
        return self.ctx.channel(channel_id)

    def _guild(self, guild_id: str) -> str:
        return self.ctx.guild(guild_id).id

    def _message(self, channel_id: str, message_id: str) -> dict[str, Any]:
        msg = self.world.channel_messages.get(channel_id, {}).get(message_id)
        if msg is None:
            raise ApiError(404, Code.NOT_FOUND, "message not found")
        return msg

    # message edit and setting guides -------------------------------------------------------------

    async def patch_message(self, call: Call) -> HttpResponse:
        """Edit a message the bot sent (botgo ``PatchMessage``; used to update a keyboard)."""
        channel = self._channel(call.params["channel_id"])
        msg = self._message(channel.id, call.params["message_id"])
        if msg.get("author", {}).get("id") != self.world.bot.id:
            raise ApiError(400, Code.BODY_INVALID, "only the bot's own messages can be edited")
        body = call.body()
        check_fields(body, {"content": str, "markdown": dict, "keyboard": dict, "embed": dict, "ark": dict})
        if not any(present(body, k) for k in ("content", "markdown", "keyboard", "embed", "ark")):
            raise ApiError(400, Code.EMPTY_MESSAGE, "nothing to change: give content, markdown, keyboard, embed or ark")
        for name in ("content", "markdown", "keyboard", "ark"):
            if body.get(name) is not None:
                msg[name] = body[name]
        if body.get("embed") is not None:
            msg["embeds"] = [body["embed"]]
        msg["edited_timestamp"] = self.world.timestamp()
        return json_response(200, msg)

    async def channel_setting_guide(self, call: Call) -> HttpResponse:
        channel = self._channel(call.params["channel_id"])
        body = call.body()
        check_fields(body, {"content": str, "setting_guide": dict})
        return json_response(200, self._guide_message(channel.id, channel.guild_id, body.get("content") or ""))

    async def dm_setting_guide(self, call: Call) -> HttpResponse:
        session = self.world.dm_sessions.get(call.params["guild_id"])
        if session is None:
            raise ApiError(404, Code.NOT_FOUND, "no DM session with this guild_id; POST /users/@me/dms first")
        body = call.body()
        guide = _require(body, "setting_guide", dict)
        _require(guide, "guild_id", str, where="setting_guide.")
        return json_response(200, self._guide_message(session.channel_id, session.guild_id, body.get("content") or ""))

    def _guide_message(self, channel_id: str, guild_id: str, content: str) -> dict[str, Any]:
        return {
            "id": self.world.next_msg_hex(),
            "channel_id": channel_id,
            "guild_id": guild_id,
            "content": content,
            "timestamp": self.world.timestamp(),
            "author": self.world.bot.to_json(),
        }

    # announces -------------------------------------------------------------------------------------

    async def channel_announce(self, call: Call) -> HttpResponse:
        channel = self._channel(call.params["channel_id"])
        message_id = _require(call.body(), "message_id", str)
        self._message(channel.id, message_id)
        announce = {
            "guild_id": channel.guild_id,
            "channel_id": channel.id,
            "message_id": message_id,
            "announces_type": 0,
            "recommend_channels": [],
        }
        self.world.announces[("channel", channel.id)] = announce
        return json_response(200, announce)

    async def delete_channel_announce(self, call: Call) -> HttpResponse:
        channel = self._channel(call.params["channel_id"])
        self._drop_announce(("channel", channel.id), call.params["message_id"])
        return json_response(200, {})

    async def guild_announce(self, call: Call) -> HttpResponse:
        gid = self._guild(call.params["guild_id"])
        body = call.body()
        check_fields(body, {"channel_id": str, "message_id": str, "announces_type": int, "recommend_channels": list})
        kind = body.get("announces_type") or 0
        if kind not in (0, 1):
            raise ApiError(400, Code.BODY_INVALID, "announces_type must be 0 (member) or 1 (welcome)")
        recommend = body.get("recommend_channels") or []
        for item in recommend:
            if not isinstance(item, dict):
                raise ApiError(400, Code.BODY_INVALID, "recommend_channels must be [{channel_id, introduce}]")
            check_fields(item, {"channel_id": str, "introduce": str}, where="recommend_channels[].")
            self._channel(_require(item, "channel_id", str, where="recommend_channels[]."))
        channel_id, message_id = body.get("channel_id") or "", body.get("message_id") or ""
        if message_id:
            self._message(self._channel(channel_id).id, message_id)
        elif not recommend:
            raise ApiError(400, Code.BODY_INVALID, "give message_id (with channel_id) or recommend_channels")
        announce = {
            "guild_id": gid,
            "channel_id": channel_id,
            "message_id": message_id,
            "announces_type": kind,
            "recommend_channels": recommend,
        }
        self.world.announces[("guild", gid)] = announce
        return json_response(200, announce)

    async def delete_guild_announce(self, call: Call) -> HttpResponse:
        gid = self._guild(call.params["guild_id"])
        self._drop_announce(("guild", gid), call.params["message_id"])
        return json_response(200, {})

    def _drop_announce(self, key: tuple[str, str], message_id: str) -> None:
        current = self.world.announces.get(key)
        if message_id == "all" or (current is not None and current.get("message_id") == message_id):
            self.world.announces.pop(key, None)
            return
        raise ApiError(404, Code.NOT_FOUND, "no such announcement")

    # schedules -------------------------------------------------------------------------------------

    def _schedule_body(self, call: Call) -> dict[str, Any]:
        schedule = _require(call.body(), "schedule", dict)
        check_fields(
            schedule,
            {"name": str, "description": str, "jump_channel_id": str, "remind_type": str},
            where="schedule.",
        )
        _require(schedule, "name", str, where="schedule.")
        start, end = _ms_string(schedule, "start_timestamp"), _ms_string(schedule, "end_timestamp")
        if int(end) <= int(start):
            raise ApiError(400, Code.BODY_INVALID, "schedule.end_timestamp must be after start_timestamp")
        remind = schedule.get("remind_type") or "0"
        if remind not in ("0", "1", "2", "3", "4", "5"):
            raise ApiError(400, Code.BODY_INVALID, 'schedule.remind_type must be "0".."5"')
        jump = schedule.get("jump_channel_id") or ""
        if jump and jump != "0":
            self._channel(jump)
        return {
            "name": schedule["name"],
            "description": schedule.get("description") or "",
            "start_timestamp": start,
            "end_timestamp": end,
            "jump_channel_id": jump,
            "remind_type": remind,
        }

    def _schedules(self, channel_id: str) -> dict[str, dict[str, Any]]:
        return self.world.schedules.setdefault(self._channel(channel_id).id, {})

    def _schedule(self, call: Call) -> dict[str, Any]:
        found = self._schedules(call.params["channel_id"]).get(call.params["schedule_id"])
        if found is None:
            raise ApiError(404, Code.NOT_FOUND, "schedule not found")
        return found

    async def list_schedules(self, call: Call) -> HttpResponse:
        since = query_int(call.req.query, "since", 0, 0, 1 << 62)
        items = [s for s in self._schedules(call.params["channel_id"]).values() if int(s["start_timestamp"]) >= since]
        return json_response(200, items)

    async def create_schedule(self, call: Call) -> HttpResponse:
        fields = self._schedule_body(call)
        creator = {"user": self.world.bot.to_json(), "nick": "", "joined_at": self.world.timestamp()}
        schedule = {"id": self.world.next_id(), **fields, "creator": creator}
        self._schedules(call.params["channel_id"])[schedule["id"]] = schedule
        return json_response(200, schedule)

    async def get_schedule(self, call: Call) -> HttpResponse:
        return json_response(200, self._schedule(call))

    async def patch_schedule(self, call: Call) -> HttpResponse:
        schedule = self._schedule(call)
        schedule.update(self._schedule_body(call))
        return json_response(200, schedule)

    async def delete_schedule(self, call: Call) -> HttpResponse:
        schedule = self._schedule(call)
        del self._schedules(call.params["channel_id"])[schedule["id"]]
        return json_response(204, None)

    # audio, mic, voice members, online counts ---------------------------------------------------------

    def _voice_channel(self, channel_id: str) -> WorldChannel:
        channel = self._channel(channel_id)
        if channel.type != 2:
            raise ApiError(400, Code.BODY_INVALID, "this is not a voice channel (type 2)")
        return channel

    async def audio(self, call: Call) -> HttpResponse:
        self._voice_channel(call.params["channel_id"])
        body = call.body()
        check_fields(body, {"audio_url": str, "text": str, "status": int})
        status = _require(body, "status", int)
        if status not in (0, 1, 2, 3):
            raise ApiError(400, Code.BODY_INVALID, "status must be 0 start, 1 pause, 2 resume or 3 stop")
        if status == 0 and not present(body, "audio_url"):
            raise ApiError(400, Code.BODY_INVALID, "audio_url is required to start playing")
        return json_response(200, {})

    async def mic(self, call: Call) -> HttpResponse:
        self._voice_channel(call.params["channel_id"])
        return json_response(200, {})

    async def voice_members(self, call: Call) -> HttpResponse:
        self._voice_channel(call.params["channel_id"])
        return json_response(200, [])

    async def online_nums(self, call: Call) -> HttpResponse:
        channel = self._channel(call.params["channel_id"])
        return json_response(200, {"online_nums": len(self.world.members.get(channel.guild_id, {}))})

    # API permission demand ------------------------------------------------------------------------

    async def permission_demand(self, call: Call) -> HttpResponse:
        gid = self._guild(call.params["guild_id"])
        body = call.body()
        check_fields(body, {"channel_id": str, "api_identify": dict, "desc": str})
        channel = self._channel(_require(body, "channel_id", str))
        identify = _require(body, "api_identify", dict)
        path = _require(identify, "path", str, where="api_identify.")
        method = _require(identify, "method", str, where="api_identify.")
        if method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise ApiError(400, Code.BODY_INVALID, "api_identify.method must be an HTTP method")
        if (method.upper(), path) not in self.ctx.router.routes():
            raise ApiError(400, Code.BODY_INVALID, "api_identify names no API of the platform")
        desc = body.get("desc") or ""
        answer = {
            "guild_id": gid,
            "channel_id": channel.id,
            "api_identify": {"path": path, "method": method.upper()},
            "title": f"申请 {method.upper()} {path}",
            "desc": desc,
        }
        return json_response(200, answer)

    # forum threads (UNCONFIRMED shapes, protocol.md §9.3) -------------------------------------------

    def _forum(self, channel_id: str) -> dict[str, dict[str, Any]]:
        channel = self._channel(channel_id)
        if channel.type != 10007:
            raise ApiError(400, Code.BODY_INVALID, "this is not a forum channel (type 10007)")
        return self.world.threads.setdefault(channel.id, {})

    async def list_threads(self, call: Call) -> HttpResponse:
        threads = list(self._forum(call.params["channel_id"]).values())
        return json_response(200, {"threads": threads, "is_finish": 1})

    async def get_thread(self, call: Call) -> HttpResponse:
        thread = self._forum(call.params["channel_id"]).get(call.params["thread_id"])
        if thread is None:
            raise ApiError(404, Code.NOT_FOUND, "thread not found")
        return json_response(200, {"thread": thread})

    async def put_thread(self, call: Call) -> HttpResponse:
        threads = self._forum(call.params["channel_id"])
        body = call.body()
        check_fields(body, {"title": str, "content": str, "format": int})
        title, content = _require(body, "title", str), _require(body, "content", str)
        fmt = body.get("format") or 1
        if fmt not in (1, 2, 3, 4):
            raise ApiError(400, Code.BODY_INVALID, "format must be 1 text, 2 html, 3 markdown or 4 json")
        channel = self.world.channels[call.params["channel_id"]]
        thread_id = secrets.token_hex(12)
        now = self.world.timestamp()
        threads[thread_id] = {
            "guild_id": channel.guild_id,
            "channel_id": channel.id,
            "author_id": self.world.bot.id,
            "thread_info": {"thread_id": thread_id, "title": title, "content": content, "date_time": now},
        }
        return json_response(200, {"task_id": secrets.token_hex(8), "create_time": now})

    async def delete_thread(self, call: Call) -> HttpResponse:
        threads = self._forum(call.params["channel_id"])
        if threads.pop(call.params["thread_id"], None) is None:
            raise ApiError(404, Code.NOT_FOUND, "thread not found")
        return json_response(204, None)

    # chunked upload (UNCONFIRMED shapes, protocol.md §5.2 "Live 2026 additions") --------------------

    def _upload_target(self, call: Call) -> tuple[str, str]:
        if "group_openid" in call.params:
            group = self.world.groups.get(call.params["group_openid"])
            if group is None or not group.bot_member:
                raise ApiError(400, Code.NOT_GROUP_MEMBER, "the bot is not a member of this group")
            return "group", group.openid
        openid = call.params["openid"]
        if openid not in self.world.c2c_users:
            raise ApiError(400, Code.NO_FRIEND_RELATION, "no friend relation with this user")
        return "c2c", openid

    def _session(self, call: Call, upload_id: str) -> UploadSession:
        scene, target = self._upload_target(call)
        return _session(self.world, scene, target, upload_id)

    async def upload_prepare(self, call: Call) -> HttpResponse:
        scene, target = self._upload_target(call)
        body = call.body()
        check_fields(body, {"file_type": int, "file_name": str, "file_size": int, "md5": str})
        file_type = _require(body, "file_type", int)
        if file_type not in (1, 2, 3, 4):
            raise ApiError(400, Code.UPLOAD_BAD_FORMAT, f"file_type {file_type} is not supported")
        name = _require(body, "file_name", str)
        size = _require(body, "file_size", int)
        if size <= 0:
            raise ApiError(400, Code.BODY_INVALID, "file_size must be > 0")
        if size > _MAX_FILE:
            raise ApiError(400, Code.UPLOAD_TOO_LARGE, "file is larger than 200 MB")
        parts = -(-size // CHUNK_SIZE)
        upload_id = secrets.token_hex(16)
        self.world.upload_sessions[upload_id] = UploadSession(
            upload_id, scene, target, file_type, name, size, CHUNK_SIZE, parts, created_at=self.world.now()
        )
        base = self._public_base(call.req)
        urls = [{"index": i, "presigned_url": f"{base}/_emulator/upload/{upload_id}/{i}"} for i in range(1, parts + 1)]
        return json_response(200, {"upload_id": upload_id, "block_size": CHUNK_SIZE, "parts": urls})

    def _public_base(self, req: HttpRequest) -> str:
        host = req.headers.get("host") or f"{self.ctx.config.host}:{self.ctx.config.port}"
        return f"http://{host}"

    async def upload_part_finish(self, call: Call) -> HttpResponse:
        body = call.body()
        check_fields(body, {"upload_id": str, "part_index": int})
        session = self._session(call, _require(body, "upload_id", str))
        index = _require(body, "part_index", int)
        if index not in session.received:
            raise ApiError(400, Code.BODY_INVALID, f"part {index} was not uploaded")
        session.finished.add(index)
        return json_response(200, {})


def _session(world: World, scene: str, target: str, upload_id: str) -> UploadSession:
    session = world.upload_sessions.get(upload_id)
    if session is None or (session.scene, session.target_id) != (scene, target):
        raise ApiError(400, Code.BODY_INVALID, "upload_id is unknown or belongs to another chat")
    return session


def finish_chunked_upload(ctx: RestContext, scene: str, target: str, upload_id: str) -> dict[str, Any]:
    """``POST .../files {upload_id}``: turn a completed chunked upload into a ``file_info``."""
    world = ctx.world
    session = _session(world, scene, target, upload_id)
    missing = sorted(set(range(1, session.parts + 1)) - session.finished)
    if missing:
        raise ApiError(400, Code.BODY_INVALID, f"upload is incomplete: parts {missing} not finished")
    del world.upload_sessions[upload_id]
    file_uuid = secrets.token_hex(16)
    file_info = base64.b64encode(f"emu:{scene}:{session.file_type}:{secrets.token_hex(24)}".encode()).decode()
    ttl = ctx.config.upload_ttl
    world.uploads[file_info] = Upload(file_uuid, file_info, scene, session.file_type, "chunked", world.now(), ttl)
    return {"file_uuid": file_uuid, "file_info": file_info, "ttl": ttl}


async def _put_part(world: World, req: HttpRequest, params: dict[str, str]) -> HttpResponse:
    session = world.upload_sessions.get(params["upload_id"])
    if session is None:
        raise ApiError(404, Code.NOT_FOUND, "unknown upload_id")
    if not params["index"].isdigit() or not 1 <= int(params["index"]) <= session.parts:
        raise ApiError(400, Code.BODY_INVALID, f"part index must be 1..{session.parts}")
    index = int(params["index"])
    expected = min(session.part_size, session.file_size - (index - 1) * session.part_size)
    if len(req.body) != expected:
        raise ApiError(400, Code.BODY_INVALID, f"part {index} must be {expected} bytes, got {len(req.body)}")
    session.received.add(index)
    return json_response(200, {})


def register_extra_routes(ctx: RestContext) -> None:
    """Register the routes above; the chunked-upload ``files`` step is in ``rest/media.py``."""
    x = _Extra(ctx)
    r = ctx.route
    r("PATCH", "/channels/{channel_id}/messages/{message_id}", x.patch_message)
    r("POST", "/channels/{channel_id}/settingguide", x.channel_setting_guide)
    r("POST", "/dms/{guild_id}/settingguide", x.dm_setting_guide)
    r("POST", "/channels/{channel_id}/announces", x.channel_announce)
    r("DELETE", "/channels/{channel_id}/announces/{message_id}", x.delete_channel_announce)
    r("POST", "/guilds/{guild_id}/announces", x.guild_announce)
    r("DELETE", "/guilds/{guild_id}/announces/{message_id}", x.delete_guild_announce)
    r("GET", "/channels/{channel_id}/schedules", x.list_schedules)
    r("POST", "/channels/{channel_id}/schedules", x.create_schedule)
    r("GET", "/channels/{channel_id}/schedules/{schedule_id}", x.get_schedule)
    r("PATCH", "/channels/{channel_id}/schedules/{schedule_id}", x.patch_schedule)
    r("DELETE", "/channels/{channel_id}/schedules/{schedule_id}", x.delete_schedule)
    r("POST", "/channels/{channel_id}/audio", x.audio)
    r("PUT", "/channels/{channel_id}/mic", x.mic)
    r("DELETE", "/channels/{channel_id}/mic", x.mic)
    r("GET", "/channels/{channel_id}/voice/members", x.voice_members)
    r("GET", "/channels/{channel_id}/online_nums", x.online_nums)
    r("POST", "/guilds/{guild_id}/api_permission/demand", x.permission_demand)
    r("GET", "/channels/{channel_id}/threads", x.list_threads)
    r("PUT", "/channels/{channel_id}/threads", x.put_thread)
    r("GET", "/channels/{channel_id}/threads/{thread_id}", x.get_thread)
    r("DELETE", "/channels/{channel_id}/threads/{thread_id}", x.delete_thread)
    for scope in ("/v2/users/{openid}", "/v2/groups/{group_openid}"):
        r("POST", f"{scope}/upload_prepare", x.upload_prepare)
        r("POST", f"{scope}/upload_part_finish", x.upload_part_finish)

    async def put_part(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return await _put_part(ctx.world, req, params)

    ctx.router.add("PUT", "/_emulator/upload/{upload_id}/{index}", put_part)
