"""The emulated gateway: sessions, event routing, identify limits, faults and recording (protocol.md §2, §8.3).

Routing: a guild event goes to the shard ``(int(guild_id) >> 22) % shard_count`` of each session; events
without a (numeric) guild id — group and C2C events — go to shard 0 (UNCONFIRMED on the platform). A session
only receives event types whose intent it identified with (``framework.models.EVENT_TABLE``); types not in
the table are delivered to every session. Every app's sessions receive every event (the world does not
address events to one app).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable
from typing import Any

import msgspec

from framework.clock import Clock
from framework.emulator.config import EmulatorConfig
from framework.emulator.gateway.connection import GatewayConnection
from framework.emulator.gateway.records import (
    ConnectionRecord,
    GatewayRecorder,
    IdentifyRecord,
    RecordingWebSocket,
    SessionRecord,
)
from framework.emulator.gateway.session import Session
from framework.emulator.gateway.settings import GatewaySettings
from framework.emulator.gateway.transport import ServerWebSocket
from framework.emulator.tokens import TokenService
from framework.emulator.world import EmittedEvent, World
from framework.models.constants import CloseCode, Opcode
from framework.models.event_table import EVENT_TABLE

__all__ = ["GatewayHub", "shard_for"]

_encoder = msgspec.json.Encoder()


def shard_for(guild_id: str | None, shard_count: int) -> int:
    """``(guild_id >> 22) % shard_count`` (protocol.md §2.5); shard 0 without a numeric guild id."""
    if guild_id is None or shard_count <= 1:
        return 0
    try:
        return (int(guild_id) >> 22) % shard_count
    except ValueError:
        return 0


class GatewayHub:
    """Owns every gateway session and connection; serve a connection with :meth:`handle`.

    Fault methods take ``shard`` (None = every shard) and ``app_id`` (None = every app) and act on the
    live connections that match.
    """

    def __init__(
        self,
        config: EmulatorConfig,
        clock: Clock,
        world: World,
        tokens: TokenService,
        settings: GatewaySettings | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.world = world
        self.tokens = tokens
        self.settings = settings or GatewaySettings()
        self.sessions: dict[str, Session] = {}
        self.connections: list[GatewayConnection] = []
        self.recorder = GatewayRecorder()
        self._numbers = itertools.count(1)
        self._event_ids = itertools.count(1)
        self._paused_acks: list[tuple[str | None, int | None]] = []
        self.hello_overrides: list[bytes] = []
        """Fault: raw frames sent instead of the Hello to the next connections, one each (malformed-Hello tests)."""
        world.add_listener(self._on_event)

    # -- serving ----------------------------------------------------------------------------------

    async def handle(self, ws: ServerWebSocket, *, transport: str = "socket") -> None:
        """Serve one accepted WebSocket until it closes. The caller closes the transport afterwards."""
        record = ConnectionRecord(number=next(self._numbers), opened_at=self.clock.monotonic(), transport=transport)
        self.recorder.connections.append(record)
        feed = self.world.feed
        conn = GatewayConnection(self, RecordingWebSocket(ws, record, feed), record)
        self.connections.append(conn)
        feed.connection("open", record.number, transport=transport)
        try:
            await conn.run()
        finally:
            feed.connection(
                "close",
                record.number,
                session_id=record.session_id,
                shard=record.shard,
                code_sent=record.close_code_sent,
                reason_sent=record.close_reason_sent,
                client_code=record.client_close_code,
                dropped=record.dropped,
            )

    def _connection_ended(self, conn: GatewayConnection) -> None:
        if conn in self.connections:
            self.connections.remove(conn)
        session = conn.session
        if session is not None and session.connection is conn:
            session.connection = None
        conn.session = None

    def _session_attached(self) -> None:
        live = sum(1 for c in self.connections if c.session is not None and not c.closing)
        self.recorder.max_concurrent_sessions = max(self.recorder.max_concurrent_sessions, live)

    def _take_identify(self, app_id: str, shard: tuple[int, int]) -> str | None:
        """Count one identify against ``session_start_limit``; the refusal reason, or None if allowed."""
        now = self.clock.monotonic()
        limit = self.world.session_limit
        window = self.settings.identify_window
        recent = sum(1 for i in self.recorder.identifies if i.accepted and i.app_id == app_id and now - i.at < window)
        reason = ""
        if recent >= max(1, limit.max_concurrency):
            reason = f"too many identifies: max_concurrency {limit.max_concurrency} per {window:g}s"
        elif not limit.consume():
            reason = "session_start_limit exhausted"
        self.recorder.identifies.append(IdentifyRecord(app_id, shard, now, accepted=not reason, reason=reason))
        return reason or None

    def _new_session(self, app_id: str, shard: tuple[int, int], intents: int) -> Session:
        # a disconnected session of the same shard is superseded by the new identify
        for old in [s for s in self.sessions.values() if s.app_id == app_id and (s.shard_id, s.shard_count) == shard]:
            if old.connection is None:
                del self.sessions[old.session_id]
        record = SessionRecord(str(uuid.uuid4()), app_id, shard, intents, identified_at=self.clock.monotonic())
        self.recorder.sessions.append(record)
        session = Session(record, self.settings.replay_buffer)
        self.sessions[session.session_id] = session
        return session

    def _acks_paused_for(self, conn: GatewayConnection) -> bool:
        session = conn.session
        if session is None:
            return False
        return any(
            (app is None or app == session.app_id) and (shard is None or shard == session.shard_id)
            for app, shard in self._paused_acks
        )

    # -- events -----------------------------------------------------------------------------------

    def _on_event(self, event: EmittedEvent) -> None:
        self.dispatch(event.type, event.d, event_id=event.id, guild_id=event.guild_id)

    def _targets(self, event_type: str, guild_id: str | None, app_id: str | None = None) -> list[Session]:
        spec = EVENT_TABLE.get(event_type)
        need = int(spec.intent) if spec is not None else 0
        return [
            s
            for s in self.sessions.values()
            if (app_id is None or s.app_id == app_id)
            and (need == 0 or s.intents & need)
            and s.shard_id == shard_for(guild_id, s.shard_count)
        ]

    def dispatch(self, event_type: str, d: Any, *, event_id: str | None = None, guild_id: str | None = None) -> int:
        """Send one event to every session it is routed to; returns how many sessions got it."""
        raw = d if isinstance(d, msgspec.Raw) else msgspec.Raw(_encoder.encode(d))
        if event_id is None:
            event_id = f"{event_type}:emu{next(self._event_ids)}"
        targets = self._targets(event_type, guild_id)
        for session in targets:
            session.dispatch(event_type, event_id, raw)
        return len(targets)

    def push_many(
        self,
        event_type: str,
        payloads: Iterable[Any],
        *,
        guild_id: str | None = None,
        app_id: str | None = None,
    ) -> int:
        """Bulk push for benchmarks: each payload (dict, or pre-encoded JSON ``bytes``/``msgspec.Raw``)
        becomes one dispatch to the routed sessions. Bypasses the world; returns frames queued."""
        targets = self._targets(event_type, guild_id, app_id)
        sent = 0
        prefix = f"{event_type}:bulk"
        for payload in payloads:
            if isinstance(payload, msgspec.Raw):
                raw = payload
            elif isinstance(payload, bytes | bytearray):
                raw = msgspec.Raw(bytes(payload))
            else:
                raw = msgspec.Raw(_encoder.encode(payload))
            event_id = f"{prefix}{next(self._event_ids)}"
            for session in targets:
                session.dispatch(event_type, event_id, raw)
            sent += len(targets)
        return sent

    # -- faults -----------------------------------------------------------------------------------

    def _select(self, shard: int | None, app_id: str | None) -> list[GatewayConnection]:
        out = []
        for conn in list(self.connections):
            session = conn.session
            if (shard is None and app_id is None) or (
                session is not None
                and (shard is None or session.shard_id == shard)
                and (app_id is None or session.app_id == app_id)
            ):
                out.append(conn)
        return out

    def drop(self, shard: int | None = None, *, app_id: str | None = None) -> int:
        """Fault: drop the TCP connection(s) without a close frame (clients see 1006); sessions stay resumable."""
        conns = self._select(shard, app_id)
        for conn in conns:
            conn.request_drop()
        return len(conns)

    def reconnect(self, shard: int | None = None, *, app_id: str | None = None) -> int:
        """Fault: send op 7 Reconnect, then close 4009 (the observed production sequence)."""
        conns = self._select(shard, app_id)
        for conn in conns:
            conn.request_close(CloseCode.SESSION_TIMED_OUT, "Session timed out", before_op=Opcode.RECONNECT)
        return len(conns)

    def invalid_session(self, shard: int | None = None, *, app_id: str | None = None, resumable: bool = False) -> int:
        """Fault: send op 9 (``d`` = ``resumable``) then close: 4009 if resumable, else forget the session and 4006."""
        conns = self._select(shard, app_id)
        for conn in conns:
            if not resumable and conn.session is not None:
                self._forget(conn.session)
            code = CloseCode.SESSION_TIMED_OUT if resumable else CloseCode.INVALID_SESSION
            conn.request_close(code, "invalid session", before_op=Opcode.INVALID_SESSION, d=resumable)
        return len(conns)

    def close(self, code: int, reason: str = "", shard: int | None = None, *, app_id: str | None = None) -> int:
        """Fault: close the connection(s) with ``code`` (any code, e.g. 4900 or 4914)."""
        conns = self._select(shard, app_id)
        for conn in conns:
            conn.request_close(code, reason)
        return len(conns)

    def send_raw(self, frame: bytes, shard: int | None = None, *, app_id: str | None = None) -> int:
        """Fault: send ``frame`` as-is as one text frame (no seq, not replayed), for malformed-frame tests."""
        conns = self._select(shard, app_id)
        for conn in conns:
            conn.enqueue(frame)
        return len(conns)

    def pause_heartbeat_acks(self, shard: int | None = None, *, app_id: str | None = None) -> None:
        """Fault: stop answering heartbeats with op 11 (for matching sessions, now and later)."""
        self._paused_acks.append((app_id, shard))

    def resume_heartbeat_acks(self) -> None:
        """Undo every :meth:`pause_heartbeat_acks`."""
        self._paused_acks.clear()

    def expire_session(self, shard: int | None = None, *, app_id: str | None = None) -> int:
        """Fault: forget the session(s) (a later resume is refused with ``resume_reject_code``) and close
        their connections with 4009, so the client tries to resume and must fall back to identify."""
        sessions = [
            s
            for s in list(self.sessions.values())
            if (shard is None or s.shard_id == shard) and (app_id is None or s.app_id == app_id)
        ]
        for session in sessions:
            conn = session.connection
            self._forget(session)
            if conn is not None:
                conn.request_close(CloseCode.SESSION_TIMED_OUT, "Session timed out")
        return len(sessions)

    def _forget(self, session: Session) -> None:
        self.sessions.pop(session.session_id, None)
        session.record.expired = True

    # -- inspection -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view of sessions, connections and identifies (served by the control API)."""
        rec = self.recorder
        return {
            "sessions": [msgspec.to_builtins(s) for s in rec.sessions],
            "connections": [msgspec.to_builtins(c) for c in rec.connections],
            "identifies": [msgspec.to_builtins(i) for i in rec.identifies],
            "identifies_per_window": rec.identifies_per_window(self.settings.identify_window),
            "max_concurrent_sessions": rec.max_concurrent_sessions,
            "close_codes_sent": rec.close_codes_sent(),
            "live_connections": len(self.connections),
            "now": self.clock.monotonic(),
        }

    def __repr__(self) -> str:
        return f"GatewayHub(sessions={len(self.sessions)}, connections={len(self.connections)})"
