"""The NATS JetStream backend against a real ``nats-server -js`` (asyncio only: nats-py): the idempotency guard,
the replay of a departed worker's unacknowledged events in order, and ``msg_seq`` across workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from _bus_harness import NatsServer

from framework import Bot
from framework.app.ledger import ReplyLedger, ReplySeq
from framework.bus import BusConsumer, BusMessage, encode_message, partition_key, partition_of
from framework.bus.base import BusUnavailable
from framework.bus.nats import NatsJetStreamBus
from framework.models import InboundEvent
from framework.models.events import GroupMessage

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py runs on asyncio only


def _payload(message_id: str, group: str = "G1") -> tuple[InboundEvent, bytes]:
    d: dict[str, Any] = {"id": message_id, "content": " hi", "timestamp": "2026-01-01T00:00:00+08:00",
                         "author": {"id": "u1"}, "group_openid": group}  # fmt: skip
    event = InboundEvent(
        type="GROUP_AT_MESSAGE_CREATE", data=msgspec.Raw(msgspec.json.encode(d)), id=f"e-{message_id}", seq=1
    )
    return event, encode_message(BusMessage.of(event, 0.0))


async def _receive(bus: NatsJetStreamBus, count: int) -> list[Any]:
    got: list[Any] = []
    with anyio.fail_after(20):
        while len(got) < count:
            got.extend(await bus.receive(count - len(got)))
    return got


async def test_consumer_hands_each_event_to_the_bot_once(nats_server: NatsServer) -> None:
    seen: list[str] = []
    bot = Bot("guard", scenes=["group"])

    @bot.on_group_at_message
    async def note(message: GroupMessage) -> None:
        seen.append(message.id)

    url = f"{nats_server.url}?partitions=2&lease_ttl=2"
    event, payload = _payload("m1")
    partition = partition_of(partition_key(event), 2)

    async def consume(repeats: int) -> BusConsumer:
        async with NatsJetStreamBus(url, app_id="1") as bus, bot.running():
            assert bot.delivery is not None
            await bus.publish([(partition, payload)] * repeats)
            consumer = BusConsumer(bus, bot.delivery)
            async with anyio.create_task_group() as tg:
                await tg.start(bus.run)
                await tg.start(consumer.run)
                with anyio.fail_after(20):
                    while consumer.stats.acknowledged < repeats:  # noqa: ASYNC110 - a counter, not an event
                        await anyio.sleep(0.05)
                consumer.stop()
                tg.cancel_scope.cancel()
            return consumer

    first = await consume(2)
    # the repeat may come in a later fetch, before the first one's mark is written: then the dispatcher's dedupe
    # drops it; either way the bot sees the event once and both entries are acknowledged
    assert seen == ["m1"] and first.stats.acknowledged == 2
    second = await consume(1)  # the same event again, read by a new worker: the KV guard says handled
    assert seen == ["m1"] and second.stats.already_handled == 1


async def test_a_departed_workers_unacknowledged_events_come_back_in_order(nats_server: NatsServer) -> None:
    url = f"{nats_server.url}?partitions=1&lease_ttl=2"
    payloads = [_payload(f"m{i}")[1] for i in range(5)]
    async with NatsJetStreamBus(url, app_id="1") as first:
        await first.publish([(0, p) for p in payloads])
        async with anyio.create_task_group() as tg:
            await tg.start(first.run)
            entries = await _receive(first, 5)
            await first.acknowledge([(entries[1], "e-m1")])  # only the second one: the ack floor stays at 0
            tg.cancel_scope.cancel()  # leaves: the lease is released, four events unacknowledged
    async with NatsJetStreamBus(url, app_id="1") as second, anyio.create_task_group() as tg:
        await tg.start(second.run)
        again = await _receive(second, 5)
        tg.cancel_scope.cancel()
    assert [e.message.id for e in entries] == [f"e-m{i}" for i in range(5)]
    assert [e.message.id for e in again] == [
        f"e-m{i}" for i in range(5)
    ]  # the acknowledged one too: the guard skips it


async def test_msg_seq_is_counted_in_nats_across_workers(nats_server: NatsServer) -> None:
    url = f"{nats_server.url}?partitions=1"
    async with NatsJetStreamBus(url, app_id="1") as one, NatsJetStreamBus(url, app_id="1") as two:
        a, b = ReplyLedger(store=one.seq_store()), ReplyLedger(store=two.seq_store())
        assert [await a.allocate("m1"), await b.allocate("m1"), await a.allocate("m1"), await b.allocate("m2")] == [
            1, 2, 3, 1
        ]  # fmt: skip
        handling, again = _payload("m1")[0], _payload("m1")[0]  # one event, two deliveries
        assert await a.reply_seq("m1", handling) == ReplySeq(4, replayed=False)
        assert await b.reply_seq("m1", again) == ReplySeq(4, replayed=True)  # the same reply, run again
        assert await b.reply_seq("m1", again) == ReplySeq(5, replayed=False)
        assert await b.allocate("m1") == 6


async def test_a_batch_is_stored_in_publish_order_per_partition(nats_server: NatsServer) -> None:
    # the publishes of a batch are all in flight at once (their acks awaited together): the order must hold
    url = f"{nats_server.url}?partitions=2&lease_ttl=2"
    batch = [(i % 2, _payload(f"m{i}")[1]) for i in range(600)]
    async with NatsJetStreamBus(url, app_id="1") as bus:
        await bus.publish(batch)
        async with anyio.create_task_group() as tg:
            await tg.start(bus.run)
            got = await _receive(bus, 600)
            tg.cancel_scope.cancel()
    for p in (0, 1):
        ids = [e.message.id for e in got if e.partition == p]
        assert ids == [f"e-m{i}" for i in range(p, 600, 2)]
        assert [int(e.entry_id) for e in got if e.partition == p] == sorted(
            int(e.entry_id) for e in got if e.partition == p
        )


async def test_a_publish_jetstream_does_not_store_raises_bus_unavailable(nats_server: NatsServer) -> None:
    async with NatsJetStreamBus(f"{nats_server.url}?partitions=1", app_id="1", timeout=2.0) as bus:
        await bus._js.delete_stream(bus.stream)  # no stream: the server answers "no responders" (status 503)
        with pytest.raises(BusUnavailable, match="PUB"):
            await bus.publish([(0, _payload("m1")[1])])
        assert not bus._replies  # no answer left waiting


async def test_marks_are_found_and_acknowledged_entries_are_not_read_again(nats_server: NatsServer) -> None:
    url = f"{nats_server.url}?partitions=1&lease_ttl=2"
    async with NatsJetStreamBus(url, app_id="1") as bus:
        await bus.publish([(0, _payload(f"m{i}")[1]) for i in range(50)])
        async with anyio.create_task_group() as tg:
            await tg.start(bus.run)
            got = await _receive(bus, 50)
            keys = [e.message.id for e in got]
            assert await bus.handled(keys) == [False] * 50
            await bus.acknowledge([(e, e.message.id) for e in got[:30]])
            assert await bus.handled(keys) == [True] * 30 + [False] * 20
            assert bus._inflight == [20]
            await bus.acknowledge([(e, e.message.id) for e in got[:30]])  # a retried batch: counted once
            assert bus._inflight == [20]
            tg.cancel_scope.cancel()
    async with NatsJetStreamBus(url, app_id="1") as again, anyio.create_task_group() as tg:
        await tg.start(again.run)
        rest = await _receive(again, 20)  # the 30 acknowledged ones are not delivered again
        tg.cancel_scope.cancel()
    assert [e.message.id for e in rest] == [f"e-m{i}" for i in range(30, 50)]


async def test_a_batch_beyond_the_reconnect_buffer_raises_bus_unavailable(nats_server: NatsServer) -> None:
    async with NatsJetStreamBus(f"{nats_server.url}?partitions=1", app_id="1", timeout=3.0) as bus:
        nats_server.stop()
        with anyio.fail_after(10):
            while not bus._nc.is_reconnecting:  # noqa: ASYNC110 - the client's state, not an event
                await anyio.sleep(0.05)
        big = _payload("m1")[1] + b"x" * 20_000  # 150 of them exceed nats-py's 2 MiB reconnect buffer
        with pytest.raises(BusUnavailable, match="PUB"):
            await bus.publish([(0, big)] * 150)
        assert not bus._replies


class _VanishingOnce:
    """A real KV bucket whose first ``create`` fails as nats-py's does when the key's earlier entry expires between
    its two requests (it writes with ``last=0``, is told of an earlier revision, reads it, finds none): the race a
    worker's lease round once crashed on under load. Everything else goes to the real bucket."""

    def __init__(self, kv: Any) -> None:
        self.kv = kv
        self.failed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kv, name)

    async def create(self, key: str, value: bytes) -> int:
        if not self.failed:
            self.failed += 1
            import nats.js.errors

            raise nats.js.errors.KeyNotFoundError
        revision: int = await self.kv.create(key, value)
        return revision


async def test_a_create_whose_earlier_entry_vanished_meanwhile_is_tried_again(nats_server: NatsServer) -> None:
    async with NatsJetStreamBus(f"{nats_server.url}?partitions=1", app_id="1") as bus:
        leases = _VanishingOnce(bus._leases)
        revision = await bus._create("a lease", leases, "p.0", b"me")
        assert leases.failed == 1 and isinstance(revision, int)
        assert (await bus._leases.get("p.0")).value == b"me"
        # taken: another process's create is told so (None), not an error
        assert await bus._create("a lease", bus._leases, "p.0", b"other") is None
        # the msg_seq counter goes through the same path
        bus._seq = _VanishingOnce(bus._seq)
        assert await ReplyLedger(store=bus.seq_store()).allocate("m-vanish") == 1
        assert bus._seq.failed == 1


async def test_a_consumer_the_server_lists_as_null_is_skipped(tmp_path: Path) -> None:
    """The server lists a consumer deleted while it answers CONSUMER.LIST as ``null`` (nats-py's ``consumers_info``
    raised AttributeError on it, and a worker taking a partition crashed). Here a plain ``nats-server`` (no
    JetStream) and a responder of the test's own give that answer; the bus skips the null entry."""
    import json

    import nats

    server = NatsServer(tmp_path / "plain", jetstream=False)
    server.start()
    bus = NatsJetStreamBus(f"{server.url}?partitions=1", app_id="1", timeout=2.0)
    responder = await nats.connect(server.url)
    try:
        # the bus's own request path (what __aenter__ sets up after JetStream's streams and buckets)
        bus._nc = await nats.connect(server.url)
        bus._inbox = bus._nc.new_inbox()
        await bus._nc.subscribe(f"{bus._inbox}.*", cb=bus._on_reply)
        config = {"filter_subject": bus.subjects[0]}
        listed = {"stream_name": bus.stream, "name": "p0-w1", "created": "2026-12-04T00:00:00Z", "config": config}

        async def answer(msg: Any) -> None:
            await responder.publish(msg.reply, json.dumps({"consumers": [None, listed, None]}).encode())

        await responder.subscribe(f"$JS.API.CONSUMER.LIST.{bus.stream}", cb=answer)
        await responder.flush()  # the server knows the responder before the bus asks
        await bus._nc.flush()
        infos = await bus._consumer_infos()
        assert [(i.name, i.config.filter_subject) for i in infos] == [("p0-w1", bus.subjects[0])]
    finally:
        await responder.close()
        if bus._nc is not None:
            await bus._nc.close()
        server.stop()
