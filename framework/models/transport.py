"""The WebSocket connection interface shared by the gateway client and the emulator.

The gateway client talks to any object with this shape: a real socket (``framework.runtime.gateway.websocket``)
or an in-memory pipe into an in-process emulator (``framework.testing``). Both raise
:class:`WebSocketClosed` when the peer closes or the connection drops.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from framework.errors import TransportError

__all__ = ["ABNORMAL_CLOSURE", "Connector", "WebSocketClosed", "WebSocketConnection"]

#: Close code reported when the connection dropped without a close frame (RFC 6455 §7.1.5).
ABNORMAL_CLOSURE = 1006


class WebSocketClosed(TransportError):
    """The connection is closed. ``code`` is the peer's close code, or 1006 when it dropped (a lost TCP
    connection, reset, or TLS failure on an open connection: the adapter maps those to this)."""

    def __init__(self, code: int = ABNORMAL_CLOSURE, reason: str = "") -> None:
        super().__init__(f"websocket closed with code {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


class WebSocketConnection(Protocol):
    """One open WebSocket connection (client side)."""

    async def send(self, data: str | bytes) -> None:
        """Send a text frame (``str``) or a binary frame (``bytes``)."""
        ...

    async def receive(self) -> str | bytes:
        """Return the next message; raise :class:`WebSocketClosed` once closed."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with a handshake (idempotent)."""
        ...

    async def abort(self) -> None:
        """Drop the connection at once, without a closing handshake."""
        ...


#: Opens a connection to a ``ws://``/``wss://`` URL.
Connector = Callable[[str], Awaitable[WebSocketConnection]]
