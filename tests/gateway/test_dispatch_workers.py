"""EventDispatcher as the single event path: workers on a bounded queue, start order, backpressure,
draining, and BotRunner feeding the bot's dispatcher (one sink call per event, no task per event)."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import msgspec
import pytest

from framework.app import Bot, Context
from framework.delivery import EventDispatcher
from framework.emulator import Emulator
from framework.models.envelope import InboundEvent
from framework.protocol.recent_ids import RecentIds
from framework.runner import EventTracker
from framework.testing import inprocess_runner

pytestmark = pytest.mark.anyio


def ev(id_: str) -> InboundEvent:
    return InboundEvent(type="X", data=msgspec.Raw(b"{}"), id=id_)


async def test_workers_bound_concurrency_and_start_in_arrival_order() -> None:
    started: list[str] = []
    release = anyio.Event()
    three = anyio.Event()
    running = 0
    peak = 0

    async def sink(e: InboundEvent) -> None:
        nonlocal running, peak
        started.append(e.id or "")
        running += 1
        peak = max(peak, running)
        if running == 3:
            three.set()
        await release.wait()
        running -= 1

    d = EventDispatcher(sink, buffer=100, concurrency=3)
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        for i in range(10):
            await d.put(ev(str(i)))
        with anyio.fail_after(5):
            await three.wait()
        for _ in range(10):  # let any worker that could start a fourth event do so
            await anyio.lowlevel.checkpoint()
        assert d.running == 3 and started == ["0", "1", "2"]  # the fourth waits for a free worker
        assert d.pending() == 7
        release.set()
        d.close()
        with anyio.fail_after(5):
            await d.done.wait()
    assert started == [str(i) for i in range(10)]
    assert peak == 3
    assert (d.stats.received, d.stats.delivered, d.stats.failures) == (10, 10, 0)


async def test_a_burst_is_delivered_completely_and_in_order_by_many_workers() -> None:
    got: list[str] = []

    async def sink(e: InboundEvent) -> None:
        got.append(e.id or "")

    d = EventDispatcher(sink, buffer=64, concurrency=8)
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        for i in range(5000):
            await d.put(ev(str(i)))
            await d.put(ev(str(i)))  # duplicate: dropped
        d.close()
        with anyio.fail_after(10):
            await d.done.wait()
    assert got == [str(i) for i in range(5000)]
    assert (d.stats.delivered, d.stats.duplicates) == (5000, 5000)


async def test_put_waits_while_full_and_a_cancelled_put_leaves_no_trace() -> None:
    release = anyio.Event()
    both = anyio.Event()
    got: list[str] = []

    async def sink(e: InboundEvent) -> None:
        if d.running == 2:
            both.set()
        await release.wait()
        got.append(e.id or "")

    d = EventDispatcher(sink, buffer=2, concurrency=2)
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        for i in "ab":  # taken by the two workers
            await d.put(ev(i))
        with anyio.fail_after(5):
            await both.wait()
        for i in "cd":  # fill the queue
            await d.put(ev(i))
        with anyio.move_on_after(0.05) as scope:
            await d.put(ev("e"))
        assert scope.cancelled_caught and d.pending() == 2
        release.set()
        with anyio.fail_after(5):
            await d.put(ev("e"))  # not a duplicate: the cancelled put recorded nothing
        d.close()
        with anyio.fail_after(5):
            await d.done.wait()
    assert sorted(got) == list("abcde")
    assert d.stats.duplicates == 0


async def test_close_drains_the_queue_and_done_waits_for_running_events() -> None:
    release = anyio.Event()

    async def sink(e: InboundEvent) -> None:
        if e.id == "slow":
            await release.wait()

    d = EventDispatcher(sink, buffer=10, concurrency=2)
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        await d.put(ev("slow"))
        for i in range(5):
            await d.put(ev(str(i)))
        d.close()
        await d.put(ev("late"))  # after close: dropped
        with anyio.fail_after(5):
            await d.drained.wait()  # every queued event was handed out
        assert not d.done.is_set() and d.running == 1
        release.set()
        with anyio.fail_after(5):
            await d.done.wait()
    assert d.stats.delivered == 6


def test_dispatcher_arguments_are_checked() -> None:
    async def sink(e: InboundEvent) -> None:
        pass

    with pytest.raises(ValueError, match="concurrency"):
        EventDispatcher(sink, concurrency=0)
    with pytest.raises(ValueError, match="buffer"):
        EventDispatcher(sink, buffer=0)


def test_dedupe_window_forgets_the_oldest_key() -> None:
    w = RecentIds(2)
    assert [w.seen(k) for k in "ab"] == [False, False]
    assert w.seen("c") is False  # evicts "a"
    assert (w.seen("b"), w.seen("a"), len(w)) == (True, False, 2)


def test_tracker_states_and_bounded_memory() -> None:
    tracker = EventTracker(remember=2)
    a, b, c = ev("a"), ev("b"), ev("c")
    tracker.started(a)
    assert tracker.state("a") == "running" and tracker.in_flight == 1
    tracker.finished(a)
    for e in (b, c):
        tracker.started(e)
        tracker.finished(e)
    assert [tracker.state(i) for i in "abcz"] == ["unseen", "handled", "handled", "unseen"]
    assert (tracker.received, tracker.handled, tracker.in_flight) == (3, 3, 0)


async def test_tracker_changed_wakes_on_the_next_start_or_finish() -> None:
    tracker = EventTracker()
    woke: list[int] = []

    async def waiter() -> None:
        await tracker.changed()
        woke.append(tracker.received)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.sleep(0.01)
        assert woke == []
        tracker.started(ev("x"))
    assert woke == [1]


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_runner_feeds_the_bots_dispatcher_in_order_per_chat_with_its_concurrency(concurrency: int) -> None:
    bot = Bot("burst")
    seen: list[tuple[str, str]] = []
    overlap = 0
    running = 0
    all_busy = anyio.Event()

    @bot.on_c2c_message
    async def record(ctx: Context) -> None:
        nonlocal running, overlap
        running += 1
        overlap = max(overlap, running)
        seen.append((ctx.user_id or "", ctx.text))
        if running == concurrency:
            all_busy.set()
        await all_busy.wait()  # the first handlers wait until every worker holds one (or time out below)
        running -= 1

    emulator = Emulator()
    async with emulator, inprocess_runner(bot, emulator, concurrency=concurrency) as runner:
        with anyio.fail_after(10):
            await runner.wait_ready()
            ids = [emulator.control.c2c_message(f"m{i}", openid=f"u{i % 8}").id for i in range(200)]
            while any(runner.tracker.state(i) != "handled" for i in ids):
                await runner.tracker.changed()
        manager = runner.manager
        assert manager is not None and manager.dispatcher is bot.delivery is runner.delivery  # one path
        assert bot.delivery is not None and bot.delivery.concurrency == concurrency
        assert all(shard.offer == bot.delivery.offer for shard in manager.shards)  # the readers' no-wait intake
    assert sorted(text for _, text in seen) == sorted(f"m{i}" for i in range(200))
    for user in range(8):  # each user's messages started in the order the shard received them
        texts = [text for who, text in seen if who == f"u{user}"]
        assert texts == [f"m{i}" for i in range(user, 200, 8)]
    assert overlap == concurrency  # never more than `concurrency` at once, and that many side by side
