"""Shared pieces of the fuzz tests: hypothesis settings, a Bot run by a real BotRunner against the emulator
served on loopback, and a log collector.

Settings: derandomized by default, so a run (and CI) sees the same examples every time and a failure is
reproducible. ``QQBOT_FUZZ=explore`` draws fresh random examples (and ``QQBOT_FUZZ_EXAMPLES=n`` sets how
many) for a longer exploration on demand; a failure then prints the ``@reproduce_failure`` blob.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from hypothesis import HealthCheck, Phase, settings

from framework.app import Bot
from framework.clock import ScaledClock
from framework.emulator import Emulator, EmulatorConfig
from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET
from framework.emulator.gateway.hub import GatewayHub
from framework.emulator.gateway.settings import GatewaySettings
from framework.emulator.world import EmittedEvent
from framework.models import C2CMessage
from framework.protocol.gateway import GatewayConfig
from framework.runner import BotRunner
from framework.runtime.credentials import Credentials
from framework.runtime.gateway.shard import ShardOptions
from framework.runtime.gateway.websocket import connect
from framework.runtime.platform import Platform
from framework.runtime.webhook import WebhookApp, serve_webhook

EXPLORE = os.environ.get("QQBOT_FUZZ") == "explore"


def fuzz_settings(max_examples: int) -> settings:
    """``max_examples`` derandomized examples (see the module docstring), no deadline (real sockets)."""
    if EXPLORE:
        max_examples = int(os.environ.get("QQBOT_FUZZ_EXAMPLES", str(max_examples * 10)))
    # Default runs skip the shrink phase: a failing example is reproducible as it is (derandomized), and
    # shrinking sequences over real sockets can take minutes. Exploration shrinks.
    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if EXPLORE else [])
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=not EXPLORE,
        database=None,
        phases=phases,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class LogCollector(logging.Handler):
    """Keeps every record of the ``framework`` loggers at DEBUG and above while installed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, needle: str, logger: str | None = None, level: int | None = None) -> list[str]:
        return [
            r.getMessage()
            for r in self.records
            if needle in r.getMessage()
            and (logger is None or r.name == logger)
            and (level is None or r.levelno == level)
        ]

    def errors(self) -> list[logging.LogRecord]:
        return [r for r in self.records if r.levelno >= logging.ERROR or r.exc_info is not None]

    def describe_errors(self) -> list[str]:
        """Each ERROR record (or record with a traceback): logger, message and the traceback."""
        out = []
        for r in self.errors():
            text = f"{r.name}: {r.getMessage()}"
            if r.exc_info:
                text += "\n" + logging.Formatter().formatException(r.exc_info)
            out.append(text)
        return out


@asynccontextmanager
async def collecting_logs(*names: str) -> AsyncIterator[LogCollector]:
    """Collect the records of ``names`` (default: ``framework`` and ``hypercorn``) at DEBUG and above."""
    loggers = [logging.getLogger(name) for name in names or ("framework", "hypercorn")]
    collector = LogCollector()
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(collector)
        logger.setLevel(logging.DEBUG)
    try:
        yield collector
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(collector)
            logger.setLevel(level)


@asynccontextmanager
async def served_webhook(app: WebhookApp, **kwargs: Any) -> AsyncIterator[int]:
    """Serve ``app`` with :func:`serve_webhook` (hypercorn) on a free loopback port; yield the port."""
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(
            lambda task_status: serve_webhook(
                app, port=0, shutdown_trigger=stop.wait, handle_signals=False, task_status=task_status, **kwargs
            )
        )
        try:
            yield port
        finally:
            stop.set()


@dataclass
class BotStack:
    """A Bot whose C2C handler records each message's content, run by a BotRunner over loopback."""

    emulator: Emulator
    runner: BotRunner
    base: str
    seen: Counter[str] = field(default_factory=Counter)
    sent: list[str] = field(default_factory=list)
    """Contents of the valid C2C messages sent so far, in order."""

    @property
    def hub(self) -> GatewayHub:
        return self.emulator.gateway

    def send(self, n: int = 1) -> list[EmittedEvent]:
        """The user writes ``n`` C2C messages (contents ``m0``, ``m1``, ...); returns the events pushed."""
        out = []
        for _ in range(n):
            content = f"m{len(self.sent)}"
            self.sent.append(content)
            out.append(self.emulator.control.c2c_message(content, openid="fuzz-user"))
        return out

    def all_delivered(self) -> bool:
        return all(self.seen[c] >= 1 for c in self.sent)

    def duplicates(self) -> dict[str, int]:
        return {c: n for c, n in self.seen.items() if n > 1}

    def unexpected(self) -> set[str]:
        return set(self.seen) - set(self.sent)

    async def wait_for(self, cond: Callable[[], bool], what: str, limit: float = 15.0) -> None:
        """Poll ``cond`` (real time) until it holds; fail after ``limit`` seconds with the shard status."""
        with anyio.move_on_after(limit):
            while not cond():  # noqa: ASYNC110 - polling emulator and runner state, no event to wait on
                await anyio.sleep(0.005)
            return
        status = self.runner.manager.status() if self.runner.manager is not None else None
        missing = [c for c in self.sent if not self.seen[c]]
        raise AssertionError(f"timed out waiting for {what}; missing={missing[:10]} status={status}")

    def ready(self) -> bool:
        manager = self.runner.manager
        return manager is not None and bool(manager.shards) and all(s.state == "ready" for s in manager.status())

    async def settle(self, what: str) -> None:
        """Every shard READY and every valid message sent so far handled."""
        await self.wait_for(lambda: self.ready() and self.all_delivered(), what)


def gateway_config() -> GatewayConfig:
    # generous: at x20 these are 1.5 s / 3 s real, enough on a loaded 2-CPU machine
    return GatewayConfig(hello_timeout=30.0, ready_timeout=60.0, backoff_base=0.5, backoff_cap=4.0)


@asynccontextmanager
async def bot_stack(*, factor: float = 20.0, heartbeat_ms: int = 10_000, shards: int = 1) -> AsyncIterator[BotStack]:
    """The emulator served on ``127.0.0.1:0`` and a Bot run by :class:`BotRunner` over the real WebSocket
    transport and HTTP, with emulated time ``factor`` times faster than real time."""
    clock = ScaledClock(factor)
    bot = Bot("fuzz", help=False)
    holder: list[BotStack] = []

    @bot.on_c2c_message
    async def record(message: C2CMessage) -> None:
        holder[0].seen[message.content] += 1

    config = EmulatorConfig(heartbeat_interval_ms=heartbeat_ms, shards=shards)
    config.grant(DEFAULT_APP_ID, int(bot.intents))
    # The emulator's heartbeat watchdog (1.5 intervals) leaves half an interval of slack: 250 ms of real time at
    # 10 s and x20, which a loaded host's scheduling stalls can use up (a spurious 4009, then a connection the
    # "never spins" check counts). These tests check the client, not that watchdog: it waits 0.3 real s more.
    interval = heartbeat_ms / 1000 / factor
    emulator = Emulator(
        config, clock=clock, gateway_settings=GatewaySettings(heartbeat_timeout_factor=1.5 + 0.3 / interval)
    )
    async with emulator.serve("127.0.0.1", 0) as base:
        runner = BotRunner(
            bot,
            credentials=Credentials(DEFAULT_APP_ID, DEFAULT_APP_SECRET),
            platform=Platform.at(base),
            connector=connect,
            clock=clock,
            shard_options=ShardOptions(gateway=gateway_config(), connect_timeout=20.0, close_timeout=2.0),
            drain_timeout=5.0,
            handler_deadline=5.0,
        )
        stack = BotStack(emulator, runner, base)
        holder.append(stack)
        async with runner:
            with anyio.fail_after(15):
                await runner.wait_ready()
            yield stack
