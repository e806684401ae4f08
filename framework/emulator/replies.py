"""Passive-reply rules the emulator enforces on sends (protocol.md §5.1, §5.3, §11.1).

A send is *passive* when it names the user message it answers (``msg_id``) or the event
(``event_id``, the envelope id). Rules, in the order they are checked:

1. Neither id: a group/C2C send is *active* and refused with 40034102 (the 2025+ platform) unless
   ``config.allow_active_messages``; even then a group/user that sent GROUP_MSG_REJECT/C2C_MSG_REJECT
   refuses it (40054013). Guild channel and DM sends are allowed.
2. ``msg_id`` must be a message a user sent in that very target (else 40034024, guild 304026) and
   younger than the scene's window (else 40034005, guild 304027): C2C 60 min, group/guild/DM 5 min.
3. ``event_id`` (used only when there is no ``msg_id``) must be a known event (else 40034025) of a
   replyable type for the scene (else 40034027), for this target, younger than
   ``event_reply_window`` (else 40034026).
4. Group/C2C: the same id with the same ``msg_seq`` (default 1) again is a duplicate (40054005).
5. Group/C2C: at most ``*_replies_per_msg`` replies per id (40034128).

Counts and seen ``msg_seq`` are recorded only when the send succeeds (:meth:`ReplyRules.commit`).
All errors are HTTP 400 (the platform's status for these codes is UNCONFIRMED).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framework.emulator.http import ApiError, Code, opt_int, opt_str
from framework.emulator.world import World

__all__ = ["REPLYABLE_EVENTS", "ReplyRules", "ReplyTicket"]

_GUILD_REPLYABLE = frozenset(
    {
        "GUILD_MEMBER_ADD",
        "GUILD_MEMBER_UPDATE",
        "GUILD_MEMBER_REMOVE",
        "MESSAGE_REACTION_ADD",
        "MESSAGE_REACTION_REMOVE",
        "INTERACTION_CREATE",
        "FORUM_THREAD_CREATE",
        "FORUM_THREAD_UPDATE",
        "FORUM_THREAD_DELETE",
        "FORUM_POST_CREATE",
        "FORUM_POST_DELETE",
        "FORUM_REPLY_CREATE",
        "FORUM_REPLY_DELETE",
    }
)

#: Event types whose envelope id may be used as ``event_id``, per scene (BD send.md, post_messages.md).
#: INTERACTION_CREATE in guild/DM scenes is the emulator's assumption (UNCONFIRMED).
REPLYABLE_EVENTS: dict[str, frozenset[str]] = {
    "c2c": frozenset({"INTERACTION_CREATE", "C2C_MSG_RECEIVE", "FRIEND_ADD"}),
    "group": frozenset({"INTERACTION_CREATE", "GROUP_ADD_ROBOT", "GROUP_MSG_RECEIVE"}),
    "guild": _GUILD_REPLYABLE,
    "dm": _GUILD_REPLYABLE,
}


@dataclass
class ReplyTicket:
    """A checked send: ``key`` is the msg_id/event_id replied to (None for an active send)."""

    scene: str
    key: str | None
    seq: int
    counted: bool


class ReplyRules:
    """Checks sends against the passive-reply rules and records what they use up."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.config = world.config

    def _window(self, scene: str) -> float:
        cfg = self.config
        return {
            "c2c": cfg.c2c_reply_window,
            "group": cfg.group_reply_window,
            "guild": cfg.guild_reply_window,
            "dm": cfg.dm_reply_window,
        }[scene]

    def _cap(self, scene: str, is_event: bool) -> int | None:
        cfg = self.config
        if scene == "c2c":
            return cfg.event_replies_per_event if is_event else cfg.c2c_replies_per_msg
        if scene == "group":
            return cfg.event_replies_per_event if is_event else cfg.group_replies_per_msg
        return cfg.guild_replies_per_msg

    def _accepts_active(self, scene: str, target_id: str) -> bool:
        if scene == "group":
            group = self.world.groups.get(target_id)
            return group is None or group.accepts_active
        user = self.world.c2c_users.get(target_id)
        return user is None or user.accepts_active

    def check(self, scene: str, target_id: str, body: dict[str, Any]) -> ReplyTicket:
        """Raise :class:`ApiError` if the send breaks a rule; otherwise return what to :meth:`commit`."""
        msg_id = opt_str(body, "msg_id") or None
        event_id = opt_str(body, "event_id") or None
        seq = opt_int(body, "msg_seq")
        seq = 1 if seq is None else seq
        open_scene = scene in ("c2c", "group")
        now = self.world.now()
        if msg_id is not None:
            msg = self.world.user_messages.get(msg_id)
            if msg is None or msg.scene != scene or msg.target_id != target_id:
                code = Code.MSG_ID_INVALID if open_scene else Code.REPLY_MSG_ID_WRONG
                raise ApiError(400, code, "msg_id is not a message received in this chat")
            if now - msg.created_at > self._window(scene):
                code = Code.MSG_ID_EXPIRED if open_scene else Code.REPLY_MSG_ID_EXPIRED
                raise ApiError(400, code, "reply msg_id has expired")
            key: str | None = msg_id
            is_event = False
        elif event_id is not None:
            event = self.world.events.get(event_id)
            if event is None:
                raise ApiError(400, Code.EVENT_ID_INVALID, "event_id is invalid")
            if event.type not in REPLYABLE_EVENTS[scene]:
                raise ApiError(400, Code.EVENT_NOT_REPLYABLE, "the event of this event_id cannot be replied to")
            if (event.scene is not None and event.scene != scene) or (
                event.target_id is not None and event.target_id != target_id
            ):
                raise ApiError(400, Code.EVENT_ID_INVALID, "event_id does not belong to this chat")
            if now - event.created_at > self.config.event_reply_window:
                raise ApiError(400, Code.EVENT_ID_EXPIRED, "event_id has expired")
            key = event_id
            is_event = True
        else:
            if open_scene and not self.config.allow_active_messages:
                raise ApiError(400, Code.ACTIVE_NOT_PERMITTED, "active message failed: no permission")
            if open_scene and not self._accepts_active(scene, target_id):
                raise ApiError(400, Code.USER_REFUSES, "the user or group refuses active messages")
            return ReplyTicket(scene, None, seq, counted=False)
        if open_scene and (key, seq) in self.world.reply_seqs:
            raise ApiError(400, Code.DEDUPLICATED, "message deduplicated (same msg_id/event_id and msg_seq)")
        cap = self._cap(scene, is_event)
        if cap is not None and key is not None and self.world.reply_counts.get(key, 0) >= cap:
            raise ApiError(400, Code.REPLY_LIMIT_EXCEEDED, "passive reply count or window exceeded")
        return ReplyTicket(scene, key, seq, counted=True)

    def commit(self, ticket: ReplyTicket) -> None:
        """Record a successful send against its msg_id/event_id."""
        if ticket.key is None or not ticket.counted:
            return
        self.world.reply_counts[ticket.key] = self.world.reply_counts.get(ticket.key, 0) + 1
        if ticket.scene in ("c2c", "group"):
            self.world.reply_seqs.add((ticket.key, ticket.seq))
