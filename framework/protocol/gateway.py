"""The gateway client as a sans-IO state machine (protocol.md §2).

:class:`GatewayMachine` does no I/O and never reads a clock: the runtime feeds it connection events
(:meth:`~GatewayMachine.connection_opened`, :meth:`~GatewayMachine.connection_closed`,
:meth:`~GatewayMachine.connect_failed`), received frames (:meth:`~GatewayMachine.receive`) and the
passage of time (:meth:`~GatewayMachine.tick`, with :meth:`~GatewayMachine.next_deadline` telling when
to call it next). :meth:`~GatewayMachine.feed` is the hot path for the commonest frame, an ordinary
dispatch while READY: it returns the :class:`~framework.models.envelope.InboundEvent` itself, or ``None``
for any other frame, which then goes to :meth:`~GatewayMachine.receive`. Each other call returns a list
of actions:

- :class:`SendFrame`: write this JSON text to the socket as a WebSocket *text* frame (opcode 0x1), as
  every official SDK does (protocol.md §0);
- :class:`DispatchEvent`: hand this event to the sink;
- :class:`Authenticate`: fetch a fresh token (and, for identify, an identify-queue slot), then call
  :meth:`~GatewayMachine.identify` or :meth:`~GatewayMachine.resume`;
- :class:`Connected`: READY or RESUMED arrived; user sends may proceed;
- :class:`Reconnect`: close (or abort) this connection, wait ``delay`` seconds, connect again;
- :class:`Stop`: give up with a :class:`GatewayFatalError`.

Invariants (property-tested): no input makes it raise; it never sends Resume without a session id;
it sends at most one Identify or Resume per connection.
"""

from __future__ import annotations

import enum
import logging
import random
import sys
from dataclasses import dataclass, field
from typing import Any

import msgspec

from framework.errors import QQBotError
from framework.models.constants import CloseCode, Opcode
from framework.models.envelope import Envelope, InboundEvent, decode_envelope, encode_envelope
from framework.protocol.backoff import Backoff, BackoffCounter
from framework.protocol.close_codes import MAX_PROTOCOL_ERRORS, CloseAction, decide_close

__all__ = [
    "CLIENT_RECONNECT_CLOSE_CODE",
    "Action",
    "Authenticate",
    "Connected",
    "DispatchEvent",
    "GatewayConfig",
    "GatewayFatalError",
    "GatewayMachine",
    "Reconnect",
    "SendFrame",
    "ShardState",
    "Stop",
]

log = logging.getLogger(__name__)

#: Close codes with which the client's own WebSocket layer fails a connection over a frame it cannot read
#: (1007 invalid UTF-8, 1009 larger than the size limit): a resume would replay that frame.
_UNREADABLE_FRAME_CODES = (1007, 1009)

#: Close code the client uses when it drops a connection it wants to resume (not 1000, which
#: conventionally ends the session).
CLIENT_RECONNECT_CLOSE_CODE = 4000


class ShardState(enum.Enum):
    """Where one shard's connection stands."""

    DISCONNECTED = "disconnected"
    WAITING_HELLO = "waiting_hello"
    AUTHENTICATING = "authenticating"
    """Hello received; waiting for a token / identify slot."""
    IDENTIFYING = "identifying"
    RESUMING = "resuming"
    READY = "ready"
    STOPPED = "stopped"


class GatewayFatalError(QQBotError):
    """Reconnecting cannot help (bad shard, intents, banned bot, repeated auth failure, ...)."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message if code is None else f"gateway closed with {code}: {message}")
        self.code = code


@dataclass(frozen=True, slots=True)
class SendFrame:
    """Write ``data`` (JSON text) to the socket as a text frame. Identify and Resume carry the token: ``repr``
    hides them."""

    data: str
    op: int

    def __repr__(self) -> str:
        if self.op in (Opcode.IDENTIFY, Opcode.RESUME):
            return f"SendFrame(data=<{len(self.data)} chars with the token, hidden>, op={self.op})"
        return f"SendFrame(data={self.data!r}, op={self.op})"


@dataclass(frozen=True, slots=True)
class DispatchEvent:
    """Deliver ``event`` to the event sink."""

    event: InboundEvent


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Fetch a fresh token, then call ``identify`` (taking an identify slot) or ``resume``."""

    resume: bool


@dataclass(frozen=True, slots=True)
class Connected:
    """READY (``resumed=False``) or RESUMED arrived."""

    resumed: bool
    session_id: str | None


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Close this connection (``abort``: without a handshake), sleep ``delay``, connect again."""

    resume: bool
    delay: float
    reason: str
    close_code: int | None = None
    """The server's close code, when the server closed."""
    abort: bool = False
    refresh_token: bool = False
    """Invalidate the cached access token before the next identify."""
    dropped_intents: int = 0
    """Optional intents the platform refused at identify; the next identify goes without them."""


@dataclass(frozen=True, slots=True)
class Stop:
    """Give up: raise ``error``."""

    error: GatewayFatalError


Action = SendFrame | DispatchEvent | Authenticate | Connected | Reconnect | Stop


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Timeouts and backoff of one shard (seconds)."""

    hello_timeout: float = 20.0
    ready_timeout: float = 30.0
    """From sending Identify/Resume to READY/RESUMED (a resume replay may take a while)."""
    first_heartbeat_jitter: bool = True
    """First beat at ``interval * random()`` after Identify/Resume, so that shards do not beat in step.
    Heartbeats start only once Identify/Resume is sent (a beat before it may be refused with 4003)."""
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    """Reconnect delays grow only across consecutive failed attempts: a session that proved healthy (READY
    or RESUMED, then a heartbeat ACK) resets them, and the next fault reconnects at once, after a jitter of
    at most ``backoff_base / 2``. A connection that fails before that keeps backing off."""
    zombie_grace: float = 1.0
    """When a heartbeat is due and the last one is still unacknowledged, wait this much longer (at most a
    quarter interval) for the reader to catch up before declaring a zombie: after an event-loop stall the
    ACK may sit unread in the socket."""
    max_identify_rejections: int = 3
    """Op 9 in answer to Identify this many times in a row stops the shard (intents not permitted)."""
    properties: dict[str, str] = field(
        default_factory=lambda: {"$os": sys.platform, "$browser": "qqbot-framework", "$device": "qqbot-framework"}
    )


class _Hello(msgspec.Struct):
    heartbeat_interval: int | float


class _Ready(msgspec.Struct):
    session_id: str | None = None


_hello_decoder = msgspec.json.Decoder(_Hello)
_ready_decoder = msgspec.json.Decoder(_Ready)
_envelope_decoder = msgspec.json.Decoder(Envelope)
_READY = ShardState.READY
_ACTIVE = (ShardState.AUTHENTICATING, ShardState.IDENTIFYING, ShardState.RESUMING, ShardState.READY)


class GatewayMachine:
    """One shard's gateway protocol state (see the module docstring for the action protocol)."""

    def __init__(
        self,
        shard_id: int = 0,
        shard_count: int = 1,
        intents: int = 0,
        *,
        optional_intents: int = 0,
        config: GatewayConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.shard_id = shard_id
        self.shard_count = shard_count
        self.optional_intents = int(optional_intents)
        """Intents asked for but not needed: when the platform refuses an identify over intents (op 9 before
        READY, close 4013/4014), they are dropped and identify is tried once more without them."""
        self.intents = int(intents) | self.optional_intents
        """The intents the next Identify asks for."""
        self.config = config or GatewayConfig()
        self._rng = rng or random.Random()
        self.backoff = BackoffCounter(
            Backoff(base=self.config.backoff_base, factor=2.0, cap=self.config.backoff_cap, jitter=0.5),
            self._rng.random,
        )
        self.state = ShardState.DISCONNECTED
        self.session_id: str | None = None
        self.seq: int | None = None
        self.latency: float | None = None
        """Round-trip time of the last acknowledged heartbeat, in seconds."""
        self.reconnects = 0
        self.malformed_frames = 0
        """Frames ignored because they could not be understood (each kind is logged once at WARNING)."""
        self.malformed_kinds: dict[str, int] = {}
        """How many malformed frames of each kind were ignored."""
        self.skipped_frames = 0
        """Frames skipped on resume because the connection failed on them twice at the same seq."""
        self._unreadable_at: int | None = None
        """The seq after which the last connection failed on an unreadable frame (1007/1009)."""
        self.last_close_code: int | None = None
        self.last_reason: str | None = None
        self._auth_failures = 0
        self._protocol_errors = 0
        self._identify_rejections = 0
        self._healthy = False
        """READY/RESUMED then an ACK since the last backoff delay: the next one is only a small jitter."""
        self._new_connection(0.0)

    def _new_connection(self, now: float) -> None:
        self._auth_sent = False
        self._interval: float | None = None
        self._next_beat = 0.0
        self._awaiting_ack = False
        self._beat_sent_at = 0.0
        self._zombie_check_at: float | None = None
        self._hello_deadline = now + self.config.hello_timeout
        self._ready_deadline = 0.0

    # -- connection events -------------------------------------------------------------------

    def connection_opened(self, now: float) -> list[Action]:
        """A new WebSocket connection is open; wait for Hello."""
        if self.state is ShardState.STOPPED:
            return []
        self._new_connection(now)
        self.state = ShardState.WAITING_HELLO
        return []

    def connect_failed(self, now: float, reason: str = "connect failed") -> list[Action]:
        """Opening a connection failed (DNS, TCP, TLS, handshake or timeout): back off and retry."""
        if self.state is ShardState.STOPPED:
            return []
        return self._reconnect(now, resume=True, backoff=True, reason=reason)

    def connection_closed(self, code: int, reason: str, now: float) -> list[Action]:
        """The connection closed with ``code`` (1006 when it dropped). Decide per the close-code table."""
        if self.state in (ShardState.DISCONNECTED, ShardState.STOPPED):
            return []  # already decided (we closed it), or stopped
        decision = decide_close(code)
        detail = f"{decision.reason}" + (f" ({reason})" if reason else "")
        if code in _UNREADABLE_FRAME_CODES and self.state in (ShardState.READY, ShardState.RESUMING):
            self._on_unreadable_frame(code, detail)
        if code in (CloseCode.INVALID_INTENT, CloseCode.DISALLOWED_INTENT) and self._can_drop_optional():
            return self._drop_optional(now, f"identify refused with {code}: {detail}", close_code=code)
        if decision.action is CloseAction.STOP:
            return self._stop(decision.reason, now, code=code)
        if code in (CloseCode.INVALID_OPCODE, CloseCode.INVALID_PAYLOAD):
            self._protocol_errors += 1
            if self._protocol_errors >= MAX_PROTOCOL_ERRORS:
                return self._stop(f"{decision.reason} {self._protocol_errors} times in a row", now, code=code)
        if decision.refresh_token:
            self._auth_failures += 1
            if self._auth_failures >= 2:
                return self._stop("authentication failed again with a freshly fetched token", now, code=code)
        return self._reconnect(
            now,
            resume=decision.action is CloseAction.RESUME,
            backoff=decision.backoff,
            reason=detail,
            close_code=code,
            refresh_token=decision.refresh_token,
        )

    # -- authentication (after Authenticate) -------------------------------------------------

    def identify(self, token: str, now: float) -> list[Action]:
        """Send Identify with a freshly fetched access token (at most once per connection)."""
        if self.state is not ShardState.AUTHENTICATING or self._auth_sent:
            return []
        self._auth_sent = True
        self.session_id = None
        self.seq = None
        self.state = ShardState.IDENTIFYING
        self._ready_deadline = now + self.config.ready_timeout
        self._schedule_first_beat(now)
        payload = {
            "token": _authorization(token),
            "intents": self.intents,
            "shard": [self.shard_id, self.shard_count],
            "properties": self.config.properties,
        }
        return [_send(Opcode.IDENTIFY, payload)]

    def _on_unreadable_frame(self, code: int, detail: str) -> None:
        """The connection failed on a frame it could not read. A resume replays it: the second time at the
        same seq, skip past it (the next dispatch after ``seq``), so that it cannot cause a reconnect loop."""
        seq = self.seq
        if seq is None or self._unreadable_at != seq:
            self._unreadable_at = seq
            return
        self._unreadable_at = None
        self.seq = seq + 1
        self.skipped_frames += 1
        log.warning(
            "shard %d: the frame after seq %d cannot be read (%s) and was sent again after a resume; "
            "skipping it (resuming from seq %d, %d frame(s) skipped so far)",
            self.shard_id,
            seq,
            detail,
            seq + 1,
            self.skipped_frames,
        )

    def resume(self, token: str, now: float) -> list[Action]:
        """Send Resume with a fresh token; without a session this asks for an identify instead."""
        if self.state is not ShardState.AUTHENTICATING or self._auth_sent:
            return []
        if self.session_id is None:
            return [Authenticate(resume=False)]
        self._auth_sent = True
        self.state = ShardState.RESUMING
        self._ready_deadline = now + self.config.ready_timeout
        self._schedule_first_beat(now)
        payload = {"token": _authorization(token), "session_id": self.session_id, "seq": self.seq or 0}
        return [_send(Opcode.RESUME, payload)]

    # -- frames --------------------------------------------------------------------------------

    def receive(self, data: bytes | str, now: float) -> list[Action]:
        """Process one received frame. Malformed frames are counted and ignored; this never raises."""
        if self.state in (ShardState.DISCONNECTED, ShardState.STOPPED):
            return []
        try:
            return self._receive(data, now)
        except Exception as exc:  # a hostile or broken peer must not crash the shard
            self._malformed(data, f"undecodable payload: {_short(exc)}", "payload")
            return []

    def feed(self, data: bytes | str) -> InboundEvent | None:
        """The fast path for the common frame: an ordinary dispatch (op 0) while READY.

        Returns its :class:`InboundEvent` (and advances :attr:`seq`), exactly what :meth:`receive` would
        have wrapped in a :class:`DispatchEvent`; returns ``None`` for every other frame (any other op or
        state, malformed input), which the caller then passes to :meth:`receive`. Never raises.
        """
        if self.state is not _READY:  # a module global: ``ShardState.READY`` costs an enum class lookup per frame
            return None
        try:
            env = _envelope_decoder.decode(data)
        except Exception:
            return None  # receive() decodes it again and counts it as malformed
        t = env.t
        if env.op != 0 or t is None:
            return None
        s = env.s
        if s is not None:
            seq = self.seq
            if seq is None or s > seq:
                self.seq = s
        return InboundEvent(type=t, data=env.d, id=env.id, seq=s, shard_id=self.shard_id)

    def _receive(self, data: bytes | str, now: float) -> list[Action]:
        try:
            env = decode_envelope(data)
        except msgspec.ValidationError as exc:
            self._malformed(data, f"invalid envelope: {_short(exc)}", f"envelope {_path(exc)}")
            return []
        except (msgspec.DecodeError, RecursionError) as exc:
            self._malformed(data, f"invalid JSON: {_short(exc)}", "invalid JSON")
            return []
        op = env.op
        if op == Opcode.DISPATCH:
            return self._on_dispatch(env.t, env.d, env.s, env.id, now)
        if op == Opcode.HEARTBEAT_ACK:
            if self._awaiting_ack:
                self._awaiting_ack = False
                self.latency = max(0.0, now - self._beat_sent_at)
            if self.state is ShardState.READY and not self._healthy:
                # READY/RESUMED and an acknowledged heartbeat: the session proved healthy
                self._healthy = True
                self.backoff.reset()
            return []
        if op == Opcode.HELLO:
            return self._on_hello(env.d, now)
        if op == Opcode.HEARTBEAT:
            return [self._heartbeat(now)] if self._auth_sent else []
        if op == Opcode.RECONNECT:
            return self._reconnect(now, resume=True, backoff=False, reason="server requested reconnect (op 7)")
        if op == Opcode.INVALID_SESSION:
            return self._on_invalid_session(env.d, now)
        self._malformed(data, f"op {op} is not an opcode a client receives", f"op {op}")
        return []

    def _malformed(self, data: bytes | str, reason: str, kind: str) -> None:
        """Count an ignored frame; the first of each ``kind`` is logged at WARNING, later ones at DEBUG."""
        self.malformed_frames += 1
        seen = self.malformed_kinds.get(kind, 0)
        self.malformed_kinds[kind] = seen + 1
        level = logging.DEBUG if seen else logging.WARNING
        if not log.isEnabledFor(level):
            return
        t, event_id = _type_and_id(data)
        log.log(
            level,
            "shard %d: ignored a malformed gateway frame (t %s, id %s): %s%s",
            self.shard_id,
            t,
            event_id,
            reason,
            "" if seen else "; further frames of this kind are logged at DEBUG (count: GatewayMachine.malformed_kinds)",
        )

    def _on_hello(self, d: msgspec.Raw, now: float) -> list[Action]:
        if self.state is not ShardState.WAITING_HELLO:
            return []
        try:
            interval = float(_hello_decoder.decode(d).heartbeat_interval) / 1000.0
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            interval = -1.0
        if not 0.0 < interval < 3600.0:
            shown = bytes(d)[:80].decode("utf-8", "replace")
            reason = f"invalid Hello: d={shown} (heartbeat_interval must be a number of ms in (0, 3600000))"
            self._malformed(b"", reason, "Hello")
            return self._reconnect(now, resume=True, backoff=True, reason=reason)
        self._interval = interval
        self.state = ShardState.AUTHENTICATING
        return [Authenticate(resume=self.session_id is not None)]

    def _on_dispatch(
        self, t: str | None, d: msgspec.Raw, s: int | None, event_id: str | None, now: float
    ) -> list[Action]:
        if t is None:
            self._malformed(b"", f"dispatch (op 0) without t (id {event_id}, s {s})", "dispatch without t")
            return []
        if s is not None and (self.seq is None or s > self.seq):
            self.seq = s
        actions: list[Action] = []
        if t == "READY" and self.state is ShardState.IDENTIFYING:
            self.session_id = _ready_decoder.decode(d).session_id or None
            self._on_connected(now)
            actions.append(Connected(resumed=False, session_id=self.session_id))
        elif t == "RESUMED" and self.state is ShardState.RESUMING:
            self._on_connected(now)
            actions.append(Connected(resumed=True, session_id=self.session_id))
        event = InboundEvent(type=t, data=d, id=event_id, seq=s, shard_id=self.shard_id, source="gateway")
        actions.append(DispatchEvent(event))
        return actions

    def _on_connected(self, now: float) -> None:
        self.state = ShardState.READY
        self._auth_failures = 0
        self._protocol_errors = 0
        self._identify_rejections = 0

    def _on_invalid_session(self, d: msgspec.Raw, now: float) -> list[Action]:
        # op 9 is always followed by a fresh identify, as botgo, botpy and nonebot do (protocol.md §0);
        # ``d`` is undocumented, and nothing shows the platform resuming after ``d: true``.
        if self.state is ShardState.IDENTIFYING and self._can_drop_optional():
            return self._drop_optional(now, "identify refused (op 9)")
        if self.state is ShardState.IDENTIFYING:
            self._identify_rejections += 1
            if self._identify_rejections >= self.config.max_identify_rejections:
                return self._stop(
                    f"identify rejected with op 9 (invalid session) {self._identify_rejections} times in a row; "
                    "check the intents (some need permission) and the credentials",
                    now,
                )
            return self._reconnect(
                now, resume=False, backoff=True, reason="identify rejected (op 9)", refresh_token=True
            )
        reason = "resume rejected (op 9)" if self.state is ShardState.RESUMING else "session invalidated (op 9)"
        return self._reconnect(now, resume=False, backoff=False, reason=reason)

    def _can_drop_optional(self) -> bool:
        """Identify was sent on this connection, no READY yet, and optional intents are still asked for."""
        return self.state is ShardState.IDENTIFYING and bool(self.intents & self.optional_intents)

    def _drop_optional(self, now: float, reason: str, *, close_code: int | None = None) -> list[Action]:
        dropped = self.intents & self.optional_intents
        self.drop_intents(dropped)
        return self._reconnect(
            now,
            resume=False,
            backoff=False,
            reason=f"{reason}; identifying again without the optional intents",
            close_code=close_code,
            dropped_intents=dropped,
        )

    def drop_intents(self, intents: int) -> None:
        """Stop asking for ``intents`` (from the next Identify on); they are no longer optional either."""
        self.intents &= ~intents
        self.optional_intents &= ~intents

    def restore_session(self, session_id: str, seq: int) -> bool:
        """Take over a session another process left (a fleet handover): the next connection resumes it from
        ``seq`` instead of identifying. Only while disconnected and not stopped; returns whether it applied."""
        if self.state is not ShardState.DISCONNECTED or not session_id or seq < 0:
            return False
        self.session_id = session_id
        self.seq = seq
        return True

    def undelivered(self, seq: int | None) -> None:
        """The runtime could not queue the event with ``seq`` (cancelled mid-handoff): move the resume
        point back before it, so that a resume replays it (a duplicate is dropped by the dedupe window)."""
        if seq is not None and self.seq is not None and seq <= self.seq:
            self.seq = seq - 1

    # -- time ----------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`tick` should next be called (``None``: nothing is scheduled)."""
        if self.state is ShardState.WAITING_HELLO:
            return self._hello_deadline
        if self.state not in _ACTIVE:
            return None
        deadline = self._next_beat if self._auth_sent else None
        if deadline is not None and self._zombie_check_at is not None and self._awaiting_ack:
            deadline = max(deadline, self._zombie_check_at)
        if self.state in (ShardState.IDENTIFYING, ShardState.RESUMING):
            deadline = self._ready_deadline if deadline is None else min(deadline, self._ready_deadline)
        return deadline

    def tick(self, now: float, *, reader_blocked: bool = False) -> list[Action]:
        """Heartbeat if due, detect a zombie connection, enforce the Hello and READY timeouts.

        ``reader_blocked`` means the reader is held up by backpressure, so a missing ACK may simply be
        unread: the zombie verdict is deferred (heartbeats still go out).
        """
        if self.state is ShardState.WAITING_HELLO and now >= self._hello_deadline:
            return self._reconnect(now, resume=True, backoff=True, reason="no Hello in time", abort=True)
        if self.state not in _ACTIVE:
            return []
        if self.state in (ShardState.IDENTIFYING, ShardState.RESUMING) and now >= self._ready_deadline:
            return self._reconnect(now, resume=True, backoff=True, reason="no READY/RESUMED in time", abort=True)
        if self._auth_sent and now >= self._next_beat:
            if self._awaiting_ack and not reader_blocked:
                if self._zombie_check_at is None:
                    # the ACK may be unread (the loop was stalled): give the reader a moment first
                    self._zombie_check_at = now + min(self.config.zombie_grace, (self._interval or 0.0) / 4)
                if now < self._zombie_check_at:
                    return []
                return self._reconnect(
                    now, resume=True, backoff=True, reason="zombie connection: heartbeat not acknowledged", abort=True
                )
            return [self._heartbeat(now)]
        return []

    def _schedule_first_beat(self, now: float) -> None:
        interval = self._interval or 0.0
        self._next_beat = now + (interval * self._rng.random() if self.config.first_heartbeat_jitter else interval)

    def _heartbeat(self, now: float) -> SendFrame:
        self._zombie_check_at = None
        self._awaiting_ack = True
        self._beat_sent_at = now
        self._next_beat = now + (self._interval or 0.0)
        return _send(Opcode.HEARTBEAT, self.seq)

    # -- outcomes ------------------------------------------------------------------------------

    def _reconnect(
        self,
        now: float,
        *,
        resume: bool,
        backoff: bool,
        reason: str,
        close_code: int | None = None,
        abort: bool = False,
        refresh_token: bool = False,
        dropped_intents: int = 0,
    ) -> list[Action]:
        resume = resume and self.session_id is not None
        if not resume:
            self.session_id = None
            self.seq = None
        self.state = ShardState.DISCONNECTED
        self.reconnects += 1
        self.last_close_code = close_code
        self.last_reason = reason
        delay = self._next_delay() if backoff else 0.0
        return [
            Reconnect(
                resume=resume,
                delay=delay,
                reason=reason,
                close_code=close_code,
                abort=abort,
                refresh_token=refresh_token,
                dropped_intents=dropped_intents,
            )
        ]

    def _next_delay(self) -> float:
        if self._healthy:
            # the first fault after a healthy session: reconnect at once, jittered so that shards spread out
            self._healthy = False
            return self.backoff.policy.base * self.backoff.policy.jitter * self._rng.random()
        return self.backoff.next_delay()

    def _stop(self, message: str, now: float, *, code: int | None = None) -> list[Action]:
        self.state = ShardState.STOPPED
        self.session_id = None
        self.last_close_code = code
        self.last_reason = message
        return [Stop(GatewayFatalError(f"shard {self.shard_id}: {message}", code=code))]

    def __repr__(self) -> str:
        return (
            f"GatewayMachine(shard={self.shard_id}/{self.shard_count}, state={self.state.value}, "
            f"session={self.session_id!r}, seq={self.seq})"
        )


def _send(op: Opcode, d: Any) -> SendFrame:
    """A client frame as JSON text (msgspec writes UTF-8, so decoding cannot fail)."""
    return SendFrame(encode_envelope(op, d).decode(), int(op))


def _authorization(token: str) -> str:
    return token if token.startswith("QQBot ") else f"QQBot {token}"


def _short(exc: BaseException) -> str:
    return str(exc)[:160] or type(exc).__name__


def _path(exc: BaseException) -> str:
    """``$.s`` from a msgspec validation message (the field at fault), else ``$``."""
    text = str(exc)
    return text.rpartition(" - at `")[2].rstrip("`") if " - at `" in text else "$"


def _type_and_id(data: bytes | str) -> tuple[object, object]:
    """Best-effort ``t`` and ``id`` of a frame that failed to decode (only on the malformed path)."""
    try:
        obj = msgspec.json.decode(data)
    except Exception:
        return None, None
    if not isinstance(obj, dict):
        return None, None
    t, event_id = obj.get("t"), obj.get("id")
    return (t if isinstance(t, str | None) else repr(t)[:40]), (
        event_id if isinstance(event_id, str | None) else repr(event_id)[:40]
    )
