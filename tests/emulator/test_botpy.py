"""qq-botpy 1.2.1, unmodified except for its base URLs (protocol.md §12.1), against the emulator over
real loopback sockets: token, /users/@me, /gateway/bot, identify, a group @message from the control API,
a "pong" reply that shows up in the control API. asyncio only (botpy and aiohttp are asyncio libraries).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anyio
import botpy
import httpx
import pytest
from botpy import http as botpy_http
from botpy import robot as botpy_robot
from botpy.message import GroupMessage

from framework.emulator import Emulator, EmulatorConfig
from framework.emulator.config import DEFAULT_APP_ID

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # botpy builds SSLContext() without a protocol
]


def _botpy_config() -> EmulatorConfig:
    """botpy identifies with GROUP_AND_C2C_EVENT (1<<25), which a new bot lacks: grant it explicitly."""
    return EmulatorConfig(allowed_intents={DEFAULT_APP_ID: (1 << 25) | (1 << 30) | 1})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def point_botpy_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    host = url.removeprefix("http://")
    monkeypatch.setattr(botpy_http.Route, "SCHEME", "http")
    monkeypatch.setattr(botpy_http.Route, "DOMAIN", host)
    monkeypatch.setattr(botpy_http.Route, "SANDBOX_DOMAIN", host)

    async def update_access_token(self: Any) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{url}/app/getAppAccessToken", json={"appId": self.app_id, "clientSecret": self.secret}
            ) as resp,
        ):
            data = await resp.json(content_type=None)
        self.access_token = data["access_token"]
        self.expires_in = int(data["expires_in"]) + int(time.time())

    monkeypatch.setattr(botpy_robot.Token, "update_access_token", update_access_token)


class PongBot(botpy.Client):  # type: ignore[misc]
    async def on_group_at_message_create(self, message: GroupMessage) -> None:
        if message.content.strip() == "ping":
            await message.reply(content="pong")


async def wait_until(http: httpx.AsyncClient, path: str, predicate: Any) -> Any:
    while True:
        data = (await http.get(path)).json()
        if predicate(data):
            return data
        await anyio.sleep(0.02)


@asynccontextmanager
async def running_botpy(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    """Serve the emulator, start a PongBot against it and yield an HTTP client for the control API."""
    app_id, secret = next(iter(emulator.config.apps.items()))
    before = asyncio.all_tasks()
    client: Any = None
    try:
        async with emulator.serve() as url, httpx.AsyncClient(base_url=url) as http:
            point_botpy_at(monkeypatch, url)
            client = PongBot(intents=botpy.Intents(public_messages=True), bot_log=None, ext_handlers=False)
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.start, app_id, secret)
                yield http
                tg.cancel_scope.cancel()
    finally:
        if client is not None:
            await client.close()
        # botpy starts tasks of its own (heartbeats, reconnect runners): end them with the test
        leftovers = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)


async def wait_for_session(http: httpx.AsyncClient) -> dict[str, Any]:
    snap: dict[str, Any] = await wait_until(
        http, "/_emulator/gateway/sessions", lambda s: any(c["kind"] == "identify" for c in s["connections"])
    )
    return snap


async def ping_and_expect_pong(http: httpx.AsyncClient, content: str = "ping") -> None:
    act = await http.post("/_emulator/act/group_at_message", json={"content": content})
    assert act.status_code == 200, act.text
    group = act.json()["d"]["group_openid"]
    msg_id = act.json()["d"]["id"]
    sent = await wait_until(
        http, f"/_emulator/sent/group/{group}", lambda s: any(m["body"].get("msg_id") == msg_id for m in s)
    )
    reply = next(m for m in sent if m["body"].get("msg_id") == msg_id)
    assert reply["body"]["content"] == "pong"


async def test_botpy_replies_pong_through_the_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = Emulator(_botpy_config())
    with anyio.fail_after(20):
        async with running_botpy(emulator, monkeypatch) as http:
            snap = await wait_for_session(http)
            assert snap["sessions"][0]["intents"] == 1 << 25
            assert snap["sessions"][0]["shard"] == [0, 1]
            await ping_and_expect_pong(http)
            # botpy heartbeats right after READY
            await wait_until(http, "/_emulator/gateway/sessions", lambda s: s["connections"][0]["heartbeats"] > 0)
    paths = {c.path for c in emulator.world.api_calls}
    assert {"/users/@me", "/gateway/bot"} <= paths


async def test_botpy_resumes_after_op7_and_gets_the_missed_event(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = Emulator(_botpy_config())
    with anyio.fail_after(30):  # botpy waits ~5 s before reconnecting
        async with running_botpy(emulator, monkeypatch) as http:
            await wait_for_session(http)
            await ping_and_expect_pong(http)
            r = await http.post("/_emulator/gateway/faults/reconnect", json={})
            assert r.json() == {"affected": 1}
            await wait_until(http, "/_emulator/gateway/sessions", lambda s: s["live_connections"] == 0)
            # emitted while botpy is disconnected: delivered by the resume replay
            await ping_and_expect_pong(http)
            snap = (await http.get("/_emulator/gateway/sessions")).json()
            assert [c["kind"] for c in snap["connections"]] == ["identify", "resume"]
            assert snap["sessions"][0]["replayed"] == 1
            assert snap["close_codes_sent"] == [4009]
