"""A watchdog that warns, with the blocking code's stack, when the event loop stops running.

A loop blocked by synchronous code (a slow handler, ``time.sleep``, heavy CPU work) cannot send
heartbeats; longer than the heartbeat interval and the gateway drops the session. The watchdog is a
small task that stamps the time every ``interval`` and a daemon thread that checks the stamp: when it
is older than ``threshold`` the thread logs a warning with the stack of the event-loop thread at that
moment (``sys._current_frames``), once per blocked stretch.

It uses only threads and ``anyio.sleep``, so it behaves the same on asyncio and on trio (on trio the
stack shown is the one of the trio run thread, which is where the blocking code runs). Time here is
real time: blocking is a real-time phenomenon, so no injected clock.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback

import anyio
from anyio.abc import TaskStatus

__all__ = ["LoopWatchdog"]

log = logging.getLogger(__name__)


class LoopWatchdog:
    """Warn when the event loop was blocked for ``threshold`` seconds. Run :meth:`run` in a task group."""

    def __init__(self, threshold: float = 5.0, *, interval: float | None = None) -> None:
        self.threshold = threshold
        self.interval = interval if interval is not None else max(0.01, threshold / 4)
        self.warnings = 0
        self.last_stack: str | None = None
        self._stamp = time.monotonic()
        self._stop = threading.Event()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Stamp the time until cancelled, with the checking thread running alongside."""
        loop_thread = threading.get_ident()
        self._stop.clear()
        self._stamp = time.monotonic()
        thread = threading.Thread(target=self._watch, args=(loop_thread,), name="loop-watchdog", daemon=True)
        thread.start()
        task_status.started()
        try:
            while True:
                self._stamp = time.monotonic()
                await anyio.sleep(self.interval)
        finally:
            self._stop.set()

    def _watch(self, loop_thread: int) -> None:
        warned_for: float | None = None
        while not self._stop.wait(self.interval / 2):
            stamp = self._stamp
            blocked = time.monotonic() - stamp
            if blocked >= self.threshold and warned_for != stamp:
                warned_for = stamp
                frame = sys._current_frames().get(loop_thread)
                stack = "".join(traceback.format_stack(frame)) if frame is not None else "(no stack)"
                self.last_stack = stack
                self.warnings += 1
                log.warning(
                    "event loop blocked for %.2f s (heartbeats are at risk); blocking code:\n%s", blocked, stack
                )
