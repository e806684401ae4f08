"""The WebSocket client transport against a third-party server: ``websockets``' asyncio server (asyncio only)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Response

from framework.models import WebSocketClosed
from framework.runtime.gateway.websocket import WebSocketHandshakeError, connect

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """``websockets.asyncio`` runs on asyncio only."""
    return "asyncio"


Handler = Callable[[ServerConnection], Awaitable[None]]


@asynccontextmanager
async def server(handler: Handler, **options: object) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None, **options) as srv:  # type: ignore[arg-type]
        port = next(iter(srv.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/websocket"


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def test_echo_text_binary_and_large_messages() -> None:
    async with server(echo, max_size=None) as url:
        ws = await connect(url, max_size=8 * 2**20)
        await ws.send("héllo ✓")
        assert await ws.receive() == "héllo ✓"
        await ws.send(b"\x00\xff")
        assert await ws.receive() == b"\x00\xff"
        big = "z" * (3 * 2**20)
        await ws.send(big)
        assert await ws.receive() == big
        await ws.close()
        assert ws.close_code == 1000


async def test_request_headers_reach_the_server() -> None:
    seen: dict[str, str] = {}

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen.update({"path": ws.request.path, "x": ws.request.headers.get("X-Test", "")})
        await ws.send("ok")
        await ws.wait_closed()

    async with server(handler) as url, await connect(url + "?compress=0", headers=[("X-Test", "1")]) as ws:
        assert await ws.receive() == "ok"
    assert seen == {"path": "/websocket?compress=0", "x": "1"}


async def test_fragmented_message_from_the_server() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(["frag", "ment", "ed ✓"])  # an iterable is sent as one fragmented message
        await ws.send([b"a", b"b"])
        await ws.wait_closed()

    async with server(handler) as url:
        ws = await connect(url)
        assert await ws.receive() == "fragmented ✓"
        assert await ws.receive() == b"ab"
        await ws.close()


async def test_server_ping_gets_a_pong() -> None:
    latencies: list[float] = []

    async def handler(ws: ServerConnection) -> None:
        pong = await ws.ping(b"are you there")
        latencies.append(await asyncio.wait_for(pong, 5))
        await ws.send("pong received")
        await ws.wait_closed()

    async with server(handler) as url:
        ws = await connect(url)
        assert await ws.receive() == "pong received"  # the pong was sent while receiving
        await ws.close()
    assert len(latencies) == 1


async def test_server_close_code_and_reason() -> None:
    observed: list[tuple[int | None, str | None]] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.close(4009, "session timed out")
        observed.append((ws.close_code, ws.close_reason))

    async with server(handler) as url:
        ws = await connect(url)
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive()
        assert (info.value.code, info.value.reason) == (4009, "session timed out")
        await ws.close()  # idempotent after the server's close
    assert observed == [(4009, "session timed out")]  # the handshake completed: our echo arrived


async def test_client_close_code_and_reason_reach_the_server() -> None:
    observed: list[tuple[int | None, str | None]] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()
        observed.append((ws.close_code, ws.close_reason))

    async with server(handler) as url:
        ws = await connect(url)
        await ws.close(4000, "reconnecting")
        await ws.close(4000, "reconnecting")
        assert ws.close_code == 4000
    assert observed == [(4000, "reconnecting")]


async def test_abrupt_tcp_drop_is_1006() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("bye")
        ws.transport.abort()

    async with server(handler) as url:
        ws = await connect(url)
        assert await ws.receive() == "bye"
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive()
        assert info.value.code == 1006


async def test_max_size_closes_with_1009() -> None:
    observed: list[int | None] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.send("x" * 2000)
        await ws.wait_closed()
        observed.append(ws.close_code)

    async with server(handler) as url:
        ws = await connect(url, max_size=1000)
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive()
        assert info.value.code == 1009
    assert observed == [1009]


async def test_invalid_utf8_closes_with_1007() -> None:
    observed: list[int | None] = []

    async def handler(ws: ServerConnection) -> None:
        ws.transport.write(b"\x81\x03a\xff\xfe")  # a text frame the library itself would refuse to send
        await ws.wait_closed()
        observed.append(ws.close_code)

    async with server(handler) as url:
        ws = await connect(url)
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive()
        assert info.value.code == 1007
    assert observed == [1007]


async def test_rejected_upgrade() -> None:
    def reject(connection: ServerConnection, request: object) -> Response:
        return connection.respond(401, "token expired\n")

    async with server(echo, process_request=reject) as url:
        with pytest.raises(WebSocketHandshakeError) as info:
            await connect(url)
        assert info.value.status == 401
