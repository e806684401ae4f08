"""Forum threads (protocol.md §9.3; paths from other SDKs, unverified against the official docs)."""

from __future__ import annotations

import msgspec

from framework.models.api import ThreadCreated, ThreadDetail, ThreadList
from framework.runtime.openapi._group import EndpointGroup

__all__ = ["ForumAPI"]

_LIST = msgspec.json.Decoder(ThreadList)
_DETAIL = msgspec.json.Decoder(ThreadDetail)
_CREATED = msgspec.json.Decoder(ThreadCreated)


class ForumAPI(EndpointGroup):
    async def get_threads(self, channel_id: str) -> ThreadList:
        """``GET /channels/{channel_id}/threads``."""
        answer = await self._call("GET", "/channels/{channel_id}/threads", path={"channel_id": channel_id})
        return answer.decode(_LIST)

    async def get_thread(self, channel_id: str, thread_id: str) -> ThreadDetail:
        """``GET /channels/{channel_id}/threads/{thread_id}``."""
        answer = await self._call(
            "GET",
            "/channels/{channel_id}/threads/{thread_id}",
            path={"channel_id": channel_id, "thread_id": thread_id},
        )
        return answer.decode(_DETAIL)

    async def put_thread(self, channel_id: str, *, title: str, content: str, format: int = 1) -> ThreadCreated:
        """``PUT /channels/{channel_id}/threads``: publish a thread (``format`` 1 text, 2 html, 3 markdown,
        4 json). Publishing is asynchronous; the answer carries a ``task_id``. Not retried automatically:
        a repeat would publish twice."""
        answer = await self._call(
            "PUT",
            "/channels/{channel_id}/threads",
            path={"channel_id": channel_id},
            json={"title": title, "content": content, "format": format},
            idempotent=False,
        )
        return answer.decode(_CREATED)

    async def delete_thread(self, channel_id: str, thread_id: str) -> None:
        """``DELETE /channels/{channel_id}/threads/{thread_id}``."""
        await self._call(
            "DELETE",
            "/channels/{channel_id}/threads/{thread_id}",
            path={"channel_id": channel_id, "thread_id": thread_id},
        )
