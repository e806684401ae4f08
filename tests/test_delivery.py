"""framework.delivery.EventDispatcher: per-lane order, no head-of-line blocking across lanes, dedupe,
the handler timeout, observers, backpressure and draining (plain sinks, real anyio scheduling)."""

from __future__ import annotations

import contextlib
from collections.abc import Hashable

import anyio
import anyio.lowlevel
import msgspec
import pytest

from framework.delivery import EventDispatcher, dedupe_key, envelope_keys
from framework.models.envelope import InboundEvent

pytestmark = pytest.mark.anyio


def ev(id_: str, lane: str = "", type_: str = "X", data: bytes = b"{}") -> InboundEvent:
    return InboundEvent(type=type_, data=msgspec.Raw(data), id=id_, source=lane)


def by_source(event: InboundEvent) -> tuple[Hashable | None, Hashable | None, None]:
    """Dedupe by envelope id, lane from the test's ``source`` field (empty: no lane)."""
    return event.id, event.source or None, None


async def test_one_lane_runs_in_order_while_other_lanes_are_not_held_up() -> None:
    order: list[str] = []
    slow_started = anyio.Event()
    release = anyio.Event()
    quick_done = anyio.Event()

    async def sink(e: InboundEvent) -> None:
        if e.id == "a1":
            slow_started.set()
            await release.wait()
        order.append(e.id or "")
        if e.id == "b1":
            quick_done.set()

    d = EventDispatcher(sink, concurrency=4, classify=by_source)
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        for e in (ev("a1", "A"), ev("a2", "A"), ev("a3", "A"), ev("b1", "B")):
            assert d.offer(e)
        with anyio.fail_after(5):
            await slow_started.wait()
            await quick_done.wait()  # chat B answered while chat A's first event still runs
        assert order == ["b1"]
        assert d.pending() == 2  # a2, a3 held behind a1, not occupying workers
        assert d.running == 1
        release.set()
        d.close()
        with anyio.fail_after(5):
            await d.done.wait()
    assert order == ["b1", "a1", "a2", "a3"]
    assert (d.stats.received, d.stats.delivered) == (4, 4)


async def test_many_slow_chats_do_not_delay_a_quick_one_below_the_cap() -> None:
    release = anyio.Event()
    quick = anyio.Event()

    async def sink(e: InboundEvent) -> None:
        if e.source.startswith("slow"):
            await release.wait()
        else:
            quick.set()

    d = EventDispatcher(sink, concurrency=32, classify=by_source)
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        for i in range(20):
            d.offer(ev(f"s{i}", f"slow{i}"))
        d.offer(ev("q", "quick"))
        with anyio.fail_after(2):
            await quick.wait()
        assert d.running == 20
        release.set()
        d.close()


async def test_duplicates_by_key_are_dropped_and_never_reach_observers() -> None:
    seen: list[str] = []
    started: list[str] = []
    finished: list[str] = []

    class Observer:
        def started(self, event: InboundEvent) -> None:
            started.append(event.id or "")

        def finished(self, event: InboundEvent) -> None:
            finished.append(event.id or "")

    async def sink(e: InboundEvent) -> None:
        seen.append(e.id or "")

    d = EventDispatcher(sink, dedupe_window=2, observers=[Observer()])
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        for i in ("1", "2", "1", "3", "1"):  # the window holds 2 keys: "1" is forgotten after "3"
            await d.put(ev(i))
        d.close()
        with anyio.fail_after(5):
            await d.done.wait()
    assert sorted(seen) == ["1", "1", "2", "3"]
    assert d.stats.duplicates == 1
    assert sorted(started) == sorted(finished) == sorted(seen)


async def test_a_runaway_sink_call_is_cancelled_reported_and_its_lane_goes_on() -> None:
    reported: list[tuple[str, float]] = []
    done: list[str] = []
    cleaned = anyio.Event()

    async def sink(e: InboundEvent) -> None:
        if e.id == "stuck":
            try:
                await anyio.sleep_forever()
            finally:
                cleaned.set()
        done.append(e.id or "")

    async def on_timeout(e: InboundEvent, seconds: float) -> None:
        reported.append((e.id or "", seconds))

    d = EventDispatcher(sink, concurrency=1, classify=by_source, handler_timeout=0.2, on_timeout=on_timeout)
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        d.offer(ev("stuck", "A"))
        d.offer(ev("next-in-lane", "A"))
        d.offer(ev("other", "B"))
        with anyio.fail_after(5):
            await cleaned.wait()
        d.close()
        with anyio.fail_after(5):
            await d.done.wait()
    assert reported == [("stuck", 0.2)]
    assert done == ["next-in-lane", "other"]  # the single worker went on, lane A first
    assert d.stats.timeouts == 1 and d.running == 0


async def test_a_call_that_swallows_the_cancellation_is_still_reported_and_the_next_one_is_not_hit() -> None:
    reported: list[str] = []
    done: list[str] = []

    async def sink(e: InboundEvent) -> None:
        if e.id == "rude":
            with contextlib.suppress(BaseException):  # deliberately bad handler code: swallows cancellation
                await anyio.sleep(10)
        else:
            await anyio.sleep(0.01)
        done.append(e.id or "")

    async def on_timeout(e: InboundEvent, seconds: float) -> None:
        reported.append(e.id or "")

    # 0.5 s, not 0.2: "polite" (10 ms) must finish within it, and 190 ms of slack was less than a loaded host's
    # scheduling stall (after one, trio may run the deadline's task before the handler's)
    d = EventDispatcher(sink, concurrency=1, handler_timeout=0.5, on_timeout=on_timeout)
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        d.offer(ev("rude"))
        d.offer(ev("polite"))
        d.close()
        with anyio.fail_after(5):
            await d.done.wait()
    assert reported == ["rude"]
    assert done == ["rude", "polite"]


async def test_offer_refuses_when_full_and_put_waits_for_space() -> None:
    release = anyio.Event()

    async def sink(e: InboundEvent) -> None:
        await release.wait()

    d = EventDispatcher(sink, concurrency=1, buffer=2)
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        assert d.offer(ev("1"))
        for _ in range(5):
            await anyio.lowlevel.checkpoint()  # the worker takes "1"
        assert d.offer(ev("2")) and d.offer(ev("3"))
        assert not d.offer(ev("4"))  # queue full: the transport awaits put() instead
        put_done = anyio.Event()

        async def put_four() -> None:
            await d.put(ev("4"))
            put_done.set()

        tg.start_soon(put_four)
        await anyio.sleep(0.05)
        assert not put_done.is_set()
        release.set()
        with anyio.fail_after(5):
            await put_done.wait()
        d.close()
    assert d.stats.delivered == 4
    assert not d.offer(ev("5"))  # closed


async def test_close_delivers_events_held_behind_a_lane() -> None:
    order: list[str] = []

    async def sink(e: InboundEvent) -> None:
        await anyio.sleep(0.01)
        order.append(e.id or "")

    d = EventDispatcher(sink, concurrency=8, classify=by_source)
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        for i in range(10):
            d.offer(ev(f"a{i}", "A"))
        d.close()
        with anyio.fail_after(5):
            await d.drained.wait()
            await d.done.wait()
    assert order == [f"a{i}" for i in range(10)]


async def test_a_failing_sink_is_counted_and_does_not_stop_the_worker() -> None:
    async def sink(e: InboundEvent) -> None:
        if e.id == "bad":
            raise RuntimeError("boom")

    d = EventDispatcher(sink, concurrency=1)
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        d.offer(ev("bad"))
        d.offer(ev("good"))
        d.close()
    assert (d.stats.failures, d.stats.delivered) == (1, 1)


def test_default_keys_prefer_the_envelope_id_then_the_payload_id() -> None:
    assert dedupe_key(ev("e1", data=b'{"id":"m"}')) == "e1"
    assert dedupe_key(InboundEvent(type="T", data=msgspec.Raw(b'{"id":"m"}'))) == "T:m"
    assert dedupe_key(InboundEvent(type="T", data=msgspec.Raw(b"not json"))) is None
    assert dedupe_key(ev("r", type_="READY")) is None
    assert envelope_keys(ev("e1")) == ("e1", None, None)


def test_bad_settings_are_refused() -> None:
    async def sink(e: InboundEvent) -> None:
        return None

    with pytest.raises(ValueError, match="concurrency"):
        EventDispatcher(sink, concurrency=0)
    with pytest.raises(ValueError, match="handler_timeout"):
        EventDispatcher(sink, handler_timeout=0)


async def test_what_the_classifier_prepared_is_handed_to_the_sink() -> None:
    got: list[tuple[str | None, object]] = []

    async def sink(e: InboundEvent, prepared: object = "not given") -> None:
        got.append((e.id, prepared))

    def classify(e: InboundEvent) -> tuple[Hashable | None, Hashable | None, object]:
        return e.id, None, (f"decoded {e.id}" if e.id != "plain" else None)

    d = EventDispatcher(sink, concurrency=1, classify=classify)
    d.offer(ev("a"))
    d.offer(ev("plain"))  # None: the sink is called with the event alone
    d.close()
    async with anyio.create_task_group() as tg:
        tg.start_soon(d.run)
    assert got == [("a", "decoded a"), ("plain", "not given")]


async def test_a_waiting_handler_lets_its_chat_go_on_and_its_deadline_pauses() -> None:
    from framework.delivery import waiting

    order: list[str] = []
    answered = anyio.Event()
    reported: list[str] = []

    async def sink(e: InboundEvent) -> None:
        if e.id == "asks":
            order.append("asks: waiting")
            with waiting():  # e.g. ctx.prompt: the chat's next message must get through
                with anyio.fail_after(5):
                    await answered.wait()
                await anyio.sleep(0.4)  # longer than the handler timeout: paused while waiting
            order.append("asks: done")
        else:
            order.append(e.id or "")
            if e.id == "answer":
                answered.set()

    async def on_timeout(e: InboundEvent, seconds: float) -> None:
        reported.append(e.id or "")

    d = EventDispatcher(sink, concurrency=2, classify=by_source, handler_timeout=0.2, on_timeout=on_timeout)
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        for e in (ev("asks", "A"), ev("answer", "A"), ev("after", "A")):
            d.offer(e)
        d.close()
        with anyio.fail_after(5):
            await d.done.wait()
    assert order == ["asks: waiting", "answer", "after", "asks: done"]
    assert reported == []


async def test_the_deadline_starts_again_after_waiting() -> None:
    from framework.delivery import waiting

    reported: list[str] = []
    cancelled = anyio.Event()

    async def sink(e: InboundEvent) -> None:
        with waiting():
            await anyio.sleep(0.3)
        try:
            await anyio.sleep(5)  # past the deadline counted from the end of the wait
        finally:
            cancelled.set()

    async def on_timeout(e: InboundEvent, seconds: float) -> None:
        reported.append(e.id or "")

    d = EventDispatcher(sink, concurrency=1, handler_timeout=0.2, on_timeout=on_timeout)
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        d.offer(ev("slow"))
        with anyio.fail_after(5):
            await cancelled.wait()
        d.close()
    assert reported == ["slow"]


async def test_waiting_outside_a_dispatcher_does_nothing() -> None:
    from framework.delivery import waiting

    with waiting():
        await anyio.lowlevel.checkpoint()
