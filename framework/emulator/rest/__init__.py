"""The emulator's OpenAPI: token endpoint, identity, gateway discovery, messages, media and guild routes.

:func:`build_rest` registers every route on a :class:`~framework.emulator.http.Router`.
The deprecated HTTP-gateway session endpoints are not modelled and answer 501 with the platform's
error body; everything else is (the less-used endpoints minimally, in ``rest/extra.py``).
"""

from __future__ import annotations

from framework.emulator.config import EmulatorConfig
from framework.emulator.http import (
    ApiError,
    Code,
    HttpRequest,
    HttpResponse,
    Router,
    json_response,
    require_str,
)
from framework.emulator.rest.audit import register_audit_control
from framework.emulator.rest.base import Call, RestContext
from framework.emulator.rest.extra import register_extra_routes
from framework.emulator.rest.guilds import register_guild_routes
from framework.emulator.rest.media import register_media_routes
from framework.emulator.rest.messages import register_message_routes
from framework.emulator.tokens import TokenError, TokenService
from framework.emulator.world import World

__all__ = ["NOT_MODELLED", "RestContext", "build_rest"]

#: (method, pattern) of platform endpoints the emulator answers with 501: the deprecated (2022)
#: HTTP-gateway sessions only (protocol.md §9.2).
NOT_MODELLED: tuple[tuple[str, str], ...] = (
    ("POST", "/gateway/webhook/sessions"),
    ("GET", "/gateway/webhook/sessions"),
    ("PATCH", "/gateway/webhook/sessions"),
    ("DELETE", "/gateway/webhook/sessions/{session_id}"),
)


def build_rest(world: World, tokens: TokenService, config: EmulatorConfig, router: Router) -> None:
    """Register the token endpoint and every OpenAPI route on ``router``."""
    ctx = RestContext(world, tokens, config, router)

    async def get_token(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        fault = world.take_fault(req.path)
        if fault is not None:
            return json_response(fault.status, {"code": fault.code, "message": fault.message})
        try:
            body = req.json_object()
            app_id = require_str(body, "appId")
            secret = require_str(body, "clientSecret")
            return json_response(200, tokens.issue(app_id, secret))
        except ApiError as exc:
            return json_response(200, {"code": exc.code, "message": exc.message})
        except TokenError as exc:
            return json_response(200, {"code": exc.code, "message": exc.message})

    router.add("POST", "/app/getAppAccessToken", get_token)

    async def me(call: Call) -> HttpResponse:
        bot = world.bot
        body = {
            "id": bot.id,
            "username": bot.username,
            "avatar": bot.avatar,
            "union_openid": "",
            "union_user_account": "",
        }
        return json_response(200, body)

    def ws_url(call: Call) -> str:
        host = call.req.headers.get("host") or f"{config.host}:{config.port}"
        return f"ws://{host}/websocket"

    async def gateway(call: Call) -> HttpResponse:
        return json_response(200, {"url": ws_url(call)})

    async def gateway_bot(call: Call) -> HttpResponse:
        body = {"url": ws_url(call), "shards": config.shards, "session_start_limit": world.session_limit.to_json()}
        return json_response(200, body)

    ctx.route("GET", "/users/@me", me)
    ctx.route("GET", "/gateway", gateway)
    ctx.route("GET", "/gateway/bot", gateway_bot)
    register_message_routes(ctx)
    register_media_routes(ctx)
    register_guild_routes(ctx)
    register_extra_routes(ctx)
    register_audit_control(world, config, router)

    async def not_modelled(call: Call) -> HttpResponse:
        raise ApiError(501, Code.NOT_MODELLED, f"{call.req.method} {call.req.path} is not modelled by the emulator")

    for method, pattern in NOT_MODELLED:
        ctx.route(method, pattern, not_modelled)
