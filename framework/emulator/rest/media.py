"""Rich-media uploads, interaction acks, reactions and pins (protocol.md §5.2, §3.1, §9.2)."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from framework.emulator.http import ApiError, Code, HttpResponse, json_response, opt_str
from framework.emulator.rest.base import Call, RestContext
from framework.emulator.rest.extra import finish_chunked_upload
from framework.emulator.rest.messages import decode_file_data
from framework.emulator.rest.validate import check_fields
from framework.emulator.world import SentMessage, Upload

__all__ = ["register_media_routes"]

_FILE_TYPES = {1: "image", 2: "video", 3: "voice", 4: "file"}


class _Media:
    def __init__(self, ctx: RestContext) -> None:
        self.ctx = ctx
        self.world = ctx.world

    def _upload(self, call: Call, scene: str, target: str) -> HttpResponse:
        body = call.body()
        check_fields(body, {"url": str, "file_data": str, "file_name": str, "upload_id": str, "srv_send_msg": bool})
        if body.get("upload_id") is not None:  # last step of the chunked flow (UNCONFIRMED shape)
            return json_response(200, finish_chunked_upload(self.ctx, scene, target, body["upload_id"]))
        file_type = body.get("file_type")
        if isinstance(file_type, bool) or not isinstance(file_type, int):
            raise ApiError(400, Code.BODY_INVALID, "file_type must be an integer (1 image, 2 video, 3 voice, 4 file)")
        if file_type not in _FILE_TYPES:
            raise ApiError(400, Code.UPLOAD_BAD_FORMAT, f"file_type {file_type} is not supported")
        url = opt_str(body, "url")
        file_data = opt_str(body, "file_data")
        if url:
            if not url.startswith(("http://", "https://")):
                raise ApiError(400, Code.UPLOAD_DOWNLOAD_FAILED, "url must be an http(s) URL")
            source = "url"
        elif file_data:
            if not decode_file_data(file_data):
                raise ApiError(400, Code.UPLOAD_BAD_FORMAT, "file_data is empty")
            source = "file_data"
        else:
            raise ApiError(400, Code.BODY_INVALID, "give url or file_data")
        srv_send = body.get("srv_send_msg")
        if srv_send is not None and not isinstance(srv_send, bool):
            raise ApiError(400, Code.BODY_INVALID, "srv_send_msg must be a boolean")
        if srv_send and not self.ctx.config.allow_active_messages:
            # srv_send_msg sends at once and counts as an active message, which the platform refuses
            raise ApiError(400, Code.ACTIVE_NOT_PERMITTED, "active message failed: no permission")
        file_uuid = secrets.token_hex(16)
        file_info = base64.b64encode(f"emu:{scene}:{file_type}:{secrets.token_hex(24)}".encode()).decode()
        ttl = self.ctx.config.upload_ttl
        self.world.uploads[file_info] = Upload(
            file_uuid, file_info, scene, file_type, source, self.world.now(), ttl, url=url or ""
        )
        result: dict[str, Any] = {"file_uuid": file_uuid, "file_info": file_info, "ttl": ttl}
        if srv_send:
            msg_id = self.world.next_msg_id()
            result["id"] = msg_id
            sent_body = {"msg_type": 7, "media": {"file_info": file_info}, "content": " "}
            self.world.record_sent(SentMessage(msg_id, scene, target, sent_body, dict(result), self.world.now()))
        return json_response(200, result)

    async def upload_group(self, call: Call) -> HttpResponse:
        group = self.world.groups.get(call.params["group_openid"])
        if group is None or not group.bot_member:
            raise ApiError(400, Code.NOT_GROUP_MEMBER, "the bot is not a member of this group")
        return self._upload(call, "group", group.openid)

    async def upload_c2c(self, call: Call) -> HttpResponse:
        openid = call.params["openid"]
        if openid not in self.world.c2c_users:
            raise ApiError(400, Code.NO_FRIEND_RELATION, "no friend relation with this user")
        return self._upload(call, "c2c", openid)

    async def put_interaction(self, call: Call) -> HttpResponse:
        interaction_id = call.params["interaction_id"]
        if interaction_id not in self.world.interactions:
            raise ApiError(404, Code.NOT_FOUND, "interaction not found")
        body = call.body()
        code = body.get("code", 0)
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 5:
            raise ApiError(400, Code.BODY_INVALID, "code must be an integer 0..5")
        self.world.interaction_acks[interaction_id] = code
        return json_response(200, {})

    def _channel(self, channel_id: str) -> str:
        return self.ctx.channel(channel_id).id

    def _reaction_key(self, call: Call) -> tuple[str, str, str, str]:
        p = call.params
        channel_id = self._channel(p["channel_id"])
        if p["message_id"] not in self.world.channel_messages.get(channel_id, {}):
            raise ApiError(404, Code.NOT_FOUND, "message not found")
        if p["emoji_type"] not in ("1", "2"):
            raise ApiError(400, Code.BODY_INVALID, "emoji type must be 1 (system) or 2 (emoji)")
        return channel_id, p["message_id"], p["emoji_type"], p["emoji_id"]

    async def put_reaction(self, call: Call) -> HttpResponse:
        self.world.reactions.add(self._reaction_key(call))
        return json_response(204, None)

    async def delete_reaction(self, call: Call) -> HttpResponse:
        self.world.reactions.discard(self._reaction_key(call))
        return json_response(204, None)

    async def get_reaction_users(self, call: Call) -> HttpResponse:
        key = self._reaction_key(call)
        users = [self.world.bot.to_json()] if key in self.world.reactions else []
        return json_response(200, {"users": users, "cookie": "", "is_end": True})

    def _pins_json(self, channel_id: str) -> dict[str, Any]:
        channel = self.world.channels[channel_id]
        return {
            "guild_id": channel.guild_id,
            "channel_id": channel_id,
            "message_ids": list(self.world.pins[channel_id]),
        }

    async def put_pin(self, call: Call) -> HttpResponse:
        channel_id = self._channel(call.params["channel_id"])
        message_id = call.params["message_id"]
        if message_id not in self.world.channel_messages.get(channel_id, {}):
            raise ApiError(404, Code.NOT_FOUND, "message not found")
        pins = self.world.pins.setdefault(channel_id, [])
        if message_id not in pins:
            pins.append(message_id)
        return json_response(200, self._pins_json(channel_id))

    async def delete_pin(self, call: Call) -> HttpResponse:
        channel_id = self._channel(call.params["channel_id"])
        pins = self.world.pins.setdefault(channel_id, [])
        if call.params["message_id"] in pins:
            pins.remove(call.params["message_id"])
        return json_response(204, None)

    async def delete_all_pins(self, call: Call) -> HttpResponse:
        channel_id = self._channel(call.params["channel_id"])
        self.world.pins[channel_id] = []
        return json_response(204, None)

    async def get_pins(self, call: Call) -> HttpResponse:
        channel_id = self._channel(call.params["channel_id"])
        self.world.pins.setdefault(channel_id, [])
        return json_response(200, self._pins_json(channel_id))


def register_media_routes(ctx: RestContext) -> None:
    """Register upload, interaction, reaction and pin routes."""
    m = _Media(ctx)
    ctx.route("POST", "/v2/groups/{group_openid}/files", m.upload_group)
    ctx.route("POST", "/v2/users/{openid}/files", m.upload_c2c)
    ctx.route("PUT", "/interactions/{interaction_id}", m.put_interaction)
    reaction = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_type}/{emoji_id}"
    ctx.route("PUT", reaction, m.put_reaction)
    ctx.route("DELETE", reaction, m.delete_reaction)
    ctx.route("GET", reaction, m.get_reaction_users)
    ctx.route("GET", "/channels/{channel_id}/pins", m.get_pins)
    ctx.route("PUT", "/channels/{channel_id}/pins/{message_id}", m.put_pin)
    ctx.route("DELETE", "/channels/{channel_id}/pins/{message_id}", m.delete_pin)
    ctx.route("DELETE", "/channels/{channel_id}/pins/all", m.delete_all_pins)
