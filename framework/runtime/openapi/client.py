"""The complete OpenAPI client: the request engine plus every endpoint group."""

from __future__ import annotations

from typing import Any

import httpx

from framework.clock import Clock
from framework.models.constants import API_BASE, TOKEN_URL
from framework.runtime.credentials import AuthProvider, Credentials, TokenManager
from framework.runtime.openapi.channels import ChannelsAPI
from framework.runtime.openapi.chats import ChatsAPI
from framework.runtime.openapi.core import DEFAULT_TIMEOUT, OpenAPICore
from framework.runtime.openapi.dms import DirectMessagesAPI
from framework.runtime.openapi.forum import ForumAPI
from framework.runtime.openapi.gateway import GatewayAPI
from framework.runtime.openapi.guilds import GuildsAPI
from framework.runtime.openapi.members import MembersAPI
from framework.runtime.openapi.messages import MessagesAPI

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
        base_url: str = API_BASE,
        token_url: str = TOKEN_URL,
        clock: Clock | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> OpenAPI:
        """A client and its :class:`TokenManager` sharing one connection pool (closed by :meth:`aclose`)."""
        http = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0),
        )
        tokens = TokenManager(credentials, token_url=token_url, http=http, clock=clock)
        api = cls(tokens, base_url=base_url, http=http, clock=clock, timeout=timeout, **kwargs)
        api._own_http = True
        return api

    @property
    def auth(self) -> AuthProvider:
        """The authenticator (a ``TokenManager`` or ``LegacyToken``)."""
        return self._auth
