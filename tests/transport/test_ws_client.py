"""The WebSocket client transport against a scripted server on a real loopback socket (asyncio and trio)."""

from __future__ import annotations

import ssl
from pathlib import Path

import anyio
import pytest
from anyio.abc import SocketAttribute
from ws_peer import Peer, make_tls_contexts, serve

from framework.clock import ScaledClock
from framework.errors import ConnectError
from framework.models import WebSocketClosed, WebSocketConnection
from framework.protocol.wsframes import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    Close,
    Ping,
    Pong,
    close_payload,
    encode_frame,
)
from framework.runtime.gateway.websocket import DEFAULT_CONNECTOR, WebSocket, WebSocketHandshakeError, connect

pytestmark = pytest.mark.anyio

HELLO = b'{"op":10,"d":{"heartbeat_interval":41250}}'


async def echo(peer: Peer) -> None:
    await peer.accept()
    while True:
        event = await peer.receive()
        if event is None:
            return
        if isinstance(event, Close):
            await peer.send(OP_CLOSE, close_payload(event.code, event.reason))
            return
        if isinstance(event, str):
            await peer.send(OP_TEXT, event.encode())
        elif isinstance(event, bytes):
            await peer.send(OP_BINARY, event)


async def test_handshake_headers_and_echo() -> None:
    seen: list[Peer] = []

    async def handler(peer: Peer) -> None:
        seen.append(peer)
        await echo(peer)

    async with serve(handler) as url:
        ws = await connect(url + "?v=1", headers={"X-Union-Appid": "102"})
        conn: WebSocketConnection = ws  # the transport satisfies the shared interface
        await conn.send("héllo ✓")
        assert await conn.receive() == "héllo ✓"
        await conn.send(b"\x00\x01\xff")
        assert await conn.receive() == b"\x00\x01\xff"
        await conn.close()
    request_line = seen[0].request_head.split(b"\r\n")[0]
    assert request_line == b"GET /websocket?v=1 HTTP/1.1"
    assert seen[0].headers["x-union-appid"] == "102"
    assert seen[0].headers["upgrade"].lower() == "websocket"
    assert "user-agent" in seen[0].headers


async def test_frames_in_the_same_segment_as_the_101_response_are_kept() -> None:
    async def handler(peer: Peer) -> None:
        await peer.accept(extra=encode_frame(OP_TEXT, HELLO, mask=False) + encode_frame(OP_TEXT, b"2", mask=False))
        await peer.close(1000)

    async with serve(handler) as url:
        ws = await connect(url)
        assert await ws.receive() == HELLO.decode()
        assert await ws.receive() == "2"
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive()
        assert info.value.code == 1000


async def test_large_and_fragmented_messages() -> None:
    big = bytes(range(256)) * 8192  # 2 MiB

    async def handler(peer: Peer) -> None:
        await peer.accept()
        await peer.send(OP_BINARY, big)
        await peer.send(OP_TEXT, b"frag", fin=False)
        await peer.send(OP_PING, b"mid")
        await peer.send(OP_CONT, "ment ✓".encode()[:6], fin=False)
        await peer.send(OP_CONT, "ment ✓".encode()[6:])
        assert isinstance(pong := await peer.receive(), Pong) and pong.payload == b"mid"
        echoed = await peer.receive()
        assert echoed == "x" * 300_000
        await peer.send(OP_TEXT, b"done")
        await peer.close(1000)

    async with serve(handler) as url:
        ws = await connect(url)
        assert await ws.receive() == big
        assert await ws.receive() == "fragment ✓"
        await ws.send("x" * 300_000)  # masked 64-bit-length client frame, unmasked by the server
        assert await ws.receive() == "done"
        with pytest.raises(WebSocketClosed):
            await ws.receive()


async def test_server_ping_is_answered_with_pong() -> None:
    pongs: list[Ping | Pong | Close | str | bytes | None] = []

    async def handler(peer: Peer) -> None:
        await peer.accept()
        await peer.send(OP_PING, b"heartbeat?")
        pongs.append(await peer.receive())
        await peer.send(OP_TEXT, b"after")
        await peer.close(1000)

    async with serve(handler) as url:
        ws = await connect(url)
        assert await ws.receive() == "after"
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive()
        assert info.value.code == 1000
    assert isinstance(pongs[0], Pong) and pongs[0].payload == b"heartbeat?"


async def test_server_close_code_and_reason_are_surfaced_and_echoed() -> None:
    echoed: list[Close | None] = []

    async def handler(peer: Peer) -> None:
        await peer.accept()
        echoed.append(await peer.close(4009, "session timed out"))

    async with serve(handler) as url:
        ws = await connect(url)
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive()
        assert (info.value.code, info.value.reason) == (4009, "session timed out")
        assert ws.close_code == 4009
        with pytest.raises(WebSocketClosed) as again:
            await ws.receive()
        assert again.value.code == 4009
        with pytest.raises(WebSocketClosed):
            await ws.send("too late")
    assert echoed == [Close(4009, "session timed out")]


async def test_abrupt_tcp_drop_is_1006() -> None:
    async def handler(peer: Peer) -> None:
        await peer.accept()
        await peer.send(OP_TEXT, b"last")
        await peer.stream.aclose()

    async with serve(handler) as url:
        ws = await connect(url)
        assert await ws.receive() == "last"
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive()
        assert info.value.code == 1006


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        (encode_frame(OP_BINARY, b"x" * 1001, mask=False), 1009),
        (
            encode_frame(OP_TEXT, b"x" * 600, mask=False, fin=False) + encode_frame(OP_CONT, b"x" * 401, mask=False),
            1009,
        ),
        (encode_frame(OP_TEXT, b"ok \xff\xfe", mask=False), 1007),
        (encode_frame(OP_TEXT, b"masked", mask=True), 1002),
        (encode_frame(OP_CONT, b"orphan", mask=False), 1002),
    ],
    ids=["too-big", "too-big-fragmented", "invalid-utf8", "masked-from-server", "orphan-continuation"],
)
async def test_protocol_failures_close_with_the_right_code(frames: bytes, code: int) -> None:
    received: list[object] = []

    async def handler(peer: Peer) -> None:
        await peer.accept()
        await peer.stream.send(frames)
        received.append(await peer.receive())
        received.append(await peer.receive())

    async with serve(handler) as url:
        ws = await connect(url, max_size=1000)
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive()
        assert info.value.code == code
        assert ws.closed
    assert isinstance(received[0], Close) and received[0].code == code
    assert received[1] is None  # then the client dropped the TCP connection


async def test_close_is_idempotent_and_concurrent_calls_send_one_close_frame() -> None:
    received: list[object] = []

    async def handler(peer: Peer) -> None:
        await peer.accept()
        event = await peer.receive()
        received.append(event)
        assert isinstance(event, Close)
        await peer.send(OP_CLOSE, close_payload(event.code, event.reason))
        received.append(await peer.receive())

    async with serve(handler) as url:
        ws = await connect(url)
        async with anyio.create_task_group() as tg:
            tg.start_soon(ws.close, 1000, "bye")
            tg.start_soon(ws.close, 1000, "bye")
        await ws.close()
        assert ws.close_code == 1000
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive()
        assert (info.value.code, info.value.reason) == (1000, "bye")
    assert received == [Close(1000, "bye"), None]


async def test_close_while_another_task_is_receiving() -> None:
    async with serve(echo) as url:
        ws = await connect(url)
        outcome: list[int] = []

        async def reader() -> None:
            try:
                await ws.receive()
            except WebSocketClosed as exc:
                outcome.append(exc.code)

        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            await ws.close(4000, "going away")
        assert outcome == [4000]  # the echo of our close frame, seen by the receiving task


async def test_close_handshake_is_bounded_when_the_server_never_answers() -> None:
    async def handler(peer: Peer) -> None:
        await peer.accept()
        while await peer.receive() is not None:
            pass  # never answers the close frame

    clock = ScaledClock(1000)  # close_timeout=5 s passes in 5 ms
    async with serve(handler) as url:
        # the clock bounds the opening handshake too: 500 s is 0.5 s of real time (the default 10 s left 10 ms,
        # which a loaded host's scheduling exceeded)
        ws = await connect(url, open_timeout=500.0, close_timeout=5.0, clock=clock)
        with anyio.fail_after(5):
            await ws.close()
        assert ws.close_code == 1006


async def test_abort_drops_at_once_and_wakes_a_pending_receive() -> None:
    dropped = anyio.Event()

    async def handler(peer: Peer) -> None:
        await peer.accept()
        assert await peer.receive() is None  # no close frame, only EOF
        dropped.set()

    async with serve(handler) as url:
        ws = await connect(url)
        codes: list[int] = []

        async def reader() -> None:
            try:
                await ws.receive()
            except WebSocketClosed as exc:
                codes.append(exc.code)

        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            await ws.abort()
        with anyio.fail_after(5):
            await dropped.wait()
        assert codes == [1006]
        await ws.abort()  # idempotent
        await ws.close()  # no-op once closed


async def test_open_timeout_when_the_server_never_answers_the_handshake() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        assert await peer.receive() is None  # never answers; the client gives up and drops

    async with serve(handler) as url:
        with anyio.fail_after(5), pytest.raises(TimeoutError):
            await connect(url, open_timeout=10.0, clock=ScaledClock(200))  # 10 s in 50 ms
        with anyio.fail_after(5), pytest.raises(TimeoutError):
            await connect(url, open_timeout=0.05)  # real clock path (anyio.fail_after)


async def test_rejected_upgrade_raises_handshake_error_with_status() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.stream.send(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nnope!")

    async with serve(handler) as url:
        with pytest.raises(WebSocketHandshakeError) as info:
            await connect(url)
        assert info.value.status == 401
        assert isinstance(info.value, OSError)


async def test_wrong_accept_key_is_rejected() -> None:
    async def handler(peer: Peer) -> None:
        await peer.accept(accept_value="d3Jvbmcgd3Jvbmcgd3Jvbmc=")
        assert await peer.receive() is None

    async with serve(handler) as url:
        with pytest.raises(WebSocketHandshakeError):
            await connect(url)


async def test_connection_refused_and_bad_url() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)
    await listener.aclose()
    with pytest.raises(OSError):
        await connect(f"ws://127.0.0.1:{port}/")
    with pytest.raises(ValueError):
        await connect("http://example.invalid/")


async def test_wss_with_verified_certificate(tmp_path: Path) -> None:
    server_ctx, client_ctx = make_tls_contexts(tmp_path)
    async with serve(echo, tls=server_ctx) as url:
        assert url.startswith("wss://")
        ws = await connect(url, ssl_context=client_ctx)
        await ws.send("over tls")
        assert await ws.receive() == "over tls"
        await ws.close()
        assert ws.close_code == 1000
        # The default context (certifi CAs) does not trust the throwaway CA: verification is on.
        with pytest.raises(ConnectError) as info:
            await connect(url)
        assert isinstance(info.value.__cause__, ssl.SSLError)


async def test_default_connector_and_context_manager() -> None:
    async with serve(echo) as url:
        conn = await DEFAULT_CONNECTOR(url)
        assert isinstance(conn, WebSocket)
        async with conn as ws:
            await ws.send("x")
            assert await ws.receive() == "x"
        assert ws.close_code == 1000


async def test_server_hanging_up_during_the_handshake_is_a_handshake_error() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.stream.send(b"HTTP/1.1 101 Switching")  # then hangs up mid-response

    async with serve(handler) as url:
        with pytest.raises(WebSocketHandshakeError):
            await connect(url)


async def test_close_takes_over_reading_when_the_receiving_task_is_cancelled() -> None:
    release = anyio.Event()

    async def handler(peer: Peer) -> None:
        await peer.accept()
        event = await peer.receive()
        assert isinstance(event, Close)
        await release.wait()  # answer only after the client's reader was cancelled
        await peer.send(OP_CLOSE, close_payload(event.code, event.reason))
        assert await peer.receive() is None

    async with serve(handler) as url:
        ws = await connect(url, close_timeout=60)
        reader_scope = anyio.CancelScope()

        async def reader() -> None:
            with reader_scope:
                await ws.receive()

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(reader)
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(ws.close, 1000, "bye")
                await anyio.wait_all_tasks_blocked()  # close frame sent; close() waits on the reader
                reader_scope.cancel()
                await anyio.wait_all_tasks_blocked()
                release.set()
        assert ws.close_code == 1000  # the echo was read by close() itself, not a timeout (1006)


async def test_concurrent_receive_is_refused() -> None:
    async with serve(echo) as url:
        ws = await connect(url)
        async with anyio.create_task_group() as tg:
            tg.start_soon(ws.receive)
            await anyio.wait_all_tasks_blocked()
            with pytest.raises(RuntimeError):
                await ws.receive()
            await ws.send("unblock")
        await ws.close()
