"""Helpers shared by the webhook tests: signing callbacks like the platform, and calling ASGI apps in-process."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import anyio

from framework.models import InboundEvent
from framework.protocol import signing
from framework.runtime.webhook import WebhookApp, serve_webhook


def envelope(
    event_type: str = "GROUP_AT_MESSAGE_CREATE", event_id: str = "GROUP_AT_MESSAGE_CREATE:1", **d: Any
) -> bytes:
    """A compact op 0 callback body."""
    payload = d or {"id": "msg-1", "content": " hello", "group_openid": "G1", "author": {"member_openid": "M1"}}
    return json.dumps({"op": 0, "id": event_id, "t": event_type, "d": payload}, ensure_ascii=False).encode()


def signed_headers(secret: str, body: bytes, timestamp: str | int, app_id: str = "1001") -> dict[str, str]:
    """The headers the platform sends with a callback."""
    ts = str(timestamp)
    return {
        "User-Agent": "QQBot-Callback",
        "X-Bot-Appid": app_id,
        "X-Signature-Timestamp": ts,
        "X-Signature-Ed25519": signing.sign(secret, ts.encode() + body),
        "X-Signature-Method": "Ed25519",
        "Content-Type": "application/json",
    }


@asynccontextmanager
async def served(app: WebhookApp, **kwargs: Any) -> AsyncIterator[str]:
    """Serve ``app`` on loopback (port 0 unless ``sock`` is given); yield its URL."""
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        host, port = await tg.start(
            lambda task_status: serve_webhook(
                app,
                host="127.0.0.1",
                port=0,
                shutdown_trigger=stop.wait,
                handle_signals=False,
                task_status=task_status,
                **kwargs,
            )
        )
        try:
            yield f"http://{host}:{port}/"
        finally:
            stop.set()


class Recorder:
    """An event sink that records what it receives."""

    def __init__(self) -> None:
        self.events: list[InboundEvent] = []

    async def __call__(self, event: InboundEvent) -> None:
        self.events.append(event)


async def call_asgi(
    app: Any,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    method: str = "POST",
    path: str = "/",
    chunk_size: int | None = None,
) -> tuple[int, bytes]:
    """Run one HTTP request through an ASGI app in-process; returns (status, body)."""
    chunks = [body] if not chunk_size else [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)] or [b""]
    messages: list[MutableMapping[str, Any]] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope: dict[str, Any] = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method}
    scope.update(path=path, headers=headers)
    await app(scope, receive, send)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(starts[0]["status"]), payload


def header_list(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """ASGI-style header tuples (lowercase names)."""
    return [(k.lower().encode(), v.encode("utf-8")) for k, v in headers.items()]
