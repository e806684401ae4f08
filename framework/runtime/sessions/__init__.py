"""Deprecated: moved to :mod:`framework.runtime.gateway.sessions`; this name goes in the next release."""

from __future__ import annotations

from framework._deprecated import warn_moved
from framework.runtime.gateway.sessions import LocalSessionManager, SessionManager

__all__ = ["LocalSessionManager", "SessionManager"]

warn_moved(__name__)
