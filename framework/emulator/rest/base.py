"""Shared machinery of the REST routes: authentication, faults, body parsing, the call log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from framework.emulator.config import EmulatorConfig
from framework.emulator.http import (
    ApiError,
    Code,
    HttpRequest,
    HttpResponse,
    Router,
    error_response,
)
from framework.emulator.replies import ReplyRules
from framework.emulator.tokens import TOKEN_PREFIX, TokenService
from framework.emulator.world import ApiCall, World, WorldChannel, WorldGuild

__all__ = ["LEGACY_TOKEN_MESSAGE", "Call", "RestContext", "RestHandler"]

#: The platform's answer to the retired ``Authorization: Bot <appid>.<token>`` scheme (protocol.md §1.3).
LEGACY_TOKEN_MESSAGE = (
    "固定Token已禁用，请使用AccessToken鉴权，参考文档：https://bot.q.qq.com/wiki/develop/api-v2/"
    "dev-prepare/interface-framework/api-use.html"
)

_UNLOGGED_PREFIXES = ("/_emulator", "/websocket")


@dataclass
class Call:
    """One authenticated REST call as a handler sees it."""

    req: HttpRequest
    params: dict[str, str]
    app_id: str

    def body(self) -> dict[str, Any]:
        """The JSON object body (``{}`` when empty); 400/12002 when malformed."""
        return self.req.json_object()


RestHandler = Callable[[Call], Awaitable[HttpResponse]]


class RestContext:
    """Holds world, tokens and config, and registers REST handlers behind auth and fault injection."""

    def __init__(self, world: World, tokens: TokenService, config: EmulatorConfig, router: Router) -> None:
        self.world = world
        self.tokens = tokens
        self.config = config
        self.router = router
        self.rules = ReplyRules(world)
        router.add_observer(self._record)

    def channel(self, channel_id: str) -> WorldChannel:
        """The channel ``channel_id``, or the platform's 404."""
        channel = self.world.channels.get(channel_id)
        if channel is None:
            raise ApiError(404, Code.NOT_FOUND, "channel not found")
        return channel

    def guild(self, guild_id: str) -> WorldGuild:
        """The guild ``guild_id``, or the platform's 404."""
        guild = self.world.guilds.get(guild_id)
        if guild is None:
            raise ApiError(404, Code.NOT_FOUND, "guild not found")
        return guild

    def authenticate(self, req: HttpRequest) -> str:
        """The app id behind the request's ``Authorization`` header, or raise the platform's error."""
        header = req.headers.get("authorization", "").strip()
        if not header:
            raise ApiError(401, Code.TOKEN_MISSING, "token not exist: Authorization header missing")
        if header.startswith("Bot "):
            raise ApiError(500, Code.LEGACY_TOKEN_DISABLED, LEGACY_TOKEN_MESSAGE)
        if not header.startswith(TOKEN_PREFIX):
            raise ApiError(
                401, Code.TOKEN_MISSING, "Authorization must be 'QQBot <access_token>'", extra={"err_code": 40011005}
            )
        app_id = self.tokens.validate(header)
        if app_id is None:
            raise ApiError(401, Code.TOKEN_EXPIRED, "token expired or not exist")
        return app_id

    def check_app_headers(self, req: HttpRequest, app_id: str) -> None:
        """``X-Union-Appid`` (every SDK sends it) and ``X-Callback-AppID`` (botgo, on ``PUT /interactions``)
        may be absent (botpy and nonebot send no ``X-Callback-AppID``; protocol.md §1.3 calls the
        requirement UNCONFIRMED) but must name the token's app when present: else 401/11251."""
        for header in ("x-union-appid", "x-callback-appid"):
            value = req.headers.get(header)
            if value is not None and value.strip() != app_id:
                raise ApiError(401, Code.APPID_MISMATCH, f"{header} names another app than the access token's")

    def route(self, method: str, pattern: str, handler: RestHandler) -> None:
        """Register an authenticated OpenAPI route."""

        async def wrapped(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
            fault = self.world.take_fault(req.path)
            if fault is not None:
                return error_response(fault.status, fault.code, fault.message)
            app_id = self.authenticate(req)
            self.check_app_headers(req, app_id)
            return await handler(Call(req, params, app_id))

        self.router.add(method, pattern, wrapped)

    def check_media(self, scene: str, media: dict[str, Any]) -> None:
        """A ``media`` object must name a live upload made for this scene (group uploads only in groups)."""
        file_info = media.get("file_info")
        if not isinstance(file_info, str) or not file_info:
            raise ApiError(400, Code.BODY_INVALID, "media.file_info is required")
        upload = self.world.uploads.get(file_info)
        if upload is None or upload.scene != scene:
            raise ApiError(400, Code.BODY_INVALID, "media.file_info is unknown or was uploaded for another scene")
        if upload.ttl and self.world.now() - upload.created_at > upload.ttl:
            raise ApiError(400, Code.BODY_INVALID, "media.file_info has expired")

    def _record(self, req: HttpRequest, resp: HttpResponse) -> None:
        if req.path.startswith(_UNLOGGED_PREFIXES):
            return
        body: Any = None
        if req.body:
            try:
                body = req.json()
            except ApiError:
                body = req.body.decode("utf-8", "replace")
        if isinstance(body, dict) and "clientSecret" in body:
            body = {**body, "clientSecret": "<redacted>"}
        auth = req.headers.get("authorization", "")
        app_id = self.tokens.validate(auth) if auth.startswith(TOKEN_PREFIX) else None
        headers = dict(req.headers)
        if "authorization" in headers:
            scheme, _, secret = headers["authorization"].partition(" ")
            headers["authorization"] = f"{scheme} ***" if secret else "***"
        call = ApiCall(
            req.method.upper(), req.path, dict(req.query), body, resp.status, app_id, self.world.now(), headers
        )
        self.world.record_call(call, resp.body)
