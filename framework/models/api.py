"""REST request and response Structs (protocol.md §5, §9, §11).

Request bodies omit unset fields when encoded (``omit_defaults``): the client never sends JSON nulls.
"""

from __future__ import annotations

from typing import Any

import msgspec

from framework.models.common import Ark, Base, Embed, Member, MessageReference, Timestamp, User
from framework.models.events import ThreadInfo

__all__ = [
    "DMS",
    "APIPermission",
    "APIPermissionDemand",
    "APIPermissionDemandIdentify",
    "APIPermissions",
    "Announces",
    "AudioControl",
    "ChannelPermissions",
    "ChannelToCreate",
    "ChannelToPatch",
    "CreatedRole",
    "ErrorBody",
    "FileToUpload",
    "ForumThread",
    "Gateway",
    "GatewayBot",
    "GuildRoles",
    "InteractionAck",
    "Keyboard",
    "Markdown",
    "MarkdownParam",
    "MarkdownStyle",
    "Media",
    "MediaInfo",
    "MessageAudit",
    "MessageSetting",
    "MessageToCreate",
    "MsgType",
    "MuteResult",
    "OnlineNums",
    "PinsMessage",
    "ReactionUsers",
    "RecommendChannel",
    "Role",
    "RoleMembers",
    "Schedule",
    "SendResult",
    "SessionStartLimit",
    "ThreadCreated",
    "ThreadDetail",
    "ThreadList",
    "TokenRequest",
    "TokenResponse",
    "UpdatedRole",
    "UploadPart",
    "UploadPrepared",
    "WebhookSession",
]


class MsgType:
    """``msg_type`` values for group/C2C sends."""

    TEXT = 0
    MARKDOWN = 2
    ARK = 3
    EMBED = 4
    INPUT_NOTIFY = 6
    MEDIA = 7


class MarkdownParam(Base):
    key: str
    values: list[str]


class MarkdownStyle(Base):
    """Layout of a markdown message (botgo ``dto``): ``main_font_size`` small/middle/large,
    ``layout`` e.g. ``"hide_avatar_and_center"``."""

    main_font_size: str | None = None
    layout: str | None = None


class Markdown(Base):
    """Raw markdown (``content``) or a template (``custom_template_id`` + ``params``), not both."""

    content: str | None = None
    custom_template_id: str | None = None
    params: list[MarkdownParam] | None = None
    style: MarkdownStyle | None = None
    process_msg: int | None = None
    """Listed by botgo (protocol.md §11.2) without a documented meaning or type (UNCONFIRMED)."""


class Keyboard(Base):
    """A template keyboard (``id``) or an inline one (``content`` = ``{"rows": [{"buttons": [...]}]}``)."""

    id: str | None = None
    content: dict[str, Any] | None = None


class Media(Base):
    """A rich-media reference obtained from an upload (``file_info``)."""

    file_info: str


class MessageToCreate(Base):
    """A message to send to a guild channel, DM, group or C2C chat.

    Passive replies set ``msg_id`` (a user message) or ``event_id`` (an event's envelope id) and a
    ``msg_seq`` that differs for each reply to the same id.
    """

    content: str | None = None
    msg_type: int | None = None
    markdown: Markdown | None = None
    keyboard: Keyboard | None = None
    ark: Ark | None = None
    embed: Embed | None = None
    media: Media | None = None
    image: str | None = None
    message_reference: MessageReference | None = None
    msg_id: str | None = None
    event_id: str | None = None
    msg_seq: int | None = None
    input_notify: dict[str, Any] | None = None
    """``{"input_type": 1 typing / 2 cancel, "input_second": n}`` with ``msg_type`` 6 (C2C)."""
    is_wakeup: bool | None = None
    """C2C "interactive recall" message (live docs 2026); exclusive with ``msg_id``/``event_id``."""
    subscribe_id: str | None = None
    prompt_keyboard: dict[str, Any] | None = None
    action_button: dict[str, Any] | None = None
    stream: dict[str, Any] | None = None
    """``{state, id, index, reset}`` for streamed (AI) replies."""
    timestamp: int | None = None
    """Sent by some SDKs (botgo marks it for removal); the platform's use of it is undocumented."""


class SendResult(Base):
    """Answer to a group/C2C send (guild sends answer a full ``Message``)."""

    id: str = ""
    timestamp: Timestamp = ""
    ext_info: dict[str, Any] | None = None


class MediaInfo(Base):
    """Answer to a rich-media upload: pass ``file_info`` in ``Media``; ``ttl`` 0 means long-lived."""

    file_uuid: str = ""
    file_info: str = ""
    ttl: int = 0
    id: str | None = None


class SessionStartLimit(Base):
    total: int = 0
    remaining: int = 0
    reset_after: int = 0
    """Milliseconds until ``remaining`` resets."""
    max_concurrency: int = 1
    """Sessions that may identify per 5-second window."""


class GatewayBot(Base):
    """Answer of ``GET /gateway/bot``."""

    url: str
    shards: int = 1
    session_start_limit: SessionStartLimit = msgspec.field(default_factory=SessionStartLimit)


class TokenResponse(Base):
    """Answer of the token endpoint. ``expires_in`` arrives as a string on the real platform."""

    access_token: str = ""
    expires_in: str | int = 0
    code: int = 0
    message: str = ""

    def __repr__(self) -> str:  # never show the token
        return f"TokenResponse(access_token=<redacted>, expires_in={self.expires_in!r}, code={self.code})"


class TokenRequest(Base):
    """Body of the token request. ``repr`` never shows the secret."""

    appId: str
    clientSecret: str

    def __repr__(self) -> str:
        return f"TokenRequest(appId={self.appId!r}, clientSecret=<redacted>)"


class MessageAudit(Base):
    audit_id: str = ""


class _ErrorData(Base):
    message_audit: MessageAudit | None = None


class ErrorBody(Base):
    """A REST error body: ``{message, code, err_code, trace_id}`` (+ ``data.message_audit`` for audits).

    ``code`` is the older field (to be retired), ``err_code`` the 2026 one; real answers carry both.
    """

    message: str = ""
    code: int = 0
    err_code: int = 0
    trace_id: str = ""
    data: _ErrorData | None = None

    @property
    def effective_code(self) -> int:
        """``err_code`` when set, else ``code``."""
        return self.err_code or self.code

    @property
    def audit_id(self) -> str:
        """The audit id of a message waiting for audit (304023/304024), or ``""``."""
        if self.data is not None and self.data.message_audit is not None:
            return self.data.message_audit.audit_id
        return ""


class Gateway(Base):
    """Answer of ``GET /gateway``."""

    url: str


class FileToUpload(Base):
    """Body of ``POST /v2/{users|groups}/{id}/files``: ``url`` or base64 ``file_data``.

    ``file_type``: 1 image, 2 video, 3 voice (silk), 4 file.
    """

    file_type: int | None = None
    url: str | None = None
    file_data: str | None = None
    srv_send_msg: bool | None = None
    file_name: str | None = None
    """The file's name, shown for ``file_type`` 4 (live docs 2026, protocol.md §5.2)."""
    upload_id: str | None = None
    """Last step of a chunked upload (:class:`UploadPrepared`); the shape is UNCONFIRMED."""


class UploadPart(Base):
    """One part of a chunked upload: PUT ``block_size`` bytes (the last part: the rest) to ``presigned_url``."""

    index: int = 0
    presigned_url: str = ""


class UploadPrepared(Base):
    """Answer of ``POST /v2/{users|groups}/{id}/upload_prepare`` (UNCONFIRMED shape, protocol.md §5.2)."""

    upload_id: str = ""
    block_size: int = 0
    parts: list[UploadPart] = msgspec.field(default_factory=list)


class OnlineNums(Base):
    """Answer of ``GET /channels/{channel_id}/online_nums``."""

    online_nums: int = 0


class DMS(Base):
    """A guild direct-message session (``POST /users/@me/dms``)."""

    guild_id: str = ""
    channel_id: str = ""
    create_time: Timestamp = ""


class InteractionAck(Base):
    """Body of ``PUT /interactions/{id}``: 0 ok, 1 failed, 2 too frequent, 3 duplicate, 4 no permission,
    5 admin only. ``code`` has no default so that ``0`` is always sent."""

    code: int


class ChannelToCreate(Base):
    """Body of ``POST /guilds/{guild_id}/channels``."""

    name: str
    type: int
    """0 text, 2 voice, 4 category, 10005 live, 10006 application, 10007 forum (always sent)."""
    sub_type: int | None = None
    position: int | None = None
    parent_id: str | None = None
    private_type: int | None = None
    private_user_ids: list[str] | None = None
    speak_permission: int | None = None
    application_id: str | None = None


class ChannelToPatch(Base):
    """Body of ``PATCH /channels/{channel_id}``: only the fields set are changed."""

    name: str | None = None
    position: int | None = None
    parent_id: str | None = None
    private_type: int | None = None
    speak_permission: int | None = None


class ChannelPermissions(Base):
    """Permissions of a user or role in a channel (``permissions`` is a decimal bit string)."""

    channel_id: str = ""
    user_id: str = ""
    role_id: str = ""
    permissions: str = ""


class Role(Base):
    """A guild role. ``color`` is ARGB as an integer; ``hoist`` 1 shows members separately."""

    id: str = ""
    name: str = ""
    color: int = 0
    hoist: int = 0
    number: int = 0
    member_limit: int = 0


class GuildRoles(Base):
    """Answer of ``GET /guilds/{guild_id}/roles``."""

    guild_id: str = ""
    roles: list[Role] = msgspec.field(default_factory=list)
    role_num_limit: str = ""


class CreatedRole(Base):
    """Answer of ``POST /guilds/{guild_id}/roles``."""

    role_id: str = ""
    role: Role | None = None


class UpdatedRole(Base):
    """Answer of ``PATCH /guilds/{guild_id}/roles/{role_id}``."""

    guild_id: str = ""
    role_id: str = ""
    role: Role | None = None


class RoleMembers(Base):
    """Answer of ``GET /guilds/{guild_id}/roles/{role_id}/members``; ``next`` is the next start index."""

    data: list[Member] = msgspec.field(default_factory=list)
    next: str = ""


class MuteResult(Base):
    """Answer of a multi-member mute: the users that were muted."""

    user_ids: list[str] = msgspec.field(default_factory=list)


class RecommendChannel(Base):
    channel_id: str = ""
    introduce: str = ""


class Announces(Base):
    """A channel or guild announcement."""

    guild_id: str = ""
    channel_id: str = ""
    message_id: str = ""
    announces_type: int = 0
    recommend_channels: list[RecommendChannel] = msgspec.field(default_factory=list)


class Schedule(Base):
    """A channel schedule; timestamps are milliseconds as strings. ``remind_type`` "0".."5"."""

    id: str = ""
    name: str = ""
    description: str = ""
    start_timestamp: str = ""
    end_timestamp: str = ""
    creator: Member | None = None
    jump_channel_id: str = ""
    remind_type: str = ""


class AudioControl(Base):
    """Body of ``POST /channels/{channel_id}/audio``; ``status`` 0 start, 1 pause, 2 resume, 3 stop."""

    status: int
    """Always sent (0 is a meaningful value)."""
    audio_url: str = ""
    text: str = ""


class APIPermission(Base):
    """One API and whether the guild granted it (``auth_status`` 1)."""

    path: str = ""
    method: str = ""
    desc: str = ""
    auth_status: int = 0


class APIPermissions(Base):
    apis: list[APIPermission] = msgspec.field(default_factory=list)


class APIPermissionDemandIdentify(Base):
    path: str = ""
    method: str = ""


class APIPermissionDemand(Base):
    """Answer of a permission demand."""

    guild_id: str = ""
    channel_id: str = ""
    api_identify: APIPermissionDemandIdentify | None = None
    title: str = ""
    desc: str = ""


class PinsMessage(Base):
    """Pinned messages of a channel."""

    guild_id: str = ""
    channel_id: str = ""
    message_ids: list[str] = msgspec.field(default_factory=list)


class ReactionUsers(Base):
    """One page of users who reacted; pass ``cookie`` to get the next page until ``is_end``."""

    users: list[User] = msgspec.field(default_factory=list)
    cookie: str = ""
    is_end: bool = False


class MessageSetting(Base):
    """A guild's message settings."""

    disable_create_dm: bool = False
    disable_push_msg: bool = False
    channel_ids: list[str] = msgspec.field(default_factory=list)
    channel_push_max_num: int = 0


class ForumThread(Base):
    """A forum thread (REST; shape as in the forum events, unverified against the official docs)."""

    guild_id: str = ""
    channel_id: str = ""
    author_id: str = ""
    thread_info: ThreadInfo = msgspec.field(default_factory=ThreadInfo)


class ThreadList(Base):
    """Answer of ``GET /channels/{channel_id}/threads``; ``is_finish`` 1 on the last page."""

    threads: list[ForumThread] = msgspec.field(default_factory=list)
    is_finish: int = 0


class ThreadDetail(Base):
    """Answer of ``GET /channels/{channel_id}/threads/{thread_id}``."""

    thread: ForumThread = msgspec.field(default_factory=ForumThread)


class ThreadCreated(Base):
    """Answer of ``PUT /channels/{channel_id}/threads`` (publishing is asynchronous)."""

    task_id: str = ""
    create_time: Timestamp = ""


class WebhookSession(Base):
    """A deprecated (2022) HTTP-gateway session."""

    app_id: str = ""
    session_id: str = ""
    callback_url: str = ""
    env: str = ""
    intents: int = 0
    last_heartbeat_time: Timestamp = ""
    state: int = 0
    shards: list[int] = msgspec.field(default_factory=list)
    version: int = 0
    bot: User | None = None
    shard: list[int] = msgspec.field(default_factory=list)
