"""Runs a LocalSessionManager against the emulator (real loopback sockets or the in-process pipe)."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from framework.clock import ScaledClock
from framework.emulator import Emulator, EmulatorConfig, GatewaySettings
from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET, SessionStartLimitConfig
from framework.models.envelope import InboundEvent
from framework.protocol.gateway import GatewayConfig
from framework.runtime.credentials import Credentials, TokenManager
from framework.runtime.gateway.sessions import LocalSessionManager
from framework.runtime.gateway.shard import ShardOptions
from framework.runtime.gateway.websocket import connect
from framework.runtime.openapi.client import OpenAPI
from framework.runtime.platform import Platform

EVENT_TYPE = "X_GATEWAY_TEST"
"""An event type outside the event table: the emulator routes it by guild id, whatever the intents."""
INTENTS = 1 << 30
HEARTBEAT_SLACK = 1.5
"""Real seconds the harness adds to the emulator's heartbeat watchdog (unless a test sets its factor)."""


def guild_for(shard: int, shard_count: int) -> str:
    """A guild id that lands on ``shard`` ((id >> 22) % count)."""
    return str((shard + 7 * shard_count) << 22)


@dataclass
class Harness:
    emulator: Emulator
    clock: ScaledClock
    manager: LocalSessionManager
    tokens: TokenManager
    shard_count: int
    events: list[InboundEvent] = field(default_factory=list)
    pushed: int = 0

    @property
    def hub(self) -> Any:
        return self.emulator.gateway

    def test_events(self) -> list[InboundEvent]:
        return [e for e in self.events if e.type == EVENT_TYPE]

    def push(self, shard: int, n: int = 1) -> None:
        """Dispatch ``n`` numbered events to ``shard`` (payload ``{"id", "shard", "n"}``)."""
        for _ in range(n):
            k = self.pushed
            self.pushed += 1
            self.hub.dispatch(
                EVENT_TYPE, {"id": f"m{k}", "shard": shard, "n": k}, guild_id=guild_for(shard, self.shard_count)
            )

    async def wait_for(self, cond: Callable[[], bool], limit: float = 10.0, what: str = "condition") -> None:
        """Poll ``cond`` (real time) until it holds; fail after ``limit`` seconds."""
        with anyio.move_on_after(limit):
            while not cond():  # noqa: ASYNC110 - polling emulator/manager state, no event to wait on
                await anyio.sleep(0.005)
            return
        raise AssertionError(f"timed out waiting for {what}; status={self.manager.status()}")

    async def wait_ready(self, limit: float = 10.0) -> None:
        await self.wait_for(
            lambda: (
                len(self.manager.shards) == self.shard_count and all(s.state == "ready" for s in self.manager.status())
            ),
            limit,
            "all shards READY",
        )

    def by_shard(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = defaultdict(list)
        for e in self.test_events():
            d = e.decode().json()
            out[d["shard"]].append(d["n"])
        return out


BACKOFF_LOG = "shard %d: reconnecting in %.2f s"


def backoff_delays(records: list[logging.LogRecord]) -> list[float]:
    """The reconnect delays the shards chose (clock seconds), from their INFO log: exact, where gaps measured
    between connections also hold the host's scheduling (capture with ``caplog.set_level(logging.INFO)``)."""
    delays = (r.args[1] for r in records if r.msg == BACKOFF_LOG and isinstance(r.args, tuple))
    return [d for d in delays if isinstance(d, float)]


def gateway_config(**kw: Any) -> GatewayConfig:
    # generous timeouts: at ×20 they are 1.5 s / 3 s real, enough on a loaded 2-CPU machine
    base: dict[str, Any] = {"hello_timeout": 30.0, "ready_timeout": 60.0, "backoff_base": 0.5, "backoff_cap": 4.0}
    base.update(kw)
    return GatewayConfig(**base)


@asynccontextmanager
async def harness(
    transport: str,
    *,
    shards: int = 1,
    max_concurrency: int = 1,
    heartbeat_ms: int = 2000,
    factor: float = 20.0,
    settings: GatewaySettings | None = None,
    config: GatewayConfig | None = None,
    sink: Callable[[InboundEvent], Any] | None = None,
    run: bool = True,
    token_ttl: int = 7200,
    remaining: int = 1000,
    allowed_intents: int | None = None,
    **manager_kw: Any,
) -> AsyncIterator[Harness]:
    clock = ScaledClock(factor)
    settings = settings or GatewaySettings()
    if settings.heartbeat_timeout_factor == "auto":
        # The default watchdog (1.5 intervals) leaves 0.5 interval between a heartbeat falling due and the close:
        # 50 ms of real time at 2 s and x20, which a loaded host's scheduling stall exceeds (a spurious 4009 and
        # resume). These tests check the client, not that watchdog (tests/emulator/test_gateway.py does): it waits
        # HEARTBEAT_SLACK more real seconds here (1.55 s of slack at the defaults; 0.35 s once lost to a CI stall).
        interval = heartbeat_ms / 1000 / factor
        settings = dataclasses.replace(settings, heartbeat_timeout_factor=1.5 + HEARTBEAT_SLACK / interval)
    emu_config = EmulatorConfig(
        heartbeat_interval_ms=heartbeat_ms,
        shards=shards,
        token_ttl=token_ttl,
        session_start_limit=SessionStartLimitConfig(remaining=remaining, max_concurrency=max_concurrency),
    )
    if allowed_intents is not None:
        emu_config.allowed_intents = {DEFAULT_APP_ID: allowed_intents}
    emulator = Emulator(emu_config, clock=clock, gateway_settings=settings)
    async with AsyncExitStack() as stack:
        if transport == "socket":
            base = await stack.enter_async_context(emulator.serve())
            connector: Any = connect
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=base))
        else:
            await stack.enter_async_context(emulator)
            base = "http://emulator"
            connector = emulator.connect_websocket
            http = await stack.enter_async_context(emulator.http_client())
        tokens = TokenManager(
            Credentials(DEFAULT_APP_ID, DEFAULT_APP_SECRET),
            platform=Platform.at(base),
            http=http,
            clock=clock,
        )
        api = OpenAPI(tokens, base_url=base, http=http, clock=clock)
        holder: list[Harness] = []

        async def collect(event: InboundEvent) -> None:
            holder[0].events.append(event)
            if sink is not None:
                await sink(event)

        manager = LocalSessionManager(
            connector,
            tokens.get_token,
            api.get_gateway_bot,
            collect,
            INTENTS,
            clock=clock,
            token_invalidate=tokens.invalidate,
            options=ShardOptions(gateway=config or gateway_config(), connect_timeout=20.0, close_timeout=2.0),
            drain_timeout=5.0,
            **manager_kw,
        )
        h = Harness(emulator, clock, manager, tokens, manager_kw.get("shard_count") or shards)
        holder.append(h)
        if not run:
            yield h
            return
        async with anyio.create_task_group() as tg:
            tg.start_soon(manager.run)
            yield h
            with anyio.fail_after(10):
                await manager.stop()


__all__ = ["EVENT_TYPE", "INTENTS", "Harness", "backoff_delays", "gateway_config", "guild_for", "harness", "math"]
