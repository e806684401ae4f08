"""Two RedisSessionManagers in one process, on asyncio and on trio (coredis runs on anyio), against the in-process
emulator and a real redis-server: the split, the handover by resume and the release on stop."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest

from framework.emulator import DEFAULT_APP_ID, DEFAULT_APP_SECRET, Emulator, EmulatorConfig
from framework.emulator.config import SessionStartLimitConfig
from framework.emulator.gateway import GatewaySettings
from framework.models import InboundEvent, Intents
from framework.runtime.credentials import Credentials, TokenManager
from framework.runtime.gateway.sessions.redis import RedisSessionManager, parse_sessions_url
from framework.runtime.openapi import OpenAPI
from framework.runtime.platform import Platform

SHARDS = 4


def _members(
    emulator: Emulator, http: httpx.AsyncClient, sink: Callable[[InboundEvent], Awaitable[None]], url: str, **extra: Any
) -> Callable[[str], RedisSessionManager]:
    """``manager(member)``: a fleet member on the in-process emulator and the Redis at ``url``."""
    tokens = TokenManager(
        Credentials(DEFAULT_APP_ID, DEFAULT_APP_SECRET), platform=Platform.at("http://emulator"), http=http
    )
    api = OpenAPI(tokens, base_url="http://emulator", http=http)

    def manager(member: str) -> RedisSessionManager:
        return RedisSessionManager(
            emulator.connect_websocket,
            tokens.get_token,
            api.get_gateway_bot,
            sink,
            Intents.PUBLIC_GUILD_MESSAGES,
            redis_url=url,
            app_id=DEFAULT_APP_ID,
            member=member,
            watchdog_threshold=None,
            **extra,
        )

    return manager


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_two_managers_share_hand_over_by_resume_and_release_on_stop(redis_server, backend: str) -> None:
    async def main() -> None:
        config = EmulatorConfig(shards=SHARDS, session_start_limit=SessionStartLimitConfig(max_concurrency=SHARDS))
        emulator = Emulator(config)
        events: list[InboundEvent] = []

        async def sink(event: InboundEvent) -> None:
            events.append(event)

        async with emulator, emulator.http_client() as http:
            manager = _members(emulator, http, sink, f"{redis_server.url}?lease_ttl=2")

            async def until(check: Callable[[], bool], what: str) -> None:
                deadline = anyio.current_time() + 30
                while True:
                    if check():
                        return
                    assert anyio.current_time() < deadline, f"timed out waiting until {what}"
                    await anyio.sleep(0.05)

            def ready(m: RedisSessionManager) -> list[int]:
                return sorted(s.shard_id for s in m.shards if s.ready)

            first, second = manager("a"), manager("b")
            async with anyio.create_task_group() as tg:
                tg.start_soon(first.run)
                await until(lambda: ready(first) == list(range(SHARDS)), "a holds every shard")
                tg.start_soon(second.run)
                await until(lambda: len(ready(first)) == 2 and len(ready(second)) == 2, "a 2/2 split")
                with anyio.fail_after(20):
                    await second.stop()
                await until(lambda: ready(first) == list(range(SHARDS)), "a holds every shard again")
                with anyio.fail_after(20):
                    await first.stop()

            recorder = emulator.gateway.recorder
            assert sum(1 for i in recorder.identifies if i.accepted) == SHARDS  # every move was a resume
            kinds = [c.kind for c in recorder.connections if c.kind]
            assert kinds.count("identify") == SHARDS and kinds.count("resume") == 4  # 2 to b, 2 back to a
            spans: dict[int, list[tuple[float, float]]] = {}
            for c in recorder.connections:
                if c.kind and c.shard:
                    spans.setdefault(c.shard[0], []).append((c.opened_at, c.closed_at or float("inf")))
            for shard, found in spans.items():
                found.sort()
                assert all(b[0] >= a[1] for a, b in itertools.pairwise(found)), (shard, found)

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_wait_ready_follows_the_shards_a_fleet_hands_over_while_waiting(redis_server, backend: str) -> None:
    """One identify per 1.5 s: ``a`` takes the four shards alone and they become READY one window after
    another; ``b`` joins meanwhile, so ``a`` hands over two of them (READY ones, one per round) and ``b``
    resumes them. ``wait_ready`` on ``a`` returns only once every shard ``a`` still holds is READY (it must
    not stop at the ones handed over), and on ``b`` once the shards it took are READY. A CI run saw the
    runner's own loop over a copy of the list fail in this situation: a shard taken while it waited was not
    READY yet ("the gateway sessions stopped before every shard was READY"); the runner now asks the manager."""

    async def main() -> None:
        window = 1.5
        config = EmulatorConfig(shards=SHARDS, session_start_limit=SessionStartLimitConfig(max_concurrency=1))
        emulator = Emulator(config, gateway_settings=GatewaySettings(identify_window=window))

        async def sink(event: InboundEvent) -> None:
            pass

        async with emulator, emulator.http_client() as http:
            url = f"{redis_server.url}?lease_ttl=2&namespace=waitready"
            manager = _members(emulator, http, sink, url, identify_window=window)

            first, second = manager("a"), manager("b")
            async with anyio.create_task_group() as tg:
                tg.start_soon(first.run)
                with anyio.fail_after(10):
                    while True:  # a took every shard (not READY yet: one identify per window)
                        if len(first.shards) == SHARDS:
                            break
                        await anyio.sleep(0.02)
                tg.start_soon(second.run)
                with anyio.fail_after(60):
                    await first.wait_ready()
                    assert first.shards and all(s.ready for s in first.shards)
                    await second.wait_ready()
                    assert all(s.ready for s in second.shards)
                    while True:  # then the split settles: every shard held and READY
                        held = first.shards + second.shards
                        if len(held) == SHARDS and all(s.ready for s in held):
                            break
                        await anyio.sleep(0.05)
                assert sorted(len(m.shards) for m in (first, second)) == [2, 2]
                handed = {s.shard_id for s in second.shards}
                with anyio.fail_after(20):
                    await second.stop()
                    await first.stop()
            assert handed, "b took no shard"

    anyio.run(main, backend=backend)


def test_sessions_urls_are_checked_and_passwords_hidden() -> None:
    fleet = parse_sessions_url("redis://:pw@host:6379/2?lease_ttl=9&namespace=bot1&ssl_cert_reqs=none")
    assert fleet.lease_ttl == 9 and fleet.namespace == "bot1"
    assert fleet.redis_url == "redis://:pw@host:6379/2?ssl_cert_reqs=none"
    assert "pw" not in repr(fleet)
    for bad, says in [
        ("http://host", "expected 'local' or a redis://"),
        ("redis://h?lease_ttl=x", "lease_ttl must be seconds"),
        ("redis://h?lease_ttl=0.5", "at least 1 second"),
        ("redis://h?namespace=a b", "namespace"),
    ]:
        with pytest.raises(ValueError, match=says):
            parse_sessions_url(bad)
