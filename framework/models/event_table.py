"""The event table: the single source of truth for every event the platform sends.

Each row maps an event type (the envelope's ``t``) to its payload Struct, the intent a connection
needs to receive it and the name of the ``Bot`` decorator that registers a handler for it. Adding an
event is one row here; decorators, intents and decoding follow.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from operator import attrgetter
from types import MappingProxyType
from typing import Any

import msgspec

from framework.models import events as ev
from framework.models import scenes as sc
from framework.models.intents import Intents
from framework.models.scenes import ReplyResolver, Scene

__all__ = ["EVENTS_BY_DECORATOR", "EVENT_TABLE", "EventSpec", "intents_for"]


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One row of the event table."""

    type: str
    """The envelope's ``t``, e.g. ``"GROUP_AT_MESSAGE_CREATE"``."""
    model: builtins.type[msgspec.Struct]
    """The Struct ``d`` decodes into."""
    intent: Intents
    """The intent needed to receive it (``Intents.NONE`` for session events)."""
    decorator: str
    """The ``Bot`` decorator, e.g. ``"on_group_at_message"``."""
    doc: str = ""
    lane: Callable[[Any], str | None] | None = None
    """The chat a decoded payload belongs to (a group, a C2C user, a channel, a guild): events of one chat are
    handled in arrival order (:mod:`framework.delivery`). ``None``: no ordering constraint. Filled from the model."""
    dedupe_by_message_id: bool = False
    """The payload's ``id`` is a message id: a redelivery under a new envelope id is still the same message."""
    scene: Scene | None = None
    """The user messages of this scene: commands and ``on_any_message`` handlers of it listen to this event
    (one event per scene)."""
    reply_target: ReplyResolver | None = None
    """Where a reply to it goes (``ctx.reply``, ``event.reply()``), from the decoded payload and the envelope;
    ``None``: it cannot be answered."""
    escaped: bool = False
    """Its ``content`` arrives HTML-escaped (guild messages); commands and ``ctx.text`` see it unescaped."""
    acknowledged: bool = False
    """The bot acknowledges it once its handlers ran (``PUT /interactions/{id}``), through their Context."""


_I = Intents
_ROWS: tuple[EventSpec, ...] = (
    # session
    EventSpec("READY", ev.Ready, _I.NONE, "on_ready_event", "the gateway session is ready"),
    EventSpec("RESUMED", ev.Resumed, _I.NONE, "on_resumed", "a resume finished"),
    # GUILDS
    EventSpec("GUILD_CREATE", ev.Guild, _I.GUILDS, "on_guild_create", "the bot joined a guild"),
    EventSpec("GUILD_UPDATE", ev.Guild, _I.GUILDS, "on_guild_update", "a guild changed"),
    EventSpec("GUILD_DELETE", ev.Guild, _I.GUILDS, "on_guild_delete", "the bot left a guild"),
    EventSpec("CHANNEL_CREATE", ev.Channel, _I.GUILDS, "on_channel_create", "a channel was created"),
    EventSpec("CHANNEL_UPDATE", ev.Channel, _I.GUILDS, "on_channel_update", "a channel changed"),
    EventSpec("CHANNEL_DELETE", ev.Channel, _I.GUILDS, "on_channel_delete", "a channel was deleted"),
    # GUILD_MEMBERS
    EventSpec("GUILD_MEMBER_ADD", ev.GuildMemberEvent, _I.GUILD_MEMBERS, "on_guild_member_add"),
    EventSpec("GUILD_MEMBER_UPDATE", ev.GuildMemberEvent, _I.GUILD_MEMBERS, "on_guild_member_update"),
    EventSpec("GUILD_MEMBER_REMOVE", ev.GuildMemberEvent, _I.GUILD_MEMBERS, "on_guild_member_remove"),
    # GUILD_MESSAGES (private bots)
    EventSpec(
        "MESSAGE_CREATE",
        ev.Message,
        _I.GUILD_MESSAGES,
        "on_message",
        "any guild message",
        reply_target=sc.guild_message(Scene.CHANNEL),
        escaped=True,
    ),
    EventSpec("MESSAGE_DELETE", ev.MessageDeleteEvent, _I.GUILD_MESSAGES, "on_message_delete"),
    # GUILD_MESSAGE_REACTIONS
    EventSpec(
        "MESSAGE_REACTION_ADD",
        ev.ReactionEvent,
        _I.GUILD_MESSAGE_REACTIONS,
        "on_reaction_add",
        reply_target=sc.channel_event,
    ),
    EventSpec(
        "MESSAGE_REACTION_REMOVE",
        ev.ReactionEvent,
        _I.GUILD_MESSAGE_REACTIONS,
        "on_reaction_remove",
        reply_target=sc.channel_event,
    ),
    # DIRECT_MESSAGE
    EventSpec(
        "DIRECT_MESSAGE_CREATE",
        ev.DirectMessage,
        _I.DIRECT_MESSAGE,
        "on_direct_message",
        scene=Scene.DM,
        reply_target=sc.guild_message(Scene.DM),
        escaped=True,
    ),
    EventSpec("DIRECT_MESSAGE_DELETE", ev.MessageDeleteEvent, _I.DIRECT_MESSAGE, "on_direct_message_delete"),
    # OPEN_FORUMS_EVENT
    EventSpec("OPEN_FORUM_THREAD_CREATE", ev.OpenForumEvent, _I.OPEN_FORUMS_EVENT, "on_open_forum_thread_create"),
    EventSpec("OPEN_FORUM_THREAD_UPDATE", ev.OpenForumEvent, _I.OPEN_FORUMS_EVENT, "on_open_forum_thread_update"),
    EventSpec("OPEN_FORUM_THREAD_DELETE", ev.OpenForumEvent, _I.OPEN_FORUMS_EVENT, "on_open_forum_thread_delete"),
    EventSpec("OPEN_FORUM_POST_CREATE", ev.OpenForumEvent, _I.OPEN_FORUMS_EVENT, "on_open_forum_post_create"),
    EventSpec("OPEN_FORUM_POST_DELETE", ev.OpenForumEvent, _I.OPEN_FORUMS_EVENT, "on_open_forum_post_delete"),
    EventSpec("OPEN_FORUM_REPLY_CREATE", ev.OpenForumEvent, _I.OPEN_FORUMS_EVENT, "on_open_forum_reply_create"),
    EventSpec("OPEN_FORUM_REPLY_DELETE", ev.OpenForumEvent, _I.OPEN_FORUMS_EVENT, "on_open_forum_reply_delete"),
    # AUDIO_OR_LIVE_CHANNEL_MEMBER
    EventSpec(
        "AUDIO_OR_LIVE_CHANNEL_MEMBER_ENTER",
        ev.AudioOrLiveChannelMemberEvent,
        _I.AUDIO_OR_LIVE_CHANNEL_MEMBER,
        "on_audio_or_live_channel_member_enter",
    ),
    EventSpec(
        "AUDIO_OR_LIVE_CHANNEL_MEMBER_EXIT",
        ev.AudioOrLiveChannelMemberEvent,
        _I.AUDIO_OR_LIVE_CHANNEL_MEMBER,
        "on_audio_or_live_channel_member_exit",
    ),
    # ENTER_AIO (botgo only)
    EventSpec("ENTER_AIO", ev.EnterAIOEvent, _I.ENTER_AIO, "on_enter_aio"),
    # GROUP_MEMBER_EVENT
    EventSpec("GROUP_MEMBER_ADD", ev.GroupMemberEvent, _I.GROUP_MEMBER_EVENT, "on_group_member_add"),
    EventSpec("GROUP_MEMBER_REMOVE", ev.GroupMemberEvent, _I.GROUP_MEMBER_EVENT, "on_group_member_remove"),
    EventSpec("GROUP_JOIN_REQUEST", ev.GroupMemberEvent, _I.GROUP_MEMBER_EVENT, "on_group_join_request"),
    # GROUP_AND_C2C_EVENT
    EventSpec(
        "GROUP_AT_MESSAGE_CREATE",
        ev.GroupMessage,
        _I.GROUP_AND_C2C_EVENT,
        "on_group_at_message",
        scene=Scene.GROUP,
        reply_target=sc.group_message,
    ),
    EventSpec(
        "GROUP_MESSAGE_CREATE",
        ev.GroupMessage,
        _I.GROUP_AND_C2C_EVENT,
        "on_group_message",
        reply_target=sc.group_message,
    ),
    EventSpec(
        "C2C_MESSAGE_CREATE",
        ev.C2CMessage,
        _I.GROUP_AND_C2C_EVENT,
        "on_c2c_message",
        scene=Scene.C2C,
        reply_target=sc.c2c_message,
    ),
    EventSpec("FRIEND_ADD", ev.FriendEvent, _I.GROUP_AND_C2C_EVENT, "on_friend_add", reply_target=sc.c2c_event),
    EventSpec("FRIEND_DEL", ev.FriendEvent, _I.GROUP_AND_C2C_EVENT, "on_friend_del"),
    EventSpec("C2C_MSG_REJECT", ev.C2CMessageSwitchEvent, _I.GROUP_AND_C2C_EVENT, "on_c2c_msg_reject"),
    EventSpec(
        "C2C_MSG_RECEIVE",
        ev.C2CMessageSwitchEvent,
        _I.GROUP_AND_C2C_EVENT,
        "on_c2c_msg_receive",
        reply_target=sc.c2c_event,
    ),
    EventSpec(
        "GROUP_ADD_ROBOT",
        ev.GroupRobotEvent,
        _I.GROUP_AND_C2C_EVENT,
        "on_group_add_robot",
        reply_target=sc.group_event,
    ),
    EventSpec("GROUP_DEL_ROBOT", ev.GroupRobotEvent, _I.GROUP_AND_C2C_EVENT, "on_group_del_robot"),
    EventSpec("GROUP_MSG_REJECT", ev.GroupRobotEvent, _I.GROUP_AND_C2C_EVENT, "on_group_msg_reject"),
    EventSpec(
        "GROUP_MSG_RECEIVE",
        ev.GroupRobotEvent,
        _I.GROUP_AND_C2C_EVENT,
        "on_group_msg_receive",
        reply_target=sc.group_event,
    ),
    EventSpec(
        "SUBSCRIBE_MESSAGE_STATUS",
        ev.SubscribeMessageStatusEvent,
        _I.GROUP_AND_C2C_EVENT,
        "on_subscribe_message_status",
    ),
    # INTERACTION
    EventSpec(
        "INTERACTION_CREATE",
        ev.Interaction,
        _I.INTERACTION,
        "on_interaction",
        reply_target=sc.interaction,
        acknowledged=True,
    ),
    # MESSAGE_AUDIT
    EventSpec("MESSAGE_AUDIT_PASS", ev.MessageAuditEvent, _I.MESSAGE_AUDIT, "on_message_audit_pass"),
    EventSpec("MESSAGE_AUDIT_REJECT", ev.MessageAuditEvent, _I.MESSAGE_AUDIT, "on_message_audit_reject"),
    # FORUMS_EVENT (private bots)
    EventSpec(
        "FORUM_THREAD_CREATE",
        ev.ForumThreadEvent,
        _I.FORUMS_EVENT,
        "on_forum_thread_create",
        reply_target=sc.channel_event,
    ),
    EventSpec(
        "FORUM_THREAD_UPDATE",
        ev.ForumThreadEvent,
        _I.FORUMS_EVENT,
        "on_forum_thread_update",
        reply_target=sc.channel_event,
    ),
    EventSpec(
        "FORUM_THREAD_DELETE",
        ev.ForumThreadEvent,
        _I.FORUMS_EVENT,
        "on_forum_thread_delete",
        reply_target=sc.channel_event,
    ),
    EventSpec(
        "FORUM_POST_CREATE", ev.ForumPostEvent, _I.FORUMS_EVENT, "on_forum_post_create", reply_target=sc.channel_event
    ),
    EventSpec(
        "FORUM_POST_DELETE", ev.ForumPostEvent, _I.FORUMS_EVENT, "on_forum_post_delete", reply_target=sc.channel_event
    ),
    EventSpec(
        "FORUM_REPLY_CREATE",
        ev.ForumReplyEvent,
        _I.FORUMS_EVENT,
        "on_forum_reply_create",
        reply_target=sc.channel_event,
    ),
    EventSpec(
        "FORUM_REPLY_DELETE",
        ev.ForumReplyEvent,
        _I.FORUMS_EVENT,
        "on_forum_reply_delete",
        reply_target=sc.channel_event,
    ),
    EventSpec("FORUM_PUBLISH_AUDIT_RESULT", ev.ForumAuditResult, _I.FORUMS_EVENT, "on_forum_publish_audit_result"),
    # AUDIO_ACTION
    EventSpec("AUDIO_START", ev.AudioEvent, _I.AUDIO_ACTION, "on_audio_start"),
    EventSpec("AUDIO_FINISH", ev.AudioEvent, _I.AUDIO_ACTION, "on_audio_finish"),
    EventSpec("AUDIO_ON_MIC", ev.AudioEvent, _I.AUDIO_ACTION, "on_audio_on_mic"),
    EventSpec("AUDIO_OFF_MIC", ev.AudioEvent, _I.AUDIO_ACTION, "on_audio_off_mic"),
    # PUBLIC_GUILD_MESSAGES
    EventSpec(
        "AT_MESSAGE_CREATE",
        ev.Message,
        _I.PUBLIC_GUILD_MESSAGES,
        "on_at_message",
        "a guild @bot message",
        scene=Scene.CHANNEL,
        reply_target=sc.guild_message(Scene.CHANNEL),
        escaped=True,
    ),
    EventSpec("PUBLIC_MESSAGE_DELETE", ev.MessageDeleteEvent, _I.PUBLIC_GUILD_MESSAGES, "on_public_message_delete"),
)


def _c2c_author(d: ev.C2CMessage) -> str | None:
    return d.author.user_openid or d.author.id or None


def _interaction_chat(d: ev.Interaction) -> str | None:
    return d.group_openid or d.user_openid or d.channel_id or None


def _deleted_message_chat(d: ev.MessageDeleteEvent) -> str | None:
    return d.message.channel_id or d.message.guild_id or None


#: Models whose chat is not simply their first chat-id field.
_SPECIAL_LANES: dict[type[Any], Callable[[Any], str | None] | None] = {
    ev.Ready: None,
    ev.Resumed: None,
    ev.C2CMessage: _c2c_author,
    ev.Interaction: _interaction_chat,
    ev.MessageDeleteEvent: _deleted_message_chat,
    ev.Guild: attrgetter("id"),
    ev.DirectMessage: attrgetter("guild_id"),  # the DM session's guild
}
_CHAT_FIELDS = ("group_openid", "channel_id", "openid", "user_openid", "guild_id")
_MESSAGE_MODELS = (ev.Message, ev.GroupMessage, ev.C2CMessage)


def _lane_for(model: type[Any]) -> Callable[[Any], str | None] | None:
    """Built once per row from the model's fields (no reflection per event)."""
    if model in _SPECIAL_LANES:
        return _SPECIAL_LANES[model]
    fields = set(model.__struct_fields__)
    for name in _CHAT_FIELDS:
        if name in fields:
            return attrgetter(name)
    return None


_ROWS = tuple(
    replace(row, lane=_lane_for(row.model), dedupe_by_message_id=issubclass(row.model, _MESSAGE_MODELS))
    for row in _ROWS
)

#: Event type -> row.
EVENT_TABLE: Mapping[str, EventSpec] = MappingProxyType({row.type: row for row in _ROWS})
#: Decorator name -> row.
EVENTS_BY_DECORATOR: Mapping[str, EventSpec] = MappingProxyType({row.decorator: row for row in _ROWS})


def intents_for(event_types: Iterable[str]) -> Intents:
    """Return the union of the intents needed to receive ``event_types``.

    Unknown event types need no intent (the platform decides what it sends for them).
    """
    result = Intents.NONE
    for t in event_types:
        spec = EVENT_TABLE.get(t)
        if spec is not None:
            result |= spec.intent
    return result
