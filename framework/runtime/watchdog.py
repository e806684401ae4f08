"""Deprecated: moved to :mod:`framework.runtime.gateway.watchdog`; this name goes in the next release."""

from __future__ import annotations

from framework._deprecated import warn_moved
from framework.runtime.gateway.watchdog import LoopWatchdog, blocking_frame

__all__ = ["LoopWatchdog", "blocking_frame"]

warn_moved(__name__)
