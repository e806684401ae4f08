"""The client's connection use over real loopback sockets: callers beyond the pool's kept-alive connections
queue in front of it (no connection opened only to be closed), and answers' cookies are not kept."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import SocketStream
from anyio.streams.tls import TLSListener

from framework.emulator import Emulator
from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET
from framework.models.common import User
from framework.runtime.credentials import Credentials, LegacyToken, TokenManager
from framework.runtime.openapi import OpenAPI, pooled_http_client
from framework.runtime.openapi._wire import CoalescingStream
from framework.runtime.platform import Platform

pytestmark = pytest.mark.anyio


async def _send_concurrently(url: str, callers: int, **kwargs: Any) -> set[Any]:
    """``callers`` calls at once over a pooled client; the local addresses of the connections they used."""
    streams: set[Any] = set()

    async def seen(response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        if stream is not None:
            streams.add(stream.get_extra_info("client_addr"))

    async with pooled_http_client() as http:
        http.event_hooks["response"].append(seen)
        tokens = TokenManager(Credentials(DEFAULT_APP_ID, DEFAULT_APP_SECRET), platform=Platform.at(url), http=http)
        api = OpenAPI(tokens, base_url=url, http=http, **kwargs)
        await tokens.get_token()
        results: list[object] = []

        async def send() -> None:
            results.append(await api.me())

        async with anyio.create_task_group() as tg:
            for _ in range(callers):
                tg.start_soon(send)
        assert len(results) == callers and all(isinstance(r, User) for r in results)
    return streams


async def test_in_flight_defaults_to_the_pools_kept_alive_connections(running: tuple[Emulator, str]) -> None:
    _, url = running
    async with pooled_http_client() as http:
        assert OpenAPI(LegacyToken("1", "t"), http=http).max_in_flight == 20
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as other:
        assert OpenAPI(LegacyToken("1", "t"), http=other).max_in_flight == 0  # not httpx's pool: no bound
    assert len(await _send_concurrently(url, 64)) <= 20


async def test_in_flight_bound_caps_connections(running: tuple[Emulator, str]) -> None:
    _, url = running
    assert len(await _send_concurrently(url, 40, max_in_flight=3)) <= 3
    # without the bound the same callers open more connections (the measure above can fail)
    assert len(await _send_concurrently(url, 40, max_in_flight=0)) > 3


class RawServer:
    """A bare HTTP/1.1 server on a loopback port: records each request's cookie lines and body length, answers
    ``{"ok": true, "got": <body length>}`` with a ``Set-Cookie``, and closes the connection after an answer
    (without saying so in a header) when ``close_after`` is set."""

    def __init__(self, close_after: bool = False) -> None:
        self.close_after = close_after
        self.cookies: list[str] = []
        self.bodies: list[int] = []
        self.connections = 0

    async def serve(self, stream: SocketStream) -> None:
        self.connections += 1
        async with stream:
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    try:
                        data += await stream.receive()
                    except anyio.EndOfStream:
                        return
                head, data = data.split(b"\r\n\r\n", 1)
                lines = head.decode().split("\r\n")
                self.cookies.extend(line for line in lines if line.lower().startswith("cookie:"))
                length = next(
                    (int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length:")), 0
                )
                while len(data) < length:
                    data += await stream.receive()
                self.bodies.append(length)
                data = data[length:]
                body = b'{"ok": true, "got": %d}' % length
                await stream.send(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: session=abc; Path=/\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                if self.close_after:
                    return


@pytest.fixture
async def raw() -> AsyncIterator[tuple[RawServer, str]]:
    server = RawServer()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, server.serve)
        yield server, f"http://127.0.0.1:{port}"
        tg.cancel_scope.cancel()


async def test_answers_cookies_are_not_kept(raw: tuple[RawServer, str]) -> None:
    server, base = raw
    async with OpenAPI(LegacyToken("1", "t"), base_url=base) as api:
        assert await api.request("GET", "/a") == {"ok": True, "got": 0}
        assert await api.request("GET", "/b") == {"ok": True, "got": 0}
    assert server.cookies == []
    async with httpx.AsyncClient() as plain:  # the check can fail: httpx's default client keeps them
        await plain.get(f"{base}/c")
        await plain.get(f"{base}/d")
    assert server.cookies == ["Cookie: session=abc"]


async def test_bodies_small_and_large_arrive_whole(raw: tuple[RawServer, str]) -> None:
    server, base = raw
    async with OpenAPI(LegacyToken("1", "t"), base_url=base) as api:
        for size in (10, 70_000, 300_000):  # one write; and more than the 64 KiB kept before writing
            answer = await api.request("POST", "/upload", json={"data": "x" * size})
            assert answer == {"ok": True, "got": size + 11}
    assert server.connections == 1


async def test_a_connection_the_server_closed_is_not_reused(raw: tuple[RawServer, str]) -> None:
    server, base = raw
    server.close_after = False
    async with OpenAPI(LegacyToken("1", "t"), base_url=base, max_retries=0) as api:
        await api.request("POST", "/a", json={})
        server.close_after = True  # the next answer ends its connection; the client must notice before reusing it
        await api.request("POST", "/b", json={})
        await anyio.sleep(0.05)
        assert await api.request("POST", "/c", json={}) == {"ok": True, "got": 2}  # not a NetworkError
    assert server.connections == 2


async def test_over_tls_bodies_arrive_and_the_connection_is_reused(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent.parent / "transport"))
    from ws_peer import make_tls_contexts

    server_ctx, client_ctx = make_tls_contexts(tmp_path)
    server = RawServer()
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    listener = TLSListener(tcp, server_ctx)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, server.serve)
        async with pooled_http_client(transport=httpx.AsyncHTTPTransport(verify=client_ctx)) as http:
            streams: list[object] = []

            async def seen(response: httpx.Response) -> None:
                streams.append(response.extensions["network_stream"])

            http.event_hooks["response"].append(seen)
            api = OpenAPI(LegacyToken("1", "t"), base_url=f"https://127.0.0.1:{port}", http=http)
            for size in (10, 100_000):
                assert await api.request("POST", "/upload", json={"data": "x" * size}) == {"ok": True, "got": size + 11}
        tg.cancel_scope.cancel()
    assert server.bodies == [21, 100_011] and server.connections == 1
    assert all(isinstance(stream, CoalescingStream) for stream in streams) and len(streams) == 2  # TLS inside
