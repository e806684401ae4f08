"""The emulator's token service and token endpoint (protocol.md §1)."""

from __future__ import annotations

import httpx
import pytest

from framework.clock import VirtualClock
from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET, EmulatorConfig
from framework.emulator.http import Router
from framework.emulator.inprocess import RouterTransport
from framework.emulator.rest import build_rest
from framework.emulator.tokens import TokenError, TokenService
from framework.emulator.world import World


def _service(**cfg: object) -> tuple[TokenService, VirtualClock]:
    clock = VirtualClock()
    return TokenService(EmulatorConfig(**cfg), clock), clock  # type: ignore[arg-type]


def test_issue_returns_string_expires_in_and_same_token_while_valid() -> None:
    tokens, clock = _service()
    first = tokens.issue(DEFAULT_APP_ID, DEFAULT_APP_SECRET)
    assert first["expires_in"] == "7200"
    clock.advance(1000.4)
    again = tokens.issue(DEFAULT_APP_ID, DEFAULT_APP_SECRET)
    assert again["access_token"] == first["access_token"]
    assert again["expires_in"] == "6199"
    assert tokens.validate(first["access_token"]) == DEFAULT_APP_ID
    assert tokens.issued == 1


def test_new_token_in_last_minute_and_old_one_overlaps() -> None:
    tokens, clock = _service()
    old = tokens.issue(DEFAULT_APP_ID, DEFAULT_APP_SECRET)["access_token"]
    clock.advance(7200 - 61)
    assert tokens.issue(DEFAULT_APP_ID, DEFAULT_APP_SECRET)["access_token"] == old
    clock.advance(2)  # 59 s left: inside the overlap window
    fresh = tokens.issue(DEFAULT_APP_ID, DEFAULT_APP_SECRET)
    assert fresh["access_token"] != old
    assert fresh["expires_in"] == "7200"
    assert tokens.validate(old) == DEFAULT_APP_ID
    assert tokens.validate("QQBot " + fresh["access_token"]) == DEFAULT_APP_ID
    clock.advance(59)
    assert tokens.validate(old) is None
    assert tokens.validate(fresh["access_token"]) == DEFAULT_APP_ID
    # asking again returns the fresh one, not a third token
    assert tokens.issue(DEFAULT_APP_ID, DEFAULT_APP_SECRET)["access_token"] == fresh["access_token"]


def test_expired_token_is_replaced() -> None:
    tokens, clock = _service(token_ttl=100)
    old = tokens.issue(DEFAULT_APP_ID, DEFAULT_APP_SECRET)["access_token"]
    clock.advance(100)
    assert tokens.validate(old) is None
    assert tokens.issue(DEFAULT_APP_ID, DEFAULT_APP_SECRET)["access_token"] != old


def test_bad_credentials() -> None:
    tokens, _ = _service()
    with pytest.raises(TokenError) as exc:
        tokens.issue("999", DEFAULT_APP_SECRET)
    assert exc.value.code == 100007
    with pytest.raises(TokenError) as exc:
        tokens.issue(DEFAULT_APP_ID, "wrong")
    assert exc.value.code == 100016
    assert tokens.validate("nonsense") is None
    assert tokens.validate("") is None


def test_expire_all_and_no_secret_in_repr() -> None:
    tokens, _ = _service()
    tok = tokens.issue(DEFAULT_APP_ID, DEFAULT_APP_SECRET)["access_token"]
    tokens.expire_all()
    assert tokens.validate(tok) is None
    assert tok not in repr(tokens)
    assert DEFAULT_APP_SECRET not in repr(EmulatorConfig())
    assert tokens.issue(DEFAULT_APP_ID, DEFAULT_APP_SECRET)["access_token"] != tok


def test_two_apps_get_separate_tokens() -> None:
    tokens, _ = _service(apps={"1": "a", "2": "b"})
    t1 = tokens.issue("1", "a")["access_token"]
    t2 = tokens.issue("2", "b")["access_token"]
    assert t1 != t2
    assert tokens.validate(t1) == "1"
    assert tokens.validate(t2) == "2"


@pytest.fixture
def client() -> httpx.AsyncClient:
    config = EmulatorConfig()
    clock = VirtualClock()
    router = Router()
    build_rest(World(config, clock), TokenService(config, clock), config, router)
    return httpx.AsyncClient(transport=RouterTransport(router), base_url="http://emu")


@pytest.mark.anyio
async def test_token_endpoint(client: httpx.AsyncClient) -> None:
    r = await client.post("/app/getAppAccessToken", json={"appId": DEFAULT_APP_ID, "clientSecret": DEFAULT_APP_SECRET})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert isinstance(body["expires_in"], str)
    assert body["access_token"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"appId": "nope", "clientSecret": DEFAULT_APP_SECRET}, 100007),
        ({"appId": DEFAULT_APP_ID, "clientSecret": "bad"}, 100016),
        ({"appId": DEFAULT_APP_ID}, 12002),
        ({"appId": 5, "clientSecret": "x"}, 12002),
    ],
)
async def test_token_endpoint_errors_are_http_200(
    client: httpx.AsyncClient, payload: dict[str, object], code: int
) -> None:
    r = await client.post("/app/getAppAccessToken", json=payload)
    assert r.status_code == 200
    assert r.json()["code"] == code
    assert "access_token" not in r.json()


@pytest.mark.anyio
async def test_token_endpoint_malformed_json(client: httpx.AsyncClient) -> None:
    r = await client.post("/app/getAppAccessToken", content=b"{not json")
    assert r.status_code == 200
    assert r.json()["code"] == 12002


@pytest.mark.parametrize(
    "bad",
    [{"token_ttl": 0}, {"token_overlap": 7200}, {"shards": 0}, {"group_reply_window": -1}, {"c2c_replies_per_msg": -1}],
)
def test_config_rejects_nonsense(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        EmulatorConfig(**bad)  # type: ignore[arg-type]
