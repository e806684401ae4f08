"""The server side of one gateway WebSocket, as the session code sees it.

Two implementations drive the same session code: the loopback socket server (``server.py``, real
WebSocket frames over TCP) and the in-memory pipe (``inprocess.py``). Neither knows about the protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from framework.models.transport import ABNORMAL_CLOSURE

__all__ = ["PeerClosed", "ServerWebSocket"]


class PeerClosed(Exception):
    """The client closed the connection (``code`` from its close frame) or it dropped (1006)."""

    def __init__(self, code: int = ABNORMAL_CLOSURE, reason: str = "") -> None:
        super().__init__(f"client closed with code {code}")
        self.code = code
        self.reason = reason


class ServerWebSocket(Protocol):
    """One accepted WebSocket connection, seen from the emulator."""

    async def receive(self) -> str | bytes:
        """The next message from the client; raises :class:`PeerClosed` once it is gone."""
        ...

    async def send_many(self, frames: Sequence[bytes]) -> None:
        """Send each item as one text frame (UTF-8 JSON), in order."""
        ...

    async def close(self, code: int, reason: str = "") -> None:
        """Send a close frame, wait briefly for the client's answer and close the transport."""
        ...

    async def abort(self) -> None:
        """Drop the transport at once, without a close frame (the client sees 1006)."""
        ...
