"""A watchdog that warns, with the blocking code's stack, when the event loop stops running.

A loop blocked by synchronous code (a slow handler, ``time.sleep``, heavy CPU work) cannot send
heartbeats; longer than the heartbeat interval and the gateway drops the session. The watchdog is a
small task that stamps the time every ``interval`` and a daemon thread that checks the stamp: when it
is older than ``threshold`` the thread logs a warning with the stack of the event-loop thread at that
moment (``sys._current_frames``), once per blocked stretch.

The warning names the blocking code first: the innermost frame of the stack that is neither the standard
library, an installed package nor the framework itself, i.e. normally the handler that blocks.

The session manager runs one by default (``watchdog_threshold=2.0``). It uses only threads and
``anyio.sleep``, so it behaves the same on asyncio and on trio (on trio the stack shown is the one of the
trio run thread, which is where the blocking code runs). Time here is real time: blocking is a real-time
phenomenon, so no injected clock.
"""

from __future__ import annotations

import logging
import os
import sys
import sysconfig
import threading
import time
import traceback
from types import FrameType

import anyio
from anyio.abc import TaskStatus

__all__ = ["LoopWatchdog", "blocking_frame"]

log = logging.getLogger(__name__)

_FRAMEWORK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIBRARY_DIRS = tuple(
    os.path.abspath(p) + os.sep
    for p in {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    if p
)


def _is_library(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith(_LIBRARY_DIRS) or path.startswith(_FRAMEWORK_DIR + os.sep) or filename.startswith("<")


def blocking_frame(frame: FrameType | None) -> str:
    """``"handler_name (file.py:42)"``: the innermost frame of ``frame``'s stack in application code (not
    the standard library, an installed package or the framework), else the innermost frame."""
    innermost = frame
    while frame is not None:
        code = frame.f_code
        if not _is_library(code.co_filename):
            return f"{code.co_qualname} ({code.co_filename}:{frame.f_lineno})"
        frame = frame.f_back
    if innermost is None:
        return "unknown code"
    code = innermost.f_code
    return f"{code.co_qualname} ({code.co_filename}:{innermost.f_lineno})"


class LoopWatchdog:
    """Warn when the event loop was blocked for ``threshold`` seconds. Run :meth:`run` in a task group."""

    def __init__(self, threshold: float = 5.0, *, interval: float | None = None) -> None:
        self.threshold = threshold
        self.interval = interval if interval is not None else max(0.01, threshold / 4)
        self.warnings = 0
        self.last_stack: str | None = None
        self.last_blocker: str | None = None
        """What :func:`blocking_frame` named in the last warning."""
        self._stamp = time.monotonic()
        self._stop = threading.Event()

    def blocked_for(self) -> float:
        """Seconds since the event loop last stamped the time (about ``interval`` while it is responsive);
        safe to call from another thread (a health probe's)."""
        return time.monotonic() - self._stamp

    @property
    def responsive(self) -> bool:
        """Whether the loop stamped the time within ``threshold`` seconds (readable from any thread)."""
        return self.blocked_for() < self.threshold

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
                blocker = blocking_frame(frame)
                del frame
                self.last_stack = stack
                self.last_blocker = blocker
                self.warnings += 1
                log.warning(
                    "event loop blocked for %.2f s by %s (heartbeats and every other chat wait meanwhile; "
                    "move blocking work to anyio.to_thread.run_sync); stack:\n%s",
                    blocked,
                    blocker,
                    stack,
                )
