"""framework.delivery.EventDispatcher's observers: a timed observer is called once per event, with its handling time
(measured by the dispatcher), on return, failure and timeout; an observer that raises is logged once and counted,
and delivery (and the other observers) go on (plain sinks, real anyio scheduling)."""

from __future__ import annotations

import logging

import anyio
import msgspec
import pytest

from framework.delivery import EventDispatcher
from framework.models.envelope import InboundEvent
from framework.observability.metrics import HANDLER_BUCKETS, MetricsPlugin

pytestmark = pytest.mark.anyio


def ev(id_: str) -> InboundEvent:
    return InboundEvent(type="X", data=msgspec.Raw(b"{}"), id=id_, shard_id=0)


class Timed:
    """A timed observer recording (event id, seconds)."""

    def __init__(self) -> None:
        self.told: list[tuple[str, float]] = []

    def timed(self, event: InboundEvent, seconds: float) -> None:
        self.told.append((event.id or "", seconds))

    def started(self, event: InboundEvent) -> None:
        raise AssertionError("a timed observer is told through timed(), never started()")

    def finished(self, event: InboundEvent) -> None:
        raise AssertionError("a timed observer is told through timed(), never finished()")


class Plain:
    def __init__(self) -> None:
        self.started_ids: list[str] = []
        self.finished_ids: list[str] = []

    def started(self, event: InboundEvent) -> None:
        self.started_ids.append(event.id or "")

    def finished(self, event: InboundEvent) -> None:
        self.finished_ids.append(event.id or "")


class Failing:
    def started(self, event: InboundEvent) -> None:
        if event.id != "ok":
            raise RuntimeError("observer broke at start")

    def finished(self, event: InboundEvent) -> None:
        raise RuntimeError("observer broke at finish")


async def run_events(d: EventDispatcher, ids: list[str]) -> None:
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        for i in ids:
            await d.put(ev(i))
        d.close()
        with anyio.fail_after(5):
            await d.done.wait()


@pytest.mark.parametrize("others", [0, 1], ids=["alone", "beside-a-plain-one"])
async def test_a_timed_observer_gets_the_handling_time_once_also_on_failure_and_timeout(others: int) -> None:
    async def sink(e: InboundEvent) -> None:
        if e.id == "slow":
            await anyio.sleep(0.12)
        elif e.id == "raises":
            await anyio.sleep(0.06)
            raise ValueError("handler failed")
        elif e.id == "hangs":
            await anyio.sleep(10)

    timed, plain = Timed(), Plain()
    d = EventDispatcher(sink, concurrency=2, handler_timeout=0.3, observers=[timed, plain][: 1 + others])
    await run_events(d, ["quick", "slow", "raises", "hangs"])

    assert sorted(i for i, _ in timed.told) == ["hangs", "quick", "raises", "slow"]  # once each
    told = dict(timed.told)
    assert told["quick"] < 0.05
    assert 0.12 <= told["slow"] < 0.5
    assert 0.06 <= told["raises"] < 0.5
    assert 0.3 <= told["hangs"] < 1.0  # cancelled by the deadline, told with the time it ran
    assert d.stats.timeouts == 1 and d.stats.failures == 1
    if others:
        assert sorted(plain.started_ids) == sorted(plain.finished_ids) == ["hangs", "quick", "raises", "slow"]


@pytest.mark.parametrize("others", [0, 1], ids=["alone", "beside-a-plain-one"])
async def test_a_raising_observer_is_logged_once_counted_and_never_stops_delivery(
    others: int, caplog: pytest.LogCaptureFixture
) -> None:
    delivered: list[str] = []

    async def sink(e: InboundEvent) -> None:
        delivered.append(e.id or "")

    failing, plain = Failing(), Plain()
    d = EventDispatcher(sink, concurrency=2, observers=[failing, plain][: 1 + others])
    ids = ["ok", *(f"e{i}" for i in range(9))]
    with caplog.at_level(logging.ERROR, logger="framework.delivery"):
        await run_events(d, ids)

    assert sorted(delivered) == sorted(ids) and d.stats.delivered == 10
    assert d.stats.observer_failures == 9 + 10  # nine starts and every finish
    logged = [r for r in caplog.records if "delivery observer" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    if others:
        assert sorted(plain.started_ids) == sorted(plain.finished_ids) == sorted(ids)


async def test_an_observer_added_while_an_event_runs_is_told_of_the_next_events_only() -> None:
    release = anyio.Event()
    running = anyio.Event()

    async def sink(e: InboundEvent) -> None:
        if e.id == "first":
            running.set()
            await release.wait()

    timed = Timed()
    d = EventDispatcher(sink, concurrency=1)
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        await d.put(ev("first"))
        await running.wait()
        d.add_observer(timed)
        await d.put(ev("second"))
        release.set()
        d.close()
        with anyio.fail_after(5):
            await d.done.wait()
    assert [i for i, _ in timed.told] == ["second"]


async def test_the_metrics_histogram_gets_the_dispatchers_handling_time() -> None:
    async def sink(e: InboundEvent) -> None:
        if e.id == "slow":
            await anyio.sleep(HANDLER_BUCKETS[0] * 2)

    plugin = MetricsPlugin(None, process_metrics=False)
    d = EventDispatcher(sink, observers=[plugin.observer])
    await run_events(d, ["quick", "slow"])

    [(key, started)] = plugin.observer.received()
    assert key == ("X", 0) and started == 2
    [(_, counts)] = plugin.observer.series()
    assert counts[0] == 1  # the quick one, within the first bucket
    assert sum(counts[1:-1]) == 1  # the slow one, in a later bucket
    assert HANDLER_BUCKETS[0] * 2 <= counts[-1] < 1.0  # the sum of seconds


async def test_events_being_handled_count_as_received_before_they_finish() -> None:
    """The metrics observer is called when an event finishes; the ones in the sink at scrape time are added from
    ``EventDispatcher.handling()``, so ``qqbot_events_received_total`` counts an event from its start."""
    release = anyio.Event()
    three_in = anyio.Event()
    inside: list[str] = []

    async def sink(e: InboundEvent) -> None:
        inside.append(e.id or "")
        if len(inside) == 3:
            three_in.set()
        if e.id != "quick":
            await release.wait()

    plugin = MetricsPlugin(None, process_metrics=False)
    d = EventDispatcher(sink, concurrency=4, observers=[plugin.observer])
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        for i in ("quick", "slow-1", "slow-2"):
            await d.put(ev(i))
        with anyio.fail_after(5):
            await three_in.wait()  # "quick" returned (and was timed) without awaiting, before the others began
        assert sorted(e.id or "" for e in d.handling()) == ["slow-1", "slow-2"]
        assert plugin.observer.received(d.handling()) == [(("X", 0), 3)]  # one handled, two in the sink
        assert sum(plugin.observer.series()[0][1][:-1]) == 1  # only the finished one is in the histogram
        release.set()
        d.close()
        with anyio.fail_after(5):
            await d.done.wait()
    assert d.handling() == []
    assert plugin.observer.received(d.handling()) == [(("X", 0), 3)]
