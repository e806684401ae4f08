"""Run a :class:`~framework.app.Bot` against a platform: the glue between the app layer and the runtime.

:class:`BotRunner` connects a bot over the gateway::

    async with BotRunner(bot, credentials=Credentials.from_settings(settings.bot)) as running:
        await running.wait_ready()      # every shard READY
        await running.wait_closed()     # until stopped (or a fatal gateway error, which is raised)

It builds the :class:`~framework.runtime.credentials.TokenManager` and the
:class:`~framework.runtime.openapi.OpenAPI` client (on ``platform.http_transport`` when given, e.g. the
emulator's in-process transport), binds the client into the bot, starts the bot (plugins,
``on_startup``, and its :class:`~framework.delivery.EventDispatcher`, ``bot.delivery``), and runs a
:class:`~framework.runtime.gateway.sessions.LocalSessionManager` with ``bot.intents`` that feeds
``bot.delivery``: the one event path (dedupe, per-chat order, ``bot.concurrency`` handlers at once,
``bot.handler_timeout``). On exit it stops the shards, gives queued events ``drain_timeout`` seconds to
reach the handlers and running handlers ``handler_deadline`` more, cancels what is left, runs the bot's
shutdown hooks and closes the HTTP client.

:func:`run_webhook` serves a bot through the webhook app instead (HTTP callbacks, no gateway).

An :class:`EventTracker` (``runner.tracker``, created on first use or passed in) is an observer of
``bot.delivery``: it counts events and remembers which envelope ids were handled; the test client uses it
to wait until the bot is idle. A runner whose tracker nobody asked for observes nothing (no per-event cost).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
import httpx

from framework.app import Bot
from framework.clock import Clock, SystemClock
from framework.delivery import EventDispatcher
from framework.models import InboundEvent, Intents
from framework.models.transport import Connector
from framework.protocol.gateway import GatewayFatalError
from framework.runtime.credentials import Credentials, TokenManager
from framework.runtime.edge import resolve_edge
from framework.runtime.gateway import websocket
from framework.runtime.gateway.sessions import LocalSessionManager
from framework.runtime.gateway.sessions.select import check_sessions, session_manager_factory
from framework.runtime.gateway.shard import ShardOptions, ShardStatus
from framework.runtime.gateway.watchdog import LoopWatchdog
from framework.runtime.locks import RedisLocks
from framework.runtime.openapi import OpenAPI, pooled_http_client
from framework.runtime.platform import Platform

__all__ = ["BotRunner", "EventTracker", "RunnerStatus", "run_webhook", "sole_exception"]

log = logging.getLogger("framework.runner")


class EventTracker:
    """Counts the events a runner handles and remembers the envelope ids of recently handled ones.

    ``received`` / ``handled`` are totals; :meth:`state` says whether an id is ``"handled"``,
    ``"running"`` or ``"unseen"``; :meth:`changed` waits for the next event to start or finish.
    About ``remember`` ids are kept (the oldest forgotten first; an id still running is never forgotten).
    """

    def __init__(self, remember: int = 10_000) -> None:
        self.remember = remember
        self.received = 0
        self.handled = 0
        self._in_flight = 0
        self._runs: dict[str, int] = {}  # id -> handlers of it running now (0: handled)
        self._order: deque[str] = deque()  # the ids in _runs, oldest first
        self._changed: anyio.Event | None = None  # created only when someone waits

    @property
    def in_flight(self) -> int:
        """Events whose handlers have started and not finished."""
        return self._in_flight

    def started(self, event: InboundEvent) -> None:
        """Record that ``event`` was handed to the bot."""
        self.received += 1
        self._in_flight += 1
        event_id = event.id
        if event_id:
            runs = self._runs
            count = runs.get(event_id)
            if count is None:
                runs[event_id] = 1
                order = self._order
                order.append(event_id)
                while len(order) > self.remember and not runs[order[0]]:
                    del runs[order.popleft()]
            else:
                runs[event_id] = count + 1
        if self._changed is not None:
            self._notify()

    def finished(self, event: InboundEvent) -> None:
        """Record that the bot finished ``event`` (successfully or not)."""
        self.handled += 1
        self._in_flight -= 1
        event_id = event.id
        if event_id:
            runs = self._runs
            count = runs.get(event_id)
            if count:
                runs[event_id] = count - 1
            order = self._order
            while len(order) > self.remember and not runs[order[0]]:
                del runs[order.popleft()]
        if self._changed is not None:
            self._notify()

    def state(self, event_id: str) -> str:
        """``"running"`` (being handled), ``"handled"`` (finished) or ``"unseen"``."""
        count = self._runs.get(event_id)
        if count is None:
            return "unseen"
        return "running" if count else "handled"

    async def changed(self) -> None:
        """Return after the next :meth:`started` or :meth:`finished`."""
        if self._changed is None:
            self._changed = anyio.Event()
        await self._changed.wait()

    async def wait_idle(self) -> None:
        """Return when no event is being handled."""
        while self._in_flight:
            await self.changed()

    def _notify(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    def __repr__(self) -> str:
        return f"EventTracker(received={self.received}, handled={self.handled}, in_flight={self._in_flight})"


def sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The only exception inside ``group`` (however deeply nested), or None if there are several.

    Task groups wrap whatever crosses them, even one exception raised by the code inside; a context
    manager built on task groups unwraps it so callers see (and ``pytest.raises``) the real error.
    """
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        current = stack.pop()
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        else:
            leaves.append(current)
    return leaves[0] if len(leaves) == 1 else None


@dataclass(frozen=True, slots=True)
class RunnerStatus:
    """A snapshot of a running bot: its shards and its handlers."""

    shards: tuple[ShardStatus, ...]
    ready: bool
    """Every shard is READY."""
    received: int
    """Events handed to the bot so far."""
    handled: int
    """Events the bot finished."""
    in_flight: int
    """Events being handled now."""


@asynccontextmanager
async def _bot_services(
    bot: Bot,
    *,
    credentials: Credentials,
    platform: Platform,
    clock: Clock,
    drain_timeout: float | None = None,
    handler_deadline: float | None = None,
) -> AsyncIterator[tuple[TokenManager, OpenAPI]]:
    """The HTTP client, token manager and OpenAPI client, bound into the running bot; all closed on exit."""
    async with AsyncExitStack() as stack:
        http = pooled_http_client(timeout=httpx.Timeout(10.0, connect=5.0), transport=platform.http_transport)
        stack.push_async_callback(http.aclose)
        tokens = TokenManager(credentials, platform=platform, http=http, clock=clock)
        stack.push_async_callback(tokens.aclose)
        api = OpenAPI(tokens, base_url=platform.api_base, http=http, clock=clock)
        stack.push_async_callback(api.aclose)
        await stack.enter_async_context(
            bot.running(api, drain_timeout=drain_timeout, handler_deadline=handler_deadline)
        )
        yield tokens, api


def _fleet_locks(sessions: str | None, app_id: str) -> RedisLocks | None:
    """The fleet's :class:`RedisLocks` for ``bot.lock`` when ``sessions`` is a Redis URL (same Redis, same
    namespace as the leases), else None (the bot keeps its local locks)."""
    url = check_sessions(sessions)
    if url is None:
        return None
    from framework.runtime.gateway.sessions.redis import parse_sessions_url

    fleet = parse_sessions_url(url)
    return RedisLocks(fleet.redis_url, app_id=app_id, namespace=fleet.namespace)


class BotRunner:
    """Run ``bot`` over the gateway (see the module docstring); use it as ``async with``.

    ``credentials`` (:class:`~framework.runtime.credentials.Credentials`) is the app id and secret;
    ``platform`` (:class:`~framework.runtime.platform.Platform`) the endpoints, production by default, and
    optionally an HTTP transport that replaces the network (the emulator's, in process). The old
    ``app_id=``, ``app_secret=``, ``api_base=``, ``token_url=`` and ``http_transport=`` still work for one
    release, with a ``DeprecationWarning``.
    ``connector`` opens WebSockets (:func:`framework.runtime.gateway.websocket.connect`, or the emulator's
    ``connect_websocket``).
    ``shard_ids``/``shard_count`` select shards (default: every shard ``/gateway/bot`` recommends).
    ``sessions`` (``[gateway] sessions``): ``None``/``"local"`` runs them all here; a ``redis://`` URL shares
    them with every process of the same app and URL, a fleet (docs/fleet.md).
    ``concurrency``, when given, sets ``bot.concurrency`` (handlers running at once; default: the bot's);
    ``handler_deadline`` is how many seconds running handlers get at shutdown; ``drain_timeout`` how many
    seconds queued events get to reach them. ``tracker`` lets a caller observe handled events. Without one,
    none is kept until :attr:`tracker` is first read (the test client reads it before starting): tracking
    costs about 0.4 µs per event, so a production runner that nobody observes skips it.
    """

    def __init__(
        self,
        bot: Bot,
        *,
        credentials: Credentials | None = None,
        platform: Platform | None = None,
        connector: Connector = websocket.connect,
        shard_ids: Sequence[int] | None = None,
        shard_count: int | None = None,
        clock: Clock | None = None,
        shard_options: ShardOptions | None = None,
        concurrency: int | None = None,
        handler_deadline: float = 10.0,
        drain_timeout: float = 10.0,
        tracker: EventTracker | None = None,
        sessions: str | None = None,
        app_id: str | None = None,
        app_secret: str | None = None,
        api_base: str | None = None,
        token_url: str | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.bot = bot
        self.credentials, self.platform = resolve_edge(
            "BotRunner",
            credentials,
            platform,
            app_id=app_id,
            app_secret=app_secret,
            api_base=api_base,
            token_url=token_url,
            http_transport=http_transport,
        )
        self.app_id = self.credentials.app_id
        self.api_base = self.platform.api_base
        self.token_url = self.platform.token_url
        self.connector = connector
        self.shard_ids = list(shard_ids) if shard_ids is not None else None
        self.shard_count = shard_count
        self.sessions = sessions
        """``None`` or ``"local"``: the shards run here; ``redis://...``: shared by a fleet (docs/fleet.md)."""
        self.clock: Clock = clock or SystemClock()
        self.shard_options = shard_options
        self.handler_deadline = handler_deadline
        self.drain_timeout = drain_timeout
        if concurrency is not None:
            if concurrency < 1:
                raise ValueError(f"concurrency must be at least 1, got {concurrency}")
            bot.concurrency = concurrency
        self.close_deadline = drain_timeout + handler_deadline + (shard_options or ShardOptions()).close_timeout + 5.0
        """Real seconds the shards get to close and drain before they are cancelled."""
        self.api: OpenAPI | None = None
        """The OpenAPI client while running."""
        self.manager: LocalSessionManager | None = None
        """The session manager while running."""
        self._cm: AbstractAsyncContextManager[None] | None = None
        self._stop = anyio.Event()
        self._manager_done = anyio.Event()
        self._fatal: GatewayFatalError | None = None
        self._tracker: EventTracker | None = None
        self._delivery: EventDispatcher | None = None  # bot.delivery while running, then its last state
        if tracker is not None:
            self._track(tracker)

    def __repr__(self) -> str:
        return f"BotRunner(bot={self.bot.name!r}, app_id={self.app_id!r}, api_base={self.api_base!r})"

    @property
    def tracker(self) -> EventTracker:
        """The :class:`EventTracker` of this runner, created on first use.

        It sees every event handed to the bot from the moment it exists: read it before starting the
        runner (or pass ``tracker=``) to observe every event; ``status()`` counts all events either way.
        """
        tracker = self._tracker
        if tracker is None:
            tracker = self._track(EventTracker())
        return tracker

    @property
    def delivery(self) -> EventDispatcher | None:
        """The bot's event dispatcher while running (after a run: the last one, for its counters); its
        ``observers`` list shows whether a tracker is attached, ``stats`` counts events."""
        return self._delivery

    def _track(self, tracker: EventTracker) -> EventTracker:
        self._tracker = tracker
        if self._delivery is not None and not self._delivery.closed:  # running: track events from now on
            self._delivery.add_observer(tracker)
        return tracker

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> BotRunner:
        if self._cm is not None:
            raise RuntimeError("this BotRunner is already running")
        self._stop = anyio.Event()
        self._manager_done = anyio.Event()
        self._fatal = None
        cm = self._lifecycle()
        try:
            await cm.__aenter__()
        except BaseExceptionGroup as group:
            raise sole_exception(group) or group from None
        self._cm = cm
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        cm, self._cm = self._cm, None
        assert cm is not None
        try:
            return await cm.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            single = sole_exception(group)
            if single is None:
                raise
            if single is exc:
                return False  # the block's own exception, unwrapped from the task groups it crossed
            raise single from None

    @asynccontextmanager
    async def _lifecycle(self) -> AsyncIterator[None]:
        services = _bot_services(
            self.bot,
            credentials=self.credentials,
            platform=self.platform,
            clock=self.clock,
            drain_timeout=self.drain_timeout,
            handler_deadline=self.handler_deadline,
        )
        async with services as (tokens, api):
            self.api = api
            delivery = self.bot.delivery
            assert delivery is not None  # the bot is running
            self._delivery = delivery
            if self._tracker is not None:
                delivery.add_observer(self._tracker)
            gateway = await api.get_gateway_bot()
            manager = session_manager_factory(self.sessions, app_id=self.app_id)(
                self.connector,
                tokens.get_token,
                gateway,
                delivery,
                self.bot.required_intents or Intents.GUILDS,  # an Identify needs some intent; every bot has GUILDS
                optional_intents=self.bot.optional_intents,  # dropped, with a WARNING, if the platform refuses them
                shard_ids=self.shard_ids,
                shard_count=self.shard_count,
                clock=self.clock,
                token_invalidate=tokens.invalidate,
                options=self.shard_options,
            )
            self.manager = manager
            locks = _fleet_locks(self.sessions, self.app_id)
            previous_locks = self.bot.locks
            if locks is not None:
                await locks.__aenter__()
                self.bot.locks = locks  # bot.lock() now holds across the fleet
            try:
                async with anyio.create_task_group() as tg:
                    await tg.start(self._run_manager, manager)
                    if self._fatal is not None:
                        raise self._fatal
                    self.bot.plugins.notify("qqbot_gateway_started", sessions=manager, tokens=tokens)
                    try:
                        yield
                    finally:  # also when the body failed or was cancelled: close the sessions properly
                        self._stop.set()
                        with anyio.CancelScope(shield=True), anyio.move_on_after(self.close_deadline):
                            await self._manager_done.wait()
                        self.bot.plugins.notify("qqbot_gateway_stopped", sessions=manager)
            finally:
                self.api = None
                self.bot.locks = previous_locks
                if locks is not None:  # (its client's task group was entered out here: no shield scope around it)
                    await locks.__aexit__(None, None, None)

    async def _run_manager(self, manager: LocalSessionManager, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        started = False
        try:
            async with manager:
                await manager.start()
                started = True
                task_status.started()
                await self._stop.wait()
        except* GatewayFatalError as group:
            fatal = group.exceptions[0]
            assert isinstance(fatal, GatewayFatalError)
            self._fatal = fatal
            log.error("gateway stopped: %s", fatal)
        finally:
            self._manager_done.set()
            if not started:
                task_status.started()

    # -- while running ---------------------------------------------------------------------------

    async def wait_ready(self) -> None:
        """Wait until every shard is READY; raise the gateway's fatal error if it stopped instead.

        Bound it with ``anyio.fail_after(...)``.
        """
        manager = self.manager
        if manager is None or self._cm is None:
            raise RuntimeError("the runner is not running: use `async with BotRunner(...)`")
        async with anyio.create_task_group() as tg:

            async def stop_on_exit() -> None:
                await self._manager_done.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(stop_on_exit)
            ready = False
            try:
                await manager.wait_ready()  # a fleet's shards may change meanwhile: the manager knows
                ready = True
            except GatewayFatalError:
                await self._manager_done.wait()
            tg.cancel_scope.cancel()
        if self._fatal is not None:
            raise self._fatal
        if not ready:
            raise RuntimeError("the gateway sessions stopped before every shard was READY")

    async def wait_closed(self) -> None:
        """Wait until the shards stop (after :meth:`stop`); raise the fatal gateway error that stopped them."""
        await self._manager_done.wait()
        if self._fatal is not None:
            raise self._fatal

    def stop(self) -> None:
        """Ask the runner to stop its shards (the ``async with`` block still owns the rest of the shutdown)."""
        self._stop.set()

    def status(self) -> RunnerStatus:
        """Shards and handler counters now."""
        shards = tuple(self.manager.status()) if self.manager is not None else ()
        delivery = self._delivery
        if delivery is not None:  # counts every event, tracked or not
            stats = delivery.stats
            handled = stats.delivered + stats.failures + stats.timeouts
            in_flight = delivery.running
            received = handled + in_flight
        elif self._tracker is not None:
            received, handled, in_flight = self._tracker.received, self._tracker.handled, self._tracker.in_flight
        else:
            received = handled = in_flight = 0
        return RunnerStatus(
            shards=shards,
            ready=bool(shards) and all(s.state == "ready" for s in shards),
            received=received,
            handled=handled,
            in_flight=in_flight,
        )


async def run_webhook(
    bot: Bot,
    *,
    credentials: Credentials | None = None,
    platform: Platform | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    path: str | None = None,
    timestamp_tolerance: float | None = 300.0,
    read_timeout: float = 10.0,
    max_connections: int = 256,
    clock: Clock | None = None,
    shutdown_trigger: Callable[[], Awaitable[Any]] | None = None,
    handle_signals: bool = True,
    watchdog_threshold: float | None = 2.0,
    certfile: str | None = None,
    keyfile: str | None = None,
    tracker: EventTracker | None = None,
    task_status: anyio.abc.TaskStatus[tuple[str, int]] = anyio.TASK_STATUS_IGNORED,
    app_id: str | None = None,
    app_secret: str | None = None,
    api_base: str | None = None,
    token_url: str | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    """Serve ``bot`` through webhook callbacks until ``shutdown_trigger()`` returns, a signal arrives or
    the caller cancels.

    Builds the OpenAPI client like :class:`BotRunner` (replies need it), starts the bot, then serves
    ``WebhookApp({app_id: WebhookBot(secret, bot.delivery)})`` with ``serve_webhook``: callbacks go
    into the bot's one delivery path, as gateway events do (``tracker`` observes it). The bound
    ``(host, port)`` is reported through ``task_status`` (``await task_group.start(...)``; ``port=0`` picks
    a free port). ``read_timeout`` and ``max_connections`` bound slow clients (``WebhookApp``,
    ``serve_webhook``; docs/reliability.md). A loop watchdog, as the gateway's session manager runs, warns when
    the event loop is blocked for ``watchdog_threshold`` real seconds (``None`` or ``0``: off) and is what
    ``/healthz`` reads. ``credentials`` and ``platform`` are as for :class:`BotRunner` (and so are the
    deprecated ``app_id=`` ... ``http_transport=``).
    """
    credentials, platform = resolve_edge(
        "run_webhook",
        credentials,
        platform,
        app_id=app_id,
        app_secret=app_secret,
        api_base=api_base,
        token_url=token_url,
        http_transport=http_transport,
    )
    from framework.runtime.webhook import WebhookApp, WebhookBot, serve_webhook

    the_clock: Clock = clock or SystemClock()
    services = _bot_services(
        bot,
        credentials=credentials,
        platform=platform,
        clock=the_clock,
    )
    async with services as (tokens, _):
        delivery = bot.delivery
        assert delivery is not None  # the bot is running
        if tracker is not None:
            delivery.add_observer(tracker)
        app = WebhookApp(
            {credentials.app_id: WebhookBot(credentials.app_secret, delivery)},
            clock=the_clock,
            timestamp_tolerance=timestamp_tolerance,
            path=path,
            read_timeout=read_timeout,
            max_connections=max_connections,
        )
        serving = False
        watchdog = LoopWatchdog(watchdog_threshold) if watchdog_threshold else None

        def started(address: tuple[str, int]) -> None:  # tell the plugins (health probes) it serves
            nonlocal serving
            serving = True
            task_status.started(address)
            bot.plugins.notify(
                "qqbot_webhook_started", host=address[0], port=address[1], tokens=tokens, watchdog=watchdog
            )

        announce = _StartedHook(started)
        async with anyio.create_task_group() as tg:
            if watchdog is not None:
                await tg.start(watchdog.run)
            try:
                await serve_webhook(
                    app,
                    host=host,
                    port=port,
                    shutdown_trigger=shutdown_trigger,
                    handle_signals=handle_signals,
                    certfile=certfile,
                    keyfile=keyfile,
                    read_timeout=read_timeout,
                    task_status=announce,
                )
            finally:
                tg.cancel_scope.cancel()
                if serving:
                    bot.plugins.notify("qqbot_webhook_stopped")


class _StartedHook(anyio.abc.TaskStatus[tuple[str, int]]):
    """A task status that runs a callback when the task reports it started (run_webhook's plugin hook)."""

    def __init__(self, callback: Callable[[tuple[str, int]], None]) -> None:
        self._callback = callback

    def started(self, value: tuple[str, int] | None = None) -> None:
        assert value is not None
        self._callback(value)
