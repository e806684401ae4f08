"""The control API: act as users, seed the world, read what the bot did, inject REST faults.

Every operation exists twice: as a method of :class:`Control` (for tests in the same process) and as
a JSON-over-HTTP route under ``/_emulator/`` (for other processes and other SDKs), registered on the
shared router by :func:`register_control_routes`. Control routes need no token and are not recorded
as API calls. Acting operations emit events through :meth:`World.emit` and return them.

URL scheme (all bodies and answers are JSON; errors use the platform's error body). Each request body is
one msgspec Struct, listed in :data:`ACTS`, :data:`SEEDS` and :data:`REST_FAULTS`: a missing or mistyped
field is a 400/12002 whose message starts with the field's name. The web page's routes are in ``webui.py``.

- ``GET /_emulator/``: this index: every control route, the acting operations and the seed kinds.
- ``POST /_emulator/act/{operation}``: act as a user (``channel_message``, ``dm``,
  ``group_at_message``, ``group_message``, ``c2c_message``, ``member_add``, ``member_remove``,
  ``group_member_add``, ``group_member_remove``, ``group_add_robot``, ``group_del_robot``,
  ``group_msg_switch``, ``friend_add``, ``friend_del``, ``c2c_msg_switch``, ``button_click``,
  ``reaction``, ``emit``) -> ``{"type", "id", "d"}``
  (``channel_message`` adds ``"events"``: every event it emitted).
- ``POST /_emulator/world/{kind}``: seed (``guilds``, ``channels``, ``members``, ``roles``, ``groups``,
  ``group_members``, ``c2c_users``); ``GET /_emulator/world`` summarises.
- ``GET /_emulator/sent/{scene}/{target_id}``: what the bot sent there, in order.
- ``GET /_emulator/calls`` (``?method=&path_prefix=``) / ``DELETE /_emulator/calls``: the API-call log.
- ``GET /_emulator/interactions/{interaction_id}``: the interaction and the bot's ack code.
- ``POST /_emulator/rest/faults/{name}``: ``fail`` (``{"status", "count", "code"?, "message"?,
  "path_prefix"?}``), ``rate_limit`` (``{"count"}`` -> 429), ``expire_tokens``; ``DELETE
  /_emulator/rest/faults`` clears pending faults. Gateway faults live under ``/_emulator/gateway/``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from framework.emulator.config import EmulatorConfig
from framework.emulator.http import (
    ApiError,
    Body,
    Code,
    HttpRequest,
    HttpResponse,
    Router,
    decode_body,
    json_response,
)
from framework.emulator.tokens import TokenService
from framework.emulator.world import (
    ApiCall,
    EmittedEvent,
    RestFault,
    SentMessage,
    World,
    WorldChannel,
    WorldGroup,
    new_openid,
)

__all__ = [
    "ACTS",
    "REST_FAULTS",
    "SEEDS",
    "Control",
    "escape_content",
    "register_control_routes",
    "sent_json",
    "world_summary",
]

_SCENES = ("guild", "dm", "group", "c2c")


def sent_json(msg: SentMessage) -> dict[str, Any]:
    """A sent message as the control API shows it."""
    return {
        "id": msg.id,
        "scene": msg.scene,
        "target_id": msg.target_id,
        "body": msg.body,
        "result": msg.result,
        "recalled": msg.recalled,
        "at": msg.created_at,
    }


def escape_content(text: str) -> str:
    """Escape text the way the platform escapes pushed guild message content (``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Control:
    """Drive the emulated platform from tests: users' actions, reads, faults."""

    def __init__(self, world: World, tokens: TokenService, config: EmulatorConfig | None = None) -> None:
        self.world = world
        self.tokens = tokens
        self.config = config or world.config

    # helpers ------------------------------------------------------------------------------------

    @property
    def _app_id(self) -> str:
        return next(iter(self.world.config.apps), "")

    def _unix(self) -> int:
        return int(self.world.clock.time())

    def _channel(self, channel_id: str) -> WorldChannel:
        channel = self.world.channels.get(channel_id)
        if channel is None:
            raise KeyError(f"no channel {channel_id!r}")
        return channel

    def _group(self, group_openid: str) -> WorldGroup:
        group = self.world.groups.get(group_openid)
        if group is None:
            raise KeyError(f"no group {group_openid!r}")
        return group

    def _guild_author(self, guild_id: str, user_id: str | None, username: str) -> dict[str, Any]:
        members = self.world.members.setdefault(guild_id, {})
        member = members.get(user_id) if user_id else None
        if member is None:
            member = self.world.add_member(guild_id, user_id, username)
        return {**member.user.to_json(), "_member": {"joined_at": member.joined_at, "roles": list(member.roles)}}

    # acting as users: guilds --------------------------------------------------------------------

    def channel_message(
        self,
        channel_id: str,
        content: str,
        *,
        author_id: str | None = None,
        username: str = "user",
        mention_bot: bool = False,
        attachments: list[dict[str, Any]] | None = None,
        message_reference: dict[str, Any] | None = None,
    ) -> list[EmittedEvent]:
        """A user posts in a guild channel: MESSAGE_CREATE always, AT_MESSAGE_CREATE too when ``mention_bot``.

        ``content`` is escaped like pushed guild content (``&amp;``, ``&lt;``, ``&gt;``); the @ mention
        is then written ``<@!bot_id>`` at its start (whether the real AT_MESSAGE_CREATE keeps it is
        UNCONFIRMED). Returns the events, AT_MESSAGE_CREATE first.
        """
        channel = self._channel(channel_id)
        author = self._guild_author(channel.guild_id, author_id, username)
        member = author.pop("_member")
        text = escape_content(content)
        text = f"<@!{self.world.bot.id}> {text}" if mention_bot else text
        d: dict[str, Any] = {
            "id": self.world.next_msg_hex(),
            "channel_id": channel.id,
            "guild_id": channel.guild_id,
            "content": text,
            "timestamp": self.world.timestamp(),
            "author": author,
            "member": member,
            "seq": self.world.next_channel_seq(channel.id),
        }
        d["seq_in_channel"] = str(d["seq"])
        if mention_bot:
            d["mentions"] = [self.world.bot.to_json()]
        if attachments:
            d["attachments"] = attachments
        if message_reference:
            d["message_reference"] = message_reference
        self.world.store_channel_message(channel.id, d)
        self.world.record_user_message(channel.id, d["id"], "guild", author["id"], d)
        events = []
        if mention_bot:
            events.append(
                self.world.emit("AT_MESSAGE_CREATE", d, channel.guild_id, scene="guild", target_id=channel.id)
            )
        events.append(self.world.emit("MESSAGE_CREATE", d, channel.guild_id, scene="guild", target_id=channel.id))
        return events

    def dm(
        self, user_id: str, content: str, *, source_guild_id: str | None = None, username: str = "user"
    ) -> EmittedEvent:
        """A guild member writes to the bot in a DM: DIRECT_MESSAGE_CREATE (opens the DM session if needed)."""
        if source_guild_id is None:
            source_guild_id = next(iter(self.world.guilds), None) or self.world.add_guild().id
        if source_guild_id not in self.world.guilds:
            raise KeyError(f"no guild {source_guild_id!r}")
        author = self._guild_author(source_guild_id, user_id, username)
        member = author.pop("_member")
        session = self.world.open_dm(author["id"], source_guild_id)
        d: dict[str, Any] = {
            "id": self.world.next_msg_hex(),
            "channel_id": session.channel_id,
            "guild_id": session.guild_id,
            "content": escape_content(content),
            "timestamp": self.world.timestamp(),
            "author": author,
            "member": {"joined_at": member["joined_at"]},
            "direct_message": True,
            "src_guild_id": source_guild_id,
            "seq": self.world.next_channel_seq(session.guild_id),
        }
        d["seq_in_channel"] = str(d["seq"])
        self.world.store_channel_message(session.guild_id, d)
        self.world.record_user_message(session.guild_id, d["id"], "dm", author["id"], d)
        return self.world.emit("DIRECT_MESSAGE_CREATE", d, session.guild_id, scene="dm", target_id=session.guild_id)

    def member_add(self, guild_id: str, user_id: str | None = None, username: str = "user") -> EmittedEvent:
        """A user joins a guild: GUILD_MEMBER_ADD."""
        member = self.world.add_member(guild_id, user_id, username)
        d = {**member.to_json(), "guild_id": guild_id, "op_user_id": member.user.id}
        return self.world.emit("GUILD_MEMBER_ADD", d, guild_id)

    def member_remove(self, guild_id: str, user_id: str) -> EmittedEvent:
        """A member leaves a guild: GUILD_MEMBER_REMOVE."""
        member = self.world.members.get(guild_id, {}).pop(user_id, None)
        if member is None:
            raise KeyError(f"no member {user_id!r} in guild {guild_id!r}")
        d = {**member.to_json(), "guild_id": guild_id, "op_user_id": user_id}
        return self.world.emit("GUILD_MEMBER_REMOVE", d, guild_id)

    def reaction(
        self,
        channel_id: str,
        message_id: str,
        *,
        user_id: str | None = None,
        emoji_id: str = "4",
        emoji_type: int = 1,
        remove: bool = False,
    ) -> EmittedEvent:
        """A user reacts to a message: MESSAGE_REACTION_ADD (or _REMOVE)."""
        channel = self._channel(channel_id)
        uid = user_id or self._guild_author(channel.guild_id, None, "user")["id"]
        d = {
            "user_id": uid,
            "channel_id": channel_id,
            "guild_id": channel.guild_id,
            "emoji": {"id": emoji_id, "type": emoji_type},
            "target": {"id": message_id, "type": "ReactionTargetType_MSG"},  # the live form (protocol.md §0)
        }
        t = "MESSAGE_REACTION_REMOVE" if remove else "MESSAGE_REACTION_ADD"
        return self.world.emit(t, d, channel.guild_id, scene="guild", target_id=channel_id)

    # acting as users: groups and C2C ------------------------------------------------------------

    def _group_member(self, group_openid: str | None, member_openid: str | None, role: str) -> tuple[str, str, str]:
        gid = group_openid or new_openid()
        group = self.world.groups.get(gid) or self.world.add_group(gid)
        if not group.bot_member:
            raise ValueError(f"the bot is not in group {gid!r}")
        member = group.members.get(member_openid) if member_openid else None
        if member is None:
            member = self.world.add_group_member(gid, member_openid, role)
        return gid, member.openid, member.role

    def group_at_message(
        self,
        content: str,
        *,
        group_openid: str | None = None,
        member_openid: str | None = None,
        role: str = "member",
        attachments: list[dict[str, Any]] | None = None,
        at_bot: bool = True,
    ) -> EmittedEvent:
        """A group member @-mentions the bot: GROUP_AT_MESSAGE_CREATE.

        ``content`` keeps the leading space the stripped @bot leaves, as on the real platform.
        ``at_bot=False`` emits GROUP_MESSAGE_CREATE (all-messages mode) with the text unchanged.
        """
        gid, mid, mrole = self._group_member(group_openid, member_openid, role)
        text = content if (not at_bot or content.startswith(" ")) else " " + content
        d: dict[str, Any] = {
            "id": self.world.next_msg_id(),
            "content": text,
            "timestamp": self.world.timestamp(),
            "author": {"id": mid, "member_openid": mid, "union_openid": mid, "bot": False, "member_role": mrole},
            "group_id": gid,
            "group_openid": gid,
            "message_scene": self.world.message_scene("group", gid),
            "message_type": 0,
        }
        if attachments:
            d["attachments"] = attachments
        self.world.record_user_message(gid, d["id"], "group", mid, d)
        t = "GROUP_AT_MESSAGE_CREATE" if at_bot else "GROUP_MESSAGE_CREATE"
        return self.world.emit(t, d, scene="group", target_id=gid)

    def c2c_message(
        self, content: str, *, openid: str | None = None, attachments: list[dict[str, Any]] | None = None
    ) -> EmittedEvent:
        """A user writes to the bot one to one: C2C_MESSAGE_CREATE (the user is added if new)."""
        user = self.world.c2c_users.get(openid or "") or self.world.add_c2c_user(openid)
        d: dict[str, Any] = {
            "id": self.world.next_msg_id(),
            "content": content,
            "timestamp": self.world.timestamp(),
            "author": {"id": user.openid, "user_openid": user.openid, "union_openid": user.union_openid},
            "message_scene": self.world.message_scene("c2c", user.openid),
            "message_type": 0,
        }
        if attachments:
            d["attachments"] = attachments
        self.world.record_user_message(user.openid, d["id"], "c2c", user.openid, d)
        return self.world.emit("C2C_MESSAGE_CREATE", d, scene="c2c", target_id=user.openid)

    def group_add_robot(self, group_openid: str | None = None, *, op_member_openid: str | None = None) -> EmittedEvent:
        """A member adds the bot to a group: GROUP_ADD_ROBOT (replyable by event_id)."""
        group = self.world.add_group(group_openid, bot_member=True)
        op = op_member_openid or new_openid()
        if op not in group.members:
            self.world.add_group_member(group.openid, op, "admin")
        d = {"group_openid": group.openid, "op_member_openid": op, "timestamp": self._unix()}
        return self.world.emit("GROUP_ADD_ROBOT", d, scene="group", target_id=group.openid)

    def group_del_robot(self, group_openid: str, *, op_member_openid: str | None = None) -> EmittedEvent:
        """The bot is removed from a group: GROUP_DEL_ROBOT (sends there then fail with 40034101)."""
        group = self._group(group_openid)
        group.bot_member = False
        d = {
            "group_openid": group_openid,
            "op_member_openid": op_member_openid or new_openid(),
            "timestamp": self._unix(),
        }
        return self.world.emit("GROUP_DEL_ROBOT", d, scene="group", target_id=group_openid)

    def group_msg_switch(
        self, group_openid: str, *, receive: bool, op_member_openid: str | None = None
    ) -> EmittedEvent:
        """A group turns the bot's active messages on (GROUP_MSG_RECEIVE) or off (GROUP_MSG_REJECT)."""
        group = self._group(group_openid)
        group.accepts_active = receive
        d = {
            "group_openid": group_openid,
            "op_member_openid": op_member_openid or new_openid(),
            "timestamp": self._unix(),
        }
        t = "GROUP_MSG_RECEIVE" if receive else "GROUP_MSG_REJECT"
        return self.world.emit(t, d, scene="group", target_id=group_openid)

    def group_member_add(self, group_openid: str, member_openid: str | None = None) -> EmittedEvent:
        """A user joins a group the bot is in: GROUP_MEMBER_ADD (intent GROUP_MEMBER_EVENT)."""
        gid, mid, _ = self._group_member(group_openid, member_openid, "member")
        d = {"timestamp": self._unix(), "group_openid": gid, "member_openid": mid, "user_openid": mid}
        return self.world.emit("GROUP_MEMBER_ADD", d, scene="group", target_id=gid)

    def group_member_remove(self, group_openid: str, member_openid: str) -> EmittedEvent:
        """A member leaves a group: GROUP_MEMBER_REMOVE."""
        group = self.world.groups.get(group_openid)
        if group is None or group.members.pop(member_openid, None) is None:
            raise KeyError(f"no member {member_openid!r} in group {group_openid!r}")
        d = {
            "timestamp": self._unix(),
            "group_openid": group_openid,
            "member_openid": member_openid,
            "user_openid": member_openid,
        }
        return self.world.emit("GROUP_MEMBER_REMOVE", d, scene="group", target_id=group_openid)

    def friend_add(self, openid: str | None = None) -> EmittedEvent:
        """A user adds the bot as a friend: FRIEND_ADD."""
        user = self.world.add_c2c_user(openid, friend=True)
        d = {"timestamp": self._unix(), "openid": user.openid, "author": {"union_openid": user.union_openid}}
        return self.world.emit("FRIEND_ADD", d, scene="c2c", target_id=user.openid)

    def friend_del(self, openid: str) -> EmittedEvent:
        """A user removes the bot: FRIEND_DEL (C2C sends to them then fail with 40054004)."""
        user = self.world.c2c_users.pop(openid, None)
        if user is None:
            raise KeyError(f"no C2C user {openid!r}")
        d = {"timestamp": self._unix(), "openid": openid, "author": {"union_openid": user.union_openid}}
        return self.world.emit("FRIEND_DEL", d, scene="c2c", target_id=openid)

    def c2c_msg_switch(self, openid: str, *, receive: bool) -> EmittedEvent:
        """A user turns the bot's active messages on (C2C_MSG_RECEIVE) or off (C2C_MSG_REJECT)."""
        user = self.world.c2c_users.get(openid) or self.world.add_c2c_user(openid)
        user.accepts_active = receive
        d = {"timestamp": self._unix(), "openid": openid, "author": {"union_openid": user.union_openid}}
        t = "C2C_MSG_RECEIVE" if receive else "C2C_MSG_REJECT"
        return self.world.emit(t, d, scene="c2c", target_id=openid)

    def button_click(
        self,
        scene: str,
        target_id: str,
        *,
        button_id: str = "1",
        button_data: str = "",
        user_id: str | None = None,
        message_id: str = "",
    ) -> EmittedEvent:
        """A user clicks a callback button: INTERACTION_CREATE (ack it with ``PUT /interactions/{id}``).

        ``scene`` is ``group`` (target = group_openid), ``c2c`` (target = user openid) or ``guild``
        (target = channel_id).
        """
        resolved: dict[str, Any] = {"button_data": button_data, "button_id": button_id}
        if message_id:
            resolved["message_id"] = message_id
        d: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "application_id": self._app_id,
            "type": 11,
            "scene": scene,
            "data": {"type": 11, "resolved": resolved},
            "timestamp": self.world.timestamp(),
            "version": 1,
        }
        guild_id: str | None = None
        if scene == "group":
            gid, mid, _ = self._group_member(target_id, user_id, "member")
            d.update(chat_type=1, group_openid=gid, group_member_openid=mid)
            resolved["user_id"] = mid
        elif scene == "c2c":
            user = self.world.c2c_users.get(target_id) or self.world.add_c2c_user(target_id)
            d.update(chat_type=2, user_openid=user.openid)
            resolved["user_id"] = user.openid
        elif scene == "guild":
            channel = self._channel(target_id)
            guild_id = channel.guild_id
            uid = user_id or self._guild_author(channel.guild_id, None, "user")["id"]
            d.update(chat_type=0, guild_id=channel.guild_id, channel_id=channel.id)
            resolved["user_id"] = uid
        else:
            raise ValueError(f"scene must be group, c2c or guild, not {scene!r}")
        self.world.interactions[d["id"]] = d
        return self.world.emit("INTERACTION_CREATE", d, guild_id, scene=scene, target_id=target_id)

    def emit(self, type: str, d: dict[str, Any], guild_id: str | None = None) -> EmittedEvent:
        """Push any event as is (for events no other operation models)."""
        return self.world.emit(type, d, guild_id)

    # reads --------------------------------------------------------------------------------------

    def sent(self, scene: str, target_id: str) -> list[SentMessage]:
        """What the bot sent to ``target_id`` in ``scene`` (guild = channel id, dm = DM guild id), in order."""
        return self.world.sent(scene, target_id)

    def calls(self, method: str | None = None, path_prefix: str = "") -> list[ApiCall]:
        """The REST calls the bot made, optionally filtered."""
        return [
            c
            for c in self.world.api_calls
            if (method is None or c.method == method.upper()) and c.path.startswith(path_prefix)
        ]

    def clear_calls(self) -> None:
        self.world.api_calls.clear()

    def interaction_ack(self, interaction_id: str) -> int | None:
        """The code the bot acked an interaction with (None if not acked yet)."""
        return self.world.interaction_acks.get(interaction_id)

    # faults -------------------------------------------------------------------------------------

    def fail_next(
        self, count: int = 1, *, status: int = 500, code: int | None = None, message: str = "", path_prefix: str = ""
    ) -> RestFault:
        """Answer the next ``count`` REST calls (under ``path_prefix``) with ``status`` and the platform error body.

        Without ``path_prefix`` the token endpoint is spared; pass ``"/app/"`` to fault it.
        """
        if count < 1 or not 400 <= status <= 599:
            raise ValueError("count must be >= 1 and status a 4xx/5xx")
        fault = RestFault(
            status, count, code if code is not None else status, message or f"emulated fault {status}", path_prefix
        )
        self.world.rest_faults.append(fault)
        return fault

    def rate_limit(self, count: int = 1, *, path_prefix: str = "") -> RestFault:
        """Answer the next ``count`` REST calls with 429 (no Retry-After header: the platform sends none)."""
        return self.fail_next(count, status=429, message="接口调用超过频率限制", path_prefix=path_prefix)

    def clear_faults(self) -> None:
        self.world.rest_faults.clear()

    def expire_tokens(self) -> None:
        """Every access token stops working now (REST answers 401/11244 until the bot fetches a new one)."""
        self.tokens.expire_all()


# HTTP ------------------------------------------------------------------------------------------
#
# One msgspec Struct per request body (decoded by ``decode_body``: a field of the wrong type or a missing
# required one is a 400/12002 naming the field). Each Struct's ``run`` performs the operation and returns
# the JSON answer. Optional string fields accept null and "" for "use the default", as the routes always did.

_Json = Any


class _Operation(Body):
    """A request body that knows its operation: ``run`` performs it and returns the JSON answer."""

    def run(self, c: Control) -> _Json:
        raise NotImplementedError


class ChannelMessageBody(_Operation):
    channel_id: str
    content: str
    author_id: str | None = None
    username: str | None = "user"
    mention_bot: bool = False
    attachments: list[dict[str, Any]] | None = None
    message_reference: dict[str, Any] | None = None

    def run(self, c: Control) -> _Json:
        events = c.channel_message(
            self.channel_id,
            self.content,
            author_id=self.author_id,
            username=self.username or "user",
            mention_bot=self.mention_bot,
            attachments=self.attachments,
            message_reference=self.message_reference,
        )
        return {**events[0].to_json(), "events": [e.to_json() for e in events]}


class DmBody(_Operation):
    user_id: str
    content: str
    source_guild_id: str | None = None
    username: str | None = "user"

    def run(self, c: Control) -> _Json:
        ev = c.dm(self.user_id, self.content, source_guild_id=self.source_guild_id, username=self.username or "user")
        return ev.to_json()


class GroupMessageBody(_Operation):
    """``group_at_message``: GROUP_AT_MESSAGE_CREATE."""

    content: str
    group_openid: str | None = None
    member_openid: str | None = None
    role: str | None = "member"
    attachments: list[dict[str, Any]] | None = None

    at_bot: ClassVar[bool] = True

    def run(self, c: Control) -> _Json:
        return c.group_at_message(
            self.content,
            group_openid=self.group_openid,
            member_openid=self.member_openid,
            role=self.role or "member",
            attachments=self.attachments,
            at_bot=self.at_bot,
        ).to_json()


class GroupPlainMessageBody(GroupMessageBody):
    """``group_message``: GROUP_MESSAGE_CREATE (the bot is not mentioned)."""

    at_bot: ClassVar[bool] = False


class C2CMessageBody(_Operation):
    content: str
    openid: str | None = None
    attachments: list[dict[str, Any]] | None = None

    def run(self, c: Control) -> _Json:
        return c.c2c_message(self.content, openid=self.openid, attachments=self.attachments).to_json()


class MemberAddBody(_Operation):
    guild_id: str
    user_id: str | None = None
    username: str | None = "user"

    def run(self, c: Control) -> _Json:
        return c.member_add(self.guild_id, self.user_id, self.username or "user").to_json()


class MemberRemoveBody(_Operation):
    guild_id: str
    user_id: str

    def run(self, c: Control) -> _Json:
        return c.member_remove(self.guild_id, self.user_id).to_json()


class GroupAddRobotBody(_Operation):
    group_openid: str | None = None
    op_member_openid: str | None = None

    def run(self, c: Control) -> _Json:
        return c.group_add_robot(self.group_openid, op_member_openid=self.op_member_openid).to_json()


class GroupDelRobotBody(_Operation):
    group_openid: str
    op_member_openid: str | None = None

    def run(self, c: Control) -> _Json:
        return c.group_del_robot(self.group_openid, op_member_openid=self.op_member_openid).to_json()


class GroupMsgSwitchBody(_Operation):
    group_openid: str
    receive: bool = True
    op_member_openid: str | None = None

    def run(self, c: Control) -> _Json:
        ev = c.group_msg_switch(self.group_openid, receive=self.receive, op_member_openid=self.op_member_openid)
        return ev.to_json()


class GroupMemberAddBody(_Operation):
    group_openid: str
    member_openid: str | None = None

    def run(self, c: Control) -> _Json:
        return c.group_member_add(self.group_openid, self.member_openid).to_json()


class GroupMemberRemoveBody(_Operation):
    group_openid: str
    member_openid: str

    def run(self, c: Control) -> _Json:
        return c.group_member_remove(self.group_openid, self.member_openid).to_json()


class FriendAddBody(_Operation):
    openid: str | None = None

    def run(self, c: Control) -> _Json:
        return c.friend_add(self.openid).to_json()


class FriendDelBody(_Operation):
    openid: str

    def run(self, c: Control) -> _Json:
        return c.friend_del(self.openid).to_json()


class C2CMsgSwitchBody(_Operation):
    openid: str
    receive: bool = True

    def run(self, c: Control) -> _Json:
        return c.c2c_msg_switch(self.openid, receive=self.receive).to_json()


class ButtonClickBody(_Operation):
    scene: str
    target_id: str
    button_id: str | None = "1"
    button_data: str | None = ""
    user_id: str | None = None
    message_id: str | None = ""

    def run(self, c: Control) -> _Json:
        return c.button_click(
            self.scene,
            self.target_id,
            button_id=self.button_id or "1",
            button_data=self.button_data or "",
            user_id=self.user_id,
            message_id=self.message_id or "",
        ).to_json()


class ReactionBody(_Operation):
    channel_id: str
    message_id: str
    user_id: str | None = None
    emoji_id: str | None = "4"
    emoji_type: int = 1
    remove: bool = False

    def run(self, c: Control) -> _Json:
        return c.reaction(
            self.channel_id,
            self.message_id,
            user_id=self.user_id,
            emoji_id=self.emoji_id or "4",
            emoji_type=self.emoji_type,
            remove=self.remove,
        ).to_json()


class EmitBody(_Operation):
    type: str
    d: dict[str, Any]
    guild_id: str | None = None

    def run(self, c: Control) -> _Json:
        return c.emit(self.type, self.d, self.guild_id).to_json()


ACTS: dict[str, type[_Operation]] = {
    "channel_message": ChannelMessageBody,
    "dm": DmBody,
    "group_at_message": GroupMessageBody,
    "group_message": GroupPlainMessageBody,
    "c2c_message": C2CMessageBody,
    "member_add": MemberAddBody,
    "member_remove": MemberRemoveBody,
    "group_add_robot": GroupAddRobotBody,
    "group_del_robot": GroupDelRobotBody,
    "group_msg_switch": GroupMsgSwitchBody,
    "group_member_add": GroupMemberAddBody,
    "group_member_remove": GroupMemberRemoveBody,
    "friend_add": FriendAddBody,
    "friend_del": FriendDelBody,
    "c2c_msg_switch": C2CMsgSwitchBody,
    "button_click": ButtonClickBody,
    "reaction": ReactionBody,
    "emit": EmitBody,
}
"""``POST /_emulator/act/{operation}``: the body Struct of each operation."""


class GuildSeed(_Operation):
    guild_id: str | None = None
    name: str | None = "Emulated guild"
    owner_id: str | None = ""

    def run(self, c: Control) -> _Json:
        return c.world.guild_json(c.world.add_guild(self.guild_id, self.name or "", owner_id=self.owner_id or ""))


class ChannelSeed(_Operation):
    guild_id: str
    channel_id: str | None = None
    name: str | None = "general"
    type: int = 0
    sub_type: int = 0

    def run(self, c: Control) -> _Json:
        channel = c.world.add_channel(
            self.guild_id, self.channel_id, self.name or "general", type=self.type, sub_type=self.sub_type
        )
        return channel.to_json()


class MemberSeed(_Operation):
    guild_id: str
    user_id: str | None = None
    username: str | None = "user"
    nick: str | None = ""

    def run(self, c: Control) -> _Json:
        member = c.world.add_member(self.guild_id, self.user_id, self.username or "user", nick=self.nick or "")
        return member.to_json()


class RoleSeed(_Operation):
    guild_id: str
    name: str
    role_id: str | None = None

    def run(self, c: Control) -> _Json:
        return c.world.role_json(c.world.add_role(self.guild_id, self.name, role_id=self.role_id))


class GroupSeed(_Operation):
    group_openid: str | None = None
    name: str | None = ""

    def run(self, c: Control) -> _Json:
        return {"group_openid": c.world.add_group(self.group_openid, self.name or "").openid}


class GroupMemberSeed(_Operation):
    group_openid: str
    member_openid: str | None = None
    role: str | None = "member"

    def run(self, c: Control) -> _Json:
        member = c.world.add_group_member(self.group_openid, self.member_openid, self.role or "member")
        return {"member_openid": member.openid}


class C2CUserSeed(_Operation):
    openid: str | None = None
    nick: str | None = ""

    def run(self, c: Control) -> _Json:
        return {"openid": c.world.add_c2c_user(self.openid, nick=self.nick or "").openid}


SEEDS: dict[str, type[_Operation]] = {
    "guilds": GuildSeed,
    "channels": ChannelSeed,
    "members": MemberSeed,
    "roles": RoleSeed,
    "groups": GroupSeed,
    "group_members": GroupMemberSeed,
    "c2c_users": C2CUserSeed,
}
"""``POST /_emulator/world/{kind}``: the body Struct of each seed kind."""


class FailFault(_Operation):
    status: int = 500
    count: int = 1
    code: int | None = None
    message: str | None = ""
    path_prefix: str | None = ""

    def run(self, c: Control) -> _Json:
        f = c.fail_next(
            self.count,
            status=self.status,
            code=self.code,
            message=self.message or "",
            path_prefix=self.path_prefix or "",
        )
        return _fault_json(f)


class RateLimitFault(_Operation):
    count: int = 1
    path_prefix: str | None = ""

    def run(self, c: Control) -> _Json:
        return _fault_json(c.rate_limit(self.count, path_prefix=self.path_prefix or ""))


class ExpireTokensFault(_Operation):
    def run(self, c: Control) -> _Json:
        c.expire_tokens()
        return {"expired": True}


REST_FAULTS: dict[str, type[_Operation]] = {
    "fail": FailFault,
    "rate_limit": RateLimitFault,
    "expire_tokens": ExpireTokensFault,
}
"""``POST /_emulator/rest/faults/{name}``: the body Struct of each REST fault."""


def _fault_json(f: RestFault) -> dict[str, Any]:
    return {"status": f.status, "count": f.remaining, "code": f.code, "path_prefix": f.path_prefix}


def _run(c: Control, what: str, table: dict[str, type[_Operation]], name: str, req: HttpRequest) -> HttpResponse:
    kind = table.get(name)
    if kind is None:
        raise ApiError(404, Code.NOT_FOUND, f"unknown {what} {name!r}; known: {sorted(table)}")
    body = decode_body(req, kind)
    return json_response(200, _answer(lambda: body.run(c)))


def _answer(fn: Callable[[], _Json]) -> _Json:
    """``fn()``, with the world's KeyError (unknown object) as 404 and ValueError (refused) as 400."""
    try:
        return fn()
    except KeyError as exc:
        raise ApiError(404, Code.NOT_FOUND, str(exc.args[0]) if exc.args else "not found") from None
    except ValueError as exc:
        raise ApiError(400, Code.BODY_INVALID, str(exc)) from None


def register_control_routes(control: Control, router: Router) -> None:
    """Register the ``/_emulator/`` routes (see the module docstring) on ``router``."""
    world = control.world
    c = control

    async def act(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return _run(c, "operation", ACTS, params["operation"], req)

    async def seed(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return _run(c, "kind", SEEDS, params["kind"], req)

    async def fault(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return _run(c, "fault", REST_FAULTS, params["name"], req)

    async def summary(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return json_response(200, world_summary(world))

    async def sent(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        if params["scene"] not in _SCENES:
            raise ApiError(400, Code.BODY_INVALID, f"scene must be one of {_SCENES}")
        return json_response(200, [sent_json(m) for m in c.sent(params["scene"], params["target_id"])])

    async def calls(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        found = c.calls(req.query.get("method") or None, req.query.get("path_prefix", ""))
        return json_response(200, [call.to_json() for call in found])

    async def clear_calls(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        c.clear_calls()
        return json_response(200, {})

    async def interaction(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        iid = params["interaction_id"]
        if iid not in world.interactions:
            raise ApiError(404, Code.NOT_FOUND, f"no interaction {iid!r}")
        return json_response(200, {"interaction": world.interactions[iid], "ack_code": c.interaction_ack(iid)})

    async def clear_faults(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        c.clear_faults()
        return json_response(200, {})

    async def index(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return json_response(
            200,
            {
                "emulator": "local QQ platform emulator: control API (no token needed); see docs/emulator.md",
                "apps": {app: _grant(world.config.intents_allowed(app)) for app in sorted(world.config.apps)},
                "routes": [
                    {"method": method, "path": pattern}
                    for method, pattern in router.routes()
                    if pattern.startswith("/_emulator/") and pattern != "/_emulator/"
                ],
                "act": sorted(ACTS),
                "world": sorted(SEEDS),
                "scenes": list(_SCENES),
            },
        )

    router.add("GET", "/_emulator/", index)
    router.add("GET", "/_emulator", index)
    router.add("POST", "/_emulator/act/{operation}", act)
    router.add("POST", "/_emulator/world/{kind}", seed)
    router.add("GET", "/_emulator/world", summary)
    router.add("GET", "/_emulator/sent/{scene}/{target_id}", sent)
    router.add("GET", "/_emulator/calls", calls)
    router.add("DELETE", "/_emulator/calls", clear_calls)
    router.add("GET", "/_emulator/interactions/{interaction_id}", interaction)
    router.add("POST", "/_emulator/rest/faults/{name}", fault)
    router.add("DELETE", "/_emulator/rest/faults", clear_faults)


def world_summary(world: World) -> dict[str, Any]:
    """``GET /_emulator/world``: the bot, guilds, channels, groups and C2C users."""
    return {
        "bot": world.bot.to_json(),
        "guilds": [world.guild_json(g) for g in world.guilds.values()],
        "channels": [ch.to_json() for ch in world.channels.values()],
        "groups": [
            {"group_openid": g.openid, "bot_member": g.bot_member, "members": sorted(g.members)}
            for g in world.groups.values()
        ],
        "c2c_users": sorted(world.c2c_users),
    }


def _grant(mask: int | None) -> dict[str, Any]:
    """An app's intent grant as the index shows it (None: every intent)."""
    return {"intents": mask, "all": mask is None}
