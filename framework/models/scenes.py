"""Where an event can be answered: the scene (channel, DM, group, C2C), the target id and the reply id.

:class:`Scene` and :class:`ReplyTarget` are plain data; the functions here are the event table's
``reply_target`` column (:mod:`framework.models.event_table`), so ``ctx.reply`` never inspects payloads
by reflection. ``framework.app.scenes`` re-exports the public names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework.models import events as ev
    from framework.models.envelope import InboundEvent  # the envelope imports the event table, which imports this

__all__ = ["ReplyResolver", "ReplyTarget", "Scene"]


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


#: The event table's ``reply_target`` column: ``(decoded payload, event) -> target`` (``None``: no target in it).
ReplyResolver = Callable[[Any, "InboundEvent"], "ReplyTarget | None"]


def guild_message(scene: Scene) -> ReplyResolver:
    """Guild channel messages (``scene`` CHANNEL, target the channel) and DMs (DM, target the DM guild)."""

    def resolve(d: Any, e: InboundEvent) -> ReplyTarget | None:
        target = d.channel_id if scene is Scene.CHANNEL else d.guild_id
        return ReplyTarget(scene, target, msg_id=d.id) if target else None

    return resolve


def group_message(d: Any, e: InboundEvent) -> ReplyTarget | None:
    """Group messages: the group, by message id."""
    return ReplyTarget(Scene.GROUP, d.group_openid, msg_id=d.id) if d.group_openid else None


def c2c_message(d: Any, e: InboundEvent) -> ReplyTarget | None:
    """C2C messages: the author, by message id."""
    openid = d.author.user_openid or d.author.id
    return ReplyTarget(Scene.C2C, openid, msg_id=d.id) if openid else None


def _event_id(e: InboundEvent, d: Any) -> str | None:
    return e.id or getattr(d, "id", None) or None


def c2c_event(d: Any, e: InboundEvent) -> ReplyTarget | None:
    """C2C notices (``FRIEND_ADD``, ``C2C_MSG_RECEIVE``): the user, by event id."""
    return ReplyTarget(Scene.C2C, d.openid, event_id=_event_id(e, d)) if d.openid else None


def group_event(d: Any, e: InboundEvent) -> ReplyTarget | None:
    """Group notices (``GROUP_ADD_ROBOT``, ``GROUP_MSG_RECEIVE``): the group, by event id."""
    return ReplyTarget(Scene.GROUP, d.group_openid, event_id=_event_id(e, d)) if d.group_openid else None


def channel_event(d: Any, e: InboundEvent) -> ReplyTarget | None:
    """Guild reactions and forum events: the channel, by event id."""
    return ReplyTarget(Scene.CHANNEL, d.channel_id, event_id=_event_id(e, d)) if d.channel_id else None


def interaction(d: ev.Interaction, e: InboundEvent) -> ReplyTarget | None:
    """Button clicks: the group, the C2C user or the channel, by ``chat_type``, by event id."""
    event_id = _event_id(e, d)
    if d.chat_type == 1 or d.group_openid:
        return ReplyTarget(Scene.GROUP, d.group_openid, event_id=event_id) if d.group_openid else None
    if d.chat_type == 2 or d.user_openid:
        openid = d.user_openid or d.data.resolved.user_id
        return ReplyTarget(Scene.C2C, openid, event_id=event_id) if openid else None
    return ReplyTarget(Scene.CHANNEL, d.channel_id, event_id=event_id) if d.channel_id else None
