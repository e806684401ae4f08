"""Credentials and TokenManager: caching, refresh ahead of expiry, single flight, failures, secrecy."""

from __future__ import annotations

import itertools
import json
import logging

import anyio
import httpx
import pytest
from openapi_support import APP_ID, PLATFORM, SECRET, TOKEN, Script, error_response

from framework.clock import VirtualClock
from framework.models.api import MessageToCreate
from framework.runtime.credentials import AccessTokenError, Credentials, LegacyToken, TokenManager
from framework.runtime.openapi import OpenAPI, OpenAPIError

pytestmark = pytest.mark.anyio


def token_error(code: int, message: str) -> httpx.Response:
    return httpx.Response(200, json={"code": code, "message": message})


def test_credentials_repr_hides_secret() -> None:
    creds = Credentials(APP_ID, SECRET)
    assert SECRET not in repr(creds)
    assert SECRET not in str(creds)
    assert APP_ID in repr(creds)
    assert creds.app_secret == SECRET
    assert creds == Credentials(APP_ID, SECRET)
    with pytest.raises(ValueError):
        Credentials("", "x")
    with pytest.raises(ValueError):
        Credentials("1", "")


async def test_token_request_shape(tokens: TokenManager, script: Script) -> None:
    assert await tokens.get_token() == TOKEN
    (request,) = script.token_requests
    assert request.method == "POST"
    assert str(request.url) == PLATFORM.token_url
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {"appId": APP_ID, "clientSecret": SECRET}
    assert await tokens.auth_header() == f"QQBot {TOKEN}"


@pytest.mark.parametrize("expires_in", ["7200", 7200])
async def test_expires_in_string_or_int(expires_in: str | int, tokens: TokenManager, script: Script) -> None:
    script.expires_in = expires_in
    await tokens.get_token()
    assert tokens.times is not None
    assert tokens.times.expires_at - tokens.times.obtained_at == 7200


async def test_token_is_cached_until_refresh_deadline(
    tokens: TokenManager, script: Script, clock: VirtualClock
) -> None:
    assert await tokens.get_token() == TOKEN
    clock.advance(7200 - 50 - 0.01)  # margin 50 s, jitter 0 (rand=0)
    assert await tokens.get_token() == TOKEN
    assert tokens.fetch_count == 1
    clock.advance(0.02)  # past the refresh deadline, before expiry
    assert await tokens.get_token() == f"{TOKEN}-2"
    assert tokens.fetch_count == 2


async def test_refresh_jitter_moves_deadline_earlier(http: httpx.AsyncClient, clock: VirtualClock) -> None:
    tm = TokenManager(Credentials(APP_ID, SECRET), platform=PLATFORM, http=http, clock=clock, rand=lambda: 1.0)
    await tm.get_token()
    assert tm.times is not None
    assert tm.times.expires_at - tm.times.refresh_at == pytest.approx(55.0)


async def test_short_lifetime_never_refreshes_in_a_loop(
    tokens: TokenManager, script: Script, clock: VirtualClock
) -> None:
    script.expires_in = "30"  # shorter than the margin
    await tokens.get_token()
    assert tokens.times is not None
    assert tokens.times.refresh_at - tokens.times.obtained_at == pytest.approx(15.0)
    for _ in range(10):
        await tokens.get_token()
    assert tokens.fetch_count == 1


async def test_single_flight(tokens: TokenManager, script: Script) -> None:
    results: list[str] = []

    async def worker() -> None:
        results.append(await tokens.get_token())

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(worker)
    assert results == [TOKEN] * 50
    assert len(script.token_requests) == 1


async def test_single_flight_on_refresh(tokens: TokenManager, script: Script, clock: VirtualClock) -> None:
    await tokens.get_token()
    clock.advance(7200)
    results: list[str] = []

    async def worker() -> None:
        results.append(await tokens.get_token())

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(worker)
    assert set(results) == {f"{TOKEN}-2"}
    assert len(script.token_requests) == 2


async def test_invalidate_forces_a_new_fetch(tokens: TokenManager, script: Script) -> None:
    await tokens.get_token()
    tokens.invalidate()
    assert await tokens.get_token() == f"{TOKEN}-2"
    assert len(script.token_requests) == 2


async def test_wrong_secret_is_a_clear_auth_error(tokens: TokenManager, script: Script) -> None:
    script.token_replies = [token_error(100016, "invalid appid or secret")]
    with pytest.raises(AccessTokenError) as info:
        await tokens.get_token()
    exc = info.value
    assert exc.code == 100016
    assert not exc.retryable
    assert "invalid app id or secret" in str(exc)
    assert "100016" in str(exc)
    assert SECRET not in str(exc)


async def test_failures_back_off_and_never_hot_loop(tokens: TokenManager, script: Script, clock: VirtualClock) -> None:
    script.token_replies = [token_error(100016, "invalid appid or secret")] * 5
    starts: list[float] = []
    for _ in range(5):
        with pytest.raises(AccessTokenError):
            await tokens.get_token()
        starts.append(clock.monotonic())
    # rand=0 → ceilings: attempts spaced 1, 2, 4, 8 s apart
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == pytest.approx([1.0, 2.0, 4.0, 8.0])
    assert len(script.token_requests) == 5
    # success resets the backoff
    assert await tokens.get_token() == TOKEN


async def test_backoff_is_capped(tokens: TokenManager, script: Script, clock: VirtualClock) -> None:
    script.token_replies = [httpx.ConnectError("down")] * 12
    last = clock.monotonic()
    gaps = []
    for _ in range(12):
        with pytest.raises(AccessTokenError, match="failed"):
            await tokens.get_token()
        gaps.append(clock.monotonic() - last)
        last = clock.monotonic()
    assert max(gaps) == pytest.approx(60.0)


async def test_concurrent_callers_share_a_failure(tokens: TokenManager, script: Script) -> None:
    script.token_replies = [token_error(100007, "appid invalid")] * 10
    errors: list[AccessTokenError] = []

    async def worker() -> None:
        try:
            await tokens.get_token()
        except AccessTokenError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(worker)
    assert len(errors) == 10
    assert len(script.token_requests) == 1


async def test_refresh_failure_keeps_valid_token(tokens: TokenManager, script: Script, clock: VirtualClock) -> None:
    await tokens.get_token()
    clock.advance(7200 - 40)  # refresh due, token still valid for 40 s
    script.token_replies = [error_response(503, 0), error_response(503, 0)]
    assert await tokens.get_token() == TOKEN
    # within the backoff no new fetch is attempted, the valid token is served
    assert await tokens.get_token() == TOKEN
    assert len(script.token_requests) == 2
    clock.advance(1.0)
    assert await tokens.get_token() == TOKEN  # second failure, still valid
    clock.advance(2.0)
    assert await tokens.get_token() == f"{TOKEN}-2"


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, text="not json"),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(200, json={"access_token": "x", "expires_in": "soon"}),
        httpx.Response(200, json={"access_token": "", "expires_in": "7200"}),
    ],
)
async def test_garbled_answers_are_auth_errors(reply: httpx.Response, tokens: TokenManager, script: Script) -> None:
    script.token_replies = [reply]
    with pytest.raises(AccessTokenError):
        await tokens.get_token()


async def test_timeout_is_an_auth_error(tokens: TokenManager, script: Script) -> None:
    script.token_replies = [httpx.ConnectTimeout("slow")]
    with pytest.raises(AccessTokenError, match="timed out") as info:
        await tokens.get_token()
    assert info.value.retryable


async def test_api_call_surfaces_auth_error(api: OpenAPI, script: Script) -> None:
    script.token_replies = [token_error(100016, "invalid appid or secret")]
    with pytest.raises(AccessTokenError):
        await api.me()
    assert script.requests == []


async def test_nothing_secret_in_reprs_logs_or_errors(
    caplog: pytest.LogCaptureFixture, api: OpenAPI, tokens: TokenManager, script: Script, clock: VirtualClock
) -> None:
    caplog.set_level(logging.DEBUG)
    await api.me()
    script.replies = [error_response(401, 11244), httpx.Response(200, json={}), error_response(500, 0)]
    await api.get_guild("G")  # refresh path
    with pytest.raises(OpenAPIError) as api_error:
        await api.post_group_message("G", MessageToCreate(content="x"))
    tokens.invalidate()
    script.token_replies = [token_error(100016, f"bad secret {SECRET}")]
    with pytest.raises(AccessTokenError) as auth_error:
        await tokens.get_token()
    clock.advance(100)
    await tokens.get_token()
    legacy = LegacyToken(APP_ID, "legacy-fixed-token")

    texts = [
        repr(api),
        repr(tokens),
        repr(legacy),
        repr(tokens.credentials),
        str(api_error.value),
        repr(api_error.value),
        str(auth_error.value),
        repr(auth_error.value),
    ]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    assert any("access token" in t for t in texts)  # the logs did say something
    for text in texts:
        for secret in (SECRET, TOKEN, f"{TOKEN}-2", f"{TOKEN}-3", "legacy-fixed-token"):
            assert secret not in text, text


@pytest.mark.parametrize("fail", [False, True])
async def test_callers_arriving_mid_flight_share_the_fetch(fail: bool, clock: VirtualClock) -> None:
    started = anyio.Event()
    release = anyio.Event()
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()
        if fail:
            return token_error(100016, "invalid appid or secret")
        return httpx.Response(200, json={"access_token": TOKEN, "expires_in": "7200"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        tm = TokenManager(Credentials(APP_ID, SECRET), platform=PLATFORM, http=http, clock=clock)
        outcomes: list[str] = []

        async def worker() -> None:
            try:
                outcomes.append(await tm.get_token())
            except AccessTokenError:
                outcomes.append("error")

        async with anyio.create_task_group() as tg:
            tg.start_soon(worker)
            await started.wait()  # the first fetch is in flight; the rest arrive now
            for _ in range(5):
                tg.start_soon(worker)
            await anyio.wait_all_tasks_blocked()
            release.set()
    assert calls == 1
    assert outcomes == (["error"] * 6 if fail else [TOKEN] * 6)
