"""Deprecated: moved to :mod:`framework.runtime.gateway.websocket`; this name goes in the next release."""

from __future__ import annotations

from framework._deprecated import warn_moved
from framework.runtime.gateway.websocket import DEFAULT_CONNECTOR, WebSocket, WebSocketHandshakeError, connect

__all__ = ["DEFAULT_CONNECTOR", "WebSocket", "WebSocketHandshakeError", "connect"]

warn_moved(__name__)
