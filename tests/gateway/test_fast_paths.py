"""The gateway hot path: ``GatewayMachine.feed`` (op 0 while READY), ``EventDispatcher.offer`` (put without an
await) and the shard reader using both, with the same results as the general paths."""

from __future__ import annotations

import json
import random
from typing import Any

import anyio
import anyio.lowlevel
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.delivery import EventDispatcher
from framework.models.envelope import InboundEvent
from framework.protocol.gateway import Authenticate, DispatchEvent, GatewayConfig, GatewayMachine, ShardState

pytestmark = pytest.mark.anyio


def frame(op: int, d: Any = None, **kw: Any) -> bytes:
    return json.dumps({"op": op, "d": d, **kw}).encode()


def ready_machine(shard_id: int = 3) -> GatewayMachine:
    m = GatewayMachine(shard_id, 4, 513, config=GatewayConfig(first_heartbeat_jitter=False), rng=random.Random(1))
    m.connection_opened(0.0)
    assert m.receive(frame(10, {"heartbeat_interval": 10_000}), 0.0) == [Authenticate(resume=False)]
    m.identify("tok", 0.0)
    m.receive(frame(0, {"session_id": "S", "version": 1}, s=1, t="READY", id="r"), 0.0)
    assert m.state is ShardState.READY
    return m


def test_feed_returns_the_event_receive_would_dispatch() -> None:
    fast, slow = ready_machine(), ready_machine()
    data = frame(0, {"id": "m1", "content": "hi"}, s=7, t="GROUP_AT_MESSAGE_CREATE", id="E:1")
    event = fast.feed(data)
    (action,) = slow.receive(data, 1.0)
    assert isinstance(action, DispatchEvent)
    assert event == action.event
    assert event == InboundEvent(
        type="GROUP_AT_MESSAGE_CREATE", data=msgspec.Raw(b'{"id": "m1", "content": "hi"}'), id="E:1", seq=7, shard_id=3
    )
    assert fast.seq == slow.seq == 7
    assert fast.feed(frame(0, {}, s=5, t="X")) is not None and fast.seq == 7  # seq never moves back


@pytest.mark.parametrize(
    "data",
    [
        frame(11),  # heartbeat ACK
        frame(1),  # heartbeat request
        frame(7),  # reconnect
        frame(9, False),  # invalid session
        frame(0, {}, s=2),  # dispatch without t: malformed
        b"not json",
        b'{"op": "zero"}',
    ],
)
def test_feed_leaves_every_other_frame_to_receive(data: bytes) -> None:
    m = ready_machine()
    seq = m.seq
    assert m.feed(data) is None
    assert m.seq == seq and m.malformed_frames == 0  # nothing recorded: receive() handles (and counts) it


def test_feed_only_works_while_ready() -> None:
    m = GatewayMachine(0, 1, 0)
    data = frame(0, {}, s=1, t="READY")
    assert m.feed(data) is None  # disconnected
    m.connection_opened(0.0)
    assert m.feed(data) is None  # waiting for Hello
    assert m.seq is None


_values = st.none() | st.booleans() | st.integers(-5, 2**40) | st.text(max_size=8) | st.just({"id": "x"})
_frames = st.dictionaries(st.sampled_from(["op", "s", "t", "id", "d"]), _values).map(
    lambda f: json.dumps(f).encode()
) | st.builds(
    lambda op, s, t, i: frame(op, {"id": "m"}, s=s, t=t, id=i),
    st.sampled_from([0, 0, 0, 1, 7, 9, 10, 11, 3]),
    st.none() | st.integers(0, 2**40),
    st.none() | st.sampled_from(["READY", "RESUMED", "GROUP_AT_MESSAGE_CREATE", "X"]),
    st.none() | st.text(max_size=5),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_frames | st.binary(max_size=60), max_size=6))
def test_feed_never_raises_and_agrees_with_receive(frames: list[bytes]) -> None:
    fast, slow = ready_machine(), ready_machine()
    for data in frames:
        event = fast.feed(data)
        actions = slow.receive(data, 0.0)
        if event is not None:
            assert actions == [DispatchEvent(event)]
        else:
            fast.receive(data, 0.0)
        assert (fast.seq, fast.state, fast.malformed_frames) == (slow.seq, slow.state, slow.malformed_frames)


def ev(id_: str | None, type_: str = "X", data: bytes = b"{}") -> InboundEvent:
    return InboundEvent(type=type_, data=msgspec.Raw(data), id=id_)


async def noop(event: InboundEvent) -> None:
    pass


def test_offer_queues_without_a_checkpoint_and_refuses_when_full() -> None:
    d = EventDispatcher(noop, buffer=3, dedupe_window=10)
    assert d.offer(ev("a")) and d.offer(ev("a"))  # duplicates are dropped on delivery, not on intake
    assert d.offer(ev("b"))
    assert (d.pending(), d.stats.received) == (3, 3)
    assert not d.offer(ev("c"))  # full: nothing recorded, the caller awaits put()
    assert (d.pending(), d.stats.received) == (3, 3)


async def test_delivery_never_dedupes_ready_and_keeps_the_window_bounded() -> None:
    got: list[str | None] = []

    async def sink(e: InboundEvent) -> None:
        got.append(e.id)

    d = EventDispatcher(sink, buffer=100, dedupe_window=2, concurrency=1)
    for e in (ev("r", "READY"), ev("r", "READY"), ev("a"), ev("b"), ev("c"), ev("a")):
        assert d.offer(e)
    d.close()
    async with anyio.create_task_group() as tg:
        tg.start_soon(d.run)
    assert len(d.dedupe) == 2
    assert got == ["r", "r", "a", "b", "c", "a"]  # "a" was forgotten (window of 2), so delivered again
    assert d.stats.duplicates == 0


def test_offer_after_close_leaves_the_drop_to_put() -> None:
    d = EventDispatcher(noop)
    d.close()
    assert not d.offer(ev("a")) and d.stats.received == 0


async def test_offer_wakes_an_idle_worker() -> None:
    got: list[str | None] = []
    done = anyio.Event()

    async def sink(e: InboundEvent) -> None:
        got.append(e.id)
        if len(got) == 3:
            done.set()

    d = EventDispatcher(sink, concurrency=2)
    async with anyio.create_task_group() as tg:
        await tg.start(d.run)
        await anyio.lowlevel.checkpoint()  # the workers are idle now
        for key in "xyz":
            assert d.offer(ev(key))
        with anyio.fail_after(5):
            await done.wait()
        d.close()
    assert got == ["x", "y", "z"]
