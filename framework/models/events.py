"""Payload (``d``) Structs of every gateway/webhook event (protocol.md §3.1, §10).

Which event type maps to which Struct lives in :mod:`framework.models.event_table`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from framework.models.common import (
    Ark,
    Attachment,
    Base,
    Embed,
    Emoji,
    Member,
    MessageReference,
    MessageScene,
    ReactionTarget,
    Timestamp,
    User,
)
from framework.models.replying import Replyable

__all__ = [
    "AudioEvent",
    "AudioOrLiveChannelMemberEvent",
    "C2CMessage",
    "C2CMessageSwitchEvent",
    "Channel",
    "DirectMessage",
    "EnterAIOEvent",
    "ForumAuditResult",
    "ForumPostEvent",
    "ForumReplyEvent",
    "ForumThreadEvent",
    "FriendEvent",
    "GroupMemberEvent",
    "GroupMessage",
    "GroupRobotEvent",
    "Guild",
    "GuildMemberEvent",
    "Interaction",
    "InteractionData",
    "InteractionResolved",
    "Message",
    "MessageAuditEvent",
    "MessageDeleteEvent",
    "OpenForumEvent",
    "PostInfo",
    "ReactionEvent",
    "Ready",
    "ReplyInfo",
    "Resumed",
    "SubscribeMessageStatusEvent",
    "ThreadInfo",
]


class Ready(Base):
    """READY: the session was created. ``shard`` is ``[shard_id, shard_count]``."""

    version: int = 1
    session_id: str = ""
    user: User = msgspec.field(default_factory=User)
    shard: list[int] = msgspec.field(default_factory=list)


class Resumed(Base):
    """RESUMED: a resume finished (the platform sends ``d`` as an empty string)."""


class Guild(Base):
    """GUILD_CREATE / GUILD_UPDATE / GUILD_DELETE and the ``/guilds`` REST answers."""

    id: str = ""
    name: str = ""
    icon: str = ""
    owner_id: str = ""
    owner: bool = False
    member_count: int = 0
    max_members: int = 0
    description: str = ""
    joined_at: str | None = None
    op_user_id: str = ""
    union_world_id: str = ""
    union_org_id: str = ""


class Channel(Base):
    """CHANNEL_CREATE / CHANNEL_UPDATE / CHANNEL_DELETE and the ``/channels`` REST answers.

    ``type``: 0 text, 2 voice, 4 category, 10005 live, 10006 application, 10007 forum.
    """

    id: str = ""
    guild_id: str = ""
    name: str = ""
    type: int = 0
    sub_type: int = 0
    position: int = 0
    parent_id: str = ""
    owner_id: str = ""
    private_type: int = 0
    speak_permission: int = 0
    application_id: str = ""
    permissions: str = ""
    op_user_id: str = ""


class GuildMemberEvent(Base, Replyable):
    """GUILD_MEMBER_ADD / GUILD_MEMBER_UPDATE / GUILD_MEMBER_REMOVE."""

    guild_id: str = ""
    user: User | None = None
    nick: str = ""
    roles: list[str] = msgspec.field(default_factory=list)
    joined_at: str | None = None
    op_user_id: str = ""


class Message(Base, Replyable):
    """A guild channel message: AT_MESSAGE_CREATE and MESSAGE_CREATE (and the REST answers)."""

    id: str = ""
    channel_id: str = ""
    guild_id: str = ""
    content: str = ""
    timestamp: Timestamp = ""
    edited_timestamp: Timestamp = ""
    mention_everyone: bool = False
    author: User = msgspec.field(default_factory=User)
    member: Member | None = None
    attachments: list[Attachment] = msgspec.field(default_factory=list)
    embeds: list[Embed] = msgspec.field(default_factory=list)
    mentions: list[User] = msgspec.field(default_factory=list)
    ark: Ark | None = None
    seq: int = 0
    seq_in_channel: str = ""
    message_reference: MessageReference | None = None
    src_guild_id: str = ""
    direct_message: bool = False


class DirectMessage(Message):
    """DIRECT_MESSAGE_CREATE: a guild direct message; ``guild_id`` is the DM session's guild."""


class MessageDeleteEvent(Base):
    """MESSAGE_DELETE / PUBLIC_MESSAGE_DELETE / DIRECT_MESSAGE_DELETE."""

    message: Message = msgspec.field(default_factory=Message)
    op_user: User = msgspec.field(default_factory=User)


class GroupMessage(Base, Replyable):
    """GROUP_AT_MESSAGE_CREATE / GROUP_MESSAGE_CREATE. ``content`` has the @bot prefix removed."""

    id: str = ""
    content: str = ""
    timestamp: Timestamp = ""
    author: User = msgspec.field(default_factory=User)
    group_id: str = ""
    group_openid: str = ""
    attachments: list[Attachment] = msgspec.field(default_factory=list)
    mentions: list[User] = msgspec.field(default_factory=list)
    message_scene: MessageScene | None = None
    message_type: int = 0


class C2CMessage(Base, Replyable):
    """C2C_MESSAGE_CREATE: a one-to-one message; ``author.user_openid`` identifies the user."""

    id: str = ""
    content: str = ""
    timestamp: Timestamp = ""
    author: User = msgspec.field(default_factory=User)
    attachments: list[Attachment] = msgspec.field(default_factory=list)
    message_scene: MessageScene | None = None
    message_type: int = 0


class FriendEvent(Base, Replyable):
    """FRIEND_ADD / FRIEND_DEL."""

    openid: str = ""
    timestamp: Timestamp = 0
    author: User | None = None
    nick: str = ""
    avatar: str = ""
    scene: int = 0
    scene_param: str = ""


class C2CMessageSwitchEvent(Base, Replyable):
    """C2C_MSG_REJECT / C2C_MSG_RECEIVE: a user turned the bot's active messages off or on."""

    openid: str = ""
    timestamp: Timestamp = 0
    author: User | None = None


class GroupRobotEvent(Base, Replyable):
    """GROUP_ADD_ROBOT / GROUP_DEL_ROBOT / GROUP_MSG_REJECT / GROUP_MSG_RECEIVE."""

    group_openid: str = ""
    op_member_openid: str = ""
    timestamp: Timestamp = 0


class GroupMemberEvent(Base):
    """GROUP_MEMBER_ADD / GROUP_MEMBER_REMOVE / GROUP_JOIN_REQUEST (live docs, secondary source)."""

    group_openid: str = ""
    member_openid: str = ""
    user_openid: str = ""
    timestamp: Timestamp = 0


class ReactionEvent(Base, Replyable):
    """MESSAGE_REACTION_ADD / MESSAGE_REACTION_REMOVE."""

    user_id: str = ""
    channel_id: str = ""
    guild_id: str = ""
    emoji: Emoji = msgspec.field(default_factory=Emoji)
    target: ReactionTarget = msgspec.field(default_factory=ReactionTarget)


class InteractionResolved(Base):
    button_data: str = ""
    button_id: str = ""
    user_id: str = ""
    message_id: str = ""
    feature_id: str = ""
    keyword: str = ""
    member_nick: str = ""
    feedback_opt: str = ""
    checked: int = 0


class InteractionData(Base):
    """``type``: 11 inline-keyboard click, 12 C2C quick menu, 9 chat search, 13 feedback."""

    type: int = 0
    resolved: InteractionResolved = msgspec.field(default_factory=InteractionResolved)


class Interaction(Base, Replyable):
    """INTERACTION_CREATE. Answer it with ``PUT /interactions/{id}`` (the Bot does this for you).

    ``chat_type``: 0 guild, 1 group, 2 c2c.
    """

    id: str = ""
    application_id: str = ""
    type: int = 0
    chat_type: int = 0
    scene: str = ""
    data: InteractionData = msgspec.field(default_factory=InteractionData)
    guild_id: str = ""
    channel_id: str = ""
    group_openid: str = ""
    group_member_openid: str = ""
    user_openid: str = ""
    timestamp: Timestamp = ""
    version: int = 1


class MessageAuditEvent(Base):
    """MESSAGE_AUDIT_PASS / MESSAGE_AUDIT_REJECT."""

    audit_id: str = ""
    message_id: str = ""
    guild_id: str = ""
    channel_id: str = ""
    audit_time: Timestamp = ""
    create_time: Timestamp = ""
    seq_in_channel: str = ""


class ThreadInfo(Base):
    thread_id: str = ""
    title: str = ""
    content: str = ""
    date_time: Timestamp = ""


class PostInfo(Base):
    thread_id: str = ""
    post_id: str = ""
    content: str = ""
    date_time: Timestamp = ""


class ReplyInfo(Base):
    thread_id: str = ""
    post_id: str = ""
    reply_id: str = ""
    content: str = ""
    date_time: Timestamp = ""


class ForumThreadEvent(Base, Replyable):
    """FORUM_THREAD_CREATE / UPDATE / DELETE."""

    guild_id: str = ""
    channel_id: str = ""
    author_id: str = ""
    thread_info: ThreadInfo = msgspec.field(default_factory=ThreadInfo)


class ForumPostEvent(Base, Replyable):
    """FORUM_POST_CREATE / DELETE."""

    guild_id: str = ""
    channel_id: str = ""
    author_id: str = ""
    post_info: PostInfo = msgspec.field(default_factory=PostInfo)


class ForumReplyEvent(Base, Replyable):
    """FORUM_REPLY_CREATE / DELETE."""

    guild_id: str = ""
    channel_id: str = ""
    author_id: str = ""
    reply_info: ReplyInfo = msgspec.field(default_factory=ReplyInfo)


class ForumAuditResult(Base):
    """FORUM_PUBLISH_AUDIT_RESULT."""

    task_id: str = ""
    guild_id: str = ""
    channel_id: str = ""
    author_id: str = ""
    thread_id: str = ""
    post_id: str = ""
    reply_id: str = ""
    type: int = 0
    result: int = 0
    err_msg: str = ""
    date_time: Timestamp = ""


class OpenForumEvent(Base):
    """OPEN_FORUM_THREAD_* / OPEN_FORUM_POST_* / OPEN_FORUM_REPLY_* (public bots; ids only)."""

    guild_id: str = ""
    channel_id: str = ""
    author_id: str = ""


class AudioEvent(Base):
    """AUDIO_START / AUDIO_FINISH / AUDIO_ON_MIC / AUDIO_OFF_MIC."""

    guild_id: str = ""
    channel_id: str = ""
    audio_url: str = ""
    text: str = ""


class AudioOrLiveChannelMemberEvent(Base):
    """AUDIO_OR_LIVE_CHANNEL_MEMBER_ENTER / EXIT."""

    guild_id: str = ""
    channel_id: str = ""
    channel_type: int = 0
    user_id: str = ""


class EnterAIOEvent(Base, Replyable):
    """ENTER_AIO (botgo only; unconfirmed): a user opened the chat window with the bot."""

    user_openid: str = ""
    from_source: str = ""


class SubscribeMessageStatusEvent(Base):
    """SUBSCRIBE_MESSAGE_STATUS: a user allowed or denied subscription messages."""

    group_openid: str = ""
    openid: str = ""
    result: list[dict[str, Any]] = msgspec.field(default_factory=list)
