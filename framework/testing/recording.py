"""A recording stand-in for the OpenAPI client and event builders, for unit tests of bots and plugins.

The app layer's boundary is the API client; this double records what a bot sends so tests can check
endpoints, ``msg_id``/``event_id`` and ``msg_seq`` without a server. End-to-end tests use the emulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Call", "RecordingApi", "at_message", "c2c", "direct_message", "event", "group_at"]

import msgspec

from framework.models import InboundEvent
from framework.models.api import MediaInfo, MessageToCreate, SendResult


@dataclass
class Call:
    """One recorded API call."""

    method: str
    target: str
    message: MessageToCreate | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class RecordingApi:
    """Records every call; sends answer a ``SendResult``, uploads a ``MediaInfo``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    @property
    def sends(self) -> list[Call]:
        return [c for c in self.calls if c.method.startswith("post_")]

    def texts(self) -> list[str | None]:
        return [c.message.content if c.message else None for c in self.sends]

    async def _send(self, method: str, target: str, message: MessageToCreate) -> SendResult:
        self.calls.append(Call(method, target, message))
        return SendResult(id=f"sent-{len(self.calls)}")

    async def post_channel_message(self, channel_id: str, message: MessageToCreate) -> SendResult:
        return await self._send("post_channel_message", channel_id, message)

    async def post_dms_message(self, guild_id: str, message: MessageToCreate) -> SendResult:
        return await self._send("post_dms_message", guild_id, message)

    async def post_group_message(self, group_openid: str, message: MessageToCreate) -> SendResult:
        return await self._send("post_group_message", group_openid, message)

    async def post_c2c_message(self, openid: str, message: MessageToCreate) -> SendResult:
        return await self._send("post_c2c_message", openid, message)

    async def upload_group_file(
        self, group_openid: str, *, file_type: int, url: str | None = None, file_data: bytes | None = None
    ) -> MediaInfo:
        self.calls.append(Call("upload_group_file", group_openid, extra={"file_type": file_type, "url": url}))
        return MediaInfo(file_uuid="u1", file_info="FILEINFO-group", ttl=300)

    async def upload_c2c_file(
        self, openid: str, *, file_type: int, url: str | None = None, file_data: bytes | None = None
    ) -> MediaInfo:
        self.calls.append(Call("upload_c2c_file", openid, extra={"file_type": file_type, "data": file_data}))
        return MediaInfo(file_uuid="u2", file_info="FILEINFO-c2c", ttl=300)

    async def put_interaction(self, interaction_id: str, code: int = 0) -> None:
        self.calls.append(Call("put_interaction", interaction_id, extra={"code": code}))


def event(event_type: str, data: dict[str, Any] | None = None, *, id: str | None = None) -> InboundEvent:
    """An ``InboundEvent`` as a transport would hand it to ``bot.dispatch``."""
    return InboundEvent(type=event_type, data=msgspec.Raw(msgspec.json.encode(data or {})), id=id, seq=1)


def group_at(
    content: str, *, msg_id: str = "m1", group: str = "G1", member: str = "U1", role: str = ""
) -> InboundEvent:
    """A ``GROUP_AT_MESSAGE_CREATE`` (``role``: the author's ``member_role``)."""
    author: dict[str, Any] = {"member_openid": member, "id": member}
    if role:
        author["member_role"] = role
    return event(
        "GROUP_AT_MESSAGE_CREATE",
        {"id": msg_id, "content": content, "group_openid": group, "group_id": group, "author": author},
        id=f"GROUP_AT_MESSAGE_CREATE:{msg_id}",
    )


def c2c(content: str, *, msg_id: str = "c1", user: str = "U1") -> InboundEvent:
    """A ``C2C_MESSAGE_CREATE``."""
    return event(
        "C2C_MESSAGE_CREATE",
        {"id": msg_id, "content": content, "author": {"user_openid": user}},
        id=f"C2C_MESSAGE_CREATE:{msg_id}",
    )


def at_message(
    content: str,
    *,
    msg_id: str = "g1",
    channel: str = "CH1",
    guild: str = "GU1",
    user: str = "1234",
    roles: list[str] | None = None,
) -> InboundEvent:
    """A guild ``AT_MESSAGE_CREATE``."""
    return event(
        "AT_MESSAGE_CREATE",
        {
            "id": msg_id,
            "content": content,
            "channel_id": channel,
            "guild_id": guild,
            "author": {"id": user, "username": "alice"},
            "member": {"roles": roles or ["1"]},
        },
        id=f"AT_MESSAGE_CREATE:{msg_id}",
    )


def direct_message(content: str, *, msg_id: str = "d1", guild: str = "DMG1", user: str = "1234") -> InboundEvent:
    """A guild ``DIRECT_MESSAGE_CREATE``."""
    return event(
        "DIRECT_MESSAGE_CREATE",
        {"id": msg_id, "content": content, "channel_id": "DMC1", "guild_id": guild, "author": {"id": user}},
        id=f"DIRECT_MESSAGE_CREATE:{msg_id}",
    )
