"""Guild channel messages: send, edit, read, recall, setting guides, pins, reactions, announcements
(protocol.md §5.1, §9.2)."""

from __future__ import annotations

from typing import Any

import msgspec

from framework.models.api import Announces, MessageToCreate, PinsMessage, ReactionUsers
from framework.models.events import Message
from framework.runtime.openapi._group import EndpointGroup
from framework.runtime.openapi.results import Delivered, PendingAudit

__all__ = ["MessagesAPI", "image_file", "multipart_fields"]

_MESSAGE = msgspec.json.Decoder(Message)
_MESSAGES = msgspec.json.Decoder(list[Message])
_PINS = msgspec.json.Decoder(PinsMessage)
_REACTION_USERS = msgspec.json.Decoder(ReactionUsers)
_ANNOUNCES = msgspec.json.Decoder(Announces)
_ANY = msgspec.json.Decoder(Any)


def multipart_fields(message: MessageToCreate) -> dict[str, str]:
    """The scalar fields of ``message`` as form fields (objects cannot travel next to a ``file_image``)."""
    fields: dict[str, str] = {}
    for name, value in msgspec.structs.asdict(message).items():
        if value is None:
            continue
        if isinstance(value, msgspec.Struct | dict | list):
            raise ValueError(f"{name} cannot be sent with file_image (multipart carries only text fields)")
        fields[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return fields


def image_file(file_image: bytes, filename: str) -> dict[str, tuple[str, bytes, str]]:
    """The ``file_image`` part of a multipart guild/DM send."""
    kind = "image/png" if file_image.startswith(b"\x89PNG") else "image/jpeg"
    return {"file_image": (filename, file_image, kind)}


class MessagesAPI(EndpointGroup):
    async def post_channel_message(
        self,
        channel_id: str,
        message: MessageToCreate,
        *,
        file_image: bytes | None = None,
        filename: str = "image.png",
    ) -> Message | PendingAudit | Delivered:
        """``POST /channels/{channel_id}/messages``: the sent message, :class:`PendingAudit`, or
        :class:`Delivered` (sent, but the answer was unreadable).

        With ``file_image`` (raw image bytes) the message goes as ``multipart/form-data`` (protocol.md §5.1);
        only its text fields (content, msg_id, event_id, image, ...) can travel with it.
        """
        if file_image is not None:
            answer = await self._call(
                "POST",
                "/channels/{channel_id}/messages",
                path={"channel_id": channel_id},
                form=multipart_fields(message),
                files=image_file(file_image, filename),
            )
        else:
            answer = await self._call(
                "POST", "/channels/{channel_id}/messages", path={"channel_id": channel_id}, json=message
            )
        return answer.decode_sent(_MESSAGE)

    async def patch_channel_message(
        self, channel_id: str, message_id: str, message: MessageToCreate
    ) -> Message | PendingAudit:
        """``PATCH /channels/{channel_id}/messages/{message_id}``: edit a message (e.g. its keyboard)."""
        answer = await self._call(
            "PATCH",
            "/channels/{channel_id}/messages/{message_id}",
            path={"channel_id": channel_id, "message_id": message_id},
            json=message,
            idempotent=True,
        )
        return answer.decode_or_pending(_MESSAGE)

    async def get_message(self, channel_id: str, message_id: str) -> Message:
        """``GET /channels/{channel_id}/messages/{message_id}`` (a ``{"message": {...}}`` wrapper is unwrapped)."""
        answer = await self._call(
            "GET",
            "/channels/{channel_id}/messages/{message_id}",
            path={"channel_id": channel_id, "message_id": message_id},
        )
        raw = answer.decode(_ANY)
        if isinstance(raw, dict) and isinstance(raw.get("message"), dict):
            raw = raw["message"]
        try:
            return msgspec.convert(raw, Message)
        except msgspec.ValidationError as exc:
            raise answer.unexpected(exc) from exc

    async def get_messages(
        self,
        channel_id: str,
        *,
        limit: int | None = None,
        around: str | None = None,
        before: str | None = None,
        after: str | None = None,
    ) -> list[Message]:
        """``GET /channels/{channel_id}/messages`` (``limit`` ≤ 20; one of around/before/after)."""
        params = {"limit": limit, "around": around, "before": before, "after": after}
        answer = await self._call(
            "GET", "/channels/{channel_id}/messages", path={"channel_id": channel_id}, params=params
        )
        return answer.decode(_MESSAGES)

    async def recall_channel_message(self, channel_id: str, message_id: str, *, hidetip: bool = False) -> None:
        """``DELETE /channels/{channel_id}/messages/{message_id}`` (``hidetip`` hides the grey notice)."""
        await self._call(
            "DELETE",
            "/channels/{channel_id}/messages/{message_id}",
            path={"channel_id": channel_id, "message_id": message_id},
            params={"hidetip": hidetip},
        )

    async def post_setting_guide(self, channel_id: str, content: str) -> None:
        """``POST /channels/{channel_id}/settingguide``."""
        await self._call(
            "POST", "/channels/{channel_id}/settingguide", path={"channel_id": channel_id}, json={"content": content}
        )

    async def add_pin(self, channel_id: str, message_id: str) -> PinsMessage:
        """``PUT /channels/{channel_id}/pins/{message_id}``."""
        answer = await self._call(
            "PUT",
            "/channels/{channel_id}/pins/{message_id}",
            path={"channel_id": channel_id, "message_id": message_id},
        )
        return answer.decode(_PINS)

    async def delete_pin(self, channel_id: str, message_id: str) -> None:
        """``DELETE /channels/{channel_id}/pins/{message_id}``."""
        await self._call(
            "DELETE",
            "/channels/{channel_id}/pins/{message_id}",
            path={"channel_id": channel_id, "message_id": message_id},
        )

    async def clean_pins(self, channel_id: str) -> None:
        """``DELETE /channels/{channel_id}/pins/all``."""
        await self._call("DELETE", "/channels/{channel_id}/pins/all", path={"channel_id": channel_id})

    async def get_pins(self, channel_id: str) -> PinsMessage:
        """``GET /channels/{channel_id}/pins``."""
        return (await self._call("GET", "/channels/{channel_id}/pins", path={"channel_id": channel_id})).decode(_PINS)

    async def add_reaction(self, channel_id: str, message_id: str, emoji_type: int, emoji_id: str) -> None:
        """``PUT .../messages/{message_id}/reactions/{emoji_type}/{emoji_id}`` (type 1 system face, 2 emoji)."""
        await self._call("PUT", _REACTION, path=_reaction_path(channel_id, message_id, emoji_type, emoji_id))

    async def delete_reaction(self, channel_id: str, message_id: str, emoji_type: int, emoji_id: str) -> None:
        """``DELETE .../messages/{message_id}/reactions/{emoji_type}/{emoji_id}``: remove the bot's reaction."""
        await self._call("DELETE", _REACTION, path=_reaction_path(channel_id, message_id, emoji_type, emoji_id))

    async def get_reaction_users(
        self,
        channel_id: str,
        message_id: str,
        emoji_type: int,
        emoji_id: str,
        *,
        cookie: str | None = None,
        limit: int = 20,
    ) -> ReactionUsers:
        """``GET .../reactions/{emoji_type}/{emoji_id}``: one page (``limit`` ≤ 50; pass ``cookie`` onward)."""
        answer = await self._call(
            "GET",
            _REACTION,
            path=_reaction_path(channel_id, message_id, emoji_type, emoji_id),
            params={"cookie": cookie, "limit": limit},
        )
        return answer.decode(_REACTION_USERS)

    async def create_channel_announce(self, channel_id: str, message_id: str) -> Announces:
        """``POST /channels/{channel_id}/announces``."""
        answer = await self._call(
            "POST", "/channels/{channel_id}/announces", path={"channel_id": channel_id}, json={"message_id": message_id}
        )
        return answer.decode(_ANNOUNCES)

    async def delete_channel_announce(self, channel_id: str, message_id: str) -> None:
        """``DELETE /channels/{channel_id}/announces/{message_id}``."""
        await self._call(
            "DELETE",
            "/channels/{channel_id}/announces/{message_id}",
            path={"channel_id": channel_id, "message_id": message_id},
        )

    async def clean_channel_announces(self, channel_id: str) -> None:
        """``DELETE /channels/{channel_id}/announces/all``."""
        await self._call("DELETE", "/channels/{channel_id}/announces/all", path={"channel_id": channel_id})


_REACTION = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_type}/{emoji_id}"


def _reaction_path(channel_id: str, message_id: str, emoji_type: int, emoji_id: str) -> dict[str, str]:
    return {"channel_id": channel_id, "message_id": message_id, "emoji_type": str(emoji_type), "emoji_id": emoji_id}
