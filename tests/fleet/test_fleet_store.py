"""The fleet's Redis scripts against a real redis-server: fencing, expiry, identify buckets, budget, data loss."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import coredis

from framework.runtime.gateway.sessions.redis_store import FleetKeys, FleetStore, Report


def _run(url: str, body: Callable[[FleetStore, Any], Awaitable[None]], shards: int = 4) -> None:
    async def main() -> None:
        client: coredis.Redis[str] = coredis.Redis.from_url(url, decode_responses=True)
        async with client:
            await body(FleetStore(client, FleetKeys.of("t", "42"), shards), client)

    anyio.run(main)


def test_a_lease_is_fenced_and_a_stale_holder_can_neither_renew_nor_release_it(redis_server) -> None:
    async def body(store: FleetStore, client: Any) -> None:
        first = await store.acquire(0, "a", 300)
        assert first is not None and first.token == 1 and first.session_id is None
        assert await store.acquire(0, "b", 300) is None  # held
        assert not await store.release(0, "b", 1, None, None)  # not b's
        assert not await store.release(0, "a", 7, None, None)  # a's name, wrong token
        await anyio.sleep(0.4)  # a's lease expires (a would have stopped serving before this)
        second = await store.acquire(0, "b", 10_000)
        assert second is not None and second.token == 2
        tick = await store.tick("a", {}, 10_000, [Report(0, 1, "s-old", 5, "ready")])
        assert tick.renewed == {0: False} and tick.holders[0] == "b 2"
        assert not await store.release(0, "a", 1, "s-old", 5)
        assert await client.get(store.keys.lease(0)) == "b 2"
        # b hands over: the session and seq are stored for the next holder, the lease is gone
        assert await store.release(0, "b", 2, "s-b", 9)
        third = await store.acquire(0, "a", 10_000)
        assert third is not None and (third.token, third.session_id, third.seq) == (3, "s-b", 9)
        state = await client.hgetall(store.keys.state(0))
        assert set(state) == {"owner", "token", "session_id", "seq", "state", "acquired_ms", "updated_ms"}

    _run(redis_server.url, body)


def test_identify_buckets_are_fleet_wide_and_an_unused_slot_is_handed_back(redis_server) -> None:
    async def body(store: FleetStore, client: Any) -> None:
        for shard, member in [(0, "a"), (2, "b")]:  # shards 0 and 2 share bucket 0 of max_concurrency 2
            assert await store.acquire(shard, member, 10_000) is not None
        kw = {"ttl_ms": 10_000, "hold_ms": 30_000, "budget": 2, "reset_ms": 60_000}
        assert (await store.take_identify(0, 0, "a", 1, holder="a/0", **kw))[0] == 0
        code, wait = await store.take_identify(2, 0, "b", 1, holder="b/2", **kw)
        assert code == 1 and 25_000 < wait <= 30_000  # held while a connects and identifies
        await store.identify_done(0, "a/0", sent=False, window_ms=5500)  # a's connection failed: handed back
        assert await client.get(store.keys.budget) == "2"
        assert (await store.take_identify(2, 0, "b", 1, holder="b/2", **kw))[0] == 0
        await store.identify_done(0, "b/2", sent=True, window_ms=5500)
        code, wait = await store.take_identify(0, 0, "a", 1, holder="a/0", **kw)
        assert code == 1 and 5000 < wait <= 5500  # the window after b's identify
        assert (await store.take_identify(2, 0, "a", 1, holder="x", **kw))[0] == 2  # not a's lease
        await client.set(store.keys.budget, "0", px=60_000)
        await client.delete([store.keys.bucket(0)])
        code, wait = await store.take_identify(0, 0, "a", 1, holder="a/0", **kw)
        assert code == 3 and 0 < wait <= 60_000  # the shared budget is spent: wait for its reset

    _run(redis_server.url, body)


def test_after_redis_loses_its_keys_a_holder_claims_its_lease_again_under_a_new_epoch(redis_server) -> None:
    async def body(store: FleetStore, client: Any) -> None:
        grant = await store.acquire(1, "a", 10_000)
        assert grant is not None
        before = await store.tick("a", {"pid": 1}, 10_000, [Report(1, grant.token, "s", 3, "ready")])
        await client.flushall()
        after = await store.tick("a", {"pid": 1}, 10_000, [Report(1, grant.token, "s", 3, "ready")])
        assert after.renewed == {1: True} and after.holders[1] == f"a {grant.token}"
        assert after.epoch != before.epoch
        assert await client.get(store.keys.fence(1)) == str(grant.token)  # the next token stays above ours
        assert await client.hget(store.keys.config, "shard_count") == "4"
        rows = await store.snapshot()
        assert [r["owner"] for r in rows] == [None, "a", None, None] and rows[1]["last_seq"] == 3

    _run(redis_server.url, body)
