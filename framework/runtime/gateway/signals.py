"""Graceful shutdown on SIGINT/SIGTERM: the framework's one signal waiter, and the session-manager runner on it.

:func:`wait_for_signal` is the only place that opens a signal receiver; ``run_until_signal``, the webhook
server (``serve_webhook``) and the CLI (``qqbot run``, its console and ``--reload`` supervisor) all wait
through it. It imports nothing from the gateway, so the webhook side can use it without loading the gateway.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from framework.runtime.gateway.sessions.base import SessionManager

__all__ = ["SHUTDOWN_SIGNALS", "run_until_signal", "wait_for_signal"]

log = logging.getLogger(__name__)

#: The signals that ask a bot to stop: Ctrl-C and a supervisor's (systemd, docker, Kubernetes) stop.
SHUTDOWN_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


async def wait_for_signal(
    signals: Sequence[signal.Signals] = SHUTDOWN_SIGNALS, *, announce: bool = True
) -> signal.Signals:
    """Wait until one of ``signals`` arrives and return it; with ``announce``, log ``received SIGTERM: shutting
    down`` at INFO. While waiting, those signals do not interrupt the program (no ``KeyboardInterrupt``).

    Only the main thread can receive signals (anyio's ``open_signal_receiver``); run it in a task next to the
    work and stop the work when it returns.
    """
    with anyio.open_signal_receiver(*signals) as received:
        async for signum in received:
            caught = signal.Signals(signum)
            if announce:
                log.info("received %s: shutting down", caught.name)
            return caught
    raise RuntimeError("the signal receiver ended without a signal")  # pragma: no cover - it never ends


async def run_until_signal(
    manager: SessionManager,
    *,
    signals: Sequence[signal.Signals] = SHUTDOWN_SIGNALS,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run ``manager`` until one of ``signals`` arrives, then stop it gracefully (close shards, drain
    in-flight events within its deadline) and await ``on_shutdown`` (e.g. closing the HTTP client).

    A second signal during shutdown is ignored; the drain deadline bounds the wait.
    """
    try:
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                await wait_for_signal(signals)
                await manager.stop()

            tg.start_soon(watch)
            await manager.run()
            tg.cancel_scope.cancel()
    finally:
        if on_shutdown is not None:
            with anyio.CancelScope(shield=True):
                await on_shutdown()
