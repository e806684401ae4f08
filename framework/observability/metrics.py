"""Prometheus metrics and health probes for a running bot, as a plugin (extra ``qqbot-framework[metrics]``).

``qqbot run bot:bot --metrics-port 9108`` (or ``[metrics] port`` / ``QQBOT_METRICS_PORT``) registers a
:class:`MetricsPlugin`; in code, ``Bot(plugins=[MetricsPlugin(port=9108)])``. One HTTP server, in a thread
of its own so that a blocked event loop cannot silence the probes, serves:

- ``/metrics``: the Prometheus text format (the series are listed in docs/observability.md);
- ``/healthz``: 200 while the process is alive and the event loop responsive (the gateway's
  :class:`~framework.runtime.gateway.watchdog.LoopWatchdog`, or a bus worker's, saw it run within its threshold),
  else 503;
- ``/readyz``: 200 when every shard this process owns is READY, or the webhook server is serving; 503
  before that, during a reconnect and after stopping. On an event bus (``qqbot gateway``/``qqbot worker``,
  handed over by ``qqbot_bus_started``): a gateway is ready when its shards are (or its webhook server
  serves) and the bus takes its batches; a worker when it holds its bus membership and its reads succeed.

Where the numbers come from, all through plugin hooks: ``qqbot_gateway_started``/``qqbot_webhook_started`` hand over
the session manager and token provider and the plugin observes ``bot.delivery`` (a
:class:`~framework.delivery.TimedDeliveryObserver`: per event one dict lookup and, past the first bucket, a bucket
search; the dispatcher times the event, no lock); ``qqbot_handler_error`` counts failures; ``qqbot_api_request``
counts REST calls. Counters kept by the framework itself (the dispatcher's ``stats``, the queue depth,
``TokenManager.fetch_count``) are read when scraped; so are the bus publisher's and consumer's counters
(``qqbot_bus_*``: nothing per event). Shard state is sampled every ``sample_interval`` seconds by a thread:
reconnects are attributed to the close code the shard reports after each one, and the identify-queue wait is the
time a shard spends in ``waiting_identify`` (to within the sampling interval).
"""

from __future__ import annotations

import bisect
import http.server
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from framework.observability.routes import route_of
from framework.plugins import hookimpl

if TYPE_CHECKING:
    from framework.app import ApiRequest, Bot
    from framework.delivery import EventDispatcher
    from framework.interfaces import SessionManager
    from framework.models import InboundEvent

__all__ = ["HANDLER_BUCKETS", "REST_BUCKETS", "Histogram", "MetricsPlugin", "route_of"]

log = logging.getLogger("framework.observability.metrics")

HANDLER_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
)
"""Upper bounds (seconds) of ``qqbot_handler_duration_seconds``."""
REST_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
"""Upper bounds (seconds) of ``qqbot_api_request_duration_seconds`` and ``qqbot_identify_wait_seconds``."""


class Histogram:
    """A cumulative-at-scrape histogram without locks: ``observe`` is a bucket search and two additions.

    Written from the event loop only; read by the scraping thread (a torn read is off by one sample).
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def buckets(self) -> list[tuple[str, float]]:
        """``(le, cumulative count)`` pairs ending with ``+Inf``, as Prometheus wants them."""
        return _cumulative(self.bounds, list(self.counts))


class MetricsPlugin:
    """Plugin: Prometheus metrics and ``/healthz``/``/readyz`` for one bot process.

    ``port``: serve on it when the bot starts (0: any free port; :attr:`port` tells which); ``None``: do not
    serve (read :attr:`registry` yourself). ``host``: the listen address.
    """

    def __init__(
        self,
        port: int | None = 9108,
        *,
        host: str = "0.0.0.0",
        registry: CollectorRegistry | None = None,
        sample_interval: float = 0.1,
        process_metrics: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.sample_interval = sample_interval
        # written from the event loop, read at scrape time
        self.observer = _EventTiming()
        """The :class:`~framework.delivery.DeliveryObserver` added to ``bot.delivery``: counts and times events."""
        self.errors: dict[tuple[str, str], int] = {}
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latency: dict[tuple[str, str], Histogram] = {}
        self.rate_limited: dict[tuple[str, str], int] = {}
        self.waits: dict[tuple[str, str], list[float]] = {}  # (method, route) -> [waits, seconds]
        # written by the sampler thread
        self.reconnects: dict[tuple[str, str], int] = {}
        self.identify_wait = Histogram(REST_BUCKETS)
        self._delivery: EventDispatcher | None = None
        self._sessions: SessionManager | None = None
        self._tokens: Any = None
        # the process's loop watchdog where no session manager runs one: run_webhook's (qqbot_webhook_started), a
        # bus worker's or webhook gateway's (qqbot_bus_started)
        self._watchdog: Any = None
        self._webhook_serving = False
        self._bus: Any = None  # qqbot gateway / qqbot worker: the backend, and the publisher or the consumer
        self._publisher: Any = None
        self._consumer: Any = None
        self._bus_stopped = False
        self._server: http.server.ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._sampling = threading.Lock()
        self._close_on_shutdown = False
        self._seen: dict[int, tuple[int, float | None]] = {}  # shard -> (reconnects, waiting since)
        self.registry.register(_Collector(self))
        if process_metrics:
            ProcessCollector(namespace="qqbot", registry=self.registry)

    def __repr__(self) -> str:
        return f"MetricsPlugin(host={self.host!r}, port={self.port!r})"

    # -- the HTTP server --------------------------------------------------------------------------

    def serve(self) -> tuple[str, int]:
        """Start the HTTP server (and the shard sampler) in daemon threads; returns the bound address.

        Called by the CLI before the bot starts (so the probes answer during start-up), else by
        ``qqbot_startup``. Idempotent.
        """
        if self._server is not None:
            host, port = self._server.server_address[:2]
            return str(host), int(port)
        if self.port is None:
            raise ValueError("MetricsPlugin(port=None) does not serve; give it a port (0: any free port)")
        try:
            server = http.server.ThreadingHTTPServer((self.host, self.port), _handler_class(self))
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"cannot serve metrics on {self.host}:{self.port} ({exc.strerror}); choose another "
                "--metrics-port or stop the process using it",
            ) from exc
        server.daemon_threads = True
        self._server = server
        self.port = int(server.server_address[1])
        self._stop.clear()
        for target, name in ((server.serve_forever, "qqbot-metrics"), (self._sample_loop, "qqbot-metrics-sampler")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self.host, self.port

    def close(self) -> None:
        """Stop the HTTP server and the sampler (the process exiting does it too)."""
        self._stop.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads.clear()

    # -- plugin hooks -----------------------------------------------------------------------------

    @hookimpl
    def qqbot_startup(self) -> None:
        if self.port is not None and self._server is None:
            self.serve()
            self._close_on_shutdown = True  # started with the bot: stopped with it (the CLI's lives on to exit)

    @hookimpl
    def qqbot_shutdown(self) -> None:
        if self._close_on_shutdown:
            self._close_on_shutdown = False
            self.close()

    @hookimpl
    def qqbot_gateway_started(self, bot: Bot, sessions: SessionManager, tokens: Any) -> None:
        self._sessions = sessions
        self._tokens = tokens
        self._observe(bot)

    @hookimpl
    def qqbot_gateway_stopped(self) -> None:
        self._sessions = None

    @hookimpl
    def qqbot_webhook_started(self, bot: Bot, tokens: Any, watchdog: Any) -> None:
        self._tokens = tokens
        self._watchdog = watchdog
        self._webhook_serving = True
        self._observe(bot)

    @hookimpl
    def qqbot_webhook_stopped(self) -> None:
        self._webhook_serving = False

    @hookimpl
    def qqbot_bus_started(
        self, bot: Bot, bus: Any, publisher: Any, consumer: Any, sessions: Any, tokens: Any, watchdog: Any
    ) -> None:
        self._bus, self._publisher, self._consumer = bus, publisher, consumer
        self._bus_stopped = False
        self._sessions = sessions
        self._watchdog = watchdog  # None on a websocket gateway: its session manager's applies
        if tokens is not None:
            self._tokens = tokens
        self._observe(bot)  # a worker's delivery path (a gateway runs no handler: bot.delivery is None)

    @hookimpl
    def qqbot_bus_stopped(self) -> None:
        self._bus_stopped = True
        self._sessions = None

    @hookimpl
    def qqbot_handler_error(self, error: BaseException, handler: str | None) -> None:
        key = (handler or "dispatch", type(error).__name__)
        self.errors[key] = self.errors.get(key, 0) + 1

    @hookimpl
    def qqbot_api_request(self, request: ApiRequest) -> None:
        route = route_of(request.path)
        key = (request.method, route, str(request.status))
        self.requests[key] = self.requests.get(key, 0) + 1
        lat_key = (request.method, route)
        histogram = self.latency.get(lat_key)
        if histogram is None:
            histogram = self.latency[lat_key] = Histogram(REST_BUCKETS)
        histogram.observe(request.elapsed)
        if request.status == 429:
            self.rate_limited[lat_key] = self.rate_limited.get(lat_key, 0) + 1

    @hookimpl
    def qqbot_rate_limit_wait(self, method: str, route: str, seconds: float) -> None:
        key = (method, route_of(route))
        total = self.waits.get(key)
        if total is None:
            total = self.waits[key] = [0.0, 0.0]
        total[0] += 1
        total[1] += seconds

    def _observe(self, bot: Bot) -> None:
        delivery = bot.delivery
        if delivery is not None and delivery is not self._delivery:
            delivery.add_observer(self.observer)
            self._delivery = delivery

    # -- health -----------------------------------------------------------------------------------

    def health(self) -> tuple[bool, str]:
        """``/healthz``: alive, and the event loop ran within the watchdog's threshold: the session manager's, or in
        a process without one the watchdog a hook handed over (``qqbot_webhook_started`` of ``run_webhook``,
        ``qqbot_bus_started`` of a worker or a webhook gateway). ``ok`` alone when no watchdog runs; else ``ok``
        with how long ago the loop last ran."""
        watchdog = getattr(self._sessions, "watchdog", None) or self._watchdog
        if watchdog is None:
            return True, "ok"
        blocked = watchdog.blocked_for()
        if blocked >= watchdog.threshold:
            return False, f"event loop blocked for {blocked:.1f} s (threshold {watchdog.threshold:g} s)"
        return True, f"ok; event loop ran {blocked:.1f} s ago (watchdog threshold {watchdog.threshold:g} s)"

    def readiness(self) -> tuple[bool, str]:
        """``/readyz``: every owned shard READY, or the webhook server serving; on a bus, see :meth:`bus_readiness`."""
        if self._bus is not None:
            return self.bus_readiness()
        if self._webhook_serving:
            return True, "webhook serving"
        return self._shard_readiness()

    def bus_readiness(self) -> tuple[bool, str]:
        """``/readyz`` of ``qqbot gateway``: its shards READY (a webhook gateway: serving) and no batch refused by the
        bus since the last one it took; of ``qqbot worker``: a bus member (``qqbot_bus_started`` is called once it
        holds its membership) whose last read succeeded. 503 after ``qqbot_bus_stopped``."""
        if self._bus_stopped:
            return False, "stopped"
        consumer = self._consumer
        if consumer is not None:
            if consumer.failing_since is not None:
                return False, f"bus unavailable: {consumer.last_error}"
            return True, f"bus member ({self._bus.name}), reading"
        publisher = self._publisher
        if publisher is not None and publisher.failing_since is not None:
            return (
                False,
                f"bus unavailable for {time.monotonic() - publisher.failing_since:.0f} s: {publisher.last_error}",
            )
        if self._sessions is None:  # a webhook gateway
            if not self._webhook_serving:
                return False, "webhook server not serving"
            return True, f"webhook serving; publishing to the bus ({self._bus.name})"
        ready, text = self._shard_readiness()
        return ready, f"{text}; publishing to the bus ({self._bus.name})" if ready else text

    def _shard_readiness(self) -> tuple[bool, str]:
        sessions = self._sessions
        if sessions is None:
            return False, "not connected"
        try:
            shards = list(sessions.status())
        except Exception as exc:  # read from another thread while the manager changes its shards
            return False, f"shard status unavailable ({type(exc).__name__})"
        if not shards:
            return False, "no shard owned"
        waiting = [f"shard {s.shard_id}: {s.state}" for s in shards if s.state != "ready"]
        if waiting:
            return False, "; ".join(waiting)
        return True, f"{len(shards)} shard(s) ready"

    # -- the shard sampler ------------------------------------------------------------------------

    def _sample_loop(self) -> None:
        while not self._stop.wait(self.sample_interval):
            try:
                self.sample()
            except Exception:  # a status read racing a change: the next sample sees it
                log.debug("shard sample failed", exc_info=True)

    def sample(self) -> None:
        """Record reconnects (by the close code that caused them) and identify-queue waits since the last call.

        Run by the sampler thread, and by each scrape first (so a scrape sees the shards' latest changes).
        """
        sessions = self._sessions
        if sessions is None:
            return
        with self._sampling:
            self._sample(sessions)

    def _sample(self, sessions: SessionManager) -> None:
        now = time.monotonic()
        for status in list(sessions.status()):
            previous, waiting_since = self._seen.get(status.shard_id, (status.reconnects, None))
            if status.reconnects > previous:
                key = (str(status.shard_id), "" if status.last_close_code is None else str(status.last_close_code))
                self.reconnects[key] = self.reconnects.get(key, 0) + status.reconnects - previous
            if status.state == "waiting_identify":
                if waiting_since is None:
                    waiting_since = now
            elif waiting_since is not None:
                self.identify_wait.observe(now - waiting_since)
                waiting_since = None
            self._seen[status.shard_id] = (status.reconnects, waiting_since)

    # -- exposition -------------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """Every ``qqbot_*`` series now (the registry's collector calls this per scrape)."""
        try:
            self.sample()
        except Exception:
            log.debug("shard sample failed", exc_info=True)
        received = CounterMetricFamily(
            "qqbot_events_received",
            "Events handed to the handlers, by type and shard (duplicates excluded)",
            labels=["type", "shard"],
        )
        delivery = self._delivery
        for (kind, shard_id), n in self.observer.received(delivery.handling() if delivery is not None else ()):
            received.add_metric([kind, "" if shard_id is None else str(shard_id)], n)
        yield received
        by_type: dict[str, list[float]] = {}  # the shards' histograms summed per event type
        for (kind, _), counts in self.observer.series():
            total = by_type.get(kind)
            by_type[kind] = list(counts) if total is None else [a + b for a, b in zip(total, counts, strict=True)]
        handled = CounterMetricFamily(
            "qqbot_events_handled", "Events whose handlers finished, by type", labels=["type"]
        )
        for kind, counts in by_type.items():
            handled.add_metric([kind], sum(counts[:-1]))
        yield handled
        errors = CounterMetricFamily(
            "qqbot_handler_errors",
            "Exceptions raised by handlers (or middleware: handler=dispatch)",
            labels=["handler", "error"],
        )
        for (handler, error), n in list(self.errors.items()):
            errors.add_metric([handler, error], n)
        yield errors
        durations = HistogramMetricFamily(
            "qqbot_handler_duration_seconds", "Time from an event's handlers starting to finishing", labels=["type"]
        )
        for kind, counts in by_type.items():
            durations.add_metric([kind], _cumulative(HANDLER_BUCKETS, counts[:-1]), counts[-1])
        yield durations
        delivery = self._delivery
        stats = delivery.stats if delivery is not None else None
        queue = GaugeMetricFamily("qqbot_dispatch_queue_depth", "Events accepted but not yet handed to the handlers")
        queue.add_metric([], delivery.pending() if delivery is not None else 0)
        yield queue
        running = GaugeMetricFamily("qqbot_handlers_running", "Events being handled now")
        running.add_metric([], delivery.running if delivery is not None else 0)
        yield running
        for name, doc, value in (
            ("qqbot_dedupe_hits", "Events dropped as duplicates (same message or envelope id)", "duplicates"),
            ("qqbot_handler_timeouts", "Events whose handlers ran past the handler timeout", "timeouts"),
            ("qqbot_dispatch_failures", "Events whose dispatch raised (beyond handler errors)", "failures"),
        ):
            family = CounterMetricFamily(name, doc)
            family.add_metric([], getattr(stats, value) if stats is not None else 0)
            yield family
        requests = CounterMetricFamily(
            "qqbot_api_requests",
            "OpenAPI requests by method, route and HTTP status (0: no answer)",
            labels=["method", "route", "status"],
        )
        for (method, route, status), n in list(self.requests.items()):
            requests.add_metric([method, route, status], n)
        yield requests
        latency = HistogramMetricFamily(
            "qqbot_api_request_duration_seconds",
            "OpenAPI request latency by method and route",
            labels=["method", "route"],
        )
        for (method, route), histogram in list(self.latency.items()):
            latency.add_metric([method, route], histogram.buckets(), histogram.sum)
        yield latency
        limited = CounterMetricFamily(
            "qqbot_api_rate_limited",
            "OpenAPI answers HTTP 429 (each is followed by a wait or an error)",
            labels=["method", "route"],
        )
        for (method, route), n in list(self.rate_limited.items()):
            limited.add_metric([method, route], n)
        yield limited
        waits = CounterMetricFamily(
            "qqbot_rate_limit_waits",
            "OpenAPI calls delayed by their route's rate limit before being sent",
            labels=["method", "route"],
        )
        waited = CounterMetricFamily(
            "qqbot_rate_limit_wait_seconds",
            "Seconds OpenAPI calls waited for their route's rate limit",
            labels=["method", "route"],
        )
        for (method, route), (count, seconds) in list(self.waits.items()):
            waits.add_metric([method, route], count)
            waited.add_metric([method, route], seconds)
        yield waits
        yield waited
        tokens = CounterMetricFamily("qqbot_token_refreshes", "Access-token fetches (the first one included)")
        tokens.add_metric([], int(getattr(self._tokens, "fetch_count", 0) or 0))
        yield tokens
        reconnects = CounterMetricFamily(
            "qqbot_gateway_reconnects",
            "Gateway reconnections by shard and the close code before them",
            labels=["shard", "code"],
        )
        for (shard, code), n in list(self.reconnects.items()):
            reconnects.add_metric([shard, code], n)
        yield reconnects
        wait = HistogramMetricFamily(
            "qqbot_identify_wait_seconds", "Time a shard waited for its identify slot (sampled)"
        )
        wait.add_metric([], self.identify_wait.buckets(), self.identify_wait.sum)
        yield wait
        yield from self._shard_families()
        yield from self._bus_families()
        ready, _ = self.readiness()
        up = GaugeMetricFamily("qqbot_ready", "1 when /readyz answers 200")
        up.add_metric([], 1 if ready else 0)
        yield up

    def _shard_families(self) -> Iterable[Metric]:
        sessions = self._sessions
        statuses = []
        if sessions is not None:
            try:
                statuses = list(sessions.status())
            except Exception:
                statuses = []
        state = GaugeMetricFamily(
            "qqbot_shard_state", "1 for the state each owned shard is in", labels=["shard", "state"]
        )
        latency = GaugeMetricFamily(
            "qqbot_shard_latency_seconds", "Heartbeat round trip of each shard", labels=["shard"]
        )
        for status in statuses:
            state.add_metric([str(status.shard_id), status.state], 1)
            if status.latency is not None:
                latency.add_metric([str(status.shard_id)], status.latency)
        owned = GaugeMetricFamily("qqbot_shards_owned", "Shards this process runs now (in a fleet: holds)")
        owned.add_metric([], len(statuses))
        yield state
        yield latency
        yield owned

    def _bus_families(self) -> Iterable[Metric]:
        bus, publisher, consumer = self._bus, self._publisher, self._consumer
        name = [str(getattr(bus, "name", "bus"))]
        out = stats = publisher.stats if publisher is not None else None
        for metric, doc, read in (
            ("qqbot_bus_published", "Events the bus took from this gateway", "published"),
            ("qqbot_bus_publish_failures", "Batches the bus refused or did not answer (each is sent again)", "retries"),
            ("qqbot_bus_dropped", "Events dropped by the gateway's drop policy (--when-full drop)", "dropped"),
            ("qqbot_bus_blocked", "Times the gateway waited for buffer space (--when-full block)", "blocked"),
        ):
            family = CounterMetricFamily(metric, doc, labels=["bus"])
            if out is not None:
                family.add_metric(name, getattr(out, read))
            yield family
        depth = GaugeMetricFamily(
            "qqbot_bus_buffer_depth", "Events buffered by the gateway, not yet taken by the bus", labels=["bus"]
        )
        size = GaugeMetricFamily(
            "qqbot_bus_buffer_capacity", "The gateway's publish buffer size (--buffer)", labels=["bus"]
        )
        if publisher is not None:
            depth.add_metric(name, publisher.pending())
            size.add_metric(name, publisher.buffer)
        yield depth
        yield size
        stats = consumer.stats if consumer is not None else None
        for metric, doc, read in (
            ("qqbot_bus_consumed", "Entries this worker read from the bus (redeliveries included)", "received"),
            (
                "qqbot_bus_acknowledged",
                "Entries this worker acknowledged (handled, skipped or undecodable)",
                "acknowledged",
            ),
            (
                "qqbot_bus_already_handled",
                "Entries skipped because the idempotency guard had them handled",
                "already_handled",
            ),
            ("qqbot_bus_undecodable", "Entries that were not a bus message (acknowledged unread)", "undecodable"),
        ):
            family = CounterMetricFamily(metric, doc, labels=["bus"])
            if stats is not None:
                family.add_metric(name, getattr(stats, read))
            yield family
        inflight = GaugeMetricFamily("qqbot_bus_inflight", "Entries read and not yet acknowledged", labels=["bus"])
        owned = GaugeMetricFamily("qqbot_bus_partitions_owned", "Bus partitions this worker holds", labels=["bus"])
        lost = CounterMetricFamily(
            "qqbot_bus_partitions_lost", "Partition leases this worker lost (not renewed in time)", labels=["bus"]
        )
        claimed = CounterMetricFamily(
            "qqbot_bus_claimed",
            "Pending entries this worker claimed from a departed worker (redelivered to it)",
            labels=["bus"],
        )
        if consumer is not None:
            inflight.add_metric(name, consumer.inflight())
            owned.add_metric(name, len(getattr(bus, "owned", ())))
            lost.add_metric(name, int(getattr(bus, "lost", 0)))
            claimed.add_metric(name, int(getattr(bus, "claimed", 0)))
        yield inflight
        yield owned
        yield lost
        yield claimed


class _EventTiming:
    """The metrics' delivery observer (a :class:`~framework.delivery.TimedDeliveryObserver`): per event type and
    shard, a histogram of handling times, from which events handled are counted; events received are those plus
    the ones being handled when scraped (:meth:`received`).

    One cell per (type, shard), a list ``[bucket counts of HANDLER_BUCKETS and +Inf..., sum of seconds]``, found
    in one dict lookup in ``timed``, the only call per event: the dispatcher hands over the handling time it
    measured itself (this observer reads no clock and keeps no start times); the common case of a handler within
    the first bucket skips the bucket search. A closure over local names (plain methods measured three times the
    cost). ``benchmarks/observability_overhead.py --observer`` and ``--delivery``; docs/observability.md, Cost."""

    timed: Callable[[InboundEvent, float], None]

    def __init__(self) -> None:
        self.cells: dict[tuple[str, int | None], list[float]] = {}
        """(type, shard) -> ``[bucket counts..., +Inf count, sum of seconds]`` (read at scrape time)."""
        cells = self.cells
        find, bounds = bisect.bisect_left, HANDLER_BUCKETS
        first, width = HANDLER_BUCKETS[0], len(HANDLER_BUCKETS) + 1

        def timed(event: InboundEvent, seconds: float) -> None:
            key = (event.type, event.shard_id)
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = [0] * width + [0.0]
            if seconds <= first:
                cell[0] += 1
            else:
                cell[find(bounds, seconds)] += 1
            cell[-1] += seconds

        self.timed = timed

    def received(self, handling: Iterable[InboundEvent] = ()) -> list[tuple[tuple[str, int | None], int]]:
        """``((type, shard), events started)`` pairs: those handled, plus those of ``handling`` (the events the
        dispatcher's sink runs now)."""
        counts = {key: int(sum(cell[:-1])) for key, cell in list(self.cells.items())}
        for event in handling:
            key = (event.type, event.shard_id)
            counts[key] = counts.get(key, 0) + 1
        return list(counts.items())

    def series(self) -> list[tuple[tuple[str, int | None], list[float]]]:
        """``((type, shard), [bucket counts..., +Inf count, sum of seconds])`` pairs (copies)."""
        return [(key, list(cell)) for key, cell in list(self.cells.items())]


def _cumulative(bounds: Sequence[float], counts: Sequence[float]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    total = 0.0
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        total += count
        out.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
    return out


class _Collector(Collector):
    def __init__(self, plugin: MetricsPlugin) -> None:
        self._plugin = plugin

    def collect(self) -> Iterable[Metric]:
        return self._plugin.collect()


def _handler_class(plugin: MetricsPlugin) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "qqbot-metrics"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body = generate_latest(plugin.registry)
                self._answer(200, body, "text/plain; version=0.0.4; charset=utf-8")
            elif path in ("/healthz", "/readyz"):
                ok, text = plugin.health() if path == "/healthz" else plugin.readiness()
                self._answer(200 if ok else 503, (text + "\n").encode(), "text/plain; charset=utf-8")
            else:
                self._answer(404, b"not found: try /metrics, /healthz or /readyz\n", "text/plain; charset=utf-8")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("metrics server: " + format, *args)

    return Handler
