"""Guild direct messages (protocol.md §5.1, §9.2)."""

from __future__ import annotations

import msgspec

from framework.models.api import DMS, MessageToCreate
from framework.models.events import Message
from framework.runtime.openapi._group import EndpointGroup
from framework.runtime.openapi.messages import image_file, multipart_fields
from framework.runtime.openapi.results import Delivered, PendingAudit

__all__ = ["DirectMessagesAPI"]

_DMS = msgspec.json.Decoder(DMS)
_MESSAGE = msgspec.json.Decoder(Message)


class DirectMessagesAPI(EndpointGroup):
    async def create_dms(self, recipient_id: str, source_guild_id: str) -> DMS:
        """``POST /users/@me/dms``: open a DM session with a guild member; send to its ``guild_id``."""
        body = {"recipient_id": recipient_id, "source_guild_id": source_guild_id}
        return (await self._call("POST", "/users/@me/dms", json=body)).decode(_DMS)

    async def post_dms_message(
        self,
        guild_id: str,
        message: MessageToCreate,
        *,
        file_image: bytes | None = None,
        filename: str = "image.png",
    ) -> Message | PendingAudit | Delivered:
        """``POST /dms/{guild_id}/messages`` (``guild_id`` of the DM session); ``file_image`` as in
        :meth:`~framework.runtime.openapi.messages.MessagesAPI.post_channel_message`."""
        if file_image is not None:
            answer = await self._call(
                "POST",
                "/dms/{guild_id}/messages",
                path={"guild_id": guild_id},
                form=multipart_fields(message),
                files=image_file(file_image, filename),
            )
        else:
            answer = await self._call("POST", "/dms/{guild_id}/messages", path={"guild_id": guild_id}, json=message)
        return answer.decode_sent(_MESSAGE)

    async def recall_dms_message(self, guild_id: str, message_id: str, *, hidetip: bool = False) -> None:
        """``DELETE /dms/{guild_id}/messages/{message_id}``."""
        await self._call(
            "DELETE",
            "/dms/{guild_id}/messages/{message_id}",
            path={"guild_id": guild_id, "message_id": message_id},
            params={"hidetip": hidetip},
        )

    async def post_dms_setting_guide(self, guild_id: str, jump_guild_id: str) -> None:
        """``POST /dms/{guild_id}/settingguide``."""
        await self._call(
            "POST",
            "/dms/{guild_id}/settingguide",
            path={"guild_id": guild_id},
            json={"setting_guide": {"guild_id": jump_guild_id}},
        )
