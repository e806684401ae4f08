"""The emulated platform's state: guilds, channels, members, roles, groups, C2C users, messages,
uploads, the log of API calls, event emission and the gateway's session-start limit.

Everything is in memory and synchronous; the REST layer, the control API, the gateway and the
webhook sender all read and change one :class:`World`. Seed it from tests with ``add_guild``,
``add_channel``, ``add_member``, ``add_role``, ``add_group``, ``add_group_member``, ``add_c2c_user``.

This module deliberately does not reuse ``framework.models``: the emulator is an independent oracle
for the client, so the platform's objects are modelled here a second time, from the protocol notes,
as plain dataclasses holding what the platform holds. A mistake in the client's models then shows up
as a disagreement in the tests instead of being shared by both sides. The classes are called
``World*`` (``WorldGuild``, ``WorldChannel``, ``WorldMember``, ...) so that they never shadow the
client's model names in an import or a traceback.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import count
from typing import Any

import anyio

from framework.clock import Clock
from framework.emulator.config import EmulatorConfig
from framework.emulator.feed import Feed

__all__ = [
    "ApiCall",
    "AuditRecord",
    "DmSession",
    "EmittedEvent",
    "EventListener",
    "EventRecord",
    "RestFault",
    "SentMessage",
    "SessionLimit",
    "Timer",
    "Upload",
    "UploadSession",
    "UserMessage",
    "World",
    "WorldC2CUser",
    "WorldChannel",
    "WorldGroup",
    "WorldGroupMember",
    "WorldGuild",
    "WorldMember",
    "WorldRole",
    "WorldUser",
    "rfc3339",
]

_CST = timezone(timedelta(hours=8))
_log = logging.getLogger("framework.emulator.world")


def rfc3339(unix: float) -> str:
    """``unix`` as an RFC 3339 string in UTC+8, like the platform's timestamps."""
    return datetime.fromtimestamp(int(unix), _CST).isoformat()


def new_openid() -> str:
    """A 32-hex-digit upper-case openid like the platform's."""
    return secrets.token_hex(16).upper()


@dataclass
class WorldUser:
    id: str
    username: str = ""
    avatar: str = ""
    bot: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "avatar": self.avatar, "bot": self.bot}


@dataclass
class WorldGuild:
    id: str
    name: str = ""
    owner_id: str = ""
    description: str = ""
    icon: str = ""
    joined_at: str = ""
    max_members: int = 1000


@dataclass
class WorldChannel:
    id: str
    guild_id: str
    name: str = ""
    type: int = 0
    sub_type: int = 0
    position: int = 0
    parent_id: str = ""
    owner_id: str = ""
    private_type: int = 0
    speak_permission: int = 1
    application_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "guild_id": self.guild_id,
            "name": self.name,
            "type": self.type,
            "sub_type": self.sub_type,
            "position": self.position,
            "parent_id": self.parent_id,
            "owner_id": self.owner_id,
            "private_type": self.private_type,
            "speak_permission": self.speak_permission,
            "application_id": self.application_id,
        }


@dataclass
class WorldMember:
    guild_id: str
    user: WorldUser
    nick: str = ""
    roles: list[str] = field(default_factory=lambda: ["1"])
    joined_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user.to_json(), "nick": self.nick, "roles": list(self.roles), "joined_at": self.joined_at}


@dataclass
class WorldRole:
    id: str
    guild_id: str
    name: str = ""
    color: int = 4278245297
    hoist: int = 0
    member_limit: int = 0

    def to_json(self, number: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "color": self.color,
            "hoist": self.hoist,
            "number": number,
            "member_limit": self.member_limit,
        }


@dataclass
class WorldGroupMember:
    openid: str
    """The member's openid in this group (``member_openid``)."""
    role: str = "member"
    """``member``, ``admin`` or ``owner``."""
    union_openid: str = ""


@dataclass
class WorldGroup:
    openid: str
    name: str = ""
    members: dict[str, WorldGroupMember] = field(default_factory=dict)
    bot_member: bool = True
    """Whether the bot is in the group (sends to a group without the bot fail with 40034101)."""
    accepts_active: bool = True


@dataclass
class WorldC2CUser:
    openid: str
    union_openid: str = ""
    nick: str = ""
    friend: bool = True
    accepts_active: bool = True


@dataclass
class DmSession:
    guild_id: str
    channel_id: str
    recipient_id: str
    source_guild_id: str
    create_time: str


@dataclass
class UserMessage:
    """A message a user sent to the bot (what ``msg_id`` replies point at)."""

    id: str
    scene: str
    """``guild`` (channel id target), ``dm`` (DM guild id), ``group`` or ``c2c``."""
    target_id: str
    author_id: str
    created_at: float
    data: dict[str, Any]


@dataclass
class EventRecord:
    """An emitted event, kept for ``event_id`` replies."""

    type: str
    id: str
    created_at: float
    scene: str | None = None
    target_id: str | None = None


@dataclass
class SentMessage:
    """A message the bot sent, as the bot sent it (``body``) and as the platform answered (``result``)."""

    id: str
    scene: str
    target_id: str
    body: dict[str, Any]
    result: dict[str, Any]
    created_at: float
    recalled: bool = False

    @property
    def content(self) -> str | None:
        value = self.body.get("content")
        return value if isinstance(value, str) else None


@dataclass
class ApiCall:
    """One REST call the bot made."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    """Decoded JSON body, the raw text when it is not JSON, or None when empty."""
    status: int
    app_id: str | None
    at: float
    headers: dict[str, str] = field(default_factory=dict)
    """Request headers (lower-case names); the token in ``authorization`` is replaced by ``***``."""

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "status": self.status,
            "app_id": self.app_id,
            "at": self.at,
        }


@dataclass
class Upload:
    file_uuid: str
    file_info: str
    scene: str
    """``group`` or ``c2c``: a file_info works only in the scene it was uploaded for."""
    file_type: int
    source: str
    """``url`` or ``file_data``."""
    created_at: float
    ttl: int
    url: str = ""
    """The URL the file was uploaded from (``source == "url"``), shown by the web page."""


@dataclass
class UploadSession:
    """A chunked upload between ``upload_prepare`` and ``files {upload_id}`` (UNCONFIRMED shape, protocol.md §5.2)."""

    upload_id: str
    scene: str
    target_id: str
    file_type: int
    file_name: str
    file_size: int
    part_size: int
    parts: int
    received: set[int] = field(default_factory=set)
    """Parts PUT to their presigned URL."""
    finished: set[int] = field(default_factory=set)
    """Parts confirmed with ``upload_part_finish``."""
    created_at: float = 0.0


@dataclass
class AuditRecord:
    """A proactive guild/DM send held for audit (protocol.md §0 "Audit")."""

    audit_id: str
    scene: str
    target_id: str
    channel_id: str
    guild_id: str
    body: dict[str, Any]
    outcome: str
    """``pass`` or ``reject``; ``state`` becomes ``passed``/``rejected`` when the event is pushed."""
    created_at: float
    state: str = "pending"
    message_id: str = ""


@dataclass
class Timer:
    """Work the world does later (an audit result): ``fn()`` runs when the clock reaches ``due``."""

    due: float
    fn: Callable[[], None]


@dataclass
class RestFault:
    """Answer the next ``remaining`` REST calls (whose path starts with ``path_prefix``) with ``status``/``code``."""

    status: int
    remaining: int
    code: int
    message: str
    path_prefix: str = ""


@dataclass(frozen=True)
class EmittedEvent:
    """An event the platform pushes: ``type`` (the envelope ``t``), envelope ``id``, payload ``d``."""

    type: str
    id: str
    d: dict[str, Any]
    guild_id: str | None = None
    """For shard routing ((guild_id >> 22) % shards); None for group/C2C events."""

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "d": self.d}


EventListener = Callable[[EmittedEvent], None]


class SessionLimit:
    """``session_start_limit`` of ``/gateway/bot``: ``consume()`` on each identify counts ``remaining`` down."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        cfg = config.session_start_limit
        self._clock = clock
        self.total = cfg.total
        self._initial = cfg.remaining
        self._remaining = cfg.remaining
        self._period_ms = cfg.reset_after_ms
        self._reset_at = clock.monotonic() + cfg.reset_after_ms / 1000
        self.max_concurrency = cfg.max_concurrency

    def _roll(self) -> None:
        now = self._clock.monotonic()
        if now >= self._reset_at:
            self._remaining = self.total
            period = max(self._period_ms / 1000, 0.001)
            while self._reset_at <= now:
                self._reset_at += period

    @property
    def remaining(self) -> int:
        self._roll()
        return self._remaining

    @remaining.setter
    def remaining(self, value: int) -> None:
        self._remaining = value

    @property
    def reset_after_ms(self) -> int:
        self._roll()
        return max(0, int((self._reset_at - self._clock.monotonic()) * 1000))

    def consume(self) -> bool:
        """Take one session start; False when none is left."""
        self._roll()
        if self._remaining <= 0:
            return False
        self._remaining -= 1
        return True

    def to_json(self) -> dict[str, int]:
        return {
            "total": self.total,
            "remaining": self.remaining,
            "reset_after": self.reset_after_ms,
            "max_concurrency": self.max_concurrency,
        }


class World:
    """All state of the emulated platform."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.bot = WorldUser(config.bot_id, config.bot_username, config.bot_avatar, bot=True)
        self.guilds: dict[str, WorldGuild] = {}
        self.channels: dict[str, WorldChannel] = {}
        self.members: dict[str, dict[str, WorldMember]] = {}  # guild_id -> user_id -> member
        self.roles: dict[str, dict[str, WorldRole]] = {}  # guild_id -> role_id -> role
        self.groups: dict[str, WorldGroup] = {}
        self.c2c_users: dict[str, WorldC2CUser] = {}
        self.dm_sessions: dict[str, DmSession] = {}  # dm guild_id -> session
        self.user_messages: dict[str, UserMessage] = {}
        self.events: dict[str, EventRecord] = {}
        self.sent_messages: dict[tuple[str, str], list[SentMessage]] = {}
        self.sent_by_id: dict[str, SentMessage] = {}
        self.channel_messages: dict[str, dict[str, dict[str, Any]]] = {}  # channel/dm guild -> id -> Message
        self.api_calls: list[ApiCall] = []
        self.uploads: dict[str, Upload] = {}  # file_info -> upload
        self.reactions: set[tuple[str, str, str, str]] = set()  # channel, message, emoji type, emoji id
        self.pins: dict[str, list[str]] = {}  # channel_id -> message ids
        self.interactions: dict[str, dict[str, Any]] = {}  # interaction id -> INTERACTION_CREATE d
        self.interaction_acks: dict[str, int] = {}  # interaction id -> ack code
        self.mutes: dict[tuple[str, str], dict[str, Any]] = {}  # (guild_id, user_id or "*") -> mute body
        self.channel_permissions: dict[tuple[str, str], int] = {}  # (channel_id, user or "role:<id>") -> bits
        self.reply_counts: dict[str, int] = {}  # msg_id / event_id -> replies so far
        self.reply_seqs: set[tuple[str, int]] = set()  # (msg_id or event_id, msg_seq) already used
        self.rest_faults: list[RestFault] = []
        self.ref_indexes: dict[str, tuple[str, str]] = {}  # REFIDX_... -> (scene, target_id)
        self.audits: dict[str, AuditRecord] = {}
        self.upload_sessions: dict[str, UploadSession] = {}
        self.announces: dict[tuple[str, str], dict[str, Any]] = {}  # ("channel"|"guild", id) -> announce
        self.schedules: dict[str, dict[str, dict[str, Any]]] = {}  # channel_id -> schedule id -> schedule
        self.threads: dict[str, dict[str, dict[str, Any]]] = {}  # forum channel_id -> thread id -> thread
        self.timers: list[Timer] = []
        self._timer_scope: anyio.CancelScope | None = None
        self.session_limit = SessionLimit(config, clock)
        self.feed = Feed(clock)
        """What the web page shows live (gateway frames, REST calls, events, the bot's messages)."""
        self.listener_errors: list[BaseException] = []
        self._listeners: list[EventListener] = []
        self._ids = count(1)
        self._channel_seq: dict[str, int] = {}

    # ids and time -------------------------------------------------------------------------------

    def next_id(self) -> str:
        """A fresh numeric id (guild-style snowflake-ish string)."""
        return str(10_000_000_000 + next(self._ids))

    def next_msg_hex(self) -> str:
        """A fresh guild message id (hex, like the platform's ``08e0...`` ids)."""
        return "08" + secrets.token_hex(20)

    def next_msg_id(self) -> str:
        """A fresh group/C2C message id in the platform's ``ROBOT1.0_`` form."""
        return "ROBOT1.0_" + secrets.token_urlsafe(24)

    def now(self) -> float:
        """Seconds on the clock's monotonic scale (windows and TTLs)."""
        return self.clock.monotonic()

    def timestamp(self) -> str:
        """The current wall time as the platform formats it."""
        return rfc3339(self.clock.time())

    # seeding ------------------------------------------------------------------------------------

    def add_guild(
        self, guild_id: str | None = None, name: str = "Emulated guild", *, owner_id: str = "", description: str = ""
    ) -> WorldGuild:
        """Add a guild the bot is in."""
        gid = guild_id or self.next_id()
        guild = WorldGuild(gid, name, owner_id or self.next_id(), description, joined_at=self.timestamp())
        self.guilds[gid] = guild
        self.members.setdefault(gid, {})
        self.roles.setdefault(gid, {})
        for rid, rname in (("1", "普通成员"), ("2", "管理员"), ("4", "创建者"), ("5", "子频道管理员")):
            self.roles[gid].setdefault(rid, WorldRole(rid, gid, rname))
        return guild

    def add_channel(
        self, guild_id: str, channel_id: str | None = None, name: str = "general", *, type: int = 0, sub_type: int = 0
    ) -> WorldChannel:
        """Add a channel to an existing guild."""
        self._guild(guild_id)
        cid = channel_id or self.next_id()
        channel = WorldChannel(cid, guild_id, name, type, sub_type, position=len(self.channels) + 1)
        self.channels[cid] = channel
        return channel

    def add_member(
        self,
        guild_id: str,
        user_id: str | None = None,
        username: str = "user",
        *,
        roles: list[str] | None = None,
        nick: str = "",
        bot: bool = False,
    ) -> WorldMember:
        """Add (or replace) a guild member."""
        self._guild(guild_id)
        uid = user_id or self.next_id()
        member = WorldMember(
            guild_id,
            WorldUser(uid, username, f"http://thirdqq.qlogo.cn/{uid}", bot),
            nick,
            list(roles) if roles is not None else ["1"],
            self.timestamp(),
        )
        self.members[guild_id][uid] = member
        return member

    def add_role(self, guild_id: str, name: str, *, role_id: str | None = None, color: int = 4278245297) -> WorldRole:
        """Add a role to a guild."""
        self._guild(guild_id)
        rid = role_id or self.next_id()
        role = WorldRole(rid, guild_id, name, color)
        self.roles[guild_id][rid] = role
        return role

    def add_group(
        self, group_openid: str | None = None, name: str = "Emulated group", *, bot_member: bool = True
    ) -> WorldGroup:
        """Add a group (the bot is a member unless ``bot_member=False``)."""
        gid = group_openid or new_openid()
        group = self.groups.get(gid) or WorldGroup(gid, name)
        group.bot_member = bot_member
        self.groups[gid] = group
        return group

    def add_group_member(
        self, group_openid: str, member_openid: str | None = None, role: str = "member"
    ) -> WorldGroupMember:
        """Add a member to a group (created on demand)."""
        group = self.groups.get(group_openid) or self.add_group(group_openid)
        mid = member_openid or new_openid()
        member = WorldGroupMember(mid, role, union_openid=mid)
        group.members[mid] = member
        return member

    def add_c2c_user(self, openid: str | None = None, *, nick: str = "", friend: bool = True) -> WorldC2CUser:
        """Add a user who can chat with the bot one to one."""
        oid = openid or new_openid()
        user = self.c2c_users.get(oid) or WorldC2CUser(oid, union_openid=oid, nick=nick)
        user.friend = friend
        self.c2c_users[oid] = user
        return user

    def _guild(self, guild_id: str) -> WorldGuild:
        guild = self.guilds.get(guild_id)
        if guild is None:
            raise KeyError(f"no guild {guild_id!r} in the world; add_guild() first")
        return guild

    # views ---------------------------------------------------------------------------------------

    def guild_json(self, guild: WorldGuild) -> dict[str, Any]:
        return {
            "id": guild.id,
            "name": guild.name,
            "icon": guild.icon,
            "owner_id": guild.owner_id,
            "owner": guild.owner_id == self.bot.id,
            "member_count": len(self.members.get(guild.id, {})),
            "max_members": guild.max_members,
            "description": guild.description,
            "joined_at": guild.joined_at,
        }

    def role_json(self, role: WorldRole) -> dict[str, Any]:
        number = sum(1 for m in self.members.get(role.guild_id, {}).values() if role.id in m.roles)
        return role.to_json(number)

    # messages ------------------------------------------------------------------------------------

    def record_user_message(
        self, target_id: str, msg_id: str, scene: str, author_id: str, data: dict[str, Any]
    ) -> None:
        """Remember a message a user sent, so ``msg_id`` replies to it can be checked."""
        self.user_messages[msg_id] = UserMessage(msg_id, scene, target_id, author_id, self.now(), data)

    def next_channel_seq(self, key: str) -> int:
        """The next ``seq`` of a channel (or DM session)."""
        self._channel_seq[key] = self._channel_seq.get(key, 0) + 1
        return self._channel_seq[key]

    def record_sent(self, msg: SentMessage) -> None:
        self.sent_messages.setdefault((msg.scene, msg.target_id), []).append(msg)
        self.sent_by_id[msg.id] = msg
        media = msg.body.get("media")
        upload = self.uploads.get(str(media.get("file_info"))) if isinstance(media, dict) else None
        self.feed.sent(
            {
                "msg_id": msg.id,
                "scene": msg.scene,
                "target_id": msg.target_id,
                "body": msg.body,
                "media_url": upload.url if upload is not None else "",
                "media_type": upload.file_type if upload is not None else 0,
            }
        )

    def sent(self, scene: str, target_id: str) -> list[SentMessage]:
        """What the bot sent to ``target_id`` in ``scene`` (``guild``, ``dm``, ``group``, ``c2c``), in order."""
        return list(self.sent_messages.get((scene, target_id), []))

    def open_dm(self, recipient_id: str, source_guild_id: str) -> DmSession:
        """The DM session between the bot and ``recipient_id`` (created on first use)."""
        for session in self.dm_sessions.values():
            if session.recipient_id == recipient_id and session.source_guild_id == source_guild_id:
                return session
        session = DmSession(self.next_id(), self.next_id(), recipient_id, source_guild_id, str(int(self.clock.time())))
        self.dm_sessions[session.guild_id] = session
        return session

    def store_channel_message(self, key: str, message: dict[str, Any]) -> None:
        self.channel_messages.setdefault(key, {})[str(message["id"])] = message

    def new_ref_idx(self, scene: str, target_id: str) -> str:
        """A fresh ``REFIDX_...`` quote index for a group/C2C message, quotable in that chat only."""
        idx = "REFIDX_" + secrets.token_urlsafe(12)
        self.ref_indexes[idx] = (scene, target_id)
        return idx

    def message_scene(self, scene: str, target_id: str) -> dict[str, Any]:
        """``message_scene`` of a pushed group/C2C message: ``ext`` carries ``msg_idx=REFIDX_...``
        (protocol.md §0 and §3.1, CRAWL-E §3.1); quote it with ``message_reference.message_id``."""
        return {"source": "default", "callback_data": "", "ext": [f"msg_idx={self.new_ref_idx(scene, target_id)}"]}

    # timers --------------------------------------------------------------------------------------

    def schedule(self, delay: float, fn: Callable[[], None]) -> Timer:
        """Run ``fn()`` ``delay`` seconds from now (by the world's clock) while the emulator runs
        (:meth:`run_timers`), or at the next :meth:`fire_due_timers`."""
        timer = Timer(self.now() + max(0.0, delay), fn)
        self.timers.append(timer)
        if self._timer_scope is not None:
            self._timer_scope.cancel()  # wake run_timers: the new timer may be due first
        return timer

    def fire_due_timers(self) -> int:
        """Run every timer that is due now; returns how many ran. A failing timer is logged and recorded."""
        now = self.now()
        due = sorted((t for t in self.timers if t.due <= now), key=lambda t: t.due)
        for timer in due:
            self.timers.remove(timer)
            try:
                timer.fn()
            except Exception as exc:
                _log.exception("emulator timer failed")
                self.listener_errors.append(exc)
        return len(due)

    async def run_timers(self) -> None:
        """Fire timers when due, until cancelled (the :class:`Emulator` runs this in its task group)."""
        while True:
            self.fire_due_timers()
            with anyio.CancelScope() as scope:
                self._timer_scope = scope
                if self.timers:
                    await self.clock.sleep(min(t.due for t in self.timers) - self.now())
                else:
                    await anyio.sleep_forever()
            self._timer_scope = None

    # events --------------------------------------------------------------------------------------

    def add_listener(self, fn: EventListener) -> None:
        """Call ``fn(event)`` for every emitted event (gateway hub, webhook sender)."""
        self._listeners.append(fn)

    def remove_listener(self, fn: EventListener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def emit(
        self,
        type: str,
        d: dict[str, Any],
        guild_id: str | None = None,
        *,
        scene: str | None = None,
        target_id: str | None = None,
    ) -> EmittedEvent:
        """Build the envelope id ``"<TYPE>:<suffix>"``, remember the event and notify every listener.

        ``scene``/``target_id`` say where an ``event_id`` reply to this event may go (None = anywhere).
        A failing listener is recorded in ``listener_errors`` and does not stop the others.
        """
        event = EmittedEvent(type, f"{type}:{secrets.token_hex(16)}", d, guild_id)
        self.events[event.id] = EventRecord(type, event.id, self.now(), scene, target_id)
        self.feed.event({"type": type, "event_id": event.id, "d": d, "scene": scene, "target_id": target_id})
        for fn in list(self._listeners):
            try:
                fn(event)
            except Exception as exc:
                _log.exception("event listener failed on %s", type)
                self.listener_errors.append(exc)
        return event

    # API calls and faults ------------------------------------------------------------------------

    def record_call(self, call: ApiCall, response: bytes = b"") -> None:
        """Log one REST call (``response``: the body answered, for the web page's wire log)."""
        self.api_calls.append(call)
        self.feed.rest(call, response)

    def take_fault(self, path: str) -> RestFault | None:
        """The fault that answers this call, if any (its counter goes down by one).

        A fault without ``path_prefix`` spares the token endpoint (``/app/...``); name it to fault it.
        """
        for fault in self.rest_faults:
            if not fault.path_prefix and path.startswith("/app/"):
                continue
            if fault.remaining > 0 and path.startswith(fault.path_prefix):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.rest_faults.remove(fault)
                return fault
        return None

    def __repr__(self) -> str:
        return (
            f"World(guilds={len(self.guilds)}, channels={len(self.channels)}, groups={len(self.groups)}, "
            f"c2c_users={len(self.c2c_users)}, api_calls={len(self.api_calls)})"
        )
