"""Transport exceptions are mapped once, at the boundary, over real loopback sockets (asyncio and trio):
the WebSocket adapter raises ``ConnectError``/``ConnectTimeout``/``WebSocketClosed``, the OpenAPI client
``NetworkError``; none of them lets an anyio, socket, TLS or httpx exception through."""

from __future__ import annotations

import random
import ssl
from pathlib import Path

import anyio
import anyio.abc
import httpx
import pytest
from anyio.abc import SocketAttribute
from ws_peer import Peer, make_tls_contexts, serve

from framework.clock import ScaledClock
from framework.errors import ConnectError, ConnectTimeout, QQBotError, TransportError
from framework.models import WebSocketClosed
from framework.models.envelope import InboundEvent
from framework.runtime.credentials import LegacyToken
from framework.runtime.gateway.identify import IdentifyQueue
from framework.runtime.gateway.shard import Shard, ShardOptions
from framework.runtime.gateway.websocket import WebSocketHandshakeError, connect
from framework.runtime.openapi import OpenAPI
from framework.runtime.openapi.errors import NetworkError, OpenAPIError

pytestmark = pytest.mark.anyio


async def _closed_port() -> int:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = int(listener.extra(SocketAttribute.local_port))
    await listener.aclose()  # nothing listens there any more: connection refused
    return port


async def test_a_refused_websocket_connect_is_a_connect_error() -> None:
    port = await _closed_port()
    with pytest.raises(ConnectError) as info:
        await connect(f"ws://127.0.0.1:{port}/websocket")
    error = info.value
    assert isinstance(error, TransportError) and isinstance(error, QQBotError)
    assert isinstance(error, OSError)  # what callers caught before the mapping still catches it
    assert not isinstance(error, TimeoutError)
    assert isinstance(error.__cause__, OSError) and not isinstance(error.__cause__, QQBotError)
    assert f"ws://127.0.0.1:{port}" in str(error) and "check the address" in str(error)


async def test_a_silent_server_is_a_connect_timeout() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)

    async def silent(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await anyio.sleep_forever()  # accept, never answer the upgrade

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, silent)
        with anyio.fail_after(5), pytest.raises(ConnectTimeout) as info:
            await connect(f"ws://127.0.0.1:{port}/", open_timeout=10.0, clock=ScaledClock(200))  # 10 s in 50 ms
        tg.cancel_scope.cancel()
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, ConnectError)
    assert "timed out after 10 s" in str(info.value)


async def test_tls_failures_are_connect_errors(tmp_path: Path) -> None:
    server_ctx, client_ctx = make_tls_contexts(tmp_path)

    async def echo(peer: Peer) -> None:
        await peer.accept()
        await peer.receive()

    async with serve(echo, tls=server_ctx) as url:
        # the default context (certifi CAs) does not trust the throwaway CA
        with pytest.raises(ConnectError) as info:
            await connect(url)
        assert isinstance(info.value.__cause__, ssl.SSLError)
        assert "SSL" in str(info.value) and "check the server's certificate" in str(info.value)
        ws = await connect(url, ssl_context=client_ctx)  # the trusting context still connects
        await ws.abort()

    async def plain(peer: Peer) -> None:
        await peer.stream.send(b"HTTP/1.1 400 Bad Request\r\n\r\n")  # not TLS at all

    async with serve(plain) as url:
        with pytest.raises(ConnectError):
            await connect(url.replace("ws://", "wss://"), ssl_context=client_ctx)


async def test_a_rejected_upgrade_is_a_connect_error_with_its_status() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.stream.send(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")

    async with serve(handler) as url:
        with pytest.raises(ConnectError) as info:
            await connect(url)
    assert isinstance(info.value, WebSocketHandshakeError) and info.value.status == 503
    address = url.removesuffix("/websocket")
    assert str(info.value) == f"opening a WebSocket to {address}: server rejected the WebSocket upgrade with HTTP 503"


async def test_a_dropped_open_connection_is_websocket_closed_1006_for_receive_and_send() -> None:
    async def drop(peer: Peer) -> None:
        await peer.accept()
        await anyio.aclose_forcefully(peer.stream)  # TCP gone without a close frame

    async with serve(drop) as url:
        ws = await connect(url)
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive()
        assert info.value.code == 1006 and isinstance(info.value, TransportError)
        with pytest.raises(WebSocketClosed):
            await ws.send("after the drop")


async def test_the_shard_sees_only_the_mapped_error_and_reconnects() -> None:
    port = await _closed_port()
    clock = ScaledClock(50.0)
    attempts = 0

    async def connector(url: str) -> object:
        nonlocal attempts
        attempts += 1
        return await connect(url)

    async def no_token() -> str:
        raise AssertionError("never connected, never authenticates")

    async def drop(event: InboundEvent) -> None:
        pass

    shard = Shard(
        0,
        1,
        url=f"ws://127.0.0.1:{port}/websocket",
        connector=connector,  # type: ignore[arg-type]
        token_provider=no_token,
        intents=1,
        emit=drop,
        identify_queue=IdentifyQueue(clock=clock),
        clock=clock,
        options=ShardOptions(connect_timeout=2.0),
        rng=random.Random(3),
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(shard.run)
        with anyio.fail_after(10):
            while attempts < 3:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        status = shard.status()
        await shard.stop()
    assert status.reconnects >= 2
    assert (status.last_reason or "").startswith("connect failed: ConnectError(")


async def test_the_openapi_client_maps_a_refused_connection_to_network_error() -> None:
    port = await _closed_port()
    async with OpenAPI(LegacyToken("1", "t0k3n"), base_url=f"http://127.0.0.1:{port}", max_retries=0) as api:
        with pytest.raises(NetworkError) as info:
            await api.get_gateway()
    error = info.value
    assert isinstance(error, OpenAPIError) and isinstance(error, TransportError)
    assert isinstance(error.__cause__, httpx.ConnectError)
    assert error.status == 0 and "connection failed (ConnectError)" in str(error) and "t0k3n" not in str(error)


async def test_the_openapi_client_maps_an_undecodable_body_to_network_error() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)
    body = b"this is not gzip"

    async def answer(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            request = b""
            while b"\r\n\r\n" not in request:
                request += await stream.receive()
            await stream.send(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, answer)
        async with OpenAPI(LegacyToken("1", "t0k3n"), base_url=f"http://127.0.0.1:{port}", max_retries=0) as api:
            with pytest.raises(NetworkError, match="answer body could not be decoded") as info:
                await api.get_gateway()
        tg.cancel_scope.cancel()
    assert isinstance(info.value.__cause__, httpx.DecodingError)
