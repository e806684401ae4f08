"""``qqbot gateway`` and ``qqbot worker``: access and logic apart, joined by an event bus (docs/event-bus.md).

``qqbot gateway BOT --bus URL`` holds the platform connections (the local or Redis session manager, with the bot's
intents) and publishes every dispatch event to the bus; it runs no handler. ``qqbot worker BOT --bus URL`` runs the
bot's handlers on the events read from the bus; its replies go through its own OpenAPI client (same credentials).

Both take ``--metrics-port`` (``[metrics] port``, ``QQBOT_METRICS_PORT``) as ``qqbot run`` does, and hand their
publisher or consumer to the bot's plugins through ``qqbot_bus_started`` (metrics, readiness, tracing across the
bus: docs/observability.md). A worker and a webhook gateway run a loop watchdog of their own, handed over as the
hook's ``watchdog`` argument (``/healthz`` reads it); a websocket gateway passes None: its session manager's applies.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from framework.cli.commands import (
    _USER_ERRORS,
    _credentials,
    _explain_failure,
    _observability,
    _platform,
    _plugin_failure,
    _user_error,
)
from framework.cli.commands import load as load_bot
from framework.logs import configure_logging, register_secret
from framework.plugins.manager import PluginError

if TYPE_CHECKING:
    from framework.app import Bot
    from framework.bus import BusPublisher
    from framework.config import Settings
    from framework.runtime.credentials import Credentials
    from framework.runtime.gateway.watchdog import LoopWatchdog
    from framework.runtime.platform import Platform

__all__ = ["add_parsers", "gateway", "worker"]

log = logging.getLogger("framework.cli.bus")

_WATCHDOG_THRESHOLD = 2.0
"""Seconds of a blocked event loop before the worker's (and the webhook gateway's) loop watchdog warns and
``/healthz`` answers 503: the session manager's default, which ``qqbot run`` and the websocket gateway use."""


async def _start_watchdog(tg: anyio.abc.TaskGroup) -> LoopWatchdog:
    """Run a loop watchdog in ``tg`` and return it, for ``qqbot_bus_started`` to hand over (``/healthz`` reads
    it): for a process without a session manager (whose own watchdog the websocket gateway uses)."""
    from framework.runtime.gateway.watchdog import LoopWatchdog

    watchdog = LoopWatchdog(_WATCHDOG_THRESHOLD)
    await tg.start(watchdog.run)
    return watchdog


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("bot", metavar="BOT")
    p.add_argument(
        "--bus",
        required=True,
        metavar="URL",
        help="redis://HOST:PORT/DB[?partitions=16&maxlen=100000&lease_ttl=10&idempotency_ttl=86400] (Redis Streams)",
    )
    p.add_argument("-c", "--config", help="TOML config file (default: $QQBOT_CONFIG or ./qqbot.toml)")
    p.add_argument("--profile", help="also read .env.PROFILE beside the config (default: $QQBOT_PROFILE)")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default: config, INFO")
    p.add_argument("--log-format", choices=["text", "json"], help="default: config, text")
    p.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus /metrics, /healthz and /readyz on this port (0: any; default: config, off)",
    )


def add_parsers(sub: Any) -> None:
    """Declare ``qqbot gateway`` and ``qqbot worker`` on the subcommand parsers ``sub``."""
    g = sub.add_parser(
        "gateway",
        help="hold the platform connections and publish every event to an event bus (workers handle them)",
        description="Connect BOT's shards (its intents) and publish every dispatch event to the bus; run no handler.",
    )
    _common(g)
    g.add_argument("--shard-count", type=int, help="total number of shards (default: /gateway/bot)")
    g.add_argument("--shard-ids", help="comma-separated shards this process runs, e.g. 0,1")
    g.add_argument(
        "--sessions", "--redis", metavar="URL", help="'local' (default) or redis://...: share the shards as a fleet"
    )
    g.add_argument(
        "--transport",
        choices=["websocket", "webhook"],
        help="receive events over the gateway (default: config, websocket) or as webhook callbacks",
    )
    g.add_argument("--host", help="webhook listen address (default: config, 127.0.0.1)")
    g.add_argument("--port", type=int, help="webhook listen port (default: config, 8080)")
    g.add_argument("--buffer", type=int, default=10_000, help="events held while the bus is slow (default 10000)")
    g.add_argument(
        "--when-full",
        choices=["block", "drop"],
        default="block",
        help="a full buffer: 'block' stops reading the sockets (heartbeats go on; the platform resends on "
        "resume), 'drop' drops and counts events (default: block)",
    )
    w = sub.add_parser(
        "worker",
        help="run BOT's handlers on the events an event bus carries (start as many as you like)",
        description="Read events from the bus and run BOT's handlers; replies use this process's OpenAPI client.",
    )
    _common(w)
    w.add_argument("--concurrency", type=int, help="handlers running at once (default: config, 64)")
    w.add_argument(
        "--handler-timeout", type=float, help="seconds before a handler is cancelled and reported (default 60; 0: none)"
    )


def _prepare(args: argparse.Namespace) -> tuple[Settings, Bot] | int:
    from framework.bus import check_bus_url

    try:
        check_bus_url(args.bus)
    except ValueError as exc:
        print(f"qqbot: error: {exc}", file=sys.stderr)
        return 1
    from urllib.parse import urlsplit

    password = urlsplit(args.bus).password
    if password:
        register_secret(password)
    try:
        settings, bot = load_bot(args)
        configure_logging(settings.logging.level, settings.logging.format)
        _observability(bot, settings)
        bot.prepare()
    except _USER_ERRORS as exc:
        return _user_error(exc)
    except PluginError as exc:
        return _plugin_failure(exc)
    if not settings.bot.has_credentials:
        print(
            "qqbot: error: no credentials: set QQBOT_APP_ID and QQBOT_APP_SECRET (or the TOML file); the gateway "
            "and the workers connect to the platform (or an emulator: QQBOT_API_BASE, QQBOT_TOKEN_URL)",
            file=sys.stderr,
        )
        return 1
    return settings, bot


def gateway(args: argparse.Namespace) -> int:
    """``qqbot gateway``."""
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    settings, bot = prepared
    if args.buffer < 1:
        print(f"qqbot: error: --buffer: expected an integer >= 1, got {args.buffer}", file=sys.stderr)
        return 1
    if settings.bot.transport == "webhook":
        return _run(settings, lambda: _webhook_gateway(bot, settings, _credentials(settings), args))
    return _run(
        settings,
        lambda: _gateway(bot, settings, _credentials(settings), _platform(settings), args),
    )


def worker(args: argparse.Namespace) -> int:
    """``qqbot worker``."""
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    settings, bot = prepared
    return _run(settings, lambda: _worker(bot, settings, _credentials(settings), _platform(settings), args.bus))


def _run(settings: Settings, main: Any) -> int:
    import asyncio

    from framework.cli.errors import root_causes

    try:
        return int(anyio.run(main) or 0)
    except BaseException as exc:
        causes = root_causes(exc)
        if all(isinstance(c, KeyboardInterrupt | asyncio.CancelledError) for c in causes):
            return 130
        if isinstance(exc, SystemExit):
            raise
        from framework.bus import BusUnavailable

        unavailable = [c for c in causes if isinstance(c, BusUnavailable)]
        if unavailable:
            print(f"qqbot: error: {unavailable[0]}; check --bus and that the server runs", file=sys.stderr)
            return 1
        return _explain_failure(exc, settings)


async def _gateway(
    bot: Bot, settings: Settings, credentials: Credentials, platform: Platform, args: argparse.Namespace
) -> int:
    import httpx

    from framework.bus import BusPublisher, open_bus
    from framework.clock import SystemClock
    from framework.models import Intents
    from framework.runtime.credentials import TokenManager
    from framework.runtime.gateway import websocket
    from framework.runtime.gateway.sessions.select import session_manager_factory
    from framework.runtime.gateway.signals import wait_for_signal
    from framework.runtime.openapi import OpenAPI, pooled_http_client

    clock = SystemClock()
    http_client = pooled_http_client(timeout=httpx.Timeout(10.0, connect=5.0), transport=platform.http_transport)
    async with http_client as http:
        tokens = TokenManager(credentials, platform=platform, http=http, clock=clock)
        api = OpenAPI(tokens, base_url=platform.api_base, http=http, clock=clock)
        gateway_bot = await api.get_gateway_bot()
        async with open_bus(args.bus, app_id=credentials.app_id) as bus, anyio.create_task_group() as tg:
            publisher = BusPublisher(bus, buffer=args.buffer, policy=args.when_full)
            await tg.start(publisher.run)
            manager = session_manager_factory(settings.gateway.sessions, app_id=credentials.app_id)(
                websocket.connect,
                tokens.get_token,
                gateway_bot,
                publisher,  # a plain sink: the manager queues into it in arrival order (one at a time)
                bot.required_intents or Intents.GUILDS,
                optional_intents=bot.optional_intents,
                shard_ids=settings.gateway.shard_ids,
                shard_count=settings.gateway.shard_count,
                clock=clock,
                token_invalidate=tokens.invalidate,
            )
            async with manager:
                bot.plugins.notify(
                    "qqbot_bus_started",
                    bus=bus,
                    publisher=publisher,
                    consumer=None,
                    sessions=manager,
                    tokens=tokens,
                    watchdog=None,  # the session manager runs its own: sessions.watchdog
                )
                await manager.start()
                await manager.wait_ready()
                print(f"gateway {bot.name!r} is ready; publishing to {bus!r}; press Ctrl-C to stop", flush=True)
                await wait_for_signal()
                await manager.stop()
                bot.plugins.notify("qqbot_bus_stopped")
            publisher.close()
            with anyio.move_on_after(10.0):
                await publisher.finished.wait()
            _report_publisher(publisher)
            tg.cancel_scope.cancel()
        await api.aclose()
        await tokens.aclose()
    return 0


async def _webhook_gateway(bot: Bot, settings: Settings, credentials: Credentials, args: argparse.Namespace) -> int:
    """Webhook mode: serve the platform's signed callbacks and publish each event (answered 200 once buffered)."""
    from framework.bus import BusPublisher, open_bus
    from framework.runtime.gateway.signals import wait_for_signal
    from framework.runtime.webhook import WebhookApp, WebhookBot, serve_webhook

    hook = settings.webhook
    async with open_bus(args.bus, app_id=credentials.app_id) as bus, anyio.create_task_group() as tg:
        watchdog = await _start_watchdog(tg)
        publisher = BusPublisher(bus, buffer=args.buffer, policy=args.when_full)
        await tg.start(publisher.run)
        app = WebhookApp(
            {credentials.app_id: WebhookBot(credentials.app_secret, publisher)},
            timestamp_tolerance=hook.timestamp_tolerance,
            path=None if hook.path == "/" else hook.path,
            read_timeout=hook.read_timeout,
            max_connections=hook.max_connections,
        )
        stop = anyio.Event()
        served = anyio.Event()

        async def serve(*, task_status: anyio.abc.TaskStatus[tuple[str, int]]) -> None:
            try:
                await serve_webhook(
                    app,
                    host=hook.host,
                    port=hook.port,
                    read_timeout=hook.read_timeout,
                    handle_signals=False,
                    shutdown_trigger=stop.wait,
                    task_status=task_status,
                )
            finally:
                bot.plugins.notify("qqbot_webhook_stopped")
                served.set()

        bot.plugins.notify(
            "qqbot_bus_started",
            bus=bus,
            publisher=publisher,
            consumer=None,
            sessions=None,
            tokens=None,
            watchdog=watchdog,
        )
        host, port = await tg.start(serve)
        # readiness: serving
        bot.plugins.notify("qqbot_webhook_started", host=host, port=port, tokens=None, watchdog=watchdog)
        print(
            f"gateway {bot.name!r} is ready (webhook callbacks on http://{host}:{port}{hook.path}); publishing to "
            f"{bus!r}; press Ctrl-C to stop",
            flush=True,
        )
        await wait_for_signal()
        bot.plugins.notify("qqbot_bus_stopped")
        stop.set()
        await served.wait()  # the server answered its last callbacks: everything it took is in the buffer
        publisher.close()
        with anyio.move_on_after(10.0):
            await publisher.finished.wait()
        _report_publisher(publisher)
        tg.cancel_scope.cancel()
    return 0


def _report_publisher(publisher: BusPublisher) -> None:
    stats = publisher.stats
    print(
        f"gateway stopped: {stats.published} event(s) published, {stats.dropped} dropped, "
        f"{publisher.pending()} unpublished",
        flush=True,
    )


async def _worker(bot: Bot, settings: Settings, credentials: Credentials, platform: Platform, url: str) -> int:
    from framework.app.ledger import PASSIVE_REPLY_WINDOWS
    from framework.bus import BusConsumer, open_bus
    from framework.clock import SystemClock
    from framework.runner import _bot_services
    from framework.runtime.gateway.signals import wait_for_signal

    async with _bot_services(bot, credentials=credentials, platform=platform, clock=SystemClock()) as (tokens, _):
        delivery = bot.delivery
        assert delivery is not None  # the bot is running
        async with open_bus(url, app_id=credentials.app_id) as bus, anyio.create_task_group() as tg:
            # replies: msg_seq counted in Redis (another worker may answer the same message after a failover), and
            # a reply past the passive-reply window fails before it is sent (events may wait in the stream)
            bot.ledger.store = bus.seq_store()
            bot.ledger.windows = PASSIVE_REPLY_WINDOWS
            consumer = BusConsumer(bus, delivery, max_inflight=max(2 * bot.concurrency, 256))
            watchdog = await _start_watchdog(tg)  # warns naming a handler that blocks the loop; /healthz reads it
            await tg.start(bus.run)
            bot.plugins.notify(
                "qqbot_bus_started",
                bus=bus,
                publisher=None,
                consumer=consumer,
                sessions=None,
                tokens=tokens,
                watchdog=watchdog,
            )
            finished = anyio.Event()

            async def consume() -> None:
                try:
                    await consumer.run()
                finally:
                    finished.set()

            tg.start_soon(consume)
            print(f"worker {bot.name!r} is ready; consuming {bus!r}; press Ctrl-C to stop", flush=True)
            await wait_for_signal()
            bot.plugins.notify("qqbot_bus_stopped")
            consumer.stop()
            with anyio.move_on_after(20.0):
                await finished.wait()
            stats = consumer.stats
            print(
                f"worker stopped: {stats.delivered} event(s) handled, {stats.already_handled} already handled, "
                f"{stats.acknowledged} acknowledged",
                flush=True,
            )
            tg.cancel_scope.cancel()
    return 0
