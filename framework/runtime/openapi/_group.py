"""The base of every endpoint group: declares the request primitive the groups are written against."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework.runtime.openapi.core import Answer

__all__ = ["EndpointGroup"]


class EndpointGroup:
    """Mixin base: endpoint groups call :meth:`_call`, which :class:`OpenAPICore` implements."""

    async def _call(
        self,
        method: str,
        template: str,
        /,
        *,
        path: Mapping[str, str] | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> Answer:
        raise NotImplementedError

    async def _put_raw(self, url: str, content: bytes) -> None:
        """PUT ``content`` to an absolute (presigned) URL without the bot's credentials."""
        raise NotImplementedError
