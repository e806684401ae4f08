"""What the observability plugins cost: gateway events/s into a no-op handler, with and without them.

The emulator runs in its own process (``_common.EmulatorProcess``, a fresh one per run); this process runs
``BotRunner`` over loopback, as ``gateway_vs_botpy.run_framework`` does, and measures one push of N events
after a warm-up. Configurations:

- ``none``: no plugin;
- ``metrics``: :class:`MetricsPlugin` serving on a free port, scraped once a second meanwhile by another
  process (as Prometheus would); ``metrics-observer``: its per-event observer alone (no server, no sampler);
  ``null-timed``: a timed observer that does nothing (the dispatcher's timing of each event alone);
- ``tracing``: :class:`TracingPlugin` on an SDK ``TracerProvider`` whose spans go to a batch processor and
  an exporter that drops them; ``tracing-1%``: the same, sampling one trace in a hundred;
- ``json-logs``: :class:`EventLogFields`.

Configurations alternate within each round so that a noisy neighbour hurts them alike; the figure is the
median over rounds, and the median over rounds of each run against the same round's ``none`` (``paired``,
the steadier figure when the machine's load drifts). ``--observer`` instead times the metrics plugin's
per-event observer alone (its one call per event for 1,000 events, CPU time, the best of 15 repeats):
the part of ``metrics-observer`` that is the plugin's, without the delivery path and the machine's noise.
``--delivery`` pushes 50,000 events through an :class:`EventDispatcher` into a no-op sink in this process (no
socket, no emulator), with and without the observer, alternating, and reports the CPU per event of each and
their paired difference: the observer's cost where it runs, with far less noise than the full path. Run on
demand::

    python3 benchmarks/observability_overhead.py                # 50,000 events per run, 5 rounds
    python3 benchmarks/observability_overhead.py -n 20000 -r 3 --configs none,metrics
    python3 benchmarks/observability_overhead.py --observer
    python3 benchmarks/observability_overhead.py --delivery -r 10
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Counter, EmulatorOptions, EmulatorProcess, runner_edge
from gateway_vs_botpy import push_round

_SCRAPER = """
import sys, threading, urllib.request
gone = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), gone.set()), daemon=True).start()
while not gone.wait(1.0):
    urllib.request.urlopen(sys.argv[1]).read()
"""


CONFIGS = ("none", "metrics", "metrics-observer", "null-timed", "tracing", "tracing-1%", "json-logs")


def _plugins(config: str) -> tuple[list[object], Callable[[], None]]:
    """The plugins of ``config`` and a function to call when the run ends."""
    from framework.plugins import hookimpl

    if config == "metrics-observer":  # the per-event part alone: no server, no sampler, no scrapes
        from framework.observability.metrics import MetricsPlugin

        return [MetricsPlugin(None, process_metrics=False)], lambda: None
    if config == "null-timed":  # the dispatcher's timing of each event, for an observer that does nothing with it

        class NullTimed:
            def timed(self, event: Any, seconds: float) -> None:
                pass

        class Plugin:
            @hookimpl
            def qqbot_gateway_started(self, bot: Any, sessions: Any, tokens: Any) -> None:
                bot.delivery.add_observer(NullTimed())

        return [Plugin()], lambda: None
    if config == "metrics":
        from framework.observability.metrics import MetricsPlugin

        plugin = MetricsPlugin(0, host="127.0.0.1")
        plugin.serve()
        # scraped once a second meanwhile, as Prometheus would: from another process, so that this process's CPU
        # counts the plugin's side of a scrape (building the text) and not a client's
        scraper = subprocess.Popen(
            [sys.executable, "-c", _SCRAPER, f"http://127.0.0.1:{plugin.port}/metrics"], stdin=subprocess.PIPE
        )

        def close() -> None:
            assert scraper.stdin is not None
            scraper.stdin.close()  # its cue to stop
            scraper.wait(10)
            plugin.close()

        return [plugin], close
    if config in ("tracing", "tracing-1%"):
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased

        from framework.observability.tracing import TracingPlugin

        class Drop(SpanExporter):
            def export(self, spans: Sequence[Any]) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.01)) if config == "tracing-1%" else ALWAYS_ON)
        provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=65536))
        return [TracingPlugin(tracer_provider=provider)], provider.shutdown
    if config == "json-logs":
        from framework.observability.logfields import EventLogFields

        return [EventLogFields()], lambda: None
    return [], lambda: None


async def run_once(emu: EmulatorProcess, config: str, n: int, warmup: int) -> tuple[float, float]:
    """Events/s and client CPU µs per event of one run of ``n`` events (after ``warmup`` unmeasured ones)."""
    from framework.app import Bot
    from framework.models.events import GroupMessage
    from framework.runner import BotRunner

    counter = Counter()
    done = anyio.Event()
    plugins, close = _plugins(config)
    bot = Bot("bench", help=False, plugins=plugins)

    @bot.on_group_at_message
    async def noop(message: GroupMessage) -> None:
        if counter.hit():
            done.set()

    try:
        async with BotRunner(bot, **runner_edge(emu.url), concurrency=16) as runner:
            with anyio.fail_after(30):
                await runner.wait_ready()
            for size in (warmup, n):
                counter.reset(size)
                done = anyio.Event()
                await anyio.to_thread.run_sync(push_round, emu, size, 1)
                with anyio.fail_after(120):
                    await done.wait()
                await anyio.to_thread.run_sync(emu.read)
    finally:
        close()
    return counter.rate(), counter.cpu_us()


def observer_cost() -> float:
    """CPU ns per event of the metrics observer's ``timed`` (best of 15 repeats of 100 x 1,000); of ``started`` +
    ``finished`` for a framework before the dispatcher timed events itself (its clock reads were then the
    observer's: compare such figures with ``--delivery``, not with each other)."""
    import time
    import timeit

    import msgspec

    from framework.models.envelope import InboundEvent
    from framework.observability.metrics import MetricsPlugin

    observer: Any = MetricsPlugin(None, process_metrics=False).observer
    started = getattr(observer, "started", None)
    timed = getattr(observer, "timed", None)
    events = [
        InboundEvent(type="GROUP_AT_MESSAGE_CREATE", data=msgspec.Raw(b"{}"), id=f"e{i}", seq=i, shard_id=i % 2)
        for i in range(1000)
    ]

    finished = getattr(observer, "finished", None)

    def run() -> None:
        if timed is not None:
            for event in events:
                timed(event, 0.0001)
        else:  # a framework from before the dispatcher timed events
            assert started is not None and finished is not None
            for event in events:
                started(event)
                finished(event)

    best = min(timeit.repeat(run, number=100, repeat=15, timer=time.process_time))
    return best / 100 / len(events) * 1e9


async def delivery_once(events: Sequence[Any], observe: bool) -> float:
    """CPU µs per event of ``events`` through an EventDispatcher (concurrency 16) into a no-op sink."""
    import time

    from framework.delivery import EventDispatcher
    from framework.observability.metrics import MetricsPlugin

    done = anyio.Event()
    left = len(events)

    async def sink(event: Any, prepared: Any = None) -> None:
        nonlocal left
        left -= 1
        if not left:
            done.set()

    dispatcher = EventDispatcher(sink, concurrency=16)
    if observe:
        dispatcher.add_observer(MetricsPlugin(None, process_metrics=False).observer)
    async with anyio.create_task_group() as tg:
        await tg.start(dispatcher.run)
        began = time.process_time()
        for event in events:
            await dispatcher.put(event)
        await done.wait()
        spent = time.process_time() - began
        dispatcher.close()
    return spent / len(events) * 1e6


def delivery_cost(rounds: int) -> tuple[float, float, float]:
    """Median CPU µs per event without and with the metrics observer, and the median paired difference."""
    import msgspec

    from framework.models.envelope import InboundEvent

    events = [
        InboundEvent(
            type="GROUP_AT_MESSAGE_CREATE",
            data=msgspec.Raw(b'{"id":"m%d","group_openid":"G%d"}' % (i, i % 50)),
            id=f"e{i}",
            seq=i,
            shard_id=0,
        )
        for i in range(50_000)
    ]
    runs: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for observe in (False, True):
            runs[observe].append(anyio.run(delivery_once, events, observe))
    paired = statistics.median(b - a for a, b in zip(runs[False], runs[True], strict=True))
    return statistics.median(runs[False]), statistics.median(runs[True]), paired


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=50_000, help="events per run")
    parser.add_argument("-r", "--rounds", type=int, default=5)
    parser.add_argument("--configs", default="none,metrics,tracing,tracing-1%,json-logs")
    parser.add_argument("--observer", action="store_true", help="time the metrics observer alone (see above)")
    parser.add_argument("--delivery", action="store_true", help="the delivery path alone, with and without it")
    args = parser.parse_args()
    if args.observer:
        from framework.observability.metrics import MetricsPlugin

        calls = (
            "timed" if hasattr(MetricsPlugin(None, process_metrics=False).observer, "timed") else "started + finished"
        )
        print(f"metrics observer: {observer_cost():.0f} ns CPU per event ({calls})")
        return
    if args.delivery:
        none, observed, paired = delivery_cost(args.rounds)
        print(
            f"delivery path, {args.rounds} rounds: {none:.2f} µs CPU per event without the metrics observer, "
            f"{observed:.2f} µs with it (paired difference {paired:+.2f} µs)"
        )
        return
    configs = args.configs.split(",")
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration {', '.join(unknown)}: choose from {', '.join(CONFIGS)}")
    results: dict[str, list[tuple[float, float]]] = {c: [] for c in configs}
    # one emulator per run: a fresh session each time (identify pacing off: max_concurrency high)
    for _ in range(args.rounds):
        for config in configs:
            with EmulatorProcess(EmulatorOptions(shards=1, max_concurrency=1)) as emu:
                results[config].append(anyio.run(run_once, emu, config, args.n, 2_000))
    base = statistics.median(r for r, _ in results["none"]) if "none" in results else None
    print(f"observability overhead ({args.n} events per run, median of {args.rounds} rounds):")
    base_cpu = statistics.median(c for _, c in results["none"]) if "none" in results else None
    for config, runs in results.items():
        rates = sorted(r for r, _ in runs)
        rate = statistics.median(rates)
        cpu = statistics.median(c for _, c in runs)
        vs = f" ({(rate / base - 1) * 100:+.1f}% vs none" if base else ""
        if base and config != "none":  # each round against its own none: steadier when the machine's load drifts
            paired = statistics.median(r / n - 1 for (r, _), (n, _) in zip(runs, results["none"], strict=True))
            vs += f"; paired {paired * 100:+.1f}%"
        vs += ")" if base else ""
        vs_cpu = f" ({cpu - base_cpu:+.1f} µs)" if base_cpu is not None else ""
        print(
            f"  {config:17s} {rate:>9,.0f} events/s (runs {rates[0]:,.0f}..{rates[-1]:,.0f}){vs}"
            f"  {cpu:5.1f} µs CPU/event{vs_cpu}"
        )


if __name__ == "__main__":
    main()
