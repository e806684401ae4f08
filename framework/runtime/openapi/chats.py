"""Group and C2C (one-to-one) chats: send, rich-media upload, recall; interaction acks
(protocol.md §5.1, §5.2, §9.2, §9.3)."""

from __future__ import annotations

import base64

import msgspec

from framework.models.api import (
    FileToUpload,
    InteractionAck,
    MediaInfo,
    MessageToCreate,
    SendResult,
    UploadPrepared,
)
from framework.runtime.openapi._group import EndpointGroup
from framework.runtime.openapi.results import Delivered, PendingAudit

__all__ = ["ChatsAPI"]

_SEND = msgspec.json.Decoder(SendResult)
_MEDIA = msgspec.json.Decoder(MediaInfo)
_PREPARED = msgspec.json.Decoder(UploadPrepared)


def _upload_body(
    file_type: int, url: str | None, file_data: bytes | None, srv_send_msg: bool, file_name: str | None
) -> FileToUpload:
    if (url is None) == (file_data is None):
        raise ValueError("give exactly one of url= or file_data=")
    return FileToUpload(
        file_type=file_type,
        url=url,
        file_data=base64.b64encode(file_data).decode("ascii") if file_data is not None else None,
        srv_send_msg=srv_send_msg,
        file_name=file_name,
    )


def _scope(group_openid: str | None, openid: str | None) -> tuple[str, dict[str, str]]:
    if (group_openid is None) == (openid is None):
        raise ValueError("give exactly one of group_openid= or openid=")
    if group_openid is not None:
        return "/v2/groups/{group_openid}", {"group_openid": group_openid}
    assert openid is not None
    return "/v2/users/{openid}", {"openid": openid}


class ChatsAPI(EndpointGroup):
    async def post_group_message(
        self, group_openid: str, message: MessageToCreate
    ) -> SendResult | PendingAudit | Delivered:
        """``POST /v2/groups/{group_openid}/messages``."""
        answer = await self._call(
            "POST", "/v2/groups/{group_openid}/messages", path={"group_openid": group_openid}, json=message
        )
        return answer.decode_sent(_SEND)

    async def post_c2c_message(self, openid: str, message: MessageToCreate) -> SendResult | PendingAudit | Delivered:
        """``POST /v2/users/{openid}/messages``."""
        answer = await self._call("POST", "/v2/users/{openid}/messages", path={"openid": openid}, json=message)
        return answer.decode_sent(_SEND)

    async def upload_group_file(
        self,
        group_openid: str,
        *,
        file_type: int,
        url: str | None = None,
        file_data: bytes | None = None,
        srv_send_msg: bool = False,
        file_name: str | None = None,
    ) -> MediaInfo:
        """``POST /v2/groups/{group_openid}/files``: upload by ``url`` or raw bytes (sent base64 as
        ``file_data``); send the result with ``msg_type=7, media=Media(file_info=...)``.

        ``file_type``: 1 image, 2 video, 3 voice (silk), 4 file (give ``file_name`` for files).
        """
        body = _upload_body(file_type, url, file_data, srv_send_msg, file_name)
        answer = await self._call(
            "POST", "/v2/groups/{group_openid}/files", path={"group_openid": group_openid}, json=body
        )
        return answer.decode(_MEDIA)

    async def upload_c2c_file(
        self,
        openid: str,
        *,
        file_type: int,
        url: str | None = None,
        file_data: bytes | None = None,
        srv_send_msg: bool = False,
        file_name: str | None = None,
    ) -> MediaInfo:
        """``POST /v2/users/{openid}/files`` (same as :meth:`upload_group_file`; base64 uploads to C2C were
        reported to fail on the live platform)."""
        body = _upload_body(file_type, url, file_data, srv_send_msg, file_name)
        answer = await self._call("POST", "/v2/users/{openid}/files", path={"openid": openid}, json=body)
        return answer.decode(_MEDIA)

    async def upload_chunked(
        self,
        data: bytes,
        *,
        file_type: int,
        file_name: str,
        group_openid: str | None = None,
        openid: str | None = None,
    ) -> MediaInfo:
        """Upload a large file in parts: ``upload_prepare`` → PUT each part to its presigned URL →
        ``upload_part_finish`` per part → ``files {upload_id}``. Give ``group_openid`` or ``openid``.

        The live docs (2026) name these steps; the request and answer shapes are UNCONFIRMED (see
        ``docs/client.md``). Not retried as a whole: a failed step raises.
        """
        base, path = _scope(group_openid, openid)
        prepare = {"file_type": file_type, "file_name": file_name, "file_size": len(data)}
        prepared = (await self._call("POST", base + "/upload_prepare", path=path, json=prepare)).decode(_PREPARED)
        size = prepared.block_size
        if size <= 0:
            raise ValueError(f"upload_prepare answered block_size {size}")
        for part in prepared.parts:
            chunk = data[(part.index - 1) * size : part.index * size]
            await self._put_raw(part.presigned_url, chunk)
            finish = {"upload_id": prepared.upload_id, "part_index": part.index}
            await self._call("POST", base + "/upload_part_finish", path=path, json=finish)
        done = FileToUpload(upload_id=prepared.upload_id)
        return (await self._call("POST", base + "/files", path=path, json=done)).decode(_MEDIA)

    async def recall_group_message(self, group_openid: str, message_id: str) -> None:
        """``DELETE /v2/groups/{group_openid}/messages/{message_id}`` (within 2 minutes of sending)."""
        await self._call(
            "DELETE",
            "/v2/groups/{group_openid}/messages/{message_id}",
            path={"group_openid": group_openid, "message_id": message_id},
        )

    async def recall_c2c_message(self, openid: str, message_id: str) -> None:
        """``DELETE /v2/users/{openid}/messages/{message_id}`` (within 2 minutes of sending)."""
        await self._call(
            "DELETE",
            "/v2/users/{openid}/messages/{message_id}",
            path={"openid": openid, "message_id": message_id},
        )

    async def put_interaction(self, interaction_id: str, code: int = 0) -> None:
        """``PUT /interactions/{interaction_id}`` with ``{"code": code}``: acknowledge a button click or menu
        (0 ok, 1 failed, 2 too frequent, 3 duplicate, 4 no permission, 5 admin only)."""
        app_id: str = getattr(self, "app_id", "")
        await self._call(
            "PUT",
            "/interactions/{interaction_id}",
            path={"interaction_id": interaction_id},
            json=InteractionAck(code=code),
            headers={"X-Callback-AppID": app_id} if app_id else None,
        )
