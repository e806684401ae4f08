"""The webhook (HTTP callback) endpoint as a plain ASGI 3 application (protocol.md §4).

One :class:`WebhookApp` serves any number of bots, routed by the ``X-Bot-Appid`` header. For each POST:

1. route by ``X-Bot-Appid`` (unknown → 404), bound the body in size (→ 413) and time (→ 408), decode the
   envelope (→ 400);
2. op 13 (URL validation): answer ``{"plain_token", "signature"}``;
3. any other op: verify ``X-Signature-Ed25519`` over ``X-Signature-Timestamp`` + the raw body and check
   the timestamp against the tolerance (→ 401, nothing dispatched);
4. op 0: offer an :class:`InboundEvent` to the bot's :class:`~framework.delivery.EventDispatcher` (the
   one delivery path: dedupe, per-chat order, concurrency cap; 503 when it is full, so the platform retries)
   and acknowledge with ``{"op":12,"d":0}``. A bot given as a plain async function gets a dispatcher of
   its own, run by the app's lifespan; a bot's own dispatcher (``bot.delivery``) is fed as it is.

Handler errors are logged and never reach the HTTP response; no request is ever answered with a 500.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import anyio
import anyio.abc
import msgspec
from anyio.abc import TaskGroup

from framework.clock import Clock, SystemClock, fail_after
from framework.delivery import EventDispatcher
from framework.logs import register_secret
from framework.models.constants import Opcode
from framework.models.envelope import Envelope, EventSink, InboundEvent, decode_envelope
from framework.protocol import signing

__all__ = [
    "ASGIReceive",
    "ASGIScope",
    "ASGISend",
    "EventSink",
    "WebhookApp",
    "WebhookBot",
    "WebhookStats",
]

logger = logging.getLogger("framework.runtime.webhook")

ASGIScope = MutableMapping[str, Any]
ASGIReceive = Callable[[], Awaitable[MutableMapping[str, Any]]]
ASGISend = Callable[[MutableMapping[str, Any]], Awaitable[None]]

HEADER_APP_ID: Final = b"x-bot-appid"
HEADER_SIGNATURE: Final = b"x-signature-ed25519"
HEADER_TIMESTAMP: Final = b"x-signature-timestamp"

#: ``event_ts`` and ``plain_token`` of an op 13 request must match these. Without the restriction the
#: validation answer is a signing oracle: an attacker could send ``plain_token = <a forged op 0 body>`` and
#: replay the returned signature as ``X-Signature-Ed25519``. A callback body always contains ``{``; these do not.
_EVENT_TS = re.compile(r"[0-9]{1,20}")
_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9._~-]{1,256}")
_TIMESTAMP = re.compile(rb"[0-9]{1,20}")

_encoder = msgspec.json.Encoder()
_ACK_OK: Final = b'{"op":12,"d":0}'


class _Validation(msgspec.Struct):
    plain_token: str
    event_ts: str | int


_validation_decoder = msgspec.json.Decoder(_Validation)


class WebhookBot:
    """One bot behind the endpoint: the key derived from its app secret and the sink its events go to.

    The secret itself is not kept, only the derived Ed25519 key; it never appears in a repr, and it is
    registered with :func:`framework.logs.register_secret` so log lines redact it.
    """

    __slots__ = ("_key", "_public_key", "delivery", "sink")

    def __init__(self, secret: str, sink: EventSink | EventDispatcher) -> None:
        register_secret(secret)
        self._key = signing.derive_private_key(secret)
        self._public_key = self._key.public_key()
        self.sink = sink
        self.delivery: EventDispatcher | None = sink if isinstance(sink, EventDispatcher) else None
        """Where callbacks go: the dispatcher given, or the app's own one around a plain sink while running."""

    def verify(self, message: bytes, signature_hex: str | None) -> bool:
        """True when ``signature_hex`` signs ``message`` with this bot's key."""
        return signing.verify(self._public_key, message, signature_hex)

    def validation_response(self, plain_token: str, event_ts: str) -> dict[str, str]:
        """The signed op 13 answer."""
        return signing.validation_response(self._key, plain_token, event_ts)

    def __repr__(self) -> str:
        return f"WebhookBot(sink={self.sink!r}, secret=<hidden>)"


@dataclass
class WebhookStats:
    """Counters, for metrics and tests."""

    validations: int = 0
    dispatched: int = 0
    rejected_signature: int = 0
    rejected_timestamp: int = 0
    rejected_malformed: int = 0
    rejected_too_large: int = 0
    rejected_unknown_bot: int = 0
    rejected_unavailable: int = 0
    rejected_slow: int = 0
    evicted_slow: int = 0
    rejected_full: int = 0
    handler_errors: int = 0
    handlers_abandoned: int = 0
    internal_errors: int = 0


class _Reject(Exception):
    """Internal: answer with ``status`` and a short public reason (never a secret)."""

    def __init__(self, status: int, reason: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers


class WebhookApp:
    """An ASGI 3 application receiving QQ webhook callbacks for one or more bots.

    ``bots`` maps app id → :class:`WebhookBot`. Handlers run in a task group opened by the ASGI lifespan
    (``lifespan.startup``) or by ``async with app.running():`` when the server has no lifespan support;
    without either, callbacks are answered 503 so the platform retries them.

    Configuration:
        ``timestamp_tolerance``: seconds ``X-Signature-Timestamp`` may differ from ``clock.time()``
        (``None`` disables the replay check). ``max_body_size``: bytes (413 above). ``dedupe_size``: how
        many event ids the dispatcher the app makes for a plain sink remembers (``dedupe_ttl`` is
        deprecated and ignored: the window is bounded by size, like the gateway's). ``max_in_flight``:
        events running or queued per bot at once (503 above, so the platform retries later).
        ``concurrency``: handlers running at once in a dispatcher the app makes. ``drain_timeout``: on
        shutdown, seconds of ``clock`` time the app's dispatchers get to finish before they are cancelled.
        ``path``: when set, only this path is served (404 elsewhere).
        ``read_timeout``: real-time seconds a request gets to deliver its whole body once its headers are
        in (408 and the connection closed after). ``max_connections``: requests receiving a body at once;
        when one more arrives, the one receiving longest is cut off with 408, so a flood of stalled bodies
        cannot keep a prompt callback out; but only a read older than ``evict_after`` real seconds is cut
        off (a prompt callback's body arrives in milliseconds): while every read is younger, the newcomer is
        answered 503 (``Retry-After: 1``) and the platform retries it.
    """

    def __init__(
        self,
        bots: Mapping[str, WebhookBot] | None = None,
        *,
        clock: Clock | None = None,
        timestamp_tolerance: float | None = 300.0,
        max_body_size: int = 1 << 20,
        dedupe_size: int = 10_000,
        dedupe_ttl: float | None = None,
        max_in_flight: int = 1_000,
        concurrency: int = 64,
        drain_timeout: float = 10.0,
        path: str | None = None,
        read_timeout: float = 10.0,
        max_connections: int = 256,
        evict_after: float = 0.5,
    ) -> None:
        if max_body_size < 1:
            raise ValueError(f"max_body_size must be >= 1, got {max_body_size!r}")
        if not read_timeout > 0:
            raise ValueError(f"read_timeout must be > 0 seconds, got {read_timeout!r}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections!r}")
        if evict_after < 0:
            raise ValueError(f"evict_after must be >= 0 seconds, got {evict_after!r}")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight!r}")
        self._bots: dict[str, WebhookBot] = dict(bots or {})
        self.clock: Clock = clock or SystemClock()
        self.timestamp_tolerance = timestamp_tolerance
        self.max_body_size = max_body_size
        self.max_in_flight = max_in_flight
        self.drain_timeout = drain_timeout
        self.path = path
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self.evict_after = evict_after
        self._receiving: dict[anyio.CancelScope, float] = {}  # body reads in progress -> start, oldest first
        if dedupe_ttl is not None:
            warnings.warn(
                "WebhookApp(dedupe_ttl=...) is ignored: the delivery window is bounded by size (dedupe_size)",
                DeprecationWarning,
                stacklevel=2,
            )
        self.dedupe_size = dedupe_size
        self.concurrency = concurrency
        self.stats = WebhookStats()
        self._task_group: TaskGroup | None = None
        self._accepting = False
        self._owned: list[EventDispatcher] = []  # the dispatchers this app made for plain sinks

    # -- configuration -------------------------------------------------------------------------------

    def add_bot(self, app_id: str, secret: str, sink: EventSink | EventDispatcher) -> WebhookBot:
        """Serve another bot on this endpoint; returns its :class:`WebhookBot`."""
        bot = WebhookBot(secret, sink)
        self._bots[str(app_id)] = bot
        if self._task_group is not None and bot.delivery is None:
            self._task_group.start_soon(self._own_delivery, str(app_id), bot)
        return bot

    def remove_bot(self, app_id: str) -> None:
        """Stop serving ``app_id`` (its callbacks are answered 404 from now on)."""
        self._bots.pop(str(app_id), None)

    def bot(self, app_id: str) -> WebhookBot:
        """The :class:`WebhookBot` serving ``app_id`` (its ``delivery`` counts duplicates, failures, ...)."""
        return self._bots[str(app_id)]

    @property
    def app_ids(self) -> list[str]:
        """The app ids served."""
        return list(self._bots)

    @property
    def in_flight(self) -> int:
        """Events accepted and not finished yet (queued or running), over every bot."""
        return sum(_load(b.delivery) for b in self._bots.values())

    @property
    def receiving(self) -> int:
        """Requests whose body is being received now (at most ``max_connections``)."""
        return len(self._receiving)

    def __repr__(self) -> str:
        return f"WebhookApp(app_ids={self.app_ids!r}, in_flight={self.in_flight})"

    # -- lifecycle -----------------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[WebhookApp]:
        """Run a dispatcher for each bot given as a plain sink; on exit stop accepting, drain, cancel leftovers."""
        if self._task_group is not None:
            raise RuntimeError("this WebhookApp is already running")
        async with anyio.create_task_group() as tg:
            for app_id, bot in self._bots.items():
                if bot.delivery is None:
                    await tg.start(self._own_delivery, app_id, bot)
            self._task_group = tg
            self._accepting = True
            try:
                yield self
            finally:
                self._accepting = False
                owned = list(self._owned)
                for delivery in owned:
                    delivery.close()
                with anyio.CancelScope(shield=True):
                    # queued callbacks reach their handlers first (real seconds: free workers take them at
                    # once), then running handlers get drain_timeout seconds of the app's clock
                    with anyio.move_on_after(self.drain_timeout):
                        await _all_drained(owned)
                    with contextlib.suppress(TimeoutError):
                        await fail_after(self.clock, self.drain_timeout, lambda: _all_done(owned))
                left = sum(_load(d) for d in owned)
                if left:
                    self.stats.handlers_abandoned += left
                    logger.warning("webhook shutdown: cancelling %d unfinished handler(s)", left)
                tg.cancel_scope.cancel()
                self._task_group = None

    async def _own_delivery(
        self, app_id: str, bot: WebhookBot, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """A dispatcher around a plain sink, for as long as the app runs."""
        sink = bot.sink
        assert not isinstance(sink, EventDispatcher)
        stats = self.stats

        async def guarded(event: InboundEvent) -> None:
            try:
                await sink(event)
            except Exception:
                stats.handler_errors += 1
                logger.exception("webhook handler failed (app %s, event %s %s)", app_id, event.type, event.id)

        delivery = EventDispatcher(
            guarded,
            concurrency=min(self.concurrency, self.max_in_flight),
            buffer=self.max_in_flight,
            dedupe_window=self.dedupe_size,
        )
        bot.delivery = delivery
        self._owned.append(delivery)
        try:
            await delivery.run(task_status=task_status)
        finally:
            self._owned.remove(delivery)
            if bot.delivery is delivery:
                bot.delivery = None

    # -- ASGI ----------------------------------------------------------------------------------------

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        kind = scope.get("type")
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: ASGIReceive, send: ASGISend) -> None:
        message = await receive()
        if message.get("type") != "lifespan.startup":
            return
        started = False
        try:
            async with self.running():
                await send({"type": "lifespan.startup.complete"})
                started = True
                while (await receive()).get("type") != "lifespan.shutdown":
                    pass
        except Exception as exc:
            logger.exception("webhook lifespan failed")
            failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": failed, "message": type(exc).__name__})
            return
        await send({"type": "lifespan.shutdown.complete"})

    async def _http(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        try:
            await self._handle(scope, receive, send)
        except _Reject as reject:
            await _respond(send, reject.status, _encoder.encode({"error": reject.reason}), reject.headers)
        except _Disconnected:
            return
        except Exception:
            # A bug, not the caller's fault; still never a 500 (a 5xx would make the platform retry forever).
            self.stats.internal_errors += 1
            logger.exception("webhook request failed")
            await _respond(send, 400, b'{"error":"bad request"}')

    async def _handle(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        if self.path is not None and scope.get("path") != self.path:
            raise _Reject(404, "not found")
        if scope.get("method") != "POST":
            raise _Reject(405, "method not allowed", ((b"allow", b"POST"),))
        headers = _Headers(scope.get("headers") or ())
        app_id, bot = self._route(headers)
        body = await self._receive_body(headers, receive)
        try:
            envelope = decode_envelope(body)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):  # RecursionError: nested too deeply
            self.stats.rejected_malformed += 1
            raise _Reject(400, "malformed payload") from None
        if envelope.op == Opcode.CALLBACK_VALIDATION:
            await self._validate(headers, bot, body, envelope, send)
            return
        self._authenticate(headers, bot, body)
        if envelope.op == Opcode.DISPATCH:
            await self._dispatch(app_id, bot, envelope, send)
        elif envelope.op == Opcode.HEARTBEAT:
            # botgo answers op 1 this way; whether the platform sends it over webhook is UNCONFIRMED.
            await _respond(send, 200, b'{"op":11,"d":' + bytes(envelope.d) + b"}")
        else:
            self.stats.rejected_malformed += 1
            raise _Reject(400, "unsupported op")

    def _route(self, headers: _Headers) -> tuple[str, WebhookBot]:
        raw = headers.get(HEADER_APP_ID)
        if raw is None and len(self._bots) == 1:
            return next(iter(self._bots.items()))
        app_id = raw.decode("latin-1").strip() if raw is not None else ""
        bot = self._bots.get(app_id)
        if bot is None:
            self.stats.rejected_unknown_bot += 1
            raise _Reject(404, "unknown bot")
        return app_id, bot

    async def _receive_body(self, headers: _Headers, receive: ASGIReceive) -> bytes:
        """The body within ``read_timeout``; at ``max_connections`` the longest-running read is cut off
        if it has run ``evict_after`` seconds, else this request is answered 503."""
        now = time.monotonic()
        if len(self._receiving) >= self.max_connections:
            oldest, started = next(iter(self._receiving.items()))
            if now - started < self.evict_after:
                self.stats.rejected_full += 1
                raise _Reject(
                    503, "too many request bodies being received", ((b"retry-after", b"1"), (b"connection", b"close"))
                )
            del self._receiving[oldest]
            oldest.cancel()
            self.stats.evicted_slow += 1
        with anyio.move_on_after(self.read_timeout) as scope:
            self._receiving[scope] = now
            try:
                return await self._read_body(headers, receive)
            finally:
                self._receiving.pop(scope, None)
        self.stats.rejected_slow += 1
        raise _Reject(408, "request body not received in time", ((b"connection", b"close"),))

    async def _read_body(self, headers: _Headers, receive: ASGIReceive) -> bytes:
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                self.stats.rejected_malformed += 1
                raise _Reject(400, "bad content-length")
            if int(declared) > self.max_body_size:
                self.stats.rejected_too_large += 1
                raise _Reject(413, "payload too large")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            kind = message.get("type")
            if kind == "http.disconnect":
                raise _Disconnected
            if kind != "http.request":
                continue
            chunk = message.get("body") or b""
            size += len(chunk)
            if size > self.max_body_size:
                self.stats.rejected_too_large += 1
                raise _Reject(413, "payload too large")
            chunks.append(bytes(chunk))
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _authenticate(self, headers: _Headers, bot: WebhookBot, body: bytes) -> None:
        signature = headers.get(HEADER_SIGNATURE)
        timestamp = headers.get(HEADER_TIMESTAMP)
        if signature is None or timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
            self.stats.rejected_signature += 1
            raise _Reject(401, "missing or malformed signature headers")
        if not bot.verify(timestamp + body, signature.decode("latin-1")):
            self.stats.rejected_signature += 1
            raise _Reject(401, "bad signature")
        if self.timestamp_tolerance is not None and abs(self.clock.time() - int(timestamp)) > self.timestamp_tolerance:
            self.stats.rejected_timestamp += 1
            raise _Reject(401, "timestamp outside tolerance")

    async def _validate(
        self, headers: _Headers, bot: WebhookBot, body: bytes, envelope: Envelope, send: ASGISend
    ) -> None:
        # The platform may send op 13 unsigned (UNCONFIRMED); when it is signed, the signature must hold.
        if headers.get(HEADER_SIGNATURE) is not None or headers.get(HEADER_TIMESTAMP) is not None:
            self._authenticate(headers, bot, body)
        try:
            data = _validation_decoder.decode(envelope.d)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self.stats.rejected_malformed += 1
            raise _Reject(400, "malformed validation request") from None
        event_ts = str(data.event_ts) if isinstance(data.event_ts, int) else data.event_ts
        if not _EVENT_TS.fullmatch(event_ts) or not _PLAIN_TOKEN.fullmatch(data.plain_token):
            self.stats.rejected_malformed += 1
            raise _Reject(400, "malformed validation request")
        self.stats.validations += 1
        await _respond(send, 200, _encoder.encode(bot.validation_response(data.plain_token, event_ts)))

    async def _dispatch(self, app_id: str, bot: WebhookBot, envelope: Envelope, send: ASGISend) -> None:
        if not envelope.t:
            self.stats.rejected_malformed += 1
            raise _Reject(400, "dispatch without an event type")
        delivery = bot.delivery
        if delivery is None or not self._accepting or delivery.closed or _load(delivery) >= self.max_in_flight:
            self.stats.rejected_unavailable += 1
            raise _Reject(503, "not accepting events now", ((b"retry-after", b"1"),))
        event = InboundEvent(type=envelope.t, data=envelope.d, id=envelope.id, seq=envelope.s, source="webhook")
        if not delivery.offer(event):
            self.stats.rejected_unavailable += 1
            raise _Reject(503, "not accepting events now", ((b"retry-after", b"1"),))
        self.stats.dispatched += 1
        # Queued before the acknowledgement: if the answer is lost, the platform redelivers and the
        # dispatcher's dedupe window drops the copy, so the event is handled once either way.
        await _respond(send, 200, _ACK_OK)


def _load(delivery: EventDispatcher | None) -> int:
    return delivery.pending() + delivery.running if delivery is not None else 0


async def _all_drained(deliveries: list[EventDispatcher]) -> None:
    for delivery in deliveries:
        await delivery.drained.wait()


async def _all_done(deliveries: list[EventDispatcher]) -> None:
    for delivery in deliveries:
        await delivery.done.wait()


class _Disconnected(Exception):
    """Internal: the client went away before the body was read."""


class _Headers:
    """Request headers by lowercase name; a name sent twice is refused (ambiguous authentication)."""

    __slots__ = ("_values",)

    def __init__(self, raw: Any) -> None:
        values: dict[bytes, bytes] = {}
        duplicated: set[bytes] = set()
        for name, value in raw:
            key = bytes(name).lower()
            if key in values:
                duplicated.add(key)
            values[key] = bytes(value)
        if duplicated & {HEADER_APP_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, b"content-length"}:
            raise _Reject(400, "duplicated header")
        self._values = values

    def get(self, name: bytes) -> bytes | None:
        return self._values.get(name)


async def _respond(
    send: ASGISend, status: int, body: bytes, extra_headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
