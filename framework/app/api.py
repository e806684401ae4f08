"""The slice of the OpenAPI client the app layer uses, typed as a Protocol.

The concrete client lives in :mod:`framework.runtime.openapi`; anything with these methods works
(the emulator's client, a recording fake in unit tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from framework.models.api import MediaInfo, MessageToCreate

__all__ = ["ApiClient", "ApiRequest"]


@runtime_checkable
class ApiClient(Protocol):
    """Send and upload methods used by replies; handlers may receive the full client by injection."""

    async def post_channel_message(self, channel_id: str, message: MessageToCreate, /) -> Any: ...

    async def post_dms_message(self, guild_id: str, message: MessageToCreate, /) -> Any: ...

    async def post_group_message(self, group_openid: str, message: MessageToCreate, /) -> Any: ...

    async def post_c2c_message(self, openid: str, message: MessageToCreate, /) -> Any: ...

    async def upload_group_file(
        self, group_openid: str, /, *, file_type: int, url: str | None = None, file_data: bytes | None = None
    ) -> MediaInfo: ...

    async def upload_c2c_file(
        self, openid: str, /, *, file_type: int, url: str | None = None, file_data: bytes | None = None
    ) -> MediaInfo: ...

    async def put_interaction(self, interaction_id: str, /, code: int = 0) -> Any: ...


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One OpenAPI request as observed by the client (what the ``qqbot_api_request`` hook receives).

    Never carries headers or bodies, so no token can leak through it.
    """

    method: str
    path: str
    status: int
    elapsed: float
    """Seconds from sending the request to reading the answer."""
    code: int | None = None
    """The platform's business error code (``err_code``/``code``), if any."""
    trace_id: str | None = None
