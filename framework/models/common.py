"""Objects shared by several event payloads and REST answers: users, members, attachments.

Every Struct ignores unknown fields and has defaults for every field the platform may leave out, so
that payload changes on the platform side never break decoding.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "Ark",
    "ArkKv",
    "ArkObj",
    "ArkObjKv",
    "Attachment",
    "Embed",
    "EmbedField",
    "Emoji",
    "Member",
    "MessageReference",
    "MessageScene",
    "ReactionTarget",
    "Thumbnail",
    "Timestamp",
    "User",
]

#: Timestamps arrive as RFC 3339 strings (messages) or unix seconds (management events).
Timestamp = str | int


class Base(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of every payload Struct: keyword-only, unset fields are omitted when encoding."""


class User(Base):
    """A user or bot. Group and C2C authors carry openids instead of a numeric ``id``."""

    id: str = ""
    username: str = ""
    avatar: str = ""
    bot: bool = False
    union_openid: str = ""
    union_user_account: str = ""
    user_openid: str = ""
    member_openid: str = ""
    member_role: str = ""


class Member(Base):
    """A guild member."""

    user: User | None = None
    nick: str = ""
    roles: list[str] = msgspec.field(default_factory=list)
    joined_at: str | None = None
    guild_id: str = ""
    op_user_id: str = ""


class Attachment(Base):
    """A file attached to a received message."""

    url: str = ""
    content_type: str = ""
    filename: str = ""
    height: int = 0
    width: int = 0
    size: int = 0
    content: str = ""
    voice_wav_url: str = ""
    asr_refer_text: str = ""


class MessageScene(Base):
    """Where a group/C2C message came from (``ext`` holds ``msg_idx=REFIDX_...`` and similar)."""

    source: str = ""
    callback_data: str = ""
    ext: list[str] = msgspec.field(default_factory=list)


class MessageReference(Base):
    """A quoted message."""

    message_id: str = ""
    ignore_get_message_error: bool = False


class Thumbnail(Base):
    url: str = ""


class EmbedField(Base):
    name: str = ""
    value: str = ""


class Embed(Base):
    """A guild embed message."""

    title: str = ""
    description: str = ""
    prompt: str = ""
    thumbnail: Thumbnail | None = None
    fields: list[EmbedField] = msgspec.field(default_factory=list)


class ArkObjKv(Base):
    key: str = ""
    value: str = ""


class ArkObj(Base):
    obj_kv: list[ArkObjKv] = msgspec.field(default_factory=list)


class ArkKv(Base):
    key: str = ""
    value: str = ""
    obj: list[ArkObj] = msgspec.field(default_factory=list)


class Ark(Base):
    """An ark (template) message."""

    template_id: int = 0
    kv: list[ArkKv] = msgspec.field(default_factory=list)


class Emoji(Base):
    """``type`` 1 is a system face, 2 an emoji."""

    id: str = ""
    type: int = 0


class ReactionTarget(Base):
    """What was reacted to. ``type`` arrives live as a string, ``"ReactionTargetType_MSG"`` for a message
    (protocol.md §0); the docs and botgo give an int (0 message, 1 thread, 2 post, 3 reply). Both decode."""

    id: str = ""
    type: int | str = 0


def to_builtins(obj: Any) -> Any:
    """Convert a Struct (or anything msgspec knows) into plain dicts and lists."""
    return msgspec.to_builtins(obj)
