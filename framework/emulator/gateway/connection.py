"""One WebSocket connection to the emulated gateway: the protocol state machine (protocol.md §2).

The code is transport-agnostic: it reads and writes through a :class:`ServerWebSocket`, so the loopback
socket server and the in-memory pipe run exactly the same logic. Frames to the client go through one
unbounded queue drained by a single writer task (batched), so dispatches, ACKs and closes keep their order.

Every client frame is validated as the platform would (protocol.md §0, §2.3, §2.4); a rejected frame closes
the connection with the platform's close code and logs one WARNING saying why:

- 4002 invalid payload: a binary frame (SDKs send JSON text; the live answer is UNCONFIRMED), malformed
  JSON or JSON nested too deeply, not an object, ``op`` not an integer, heartbeat ``d`` neither an integer
  nor null, identify/resume ``d`` not an object or a required field missing or of the wrong type;
- 4001 invalid opcode: an opcode a client never sends;
- 4003 not authenticated: a heartbeat before identify/resume;
- 4004 authentication failed: an identify token without the ``"QQBot "`` prefix, an unknown or expired
  token (resume also takes the bare token, as botgo sends it);
- 4005 already authenticated: identify or resume on an authenticated connection;
- 4010 invalid shard: ``shard`` not ``[i, n]`` with ``0 <= i < n``;
- 4013 invalid intent: ``intents`` zero, negative or with unknown bits;
- 4014 intent not permitted: bits the app is not granted (or op 9, ``disallowed_intent_response``);
- 4006 (``resume_reject_code``) / 4007: resume of an unknown session / a seq ahead of the session.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from framework.emulator.gateway.records import ConnectionRecord
from framework.emulator.gateway.transport import PeerClosed, ServerWebSocket
from framework.emulator.tokens import TOKEN_PREFIX
from framework.models.constants import CloseCode, Opcode
from framework.models.envelope import encode_envelope
from framework.models.intents import ALL_INTENTS

if TYPE_CHECKING:
    from framework.emulator.gateway.hub import GatewayHub
    from framework.emulator.gateway.session import Session

__all__ = ["GatewayConnection"]

_log = logging.getLogger("framework.emulator.gateway")
_decoder = msgspec.json.Decoder()
_CLIENT_OPS = {int(Opcode.HEARTBEAT), int(Opcode.IDENTIFY), int(Opcode.RESUME)}
_HEARTBEAT_ACK = encode_envelope(Opcode.HEARTBEAT_ACK, None).replace(b',"d":null', b"")
_TRANSPORT_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str


@dataclass(frozen=True)
class _Drop:
    pass


_Item = bytes | _Close | _Drop


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class GatewayConnection:
    """Serves one client connection from Hello to close."""

    def __init__(self, hub: GatewayHub, ws: ServerWebSocket, record: ConnectionRecord) -> None:
        self.hub = hub
        self.ws = ws
        self.record = record
        self.session: Session | None = None
        self.closing = False
        self._clock = hub.clock
        self._send, self._recv = anyio.create_memory_object_stream[_Item](math.inf)
        self._read_scope = anyio.CancelScope()
        self._write_scope = anyio.CancelScope()
        self._dropping = False
        self._tg: anyio.abc.TaskGroup | None = None
        self._last_beat = self._clock.monotonic()
        self._frame_times: deque[float] = deque()

    # -- queueing (synchronous: called from the reader, world listeners and fault methods) ----------

    def enqueue(self, frame: bytes) -> None:
        """Queue one text frame for the client (ignored once the connection is closing)."""
        if not self.closing:
            try:
                self._send.send_nowait(frame)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self.closing = True

    def _enqueue_op(self, op: int, d: Any = None, *, omit_d: bool = False) -> None:
        self.record.ops_sent.append(int(op))
        frame = encode_envelope(op, d)
        if omit_d:
            frame = frame.replace(b',"d":null', b"")
        self.enqueue(frame)

    def request_close(self, code: int, reason: str = "", *, before_op: int | None = None, d: Any = None) -> None:
        """Close with ``code`` after the frames already queued (optionally after sending op ``before_op``)."""
        if self.closing:
            return
        if before_op is not None:
            self._enqueue_op(before_op, d)
        self.closing = True
        self._put(_Close(int(code), reason))

    def request_drop(self) -> None:
        """Drop the transport now, without a close frame: queued frames (even a pending close) are discarded."""
        if self._dropping:
            return
        self.closing = True
        self._dropping = True
        if self._tg is None:
            self._put(_Drop())
            return
        self._write_scope.cancel()
        self._read_scope.cancel()
        try:
            self._tg.start_soon(self._abort_now)
        except RuntimeError:  # the connection's task group is already closing: nothing left to drop
            self._cancel_all()

    async def _abort_now(self) -> None:
        self.record.dropped = True
        try:
            await self.ws.abort()
        finally:
            self._cancel_all()

    def _put(self, item: _Item) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._send.send_nowait(item)

    # -- tasks ------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until the connection ends (never raises for protocol or transport errors)."""
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                if self.hub.hello_overrides:  # fault: a malformed Hello, sent as given
                    self.record.ops_sent.append(int(Opcode.HELLO))
                    self.enqueue(self.hub.hello_overrides.pop(0))
                else:
                    self._enqueue_op(Opcode.HELLO, {"heartbeat_interval": self.hub.config.heartbeat_interval_ms})
                tg.start_soon(self._write_loop)
                tg.start_soon(self._read_loop)
                timeout = self.hub.settings.heartbeat_timeout(self.hub.config.heartbeat_interval_ms, self._clock)
                if timeout is not None:
                    tg.start_soon(self._heartbeat_watchdog, timeout)
        finally:
            self.closing = True
            self.record.closed_at = self._clock.monotonic()
            self._send.close()
            self._recv.close()
            self.hub._connection_ended(self)

    def _cancel_all(self) -> None:
        if self._tg is not None:
            self._tg.cancel_scope.cancel()

    async def _read_loop(self) -> None:
        with self._read_scope:
            try:
                while not self.closing:
                    data = await self.ws.receive()
                    self._handle(data)
            except PeerClosed as exc:
                self.record.client_close_code = exc.code
                self._cancel_all()
            except _TRANSPORT_ERRORS:
                self.record.client_close_code = 1006
                self._cancel_all()

    async def _write_loop(self) -> None:
        try:
            with self._write_scope:
                await self._write_frames()
        except (PeerClosed, *_TRANSPORT_ERRORS):
            pass
        finally:
            if not self._dropping:  # a drop ends the connection itself (``_abort_now``)
                self._cancel_all()

    async def _write_frames(self) -> None:
        async for first in self._recv:
            item: _Item | None = first
            if isinstance(item, bytes):
                batch = [item]
                item = None
                while len(batch) < 256:
                    try:
                        nxt = self._recv.receive_nowait()
                    except anyio.WouldBlock:
                        break
                    if isinstance(nxt, bytes):
                        batch.append(nxt)
                    else:
                        item = nxt
                        break
                await self.ws.send_many(batch)
            if isinstance(item, _Close):
                self.record.close_code_sent = int(item.code)
                self.record.close_reason_sent = item.reason
                self._read_scope.cancel()
                await self.ws.close(item.code, item.reason)
                return
            if isinstance(item, _Drop):
                self.record.dropped = True
                self._read_scope.cancel()
                await self.ws.abort()
                return

    async def _heartbeat_watchdog(self, silence: float) -> None:
        while not self.closing:
            remaining = self._last_beat + silence - self._clock.monotonic()
            if remaining <= 0:
                self._reject(CloseCode.SESSION_TIMED_OUT, f"heartbeat timeout: no heartbeat for {silence:g} s")
                return
            await self._clock.sleep(remaining)

    async def _reconnect_timer(self, every: float) -> None:
        await self._clock.sleep(every)
        self.request_close(CloseCode.SESSION_TIMED_OUT, "Session timed out", before_op=Opcode.RECONNECT)

    # -- protocol ---------------------------------------------------------------------------------

    def _reject(self, code: int, reason: str) -> None:
        """Close with the platform's ``code`` for a frame it would refuse, and log why (one WARNING)."""
        if self.closing:
            return
        _log.warning("gateway connection #%d: closing with %d: %s", self.record.number, code, reason)
        self.request_close(code, reason)

    def _handle(self, data: str | bytes) -> None:
        now = self._clock.monotonic()
        if not isinstance(data, str):
            # Every SDK sends text frames; the live gateway's answer to a binary frame is UNCONFIRMED.
            self._reject(CloseCode.INVALID_PAYLOAD, "invalid payload: binary frame (send JSON as a text frame)")
            return
        limit = self.hub.settings.client_rate_limit
        if limit is not None:
            count, window = limit
            times = self._frame_times
            times.append(now)
            while times and now - times[0] >= window:
                times.popleft()
            if len(times) > count:
                self._reject(CloseCode.RATE_LIMITED, f"payloads sent too fast: more than {count} in {window:g} s")
                return
        try:
            msg = _decoder.decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError):
            self._reject(CloseCode.INVALID_PAYLOAD, "invalid payload: malformed JSON")
            return
        except RecursionError:
            self._reject(CloseCode.INVALID_PAYLOAD, "invalid payload: JSON nested too deeply")
            return
        if not isinstance(msg, dict) or not _is_int(msg.get("op")):
            self._reject(CloseCode.INVALID_PAYLOAD, "invalid payload: expected an object with an integer op")
            return
        op: int = msg["op"]
        d = msg.get("d")
        if op not in _CLIENT_OPS:
            self._reject(CloseCode.INVALID_OPCODE, f"invalid opcode {op} (a client sends 1, 2 or 6)")
        elif op == Opcode.HEARTBEAT:
            self._on_heartbeat(d, now)
        elif self.session is not None:
            self._reject(CloseCode.ALREADY_AUTHENTICATED, f"already authenticated (op {op} sent twice)")
        elif op == Opcode.IDENTIFY:
            self._on_identify(d)
        else:
            self._on_resume(d)

    def _on_heartbeat(self, d: Any, now: float) -> None:
        if d is not None and not _is_int(d):
            self._reject(CloseCode.INVALID_PAYLOAD, f"invalid heartbeat: d must be the last seq or null, not {d!r}")
            return
        if self.session is None:
            self._reject(CloseCode.NOT_AUTHENTICATED, "not authenticated: heartbeat before identify/resume")
            return
        self._last_beat = now
        self.record.heartbeats += 1
        self.record.last_heartbeat_at = now
        if not self.hub._acks_paused_for(self):
            self.record.ops_sent.append(int(Opcode.HEARTBEAT_ACK))
            self.enqueue(_HEARTBEAT_ACK)

    def _invalid_session(self, reason: str) -> None:
        """op 9 ``d: false`` then close 4006 (the close code after op 9 is UNCONFIRMED)."""
        self.request_close(CloseCode.INVALID_SESSION, reason, before_op=Opcode.INVALID_SESSION, d=False)

    def _on_identify(self, d: Any) -> None:
        if not isinstance(d, dict):
            self._reject(CloseCode.INVALID_PAYLOAD, "invalid identify: d must be an object")
            return
        token = d.get("token")
        if not isinstance(token, str):
            self._reject(CloseCode.INVALID_PAYLOAD, "invalid identify: token (a string) is required")
            return
        if not _is_int(d.get("intents")):
            self._reject(CloseCode.INVALID_PAYLOAD, "invalid identify: intents (an integer) is required")
            return
        if not token.startswith(TOKEN_PREFIX):
            self._reject(CloseCode.AUTHENTICATION_FAILED, 'authentication failed: token must be "QQBot <access_token>"')
            return
        app_id = self.hub.tokens.validate(token)
        if app_id is None:
            self._reject(CloseCode.AUTHENTICATION_FAILED, "authentication failed: unknown or expired access token")
            return
        # ``shard`` is sent by every SDK; whether the platform requires it is UNCONFIRMED: absent means [0, 1].
        shard = d.get("shard", [0, 1])
        if (
            not isinstance(shard, list)
            or len(shard) != 2
            or not all(_is_int(x) for x in shard)
            or shard[1] < 1
            or not 0 <= shard[0] < shard[1]
        ):
            self._reject(CloseCode.INVALID_SHARD, f"invalid shard {shard!r}: expected [shard_id, shard_count]")
            return
        intents: int = d["intents"]
        if intents <= 0 or intents & ~ALL_INTENTS:
            self._reject(CloseCode.INVALID_INTENT, f"invalid intent {intents}: zero, negative or unknown bits")
            return
        allowed = self.hub.config.intents_allowed(app_id)
        if allowed is not None and intents & ~allowed:
            reason = f"intent not permitted: {intents & ~allowed} is not granted to app {app_id}"
            if self.hub.settings.disallowed_intent_response == "op9":
                _log.warning("gateway connection #%d: op 9: %s", self.record.number, reason)
                self._invalid_session(reason)
            else:
                self._reject(CloseCode.DISALLOWED_INTENT, reason)
            return
        shard_pair = (shard[0], shard[1])
        refusal = self.hub._take_identify(app_id, shard_pair)
        if refusal is not None:
            if self.hub.settings.identify_refusal == "op9":
                self._invalid_session(refusal)
            else:
                self.request_close(CloseCode.RATE_LIMITED, refusal)
            return
        session = self.hub._new_session(app_id, shard_pair, intents)
        self._attach(session, "identify")
        config = self.hub.config
        ready = {
            "version": self.hub.settings.gateway_version,
            "session_id": session.session_id,
            "user": {"id": config.bot_id, "username": config.bot_username, "bot": True},
            "shard": [session.shard_id, session.shard_count],
        }
        self.enqueue(encode_envelope(Opcode.DISPATCH, ready, s=session.next_seq(), t="READY"))
        self._start_reconnect_timer()

    def _on_resume(self, d: Any) -> None:
        if (
            not isinstance(d, dict)
            or not isinstance(d.get("token"), str)
            or not isinstance(d.get("session_id"), str)
            or not _is_int(d.get("seq"))
        ):
            self._reject(CloseCode.INVALID_PAYLOAD, "invalid resume: d must be {token: str, session_id: str, seq: int}")
            return
        # botgo resumes with the bare token, botpy/nonebot with "QQBot <token>": both are accepted
        app_id = self.hub.tokens.validate(d["token"])
        if app_id is None:
            self._reject(CloseCode.AUTHENTICATION_FAILED, "authentication failed: unknown or expired access token")
            return
        reject = self.hub.settings.resume_reject_code
        session = self.hub.sessions.get(d["session_id"])
        if session is None or session.app_id != app_id:
            self._reject(reject, "invalid session id, cannot resume")
            return
        seq: int = d["seq"]
        if seq < 0 or seq > session.seq:
            self._reject(CloseCode.INVALID_SEQ, f"seq error: {seq} is not in [0, {session.seq}]")
            return
        frames = session.frames_after(seq)
        if frames is None:
            self._reject(reject, "events after seq are no longer buffered")
            return
        old = session.connection
        if old is not None and old is not self:
            session.connection = None
            old.session = None
            old.request_close(CloseCode.SESSION_TIMED_OUT, "session resumed on another connection")
        self._attach(session, "resume")
        session.record.resumed_at.append(self._clock.monotonic())
        session.record.connections += 1
        session.record.replayed += len(frames)
        for frame in frames:
            self.enqueue(frame)
        self.enqueue(encode_envelope(Opcode.DISPATCH, "", s=session.next_seq(), t="RESUMED"))
        self._start_reconnect_timer()

    def _attach(self, session: Session, kind: str) -> None:
        self.session = session
        session.connection = self
        self._last_beat = self._clock.monotonic()
        self.record.session_id = session.session_id
        self.record.app_id = session.app_id
        self.record.shard = (session.shard_id, session.shard_count)
        self.record.kind = kind
        self.hub._session_attached()

    def _start_reconnect_timer(self) -> None:
        every = self.hub.config.reconnect_every
        if every is not None and self._tg is not None:
            self._tg.start_soon(self._reconnect_timer, every)

    def __repr__(self) -> str:
        return f"GatewayConnection(#{self.record.number}, session={self.session!r}, closing={self.closing})"
