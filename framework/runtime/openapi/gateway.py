"""Gateway discovery, the bot's own user, and the deprecated HTTP-gateway sessions (protocol.md §2.1, §9.2)."""

from __future__ import annotations

import msgspec

from framework.models.api import Gateway, GatewayBot, WebhookSession
from framework.models.common import User
from framework.models.events import Guild
from framework.runtime.openapi._group import EndpointGroup

__all__ = ["GatewayAPI"]

_GATEWAY = msgspec.json.Decoder(Gateway)
_GATEWAY_BOT = msgspec.json.Decoder(GatewayBot)
_USER = msgspec.json.Decoder(User)
_GUILDS = msgspec.json.Decoder(list[Guild])
_SESSION = msgspec.json.Decoder(WebhookSession)
_SESSIONS = msgspec.json.Decoder(list[WebhookSession])


class GatewayAPI(EndpointGroup):
    async def get_gateway(self) -> Gateway:
        """``GET /gateway``: the websocket URL."""
        return (await self._call("GET", "/gateway")).decode(_GATEWAY)

    async def get_gateway_bot(self) -> GatewayBot:
        """``GET /gateway/bot``: websocket URL, recommended shards and session-start limits."""
        return (await self._call("GET", "/gateway/bot")).decode(_GATEWAY_BOT)

    async def me(self) -> User:
        """``GET /users/@me``: the bot's own user."""
        return (await self._call("GET", "/users/@me")).decode(_USER)

    async def get_my_guilds(
        self, *, before: str | None = None, after: str | None = None, limit: int | None = None
    ) -> list[Guild]:
        """``GET /users/@me/guilds``: guilds the bot is in (``after`` wins over ``before``; ``limit`` 1-100)."""
        params = {"before": before, "after": after, "limit": limit}
        return (await self._call("GET", "/users/@me/guilds", params=params)).decode(_GUILDS)

    # -- deprecated (2022) HTTP-gateway sessions --------------------------------------------------

    async def create_webhook_session(
        self, *, intents: int, shard: tuple[int, int], callback_url: str
    ) -> WebhookSession:
        """``POST /gateway/webhook/sessions`` (deprecated 2022 model)."""
        body = {"intents": intents, "shards": list(shard), "callback_url": callback_url}
        return (await self._call("POST", "/gateway/webhook/sessions", json=body)).decode(_SESSION)

    async def check_webhook_sessions(self) -> list[WebhookSession]:
        """``PATCH /gateway/webhook/sessions?action=check`` (deprecated)."""
        answer = await self._call("PATCH", "/gateway/webhook/sessions", params={"action": "check"}, idempotent=True)
        return answer.decode(_SESSIONS)

    async def get_webhook_sessions(self) -> list[WebhookSession]:
        """``GET /gateway/webhook/sessions`` (deprecated)."""
        return (await self._call("GET", "/gateway/webhook/sessions")).decode(_SESSIONS)

    async def remove_webhook_session(self, session_id: str) -> None:
        """``DELETE /gateway/webhook/sessions/{session_id}`` (deprecated)."""
        await self._call("DELETE", "/gateway/webhook/sessions/{session_id}", path={"session_id": session_id})
