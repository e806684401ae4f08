"""The one signal waiter: ``wait_for_signal`` receives a real signal sent to this process (asyncio and trio),
and no other module of the framework opens a signal receiver of its own."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import anyio
import pytest

from framework.runtime.gateway.signals import SHUTDOWN_SIGNALS, wait_for_signal

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2] / "framework"


async def _raise_soon(signum: signal.Signals) -> None:
    await anyio.sleep(0.05)  # the receiver is installed by then
    os.kill(os.getpid(), signum)


async def test_wait_for_signal_returns_the_signal_and_announces_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="framework.runtime.gateway.signals")
    async with anyio.create_task_group() as tg:
        tg.start_soon(_raise_soon, signal.SIGUSR1)
        with anyio.fail_after(5):
            caught = await wait_for_signal([signal.SIGUSR1])
    assert caught is signal.SIGUSR1
    assert [r.getMessage() for r in caplog.records] == ["received SIGUSR1: shutting down"]


async def test_wait_for_signal_can_stay_quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="framework.runtime.gateway.signals")
    async with anyio.create_task_group() as tg:
        tg.start_soon(_raise_soon, signal.SIGUSR2)
        with anyio.fail_after(5):
            assert await wait_for_signal([signal.SIGUSR2], announce=False) is signal.SIGUSR2
    assert caplog.records == []


def test_the_default_signals_are_sigint_and_sigterm() -> None:
    assert SHUTDOWN_SIGNALS == (signal.SIGINT, signal.SIGTERM)


def test_only_the_waiter_opens_a_signal_receiver() -> None:
    users = sorted(
        str(path.relative_to(ROOT.parent))
        for path in ROOT.rglob("*.py")
        if "open_signal_receiver(" in path.read_text(encoding="utf-8")
    )
    assert users == ["framework/runtime/gateway/signals.py"]
