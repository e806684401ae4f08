"""The one event-delivery path: every transport feeds an :class:`EventDispatcher`, which runs the one sink.

Gateway shards, the webhook app and (later) an event-bus consumer hand :class:`~framework.models.InboundEvent`
objects to :meth:`EventDispatcher.offer` (no checkpoint; False when the queue is full) or
:meth:`EventDispatcher.put` (waits for space: backpressure). ``concurrency`` worker tasks take events in
arrival order and await the sink (for a bot, its dispatch table's ``Dispatcher.dispatch``):

- **dedupe**: an event whose key was seen within the last ``dedupe_window`` keys is dropped (one
  :class:`~framework.protocol.recent_ids.RecentIds` window). The key comes from ``classify``: the bot's
  says the message id (``d.id``) for message events and the envelope id otherwise; without one, the
  envelope id, else ``TYPE:d.id``. The bot's classifier decodes the payload to read those ids and hands
  the decoded model on (``classify``'s third value, passed to ``sink(event, prepared)``), so an event is
  decoded once on its way to the handlers.
- **per-chat order**: events with the same *lane* (``classify``'s second value: a group, a C2C user, a
  channel) run one after the other in arrival order; events of different lanes run concurrently up to
  ``concurrency``. An event whose lane is busy waits *beside* the queue, not in a worker, so a slow chat
  never holds up another beyond the global cap.
- **deadline**: with ``handler_timeout`` (real seconds), a sink call running longer is cancelled and
  reported (``on_timeout``); the worker goes on with the next event.
- **observers** (:class:`DeliveryObserver`) hear each event start and finish (the runner's tracker); a
  :class:`TimedDeliveryObserver` (the metrics) is also handed the handling time, timed once by the dispatcher.
  An observer that raises is logged (its first failure) and counted, never breaks delivery.
- **waiting**: a handler that waits for something outside its own work (the next message of a
  conversation) wraps the wait in :func:`waiting`: meanwhile it holds no lane (its chat's next events run)
  and the handler timeout is paused.

An exception from the sink is logged and counted, never propagated to a transport. :meth:`close` stops
intake; :meth:`run` returns once every queued and held event has been delivered.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import anyio.lowlevel
import msgspec
from anyio.abc import TaskStatus

from framework.models.envelope import EventSink, InboundEvent
from framework.protocol.recent_ids import RecentIds

__all__ = [
    "Classifier",
    "DeliveryObserver",
    "DeliveryStats",
    "EventDispatcher",
    "TimedDeliveryObserver",
    "dedupe_key",
    "envelope_keys",
    "waiting",
]

log = logging.getLogger("framework.delivery")

#: ``event -> (dedupe key, lane key, prepared)``; ``None`` keys mean "never deduplicated" / "no ordering
#: constraint"; a ``prepared`` value other than None is handed to the sink as ``sink(event, prepared)``.
Classifier = Callable[[InboundEvent], tuple[Hashable | None, Hashable | None, Any]]

_FREE: Any = object()  # a lane no worker holds

# (dispatcher, worker slot) of the worker task running this code; set once per worker task, so it costs
# nothing per event (tasks a handler starts inherit it, which is why waiting() checks the slot's event)
_WORKER: ContextVar[tuple[EventDispatcher, int] | None] = ContextVar("framework.delivery.worker", default=None)


@contextmanager
def waiting() -> Iterator[None]:
    """Inside a handler run by an :class:`EventDispatcher`: while the block runs, the handler holds no lane
    (its chat's next events are handled meanwhile, in order) and its time does not count against the
    handler timeout (the deadline starts again after the block). Elsewhere it does nothing.

    For waits on other events (``ctx.prompt``, ``bot.wait_for``): a handler waiting for its own chat's next
    message must not hold that chat's lane, or the message could never arrive.
    """
    worker = _WORKER.get()
    if worker is None:
        yield
        return
    dispatcher, slot = worker
    event = dispatcher._suspend(slot)
    try:
        yield
    finally:
        if event is not None:
            dispatcher._resume(slot, event)


#: Events whose ``d`` is not a message and must never be deduplicated by ``d.id``.
_NO_DEDUPE = frozenset({"READY", "RESUMED"})


class _HasId(msgspec.Struct):
    id: str | None = None


_id_decoder = msgspec.json.Decoder(_HasId)


def dedupe_key(event: InboundEvent) -> str | None:
    """The envelope id, else ``d.id`` prefixed by the type, else None (READY and RESUMED: always None)."""
    if event.type in _NO_DEDUPE:
        return None
    if event.id:
        return event.id
    try:
        inner = _id_decoder.decode(event.data).id
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return f"{event.type}:{inner}" if inner else None


def envelope_keys(event: InboundEvent) -> tuple[Hashable | None, Hashable | None, None]:
    """The default classifier: :func:`dedupe_key`, no lane (events run concurrently in arrival order)."""
    return dedupe_key(event), None, None


class DeliveryObserver(Protocol):
    """Told when the sink starts and finishes each event (duplicates are never started)."""

    def started(self, event: InboundEvent) -> None: ...

    def finished(self, event: InboundEvent) -> None: ...


class TimedDeliveryObserver(Protocol):
    """An observer told of each event once, when the sink is done with it, with its handling time: the dispatcher
    reads the clock (``time.perf_counter``) when the sink starts and when it finishes, so the observer keeps no
    start times and reads no clock. One call per event (never ``started`` or ``finished``); the events being
    handled meanwhile are :meth:`EventDispatcher.handling`. Duplicates are never started."""

    def timed(self, event: InboundEvent, seconds: float) -> None:
        """The sink finished ``event`` (returned, raised, timed out or was cancelled) ``seconds`` after it
        started."""


AnyObserver = DeliveryObserver | TimedDeliveryObserver


TimeoutReporter = Callable[[InboundEvent, float], Awaitable[None]]


@dataclass(slots=True)
class DeliveryStats:
    """Counters of one dispatcher."""

    received: int = 0
    """Events accepted into the queue."""
    delivered: int = 0
    """Sink calls that returned."""
    duplicates: int = 0
    failures: int = 0
    """Sink calls that raised."""
    timeouts: int = 0
    """Sink calls cancelled by ``handler_timeout``."""
    observer_failures: int = 0
    """Observer calls that raised (each observer's first failure is logged)."""


class EventDispatcher:
    """A bounded queue into ``sink`` with dedupe, per-lane order, a concurrency cap and a deadline.

    Run :meth:`run` in a task group (``await tg.start(dispatcher.run)``); :meth:`close` ends it once
    everything queued has been delivered. ``handler_timeout`` is in real seconds (like the shutdown
    deadlines): an emulated clock that races ahead must not cancel handlers that did nothing wrong.
    """

    def __init__(
        self,
        sink: EventSink,
        *,
        concurrency: int = 64,
        buffer: int = 1024,
        dedupe_window: int = 10_000,
        classify: Classifier | None = None,
        handler_timeout: float | None = None,
        on_timeout: TimeoutReporter | None = None,
        observers: Sequence[AnyObserver] = (),
    ) -> None:
        if buffer < 1:
            raise ValueError(f"buffer must be at least 1, got {buffer}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if handler_timeout is not None and handler_timeout <= 0:
            raise ValueError(f"handler_timeout must be positive (or None for no deadline), got {handler_timeout}")
        self.sink = sink
        """Read per event: the owner may swap it while running."""
        self.buffer = buffer
        self.concurrency = concurrency
        self.classify: Classifier = classify or envelope_keys
        self.handler_timeout = handler_timeout
        self.on_timeout = on_timeout
        self.observers: list[AnyObserver] = []
        """Read only: add with :meth:`add_observer` (it prepares the per-event calls)."""
        self.stats = DeliveryStats()
        self.dedupe = RecentIds(dedupe_window)
        self._queue: deque[InboundEvent] = deque()
        # busy lane -> the events held behind the one running (None: none yet)
        self._lanes: dict[Hashable, deque[tuple[InboundEvent, Any]] | None] = {}
        self._held = 0  # events waiting in _lanes
        self._idle: deque[anyio.Event] = deque()  # one per worker waiting for an event
        self._waking = False  # an idle worker was woken and has not taken an event yet
        self._full: deque[anyio.Event] = deque()  # one per put() waiting for space
        self._current: list[InboundEvent | None] = [None] * concurrency  # what each worker's sink call runs
        self._scopes: list[anyio.CancelScope | None] = [None] * concurrency
        self._expired: list[bool] = [False] * concurrency
        self._lane_of: list[Hashable | None] = [None] * concurrency  # the lane each worker is draining
        self._ready: deque[tuple[InboundEvent, Any, Hashable]] = deque()  # a waiting handler's lane backlog
        self._resumed_at: list[float] = [0.0] * concurrency  # when a waiting handler's deadline restarted
        # observers, prepared by add_observer: with exactly one, _one is it (the fast path: called directly), with
        # _one_timed its ``timed`` or None; with several, _all pairs each with its ``timed`` or None
        self._one: Any = None
        self._one_timed: Callable[[InboundEvent, float], None] | None = None
        self._all: tuple[tuple[Any, Callable[[InboundEvent, float], None] | None], ...] = ()
        self._clocked = False  # some observer is timed: read the clock at each event's start and finish
        # per worker slot, for the event it runs: the observers watching it (_one, or _all then) and when it started
        # (perf_counter, when some observer is timed); read again when it finishes, times out or is cancelled
        self._watching: list[Any] = [None] * concurrency
        self._began: list[float] = [0.0] * concurrency
        self._failing: set[int] = set()  # ids of observers whose failure was logged
        for observer in observers:
            self.add_observer(observer)
        self._closed = False
        self._started = False
        self.drained = anyio.Event()
        """Set after :meth:`close` once every queued event has been handed to the sink."""
        self.done = anyio.Event()
        """Set after :meth:`close` once every event has been delivered and the workers have ended."""

    def __repr__(self) -> str:
        return (
            f"EventDispatcher(concurrency={self.concurrency}, queued={len(self._queue)}, held={self._held}, "
            f"running={self.running}, closed={self._closed})"
        )

    # -- introspection ----------------------------------------------------------------------------

    @property
    def running(self) -> int:
        """Events being handled by the sink now."""
        return sum(1 for event in self._current if event is not None)

    def handling(self) -> list[InboundEvent]:
        """The events being handled by the sink now (safe to call from another thread: a snapshot, which may miss
        an event starting or finishing meanwhile)."""
        return [event for event in list(self._current) if event is not None]

    def pending(self) -> int:
        """Events accepted but not yet handed to the sink (queued, or held behind their lane)."""
        return len(self._queue) + self._held + len(self._ready)

    @property
    def closed(self) -> bool:
        return self._closed

    def add_observer(self, observer: AnyObserver) -> None:
        """Tell ``observer`` about every event started from now on (a :class:`TimedDeliveryObserver` when it has
        a ``timed`` method)."""
        self.observers.append(observer)
        self._all = tuple((o, getattr(o, "timed", None)) for o in self.observers)
        self._clocked = any(timed is not None for _, timed in self._all)
        self._one, self._one_timed = self._all[0] if len(self._all) == 1 else (None, None)

    # -- intake -----------------------------------------------------------------------------------

    async def put(self, event: InboundEvent) -> None:
        """Queue ``event``; waits while the queue is full. Dropped (and logged) after :meth:`close`."""
        queue = self._queue
        while len(queue) >= self.buffer and not self._closed:
            space = anyio.Event()
            self._full.append(space)
            try:
                await space.wait()
            except BaseException:  # cancelled: pass a wake-up meant for us on, or withdraw
                if space.is_set():
                    if self._full:
                        self._full.popleft().set()
                else:
                    self._full.remove(space)
                raise
        # from here on no checkpoint: a put() cancelled while waiting has recorded nothing
        if not self.offer(event):
            log.warning("dispatcher closed; dropping %s event (id %s)", event.type, event.id)

    def offer(self, event: InboundEvent) -> bool:
        """:meth:`put` without waiting (the transports' hot path): queue ``event`` and return True; return
        False, doing nothing, when the queue is full or closed."""
        queue = self._queue
        if len(queue) >= self.buffer or self._closed:
            return False
        self.stats.received += 1
        queue.append(event)
        if self._idle and not self._waking:
            self._wake_one()
        return True

    def _wake_one(self) -> None:
        # One waking worker at a time: it wakes the next one when it finds more queued (see _serve),
        # so a burst does not wake every idle worker only for most of them to find the queue empty.
        self._waking = True
        self._idle.popleft().set()

    def close(self) -> None:
        """Accept no more events; :meth:`run` returns once the accepted ones are delivered."""
        if self._closed:
            return
        self._closed = True
        for waiters in (self._idle, self._full):
            while waiters:
                waiters.popleft().set()
        self._check_drained()

    async def shutdown(self, drain_timeout: float | None, handler_deadline: float | None) -> None:
        """:meth:`close`, then wait (real seconds) ``drain_timeout`` for queued events to reach the sink (for
        every call to finish when ``handler_deadline`` is None), then ``handler_deadline`` more for running
        calls; a WARNING names what is left. ``None`` waits without a bound. The caller cancels :meth:`run`."""
        self.close()
        with anyio.move_on_after(drain_timeout):
            await (self.done if handler_deadline is None else self.drained).wait()
        if handler_deadline is not None:
            with anyio.move_on_after(handler_deadline):
                await self.done.wait()
        if not self.done.is_set():
            log.warning(
                "shutdown deadline passed: %d queued event(s) undelivered, cancelling %d running",
                self.pending(),
                self.running,
            )

    def _check_drained(self) -> None:
        if self._closed and not self._queue and not self._held and not self._ready:
            self.drained.set()

    def _suspend(self, slot: int) -> InboundEvent | None:
        """:func:`waiting` begins: release the slot's lane (its backlog goes ahead of the queue) and pause
        the deadline. Returns the event being handled, or None when the slot is not handling one."""
        event = self._current[slot]
        if event is None:
            return None
        self._current[slot] = None  # the deadline timer skips the slot; running counts it no more
        lane = self._lane_of[slot]
        if lane is not None:
            self._lane_of[slot] = None
            held = self._lanes.pop(lane)
            if held:
                self._held -= len(held)
                self._ready.extend((e, p, lane) for e, p in held)
                if self._idle and not self._waking:
                    self._wake_one()
        return event

    def _resume(self, slot: int, event: InboundEvent) -> None:
        """:func:`waiting` ends: the handler runs on, lane-less, with a fresh deadline."""
        self._resumed_at[slot] = anyio.current_time()
        self._current[slot] = event

    # -- workers ----------------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve the queue until :meth:`close` has been called and everything accepted is delivered."""
        if self._started:
            raise RuntimeError("this EventDispatcher is already running")
        self._started = True
        try:
            async with anyio.create_task_group() as outer:
                if self.handler_timeout is not None:
                    outer.start_soon(self._enforce_deadline, self.handler_timeout)
                async with anyio.create_task_group() as workers:
                    for slot in range(self.concurrency):
                        workers.start_soon(self._worker, slot)
                    task_status.started()
                outer.cancel_scope.cancel()  # the timer
        finally:
            if self._closed and not self._queue and not self._held and not self._ready:
                self.drained.set()
                self.done.set()

    async def _worker(self, slot: int) -> None:
        _WORKER.set((self, slot))  # this task's context only
        while True:
            with anyio.CancelScope() as scope:
                self._scopes[slot] = scope
                await self._serve(slot)
                return
            # only a deadline cancels this scope: report the event, then go on (with its lane's next event)
            event = self._current[slot]
            self._current[slot] = None
            self._expired[slot] = False
            if event is not None:
                self.stats.timeouts += 1
                self._notify_finished(event, slot)
                await self._report_timeout(event)

    async def _serve(self, slot: int) -> None:
        """Deliver events until closed and empty: first the backlog of the lane this worker holds (after a
        deadline cancelled one of its events, the worker calls this again and it goes on with that lane),
        then the queue. The sink call is inlined: this loop runs once per event."""
        queue = self._queue
        full = self._full
        lanes = self._lanes
        lane_of = self._lane_of
        current = self._current
        expired = self._expired
        classify = self.classify
        ready = self._ready
        # the dedupe window's size-bound check (RecentIds.seen without a ttl) inlined: one set lookup and a deque
        # append per event, no method call; the window is the dispatcher's own, made without a ttl in __init__
        dedupe = self.dedupe
        seen_keys = dedupe._keys
        seen_order = dedupe._order
        window = dedupe.max_size
        stats = self.stats
        observers = self.observers
        watching = self._watching
        began = self._began
        clock = time.perf_counter
        while True:
            lane = lane_of[slot]
            if lane is not None:  # this worker holds a lane: its backlog first, in arrival order
                held = lanes[lane]
                if not held:
                    del lanes[lane]
                    lane_of[slot] = None
                    if self._closed:
                        self._check_drained()
                    continue
                event, prepared = held.popleft()
                self._held -= 1
            elif ready:  # a waiting handler's lane backlog: take the lane over, in order
                event, prepared, lane = ready.popleft()
                held = lanes.get(lane, _FREE)
                if held is not _FREE:  # taken again by a newer event meanwhile: wait behind it
                    if held is None:
                        lanes[lane] = deque(((event, prepared),))
                    else:
                        held.append((event, prepared))
                    self._held += 1
                    continue
                lanes[lane] = None
                lane_of[slot] = lane
            elif queue:
                # no checkpoint between queued events: the sink's own awaits are the only ones
                event = queue.popleft()
                if full:
                    full.popleft().set()
                try:
                    key, lane, prepared = classify(event)
                except Exception:
                    log.exception("classifying a %s event failed; delivering it unordered", event.type)
                    key = lane = prepared = None
                if key is not None:
                    if key in seen_keys:
                        stats.duplicates += 1
                        if self._closed:
                            self._check_drained()
                        continue
                    seen_keys.add(key)
                    seen_order.append(key)
                    if len(seen_order) > window:
                        seen_keys.discard(seen_order.popleft())
                if lane is not None:
                    held = lanes.get(lane, _FREE)
                    if held is not _FREE:  # the lane is busy: its worker runs this after the ones before it
                        if held is None:
                            lanes[lane] = deque(((event, prepared),))
                        else:
                            held.append((event, prepared))
                        self._held += 1
                        continue
                    lanes[lane] = None  # busy, nothing held behind it yet
                    lane_of[slot] = lane
            elif self._closed:
                if ready:  # held events another worker released while this one looked
                    continue
                return
            else:
                wake = anyio.Event()
                self._idle.append(wake)
                try:
                    await wake.wait()
                finally:
                    if wake.is_set():
                        self._waking = False
                    else:  # cancelled while idle: nobody may count on this worker any more
                        self._idle.remove(wake)
                if len(queue) > 1 and self._idle and not self._waking:
                    self._wake_one()  # more than this worker can take now: bring in another
                continue
            # deliver ``event`` (``prepared``: what the classifier decoded, handed on)
            current[slot] = event
            one: Any = None  # the sole observer watching this event (the fast path), else None
            if observers:
                one = self._one
                if one is not None:  # called directly: no loop; a timed one is only timed now, called at the end
                    watching[slot] = one
                    one_timed = self._one_timed
                    if one_timed is not None:
                        began[slot] = clock()
                    else:
                        try:
                            one.started(event)
                        except Exception:
                            self._observer_failed(one)
                else:
                    self._notify_started(event, slot)
            try:
                sink: Any = self.sink  # read per event: the owner may swap it while running
                await (sink(event) if prepared is None else sink(event, prepared))
            except Exception:
                stats.failures += 1
                log.exception(
                    "event sink failed on %s (id %s, shard %s, seq %s)", event.type, event.id, event.shard_id, event.seq
                )
            except BaseException:  # cancelled from outside (shutdown); a deadline is accounted by the worker
                if not expired[slot]:
                    current[slot] = None
                    self._notify_finished(event, slot)
                raise
            else:
                stats.delivered += 1
            if expired[slot]:  # past the deadline but it returned (or swallowed the cancellation)
                await anyio.lowlevel.checkpoint()  # the scope's pending cancellation lands here; the worker reports
            current[slot] = None
            if observers:
                if one is not None:  # the fast path's other half
                    watching[slot] = None
                    try:
                        if one_timed is not None:
                            one_timed(event, clock() - began[slot])
                        else:
                            one.finished(event)
                    except Exception:
                        self._observer_failed(one)
                else:
                    self._notify_finished(event, slot)
            if lane is not None and lane_of[slot] == lane and not lanes[lane]:  # its backlog is empty: free it
                del lanes[lane]
                lane_of[slot] = None
            if self._closed:
                self._check_drained()

    def _notify_started(self, event: InboundEvent, slot: int) -> None:
        """Several observers: tell each untimed one of ``event``'s start, each failure isolated."""
        watched = self._all
        for observer, timed in watched:
            if timed is None:
                try:
                    observer.started(event)
                except Exception:
                    self._observer_failed(observer)
        self._watching[slot] = watched
        if self._clocked:
            self._began[slot] = time.perf_counter()

    def _notify_finished(self, event: InboundEvent, slot: int) -> None:
        """Tell the observers watching ``slot``'s event that it finished (nothing if none were)."""
        watched = self._watching[slot]
        if watched is None:
            return
        self._watching[slot] = None
        seconds = time.perf_counter() - self._began[slot]
        pairs = watched if type(watched) is tuple else ((watched, getattr(watched, "timed", None)),)
        for observer, timed in pairs:
            try:
                if timed is not None:
                    timed(event, seconds)
                else:
                    observer.finished(event)
            except Exception:
                self._observer_failed(observer)

    def _observer_failed(self, observer: Any) -> None:
        """Count an observer's exception (being handled); log the first of each observer, with its traceback."""
        self.stats.observer_failures += 1
        if id(observer) not in self._failing:
            self._failing.add(id(observer))
            log.exception(
                "delivery observer %r failed (delivery goes on; its later failures are only counted in "
                "stats.observer_failures); fix the observer",
                observer,
            )

    async def _report_timeout(self, event: InboundEvent) -> None:
        seconds = self.handler_timeout or 0.0
        log.error(
            "handling a %s event (id %s, shard %s) ran past the %g s handler timeout; cancelled",
            event.type,
            event.id,
            event.shard_id,
            seconds,
        )
        if self.on_timeout is not None:
            try:
                await self.on_timeout(event, seconds)
            except Exception:
                log.exception("the handler-timeout reporter failed")

    async def _enforce_deadline(self, limit: float) -> None:
        """Cancel sink calls that run longer than ``limit``: sampled a few times per ``limit``, so a call
        is cancelled between ``limit`` and ``1.25 * limit`` after it started (no clock read per event)."""
        tick = limit / 4
        watched: list[tuple[InboundEvent | None, float]] = [(None, 0.0)] * self.concurrency
        while True:
            await anyio.sleep(tick)
            now = anyio.current_time()
            current = self._current
            for slot in range(self.concurrency):
                event = current[slot]
                if event is None:
                    watched[slot] = (None, 0.0)
                    continue
                seen_event, since = watched[slot]
                if seen_event is not event:
                    watched[slot] = (event, now)
                elif now - max(since, self._resumed_at[slot]) >= limit - tick / 2 and not self._expired[slot]:
                    scope = self._scopes[slot]
                    if scope is not None:
                        self._expired[slot] = True
                        scope.cancel()
