"""Retries, rate limits, token refresh on 401/11244, hooks — all on a VirtualClock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest
from openapi_support import TOKEN, Script, error_response

from framework.clock import VirtualClock
from framework.models import errorcodes as ec
from framework.models.api import MessageToCreate
from framework.protocol.ratelimit import route_key
from framework.runtime.credentials import Credentials, LegacyToken, TokenManager
from framework.runtime.openapi import (
    AuthenticationError,
    Delivered,
    DuplicateMessageError,
    LegacyTokenDisabledError,
    NetworkError,
    OpenAPI,
    RateLimitedError,
    ServerError,
)

pytestmark = pytest.mark.anyio

OK = httpx.Response(200, json={"id": "G"})


def ok_send() -> httpx.Response:
    return httpx.Response(200, json={"id": "R", "timestamp": "t"})


# ---- 5xx / network retries -----------------------------------------------------------------------


async def test_get_retries_5xx_with_backoff(api: OpenAPI, script: Script, clock: VirtualClock) -> None:
    script.replies = [error_response(502, 0), error_response(503, 0), OK]
    t0 = clock.monotonic()
    guild = await api.get_guild("G")
    assert guild.id == "G"
    assert len(script.requests) == 3
    # rand=0 → no jitter: 0.5 s then 1 s
    assert clock.monotonic() - t0 == pytest.approx(1.5)


async def test_get_gives_up_after_max_retries(make_api: Callable[..., OpenAPI], script: Script) -> None:
    api = make_api(max_retries=2)
    script.default = lambda r: error_response(500, 0, trace="last")
    with pytest.raises(ServerError) as info:
        await api.get_guild("G")
    assert len(script.requests) == 3
    assert info.value.trace_id == "last"


async def test_plain_post_is_not_retried(api: OpenAPI, script: Script) -> None:
    script.replies = [error_response(500, 0), ok_send()]
    with pytest.raises(ServerError):
        await api.post_group_message("G", MessageToCreate(content="proactive"))
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "message",
    [
        MessageToCreate(content="r", msg_id="M1", msg_seq=1),
        MessageToCreate(content="r", event_id="GROUP_ADD_ROBOT:1"),
    ],
)
async def test_reply_post_is_retried(message: MessageToCreate, api: OpenAPI, script: Script) -> None:
    script.replies = [error_response(500, 0), ok_send()]
    result = await api.post_group_message("G", message)
    assert len(script.requests) == 2
    assert script.body(0) == script.body(1)
    assert getattr(result, "id", None) == "R"


async def test_msg_id_without_seq_is_not_retried(api: OpenAPI, script: Script) -> None:
    script.replies = [error_response(500, 0), ok_send()]
    with pytest.raises(ServerError):
        await api.post_c2c_message("U", MessageToCreate(content="r", msg_id="M1"))
    assert len(script.requests) == 1


async def test_explicit_idempotent_override(api: OpenAPI, script: Script) -> None:
    script.replies = [error_response(500, 0), httpx.Response(200, json={})]
    await api.request("POST", "/x", json={}, idempotent=True)
    assert len(script.requests) == 2
    script.requests.clear()
    script.replies = [error_response(500, 0), httpx.Response(200, json={})]
    with pytest.raises(ServerError):
        await api.request("GET", "/x", idempotent=False)
    assert len(script.requests) == 1


async def test_business_code_on_5xx_is_not_retried(api: OpenAPI, script: Script) -> None:
    script.replies = [error_response(500, ec.LEGACY_TOKEN_DISABLED), OK]
    with pytest.raises(LegacyTokenDisabledError):
        await api.get_guild("G")
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "exc",
    [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("eof")],
)
async def test_network_errors_retried_for_get(exc: Exception, api: OpenAPI, script: Script) -> None:
    script.replies = [exc, OK]
    assert (await api.get_guild("G")).id == "G"
    assert len(script.requests) == 2


async def test_network_error_not_retried_for_post(api: OpenAPI, script: Script) -> None:
    script.replies = [httpx.ReadTimeout("slow"), ok_send()]
    with pytest.raises(NetworkError) as info:
        await api.post_group_message("G", MessageToCreate(content="x"))
    assert info.value.status == 0
    assert "timed out" in str(info.value)
    assert len(script.requests) == 1


async def test_network_error_exhausts_retries(make_api: Callable[..., OpenAPI], script: Script) -> None:
    api = make_api(max_retries=1)
    script.replies = [httpx.ConnectError("a"), httpx.ConnectError("b"), OK]
    with pytest.raises(NetworkError, match="connection failed"):
        await api.get_guild("G")
    assert len(script.requests) == 2


@pytest.mark.parametrize("first", [httpx.ReadTimeout("lost answer"), error_response(504, 0)])
async def test_duplicate_after_retry_is_delivered(
    first: Exception | httpx.Response, api: OpenAPI, script: Script
) -> None:
    """A retried reply whose first attempt did land is reported as delivered (was: DuplicateMessageError)."""
    script.replies = [first, error_response(400, ec.MESSAGE_DEDUPLICATED, trace="dup")]
    result = await api.post_group_message("G", MessageToCreate(content="r", msg_id="M", msg_seq=1))
    assert isinstance(result, Delivered)
    assert (result.id, result.status, result.code, result.trace_id) == ("", 400, ec.MESSAGE_DEDUPLICATED, "dup")
    assert len(script.requests) == 2


async def test_duplicate_on_first_attempt_is_still_an_error(api: OpenAPI, script: Script) -> None:
    """Without an unclear earlier attempt, 40054005 means the caller reused a msg_seq."""
    script.replies = [error_response(400, ec.MESSAGE_DEDUPLICATED)]
    with pytest.raises(DuplicateMessageError):
        await api.post_group_message("G", MessageToCreate(content="r", msg_id="M", msg_seq=1))


# ---- rate limits -----------------------------------------------------------------------------------


async def test_429_waits_retry_after(api: OpenAPI, script: Script, clock: VirtualClock) -> None:
    script.replies = [error_response(429, 0, **{"Retry-After": "3"}), ok_send()]
    t0 = clock.monotonic()
    await api.post_group_message("G", MessageToCreate(content="proactive"))  # 429 is retried even for POST
    assert len(script.requests) == 2
    assert clock.monotonic() - t0 == pytest.approx(3.0)


async def test_429_without_retry_after_uses_backoff(api: OpenAPI, script: Script, clock: VirtualClock) -> None:
    script.replies = [error_response(429, 0), error_response(429, 0), OK]
    t0 = clock.monotonic()
    await api.get_guild("G")
    assert len(script.requests) == 3
    # limiter backoff with rand=0: 1 s then 2 s
    assert clock.monotonic() - t0 == pytest.approx(3.0)


async def test_rate_limit_body_code_is_retried(api: OpenAPI, script: Script, clock: VirtualClock) -> None:
    script.replies = [error_response(400, ec.MSG_LIMIT_EXCEED), ok_send()]
    await api.post_channel_message("C", MessageToCreate(content="x"))
    assert len(script.requests) == 2
    assert clock.monotonic() == pytest.approx(1.0)


async def test_quota_code_is_raised_at_once(api: OpenAPI, script: Script, clock: VirtualClock) -> None:
    script.replies = [error_response(400, ec.ACTIVE_OVER_LIMIT)]
    with pytest.raises(RateLimitedError) as info:
        await api.post_group_message("G", MessageToCreate(content="x"))
    assert info.value.code == ec.ACTIVE_OVER_LIMIT
    assert len(script.requests) == 1
    assert clock.monotonic() == 0.0


async def test_429_gives_up_at_max_total_wait(
    make_api: Callable[..., OpenAPI], script: Script, clock: VirtualClock
) -> None:
    api = make_api(max_rate_limit_wait=10.0)
    script.default = lambda r: error_response(429, 0, trace="rl", **{"Retry-After": "4"})
    with pytest.raises(RateLimitedError) as info:
        await api.get_guild("G")
    # waits 4 + 4 = 8 s; a third wait would exceed 10 s
    assert len(script.requests) == 3
    assert clock.monotonic() == pytest.approx(8.0)
    assert info.value.retry_after == pytest.approx(4.0)
    assert info.value.status == 429
    assert "retry after 4.00s" in str(info.value)


async def test_429_beyond_budget_raises_without_waiting(
    make_api: Callable[..., OpenAPI], script: Script, clock: VirtualClock
) -> None:
    api = make_api(max_rate_limit_wait=5.0)
    script.replies = [error_response(429, 0, **{"Retry-After": "30"})]
    with pytest.raises(RateLimitedError):
        await api.get_guild("G")
    assert clock.monotonic() == 0.0


async def test_limiter_frees_route_after_first_success(api: OpenAPI, script: Script, clock: VirtualClock) -> None:
    """Five 429s, then normal answers: later calls are not delayed (was: ~3.2 s, 2.6 s, 2 s ... per call)."""
    script.replies = [error_response(429, 0) for _ in range(5)]
    script.default = lambda r: ok_send()
    t0 = clock.monotonic()
    await api.post_group_message("G1", MessageToCreate(content="a"))
    assert clock.monotonic() - t0 == pytest.approx(1 + 2 + 4 + 8 + 16)  # the backoff itself is honoured
    assert api.limiter.state(route_key("POST", "/v2/groups/{group_openid}/messages", "G1")) is None
    t0 = clock.monotonic()
    for i in range(10):
        await api.post_group_message("G1", MessageToCreate(content=f"b{i}"))
    assert clock.monotonic() == t0
    assert len(script.requests) == 16


async def test_given_up_callers_do_not_push_the_queue(api: OpenAPI, script: Script, clock: VirtualClock) -> None:
    """Callers that gave up (wait beyond their budget) book nothing (was: each pushed the route 0.2 s back)."""
    script.replies = [error_response(429, 0, **{"Retry-After": "5"})]
    api.max_rate_limit_wait = 1.0
    for _ in range(50):
        with pytest.raises(RateLimitedError):
            await api.get_guild("G")
    assert len(script.requests) == 1
    clock.advance(5.0)
    t0 = clock.monotonic()
    await api.get_guild("G")
    assert clock.monotonic() == t0


async def test_retry_after_is_capped_locally(api: OpenAPI, script: Script, clock: VirtualClock) -> None:
    """Retry-After: 3600 fails that call (the server's figure is reported) but holds the route 60 s, not an hour."""
    script.replies = [error_response(429, 0, **{"Retry-After": "3600"})]
    with pytest.raises(RateLimitedError) as info:
        await api.get_guild("G")
    assert info.value.retry_after == 3600.0
    assert clock.monotonic() == 0.0
    assert api.limiter.peek(route_key("GET", "/guilds/{guild_id}", "G"), clock.monotonic()) == pytest.approx(60.0)
    clock.advance(60.0)
    t0 = clock.monotonic()
    await api.get_guild("G")
    assert clock.monotonic() == t0 and len(script.requests) == 2


async def test_limiter_blocks_route_until_retry_after(api: OpenAPI, script: Script, clock: VirtualClock) -> None:
    script.replies = [error_response(429, 0, **{"Retry-After": "5"})]
    api.max_rate_limit_wait = 0.0
    with pytest.raises(RateLimitedError):
        await api.get_guild("G")
    # the route stays blocked: with no budget the next call fails before sending anything
    with pytest.raises(RateLimitedError, match="max_rate_limit_wait"):
        await api.get_guild("G")
    assert len(script.requests) == 1
    clock.advance(5.0)
    api.max_rate_limit_wait = 60.0
    await api.get_guild("G")
    assert len(script.requests) == 2


# ---- authentication ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply", [error_response(401, 0), error_response(401, ec.TOKEN_EXPIRED), error_response(500, ec.TOKEN_EXPIRED)]
)
async def test_401_or_11244_refreshes_and_retries_once(
    reply: httpx.Response, api: OpenAPI, script: Script, tokens: TokenManager
) -> None:
    script.replies = [reply, OK]
    await api.get_guild("G")
    assert len(script.requests) == 2
    assert len(script.token_requests) == 2
    assert script.requests[0].headers["Authorization"] == f"QQBot {TOKEN}"
    assert script.requests[1].headers["Authorization"] == f"QQBot {TOKEN}-2"


async def test_second_401_is_raised(api: OpenAPI, script: Script) -> None:
    script.default = lambda r: error_response(401, ec.TOKEN_EXPIRED)
    with pytest.raises(AuthenticationError):
        await api.post_group_message("G", MessageToCreate(content="x"))
    assert len(script.requests) == 2
    assert len(script.token_requests) == 2


async def test_legacy_token_header_and_disabled_error(
    http: httpx.AsyncClient, clock: VirtualClock, script: Script
) -> None:
    legacy = LegacyToken("100000", "Cl2FMQZnCjm1XVW7vRze4b7Cq4se7kKWs")
    api = OpenAPI(legacy, base_url="https://api.test", http=http, clock=clock)
    script.replies = [
        httpx.Response(
            500,
            json={
                "message": "固定Token已禁用，请使用AccessToken鉴权",
                "code": 11245,
                "err_code": 11245,
                "trace_id": "x",
            },
        ),
        error_response(401, 0),
    ]
    with pytest.raises(LegacyTokenDisabledError) as info:
        await api.get_guild("G")
    assert script.last.headers["Authorization"] == "Bot 100000.Cl2FMQZnCjm1XVW7vRze4b7Cq4se7kKWs"
    assert script.last.headers["X-Union-Appid"] == "100000"
    assert "Cl2FMQZnCjm1XVW7vRze4b7Cq4se7kKWs" not in str(info.value)
    # a 401 with a fixed token cannot be cured by a refresh: raised without retry
    with pytest.raises(AuthenticationError):
        await api.get_guild("G")
    assert len(script.requests) == 2
    assert "Cl2FMQZnCjm1XVW7vRze4b7Cq4se7kKWs" not in repr(legacy)


# ---- hooks, lifecycle -----------------------------------------------------------------------------


async def test_hooks_see_redacted_headers(make_api: Callable[..., OpenAPI], script: Script) -> None:
    seen: list[tuple[Any, ...]] = []

    def on_request(method: str, url: str, headers: Mapping[str, str]) -> None:
        seen.append(("req", method, url, dict(headers)))

    async def on_response(method: str, url: str, status: int, elapsed: float, trace_id: str) -> None:
        seen.append(("resp", method, url, status, trace_id))

    api = make_api(on_request=on_request, on_response=on_response)
    script.replies = [httpx.Response(200, json={"id": "G"}, headers={"X-Tps-trace-ID": "T1"})]
    await api.get_guild("G")
    req, resp = seen
    assert req[:3] == ("req", "GET", "https://api.test/guilds/G")
    assert req[3]["Authorization"] == "QQBot <redacted>"
    assert TOKEN not in repr(req)
    assert resp == ("resp", "GET", "https://api.test/guilds/G", 200, "T1")


async def test_failing_hook_does_not_break_the_call(make_api: Callable[..., OpenAPI], script: Script) -> None:
    def bad(*args: Any) -> None:
        raise RuntimeError("hook bug")

    api = make_api(on_request=bad, on_response=bad)
    assert (await api.get_guild("G")).id == ""


async def test_network_failure_reported_to_hook_with_status_0(make_api: Callable[..., OpenAPI], script: Script) -> None:
    statuses: list[int] = []
    api = make_api(on_response=lambda m, u, status, e, t: statuses.append(status), max_retries=0)
    script.replies = [httpx.ConnectError("x")]
    with pytest.raises(NetworkError):
        await api.get_guild("G")
    assert statuses == [0]


async def test_context_manager_closes_own_client(clock: VirtualClock) -> None:
    tm = TokenManager(Credentials("1", "s"), clock=clock)
    async with OpenAPI(tm, base_url="https://api.test", clock=clock) as api:
        assert api.base_url == "https://api.test"
        own = api._http
    assert own.is_closed
    await api.aclose()  # idempotent
    await tm.aclose()


async def test_borrowed_client_is_left_open(api: OpenAPI, http: httpx.AsyncClient) -> None:
    async with api:
        pass
    assert not http.is_closed


async def test_base_url_trailing_slash(tokens: TokenManager, http: httpx.AsyncClient, script: Script) -> None:
    api = OpenAPI(tokens, base_url="http://127.0.0.1:8080/", http=http)
    await api.me()
    assert str(script.last.url) == "http://127.0.0.1:8080/users/@me"


async def test_retry_after_zero_cannot_loop_forever(
    make_api: Callable[..., OpenAPI], script: Script, clock: VirtualClock
) -> None:
    api = make_api(max_rate_limit_wait=1e9)
    script.default = lambda r: error_response(429, 0, **{"Retry-After": "0"})
    with pytest.raises(RateLimitedError):
        await api.get_guild("G")
    assert 2 <= len(script.requests) <= 17
