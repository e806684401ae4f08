"""Several shards: identify pacing as the emulator records it, and the no-loss run under faults."""

from __future__ import annotations

import itertools
import random

import anyio
import pytest
from gateway_harness import Harness, harness

from framework.runtime.gateway.identify import SessionStartLimitError

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("transport", ["socket", "pipe"])
async def test_four_shards_max_concurrency_1_identify_one_per_window(transport: str) -> None:
    # 10x, not 50x: the upper bound below leaves 5 s of emulated slack, which 50x turns into 100 ms of real time
    async with harness(transport, shards=4, max_concurrency=1, factor=10.0) as h:
        await h.wait_ready(limit=20)
        ids = [i for i in h.hub.recorder.identifies if i.accepted]
        assert [i.shard for i in ids] == [(0, 4), (1, 4), (2, 4), (3, 4)]  # lowest shard id first
        assert all(not i.reason for i in h.hub.recorder.identifies)  # none refused
        gaps = [b.at - a.at for a, b in itertools.pairwise(ids)]
        assert all(gap >= 5.0 for gap in gaps), gaps  # one per 5 s window (emulated clock)
        assert all(gap < 10.0 for gap in gaps), gaps  # ...and not a window more
        assert h.hub.recorder.max_identifies_in_any_window(5.0) == 1
        assert {s.shard_id for s in h.manager.status()} == {0, 1, 2, 3}


async def test_max_concurrency_2_pairs_shards_by_bucket() -> None:
    async with harness("pipe", shards=4, max_concurrency=2, factor=50.0) as h:
        await h.wait_ready(limit=20)
        ids = [i for i in h.hub.recorder.identifies if i.accepted]
        assert len(ids) == 4 and all(not i.reason for i in h.hub.recorder.identifies)
        assert h.hub.recorder.max_identifies_in_any_window(5.0) == 2
        first_window = {i.shard[0] for i in ids if i.at - ids[0].at < 5.0}
        assert first_window == {0, 1}  # bucket 0 -> shard 0, bucket 1 -> shard 1


async def test_subset_of_shards() -> None:
    async with harness("pipe", shards=4, shard_ids=[1, 3], shard_count=4, factor=50.0) as h:
        h.shard_count = 2
        await h.wait_ready(limit=20)
        assert sorted(i.shard for i in h.hub.recorder.identifies) == [(1, 4), (3, 4)]


async def test_session_start_budget_too_small_refuses_at_start() -> None:
    async with harness("pipe", shards=4, remaining=2, run=False) as h:
        with pytest.raises(SessionStartLimitError, match="2 of 1000 sessions left, 4 shards"):
            await h.manager.run()
        assert h.hub.recorder.connections == []


@pytest.mark.parametrize("transport", ["socket", "pipe"])
async def test_no_loss_10000_events_4_shards_with_random_faults(transport: str) -> None:
    """10,000 events over 4 shards while ≥20 random faults hit them: every event exactly once, in order.

    Faults: TCP drop, op 7 (+4009), a zombie (ACKs paused until the client notices), close 4009 and
    close 4008. op 9 is left out: a client identifies afresh after it (as botgo, botpy and nonebot do), so
    the events still queued on the old session are gone for every client; the op 9 tests cover it.
    """
    rng = random.Random(1234)
    total, batches = 10_000, 50
    async with harness(transport, shards=4, max_concurrency=4, factor=20.0) as h:
        await h.wait_ready(limit=20)
        faults: list[str] = []
        for _batch in range(batches):
            for _ in range(total // batches):
                h.push(rng.randrange(4))
            await _inject_fault(h, rng, faults)
            await anyio.sleep(rng.random() * 0.02)
        assert len(faults) >= 20, faults  # faults that hit a live connection
        await h.wait_for(lambda: len(h.test_events()) >= total, limit=60, what=f"{total} events")
        await anyio.sleep(0.2)  # would reveal late duplicates
        events = h.test_events()
        assert len(events) == total
        assert len({e.id for e in events}) == total
        by_shard = h.by_shard()
        assert sum(len(v) for v in by_shard.values()) == total
        for shard, numbers in by_shard.items():
            assert numbers == sorted(numbers), f"shard {shard} out of order"
        assert sum(s.reconnects for s in h.manager.status()) >= 20
        assert len(h.hub.recorder.sessions) == 4  # every fault was survived by resuming


async def _inject_fault(h: Harness, rng: random.Random, faults: list[str]) -> None:
    shard = rng.randrange(4)
    kind = rng.choice(["drop", "op7", "zombie", "4009", "4008"])
    before = h.manager.shards[shard].status().reconnects
    if kind == "drop":
        hit = h.hub.drop(shard)
    elif kind == "op7":
        hit = h.hub.reconnect(shard)
    elif kind == "4009":
        hit = h.hub.close(4009, "Session timed out", shard)
    elif kind == "4008":
        hit = h.hub.close(4008, "payloads sent too fast", shard)
    else:
        hit = sum(1 for c in h.hub.connections if c.session is not None and c.session.shard_id == shard)
        h.hub.pause_heartbeat_acks(shard)
        await h.wait_for(lambda: h.manager.shards[shard].status().reconnects > before, what="zombie detection")
        h.hub.resume_heartbeat_acks()
    if hit:
        faults.append(f"{kind}@{shard}")


async def test_session_start_budget_waits_for_a_near_reset() -> None:
    async with harness("pipe", shards=2, remaining=1, run=False, factor=50.0, max_start_wait=90_000.0) as h:
        # the emulator's budget resets after 86,400 s: far beyond a test, so stop while waiting
        async with anyio.create_task_group() as tg:
            tg.start_soon(h.manager.run)
            await anyio.sleep(0.2)
            assert h.hub.recorder.connections == []  # still waiting for the budget reset
            with anyio.fail_after(5):
                await h.manager.stop()
        assert h.hub.recorder.connections == []
