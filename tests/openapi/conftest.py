"""Fixtures for the OpenAPI client tests: a scripted MockTransport, a token manager and a client; an emulator
served on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from openapi_support import APP_ID, BASE, PLATFORM, SECRET, Script

from framework.clock import VirtualClock
from framework.emulator import Emulator
from framework.runtime.credentials import Credentials, TokenManager
from framework.runtime.openapi import OpenAPI


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def http(script: Script) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(script))


@pytest.fixture
def tokens(http: httpx.AsyncClient, clock: VirtualClock) -> TokenManager:
    return TokenManager(Credentials(APP_ID, SECRET), platform=PLATFORM, http=http, clock=clock, rand=lambda: 0.0)


@pytest.fixture
def make_api(tokens: TokenManager, http: httpx.AsyncClient, clock: VirtualClock) -> Callable[..., OpenAPI]:
    def make(**kwargs: Any) -> OpenAPI:
        kwargs.setdefault("rand", lambda: 0.0)
        return OpenAPI(tokens, base_url=BASE, http=http, clock=clock, **kwargs)

    return make


@pytest.fixture
def api(make_api: Callable[..., OpenAPI]) -> OpenAPI:
    return make_api()


@pytest.fixture
async def running() -> AsyncIterator[tuple[Emulator, str]]:
    """An emulator served on a free loopback port, and its base URL."""
    emulator = Emulator()
    async with emulator.serve("127.0.0.1", 0) as url:
        yield emulator, url
