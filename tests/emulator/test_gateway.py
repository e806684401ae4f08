"""The emulated gateway over real loopback sockets and over the in-memory pipe (same session code).

Driven by a raw WebSocket client (tests/emulator/_gateway_client.py), never by framework.runtime.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest
from _gateway_client import RawWebSocket, expect_close, recv_json, send_json

from framework.clock import Clock
from framework.emulator import Emulator, EmulatorConfig, GatewaySettings
from framework.emulator.config import SessionStartLimitConfig
from framework.models import CloseCode, Intents, WebSocketClosed, WebSocketConnection
from framework.models.intents import ALL_INTENTS

pytestmark = pytest.mark.anyio

GROUP = int(Intents.GROUP_AND_C2C_EVENT)
GUILDS = int(Intents.GUILDS)
TRANSPORTS = ["socket", "pipe"]


@dataclass
class Env:
    emu: Emulator
    token: str
    opener: Callable[[], Awaitable[WebSocketConnection]]
    url: str | None = None
    opened: list[WebSocketConnection] = field(default_factory=list)

    async def connect(self) -> WebSocketConnection:
        ws = await self.opener()
        self.opened.append(ws)
        return ws

    async def hello(self) -> tuple[WebSocketConnection, dict[str, Any]]:
        ws = await self.connect()
        return ws, await recv_json(ws)

    async def identify(
        self, intents: int = GROUP, shard: list[int] | None = None, token: str | None = None
    ) -> tuple[WebSocketConnection, dict[str, Any]]:
        ws, hello = await self.hello()
        assert hello["op"] == 10
        d: dict[str, Any] = {"token": f"QQBot {token or self.token}", "intents": intents}
        if shard is not None:
            d["shard"] = shard
        await send_json(ws, {"op": 2, "d": d})
        return ws, await recv_json(ws)


@asynccontextmanager
async def gateway_env(
    transport: str,
    config: EmulatorConfig | None = None,
    *,
    clock: Clock | None = None,
    settings: GatewaySettings | None = None,
) -> AsyncIterator[Env]:
    config = config or EmulatorConfig()
    for app in config.apps:  # a new bot is granted only DEFAULT_PERMITTED: these tests grant every intent
        config.allowed_intents.setdefault(app, ALL_INTENTS)
    emu = Emulator(config, clock=clock, gateway_settings=settings)
    app_id, secret = next(iter(emu.config.apps.items()))
    token = emu.tokens.issue(app_id, secret)["access_token"]
    env: Env
    if transport == "socket":
        async with emu.serve() as url:
            ws_url = url.replace("http://", "ws://") + "/websocket"
            env = Env(emu, token, lambda: RawWebSocket.connect(ws_url), url)
            try:
                yield env
            finally:
                for ws in env.opened:
                    await ws.abort()
    else:
        async with emu:
            env = Env(emu, token, emu.connect_websocket)
            try:
                yield env
            finally:
                for ws in env.opened:
                    await ws.abort()


async def wait_for(predicate: Callable[[], bool], limit: float = 5.0) -> None:
    with anyio.fail_after(limit):
        while not predicate():  # noqa: ASYNC110 - polling emulator state from outside
            await anyio.sleep(0.002)


def two_shard_config(**kw: Any) -> EmulatorConfig:
    return EmulatorConfig(session_start_limit=SessionStartLimitConfig(max_concurrency=10), **kw)


# -- handshake ----------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_hello_identify_ready_heartbeat(transport: str) -> None:
    config = EmulatorConfig(heartbeat_interval_ms=30000)
    async with gateway_env(transport, config) as env:
        ws, hello = await env.hello()
        assert hello == {"op": 10, "d": {"heartbeat_interval": 30000}}
        await send_json(ws, {"op": 2, "d": {"token": f"QQBot {env.token}", "intents": GROUP, "shard": [0, 1]}})
        ready = await recv_json(ws)
        assert ready["op"] == 0 and ready["t"] == "READY" and ready["s"] == 1
        d = ready["d"]
        assert d["version"] == 1 and d["shard"] == [0, 1] and d["session_id"]
        assert d["user"] == {"id": config.bot_id, "username": config.bot_username, "bot": True}
        await send_json(ws, {"op": 1, "d": 1})
        assert await recv_json(ws) == {"op": 11}
        rec = env.emu.gateway.recorder
        assert rec.connections[0].transport == transport
        assert rec.connections[0].heartbeats == 1
        assert rec.sessions[0].intents == GROUP and rec.sessions[0].shard == (0, 1)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_no_shard_no_properties(transport: str) -> None:
    # botpy omits properties; whether the platform requires shard is UNCONFIRMED, so its absence means [0, 1]
    async with gateway_env(transport) as env:
        ws, _ = await env.hello()
        await send_json(ws, {"op": 2, "d": {"token": f"QQBot {env.token}", "intents": GROUP}})
        ready = await recv_json(ws)
        assert ready["t"] == "READY" and ready["d"]["shard"] == [0, 1]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_dispatch_sequence_and_envelope(transport: str) -> None:
    async with gateway_env(transport) as env:
        ws, _ = await env.identify()
        first = env.emu.control.group_at_message("ping")
        second = env.emu.control.c2c_message("hi")
        f1, f2 = await recv_json(ws), await recv_json(ws)
        assert (f1["op"], f1["s"], f1["t"], f1["id"]) == (0, 2, "GROUP_AT_MESSAGE_CREATE", first.id)
        assert f1["d"]["content"] == first.d["content"]
        assert (f2["s"], f2["t"], f2["id"]) == (3, "C2C_MESSAGE_CREATE", second.id)


# -- routing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_intents_filter_events(transport: str) -> None:
    async with gateway_env(transport, two_shard_config()) as env:
        group_ws, _ = await env.identify(intents=GROUP)
        guild_ws, _ = await env.identify(intents=GUILDS)
        env.emu.world.emit("GUILD_CREATE", {"id": "1", "name": "g"}, guild_id="1")
        env.emu.control.group_at_message("only for the group session")
        env.emu.world.emit("CHANNEL_CREATE", {"id": "2", "guild_id": "1"}, guild_id="1")
        got_guild = [await recv_json(guild_ws), await recv_json(guild_ws)]
        assert [f["t"] for f in got_guild] == ["GUILD_CREATE", "CHANNEL_CREATE"]
        assert [f["s"] for f in got_guild] == [2, 3]
        got_group = await recv_json(group_ws)
        assert got_group["t"] == "GROUP_AT_MESSAGE_CREATE" and got_group["s"] == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_shard_routing(transport: str) -> None:
    async with gateway_env(transport, two_shard_config()) as env:
        ws0, r0 = await env.identify(intents=GUILDS | GROUP, shard=[0, 2])
        ws1, r1 = await env.identify(intents=GUILDS | GROUP, shard=[1, 2])
        assert r0["d"]["shard"] == [0, 2] and r1["d"]["shard"] == [1, 2]
        g_shard1 = str((1 << 22) * 3)  # (id >> 22) % 2 == 1
        g_shard0 = str((1 << 22) * 4)
        env.emu.world.emit("GUILD_UPDATE", {"id": g_shard1}, guild_id=g_shard1)
        env.emu.world.emit("GUILD_UPDATE", {"id": g_shard0}, guild_id=g_shard0)
        env.emu.control.group_at_message("group events go to shard 0")
        assert (await recv_json(ws1))["d"]["id"] == g_shard1
        assert (await recv_json(ws0))["d"]["id"] == g_shard0
        assert (await recv_json(ws0))["t"] == "GROUP_AT_MESSAGE_CREATE"
        # nothing else reached shard 1
        env.emu.world.emit("GUILD_UPDATE", {"id": g_shard1, "marker": True}, guild_id=g_shard1)
        assert (await recv_json(ws1))["d"] == {"id": g_shard1, "marker": True}


# -- resume -------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_resume_replays_missed_events_then_resumed(transport: str) -> None:
    async with gateway_env(transport) as env:
        ws, ready = await env.identify()
        session_id = ready["d"]["session_id"]
        env.emu.control.group_at_message("one")
        assert (await recv_json(ws))["s"] == 2
        await ws.abort()
        await wait_for(lambda: not env.emu.gateway.connections)
        missed = env.emu.control.group_at_message("sent while disconnected")
        ws2, _ = await env.hello()
        await send_json(ws2, {"op": 6, "d": {"token": f"QQBot {env.token}", "session_id": session_id, "seq": 2}})
        replay = await recv_json(ws2)
        assert (replay["s"], replay["id"], replay["d"]["content"]) == (3, missed.id, missed.d["content"])
        resumed = await recv_json(ws2)
        assert resumed == {"op": 0, "d": "", "s": 4, "t": "RESUMED"}
        live = env.emu.control.group_at_message("after resume")
        assert (await recv_json(ws2))["id"] == live.id
        rec = env.emu.gateway.recorder
        assert rec.sessions[0].replayed == 1 and len(rec.sessions[0].resumed_at) == 1
        assert rec.connections[-1].kind == "resume"
        assert rec.connections[0].client_close_code == 1006


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_resume_from_older_seq_with_bare_token(transport: str) -> None:
    async with gateway_env(transport) as env:
        ws, ready = await env.identify()
        a = env.emu.control.group_at_message("a")
        b = env.emu.control.group_at_message("b")
        await recv_json(ws)
        await recv_json(ws)
        ws2, _ = await env.hello()  # resuming on a new connection takes the session over
        await send_json(ws2, {"op": 6, "d": {"token": env.token, "session_id": ready["d"]["session_id"], "seq": 1}})
        frames = [await recv_json(ws2) for _ in range(3)]
        assert [f.get("id") for f in frames[:2]] == [a.id, b.id]
        assert frames[2]["t"] == "RESUMED"
        code, _ = await expect_close(ws)
        assert code == CloseCode.SESSION_TIMED_OUT


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("reject_code", [4006, 4902])
async def test_resume_unknown_session_is_refused(transport: str, reject_code: int) -> None:
    async with gateway_env(transport) as env:
        env.emu.gateway.settings.resume_reject_code = reject_code
        ws, _ = await env.hello()
        await send_json(ws, {"op": 6, "d": {"token": env.token, "session_id": "nope", "seq": 0}})
        code, frames = await expect_close(ws)
        assert code == reject_code and frames == []


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_resume_with_future_seq_is_4007(transport: str) -> None:
    async with gateway_env(transport) as env:
        _, ready = await env.identify()
        ws, _ = await env.hello()
        await send_json(ws, {"op": 6, "d": {"token": env.token, "session_id": ready["d"]["session_id"], "seq": 99}})
        assert (await expect_close(ws))[0] == CloseCode.INVALID_SEQ


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_resume_beyond_replay_buffer_is_refused(transport: str) -> None:
    async with gateway_env(transport, settings=GatewaySettings(replay_buffer=2)) as env:
        ws, ready = await env.identify()
        for i in range(4):
            env.emu.control.group_at_message(f"m{i}")
        for _ in range(4):
            await recv_json(ws)
        ws2, _ = await env.hello()
        await send_json(ws2, {"op": 6, "d": {"token": env.token, "session_id": ready["d"]["session_id"], "seq": 1}})
        assert (await expect_close(ws2))[0] == CloseCode.INVALID_SESSION


# -- faults -------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_fault_reconnect_sends_op7_then_4009_and_resume_works(transport: str) -> None:
    async with gateway_env(transport) as env:
        ws, ready = await env.identify()
        assert env.emu.gateway.reconnect() == 1
        code, frames = await expect_close(ws)
        assert frames == [{"op": 7}] or frames == [{"op": 7, "d": None}]
        assert code == CloseCode.SESSION_TIMED_OUT
        ws2, _ = await env.hello()
        await send_json(ws2, {"op": 6, "d": {"token": env.token, "session_id": ready["d"]["session_id"], "seq": 1}})
        assert (await recv_json(ws2))["t"] == "RESUMED"
        assert env.emu.gateway.recorder.close_codes_sent() == [4009]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_fault_invalid_session_op9_then_close_and_session_gone(transport: str) -> None:
    async with gateway_env(transport, two_shard_config()) as env:
        ws, ready = await env.identify()
        env.emu.gateway.invalid_session()
        code, frames = await expect_close(ws)
        assert frames == [{"op": 9, "d": False}] and code == CloseCode.INVALID_SESSION
        ws2, _ = await env.hello()
        await send_json(ws2, {"op": 6, "d": {"token": env.token, "session_id": ready["d"]["session_id"], "seq": 1}})
        assert (await expect_close(ws2))[0] == CloseCode.INVALID_SESSION
        _ws3, ready3 = await env.identify()
        assert ready3["t"] == "READY"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_fault_invalid_session_resumable(transport: str) -> None:
    async with gateway_env(transport) as env:
        ws, _ = await env.identify()
        env.emu.gateway.invalid_session(resumable=True)
        code, frames = await expect_close(ws)
        assert frames == [{"op": 9, "d": True}] and code == CloseCode.SESSION_TIMED_OUT


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("code", [4000, 4900, 4914, 4915])
async def test_fault_close_with_code(transport: str, code: int) -> None:
    async with gateway_env(transport) as env:
        ws, _ = await env.identify()
        assert env.emu.gateway.close(code, "bye") == 1
        assert (await expect_close(ws))[0] == code
        assert env.emu.gateway.recorder.connections[0].close_reason_sent == "bye"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_fault_drop_is_abnormal_closure(transport: str) -> None:
    async with gateway_env(transport) as env:
        ws, _ = await env.identify()
        env.emu.gateway.drop()
        code, _ = await expect_close(ws)
        assert code == 1006
        assert env.emu.gateway.recorder.connections[0].dropped
        assert env.emu.gateway.recorder.close_codes_sent() == []


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_fault_drop_does_not_wait_for_the_backlog(transport: str) -> None:
    async with gateway_env(transport) as env:
        ws, ready = await env.identify()
        env.emu.gateway.push_many("GROUP_AT_MESSAGE_CREATE", [b"{}"] * 5000)
        env.emu.gateway.close(4900)  # a queued close is discarded by the drop
        env.emu.gateway.drop()
        code, frames = await expect_close(ws)
        assert code == 1006 and len(frames) < 5000
        await wait_for(lambda: not env.emu.gateway.connections)
        # nothing is lost: the session replays the backlog on resume
        ws2, _ = await env.hello()
        await send_json(ws2, {"op": 6, "d": {"token": env.token, "session_id": ready["d"]["session_id"], "seq": 1}})
        last = {}
        for _ in range(5001):
            last = await recv_json(ws2)
        assert last["t"] == "RESUMED" and last["s"] == 5002


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_fault_targets_one_shard(transport: str) -> None:
    async with gateway_env(transport, two_shard_config()) as env:
        ws0, _ = await env.identify(shard=[0, 2])
        ws1, _ = await env.identify(shard=[1, 2])
        assert env.emu.gateway.close(4900, shard=1) == 1
        assert (await expect_close(ws1))[0] == 4900
        await send_json(ws0, {"op": 1, "d": 1})
        assert await recv_json(ws0) == {"op": 11}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_fault_pause_heartbeat_acks(transport: str) -> None:
    async with gateway_env(transport) as env:
        ws, _ = await env.identify()
        env.emu.gateway.pause_heartbeat_acks()
        await send_json(ws, {"op": 1, "d": 1})
        await wait_for(lambda: env.emu.gateway.recorder.connections[0].heartbeats == 1)
        ev = env.emu.control.group_at_message("x")
        assert (await recv_json(ws))["id"] == ev.id  # no op 11 before it
        env.emu.gateway.resume_heartbeat_acks()
        await send_json(ws, {"op": 1, "d": 2})
        assert await recv_json(ws) == {"op": 11}
        assert env.emu.gateway.recorder.connections[0].heartbeats == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_fault_expire_session(transport: str) -> None:
    async with gateway_env(transport) as env:
        ws, ready = await env.identify()
        assert env.emu.gateway.expire_session() == 1
        assert (await expect_close(ws))[0] == CloseCode.SESSION_TIMED_OUT
        ws2, _ = await env.hello()
        await send_json(ws2, {"op": 6, "d": {"token": env.token, "session_id": ready["d"]["session_id"], "seq": 1}})
        assert (await expect_close(ws2))[0] == CloseCode.INVALID_SESSION
        assert env.emu.gateway.recorder.sessions[0].expired


async def test_faults_through_control_routes() -> None:
    async with gateway_env("socket") as env:
        ws, _ = await env.identify()
        async with httpx.AsyncClient(base_url=env.url or "") as http:
            r = await http.post("/_emulator/gateway/faults/close", json={"code": 4901, "reason": "ctl"})
            assert r.status_code == 200 and r.json() == {"affected": 1}
            assert (await expect_close(ws))[0] == 4901
            snap = (await http.get("/_emulator/gateway/sessions")).json()
            assert snap["close_codes_sent"] == [4901]
            assert snap["sessions"][0]["intents"] == GROUP
            bad = await http.post("/_emulator/gateway/faults/nonsense", json={})
            assert bad.status_code == 404
            bad = await http.post("/_emulator/gateway/faults/close", json={"code": "x"})
            assert bad.status_code == 400
            r = await http.post("/_emulator/gateway/faults/resume_reject_code", json={"code": 4902})
            assert r.status_code == 200 and env.emu.gateway.settings.resume_reject_code == 4902


# -- bad input: the platform's close code, never a traceback -------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", CloseCode.INVALID_PAYLOAD),
        ("[1, 2]", CloseCode.INVALID_PAYLOAD),
        ('{"d": {}}', CloseCode.INVALID_PAYLOAD),
        ('{"op": "2"}', CloseCode.INVALID_PAYLOAD),
        ('{"op": 99}', CloseCode.INVALID_OPCODE),
        ('{"op": 11}', CloseCode.INVALID_OPCODE),
        ('{"op": 0, "d": {}}', CloseCode.INVALID_OPCODE),
        ('{"op": 1, "d": null}', CloseCode.NOT_AUTHENTICATED),
        ('{"op": 1, "d": "1"}', CloseCode.INVALID_PAYLOAD),
        ('{"op": 2, "d": "token"}', CloseCode.INVALID_PAYLOAD),
        ('{"op": 2, "d": {"intents": 1}}', CloseCode.INVALID_PAYLOAD),
        ('{"op": 2, "d": {"token": 5, "intents": 1}}', CloseCode.INVALID_PAYLOAD),
        ('{"op": 2, "d": {"token": "QQBot t"}}', CloseCode.INVALID_PAYLOAD),
        ('{"op": 2, "d": {"token": "QQBot t", "intents": "1"}}', CloseCode.INVALID_PAYLOAD),
        ('{"op": 2, "d": {"token": "QQBot t", "intents": true}}', CloseCode.INVALID_PAYLOAD),
        ('{"op": 2, "d": {"token": "QQBot nope", "intents": 1}}', CloseCode.AUTHENTICATION_FAILED),
        ('{"op": 6, "d": {"token": "t"}}', CloseCode.INVALID_PAYLOAD),
        ('{"op": 6, "d": {"token": "t", "session_id": "s", "seq": "1"}}', CloseCode.INVALID_PAYLOAD),
        ('{"op": 6, "d": {"token": "t", "session_id": 1, "seq": 1}}', CloseCode.INVALID_PAYLOAD),
        ('{"op": 6, "d": {"session_id": "s", "seq": 1}}', CloseCode.INVALID_PAYLOAD),
        ('{"op": 6, "d": [1]}', CloseCode.INVALID_PAYLOAD),
    ],
)
async def test_bad_frames_before_identify(
    transport: str, frame: str, code: int, caplog: pytest.LogCaptureFixture
) -> None:
    async with gateway_env(transport) as env:
        ws, _ = await env.hello()
        await ws.send(frame)
        assert (await expect_close(ws))[0] == code
        assert env.emu.gateway.recorder.connections[0].close_code_sent == code
        _, ready = await env.identify()  # the gateway still serves
        assert ready["t"] == "READY"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert_one_warning(caplog, code)


def assert_one_warning(caplog: pytest.LogCaptureFixture, code: int) -> None:
    """The emulator logged exactly one WARNING about the rejection, naming the close code."""
    warnings = [r for r in caplog.records if r.name.endswith("emulator.gateway") and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"closing with {code}: " in warnings[0].getMessage(), warnings


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_binary_frame_is_closed_4002(transport: str, caplog: pytest.LogCaptureFixture) -> None:
    # clients send JSON as text frames (protocol.md §0); the live answer to a binary one is UNCONFIRMED
    async with gateway_env(transport) as env:
        ws, _ = await env.hello()
        await ws.send(json.dumps({"op": 2, "d": {"token": f"QQBot {env.token}", "intents": GROUP}}).encode())
        code, frames = await expect_close(ws)
        assert code == CloseCode.INVALID_PAYLOAD and frames == []
        assert env.emu.gateway.recorder.sessions == []
    assert_one_warning(caplog, CloseCode.INVALID_PAYLOAD)
    assert "binary frame" in caplog.text


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("d", ["1", True, 1.5, {}, [1]])
async def test_heartbeat_d_must_be_an_int_or_null(transport: str, d: Any, caplog: pytest.LogCaptureFixture) -> None:
    async with gateway_env(transport) as env:
        ws, ready = await env.identify()
        await send_json(ws, {"op": 1, "d": None})
        assert await recv_json(ws) == {"op": 11}
        await send_json(ws, {"op": 1, "d": ready["s"]})
        assert await recv_json(ws) == {"op": 11}
        await send_json(ws, {"op": 1, "d": d})
        assert (await expect_close(ws))[0] == CloseCode.INVALID_PAYLOAD
    assert_one_warning(caplog, CloseCode.INVALID_PAYLOAD)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_identify_token_needs_the_qqbot_prefix(transport: str, caplog: pytest.LogCaptureFixture) -> None:
    async with gateway_env(transport) as env:
        ws, _ = await env.hello()
        await send_json(ws, {"op": 2, "d": {"token": env.token, "intents": GROUP, "shard": [0, 1]}})
        assert (await expect_close(ws))[0] == CloseCode.AUTHENTICATION_FAILED
    assert_one_warning(caplog, CloseCode.AUTHENTICATION_FAILED)
    assert '"QQBot <access_token>"' in caplog.text


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("d", "code"),
    [
        ({"intents": GROUP, "shard": [2, 2]}, CloseCode.INVALID_SHARD),
        ({"intents": GROUP, "shard": [0, 0]}, CloseCode.INVALID_SHARD),
        ({"intents": GROUP, "shard": "0,1"}, CloseCode.INVALID_SHARD),
        ({"intents": 1 << 3}, CloseCode.INVALID_INTENT),
        ({"intents": GROUP, "shard": [0, 1, 2]}, CloseCode.INVALID_SHARD),
        ({"intents": GROUP, "shard": [-1, 2]}, CloseCode.INVALID_SHARD),
        ({"intents": GROUP, "shard": [False, 1]}, CloseCode.INVALID_SHARD),
        ({"intents": GROUP, "shard": [0.0, 1]}, CloseCode.INVALID_SHARD),
        ({"intents": GROUP, "shard": None}, CloseCode.INVALID_SHARD),
        ({"intents": 1 << 3}, CloseCode.INVALID_INTENT),
        ({"intents": -1}, CloseCode.INVALID_INTENT),
        ({"intents": 0}, CloseCode.INVALID_INTENT),
        ({"intents": int(Intents.GUILD_MESSAGES)}, CloseCode.DISALLOWED_INTENT),
    ],
)
async def test_identify_rejections(
    transport: str, d: dict[str, Any], code: int, caplog: pytest.LogCaptureFixture
) -> None:
    config = EmulatorConfig()
    config.allowed_intents = {next(iter(config.apps)): GROUP | GUILDS}
    async with gateway_env(transport, config) as env:
        ws, _ = await env.hello()
        await send_json(ws, {"op": 2, "d": {"token": f"QQBot {env.token}", **d}})
        assert (await expect_close(ws))[0] == code
        assert env.emu.gateway.recorder.sessions == []
    assert_one_warning(caplog, code)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_disallowed_intent_as_op9(transport: str) -> None:
    config = EmulatorConfig()
    config.allowed_intents = {next(iter(config.apps)): GROUP}
    settings = GatewaySettings(disallowed_intent_response="op9")
    async with gateway_env(transport, config, settings=settings) as env:
        ws, _ = await env.hello()
        await send_json(ws, {"op": 2, "d": {"token": f"QQBot {env.token}", "intents": GUILDS}})
        code, frames = await expect_close(ws)
        assert frames == [{"op": 9, "d": False}] and code == CloseCode.INVALID_SESSION


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_identify_twice_is_4005(transport: str) -> None:
    async with gateway_env(transport) as env:
        ws, _ = await env.identify()
        await send_json(ws, {"op": 2, "d": {"token": env.token, "intents": GROUP}})
        assert (await expect_close(ws))[0] == CloseCode.ALREADY_AUTHENTICATED


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_too_many_frames_is_4008(transport: str) -> None:
    async with gateway_env(transport, settings=GatewaySettings(client_rate_limit=(3, 60.0))) as env:
        ws, _ = await env.identify()
        for i in range(3):
            await send_json(ws, {"op": 1, "d": i})
        code, frames = await expect_close(ws)
        assert code == CloseCode.RATE_LIMITED and frames == [{"op": 11}, {"op": 11}]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_client_close_code_is_recorded(transport: str) -> None:
    async with gateway_env(transport) as env:
        ws, _ = await env.identify()
        await ws.close(4321, "client says bye")
        await wait_for(lambda: not env.emu.gateway.connections)
        assert env.emu.gateway.recorder.connections[0].client_close_code == 4321


# -- session_start_limit -----------------------------------------------------------------------


async def test_identify_window_limits_and_records() -> None:
    from framework.clock import VirtualClock

    clock = VirtualClock()
    config = EmulatorConfig(session_start_limit=SessionStartLimitConfig(max_concurrency=2, remaining=10))
    settings = GatewaySettings(heartbeat_timeout_factor=None)
    async with gateway_env("pipe", config, clock=clock, settings=settings) as env:
        await env.identify(shard=[0, 3])
        await env.identify(shard=[1, 3])
        ws, _ = await env.hello()
        await send_json(ws, {"op": 2, "d": {"token": f"QQBot {env.token}", "intents": GROUP, "shard": [2, 3]}})
        assert (await expect_close(ws))[0] == CloseCode.RATE_LIMITED
        clock.advance(5.0)
        _, ready = await env.identify(shard=[2, 3])
        assert ready["t"] == "READY"
        rec = env.emu.gateway.recorder
        assert [i.accepted for i in rec.identifies] == [True, True, False, True]
        assert rec.identifies_per_window(5.0) == [2, 1]
        assert rec.max_identifies_in_any_window(5.0) == 2
        assert rec.max_concurrent_sessions == 3
        assert env.emu.world.session_limit.remaining == 7


async def test_identify_window_zero_turns_pacing_off_and_the_snapshot_still_works() -> None:
    config = EmulatorConfig(session_start_limit=SessionStartLimitConfig(max_concurrency=1, remaining=10))
    settings = GatewaySettings(heartbeat_timeout_factor=None, identify_window=0)
    async with gateway_env("pipe", config, settings=settings) as env:
        for shard in range(3):
            _, ready = await env.identify(shard=[shard, 3])
            assert ready["t"] == "READY"
        rec = env.emu.gateway.recorder
        assert [i.accepted for i in rec.identifies] == [True, True, True]
        assert env.emu.gateway.snapshot()["identifies_per_window"] == [3]
        assert rec.max_identifies_in_any_window(0) == 3


async def test_session_start_limit_exhausted_as_op9() -> None:
    config = EmulatorConfig(session_start_limit=SessionStartLimitConfig(max_concurrency=5, remaining=1))
    async with gateway_env("pipe", config, settings=GatewaySettings(identify_refusal="op9")) as env:
        await env.identify()
        ws, _ = await env.hello()
        await send_json(ws, {"op": 2, "d": {"token": f"QQBot {env.token}", "intents": GROUP}})
        code, frames = await expect_close(ws)
        assert frames == [{"op": 9, "d": False}] and code == CloseCode.INVALID_SESSION
        assert env.emu.gateway.recorder.identifies[-1].reason == "session_start_limit exhausted"


# -- timers (ScaledClock: 1000x) ----------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_heartbeat_timeout_closes_4009(transport: str) -> None:
    from framework.clock import ScaledClock

    config = EmulatorConfig(heartbeat_interval_ms=41250)
    # 200x, not 1000x: the timer runs from HELLO, and a loaded CI host once took longer than the 62 ms that
    # 1000x leaves to send IDENTIFY, so the close came before the test had identified
    async with gateway_env(transport, config, clock=ScaledClock(200)) as env:
        ws, _ = await env.identify()
        code, _ = await expect_close(ws)  # 1.5 x 41.25 s of emulator time = ~310 ms
        assert code == CloseCode.SESSION_TIMED_OUT
        assert env.emu.gateway.recorder.connections[0].close_reason_sent.startswith("heartbeat timeout")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_periodic_reconnect(transport: str) -> None:
    from framework.clock import ScaledClock

    config = EmulatorConfig(reconnect_every=30.0)
    settings = GatewaySettings(heartbeat_timeout_factor=None)
    async with gateway_env(transport, config, clock=ScaledClock(1000), settings=settings) as env:
        ws, ready = await env.identify()
        code, frames = await expect_close(ws)
        assert [f["op"] for f in frames] == [7] and code == CloseCode.SESSION_TIMED_OUT
        ws2, _ = await env.hello()
        await send_json(ws2, {"op": 6, "d": {"token": env.token, "session_id": ready["d"]["session_id"], "seq": 1}})
        assert (await recv_json(ws2))["t"] == "RESUMED"
        code, frames = await expect_close(ws2)  # the timer restarts after RESUMED
        assert code == CloseCode.SESSION_TIMED_OUT


# -- bulk push ----------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_push_many_in_order(transport: str) -> None:
    async with gateway_env(transport) as env:
        ws, _ = await env.identify()
        payloads: list[Any] = [{"content": str(i)} for i in range(1000)]
        payloads.append(b'{"content":"raw"}')
        assert env.emu.gateway.push_many("GROUP_AT_MESSAGE_CREATE", payloads) == 1001
        seqs = []
        last: dict[str, Any] = {}
        for _ in range(1001):
            last = await recv_json(ws)
            seqs.append(last["s"])
        assert seqs == list(range(2, 1003))
        assert last["d"] == {"content": "raw"}


async def test_virtual_clock_turns_the_heartbeat_watchdog_off_by_default() -> None:
    from framework.clock import VirtualClock

    clock = VirtualClock()
    async with gateway_env("pipe", clock=clock) as env:
        ws, _ = await env.identify()
        await clock.sleep(3600)  # an hour of virtual silence
        ev = env.emu.control.group_at_message("still here")
        assert (await recv_json(ws))["id"] == ev.id
        assert env.emu.gateway.settings.heartbeat_timeout(41250, clock) is None
    async with gateway_env("pipe", clock=clock, settings=GatewaySettings(heartbeat_timeout_factor=1.5)) as env:
        ws, _ = await env.hello()  # an explicit factor on a VirtualClock: the first jump ends the connection
        code, _ = await expect_close(ws)
        assert code == CloseCode.SESSION_TIMED_OUT
        with pytest.raises(WebSocketClosed) as closed:
            await send_json(ws, {"op": 1, "d": None})
        assert closed.value.code == CloseCode.SESSION_TIMED_OUT
