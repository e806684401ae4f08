"""The one-port HTTP/1.1 + WebSocket server and the in-process HTTP transport."""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import AsyncIterator

import anyio
import anyio.abc
import httpx
import pytest

from framework.emulator import Emulator
from framework.emulator.gateway import ServerWebSocket
from framework.emulator.http import HttpRequest, HttpResponse, Router, json_response
from framework.emulator.server import EmulatorServer

pytestmark = pytest.mark.anyio


def token_body(emu: Emulator) -> dict[str, str]:
    app_id, secret = next(iter(emu.config.apps.items()))
    return {"appId": app_id, "clientSecret": secret}


async def read_response(stream: anyio.abc.SocketStream, buf: bytearray) -> tuple[bytes, bytes]:
    """Read one HTTP response with a Content-Length body; returns (head, body); ``buf`` keeps any surplus."""
    with anyio.fail_after(5):
        while b"\r\n\r\n" not in buf:
            buf += await stream.receive()
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += await stream.receive()
    buf[:] = rest[length:]
    return head, rest[:length]


async def read_until_closed(stream: anyio.abc.SocketStream) -> bytes:
    data = b""
    with anyio.fail_after(5):
        while True:
            try:
                data += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return data


def host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    emu = Emulator()
    async with emu.serve() as url:
        stream = await anyio.connect_tcp(*host_port(url))
        async with stream:
            buf = bytearray()
            for _ in range(3):
                await stream.send(b"GET /no/such/api HTTP/1.1\r\nHost: emu\r\n\r\n")
                head, body = await read_response(stream, buf)
                assert head.startswith(b"HTTP/1.1 404")
                assert b"Content-Type: application/json\r\n" in head + b"\r\n"
                assert json.loads(body)["code"] == 404
            assert len(emu.gateway.recorder.connections) == 0


async def test_chunked_request_body_and_json_content_type() -> None:
    emu = Emulator()
    async with emu.serve() as url, httpx.AsyncClient(base_url=url) as http:

        async def chunks() -> AsyncIterator[bytes]:
            data = json.dumps(token_body(emu)).encode()
            yield data[:5]
            yield data[5:]

        r = await http.post("/app/getAppAccessToken", content=chunks())
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        token = r.json()["access_token"]
        r = await http.get("/gateway/bot", headers={"Authorization": f"QQBot {token}"})
        assert r.json()["url"] == url.replace("http://", "ws://") + "/websocket"


async def test_malformed_http_gets_400_and_the_server_lives_on() -> None:
    emu = Emulator()
    async with emu.serve() as url:
        stream = await anyio.connect_tcp(*host_port(url))
        async with stream:
            await stream.send(b"THIS IS NOT HTTP\x00\r\n\r\n")
            data = await read_until_closed(stream)
            assert data.startswith(b"HTTP/1.1 400")
        stream = await anyio.connect_tcp(*host_port(url))
        async with stream:  # a client that vanishes mid-request
            await stream.send(b"POST /app/getAppAccessToken HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        async with httpx.AsyncClient(base_url=url) as http:
            r = await http.post("/app/getAppAccessToken", json=token_body(emu))
            assert r.status_code == 200 and "access_token" in r.json()


class ExplodingRouter(Router):
    async def dispatch(self, req: HttpRequest) -> HttpResponse:
        if req.path == "/boom":
            raise RuntimeError("handler bug")
        return json_response(200, {"path": req.path, "query": req.query, "body": req.body.decode()})


async def no_gateway(ws: ServerWebSocket) -> None:
    await ws.close(1000)


async def test_handler_exception_is_500_with_error_body() -> None:
    server = EmulatorServer(ExplodingRouter(), no_gateway)
    async with server.serve() as url, httpx.AsyncClient(base_url=url) as http:
        r = await http.get("/boom")
        assert r.status_code == 500
        assert r.json()["code"] == 500 and "RuntimeError" in r.json()["message"]
        r = await http.post("/echo?a=1&b=x%20y", content=b"hello")
        assert r.json() == {"path": "/echo", "query": {"a": "1", "b": "x y"}, "body": "hello"}
    assert server.url is None


def upgrade_request(path: bytes = b"/websocket", key: bool = True) -> bytes:
    lines = [
        b"GET " + path + b" HTTP/1.1",
        b"Host: emu",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Version: 13",
    ]
    if key:
        lines.append(b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)))
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def test_websocket_upgrade_after_a_request_on_the_same_connection() -> None:
    emu = Emulator()
    async with emu.serve() as url:
        stream = await anyio.connect_tcp(*host_port(url))
        async with stream:
            buf = bytearray()
            await stream.send(b"GET /gateway HTTP/1.1\r\nHost: emu\r\n\r\n")
            head, _ = await read_response(stream, buf)
            assert head.startswith(b"HTTP/1.1 401")  # no token: the platform's 401
            await stream.send(upgrade_request(b"/websocket/"))
            with anyio.fail_after(5):
                while b'"op":10' not in buf:
                    buf += await stream.receive()
            assert bytes(buf).startswith(b"HTTP/1.1 101")
            assert b'{"op":10,"d":{"heartbeat_interval":41250}}' in buf
        assert emu.gateway.recorder.connections[0].transport == "socket"


async def test_garbage_websocket_frames_close_the_connection_only(caplog: pytest.LogCaptureFixture) -> None:
    emu = Emulator()
    async with emu.serve() as url:
        stream = await anyio.connect_tcp(*host_port(url))
        async with stream:
            await stream.send(upgrade_request())
            buf = b""
            with anyio.fail_after(5):
                while b'"op":10' not in buf:
                    buf += await stream.receive()
            await stream.send(b"\x81\x05hello")  # an unmasked client frame: a protocol error
            data = await read_until_closed(stream)
            assert data.startswith(b"\x88")  # the server's close frame (1002), then it hangs up
            assert int.from_bytes(data[2:4], "big") == 1002
        stream = await anyio.connect_tcp(*host_port(url))
        async with stream:  # the same garbage glued to the handshake
            await stream.send(upgrade_request() + b"\x81\x05hello")
            await read_until_closed(stream)
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/_emulator/gateway/sessions")).status_code == 200
    assert [c.client_close_code for c in emu.gateway.recorder.connections] == [1002, 1006]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_bad_websocket_handshake_and_upgrade_elsewhere() -> None:
    emu = Emulator()
    async with emu.serve() as url:
        stream = await anyio.connect_tcp(*host_port(url))
        async with stream:
            await stream.send(upgrade_request(key=False))
            data = await read_until_closed(stream)
            assert data.startswith(b"HTTP/1.1 400")
        stream = await anyio.connect_tcp(*host_port(url))
        async with stream:
            await stream.send(upgrade_request(b"/not-the-gateway"))
            head, _ = await read_response(stream, bytearray())
            assert head.startswith(b"HTTP/1.1 404")
        assert emu.gateway.recorder.connections == []


async def test_in_process_http_transport() -> None:
    emu = Emulator()
    async with emu.http_client() as http:
        r = await http.post("/app/getAppAccessToken", json=token_body(emu))
        token = r.json()["access_token"]
        r = await http.get("/users/@me", headers={"Authorization": f"QQBot {token}"})
        assert r.status_code == 200 and r.json()["id"] == emu.config.bot_id
        assert r.headers["content-type"] == "application/json"
        r = await http.get("/gateway/bot", headers={"Authorization": f"QQBot {token}"})
        assert r.json()["url"] == "ws://emulator/websocket"
        r = await http.get("/_emulator/calls", params={"path_prefix": "/users"})
        assert [c["path"] for c in r.json()] == ["/users/@me"]


async def test_in_process_websocket_needs_a_running_emulator() -> None:
    emu = Emulator()
    with pytest.raises(RuntimeError, match="running emulator"):
        await emu.connect_websocket("ws://emulator/websocket")
    async with emu:
        ws = await emu.connect_websocket("ws://emulator/websocket")
        with anyio.fail_after(5):
            assert json.loads(await ws.receive())["op"] == 10
        await ws.close()
    assert not emu.running


def test_command_line_configuration() -> None:
    from framework.emulator import config_from_args

    config = config_from_args(
        ["--port", "0", "--app", "1001:s1", "--app", "1002:s2", "--shards", "2", "--reconnect-every", "30"]
    )
    assert config.port == 0 and config.apps == {"1001": "s1", "1002": "s2"}
    assert config.shards == 2 and config.reconnect_every == 30.0 and config.webhook_url is None
    with pytest.raises(SystemExit):
        config_from_args(["--app", "no-secret"])


async def test_serve_forever_until_cancelled() -> None:
    from framework.emulator import serve_forever

    emu = Emulator()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: serve_forever(emu, port=0, announce=False))
        with anyio.fail_after(5):
            while emu.url is None:  # noqa: ASYNC110 - waiting for the listener from outside
                await anyio.sleep(0.005)
        async with httpx.AsyncClient(base_url=emu.url) as http:
            assert (await http.get("/_emulator/gateway/sessions")).status_code == 200
        assert emu.ws_url == emu.url.replace("http://", "ws://") + "/websocket"
        tg.cancel_scope.cancel()
    assert emu.url is None and not emu.running
