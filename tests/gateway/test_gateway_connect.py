"""Connect timeouts and backoff against real loopback sockets, and user sends waiting for READY."""

from __future__ import annotations

import itertools
import logging
import random

import anyio
import pytest
from gateway_harness import backoff_delays, gateway_config, harness

from framework.clock import ScaledClock
from framework.models.api import GatewayBot
from framework.models.envelope import InboundEvent
from framework.runtime.gateway.identify import IdentifyQueue
from framework.runtime.gateway.shard import Shard, ShardOptions
from framework.runtime.gateway.websocket import connect

pytestmark = pytest.mark.anyio


async def _no_token() -> str:
    raise AssertionError("no connection should get as far as authenticating")


async def _drop(event: InboundEvent) -> None:
    pass


def _shard(url: str, clock: ScaledClock, attempts: list[float]) -> Shard:
    async def connector(u: str) -> object:
        attempts.append(clock.monotonic())
        return await connect(u)  # W's real transport

    return Shard(
        0,
        1,
        url=url,
        connector=connector,  # type: ignore[arg-type]
        token_provider=_no_token,
        intents=0,
        emit=_drop,
        identify_queue=IdentifyQueue(clock=clock),
        clock=clock,
        options=ShardOptions(gateway=gateway_config(backoff_base=1.0, backoff_cap=8.0), connect_timeout=2.0),
        rng=random.Random(7),
    )


async def test_silent_server_hits_the_connect_timeout_and_backs_off() -> None:
    clock = ScaledClock(50.0)
    attempts: list[float] = []
    accepted: list[object] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def silent(stream: anyio.abc.SocketStream) -> None:
        accepted.append(stream)
        await anyio.sleep_forever()  # accept, never answer the upgrade

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, silent)
        shard = _shard(f"ws://127.0.0.1:{port}/websocket", clock, attempts)
        tg.start_soon(shard.run)
        with anyio.fail_after(10):
            while len(attempts) < 4:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        assert shard.status().last_reason == "connect timed out"
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        assert all(g >= 2.0 for g in gaps)  # each attempt waited out the 2 s (emulated) connect timeout
        await shard.stop()
        tg.cancel_scope.cancel()
    assert len(accepted) >= 3  # the server saw the attempts (the last one may still be in flight)


async def test_refused_connections_back_off_exponentially(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="framework.runtime.gateway.shard")
    clock = ScaledClock(10.0)
    attempts: list[float] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # nothing listens there any more: connection refused
    shard = _shard(f"ws://127.0.0.1:{port}/websocket", clock, attempts)
    async with anyio.create_task_group() as tg:
        tg.start_soon(shard.run)
        with anyio.fail_after(10):
            while len(attempts) < 6:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        status = shard.status()
        await shard.stop()
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    # The bounds are on the delays the shard chose (its log), not on the measured gaps: those bounded the gaps
    # with 0.5 s of emulated slack, 50 ms of real time at 10x, which a scheduling stall on a loaded host exceeds.
    delays = backoff_delays(caplog.records)
    assert len(delays) >= len(gaps)
    assert 0.5 <= delays[0] <= 1.0  # first retry: base 1 s × U(0.5, 1)
    assert delays[3] >= 4.0  # fourth: min(8, 8) × U(0.5, 1)
    assert all(d <= 8.0 for d in delays)  # capped
    # each retry waited out its delay on the clock (an upper bound on the gaps would bound the host's scheduling)
    assert all(g >= d - 0.01 for g, d in zip(gaps, delays, strict=False)), (gaps, delays)
    assert status.reconnects >= 5 and "connect failed" in (status.last_reason or "")


async def test_user_send_waits_for_ready() -> None:
    async with harness("socket", run=False) as h:
        sent_at: list[str] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(h.manager.run)
            while not h.manager.shards:  # noqa: ASYNC110
                await anyio.sleep(0.001)
            shard = h.manager.shards[0]

            async def user_send() -> None:
                await shard.send(b'{"op":1,"d":null}')
                sent_at.append(shard.status().state)

            tg.start_soon(user_send)
            await h.wait_ready()
            await h.wait_for(lambda: bool(sent_at), what="the user send")
            await h.manager.stop()
        assert sent_at == ["ready"]
        assert h.hub.recorder.connections[0].kind == "identify"  # not refused as "not authenticated"


async def test_gateway_bot_object_and_shard_count_override() -> None:
    async with harness("pipe", run=False, shards=2) as h:
        url = "ws://emulator/websocket"
        h.manager.gateway = GatewayBot(url=url, shards=2)
        h.manager.shard_count = 1
        h.shard_count = 1
        async with anyio.create_task_group() as tg:
            tg.start_soon(h.manager.run)
            await h.wait_ready()
            await h.manager.stop()
        assert [i.shard for i in h.hub.recorder.identifies] == [(0, 1)]


async def test_token_endpoint_failure_backs_off_then_connects() -> None:
    async with harness("pipe", run=False) as h:
        calls: list[int] = []
        real = h.tokens.get_token

        async def flaky() -> str:
            calls.append(1)
            if len(calls) == 1:
                raise OSError("token endpoint unreachable")
            return await real()

        h.manager.token_provider = flaky
        async with anyio.create_task_group() as tg:
            tg.start_soon(h.manager.run)
            with anyio.fail_after(10):
                await h.manager.wait_ready()
            status = h.manager.status()[0]
            await h.manager.stop()
        assert len(calls) == 2
        assert status.reconnects == 1 and "token fetch failed" in (status.last_reason or "")
        assert [c.kind for c in h.hub.recorder.connections] == [None, "identify"]
