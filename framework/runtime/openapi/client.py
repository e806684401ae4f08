"""The complete OpenAPI client: the request engine plus every endpoint group."""

from __future__ import annotations

from typing import Any

import httpx

from framework._deprecated import warn_argument
from framework.clock import Clock
from framework.runtime.credentials import AuthProvider, Credentials, TokenManager
from framework.runtime.openapi.channels import ChannelsAPI
from framework.runtime.openapi.chats import ChatsAPI
from framework.runtime.openapi.core import DEFAULT_TIMEOUT, OpenAPICore, pooled_http_client
from framework.runtime.openapi.dms import DirectMessagesAPI
from framework.runtime.openapi.forum import ForumAPI
from framework.runtime.openapi.gateway import GatewayAPI
from framework.runtime.openapi.guilds import GuildsAPI
from framework.runtime.openapi.members import MembersAPI
from framework.runtime.openapi.messages import MessagesAPI
from framework.runtime.platform import Platform

__all__ = ["OpenAPI"]


class OpenAPI(
    OpenAPICore,
    GatewayAPI,
    GuildsAPI,
    MembersAPI,
    ChannelsAPI,
    MessagesAPI,
    DirectMessagesAPI,
    ChatsAPI,
    ForumAPI,
):
    """Async client for the QQ bot OpenAPI.

    ``OpenAPI(auth, base_url=API_BASE, app_id=None, http=None, clock=SystemClock(), timeout=...,
    max_retries=3, max_rate_limit_wait=60.0, on_request=None, on_response=None)``; use it as an async
    context manager or call :meth:`aclose`. ``auth`` is a :class:`~framework.runtime.credentials.TokenManager`
    (or a :class:`~framework.runtime.credentials.LegacyToken`). See ``docs/client.md``.
    """

    @classmethod
    def from_credentials(
        cls,
        credentials: Credentials,
        *,
        platform: Platform | None = None,
        clock: Clock | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        base_url: str | None = None,
        token_url: str | None = None,
        **kwargs: Any,
    ) -> OpenAPI:
        """A client and its :class:`TokenManager` sharing one connection pool (closed by :meth:`aclose`).

        ``platform`` (default: production) says where REST and the token endpoint are, and may carry the
        HTTP transport. ``base_url=`` and ``token_url=`` are deprecated aliases of ``platform=`` (one release).
        """
        if base_url is not None or token_url is not None:
            if platform is not None:
                raise TypeError(
                    "OpenAPI.from_credentials: pass platform= or the deprecated base_url=/token_url=, not both"
                )
            production = Platform.production()
            for old, value in (("base_url", base_url), ("token_url", token_url)):
                if value is not None:
                    warn_argument("OpenAPI.from_credentials", old, "platform=Platform(...)")
            platform = Platform(base_url or production.api_base, token_url or production.token_url)
        if platform is None:
            platform = Platform.production()
        http = pooled_http_client(timeout=timeout, transport=platform.http_transport)
        tokens = TokenManager(credentials, platform=platform, http=http, clock=clock)
        api = cls(tokens, base_url=platform.api_base, http=http, clock=clock, timeout=timeout, **kwargs)
        api._own_http = True
        return api

    @property
    def auth(self) -> AuthProvider:
        """The authenticator (a ``TokenManager`` or ``LegacyToken``)."""
        return self._auth
