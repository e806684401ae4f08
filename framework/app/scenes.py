"""Where an event can be answered: the scene (channel, DM, group, C2C), the target id and the reply id.

One small table keyed by event type, so ``ctx.reply`` never inspects payloads by reflection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from framework.models import InboundEvent
from framework.models import events as ev

__all__ = ["MESSAGE_EVENTS_BY_SCENE", "ReplyTarget", "Scene", "parse_scenes", "reply_target"]


class Scene(StrEnum):
    """A place the bot can send to."""

    CHANNEL = "channel"
    """A guild text channel (``POST /channels/{channel_id}/messages``)."""
    DM = "dm"
    """A guild direct-message session (``POST /dms/{guild_id}/messages``)."""
    GROUP = "group"
    """A QQ group (``POST /v2/groups/{group_openid}/messages``)."""
    C2C = "c2c"
    """A one-to-one QQ chat (``POST /v2/users/{openid}/messages``)."""

    @classmethod
    def _missing_(cls, value: object) -> Scene | None:
        """Accept ``"guild"`` for :attr:`CHANNEL` and any case (``Scene("Group")``)."""
        if isinstance(value, str):
            word = value.strip().lower()
            if word == "guild":
                return cls.CHANNEL
            for member in cls:
                if member.value == word:
                    return member
        return None


def parse_scenes(values: Iterable[Scene | str], *, source: str = "scenes") -> frozenset[Scene]:
    """``["group", "c2c", "guild", "dm"]`` -> scenes; a one-line :class:`ValueError` names a bad entry."""
    if isinstance(values, str):
        values = [v for v in values.replace(",", " ").split() if v]
    chosen: set[Scene] = set()
    for value in values:
        try:
            chosen.add(Scene(value))
        except ValueError:
            raise ValueError(
                f"{source}: unknown scene {value!r}; expected some of group, c2c, guild (or channel), dm"
            ) from None
    return frozenset(chosen)


#: The user-message events a command in each scene listens to.
MESSAGE_EVENTS_BY_SCENE: dict[Scene, str] = {
    Scene.CHANNEL: "AT_MESSAGE_CREATE",
    Scene.DM: "DIRECT_MESSAGE_CREATE",
    Scene.GROUP: "GROUP_AT_MESSAGE_CREATE",
    Scene.C2C: "C2C_MESSAGE_CREATE",
}


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """Where and how to answer one event: scene, target id and ``msg_id`` or ``event_id``."""

    scene: Scene
    target: str
    msg_id: str | None = None
    event_id: str | None = None

    @property
    def source_id(self) -> str:
        """The id replies are counted against (``msg_seq``)."""
        return self.msg_id or self.event_id or ""


_Resolver = Callable[[Any, InboundEvent], ReplyTarget | None]


def _guild_message(scene: Scene) -> _Resolver:
    def resolve(d: Any, e: InboundEvent) -> ReplyTarget | None:
        target = d.channel_id if scene is Scene.CHANNEL else d.guild_id
        return ReplyTarget(scene, target, msg_id=d.id) if target else None

    return resolve


def _group_message(d: Any, e: InboundEvent) -> ReplyTarget | None:
    return ReplyTarget(Scene.GROUP, d.group_openid, msg_id=d.id) if d.group_openid else None


def _c2c_message(d: Any, e: InboundEvent) -> ReplyTarget | None:
    openid = d.author.user_openid or d.author.id
    return ReplyTarget(Scene.C2C, openid, msg_id=d.id) if openid else None


def _event_id(e: InboundEvent, d: Any) -> str | None:
    return e.id or getattr(d, "id", None) or None


def _c2c_event(d: Any, e: InboundEvent) -> ReplyTarget | None:
    return ReplyTarget(Scene.C2C, d.openid, event_id=_event_id(e, d)) if d.openid else None


def _group_event(d: Any, e: InboundEvent) -> ReplyTarget | None:
    return ReplyTarget(Scene.GROUP, d.group_openid, event_id=_event_id(e, d)) if d.group_openid else None


def _channel_event(d: Any, e: InboundEvent) -> ReplyTarget | None:
    return ReplyTarget(Scene.CHANNEL, d.channel_id, event_id=_event_id(e, d)) if d.channel_id else None


def _interaction(d: ev.Interaction, e: InboundEvent) -> ReplyTarget | None:
    event_id = _event_id(e, d)
    if d.chat_type == 1 or d.group_openid:
        return ReplyTarget(Scene.GROUP, d.group_openid, event_id=event_id) if d.group_openid else None
    if d.chat_type == 2 or d.user_openid:
        openid = d.user_openid or d.data.resolved.user_id
        return ReplyTarget(Scene.C2C, openid, event_id=event_id) if openid else None
    return ReplyTarget(Scene.CHANNEL, d.channel_id, event_id=event_id) if d.channel_id else None


_RESOLVERS: dict[str, _Resolver] = {
    "AT_MESSAGE_CREATE": _guild_message(Scene.CHANNEL),
    "MESSAGE_CREATE": _guild_message(Scene.CHANNEL),
    "DIRECT_MESSAGE_CREATE": _guild_message(Scene.DM),
    "GROUP_AT_MESSAGE_CREATE": _group_message,
    "GROUP_MESSAGE_CREATE": _group_message,
    "C2C_MESSAGE_CREATE": _c2c_message,
    "INTERACTION_CREATE": _interaction,
    # event_id replies (protocol.md §5.1): c2c FRIEND_ADD, C2C_MSG_RECEIVE; group GROUP_ADD_ROBOT,
    # GROUP_MSG_RECEIVE; guild reactions and forum events.
    "FRIEND_ADD": _c2c_event,
    "C2C_MSG_RECEIVE": _c2c_event,
    "GROUP_ADD_ROBOT": _group_event,
    "GROUP_MSG_RECEIVE": _group_event,
    "MESSAGE_REACTION_ADD": _channel_event,
    "MESSAGE_REACTION_REMOVE": _channel_event,
    "FORUM_THREAD_CREATE": _channel_event,
    "FORUM_THREAD_UPDATE": _channel_event,
    "FORUM_THREAD_DELETE": _channel_event,
    "FORUM_POST_CREATE": _channel_event,
    "FORUM_POST_DELETE": _channel_event,
    "FORUM_REPLY_CREATE": _channel_event,
    "FORUM_REPLY_DELETE": _channel_event,
}


def reply_target(event: InboundEvent, decoded: Any) -> ReplyTarget | None:
    """Return where a reply to ``event`` goes, or ``None`` when the event cannot be answered."""
    resolver = _RESOLVERS.get(event.type)
    return resolver(decoded, event) if resolver is not None else None
