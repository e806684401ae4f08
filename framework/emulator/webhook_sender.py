"""The platform's side of webhook mode (protocol.md §4): signed POSTs of every event, retries, op 13 checks.

Each emitted event is POSTed to ``config.webhook_url`` once per configured app as
``{"op":0,"id","d","t"}`` with ``User-Agent: QQBot-Callback``, ``X-Bot-Appid``, ``X-Signature-Ed25519``
(hex Ed25519 over ``timestamp + body``, key from the app secret) and ``X-Signature-Timestamp``.
An HTTP 200 whose body is empty or ``{"op":12,...}`` (``d`` not 1) acknowledges it; anything else
(other status, ``{"op":12,"d":1}``, timeout, connection error) is retried with the same ``id``
up to ``config.webhook_retries`` more times. Signing uses ``framework.protocol.signing``.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from framework.clock import Clock
from framework.emulator.config import EmulatorConfig
from framework.emulator.http import ApiError, HttpRequest, HttpResponse, Router, json_response
from framework.emulator.world import EmittedEvent, World
from framework.models.constants import Opcode
from framework.protocol.signing import public_key_bytes, sign, signed_message, verify

__all__ = [
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSender",
    "is_ack",
    "register_webhook_routes",
    "signature_headers",
]

_log = logging.getLogger("framework.emulator.webhook")
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


class _Body(msgspec.Struct):
    op: int
    id: str
    d: msgspec.Raw
    t: str


@dataclass
class WebhookAttempt:
    """One POST of a delivery."""

    at: float
    """Emulator clock (``time``) when it was sent."""
    status: int | None
    """HTTP status, None on a timeout or connection error."""
    acked: bool
    error: str = ""


@dataclass
class WebhookDelivery:
    """One event sent to one app's callback URL, with every attempt."""

    app_id: str
    event_id: str
    event_type: str
    body: bytes
    attempts: list[WebhookAttempt] = field(default_factory=list)
    acked: bool = False


def signature_headers(app_id: str, secret: str, timestamp: str, body: bytes) -> dict[str, str]:
    """The headers of one callback: ``X-Signature-Ed25519`` is hex Ed25519 over ``timestamp + body``."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "QQBot-Callback",
        "X-Bot-Appid": app_id,
        "X-Signature-Ed25519": sign(secret, signed_message(timestamp, body)),
        "X-Signature-Timestamp": timestamp,
        "X-Signature-Method": "Ed25519",
    }


def is_ack(status: int, body: bytes) -> bool:
    """HTTP 200 with an empty body or an op 12 body whose ``d`` is not 1 (1 asks for a retry)."""
    if status != 200:
        return False
    if not body.strip():
        return True
    try:
        data = _decoder.decode(body)
    except msgspec.DecodeError:
        return False
    return isinstance(data, dict) and data.get("op") == Opcode.HTTP_CALLBACK_ACK and data.get("d") != 1


class WebhookSender:
    """Delivers world events to the webhook URL. Run :meth:`run` in a task group while serving.

    ``transport`` (optional) replaces the network, e.g. ``httpx.ASGITransport(app)`` for an in-process app.
    ``retry_delay`` is in seconds of the emulator's clock.
    """

    def __init__(
        self,
        config: EmulatorConfig,
        clock: Clock,
        world: World | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_delay: float = 1.0,
    ) -> None:
        self.config = config
        self.clock = clock
        self.transport = transport
        self.retry_delay = retry_delay
        self.deliveries: list[WebhookDelivery] = []
        self.validations: list[dict[str, Any]] = []
        """One entry per :meth:`validate_url` call: url, app_id, ok, status, reason."""
        self._send: MemoryObjectSendStream[EmittedEvent]
        self._recv: MemoryObjectReceiveStream[EmittedEvent]
        self._send, self._recv = anyio.create_memory_object_stream[EmittedEvent](math.inf)
        self._idle = anyio.Event()
        self._idle.set()
        self._pending = 0
        self._feed = world.feed if world is not None else None
        if world is not None:
            world.add_listener(self.enqueue)

    def enqueue(self, event: EmittedEvent) -> None:
        """Queue ``event`` for delivery (a world listener; does nothing without a webhook URL)."""
        if not self.config.webhook_url:
            return
        self._pending += 1
        if self._idle.is_set():
            self._idle = anyio.Event()
        self._send.send_nowait(event)

    async def wait_idle(self) -> None:
        """Wait until every queued event has been delivered or given up."""
        await self._idle.wait()

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport, timeout=self.config.webhook_timeout, trust_env=False)

    async def run(self) -> None:
        """Deliver queued events in order until cancelled."""
        async with self._client() as client:
            async for event in self._recv:
                try:
                    for app_id in list(self.config.apps):
                        await self.deliver(client, app_id, event)
                except Exception:
                    _log.exception("webhook delivery failed")
                finally:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.set()

    def _headers(self, app_id: str, body: bytes, *, secret: str) -> dict[str, str]:
        return signature_headers(app_id, secret, str(int(self.clock.time())), body)

    async def deliver(self, client: httpx.AsyncClient, app_id: str, event: EmittedEvent) -> WebhookDelivery:
        """POST one event for ``app_id``, retrying until acknowledged or out of retries."""
        secret = self.config.secret_for(app_id) or ""
        body = _encoder.encode(_Body(Opcode.DISPATCH, event.id, msgspec.Raw(_encoder.encode(event.d)), event.type))
        delivery = WebhookDelivery(app_id, event.id, event.type, body)
        self.deliveries.append(delivery)
        url = self.config.webhook_url or ""
        for attempt in range(1 + max(0, self.config.webhook_retries)):
            if attempt:
                await self.clock.sleep(self.retry_delay)
            at = self.clock.time()
            try:
                resp = await client.post(url, content=body, headers=self._headers(app_id, body, secret=secret))
                acked = is_ack(resp.status_code, resp.content)
                delivery.attempts.append(WebhookAttempt(at, resp.status_code, acked))
            except httpx.HTTPError as exc:
                acked = False
                delivery.attempts.append(WebhookAttempt(at, None, False, type(exc).__name__))
            if self._feed is not None:
                last = delivery.attempts[-1]
                self._feed.webhook(
                    {"url": url, "app_id": app_id, "type": event.type, "event_id": event.id, "attempt": attempt + 1}
                    | {"status": last.status, "acked": last.acked, "error": last.error}
                )
            if acked:
                delivery.acked = True
                break
        return delivery

    async def validate_url(
        self,
        url: str | None = None,
        app_id: str | None = None,
        *,
        plain_token: str | None = None,
        event_ts: str | None = None,
    ) -> bool:
        """Send the op 13 callback-URL validation and check the signed answer (protocol.md §4.2).

        ``plain_token``/``event_ts`` default to a random token and the clock's time. The request itself
        is signed too (whether the platform signs op 13 is UNCONFIRMED).
        """
        target = url or self.config.webhook_url
        app = app_id or next(iter(self.config.apps))
        secret = self.config.secret_for(app)
        if not target or secret is None:
            raise ValueError("validate_url needs a webhook URL and a known app")
        plain_token = plain_token or secrets.token_urlsafe(15)
        event_ts = event_ts or str(int(self.clock.time()))
        body = _encoder.encode({"d": {"plain_token": plain_token, "event_ts": event_ts}, "op": 13})
        entry: dict[str, Any] = {"url": target, "app_id": app, "ok": False, "status": None, "reason": ""}
        self.validations.append(entry)
        try:
            async with self._client() as client:
                resp = await client.post(target, content=body, headers=self._headers(app, body, secret=secret))
        except httpx.HTTPError as exc:
            entry["reason"] = f"request failed: {type(exc).__name__}"
            return False
        entry["status"] = resp.status_code
        try:
            answer = _decoder.decode(resp.content)
        except msgspec.DecodeError:
            answer = None
        if resp.status_code != 200 or not isinstance(answer, dict):
            entry["reason"] = "no JSON object in a 200 answer"
            return False
        if answer.get("plain_token") != plain_token:
            entry["reason"] = "plain_token mismatch"
            return False
        signature = answer.get("signature")
        if not isinstance(signature, str) or not verify(
            public_key_bytes(secret), signed_message(event_ts, plain_token), signature
        ):
            entry["reason"] = "bad signature"
            return False
        entry["ok"] = True
        return True

    def close(self) -> None:
        """Stop accepting events (``run`` ends once the queue is drained)."""
        self._send.close()

    def __repr__(self) -> str:
        return f"WebhookSender(url={self.config.webhook_url!r}, deliveries={len(self.deliveries)})"


def _delivery_json(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "app_id": d.app_id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "acked": d.acked,
        "attempts": [{"at": a.at, "status": a.status, "acked": a.acked, "error": a.error} for a in d.attempts],
    }


def register_webhook_routes(sender: WebhookSender, router: Router) -> None:
    """``GET /_emulator/webhook/deliveries`` and ``POST /_emulator/webhook/validate``
    (body ``{"url"?, "app_id"?}``, answers ``{"ok", "status", "reason"}``)."""

    async def deliveries(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return json_response(200, [_delivery_json(d) for d in sender.deliveries])

    async def validate(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        body = req.json_object()
        url, app_id = body.get("url"), body.get("app_id")
        if not isinstance(url, str | None) or not isinstance(app_id, str | None):
            raise ApiError(400, 400, "url and app_id must be strings")
        if not (url or sender.config.webhook_url):
            raise ApiError(400, 400, "no webhook URL configured or given")
        if app_id is not None and sender.config.secret_for(app_id) is None:
            raise ApiError(404, 404, "unknown app")
        await sender.validate_url(url, app_id)
        entry = sender.validations[-1]
        return json_response(200, {"ok": entry["ok"], "status": entry["status"], "reason": entry["reason"]})

    router.add("GET", "/_emulator/webhook/deliveries", deliveries)
    router.add("POST", "/_emulator/webhook/validate", validate)
