"""All shards of a bot (or a subset) in this process, under one anyio task group."""

from __future__ import annotations

import logging
import random
import warnings
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

import anyio
import anyio.abc

from framework.clock import Clock, SystemClock
from framework.delivery import EventDispatcher
from framework.interfaces import Connector, EventSink
from framework.models.api import GatewayBot
from framework.protocol.gateway import GatewayFatalError
from framework.runtime.gateway.identify import IDENTIFY_WINDOW, IdentifyQueue
from framework.runtime.gateway.sessions.base import SessionManager
from framework.runtime.gateway.shard import Shard, ShardOptions, ShardStatus, TokenProvider, intent_names
from framework.runtime.gateway.watchdog import LoopWatchdog

__all__ = ["LocalSessionManager"]

log = logging.getLogger(__name__)

GatewaySource = GatewayBot | Callable[[], Awaitable[GatewayBot]]


class LocalSessionManager(SessionManager):
    """Runs shards ``[0, n)`` (``n`` from ``/gateway/bot`` unless ``shard_count`` is given) or the subset
    ``shard_ids``, one identify queue for all of them, and feeds one :class:`~framework.delivery.EventDispatcher`.

    ``sink`` is either that dispatcher (a running bot's ``bot.delivery``: the manager only feeds it; its owner
    runs and drains it) or a plain ``async def sink(event)``, which the manager wraps in a dispatcher of its
    own (``buffer`` events queued, ``concurrency`` at once, drained within ``drain_timeout`` when the shards stop).

    ``intents`` are required; ``optional_intents`` are asked for too, but when the platform refuses an
    identify over intents (op 9 before READY, close 4013/4014) they are dropped on every shard, identify is
    tried again without them and one WARNING names them (:attr:`dropped_intents`).

    A :class:`~framework.runtime.gateway.watchdog.LoopWatchdog` warns, naming the blocking code, when the event loop
    is blocked for ``watchdog_threshold`` real seconds (``None`` or ``0`` turns it off).

    Use :meth:`run` in your own task group, or ``async with manager: await manager.start()``.
    A fatal gateway error on any shard stops every shard and is raised from :meth:`run`.
    """

    def __init__(
        self,
        connector: Connector,
        token_provider: TokenProvider,
        gateway: GatewaySource,
        sink: EventSink | EventDispatcher,
        intents: int,
        *,
        shard_ids: Sequence[int] | None = None,
        shard_count: int | None = None,
        clock: Clock | None = None,
        token_invalidate: Callable[[], None] | None = None,
        options: ShardOptions | None = None,
        buffer: int = 1024,
        dedupe_window: int = 10_000,
        drain_timeout: float = 10.0,
        concurrency: int = 1,
        handler_deadline: float | None = None,
        workers: int | None = None,
        max_start_wait: float = 0.0,
        identify_window: float = IDENTIFY_WINDOW,
        watchdog_threshold: float | None = 2.0,
        rng: random.Random | None = None,
        optional_intents: int = 0,
    ) -> None:
        self.connector = connector
        self.token_provider = token_provider
        self.gateway = gateway
        self.intents = int(intents)
        """The required intents."""
        self.optional_intents = int(optional_intents) & ~self.intents
        """Intents asked for while the platform grants them (see the class docstring)."""
        self.dropped_intents = 0
        """Optional intents the platform refused; the shards run without them."""
        self.shard_ids = list(shard_ids) if shard_ids is not None else None
        self.shard_count = shard_count
        self.clock = clock or SystemClock()
        self.token_invalidate = token_invalidate
        self.options = options or ShardOptions()
        self.drain_timeout = drain_timeout
        """Real seconds to deliver queued events after the shards closed."""
        self.handler_deadline = handler_deadline
        """When set, ``drain_timeout`` only covers handing queued events to the sink, and the sink calls
        still running then get this many more real seconds before they are cancelled."""
        self.max_start_wait = max_start_wait
        """Seconds we may wait at start for the session start budget to reset before refusing."""
        self.identify_window = identify_window
        self.watchdog = LoopWatchdog(watchdog_threshold) if watchdog_threshold else None
        if workers is not None:
            warnings.warn("LocalSessionManager(workers=...) is now concurrency=...", DeprecationWarning, stacklevel=2)
            concurrency = workers
        self._owns_dispatcher = not isinstance(sink, EventDispatcher)
        self.dispatcher: EventDispatcher = (
            sink
            if isinstance(sink, EventDispatcher)
            else EventDispatcher(sink, buffer=buffer, dedupe_window=dedupe_window, concurrency=concurrency)
        )
        """Where the shards put their events."""
        self.shards: list[Shard] = []
        self.identify_queue: IdentifyQueue | None = None
        self._rng = rng or random.Random()
        self._stop_requested = anyio.Event()
        self._started = anyio.Event()
        self._finished = anyio.Event()
        self._running = False
        self._fatal: GatewayFatalError | None = None
        self._owner: anyio.abc.TaskGroup | None = None

    # -- SessionManager -----------------------------------------------------------------------

    def status(self) -> list[ShardStatus]:
        return [shard.status() for shard in self.shards]

    async def wait_ready(self) -> None:
        """Wait until the shards are launched and every shard held now is READY.

        The shards may change meanwhile (a fleet takes shards and hands them over): a shard taken while waiting is
        waited for too, and one that stops without an error (handed over) is looked past. Raises the
        :class:`GatewayFatalError` of a shard that failed, or one saying the shards stopped when :meth:`stop` was
        called first."""
        await self._started.wait()
        while True:
            pending = next((shard for shard in self.shards if not shard.ready), None)
            if pending is None:
                return
            if self._finished.is_set():
                raise self._fatal or GatewayFatalError("the session manager stopped before every shard was READY")
            try:
                # a shard handed over before READY may never be READY here: look at the list again now and then
                with anyio.move_on_after(0.25):
                    await pending.wait_ready()
            except GatewayFatalError:
                if pending.error is not None or self._stop_requested.is_set():
                    raise
                await anyio.sleep(0.05)  # handed over: it leaves self.shards once its task has finished

    async def run(self) -> None:
        if self._running:
            raise RuntimeError("this session manager is already running")
        self._running = True
        try:
            await self._run()
        finally:
            self._started.set()
            self._finished.set()
        if self._fatal is not None:
            raise self._fatal

    async def start(self) -> None:
        if self._owner is None:
            raise RuntimeError("enter the manager first: `async with manager: await manager.start()`")
        self._owner.start_soon(self.run)
        await self._started.wait()

    async def stop(self) -> None:
        self._stop_requested.set()
        if self._running:
            await self._finished.wait()

    async def __aenter__(self) -> LocalSessionManager:
        self._tg_cm = anyio.create_task_group()
        self._owner = await self._tg_cm.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        self._stop_requested.set()
        try:
            return await self._tg_cm.__aexit__(exc_type, exc, tb)
        finally:
            self._owner = None

    # -- internals ----------------------------------------------------------------------------

    async def _resolve_gateway(self) -> GatewayBot:
        if isinstance(self.gateway, GatewayBot):
            return self.gateway
        return await self.gateway()

    def _plan(self, gateway: GatewayBot) -> tuple[int, list[int]]:
        count = self.shard_count or gateway.shards or 1
        ids = self.shard_ids if self.shard_ids is not None else list(range(count))
        bad = [i for i in ids if not 0 <= i < count]
        if bad or not ids or len(set(ids)) != len(ids):
            raise ValueError(f"shard_ids {ids} must be distinct and within [0, {count})")
        return count, ids

    async def _run(self) -> None:
        gateway = await self._resolve_gateway()
        count, ids = self._plan(gateway)
        queue = IdentifyQueue(
            gateway.session_start_limit, clock=self.clock, window=self.identify_window, shard_count=count
        )
        wait = queue.check_budget(len(ids), max_wait=self.max_start_wait)
        self.identify_queue = queue
        queue.expect(ids)
        self.shards = [
            Shard(
                shard_id,
                count,
                url=gateway.url,
                connector=self.connector,
                token_provider=self.token_provider,
                token_invalidate=self.token_invalidate,
                intents=self.intents,
                optional_intents=self.optional_intents & ~self.dropped_intents,
                on_intents_dropped=self._intents_dropped,
                emit=self.dispatcher.put,
                offer=self.dispatcher.offer,
                identify_queue=queue,
                clock=self.clock,
                options=self.options,
                rng=random.Random(self._rng.random()),
            )
            for shard_id in sorted(ids)
        ]
        log.info("starting shards %s of %d (max_concurrency %d)", ids, count, queue.max_concurrency)
        async with anyio.create_task_group() as outer:
            if self.watchdog is not None:
                await outer.start(self.watchdog.run)
            if self._owns_dispatcher:
                await outer.start(self.dispatcher.run)
            async with anyio.create_task_group() as shards_tg:
                if wait > 0:
                    log.warning("session start budget too small for %d shards; waiting %.0f s", len(ids), wait)
                    await self._sleep_unless_stopped(wait)
                if not self._stop_requested.is_set():
                    for shard in self.shards:
                        shards_tg.start_soon(self._run_shard, shard)
                self._started.set()
                await self._stop_requested.wait()
                for shard in self.shards:  # each shard closes its socket in its own task: concurrently
                    await shard.stop()
            if not self._owns_dispatcher:  # the dispatcher's owner (the bot) drains it
                outer.cancel_scope.cancel()
                return
            await self.dispatcher.shutdown(self.drain_timeout, self.handler_deadline)
            outer.cancel_scope.cancel()

    def _intents_dropped(self, intents: int) -> None:
        """A shard's identify was refused over intents and it dropped these optional ones: so do the others."""
        new = intents & ~self.dropped_intents
        if not new:
            return
        self.dropped_intents |= new
        for shard in self.shards:
            shard.machine.drop_intents(new)
        log.warning(
            "the platform refused the optional intents %s at identify; running without them with %s "
            "(apply for them on the open platform to receive those events)",
            intent_names(new),
            intent_names((self.intents | self.optional_intents) & ~self.dropped_intents),
        )

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        async with anyio.create_task_group() as tg:

            async def sleeper() -> None:
                await self.clock.sleep(seconds)
                tg.cancel_scope.cancel()

            async def stopper() -> None:
                await self._stop_requested.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(sleeper)
            tg.start_soon(stopper)

    async def _run_shard(self, shard: Shard) -> None:
        try:
            await shard.run()
        except GatewayFatalError as exc:
            if self._fatal is None:
                self._fatal = exc
            self._stop_requested.set()
        finally:
            if self.identify_queue is not None:
                with anyio.CancelScope(shield=True):
                    await self.identify_queue.forget(shard.shard_id)

    def __repr__(self) -> str:
        return f"LocalSessionManager(shards={[s.shard_id for s in self.shards]})"
