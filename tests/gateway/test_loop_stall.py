"""A handler that blocks the event loop: the watchdog (on by default) names it, and the stall alone does
not turn into a zombie reconnect (real loopback sockets)."""

from __future__ import annotations

import logging
import time

import pytest
from gateway_harness import EVENT_TYPE, harness

from framework.emulator import GatewaySettings
from framework.models.envelope import InboundEvent

pytestmark = pytest.mark.anyio


async def blocking_handler(event: InboundEvent) -> None:
    if event.type == EVENT_TYPE:
        time.sleep(3.0)  # noqa: ASYNC251 - blocking the loop on purpose


async def test_default_watchdog_names_the_blocking_handler(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="framework.runtime.gateway.watchdog")
    # the emulator shares the stalled loop: its own heartbeat timeout would fire first, so it is off here
    settings = GatewaySettings(heartbeat_timeout_factor=None)
    async with harness("socket", heartbeat_ms=1000, factor=1.0, settings=settings, sink=blocking_handler) as h:
        await h.wait_ready()
        await h.wait_for(lambda: h.manager.status()[0].latency is not None, what="a heartbeat ACK")
        h.push(0)
        await h.wait_for(lambda: len(h.test_events()) == 1, what="the event")
        await h.wait_for(lambda: h.manager.watchdog is not None and h.manager.watchdog.warnings > 0, what="a warning")
        beats = h.hub.recorder.connections[0].heartbeats
        await h.wait_for(lambda: h.hub.recorder.connections[0].heartbeats >= beats + 2, what="two more heartbeats")
        warnings = [r.getMessage() for r in caplog.records if "event loop blocked" in r.getMessage()]
        assert len(warnings) == 1
        assert "by blocking_handler (" in warnings[0] and "test_loop_stall.py" in warnings[0]
        status = h.manager.status()[0]
        assert status.reconnects == 0 and status.state == "ready", status
