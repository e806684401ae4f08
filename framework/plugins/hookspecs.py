"""The hooks a plugin can implement. Each is documented here, where it is declared.

A plugin is any object (usually a module) with functions decorated with :data:`hookimpl` whose names
are among these specs; it may implement any subset, and may accept any subset of a hook's arguments
(pluggy passes only the ones named). Hooks run in pluggy's order: the plugin registered last runs
first, ``@hookimpl(tryfirst=True)``/``trylast=True`` adjust that. Every hook runs in isolation: one
plugin raising is reported by plugin name and hook (``bot.plugins.failures``) and the others still
run, unless strict mode is on.

Order at start: ``qqbot_configure`` (every plugin), then ``qqbot_register`` (every plugin), then,
once the transport is about to connect, ``qqbot_startup``; ``qqbot_shutdown`` when the bot stops.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from framework.app import ApiRequest, Bot, Context, Router

__all__ = [
    "PROJECT_NAME",
    "hookimpl",
    "hookspec",
    "qqbot_api_request",
    "qqbot_bus_started",
    "qqbot_bus_stopped",
    "qqbot_configure",
    "qqbot_gateway_started",
    "qqbot_gateway_stopped",
    "qqbot_handler_error",
    "qqbot_rate_limit_wait",
    "qqbot_register",
    "qqbot_shutdown",
    "qqbot_startup",
    "qqbot_webhook_started",
    "qqbot_webhook_stopped",
]

PROJECT_NAME = "qqbot"
#: Marks a hook specification (framework side).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marks a plugin's hook implementation: ``@hookimpl def qqbot_register(bot): ...``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def qqbot_configure(bot: Bot, config: Any) -> None:
    """Receive this plugin's own configuration section, before anything is registered.

    ``config`` is the plugin's section of the bot config (``[plugins.<name>]`` in TOML; a mapping,
    empty when absent). If the plugin object has a ``config_model`` attribute (a ``msgspec.Struct``
    type), the section is converted into it first, so ``config`` is an instance of that Struct, and
    the instance is also injectable into handlers by annotating a parameter with the Struct type.
    A section that does not validate is reported as a failure of this hook and the plugin is disabled.
    """


@hookspec
def qqbot_register(bot: Bot, router: Router) -> None:
    """Register handlers, commands, middleware and hooks on ``router``, the plugin's own router.

    ``router`` (named after the plugin, already included in ``bot``) takes every decorator a bot takes
    (``@router.command("ping")``, ``@router.on_c2c_message``, ``@router.middleware``,
    ``@router.on_startup``), and a plugin may include routers of its own in it (``router.include(...)``).
    What is registered on ``bot`` itself during this hook goes to the same router. What a plugin
    registers counts for the bot's intents. If this hook raises, the router is dropped whole (nothing
    the plugin registered stays) and the plugin is disabled; disabling a plugin drops it too.
    """


@hookspec
def qqbot_startup(bot: Bot) -> Awaitable[None] | None:
    """Run when the bot starts, after the application's ``on_startup`` functions.

    May be ``async def`` (the returned awaitable is awaited): open connections, load data here.
    """


@hookspec
def qqbot_shutdown(bot: Bot) -> Awaitable[None] | None:
    """Run when the bot stops, after the application's ``on_shutdown`` functions; may be ``async def``.

    Runs shielded from cancellation, so cleanup completes even when the bot is cancelled.
    """


@hookspec
def qqbot_handler_error(bot: Bot, error: BaseException, ctx: Context | None, handler: str | None) -> None:
    """Observe an exception raised by a handler, a command or middleware.

    ``handler`` names the failing function (``module.qualname``; ``None`` when middleware or the
    dispatch itself failed), ``ctx`` is the event's context (``None`` if the event could not even be
    decoded). The bot keeps serving; this hook is for reporting (logs, metrics, alerts).
    """


@hookspec
def qqbot_api_request(bot: Bot, request: ApiRequest) -> None:
    """Observe one OpenAPI request after its answer arrived: method, path, status, time, error code.

    Called by the API client through ``bot.observe_api_request``; never carries headers, bodies or
    tokens. Keep it fast: it runs on the request path.
    """


@hookspec
def qqbot_gateway_started(bot: Bot, sessions: Any, tokens: Any) -> None:
    """Observe that the bot's gateway sessions started (called by ``BotRunner`` once the manager runs).

    ``sessions`` is the running :class:`~framework.interfaces.SessionManager` (local or fleet): its
    ``status()`` lists the shards this process owns now (state, reconnects, last close code), and its
    ``watchdog`` attribute, when not None, is the :class:`~framework.runtime.gateway.watchdog.LoopWatchdog`
    that measures how responsive the event loop is. ``tokens`` is the access-token provider (a
    :class:`~framework.interfaces.AuthProvider`; a ``TokenManager`` counts its fetches in ``fetch_count``).
    Both are typed ``Any`` here: plugins use only the app layer's names. For observers (metrics, health
    probes): keep references, do not drive the sessions. Called from the event loop.
    """


@hookspec
def qqbot_gateway_stopped(bot: Bot, sessions: Any) -> None:
    """Observe that the gateway sessions stopped (every shard closed), before the bot's shutdown hooks."""


@hookspec
def qqbot_webhook_started(bot: Bot, host: str, port: int, tokens: Any, watchdog: Any) -> None:
    """Observe that the webhook server is serving callbacks on ``host``:``port`` (called by ``run_webhook``, and by
    ``qqbot gateway --transport webhook`` with ``tokens`` None: that server publishes to a bus). ``watchdog`` is
    the process's :class:`~framework.runtime.gateway.watchdog.LoopWatchdog` (what ``/healthz`` reads), or None."""


@hookspec
def qqbot_webhook_stopped(bot: Bot) -> None:
    """Observe that the webhook server stopped serving, before the bot's shutdown hooks."""


@hookspec
def qqbot_rate_limit_wait(bot: Bot, method: str, route: str, seconds: float) -> None:
    """Observe that an OpenAPI call waited ``seconds`` for its route's rate limit before being sent.

    ``route`` is the endpoint's template (``/v2/groups/{group_openid}/messages``): the client's limiter holds
    a route after a 429 (or books calls ahead of one), and every call it delays is reported here once per
    wait, from the API client (``bot.observe_rate_limit_wait``). Keep it fast: it runs on the request path.
    """


@hookspec
def qqbot_bus_started(
    bot: Bot, bus: Any, publisher: Any, consumer: Any, sessions: Any, tokens: Any, watchdog: Any
) -> None:
    """Observe that this process joined an event bus (docs/event-bus.md): called by ``qqbot gateway`` and
    ``qqbot worker`` (the gateway's webhook server also calls ``qqbot_webhook_started``; nothing else of the
    transport hooks above is called there).

    On a gateway ``publisher`` is its :class:`~framework.bus.publisher.BusPublisher` (``consumer`` None), called
    before the first event is buffered: a tracer set as ``publisher.tracer`` sees every event. ``sessions`` is
    its session manager (as in ``qqbot_gateway_started``; None on a webhook gateway), ``tokens`` its token
    provider (None on a webhook gateway). On a worker ``consumer`` is its
    :class:`~framework.bus.consumer.BusConsumer` (``publisher`` and ``sessions`` None), called once the worker
    holds its bus membership and before it reads: the bot is running, so ``bot.delivery`` is the delivery path
    the consumer feeds. ``bus`` is the backend (:class:`~framework.bus.base.EventBus`). ``watchdog`` is the
    process's :class:`~framework.runtime.gateway.watchdog.LoopWatchdog` (what ``/healthz`` reads) on a worker and
    a webhook gateway, which run no session manager; None on a websocket gateway, whose session manager's own
    (``sessions.watchdog``) applies. All typed ``Any``: plugins use only the app layer's names; like every hook,
    an implementation may take a subset of the arguments (one written before ``watchdog`` was added still
    works). For observers (metrics, readiness, tracing): keep references, do not drive them. Called from the
    event loop.
    """


@hookspec
def qqbot_bus_stopped(bot: Bot) -> None:
    """Observe that the gateway stopped publishing (its shards closed) or the worker stopped reading the bus."""
