"""Shards waiting for their identify slot say so (INFO), with the wait and max_concurrency."""

from __future__ import annotations

import logging

import anyio
import pytest

from framework.clock import VirtualClock
from framework.models.api import SessionStartLimit
from framework.runtime.gateway.identify import IdentifyQueue

pytestmark = pytest.mark.anyio


async def test_waiting_shards_log_a_progress_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="framework.runtime.gateway.identify")
    clock = VirtualClock()
    limit = SessionStartLimit(total=10, remaining=10, reset_after=86_400_000, max_concurrency=1)
    queue = IdentifyQueue(limit, clock=clock, shard_count=3)
    queue.expect([0, 1, 2])

    async def identify(shard: int) -> None:
        async with queue.slot(shard) as ticket:
            ticket.sent = True

    async with anyio.create_task_group() as tg:
        for shard in range(3):
            tg.start_soon(identify, shard)
    lines = [r.getMessage() for r in caplog.records if r.name == "framework.runtime.gateway.identify"]
    assert lines == [
        "shard 1/3 waiting 5.5 s for an identify slot (max_concurrency 1)",
        "shard 2/3 waiting 5.5 s for an identify slot (max_concurrency 1)",
    ]
    assert [at for _, at in queue.granted] == [0.0, 5.5, 11.0]
