"""The client's connection use over real loopback sockets: callers beyond the pool's kept-alive connections
queue in front of it (no connection opened only to be closed), and answers' cookies are not kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import SocketStream

from framework.emulator import Emulator
from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET
from framework.models.common import User
from framework.runtime.credentials import Credentials, LegacyToken, TokenManager
from framework.runtime.openapi import OpenAPI, pooled_http_client
from framework.runtime.platform import Platform

pytestmark = pytest.mark.anyio


@pytest.fixture
async def running() -> AsyncIterator[tuple[Emulator, str]]:
    emulator = Emulator()
    async with emulator.serve("127.0.0.1", 0) as url:
        yield emulator, url


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


async def test_answers_cookies_are_not_kept() -> None:
    seen_cookies: list[str] = []

    async def serve(stream: SocketStream) -> None:
        async with stream:
            for _ in range(2):
                head = b""
                while b"\r\n\r\n" not in head:
                    head += await stream.receive()
                lines = head.decode().split("\r\n")
                seen_cookies.extend(line for line in lines if line.lower().startswith("cookie:"))
                body = b'{"ok": true}'
                await stream.send(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: session=abc; Path=/\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        base = f"http://127.0.0.1:{port}"
        async with OpenAPI(LegacyToken("1", "t"), base_url=base) as api:
            assert await api.request("GET", "/a") == {"ok": True}
            assert await api.request("GET", "/b") == {"ok": True}
        async with httpx.AsyncClient() as plain:  # the check can fail: httpx's default client keeps them
            await plain.get(f"{base}/c")
            await plain.get(f"{base}/d")
        tg.cancel_scope.cancel()
    assert seen_cookies == ["Cookie: session=abc"]
