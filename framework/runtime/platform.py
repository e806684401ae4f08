"""Where the platform is: the REST base URL, the access-token endpoint and, for in-process use, a transport.

:class:`Platform` is a value: build it once (:meth:`Platform.production`, :meth:`Platform.sandbox`,
:meth:`Platform.from_settings`, :meth:`Platform.at` for a server that serves REST and the token
endpoint under one base URL, such as the emulator) and hand it to ``BotRunner``, ``run_webhook``,
``TokenManager`` and ``OpenAPI.from_credentials``. Its companion, the app id and secret, is
:class:`framework.runtime.credentials.Credentials`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import httpx

from framework.models.constants import API_BASE, SANDBOX_API_BASE, TOKEN_URL

__all__ = ["TOKEN_PATH", "EndpointSettings", "Platform"]

#: Path of the access-token endpoint under the token host (``https://bots.qq.com`` in production).
TOKEN_PATH = "/app/getAppAccessToken"


class EndpointSettings(Protocol):
    """What :meth:`Platform.from_settings` reads (``framework.config.BotSettings`` has it)."""

    @property
    def resolved_api_base(self) -> str:
        """The REST base URL (``api_base``, or the sandbox or production base)."""
        ...

    @property
    def token_url(self) -> str:
        """The access-token endpoint."""
        ...


@dataclass(frozen=True, slots=True)
class Platform:
    """The endpoints a bot talks to: ``api_base`` (REST), ``token_url`` (access tokens) and, optionally,
    ``http_transport``: an httpx transport that replaces the network for both (the emulator's in-process
    transport, or a plain ``httpx.AsyncHTTPTransport()`` that ignores proxy settings for loopback).

    A transport is closed with the HTTP client built on it: give each runner its own ``Platform`` when
    it carries a transport that cannot be reused after closing.
    """

    api_base: str = API_BASE
    token_url: str = TOKEN_URL
    http_transport: httpx.AsyncBaseTransport | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name in ("api_base", "token_url"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.startswith(("http://", "https://")):
                raise ValueError(f"Platform {name} must be an http:// or https:// URL, got {value!r}")

    @classmethod
    def production(cls) -> Platform:
        """The live platform: ``https://api.sgroup.qq.com`` and ``https://bots.qq.com/app/getAppAccessToken``."""
        return cls(API_BASE, TOKEN_URL)

    @classmethod
    def sandbox(cls) -> Platform:
        """The sandbox REST base (only test guilds receive events there) with the production token endpoint."""
        return cls(SANDBOX_API_BASE, TOKEN_URL)

    @classmethod
    def at(cls, base_url: str, *, http_transport: httpx.AsyncBaseTransport | None = None) -> Platform:
        """A platform serving REST and the token endpoint under one base URL (the emulator, a test server)."""
        base = base_url.rstrip("/")
        return cls(base, base + TOKEN_PATH, http_transport)

    @classmethod
    def from_settings(cls, settings: EndpointSettings) -> Platform:
        """From ``settings.bot`` (``bot.api_base`` or ``bot.sandbox``, ``bot.token_url``; ``QQBOT_*`` variables)."""
        return cls(settings.resolved_api_base, settings.token_url)

    def __repr__(self) -> str:
        transport = "" if self.http_transport is None else f", http_transport={type(self.http_transport).__name__}"
        return f"Platform(api_base={self.api_base!r}, token_url={self.token_url!r}{transport})"
