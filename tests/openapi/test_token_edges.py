"""Token edge cases (issue 19 item 6): one refresh per expiry under concurrent 401s, and a minimum lifetime
for tokens whose answer says they expire at once."""

from __future__ import annotations

import logging

import anyio
import pytest
from openapi_support import APP_ID, PLATFORM, SECRET, TOKEN, Script

from framework.clock import VirtualClock
from framework.emulator import Emulator
from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET
from framework.protocol.auth import MIN_TOKEN_LIFETIME, refresh_deadline
from framework.runtime.credentials import Credentials, TokenManager
from framework.runtime.openapi import OpenAPI
from framework.runtime.platform import Platform

pytestmark = pytest.mark.anyio


async def test_concurrent_401s_cause_one_token_fetch_over_loopback() -> None:
    """50 calls in flight when every token stops working: one new token, and every call succeeds."""
    emulator = Emulator()
    async with emulator.serve("127.0.0.1", 0) as url:
        tokens = TokenManager(Credentials(DEFAULT_APP_ID, DEFAULT_APP_SECRET), platform=Platform.at(url))
        async with OpenAPI(tokens, base_url=url) as api:
            await api.me()
            assert tokens.fetch_count == 1
            emulator.control.expire_tokens()
            names: list[str] = []

            async def call() -> None:
                names.append((await api.me()).username)

            async with anyio.create_task_group() as tg:
                for _ in range(50):
                    tg.start_soon(call)
            assert len(names) == 50
            assert tokens.fetch_count == 2
        await tokens.aclose()


async def test_invalidate_ignores_a_token_that_was_already_replaced(
    tokens: TokenManager, script: Script, clock: VirtualClock
) -> None:
    first = await tokens.get_token()
    tokens.invalidate(f"QQBot {first}")
    second = await tokens.get_token()
    assert second != first and tokens.fetch_count == 2
    tokens.invalidate(f"QQBot {first}")  # a late 401 for the old token must not drop the new one
    assert await tokens.get_token() == second
    assert tokens.fetch_count == 2
    tokens.invalidate(second)  # the bare token works too
    assert await tokens.get_token() != second
    assert tokens.fetch_count == 3


@pytest.mark.parametrize("expires_in", ["0", 0, "1"])
async def test_tiny_expires_in_does_not_fetch_on_every_call(
    expires_in: str | int, script: Script, caplog: pytest.LogCaptureFixture
) -> None:
    import httpx

    clock = VirtualClock()
    script.expires_in = expires_in
    async with httpx.AsyncClient(transport=httpx.MockTransport(script)) as http:
        tm = TokenManager(Credentials(APP_ID, SECRET), platform=PLATFORM, http=http, clock=clock, rand=lambda: 0.0)
        with caplog.at_level(logging.WARNING, "framework.credentials"):
            assert await tm.get_token() == TOKEN
            for _ in range(20):
                await tm.get_token()
                clock.advance(0.5)  # 10 s of calls
        assert tm.fetch_count == 1
        assert any("expires in" in r.getMessage() for r in caplog.records)
        clock.advance(MIN_TOKEN_LIFETIME)
        await tm.get_token()
        assert tm.fetch_count == 2


def test_refresh_deadline_has_a_minimum_lifetime() -> None:
    t = refresh_deadline(10.0, 0, rand=lambda: 0.0)
    assert t.expires_at == 10.0 + MIN_TOKEN_LIFETIME
    assert t.fresh(10.0 + MIN_TOKEN_LIFETIME / 2 - 0.01)


async def test_api_retries_once_with_the_new_token(make_api: object, script: Script) -> None:
    """The 401 path passes the rejected header, so the retry fetches exactly one new token."""
    import httpx

    assert callable(make_api)
    api: OpenAPI = make_api()
    script.replies.append(httpx.Response(401, json={"code": 11244, "message": "token expired"}))
    script.default = lambda request: httpx.Response(200, json={"id": "1", "username": "bot", "avatar": ""})
    me = await api.me()
    assert me.username == "bot"
    assert len(script.token_requests) == 2
    assert script.requests[-1].headers["Authorization"] == f"QQBot {TOKEN}-2"
