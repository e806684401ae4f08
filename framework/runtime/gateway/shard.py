"""One shard's gateway connection: the sans-IO :class:`GatewayMachine` driven over a WebSocket with anyio.

Per connection three tasks share the machine: the reader (frames in → actions; it hands events to the
dispatcher's bounded stream and never awaits handlers), the timer (heartbeats, zombie detection,
Hello/READY timeouts, woken early when a deadline moves closer) and, after Hello, a short-lived
authenticate task (fresh token, identify-queue slot, Identify or Resume). Whatever decides the
connection's fate (:class:`Reconnect` or :class:`Stop`) cancels the other two; the shard then closes or
aborts the socket, sleeps the backoff on the injected clock and connects again.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import anyio
import anyio.abc

from framework.clock import Clock, SystemClock, fail_after
from framework.errors import TransportError
from framework.interfaces import Connector, EventSink, WebSocketClosed, WebSocketConnection
from framework.models.envelope import InboundEvent
from framework.models.intents import Intents
from framework.protocol.gateway import (
    CLIENT_RECONNECT_CLOSE_CODE,
    Action,
    Authenticate,
    Connected,
    DispatchEvent,
    GatewayConfig,
    GatewayFatalError,
    GatewayMachine,
    Reconnect,
    SendFrame,
    ShardState,
    Stop,
)
from framework.runtime.gateway.identify import IdentifyQueue, IdentifyTicket

__all__ = ["OutboundLimiter", "Shard", "ShardOptions", "ShardStatus", "TokenProvider", "intent_names"]

log = logging.getLogger(__name__)

TokenProvider = Callable[[], Awaitable[str]]
EventEmitter = EventSink  # the old name of the seam (framework.interfaces.EventSink)


def intent_names(intents: int) -> str:
    """``"GROUP_AND_C2C_EVENT | DIRECT_MESSAGE"``: the :class:`Intents` flag names of ``intents`` (unknown
    bits as numbers), or ``"none"``."""
    names = [flag.name for flag in Intents if flag and flag.name and intents & flag]
    rest = intents & ~sum(int(flag) for flag in Intents)
    if rest:
        names.append(str(rest))
    return " | ".join(names) or "none"


@dataclass(frozen=True, slots=True)
class ShardStatus:
    """A snapshot of one shard for ``SessionManager.status()``."""

    shard_id: int
    shard_count: int
    state: str
    """A :class:`ShardState` value, or ``"connecting"`` / ``"backoff"`` / ``"idle"``."""
    session_id: str | None
    last_seq: int | None
    latency: float | None
    """Heartbeat round-trip time in seconds (None before the first ACK)."""
    reconnects: int
    last_close_code: int | None
    last_reason: str | None


@dataclass(frozen=True, slots=True)
class ShardOptions:
    """Connection knobs of a shard (seconds on the injected clock)."""

    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    connect_timeout: float = 15.0
    close_timeout: float = 5.0
    """Real seconds to wait for a closing handshake before giving up on it."""
    outbound_limit: tuple[int, float] = (100, 60.0)
    """User sends: at most N per window seconds (UNCONFIRMED platform limit; the emulator closes 4008 at
    120/60 s, so heartbeats keep headroom)."""


class OutboundLimiter:
    """A sliding-window limiter on the injected clock: at most ``limit`` acquisitions per ``window``."""

    def __init__(self, limit: int, window: float, clock: Clock) -> None:
        self.limit = max(1, limit)
        self.window = window
        self.clock = clock
        self._stamps: list[float] = []
        self._lock = anyio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self.clock.monotonic()
                self._stamps = [t for t in self._stamps if now - t < self.window]
                if len(self._stamps) < self.limit:
                    self._stamps.append(now)
                    return
                await self.clock.sleep(self._stamps[0] + self.window - now)


class Shard:
    """One gateway shard. :meth:`run` connects, keeps the session alive and returns after :meth:`stop`;
    it raises :class:`GatewayFatalError` when reconnecting cannot help."""

    def __init__(
        self,
        shard_id: int,
        shard_count: int,
        *,
        url: str,
        connector: Connector,
        token_provider: TokenProvider,
        intents: int,
        emit: EventEmitter,
        identify_queue: IdentifyQueue,
        clock: Clock | None = None,
        token_invalidate: Callable[[], None] | None = None,
        options: ShardOptions | None = None,
        rng: random.Random | None = None,
        offer: Callable[[InboundEvent], bool] | None = None,
        optional_intents: int = 0,
        on_intents_dropped: Callable[[int], None] | None = None,
    ) -> None:
        self.shard_id = shard_id
        self.shard_count = shard_count
        self.url = url
        self.connector = connector
        self.token_provider = token_provider
        self.token_invalidate = token_invalidate
        self.emit = emit
        self.offer = offer
        """``emit`` without waiting, or None: queues the event and returns True, or returns False (queue full:
        the shard awaits ``emit``). The session manager passes an :class:`~framework.delivery.EventDispatcher`'s
        ``offer`` with its ``put`` as ``emit``."""
        self.identify_queue = identify_queue
        self.clock = clock or SystemClock()
        self.options = options or ShardOptions()
        self.machine = GatewayMachine(
            shard_id, shard_count, intents, optional_intents=optional_intents, config=self.options.gateway, rng=rng
        )
        self.on_intents_dropped = on_intents_dropped
        """Called with the optional intents the platform refused (the session manager applies them to every
        shard and logs once); without it the shard logs the WARNING itself."""
        self.limiter = OutboundLimiter(*self.options.outbound_limit, clock=self.clock)
        self._phase = "idle"
        self._running = False
        self._stopping = False
        self._run_scope: anyio.CancelScope | None = None
        self._conn_scope: anyio.CancelScope | None = None
        self._conn_tg: anyio.abc.TaskGroup | None = None
        self._ws: WebSocketConnection | None = None
        self._outcome: Reconnect | Stop | None = None
        self._ready = anyio.Event()
        self._send_lock = anyio.Lock()
        self._wake = anyio.Event()
        self._timer_target: float | None = None
        self._blocked = False
        self._slot: AbstractAsyncContextManager[IdentifyTicket] | None = None
        self._ticket: IdentifyTicket | None = None
        self.error: GatewayFatalError | None = None

    # -- public ---------------------------------------------------------------------------------

    def status(self) -> ShardStatus:
        m = self.machine
        if m.state is ShardState.STOPPED:
            state = m.state.value
        elif not self._running:
            state = "idle"
        else:
            state = m.state.value if m.state is not ShardState.DISCONNECTED else self._phase
        return ShardStatus(
            shard_id=self.shard_id,
            shard_count=self.shard_count,
            state=state,
            session_id=m.session_id,
            last_seq=m.seq,
            latency=m.latency,
            reconnects=m.reconnects,
            last_close_code=m.last_close_code,
            last_reason=m.last_reason,
        )

    @property
    def ready(self) -> bool:
        return self.machine.state is ShardState.READY

    async def wait_ready(self) -> None:
        """Wait until the shard is READY (or RESUMED)."""
        while self.machine.state is not ShardState.READY:
            if self.machine.state is ShardState.STOPPED:
                raise self.error or GatewayFatalError(f"shard {self.shard_id} stopped")
            await self._ready.wait()

    async def send(self, data: bytes | str) -> None:
        """Send a user frame (JSON) as a text frame, as the platform expects; ``bytes`` must be UTF-8.
        Waits for READY and for the outbound limiter."""
        if not isinstance(data, str):
            data = bytes(data).decode()
        await self.wait_ready()
        await self.limiter.acquire()
        await self.wait_ready()
        ws = self._ws
        if ws is None:
            raise WebSocketClosed()
        async with self._send_lock:
            await ws.send(data)

    async def stop(self) -> None:
        """Stop: close the connection with 1000 and make :meth:`run` return."""
        self._stopping = True
        if self._run_scope is not None:
            self._run_scope.cancel()

    async def run(self) -> None:
        """Connect and stay connected until :meth:`stop`; raise :class:`GatewayFatalError` on a fatal close."""
        self._running = True
        try:
            await self._run_loop()
        finally:
            self._running = False
            self._phase = "idle"

    async def _run_loop(self) -> None:
        delay = 0.0
        with anyio.CancelScope() as self._run_scope:
            while not self._stopping:
                if delay > 0:
                    self._phase = "backoff"
                    log.info("shard %d: reconnecting in %.2f s", self.shard_id, delay)
                    await self.clock.sleep(delay)
                outcome = await self._connection()
                if isinstance(outcome, Stop):
                    self.error = outcome.error
                    self._ready.set()  # wake senders so that they see STOPPED
                    log.error("%s", outcome.error)
                    raise outcome.error
                if outcome.dropped_intents:
                    if self.on_intents_dropped is not None:
                        self.on_intents_dropped(outcome.dropped_intents)
                    else:
                        log.warning(
                            "shard %d: the platform refused the optional intents %s; running without them (%s)",
                            self.shard_id,
                            intent_names(outcome.dropped_intents),
                            intent_names(self.machine.intents),
                        )
                log.info("shard %d: %s; %s", self.shard_id, outcome.reason, "resume" if outcome.resume else "identify")
                if outcome.refresh_token and self.token_invalidate is not None:
                    self.token_invalidate()
                delay = outcome.delay

    # -- one connection -------------------------------------------------------------------------

    def _now(self) -> float:
        return self.clock.monotonic()

    async def _connection(self) -> Reconnect | Stop:
        self._outcome = None
        if self.machine.session_id is None:
            # Take the identify slot before connecting, so that the connection does not sit idle
            # (unauthenticated, without heartbeats) while other shards identify.
            self._phase = "waiting_identify"
            await self._acquire_slot()
        try:
            return await self._open_and_serve()
        finally:
            await self._release_slot()

    async def _acquire_slot(self) -> None:
        slot = self.identify_queue.slot(self.shard_id)
        self._ticket = await slot.__aenter__()
        self._slot = slot

    async def _release_slot(self) -> None:
        slot, self._slot = self._slot, None
        if slot is not None:
            with anyio.CancelScope(shield=True):
                await slot.__aexit__(None, None, None)

    async def _open_and_serve(self) -> Reconnect | Stop:
        self._phase = "connecting"
        try:
            ws = await fail_after(self.clock, self.options.connect_timeout, lambda: self.connector(self.url))
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            reason = "connect timed out" if isinstance(exc, TimeoutError) else f"connect failed: {exc!r}"
            for action in self.machine.connect_failed(self._now(), reason):
                if isinstance(action, Reconnect | Stop):
                    return action
            return Reconnect(resume=True, delay=0.0, reason=reason)
        self._ws = ws
        self.machine.connection_opened(self._now())
        try:
            async with anyio.create_task_group() as tg:
                self._conn_tg = tg
                self._conn_scope = tg.cancel_scope
                tg.start_soon(self._timer, ws)
                await self._reader(ws)
                tg.cancel_scope.cancel()
        finally:
            self._conn_tg = None
            self._conn_scope = None
            self._ws = None
            if self._ready.is_set():
                self._ready = anyio.Event()
            await self._close(ws)
        if self._outcome is None:  # stopped, or the machine had already decided
            return Reconnect(resume=True, delay=0.0, reason="connection ended")
        return self._outcome

    async def _close(self, ws: WebSocketConnection) -> None:
        outcome = self._outcome
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.options.close_timeout):
            try:
                if isinstance(outcome, Reconnect) and outcome.abort:
                    await ws.abort()
                elif self._stopping or isinstance(outcome, Stop):
                    await ws.close(1000, "shutting down")
                else:
                    await ws.close(CLIENT_RECONNECT_CLOSE_CODE, "reconnecting")
            except Exception:
                log.debug("shard %d: error while closing", self.shard_id, exc_info=True)

    async def _reader(self, ws: WebSocketConnection) -> None:
        machine = self.machine
        monotonic = self.clock.monotonic
        receive = ws.receive
        # the messages already buffered from the last socket read, taken in one call without a coroutine (our
        # WebSocket; another connection type goes through receive() only)
        drain: Callable[[], list[str | bytes]] | None = getattr(ws, "receive_all_nowait", None)
        feed = machine.feed
        offer = self.offer
        while self._outcome is None:
            batch = drain() if drain is not None else None
            if not batch:
                try:
                    batch = [await receive()]
                except WebSocketClosed as exc:
                    await self._handle(machine.connection_closed(exc.code, exc.reason, monotonic()))
                    return
                except TransportError as exc:  # the connection maps its library's errors (framework.errors)
                    await self._handle(machine.connection_closed(1006, repr(exc), monotonic()))
                    return
            for data in batch:
                # Fast path: an ordinary dispatch while READY becomes an InboundEvent directly, and is queued
                # without an await unless the queue is full.
                event = feed(data)
                if event is not None:
                    if offer is None or not offer(event):
                        await self._emit(event)
                        if self._outcome is not None:  # ended while this waited for queue space
                            return
                    continue
                for action in machine.receive(data, monotonic()):
                    if type(action) is DispatchEvent:
                        await self._emit(action.event)
                    else:
                        await self._handle([action])
                        self._maybe_wake()
                if self._outcome is not None:  # ended (by this frame, or meanwhile): the rest of the read is not read
                    return

    async def _emit(self, event: InboundEvent) -> None:
        # the flag tells the timer that a missing ACK may just be stuck behind backpressure
        self._blocked = True
        try:
            await self.emit(event)
        except BaseException:
            self.machine.undelivered(event.seq)  # a resume will replay it
            raise
        finally:
            self._blocked = False

    def _maybe_wake(self) -> None:
        deadline = self.machine.next_deadline()
        if deadline is not None and (self._timer_target is None or deadline < self._timer_target):
            self._wake.set()

    async def _timer(self, ws: WebSocketConnection) -> None:
        while self._outcome is None:
            deadline = self.machine.next_deadline()
            self._timer_target = deadline
            self._wake = anyio.Event()
            if deadline is None:
                await self._wake.wait()
            else:
                delay = deadline - self._now()
                if delay > 0:
                    await self._sleep_or_wake(delay)
            await self._handle(self.machine.tick(self._now(), reader_blocked=self._blocked))

    async def _sleep_or_wake(self, delay: float) -> None:
        wake = self._wake

        async with anyio.create_task_group() as tg:

            async def sleeper() -> None:
                await self.clock.sleep(delay)
                tg.cancel_scope.cancel()

            async def waiter() -> None:
                await wake.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(sleeper)
            tg.start_soon(waiter)

    async def _authenticate(self, resume: bool) -> None:
        try:
            if resume:
                token = await self.token_provider()
                actions = self.machine.resume(token, self._now())
                if any(isinstance(a, Authenticate) for a in actions):
                    await self._authenticate(False)
                    return
                await self._handle(actions)
            else:
                if self._slot is None:
                    await self._acquire_slot()
                try:
                    token = await self.token_provider()
                    actions = self.machine.identify(token, self._now())
                    await self._handle(actions)
                    if self._ticket is not None and any(isinstance(a, SendFrame) for a in actions):
                        self._ticket.sent = True
                finally:
                    await self._release_slot()
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            # token endpoint down: drop the connection and retry with backoff (session kept)
            log.warning("shard %d: could not authenticate: %r", self.shard_id, exc)
            await self._handle(self.machine.connect_failed(self._now(), f"token fetch failed: {exc!r}"))
        self._maybe_wake()

    async def _handle(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SendFrame):
                ws = self._ws
                if ws is None:
                    continue
                try:
                    async with self._send_lock:
                        await ws.send(action.data)  # str: a text frame (opcode 0x1)
                except TransportError:
                    log.debug("shard %d: send failed; the reader will see the close", self.shard_id)
            elif isinstance(action, DispatchEvent):
                await self.emit(action.event)
            elif isinstance(action, Authenticate):
                if self._conn_tg is not None:
                    self._conn_tg.start_soon(self._authenticate, action.resume)
            elif isinstance(action, Connected):
                log.info(
                    "shard %d: %s (session %s)",
                    self.shard_id,
                    "resumed" if action.resumed else "ready",
                    action.session_id,
                )
                self._ready.set()
            elif isinstance(action, Reconnect | Stop):
                if self._outcome is None:
                    self._outcome = action
                if self._conn_scope is not None:
                    self._conn_scope.cancel()

    def __repr__(self) -> str:
        return f"Shard({self.shard_id}/{self.shard_count}, {self.status().state})"
