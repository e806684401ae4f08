"""Graceful shutdown on SIGINT/SIGTERM: stop the session manager, then run the caller's cleanup."""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable, Sequence

import anyio

from framework.runtime.gateway.sessions.base import SessionManager

__all__ = ["run_until_signal"]

log = logging.getLogger(__name__)


async def run_until_signal(
    manager: SessionManager,
    *,
    signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run ``manager`` until one of ``signals`` arrives, then stop it gracefully (close shards, drain
    in-flight events within its deadline) and await ``on_shutdown`` (e.g. closing the HTTP client).

    A second signal during shutdown is ignored; the drain deadline bounds the wait.
    """
    try:
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                with anyio.open_signal_receiver(*signals) as received:
                    async for signum in received:
                        log.info("received %s: shutting down", signal.Signals(signum).name)
                        await manager.stop()
                        return

            tg.start_soon(watch)
            await manager.run()
            tg.cancel_scope.cancel()
    finally:
        if on_shutdown is not None:
            with anyio.CancelScope(shield=True):
                await on_shutdown()
