"""The webhook ASGI app called in-process: protocol corners, lifespan, secrets, and the dedupe window."""

from __future__ import annotations

import json
import logging
from collections.abc import MutableMapping
from typing import Any

import anyio
import pytest
from webhook_support import Recorder, call_asgi, envelope, header_list, signed_headers

from framework.clock import VirtualClock
from framework.models import InboundEvent
from framework.runtime.webhook import WebhookApp, WebhookBot

pytestmark = pytest.mark.anyio

SECRET = "unit-secret-value-42"
APP_ID = "777"
NOW = 1_760_000_000
ACK = {"op": 12, "d": 0}


def make_app(sink: Any = None, **kwargs: Any) -> WebhookApp:
    return WebhookApp({APP_ID: WebhookBot(SECRET, sink or Recorder())}, clock=VirtualClock(start=NOW), **kwargs)


def signed(body: bytes, **overrides: str) -> list[tuple[bytes, bytes]]:
    return header_list({**signed_headers(SECRET, body, NOW, APP_ID), **overrides})


async def test_secret_never_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    async def failing(event: InboundEvent) -> None:
        raise RuntimeError("boom")

    app = make_app(failing)
    assert SECRET not in repr(app)
    assert SECRET not in repr(WebhookBot(SECRET, Recorder()))
    caplog.set_level(logging.DEBUG)
    async with app.running():
        body = envelope()
        status, _ = await call_asgi(app, body, signed(body))
        assert status == 200
        with anyio.fail_after(5):
            while app.stats.handler_errors == 0:
                await anyio.lowlevel.checkpoint()
    assert "boom" in caplog.text
    assert SECRET not in caplog.text


async def test_only_post_is_allowed() -> None:
    app = make_app()
    status, payload = await call_asgi(app, b"", [], method="GET")
    assert status == 405
    assert json.loads(payload) == {"error": "method not allowed"}


async def test_path_restriction() -> None:
    sink = Recorder()
    app = make_app(sink, path="/qq/callback")
    body = envelope()
    async with app.running():
        assert (await call_asgi(app, body, signed(body), path="/other"))[0] == 404
        status, payload = await call_asgi(app, body, signed(body), path="/qq/callback")
    assert (status, json.loads(payload)) == (200, ACK)


async def test_missing_app_id_routes_to_the_only_bot_but_not_among_several() -> None:
    sink = Recorder()
    app = make_app(sink)
    body = envelope()
    headers = [h for h in signed(body) if h[0] != b"x-bot-appid"]
    async with app.running():
        assert (await call_asgi(app, body, headers))[0] == 200
        app.add_bot("888", "another-secret", Recorder())
        assert (await call_asgi(app, envelope(event_id="E:2"), headers))[0] == 404
        app.remove_bot("888")
        assert app.app_ids == [APP_ID]


async def test_duplicated_security_headers_are_refused() -> None:
    app = make_app()
    body = envelope()
    headers = signed(body)
    headers.append((b"x-signature-ed25519", b"00" * 64))
    async with app.running():
        status, _ = await call_asgi(app, body, headers)
    assert status == 400
    assert app.stats.dispatched == 0


async def test_non_numeric_content_length_is_400_and_too_big_is_413() -> None:
    app = make_app(max_body_size=100)
    body = envelope()
    assert (await call_asgi(app, body, [*signed(body), (b"content-length", b"abc")]))[0] == 400
    assert (await call_asgi(app, body, [*signed(body), (b"content-length", b"101")]))[0] == 413
    # no Content-Length, streamed in small chunks, over the limit
    assert (await call_asgi(app, body, signed(body), chunk_size=7))[0] == 413


async def test_dispatch_without_event_type_and_unsupported_ops_are_400() -> None:
    app = make_app()
    async with app.running():
        for doc in ({"op": 0, "d": {}}, {"op": 0, "t": "", "d": {}}, {"op": 7, "d": None}, {"op": "0", "t": "X"}):
            body = json.dumps(doc).encode()
            assert (await call_asgi(app, body, signed(body)))[0] == 400, doc
    assert app.stats.dispatched == 0


async def test_unsigned_op_0_is_401_even_when_well_formed() -> None:
    sink = Recorder()
    app = make_app(sink)
    body = envelope()
    async with app.running():
        status, _ = await call_asgi(app, body, [(b"x-bot-appid", APP_ID.encode())])
    assert status == 401
    assert sink.events == []


async def test_verified_heartbeat_is_answered_like_botgo() -> None:
    app = make_app()
    body = b'{"op":1,"d":42}'
    status, payload = await call_asgi(app, body, signed(body))
    assert (status, json.loads(payload)) == (200, {"op": 11, "d": 42})
    unsigned_status, _ = await call_asgi(app, body, [(b"x-bot-appid", APP_ID.encode())])
    assert unsigned_status == 401


async def test_signed_validation_request_must_verify() -> None:
    app = make_app()
    body = b'{"op":13,"d":{"plain_token":"abc","event_ts":"1760000000"}}'
    ok, payload = await call_asgi(app, body, signed(body))
    assert ok == 200 and json.loads(payload)["plain_token"] == "abc"
    bad, _ = await call_asgi(app, body, signed(body, **{"X-Signature-Ed25519": "00" * 64}))
    assert bad == 401
    numeric, payload = await call_asgi(app, b'{"op":13,"d":{"plain_token":"abc","event_ts":1760000000}}', [])
    assert numeric == 200 and len(json.loads(payload)["signature"]) == 128


async def test_websocket_scope_is_closed() -> None:
    app = make_app()
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app({"type": "websocket", "path": "/"}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


async def test_lifespan_protocol_and_draining() -> None:
    sink = Recorder()
    app = make_app(sink)
    inbox: list[MutableMapping[str, Any]] = [{"type": "lifespan.startup"}]
    outbox: list[MutableMapping[str, Any]] = []
    shutdown = anyio.Event()

    async def receive() -> MutableMapping[str, Any]:
        if inbox:
            return inbox.pop(0)
        await shutdown.wait()
        return {"type": "lifespan.shutdown"}

    async def send(message: MutableMapping[str, Any]) -> None:
        outbox.append(message)

    async with anyio.create_task_group() as tg:
        tg.start_soon(app, {"type": "lifespan"}, receive, send)
        with anyio.fail_after(5):
            while not outbox:
                await anyio.lowlevel.checkpoint()
        assert outbox == [{"type": "lifespan.startup.complete"}]
        body = envelope()
        assert (await call_asgi(app, body, signed(body)))[0] == 200
        shutdown.set()
    assert outbox[-1] == {"type": "lifespan.shutdown.complete"}
    assert len(sink.events) == 1
    # after shutdown: not accepting any more
    body = envelope(event_id="E:late")
    assert (await call_asgi(app, body, signed(body)))[0] == 503


async def test_running_twice_is_an_error() -> None:
    app = make_app()
    async with app.running():
        with pytest.raises(RuntimeError, match="already running"):
            async with app.running():
                pass


async def test_max_in_flight_refuses_with_503_and_forgets_the_id() -> None:
    release = anyio.Event()

    async def blocked(event: InboundEvent) -> None:
        await release.wait()

    app = make_app(blocked, max_in_flight=1)
    first, second = envelope(event_id="E:1"), envelope(event_id="E:2")
    async with app.running():
        assert (await call_asgi(app, first, signed(first)))[0] == 200
        status, _ = await call_asgi(app, second, signed(second))
        assert status == 503
        release.set()
        with anyio.fail_after(5):
            while app.in_flight:
                await anyio.lowlevel.checkpoint()
        # the refused event was not remembered: its retry is dispatched
        assert (await call_asgi(app, second, signed(second)))[0] == 200
        delivery = app.bot(APP_ID).delivery
        assert delivery is not None and delivery.stats.duplicates == 0
    assert app.stats.dispatched == 2


async def test_the_dedupe_window_is_bounded_by_size_and_dedupe_ttl_is_deprecated() -> None:
    sink = Recorder()
    with pytest.warns(DeprecationWarning, match="dedupe_ttl"):
        WebhookApp({APP_ID: WebhookBot(SECRET, sink)}, dedupe_ttl=60)
    app = make_app(sink, dedupe_size=2)
    first = envelope(event_id="E:1")
    async with app.running():
        for body in (first, first, envelope(event_id="E:2"), envelope(event_id="E:3"), first):
            assert (await call_asgi(app, body, signed(body)))[0] == 200
        with anyio.fail_after(5):
            while len(sink.events) < 4:
                await anyio.lowlevel.checkpoint()
        delivery = app.bot(APP_ID).delivery
        assert delivery is not None and delivery.stats.duplicates == 1
    # the second E:1 is a duplicate; the third comes after two other ids and the window holds two
    assert [e.id for e in sink.events] == ["E:1", "E:2", "E:3", "E:1"]
