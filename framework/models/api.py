"""REST request and response Structs (protocol.md §5, §9, §11).

Request bodies omit unset fields when encoded (``omit_defaults``): the client never sends JSON nulls.
"""

from __future__ import annotations

from typing import Any

import msgspec

from framework.models.common import Ark, Base, Embed, MessageReference, Timestamp

__all__ = [
    "GatewayBot",
    "Keyboard",
    "Markdown",
    "MarkdownParam",
    "Media",
    "MediaInfo",
    "MessageToCreate",
    "MsgType",
    "SendResult",
    "SessionStartLimit",
    "TokenResponse",
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


class Markdown(Base):
    """Raw markdown (``content``) or a template (``custom_template_id`` + ``params``)."""

    content: str | None = None
    custom_template_id: str | None = None
    params: list[MarkdownParam] | None = None


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
