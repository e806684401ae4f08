"""The client against the emulator over real loopback sockets (ephemeral port): tokens, sends, errors,
refresh after expiry, retries and rate limits as the emulator speaks them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from framework.clock import ScaledClock
from framework.emulator import Emulator
from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET
from framework.models.api import Media, MediaInfo, MessageToCreate, SendResult
from framework.runtime.credentials import Credentials, LegacyToken, TokenManager
from framework.runtime.openapi import DuplicateMessageError, LegacyTokenDisabledError, OpenAPI, RateLimitedError
from framework.runtime.platform import Platform

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(running: tuple[Emulator, str]) -> AsyncIterator[OpenAPI]:
    _, url = running
    # client-side waits (backoff, rate limits) pass 100x faster. Not 1000x: the 60 s max_rate_limit_wait counts the
    # time spent waiting on this clock, scheduling included, and 1000x left it 57 ms of real time beyond the 3 s
    # of backoff, which a stall on a loaded host exceeds (a RateLimitedError); 100x leaves 570 ms
    clock = ScaledClock(100.0)
    tokens = TokenManager(Credentials(DEFAULT_APP_ID, DEFAULT_APP_SECRET), platform=Platform.at(url), clock=clock)
    async with OpenAPI(tokens, base_url=url, clock=clock) as api:
        yield api
    await tokens.aclose()


async def test_me_and_gateway(client: OpenAPI) -> None:
    me = await client.me()
    assert me.id.isdigit() and me.username
    gateway = await client.get_gateway_bot()
    assert gateway.url.startswith("ws://127.0.0.1:")
    assert gateway.session_start_limit.max_concurrency >= 1


async def test_group_reply_and_duplicate(running: tuple[Emulator, str], client: OpenAPI) -> None:
    emulator, _ = running
    event = emulator.control.group_at_message("ping")
    gid, msg_id = event.d["group_openid"], event.d["id"]
    result = await client.post_group_message(gid, MessageToCreate(content="pong", msg_type=0, msg_id=msg_id, msg_seq=1))
    assert isinstance(result, SendResult) and result.id
    assert [m.content for m in emulator.control.sent("group", gid)] == ["pong"]
    with pytest.raises(DuplicateMessageError) as info:
        await client.post_group_message(gid, MessageToCreate(content="again", msg_type=0, msg_id=msg_id, msg_seq=1))
    assert info.value.trace_id


async def test_token_expiry_is_recovered(running: tuple[Emulator, str], client: OpenAPI) -> None:
    emulator, _ = running
    await client.me()
    emulator.control.expire_tokens()
    assert (await client.me()).id


async def test_server_error_retried_for_get(running: tuple[Emulator, str], client: OpenAPI) -> None:
    emulator, _ = running
    emulator.control.fail_next(2, status=500, path_prefix="/users/@me")
    assert (await client.me()).id


async def test_rate_limit_waits_then_succeeds(running: tuple[Emulator, str], client: OpenAPI) -> None:
    emulator, _ = running
    emulator.control.rate_limit(2, path_prefix="/gateway")
    assert (await client.get_gateway_bot()).url


async def test_rate_limit_gives_up(running: tuple[Emulator, str], client: OpenAPI) -> None:
    emulator, _ = running
    client.max_rate_limit_wait = 2.0
    emulator.control.rate_limit(10, path_prefix="/gateway")
    with pytest.raises(RateLimitedError):
        await client.get_gateway_bot()


async def test_upload_then_send_media(running: tuple[Emulator, str], client: OpenAPI) -> None:
    emulator, _ = running
    event = emulator.control.c2c_message("pic please")
    openid = event.d["author"]["user_openid"]
    media = await client.upload_c2c_file(openid, file_type=1, url="https://example.com/a.png")
    assert isinstance(media, MediaInfo) and media.file_info
    sent = await client.post_c2c_message(
        openid,
        MessageToCreate(
            content=" ", msg_type=7, media=Media(file_info=media.file_info), msg_id=event.d["id"], msg_seq=1
        ),
    )
    assert isinstance(sent, SendResult)


async def test_legacy_token_is_refused(running: tuple[Emulator, str]) -> None:
    _, url = running
    async with OpenAPI(LegacyToken(DEFAULT_APP_ID, "fixed-token"), base_url=url) as api:
        with pytest.raises(LegacyTokenDisabledError) as info:
            await api.me()
    assert info.value.code == 11245
    assert "fixed-token" not in str(info.value)


async def test_from_credentials_shares_one_pool(running: tuple[Emulator, str]) -> None:
    _, url = running
    api = OpenAPI.from_credentials(Credentials(DEFAULT_APP_ID, DEFAULT_APP_SECRET), platform=Platform.at(url))
    async with api:
        assert (await api.me()).id
        assert isinstance(api.auth, TokenManager)
        assert api.auth.fetch_count == 1
        pool = api._http
    assert pool.is_closed
