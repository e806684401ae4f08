"""The webhook ASGI app end to end: hypercorn on 127.0.0.1 (port 0) and an httpx client, on asyncio and trio."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import httpx
import msgspec
import pytest
from webhook_support import Recorder, call_asgi, envelope, header_list, signed_headers
from webhook_support import served as served_url

from framework.clock import SystemClock, VirtualClock
from framework.models import InboundEvent
from framework.runtime.webhook import WebhookApp, WebhookBot, serve_webhook

pytestmark = pytest.mark.anyio

SECRET = "DG5g3B4j9X2KOErG"
APP_ID = "11111111"
NOW = 1_725_442_341
ACK = {"op": 12, "d": 0}


@asynccontextmanager
async def served(app: WebhookApp) -> AsyncIterator[httpx.AsyncClient]:
    """Serve ``app`` with hypercorn on an ephemeral loopback port; yield a client pointed at it."""
    async with (
        served_url(app, graceful_timeout=2.0) as url,
        httpx.AsyncClient(base_url=url.rstrip("/"), timeout=10.0) as client,
    ):
        yield client


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Yield to the event loop (no sleeping) until ``condition`` holds, within a generous real-time limit."""
    with anyio.fail_after(5):
        while not condition():
            await anyio.lowlevel.checkpoint()
    assert condition(), what


def make_app(sink: Callable[[InboundEvent], Awaitable[None]], **kwargs: object) -> WebhookApp:
    return WebhookApp({APP_ID: WebhookBot(SECRET, sink)}, clock=VirtualClock(start=NOW), **kwargs)  # type: ignore[arg-type]


async def test_url_validation_answers_the_official_vector() -> None:
    app = make_app(Recorder())
    body = b'{"d":{"plain_token":"Arq0D5A61EgUu4OxUvOp","event_ts":"1725442341"},"op":13}'
    async with served(app) as client:
        response = await client.post("/", content=body, headers={"User-Agent": "QQBot-Callback", "X-Bot-Appid": APP_ID})
    assert response.status_code == 200
    assert response.json() == {
        "plain_token": "Arq0D5A61EgUu4OxUvOp",
        "signature": "87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d0"
        "1bcfcadc0842edac85e85205028a1132afe09280305f13aa6909ffc2d652c706",
    }
    assert app.stats.validations == 1


async def test_validation_refuses_tokens_that_would_make_it_a_signing_oracle() -> None:
    app = make_app(Recorder())
    forged = envelope().decode()
    body = json.dumps({"op": 13, "d": {"plain_token": forged, "event_ts": str(NOW)}}).encode()
    async with served(app) as client:
        response = await client.post("/", content=body, headers={"X-Bot-Appid": APP_ID})
    assert response.status_code == 400
    assert "signature" not in response.text


async def test_signed_event_is_acked_and_dispatched() -> None:
    sink = Recorder()
    app = make_app(sink)
    body = envelope()
    async with served(app) as client:
        response = await client.post("/", content=body, headers=signed_headers(SECRET, body, NOW, APP_ID))
        assert response.status_code == 200
        assert response.json() == ACK
        await wait_until(lambda: len(sink.events) == 1, "event dispatched")
    event = sink.events[0]
    assert event.type == "GROUP_AT_MESSAGE_CREATE"
    assert event.id == "GROUP_AT_MESSAGE_CREATE:1"
    assert event.source == "webhook"
    assert isinstance(event.data, msgspec.Raw)
    assert json.loads(bytes(event.data)) == json.loads(body)["d"]
    assert event.decode().content == " hello"


async def test_pretty_printed_body_is_verified_byte_for_byte() -> None:
    sink = Recorder()
    app = make_app(sink)
    body = json.dumps(json.loads(envelope()), indent=2).encode()
    async with served(app) as client:
        response = await client.post("/", content=body, headers=signed_headers(SECRET, body, NOW, APP_ID))
        assert response.json() == ACK
        await wait_until(lambda: len(sink.events) == 1, "event dispatched")
        # the same event re-serialised compactly no longer matches the signature
        compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
        refused = await client.post("/", content=compact, headers=signed_headers(SECRET, body, NOW, APP_ID))
    assert refused.status_code == 401


async def test_bad_or_missing_signatures_are_401_and_not_dispatched() -> None:
    sink = Recorder()
    app = make_app(sink)
    body = envelope(event_id="GROUP_AT_MESSAGE_CREATE:bad")
    good = signed_headers(SECRET, body, NOW, APP_ID)
    wrong_key = signed_headers("another-secret", body, NOW, APP_ID)
    tampered_ts = {**good, "X-Signature-Timestamp": str(NOW + 1)}
    no_sig = {k: v for k, v in good.items() if k != "X-Signature-Ed25519"}
    no_ts = {k: v for k, v in good.items() if k != "X-Signature-Timestamp"}
    short_sig = {**good, "X-Signature-Ed25519": good["X-Signature-Ed25519"][:-2]}
    not_hex = {**good, "X-Signature-Ed25519": "zz" * 64}
    async with served(app) as client:
        for headers in (wrong_key, tampered_ts, no_sig, no_ts, short_sig, not_hex):
            response = await client.post("/", content=body, headers=headers)
            assert response.status_code == 401, headers
        tampered_body = body.replace(b"hello", b"HELLO")
        response = await client.post("/", content=tampered_body, headers=good)
        assert response.status_code == 401
        # a good event afterwards is the only one dispatched
        marker = envelope(event_id="GROUP_AT_MESSAGE_CREATE:good")
        response = await client.post("/", content=marker, headers=signed_headers(SECRET, marker, NOW, APP_ID))
        assert response.json() == ACK
        await wait_until(lambda: len(sink.events) == 1, "marker dispatched")
    assert [e.id for e in sink.events] == ["GROUP_AT_MESSAGE_CREATE:good"]
    assert app.stats.rejected_signature == 7
    assert app.stats.dispatched == 1


async def test_stale_and_future_timestamps_are_refused() -> None:
    sink = Recorder()
    app = make_app(sink, timestamp_tolerance=300)
    async with served(app) as client:
        for offset, expected in ((-301, 401), (301, 401), (-299, 200), (299, 200)):
            body = envelope(event_id=f"E:{offset}")
            response = await client.post("/", content=body, headers=signed_headers(SECRET, body, NOW + offset, APP_ID))
            assert response.status_code == expected, offset
        await wait_until(lambda: len(sink.events) == 2, "fresh events dispatched")
    assert sorted(e.id or "" for e in sink.events) == ["E:-299", "E:299"]
    assert app.stats.rejected_timestamp == 2


async def test_redelivered_event_ids_are_dispatched_once() -> None:
    sink = Recorder()
    app = make_app(sink)
    body = envelope(event_id="GROUP_AT_MESSAGE_CREATE:retry")
    async with served(app) as client:
        for attempt in range(3):
            # the platform re-signs each retry with a fresh timestamp
            headers = signed_headers(SECRET, body, NOW + attempt, APP_ID)
            response = await client.post("/", content=body, headers=headers)
            assert response.json() == ACK
        other = envelope(event_id="GROUP_AT_MESSAGE_CREATE:other")
        await client.post("/", content=other, headers=signed_headers(SECRET, other, NOW, APP_ID))
        await wait_until(lambda: len(sink.events) == 2, "two distinct events")
        delivery = app.bot(APP_ID).delivery
        assert delivery is not None and delivery.stats.duplicates == 2
    assert [e.id for e in sink.events].count("GROUP_AT_MESSAGE_CREATE:retry") == 1


async def test_big_bodies_are_refused_with_413() -> None:
    sink = Recorder()
    app = make_app(sink, max_body_size=4096)
    big = envelope(content="x" * 5000)

    async def streamed() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    async with served(app) as client:
        declared = await client.post("/", content=big, headers=signed_headers(SECRET, big, NOW, APP_ID))
        chunked = await client.post("/", content=streamed(), headers=signed_headers(SECRET, big, NOW, APP_ID))
        small = envelope(content="y" * 1000)
        accepted = await client.post("/", content=small, headers=signed_headers(SECRET, small, NOW, APP_ID))
        await wait_until(lambda: len(sink.events) == 1, "small event dispatched")
    assert declared.status_code == 413
    assert chunked.status_code == 413
    assert accepted.status_code == 200
    assert app.stats.rejected_too_large == 2


async def test_slow_handler_does_not_delay_the_ack() -> None:
    release = anyio.Event()
    started = anyio.Event()
    finished: list[str] = []

    async def slow(event: InboundEvent) -> None:
        started.set()
        await release.wait()
        finished.append(event.id or "")

    app = make_app(slow)
    body = envelope(event_id="E:slow")
    async with served(app) as client:
        response = await client.post("/", content=body, headers=signed_headers(SECRET, body, NOW, APP_ID))
        # acknowledged while the handler is still blocked
        assert response.json() == ACK
        with anyio.fail_after(5):
            await started.wait()
        assert finished == []
        assert app.in_flight == 1
        release.set()
        await wait_until(lambda: finished == ["E:slow"], "slow handler finished")
    assert app.in_flight == 0


async def test_handler_errors_never_become_5xx() -> None:
    calls: list[str] = []

    async def failing(event: InboundEvent) -> None:
        calls.append(event.id or "")
        raise RuntimeError("handler bug")

    app = make_app(failing)
    async with served(app) as client:
        for n in range(3):
            body = envelope(event_id=f"E:{n}")
            response = await client.post("/", content=body, headers=signed_headers(SECRET, body, NOW, APP_ID))
            assert response.status_code == 200
        await wait_until(lambda: app.stats.handler_errors == 3, "three handler errors")
    assert sorted(calls) == ["E:0", "E:1", "E:2"]


async def test_several_bots_are_routed_by_app_id() -> None:
    first, second = Recorder(), Recorder()
    app = WebhookApp(clock=VirtualClock(start=NOW))
    app.add_bot("1001", "first-secret-0123", first)
    app.add_bot("2002", "second-secret-456", second)
    body_a = envelope(event_id="E:a")
    body_b = envelope(event_id="E:b")
    async with served(app) as client:
        ok_a = await client.post("/", content=body_a, headers=signed_headers("first-secret-0123", body_a, NOW, "1001"))
        ok_b = await client.post("/", content=body_b, headers=signed_headers("second-secret-456", body_b, NOW, "2002"))
        # bot 1's signature presented for bot 2 is refused
        cross = await client.post("/", content=body_a, headers=signed_headers("first-secret-0123", body_a, NOW, "2002"))
        unknown = await client.post("/", content=body_a, headers=signed_headers("first-secret-0123", body_a, NOW, "3"))
        missing = await client.post("/", content=body_a, headers={"X-Signature-Timestamp": str(NOW)})
        # the same event id for two different bots is not a duplicate
        same_id = await client.post(
            "/", content=body_a, headers=signed_headers("second-secret-456", body_a, NOW, "2002")
        )
        await wait_until(lambda: len(first.events) == 1 and len(second.events) == 2, "routed events")
    assert (ok_a.status_code, ok_b.status_code, same_id.status_code) == (200, 200, 200)
    assert cross.status_code == 401
    assert unknown.status_code == 404
    assert missing.status_code == 404
    assert [e.id for e in first.events] == ["E:a"]
    assert sorted(e.id or "" for e in second.events) == ["E:a", "E:b"]


async def test_shutdown_waits_for_running_handlers() -> None:
    done: list[str] = []

    async def handler(event: InboundEvent) -> None:
        for _ in range(20):
            await anyio.lowlevel.checkpoint()
        done.append(event.id or "")

    # the drain deadline is read from the clock; a VirtualClock would pass it at once, so use real time
    clock = SystemClock()
    app = WebhookApp({APP_ID: WebhookBot(SECRET, handler)}, clock=clock, drain_timeout=60)
    async with served(app) as client:
        for n in range(5):
            body = envelope(event_id=f"E:{n}")
            now = int(clock.time())
            response = await client.post("/", content=body, headers=signed_headers(SECRET, body, now, APP_ID))
            assert response.json() == ACK
    # served() returned: hypercorn shut down and the lifespan drained the handlers
    assert sorted(done) == [f"E:{n}" for n in range(5)]
    assert app.stats.handlers_abandoned == 0
    assert app.in_flight == 0


async def test_shutdown_cancels_handlers_past_the_drain_deadline() -> None:
    never = anyio.Event()
    cancelled: list[str] = []

    async def stuck(event: InboundEvent) -> None:
        try:
            await never.wait()
        except anyio.get_cancelled_exc_class():
            cancelled.append(event.id or "")
            raise

    # VirtualClock: the drain deadline passes as soon as the drain sleeps on it
    app = make_app(stuck, drain_timeout=30)
    body = envelope(event_id="E:stuck")
    async with served(app) as client:
        response = await client.post("/", content=body, headers=signed_headers(SECRET, body, NOW, APP_ID))
        assert response.json() == ACK
        await wait_until(lambda: app.in_flight == 1, "handler running")
    assert cancelled == ["E:stuck"]
    assert app.stats.handlers_abandoned == 1
    assert app.in_flight == 0


async def test_events_are_refused_503_without_a_running_scope() -> None:
    sink = Recorder()
    app = make_app(sink)
    body = envelope()
    status, payload = await call_asgi(app, body, header_list(signed_headers(SECRET, body, NOW, APP_ID)))
    assert status == 503
    assert sink.events == []
    async with app.running():
        status, payload = await call_asgi(app, body, header_list(signed_headers(SECRET, body, NOW, APP_ID)))
        assert (status, json.loads(payload)) == (200, ACK)
        await wait_until(lambda: len(sink.events) == 1, "dispatched in the running scope")


async def test_cancelling_the_server_still_shuts_down_gracefully() -> None:
    sink = Recorder()
    app = make_app(sink)
    body = envelope(event_id="E:cancel")
    async with anyio.create_task_group() as tg:
        host, port = await tg.start(
            lambda task_status: serve_webhook(
                app, host="127.0.0.1", port=0, handle_signals=False, task_status=task_status
            )
        )
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            response = await client.post("/", content=body, headers=signed_headers(SECRET, body, NOW, APP_ID))
        assert response.json() == ACK
        tg.cancel_scope.cancel()
    # the lifespan ran its shutdown: the app no longer accepts events, and the event was handled
    assert [e.id for e in sink.events] == ["E:cancel"]
    assert app.in_flight == 0
    status, _ = await call_asgi(app, body, header_list(signed_headers(SECRET, body, NOW, APP_ID)))
    assert status == 503
