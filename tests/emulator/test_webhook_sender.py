"""The webhook sender: signed deliveries to a real receiver on 127.0.0.1, retries, op 13 validation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.abc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from signing_vectors import (
    V1_PUBLIC,
    V1_SECRET,
    V2_APPID,
    V2_BODY,
    V2_RESPONSE,
    V2_SECRET,
    V4_BODY,
    V4_SECRET,
    V4_SIGNATURE,
    V4_TIMESTAMP,
)

from framework.clock import VirtualClock
from framework.emulator import Emulator, EmulatorConfig
from framework.emulator.gateway import ServerWebSocket
from framework.emulator.http import HttpRequest, HttpResponse, Router
from framework.emulator.server import EmulatorServer
from framework.emulator.webhook_sender import WebhookSender, is_ack, signature_headers
from framework.emulator.world import EmittedEvent
from framework.protocol.signing import public_key_bytes, validation_response

pytestmark = pytest.mark.anyio


@dataclass
class Receiver:
    """A tiny callback server on 127.0.0.1: answers with scripted responses, records every request."""

    script: list[tuple[int, bytes, float]] = field(default_factory=list)
    """(status, body, delay in real seconds) per request; the last entry repeats."""
    requests: list[HttpRequest] = field(default_factory=list)
    url: str = ""

    async def handle(self, req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        self.requests.append(req)
        status, body, delay = self.script[min(len(self.requests), len(self.script)) - 1]
        if delay:
            await anyio.sleep(delay)
        return HttpResponse(status, body, [("Content-Type", "application/json")])


async def _no_ws(ws: ServerWebSocket) -> None:
    await ws.close(1000)


@asynccontextmanager
async def receiver(*script: tuple[int, bytes, float]) -> AsyncIterator[Receiver]:
    rec = Receiver(list(script) or [(200, b'{"op":12,"d":0}', 0.0)])
    router = Router()
    router.add("POST", "/callback", rec.handle)
    async with EmulatorServer(router, _no_ws).serve() as url:
        rec.url = url + "/callback"
        yield rec


def verify_request(req: HttpRequest, secret: str) -> None:
    key = Ed25519PublicKey.from_public_bytes(public_key_bytes(secret))
    ts = req.headers["x-signature-timestamp"]
    key.verify(bytes.fromhex(req.headers["x-signature-ed25519"]), ts.encode() + req.body)  # raises if bad


def test_signing_vectors() -> None:
    assert public_key_bytes(V1_SECRET).hex() == V1_PUBLIC
    headers = signature_headers("1", V4_SECRET, V4_TIMESTAMP, V4_BODY)
    assert headers["X-Signature-Ed25519"] == V4_SIGNATURE
    assert headers["X-Signature-Timestamp"] == V4_TIMESTAMP
    assert headers["User-Agent"] == "QQBot-Callback"


def test_is_ack() -> None:
    assert is_ack(200, b"")
    assert is_ack(200, b'{"op":12,"d":0}')
    assert is_ack(200, b'{"op":12}')
    assert not is_ack(200, b'{"op":12,"d":1}')
    assert not is_ack(204, b"")
    assert not is_ack(500, b'{"op":12,"d":0}')
    assert not is_ack(200, b"not json")


async def test_emitted_events_are_signed_and_delivered() -> None:
    async with receiver() as rec:
        emu = Emulator(EmulatorConfig(webhook_url=rec.url))
        async with emu:
            event = emu.control.group_at_message("hello")
            with anyio.fail_after(5):
                await emu.webhook.wait_idle()
        app_id, secret = next(iter(emu.config.apps.items()))
        [req] = rec.requests
        assert req.headers["user-agent"] == "QQBot-Callback"
        assert req.headers["x-bot-appid"] == app_id
        assert req.headers["content-type"] == "application/json"
        verify_request(req, secret)
        assert req.body.startswith(b'{"op":0,"id":')
        body = json.loads(req.body)
        assert body == {"op": 0, "id": event.id, "d": event.d, "t": "GROUP_AT_MESSAGE_CREATE"}
        [delivery] = emu.webhook.deliveries
        assert delivery.acked and len(delivery.attempts) == 1 and delivery.attempts[0].status == 200


async def test_retries_with_the_same_id_until_acked() -> None:
    script = [(500, b"", 0.0), (200, b'{"op":12,"d":1}', 0.0), (200, b"", 0.0)]
    async with receiver(*script) as rec:
        config = EmulatorConfig(webhook_url=rec.url, webhook_retries=3)
        emu = Emulator(config, clock=VirtualClock())
        async with emu:
            event = emu.control.c2c_message("hi")
            with anyio.fail_after(5):
                await emu.webhook.wait_idle()
        assert [json.loads(r.body)["id"] for r in rec.requests] == [event.id] * 3
        [delivery] = emu.webhook.deliveries
        assert [a.status for a in delivery.attempts] == [500, 200, 200]
        assert [a.acked for a in delivery.attempts] == [False, False, True]
        assert delivery.acked


async def test_gives_up_after_retries_when_the_receiver_is_down() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    config = EmulatorConfig(webhook_url=f"http://127.0.0.1:{port}/callback", webhook_retries=2)
    sender = WebhookSender(config, VirtualClock())
    async with anyio.create_task_group() as tg:
        tg.start_soon(sender.run)
        sender.enqueue(EmittedEvent("FRIEND_ADD", "FRIEND_ADD:1", {"openid": "u"}))
        with anyio.fail_after(5):
            await sender.wait_idle()
        tg.cancel_scope.cancel()
    [delivery] = sender.deliveries
    assert not delivery.acked
    assert len(delivery.attempts) == 3
    assert all(a.status is None and a.error for a in delivery.attempts)


async def test_slow_receiver_times_out_and_is_retried() -> None:
    async with receiver((200, b"", 2.0), (200, b'{"op":12,"d":0}', 0.0)) as rec:
        # the retry's round trip must fit in the timeout: 0.5 s leaves a loaded host room (0.2 s did not)
        config = EmulatorConfig(webhook_url=rec.url, webhook_timeout=0.5)
        emu = Emulator(config, clock=VirtualClock())
        async with emu:
            emu.control.c2c_message("slow")
            with anyio.fail_after(5):
                await emu.webhook.wait_idle()
        [delivery] = emu.webhook.deliveries
        assert [a.error for a in delivery.attempts] == ["ReadTimeout", ""]
        assert delivery.acked


async def test_no_webhook_url_sends_nothing() -> None:
    emu = Emulator()
    async with emu:
        emu.control.c2c_message("nobody listens")
        await emu.webhook.wait_idle()
    assert emu.webhook.deliveries == []


async def test_validate_url_checks_the_signed_answer() -> None:
    secret = EmulatorConfig().apps[next(iter(EmulatorConfig().apps))]

    async def good(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        d = json.loads(req.body)["d"]
        body = json.dumps(validation_response(secret, d["plain_token"], d["event_ts"])).encode()
        return HttpResponse(200, body, [("Content-Type", "application/json")])

    async def forged(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        d = json.loads(req.body)["d"]
        body = json.dumps(validation_response("another-secret", d["plain_token"], d["event_ts"])).encode()
        return HttpResponse(200, body, [])

    router = Router()
    router.add("POST", "/good", good)
    router.add("POST", "/forged", forged)
    async with EmulatorServer(router, _no_ws).serve() as url:
        sender = WebhookSender(EmulatorConfig(), VirtualClock())
        assert await sender.validate_url(url + "/good")
        assert not await sender.validate_url(url + "/forged")
        assert not await sender.validate_url(url + "/missing")
    assert [v["ok"] for v in sender.validations] == [True, False, False]
    assert sender.validations[1]["reason"] == "bad signature"


async def test_validate_url_with_the_official_v2_exchange() -> None:
    seen: list[bytes] = []

    async def official(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        seen.append(req.body)
        return HttpResponse(200, V2_RESPONSE, [("Content-Type", "application/json")])

    router = Router()
    router.add("POST", "/cb", official)
    async with EmulatorServer(router, _no_ws).serve() as url:
        sender = WebhookSender(EmulatorConfig(apps={V2_APPID: V2_SECRET}), VirtualClock())
        ok = await sender.validate_url(url + "/cb", plain_token="Arq0D5A61EgUu4OxUvOp", event_ts="1725442341")
    assert ok
    assert seen == [V2_BODY]


async def test_control_routes_for_deliveries_and_validation() -> None:
    async with receiver() as rec:
        emu = Emulator(EmulatorConfig(webhook_url=rec.url))
        async with emu, emu.http_client() as http:
            event = emu.control.c2c_message("hi")
            with anyio.fail_after(5):
                await emu.webhook.wait_idle()
            [row] = (await http.get("/_emulator/webhook/deliveries")).json()
            assert row["event_id"] == event.id and row["acked"] is True
            assert row["attempts"][0]["status"] == 200
            # the receiver echoes an op 12 ack, not a validation answer: the check fails cleanly
            r = await http.post("/_emulator/webhook/validate", json={})
            assert r.status_code == 200 and r.json()["ok"] is False and r.json()["reason"] == "plain_token mismatch"
            r = await http.post("/_emulator/webhook/validate", json={"app_id": "nope"})
            assert r.status_code == 404
    emu = Emulator()
    async with emu.http_client() as http:
        r = await http.post("/_emulator/webhook/validate", json={})
        assert r.status_code == 400
