"""What the gateway did, for tests to assert on: sessions, connections, identifies, closes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from framework.emulator.feed import Feed
from framework.emulator.gateway.transport import ServerWebSocket

__all__ = [
    "ConnectionRecord",
    "GatewayRecorder",
    "IdentifyRecord",
    "ReceivedFrame",
    "RecordingWebSocket",
    "SessionRecord",
    "json_shape",
]

RECEIVED_FRAMES_KEPT = 64
"""Client frames kept per connection in :attr:`ConnectionRecord.received` (the first ones)."""


@dataclass
class SessionRecord:
    """One gateway session (created by an identify; resumes keep it)."""

    session_id: str
    app_id: str
    shard: tuple[int, int]
    intents: int
    identified_at: float
    """Emulator clock (``monotonic``) at the identify."""
    resumed_at: list[float] = field(default_factory=list)
    connections: int = 1
    dispatched: int = 0
    """Dispatch frames assigned a sequence number (excluding READY/RESUMED)."""
    replayed: int = 0
    """Frames re-sent by resumes."""
    expired: bool = False


@dataclass
class ConnectionRecord:
    """One WebSocket connection to the gateway."""

    number: int
    opened_at: float
    transport: str
    """``"socket"`` or ``"pipe"``."""
    session_id: str | None = None
    app_id: str | None = None
    shard: tuple[int, int] | None = None
    kind: str | None = None
    """``"identify"``, ``"resume"`` or None (never authenticated)."""
    closed_at: float | None = None
    close_code_sent: int | None = None
    close_reason_sent: str = ""
    client_close_code: int | None = None
    """The client's close code (1006 when it dropped)."""
    dropped: bool = False
    """The emulator dropped the TCP connection without a close frame."""
    ops_sent: list[int] = field(default_factory=list)
    """Non-dispatch opcodes sent (10, 11, 7, 9) in order."""
    heartbeats: int = 0
    last_heartbeat_at: float | None = None
    """Emulator clock (``monotonic``) at the last heartbeat."""
    received: list[ReceivedFrame] = field(default_factory=list)
    """The client's first frames (:data:`RECEIVED_FRAMES_KEPT`): frame type and JSON shape, no values."""


@dataclass
class IdentifyRecord:
    """One identify attempt that passed authentication."""

    app_id: str
    shard: tuple[int, int]
    at: float
    accepted: bool
    reason: str = ""


@dataclass
class GatewayRecorder:
    """Everything the gateway served, in order."""

    sessions: list[SessionRecord] = field(default_factory=list)
    connections: list[ConnectionRecord] = field(default_factory=list)
    identifies: list[IdentifyRecord] = field(default_factory=list)
    max_concurrent_sessions: int = 0
    """The largest number of connections attached to a session at the same time."""

    def close_codes_sent(self) -> list[int]:
        """Every close code the emulator sent, in connection order."""
        return [c.close_code_sent for c in self.connections if c.close_code_sent is not None]

    def identifies_per_window(self, window: float = 5.0, app_id: str | None = None) -> list[int]:
        """Accepted identifies in consecutive windows of ``window`` seconds, from the first identify on.

        With ``window`` 0 (pacing off, see ``GatewaySettings.identify_window``) they all count in one window."""
        times = [i.at for i in self.identifies if i.accepted and (app_id is None or i.app_id == app_id)]
        if not times:
            return []
        if window <= 0:
            return [len(times)]
        start = times[0]
        counts: list[int] = []
        for t in times:
            idx = int((t - start) // window)
            while len(counts) <= idx:
                counts.append(0)
            counts[idx] += 1
        return counts

    def max_identifies_in_any_window(self, window: float = 5.0, app_id: str | None = None) -> int:
        """The most accepted identifies inside any sliding window of ``window`` seconds (all of them for 0)."""
        times = sorted(i.at for i in self.identifies if i.accepted and (app_id is None or i.app_id == app_id))
        if window <= 0:
            return len(times)
        best = 0
        lo = 0
        for hi, t in enumerate(times):
            while t - times[lo] >= window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best


@dataclass
class ReceivedFrame:
    """One frame a client sent: its WebSocket frame type and the shape of its JSON, never its values."""

    frame: str
    """``"text"`` or ``"binary"``."""
    op: int | None
    """The ``op`` field, when the frame is a JSON object with an integer ``op``."""
    shape: Any
    """:func:`json_shape` of the decoded JSON (None when it is not JSON)."""


def json_shape(value: Any) -> Any:
    """Replace every JSON value by its type name (``str``, ``int``, ``float``, ``bool``, ``null``), keeping keys."""
    if isinstance(value, dict):
        return {str(k): json_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_shape(v) for v in value]
    if value is None:
        return "null"
    return type(value).__name__


class RecordingWebSocket:
    """A :class:`ServerWebSocket` that notes each client frame's type and JSON shape in ``record.received``,
    and every frame in and out in ``feed`` (the web page's wire log) when one is given."""

    def __init__(self, ws: ServerWebSocket, record: ConnectionRecord, feed: Feed | None = None) -> None:
        self._ws = ws
        self._record = record
        self._feed = feed

    async def receive(self) -> str | bytes:
        data = await self._ws.receive()
        if self._feed is not None:
            self._feed.frames(self._record.number, "in", (data,))
        if len(self._record.received) < RECEIVED_FRAMES_KEPT:
            try:
                decoded = msgspec.json.decode(data)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                decoded = None
            op = decoded.get("op") if isinstance(decoded, dict) else None
            self._record.received.append(
                ReceivedFrame(
                    "text" if isinstance(data, str) else "binary",
                    op if isinstance(op, int) and not isinstance(op, bool) else None,
                    None if decoded is None else json_shape(decoded),
                )
            )
        return data

    async def send_many(self, frames: Sequence[bytes]) -> None:
        await self._ws.send_many(frames)
        if self._feed is not None:
            self._feed.frames(self._record.number, "out", frames)

    async def close(self, code: int, reason: str = "") -> None:
        await self._ws.close(code, reason)

    async def abort(self) -> None:
        await self._ws.abort()
