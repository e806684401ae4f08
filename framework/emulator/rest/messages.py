"""Message routes: guild channels, guild DMs, groups and C2C; sends, reads and recalls (protocol.md §5)."""

from __future__ import annotations

import base64
import uuid
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from framework.emulator.http import ApiError, Code, HttpResponse, json_response, opt_str, query_int
from framework.emulator.rest.base import Call, RestContext
from framework.emulator.rest.validate import (
    MESSAGE_FIELDS,
    MSG_TYPE_NEEDS,
    check_fields,
    check_keyboard_rule,
    check_markdown,
    present,
)
from framework.emulator.world import AuditRecord, DmSession, SentMessage, World

__all__ = ["register_message_routes"]

_GUILD_PARTS = ("content", "embed", "ark", "image", "markdown", "file_image")


def _check_message(body: dict[str, Any], *, multipart: bool = False) -> None:
    """Field types of a message body (nulls accepted), nested markdown/reference/media shapes."""
    fields = MESSAGE_FIELDS if not multipart else {**MESSAGE_FIELDS, "file_image": dict}
    check_fields(body, fields)
    if not multipart and body.get("file_image") is not None:
        raise ApiError(400, Code.BODY_INVALID, "file_image must be sent as a multipart/form-data file part")
    markdown = body.get("markdown")
    if isinstance(markdown, dict):
        check_markdown(markdown)
    ref = body.get("message_reference")
    if isinstance(ref, dict):
        check_fields(ref, {"message_id": str, "ignore_get_message_error": bool}, where="message_reference.")
        if not present(ref, "message_id"):
            raise ApiError(400, Code.BODY_INVALID, "message_reference.message_id is required")
    media = body.get("media")
    if isinstance(media, dict):
        check_fields(media, {"file_info": str}, where="media.")
    seq = body.get("msg_seq")
    if isinstance(seq, int) and not 0 <= seq < 1 << 32:
        raise ApiError(400, Code.BODY_INVALID, "msg_seq must be an unsigned 32-bit integer")


def parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Fields of a ``multipart/form-data`` body (botpy sends ``file_image`` this way); files become
    ``{"filename", "size", "content_type"}``; ``msg_seq`` digits become an int. Malformed: 400/12002."""
    raw = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    msg = BytesParser(policy=HTTP).parsebytes(raw)
    if not isinstance(msg, EmailMessage) or not msg.is_multipart():
        raise ApiError(400, Code.BODY_INVALID, "malformed multipart body")
    out: dict[str, Any] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None or name == "file_image":
            out[name] = {"filename": filename or name, "size": len(data), "content_type": part.get_content_type()}
        else:
            text = data.decode("utf-8", "replace")
            out[name] = int(text) if name in ("msg_seq", "msg_type") and text.isdigit() else text
    return out


def guild_message_json(
    world: World,
    *,
    msg_id: str,
    channel_id: str,
    guild_id: str,
    body: dict[str, Any],
    author: dict[str, Any],
    member: dict[str, Any] | None,
    seq: int,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A guild ``Message`` object as the platform returns and pushes it."""
    msg: dict[str, Any] = {
        "id": msg_id,
        "channel_id": channel_id,
        "guild_id": guild_id,
        "content": body.get("content") or "",
        "timestamp": world.timestamp(),
        "author": author,
        "seq": seq,
        "seq_in_channel": str(seq),
    }
    if member is not None:
        msg["member"] = member
    for name in ("embed", "ark", "markdown", "keyboard", "message_reference"):
        if body.get(name) is not None:
            msg["embeds" if name == "embed" else name] = [body[name]] if name == "embed" else body[name]
    attachments: list[dict[str, Any]] = []
    if body.get("image"):
        attachments.append({"url": body["image"]})
    image = body.get("file_image")
    if isinstance(image, dict):
        attachments.append({"url": f"https://emulator.invalid/{msg_id}/{image['filename']}", **image})
    if attachments:
        msg["attachments"] = attachments
    if extra:
        msg.update(extra)
    return msg


class _Messages:
    def __init__(self, ctx: RestContext) -> None:
        self.ctx = ctx
        self.world = ctx.world

    # guild channels and DMs --------------------------------------------------------------------

    def _guild_send(self, call: Call, scene: str, target: str, guild_id: str, channel_id: str) -> HttpResponse:
        content_type = call.req.headers.get("content-type", "")
        multipart = content_type.lower().startswith("multipart/form-data")
        body = parse_multipart(content_type, call.req.body) if multipart else call.body()
        _check_message(body, multipart=multipart)
        check_keyboard_rule(body, None if body.get("msg_type") is None else int(body["msg_type"]))
        if not any(present(body, p) for p in _GUILD_PARTS):
            raise ApiError(400, Code.EMPTY_MESSAGE, "message is empty: give content, embed, ark, image or markdown")
        ticket = self.ctx.rules.check(scene, target, body)
        if ticket.key is None and self.ctx.config.audit_mode != "off":
            return self._hold_for_audit(scene, target, guild_id, channel_id, body)
        msg = self._store_guild_message(scene, target, guild_id, channel_id, body)
        self.ctx.rules.commit(ticket)
        return json_response(200, msg)

    def _store_guild_message(
        self, scene: str, target: str, guild_id: str, channel_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        bot = self.world.bot.to_json()
        member = {"roles": ["2"], "joined_at": self.world.timestamp()} if scene == "guild" else None
        extra: dict[str, Any] = {}
        if scene == "dm":
            session = self.world.dm_sessions[target]
            extra = {"direct_message": True, "src_guild_id": session.source_guild_id}
        msg = guild_message_json(
            self.world,
            msg_id=self.world.next_msg_hex(),
            channel_id=channel_id,
            guild_id=guild_id,
            body=body,
            author=bot,
            member=member,
            seq=self.world.next_channel_seq(target),
            extra=extra,
        )
        self.world.store_channel_message(target, msg)
        self.world.record_sent(SentMessage(msg["id"], scene, target, body, msg, self.world.now()))
        return msg

    def _hold_for_audit(
        self, scene: str, target: str, guild_id: str, channel_id: str, body: dict[str, Any]
    ) -> HttpResponse:
        """A proactive send under ``audit_mode``: answer 202 (or 200) + 304023 with an audit id, then push
        MESSAGE_AUDIT_PASS (the message is posted) or MESSAGE_AUDIT_REJECT after ``audit_delay``
        (protocol.md §0 "Audit", §3.1, §5.1)."""
        config = self.ctx.config
        record = AuditRecord(
            str(uuid.uuid4()), scene, target, channel_id, guild_id, body, config.audit_mode, self.world.now()
        )
        self.world.audits[record.audit_id] = record
        created = self.world.timestamp()

        def finish() -> None:
            d: dict[str, Any] = {
                "audit_id": record.audit_id,
                "audit_time": self.world.timestamp(),
                "channel_id": channel_id,
                "create_time": created,
                "guild_id": guild_id,
            }
            if record.outcome == "pass":
                msg = self._store_guild_message(scene, target, guild_id, channel_id, body)
                record.message_id = d["message_id"] = msg["id"]
                d["seq_in_channel"] = msg["seq_in_channel"]
                record.state = "passed"
                self.world.emit("MESSAGE_AUDIT_PASS", d, guild_id)
            else:
                record.state = "rejected"
                self.world.emit("MESSAGE_AUDIT_REJECT", d, guild_id)

        self.world.schedule(config.audit_delay, finish)
        answer = {
            "code": Code.PUSH_AWAITING_AUDIT,
            "message": "push message is waiting for audit now",
            "data": {"message_audit": {"audit_id": record.audit_id}},
        }
        return json_response(config.audit_status, answer)

    async def post_channel_message(self, call: Call) -> HttpResponse:
        channel = self.ctx.channel(call.params["channel_id"])
        return self._guild_send(call, "guild", channel.id, channel.guild_id, channel.id)

    async def create_dm(self, call: Call) -> HttpResponse:
        body = call.body()
        recipient = opt_str(body, "recipient_id")
        source = opt_str(body, "source_guild_id")
        if not recipient or not source:
            raise ApiError(400, Code.BODY_INVALID, "recipient_id and source_guild_id are required")
        if source not in self.world.guilds:
            raise ApiError(404, Code.NOT_FOUND, "source guild not found")
        session = self.world.open_dm(recipient, source)
        return json_response(
            200, {"guild_id": session.guild_id, "channel_id": session.channel_id, "create_time": session.create_time}
        )

    def _dm(self, guild_id: str) -> DmSession:
        session = self.world.dm_sessions.get(guild_id)
        if session is None:
            raise ApiError(404, Code.NOT_FOUND, "no DM session with this guild_id; POST /users/@me/dms first")
        return session

    async def post_dm_message(self, call: Call) -> HttpResponse:
        session = self._dm(call.params["guild_id"])
        return self._guild_send(call, "dm", session.guild_id, session.guild_id, session.channel_id)

    async def get_channel_message(self, call: Call) -> HttpResponse:
        msgs = self.world.channel_messages.get(call.params["channel_id"], {})
        msg = msgs.get(call.params["message_id"])
        if msg is None:
            raise ApiError(404, Code.NOT_FOUND, "message not found")
        return json_response(200, {"message": msg})

    async def list_channel_messages(self, call: Call) -> HttpResponse:
        msgs = list(self.world.channel_messages.get(call.params["channel_id"], {}).values())
        limit = query_int(call.req.query, "limit", 20, 1, 20)
        return json_response(200, msgs[-limit:])

    def _guild_recall(self, key: str, message_id: str) -> HttpResponse:
        msgs = self.world.channel_messages.get(key, {})
        if message_id not in msgs:
            raise ApiError(404, Code.NOT_FOUND, "message not found")
        del msgs[message_id]
        sent = self.world.sent_by_id.get(message_id)
        if sent is not None:
            sent.recalled = True
        return json_response(200, {})

    async def delete_channel_message(self, call: Call) -> HttpResponse:
        return self._guild_recall(call.params["channel_id"], call.params["message_id"])

    async def delete_dm_message(self, call: Call) -> HttpResponse:
        self._dm(call.params["guild_id"])
        return self._guild_recall(call.params["guild_id"], call.params["message_id"])

    # groups and C2C ---------------------------------------------------------------------------

    def _open_send(self, call: Call, scene: str, target: str) -> HttpResponse:
        body = call.body()
        _check_message(body)
        msg_type = body.get("msg_type")
        msg_type = 0 if msg_type is None else msg_type
        needs = MSG_TYPE_NEEDS.get(msg_type)
        if needs is None or (msg_type == 6 and scene != "c2c"):
            raise ApiError(400, Code.BODY_INVALID, f"msg_type {msg_type} is not supported here")
        check_keyboard_rule(body, msg_type)
        # markdown messages may carry only a keyboard (nonebot sends msg_type 2 for a bare keyboard)
        if not (present(body, needs) or (msg_type == 2 and present(body, "keyboard"))):
            raise ApiError(400, Code.EMPTY_MESSAGE, f"msg_type {msg_type} needs {needs}")
        if msg_type == 7:
            self.ctx.check_media(scene, body["media"])
        ref = body.get("message_reference")
        if isinstance(ref, dict):
            self._check_ref_idx(scene, target, ref["message_id"])
        ticket = self.ctx.rules.check(scene, target, body)
        ref_idx = self.world.new_ref_idx(scene, target)
        msg_id = self.world.next_msg_id()
        result: dict[str, Any] = {"id": msg_id, "timestamp": self.world.timestamp(), "ext_info": {"ref_idx": ref_idx}}
        self.ctx.rules.commit(ticket)
        self.world.record_sent(SentMessage(msg_id, scene, target, body, result, self.world.now()))
        return json_response(200, result)

    def _check_ref_idx(self, scene: str, target: str, message_id: str) -> None:
        """Group/C2C quotes name a ``REFIDX_...`` from ``message_scene.ext`` (``msg_idx=``) or a send's
        ``ext_info.ref_idx``, from this very chat (protocol.md §0, §5.1; the error code is UNCONFIRMED)."""
        where = self.world.ref_indexes.get(message_id)
        if where is None:
            raise ApiError(400, Code.BODY_INVALID, "message_reference.message_id must be a known REFIDX_... index")
        if where != (scene, target):
            raise ApiError(400, Code.BODY_INVALID, "message_reference.message_id belongs to another chat")

    async def post_group_message(self, call: Call) -> HttpResponse:
        group_openid = call.params["group_openid"]
        group = self.world.groups.get(group_openid)
        if group is None or not group.bot_member:
            raise ApiError(400, Code.NOT_GROUP_MEMBER, "the bot is not a member of this group")
        return self._open_send(call, "group", group_openid)

    async def post_c2c_message(self, call: Call) -> HttpResponse:
        openid = call.params["openid"]
        if openid not in self.world.c2c_users:
            raise ApiError(400, Code.NO_FRIEND_RELATION, "no friend relation with this user")
        return self._open_send(call, "c2c", openid)

    def _open_recall(self, scene: str, target: str, message_id: str) -> HttpResponse:
        sent = self.world.sent_by_id.get(message_id)
        if sent is None or sent.scene != scene or sent.target_id != target or sent.recalled:
            raise ApiError(400, Code.RECALL_BAD_MSG_ID, "message_id is not a message the bot sent here")
        if self.world.now() - sent.created_at > self.ctx.config.recall_window:
            raise ApiError(400, Code.RECALL_TOO_OLD, "messages older than 2 minutes cannot be recalled")
        sent.recalled = True
        return json_response(200, {})

    async def delete_group_message(self, call: Call) -> HttpResponse:
        return self._open_recall("group", call.params["group_openid"], call.params["message_id"])

    async def delete_c2c_message(self, call: Call) -> HttpResponse:
        return self._open_recall("c2c", call.params["openid"], call.params["message_id"])


def decode_file_data(data: str) -> bytes:
    """Decode base64 ``file_data`` of an upload; 850019 when it is not base64."""
    try:
        return base64.b64decode(data, validate=True)
    except ValueError:
        raise ApiError(400, Code.UPLOAD_BAD_FORMAT, "file_data is not valid base64") from None


def register_message_routes(ctx: RestContext) -> None:
    """Register the message routes on ``ctx``'s router."""
    m = _Messages(ctx)
    ctx.route("POST", "/channels/{channel_id}/messages", m.post_channel_message)
    ctx.route("GET", "/channels/{channel_id}/messages", m.list_channel_messages)
    ctx.route("GET", "/channels/{channel_id}/messages/{message_id}", m.get_channel_message)
    ctx.route("DELETE", "/channels/{channel_id}/messages/{message_id}", m.delete_channel_message)
    ctx.route("POST", "/users/@me/dms", m.create_dm)
    ctx.route("POST", "/dms/{guild_id}/messages", m.post_dm_message)
    ctx.route("DELETE", "/dms/{guild_id}/messages/{message_id}", m.delete_dm_message)
    ctx.route("POST", "/v2/groups/{group_openid}/messages", m.post_group_message)
    ctx.route("DELETE", "/v2/groups/{group_openid}/messages/{message_id}", m.delete_group_message)
    ctx.route("POST", "/v2/users/{openid}/messages", m.post_c2c_message)
    ctx.route("DELETE", "/v2/users/{openid}/messages/{message_id}", m.delete_c2c_message)
