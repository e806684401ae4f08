"""The bus's pieces against a real ``redis-server``: message format and partitioning, stream bounds, the
publisher's drop policy with Redis paused, and the consumer's idempotency guard feeding a real bot."""

from __future__ import annotations

import logging
import signal
from datetime import datetime
from typing import Any

import anyio
import coredis
import msgspec
import pytest
from _fleet_harness import RedisServer

from framework import Bot, Context
from framework.app.ledger import PASSIVE_REPLY_WINDOWS, ReplyLedger, ReplySeq, ReplyWindowError
from framework.bus import (
    BusConsumer,
    BusMessage,
    BusPublisher,
    BusUnavailable,
    decode_message,
    encode_message,
    partition_key,
    partition_of,
)
from framework.bus.redis import RedisStreamsBus, parse_redis_bus_url
from framework.models import EVENT_TABLE, InboundEvent
from framework.models.envelope import event_decoder
from framework.models.events import GroupMessage

pytestmark = pytest.mark.anyio

GROUP = {
    "id": "m1",
    "content": " hi",
    "timestamp": "2026-01-01T00:00:00+08:00",
    "author": {"id": "u1", "member_openid": "u1"},
    "group_openid": "G1",
}
SAMPLES: dict[str, dict[str, Any]] = {
    "GROUP_AT_MESSAGE_CREATE": GROUP,
    "C2C_MESSAGE_CREATE": {"id": "m2", "content": "x", "timestamp": "t", "author": {"id": "a", "user_openid": "U9"}},
    "AT_MESSAGE_CREATE": {"id": "m3", "content": "x", "channel_id": "C1", "guild_id": "GU", "author": {"id": "1"}},
    "INTERACTION_CREATE": {"id": "i1", "type": 11, "user_openid": "U2", "channel_id": "C3"},
    "MESSAGE_DELETE": {"message": {"id": "m4", "channel_id": "C4", "guild_id": "GU"}, "op_user": {"id": "1"}},
    "GROUP_ADD_ROBOT": {"timestamp": 1, "group_openid": "G7", "op_member_openid": "M"},
}


def _event(event_type: str, d: dict[str, Any], event_id: str = "e1") -> InboundEvent:
    return InboundEvent(type=event_type, data=msgspec.Raw(msgspec.json.encode(d)), id=event_id, seq=3, shard_id=0)


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_partition_key_is_the_lane(event_type: str) -> None:
    event = _event(event_type, SAMPLES[event_type])
    spec = EVENT_TABLE[event_type]
    assert spec.lane is not None
    assert partition_key(event) == spec.lane(event_decoder(event_type)(event.data))


def test_message_round_trip_and_partitions() -> None:
    event = _event("GROUP_AT_MESSAGE_CREATE", GROUP)
    message = decode_message(encode_message(BusMessage.of(event, 1700000000.5)))
    assert message.received == 1700000000.5
    back = message.event("redis")
    assert (back.type, bytes(back.data), back.id, back.seq, back.shard_id, back.source) == (
        event.type, bytes(event.data), "e1", 3, 0, "redis"
    )  # fmt: skip
    assert partition_key(_event("READY", {"v": 1})) is None
    spread = {partition_of(f"G{i}", 16) for i in range(200)}
    assert len(spread) == 16 and partition_of("G1", 16) == partition_of("G1", 16)


def test_url_options_are_checked() -> None:
    config = parse_redis_bus_url("redis://h:1/0?partitions=4&maxlen=500&lease_ttl=3&idempotency_ttl=60&x=1")
    assert (config.partitions, config.maxlen, config.lease_ttl, config.idempotency_ttl) == (4, 500, 3.0, 60)
    assert config.redis_url == "redis://h:1/0?x=1"
    for bad, needle in [("redis://h/0?partitions=0", "partitions"), ("http://h", "expected redis://")]:
        with pytest.raises(ValueError, match=needle):
            parse_redis_bus_url(bad)


async def _xlen(url: str, key: str) -> int:
    client: coredis.Redis[bytes] = coredis.Redis.from_url(url)
    async with client:
        return int(await client.xlen(key))


async def test_streams_are_bounded(redis_server: RedisServer) -> None:
    async with RedisStreamsBus(f"{redis_server.url}?partitions=1&maxlen=100", app_id="1") as bus:
        for _ in range(10):
            await bus.publish([(0, b"x" * 10)] * 100)
        length = await _xlen(redis_server.url, bus.streams[0])
    assert 100 <= length < 300, length  # MAXLEN ~: trimmed by whole macro nodes


async def test_drop_policy_counts_and_logs_while_redis_is_paused(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    assert redis_server.proc is not None
    async with RedisStreamsBus(f"{redis_server.url}?partitions=2", app_id="1", timeout=0.5) as bus:
        publisher = BusPublisher(bus, buffer=5, policy="drop", batch=5)
        async with anyio.create_task_group() as tg:
            await tg.start(publisher.run)
            redis_server.proc.send_signal(signal.SIGSTOP)
            try:
                with caplog.at_level(logging.WARNING, "framework.bus"):
                    for i in range(20):
                        await publisher(_event("GROUP_AT_MESSAGE_CREATE", GROUP, f"e{i}"))
                    await anyio.sleep(1.0)
                assert publisher.stats.dropped == 15
                assert "dropped GROUP_AT_MESSAGE_CREATE event e5 (1 dropped so far)" in caplog.text
            finally:
                redis_server.proc.send_signal(signal.SIGCONT)
            publisher.close()
            with anyio.fail_after(20):
                await publisher.finished.wait()
        lengths = [await _xlen(redis_server.url, s) for s in bus.streams]
    assert publisher.stats.published == 5 and sum(lengths) >= 5  # a timed-out batch may have been stored twice


async def test_consumer_hands_each_event_to_the_bot_once(redis_server: RedisServer) -> None:
    seen: list[str] = []
    bot = Bot("guard", scenes=["group"])

    @bot.on_group_at_message
    async def note(message: GroupMessage) -> None:
        seen.append(message.id)

    url = f"{redis_server.url}?partitions=2&lease_ttl=2&idempotency_ttl=600"
    first = _event("GROUP_AT_MESSAGE_CREATE", GROUP, "e1")
    payload = encode_message(BusMessage.of(first, 0.0))
    partition = partition_of(partition_key(first), 2)

    async def consume(repeats: int) -> BusConsumer:
        async with RedisStreamsBus(url, app_id="1") as bus, bot.running():
            assert bot.delivery is not None
            await bus.publish([(partition, payload)] * repeats)  # the gateway retried a batch that timed out
            consumer = BusConsumer(bus, bot.delivery)
            async with anyio.create_task_group() as tg:
                await tg.start(bus.run)
                await tg.start(consumer.run)
                for _ in range(400):  # 20 s
                    if consumer.stats.acknowledged >= repeats:
                        break
                    await anyio.sleep(0.05)
                else:
                    raise AssertionError(f"acknowledged {consumer.stats.acknowledged} of {repeats}")
                consumer.stop()
                tg.cancel_scope.cancel()
            return consumer

    first_run = await consume(2)
    assert seen == ["m1"] and first_run.stats.delivered == 1 and first_run.stats.acknowledged == 2
    second_run = await consume(1)  # a new worker reads the same event again: the guard in Redis says handled
    assert seen == ["m1"] and second_run.stats.already_handled == 1
    client: coredis.Redis[bytes] = coredis.Redis.from_url(redis_server.url)
    async with client:
        assert 0 < await client.ttl("qqbot:{1}:bus:done:e1") <= 600
        pending = await client.xpending(f"qqbot:{{1}}:bus:p:{partition}", "workers")
    assert pending.pending == 0


async def test_msg_seq_is_counted_in_redis_across_workers(redis_server: RedisServer) -> None:
    url = f"{redis_server.url}?partitions=2"
    async with RedisStreamsBus(url, app_id="1") as one, RedisStreamsBus(url, app_id="1") as two:
        first, second = ReplyLedger(store=one.seq_store()), ReplyLedger(store=two.seq_store())
        assert [await first.allocate("m1"), await second.allocate("m1"), await first.allocate("m1")] == [1, 2, 3]
        assert await second.allocate("m2") == 1
        assert 3800 < await one.client.ttl("qqbot:{1}:bus:seq:m1") <= 3900
        # a reply of an event's handling: numbered from the same counter once, the same number when run again
        handling, again = _event("GROUP_AT_MESSAGE_CREATE", GROUP), _event("GROUP_AT_MESSAGE_CREATE", GROUP)
        assert await first.reply_seq("m1", handling) == ReplySeq(4, replayed=False)
        assert await second.reply_seq("m1", again) == ReplySeq(4, replayed=True)  # e1 delivered again
        assert await second.reply_seq("m1", again) == ReplySeq(5, replayed=False)  # its second reply
        assert await first.allocate("m1") == 6
        ttl = await one.client.pttl("qqbot:{1}:bus:seqof:m1")
        assert ttl > 0 and abs(await one.client.pttl("qqbot:{1}:bus:seq:m1") - ttl) < 1000  # with the counter


def test_a_reply_past_the_passive_window_fails_before_sending() -> None:
    ledger = ReplyLedger()
    ledger.check_window("group", "2026-01-01T00:00:00+08:00", 1e12)  # no windows: no check
    ledger.windows = PASSIVE_REPLY_WINDOWS
    sent = datetime.fromisoformat("2026-01-01T00:00:00+08:00").timestamp()
    ledger.check_window("group", "2026-01-01T00:00:00+08:00", sent + 299)
    ledger.check_window("c2c", "2026-01-01T00:00:00+08:00", sent + 3000)
    ledger.check_window("channel", "2026-01-01T00:00:00+08:00", sent + 10**6)  # no window known
    with pytest.raises(ReplyWindowError, match=r"group message .* 301 s old, past the 300 s passive-reply window"):
        ledger.check_window("group", "2026-01-01T00:00:00+08:00", sent + 301)
    with pytest.raises(ReplyWindowError, match="3601 s old"):
        ledger.check_window("c2c", int(sent), sent + 3601)


async def test_a_bot_refuses_a_late_reply_with_a_clear_error() -> None:
    from framework.testing.recording import RecordingApi

    bot = Bot("late", scenes=["group"])
    errors: list[BaseException] = []

    @bot.on_group_at_message
    async def answer(ctx: Context[GroupMessage]) -> None:
        try:
            await ctx.reply("too late")
        except ReplyWindowError as exc:
            errors.append(exc)

    bot.ledger.windows = PASSIVE_REPLY_WINDOWS
    api = RecordingApi()
    async with bot.running(api):
        await bot.process(_event("GROUP_AT_MESSAGE_CREATE", GROUP))  # sent 2026-01-01, long ago for the bot's clock
    assert len(errors) == 1 and not api.calls


async def test_a_worker_goes_on_after_redis_lost_its_data(redis_server: RedisServer) -> None:
    seen: list[str] = []
    bot = Bot("restart", scenes=["group"])

    @bot.on_group_at_message
    async def note(message: GroupMessage) -> None:
        seen.append(message.id)

    url = f"{redis_server.url}?partitions=1&lease_ttl=2"

    def entry(message_id: str) -> list[tuple[int, bytes]]:
        event = _event("GROUP_AT_MESSAGE_CREATE", {**GROUP, "id": message_id}, f"e-{message_id}")
        return [(0, encode_message(BusMessage.of(event, 0.0)))]

    async with RedisStreamsBus(url, app_id="1", timeout=1.0) as bus, bot.running():
        assert bot.delivery is not None
        consumer = BusConsumer(bus, bot.delivery)
        async with anyio.create_task_group() as tg:
            await tg.start(bus.run)
            await tg.start(consumer.run)
            await bus.publish(entry("before"))
            for _ in range(200):
                if seen:
                    break
                await anyio.sleep(0.05)
            await anyio.to_thread.run_sync(redis_server.restart)  # no persistence: every key is gone
            for _ in range(400):  # the gateway publishes again (retrying until Redis answers)
                try:
                    await bus.publish(entry("after"))
                    break
                except BusUnavailable:
                    await anyio.sleep(0.05)
            for _ in range(400):
                if "after" in seen:
                    break
                await anyio.sleep(0.05)
            consumer.stop()
            tg.cancel_scope.cancel()
    assert seen == ["before", "after"]


async def test_an_entry_left_pending_by_another_reader_is_claimed_late(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    event = _event("GROUP_AT_MESSAGE_CREATE", GROUP, "late-1")
    url = f"{redis_server.url}?partitions=1&lease_ttl=1"
    async with RedisStreamsBus(url, app_id="1") as bus, anyio.create_task_group() as tg:
        await tg.start(bus.run)
        await bus.publish([(0, encode_message(BusMessage.of(event, 0.0)))])
        # another consumer's read, answered after its worker gave the partition up: pending with it
        taken = await bus.client.xreadgroup("workers", "departed", {bus.streams[0]: ">"}, count=10)
        assert taken
        got = []
        with caplog.at_level(logging.WARNING, "framework.bus"), anyio.fail_after(15):
            while not got:
                got = await bus.receive(10)
        tg.cancel_scope.cancel()
    assert [e.message.id for e in got if e.message is not None] == ["late-1"]
    assert "partition 0: claimed 1 event(s) pending for over 3 s" in caplog.text
