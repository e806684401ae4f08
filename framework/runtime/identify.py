"""Deprecated: moved to :mod:`framework.runtime.gateway.identify`; this name goes in the next release."""

from __future__ import annotations

from framework._deprecated import warn_moved
from framework.runtime.gateway.identify import IDENTIFY_WINDOW, IdentifyQueue, IdentifyTicket, SessionStartLimitError

__all__ = ["IDENTIFY_WINDOW", "IdentifyQueue", "IdentifyTicket", "SessionStartLimitError"]

warn_moved(__name__)
