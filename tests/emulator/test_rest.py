"""The emulator's REST API driven with plain httpx through the router (protocol.md §5, §6, §8)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from framework.clock import VirtualClock
from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET, EmulatorConfig
from framework.emulator.control import Control, register_control_routes
from framework.emulator.http import Router
from framework.emulator.inprocess import RouterTransport
from framework.emulator.rest import build_rest
from framework.emulator.tokens import TokenService
from framework.emulator.world import World


@dataclass
class Env:
    world: World
    tokens: TokenService
    control: Control
    clock: VirtualClock
    http: httpx.AsyncClient
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"QQBot {self.token}", "X-Union-Appid": DEFAULT_APP_ID}

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(path, headers=self.auth, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.post(path, json=body, headers=self.auth, **kw)

    async def put(self, path: str, body: Any = None) -> httpx.Response:
        return await self.http.put(path, json=body, headers=self.auth)

    async def patch(self, path: str, body: Any = None) -> httpx.Response:
        return await self.http.patch(path, json=body, headers=self.auth)

    async def delete(self, path: str) -> httpx.Response:
        return await self.http.delete(path, headers=self.auth)


async def make_env(**cfg: Any) -> Env:
    config = EmulatorConfig(**cfg)
    clock = VirtualClock()
    world = World(config, clock)
    tokens = TokenService(config, clock)
    router = Router()
    build_rest(world, tokens, config, router)
    control = Control(world, tokens)
    register_control_routes(control, router)
    http = httpx.AsyncClient(transport=RouterTransport(router), base_url="http://emu.test:8080")
    r = await http.post("/app/getAppAccessToken", json={"appId": DEFAULT_APP_ID, "clientSecret": DEFAULT_APP_SECRET})
    return Env(world, tokens, control, clock, http, r.json()["access_token"])


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    e = await make_env()
    yield e
    await e.http.aclose()


def assert_error(r: httpx.Response, status: int, code: int) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code, body
    assert body["err_code"] == code or body["err_code"] == 40011005
    assert set(body) >= {"message", "code", "err_code", "trace_id"}
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-tps-trace-id"] == body["trace_id"]


# auth, headers, routing ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_me_and_headers(env: Env) -> None:
    r = await env.get("/users/@me")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"  # exactly, no charset
    assert r.headers["x-tps-trace-id"]
    me = r.json()
    assert me["id"].isdigit() and me["username"] == env.world.config.bot_username


@pytest.mark.anyio
async def test_auth_failures(env: Env) -> None:
    assert_error(await env.http.get("/users/@me"), 401, 11241)
    assert_error(await env.http.get("/users/@me", headers={"Authorization": "QQBot nope"}), 401, 11244)
    legacy = await env.http.get("/users/@me", headers={"Authorization": f"Bot {DEFAULT_APP_ID}.{env.token}"})
    assert_error(legacy, 500, 11245)
    assert "AccessToken" in legacy.json()["message"]
    bearer = await env.http.get("/users/@me", headers={"Authorization": f"Bearer {env.token}"})
    assert_error(bearer, 401, 11241)
    assert bearer.json()["err_code"] == 40011005
    env.clock.advance(7200)
    assert_error(await env.get("/users/@me"), 401, 11244)


@pytest.mark.anyio
async def test_expire_tokens_fault_then_refresh(env: Env) -> None:
    env.control.expire_tokens()
    assert_error(await env.get("/gateway/bot"), 401, 11244)
    r = await env.http.post(
        "/app/getAppAccessToken", json={"appId": DEFAULT_APP_ID, "clientSecret": DEFAULT_APP_SECRET}
    )
    env.token = r.json()["access_token"]
    assert (await env.get("/gateway/bot")).status_code == 200


@pytest.mark.anyio
async def test_unknown_route_wrong_method_bad_json(env: Env) -> None:
    assert_error(await env.get("/no/such/thing"), 404, 404)
    assert_error(await env.http.put("/users/@me", headers=env.auth), 405, 405)
    env.world.add_c2c_user("U")
    bad = await env.http.post("/v2/users/U/messages", content=b"{oops", headers=env.auth)
    assert_error(bad, 400, 12002)
    assert "Traceback" not in bad.text
    assert_error(await env.post("/v2/users/U/messages", [1, 2]), 400, 12002)


@pytest.mark.anyio
async def test_gateway_discovery_counts_session_starts(env: Env) -> None:
    r = await env.get("/gateway")
    assert r.json() == {"url": "ws://emu.test:8080/websocket"}
    bot = (await env.get("/gateway/bot")).json()
    assert bot["url"] == "ws://emu.test:8080/websocket"
    assert bot["shards"] == 1
    limit = bot["session_start_limit"]
    assert limit["total"] == 1000 and limit["remaining"] == 1000 and limit["max_concurrency"] == 1
    assert limit["reset_after"] == 86_400_000
    assert env.world.session_limit.consume()
    env.clock.advance(10)
    limit = (await env.get("/gateway/bot")).json()["session_start_limit"]
    assert limit["remaining"] == 999
    assert limit["reset_after"] == 86_390_000


@pytest.mark.anyio
async def test_session_limit_runs_out_and_resets() -> None:
    e = await make_env()
    e.world.config.session_start_limit.total = 2
    limit = e.world.session_limit
    limit.remaining = 1
    assert limit.consume()
    assert not limit.consume()
    e.clock.advance(86_400)
    assert limit.remaining == limit.total
    await e.http.aclose()


# REST faults and the call log ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_rest_faults(env: Env) -> None:
    env.control.rate_limit(2)
    assert (await env.get("/users/@me")).status_code == 429
    r = await env.get("/users/@me")
    assert_error(r, 429, 429)
    assert "retry-after" not in r.headers
    assert (await env.get("/users/@me")).status_code == 200
    env.control.fail_next(1, status=503, code=5000, message="down", path_prefix="/gateway")
    assert (await env.get("/users/@me")).status_code == 200
    assert_error(await env.get("/gateway/bot"), 503, 5000)
    assert (await env.get("/gateway/bot")).status_code == 200


@pytest.mark.anyio
async def test_faults_spare_token_endpoint_unless_targeted(env: Env) -> None:
    payload = {"appId": DEFAULT_APP_ID, "clientSecret": DEFAULT_APP_SECRET}
    env.control.fail_next(1, status=500)
    assert (await env.http.post("/app/getAppAccessToken", json=payload)).status_code == 200
    env.control.clear_faults()
    env.control.fail_next(1, status=502, path_prefix="/app/")
    assert (await env.http.post("/app/getAppAccessToken", json=payload)).status_code == 502


@pytest.mark.anyio
async def test_call_log_records_calls_and_redacts_secret(env: Env) -> None:
    env.world.add_c2c_user("U1")
    await env.post("/v2/users/U1/messages", {"content": "hi"})
    calls = env.control.calls()
    token_call, send = calls[0], calls[-1]
    assert token_call.path == "/app/getAppAccessToken"
    assert token_call.body["clientSecret"] == "<redacted>"
    assert (send.method, send.path, send.status, send.app_id) == ("POST", "/v2/users/U1/messages", 400, DEFAULT_APP_ID)
    assert send.body == {"content": "hi"}
    assert send.headers["authorization"] == "QQBot ***" and send.headers["x-union-appid"] == DEFAULT_APP_ID
    assert env.token not in repr(calls)
    assert env.control.calls("POST", "/v2/") == [send]


# group and C2C sends ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_group_reply_and_sent_log(env: Env) -> None:
    ev = env.control.group_at_message("ping", group_openid="G1")
    assert ev.d["content"] == " ping"
    body = {
        "group_openid": "G1",
        "msg_type": 0,
        "content": "pong",
        "embed": None,
        "ark": None,
        "message_reference": None,
        "media": None,
        "msg_id": ev.d["id"],
        "msg_seq": 1,
        "event_id": None,
        "markdown": None,
        "keyboard": None,
    }  # botpy's shape, nulls included
    r = await env.post("/v2/groups/G1/messages", body)
    assert r.status_code == 200, r.text
    result = r.json()
    assert set(result) == {"id", "timestamp", "ext_info"} and result["ext_info"]["ref_idx"].startswith("REFIDX_")
    assert isinstance(result["timestamp"], str) and "T" in result["timestamp"]
    sent = env.control.sent("group", "G1")
    assert [m.content for m in sent] == ["pong"]
    assert sent[0].id == result["id"]


@pytest.mark.anyio
async def test_active_message_refused(env: Env) -> None:
    env.world.add_group("G1")
    env.world.add_c2c_user("U1")
    assert_error(await env.post("/v2/groups/G1/messages", {"content": "hello"}), 400, 40034102)
    assert_error(await env.post("/v2/users/U1/messages", {"content": "hello"}), 400, 40034102)
    assert env.control.sent("group", "G1") == []


@pytest.mark.anyio
async def test_active_message_allowed_by_config() -> None:
    e = await make_env(allow_active_messages=True)
    e.world.add_c2c_user("U1")
    assert (await e.post("/v2/users/U1/messages", {"content": "hello"})).status_code == 200
    await e.http.aclose()


@pytest.mark.anyio
async def test_msg_id_must_belong_to_target(env: Env) -> None:
    ev = env.control.group_at_message("x", group_openid="G1")
    env.world.add_group("G2")
    assert_error(await env.post("/v2/groups/G2/messages", {"content": "a", "msg_id": ev.d["id"]}), 400, 40034024)
    assert_error(await env.post("/v2/groups/G1/messages", {"content": "a", "msg_id": "nope"}), 400, 40034024)
    c2c = env.control.c2c_message("x", openid="U1")
    assert_error(await env.post("/v2/groups/G1/messages", {"content": "a", "msg_id": c2c.d["id"]}), 400, 40034024)


@pytest.mark.anyio
@pytest.mark.parametrize(("scene", "window"), [("group", 300), ("c2c", 3600)])
async def test_reply_window(env: Env, scene: str, window: int) -> None:
    if scene == "group":
        ev = env.control.group_at_message("x", group_openid="T")
        path = "/v2/groups/T/messages"
    else:
        ev = env.control.c2c_message("x", openid="T")
        path = "/v2/users/T/messages"
    env.clock.advance(window - 1)
    assert (await env.post(path, {"content": "ok", "msg_id": ev.d["id"], "msg_seq": 1})).status_code == 200
    env.clock.advance(2)
    assert_error(await env.post(path, {"content": "late", "msg_id": ev.d["id"], "msg_seq": 2}), 400, 40034005)


@pytest.mark.anyio
async def test_reply_count_cap_and_dedupe(env: Env) -> None:
    """C2C: 4 passive replies per user message since 2026-01-10 (protocol.md §0, §5.3)."""
    ev = env.control.c2c_message("x", openid="U1")
    for seq in range(1, 5):
        r = await env.post("/v2/users/U1/messages", {"content": f"r{seq}", "msg_id": ev.d["id"], "msg_seq": seq})
        assert r.status_code == 200, r.text
    assert_error(
        await env.post("/v2/users/U1/messages", {"content": "dup", "msg_id": ev.d["id"], "msg_seq": 3}), 400, 40054005
    )
    assert_error(
        await env.post("/v2/users/U1/messages", {"content": "5", "msg_id": ev.d["id"], "msg_seq": 5}), 400, 40034128
    )
    assert len(env.control.sent("c2c", "U1")) == 4


@pytest.mark.anyio
async def test_msg_seq_defaults_to_one(env: Env) -> None:
    ev = env.control.group_at_message("x", group_openid="G1")
    assert (await env.post("/v2/groups/G1/messages", {"content": "a", "msg_id": ev.d["id"]})).status_code == 200
    r = await env.post("/v2/groups/G1/messages", {"content": "b", "msg_id": ev.d["id"], "msg_seq": 1})
    assert_error(r, 400, 40054005)


@pytest.mark.anyio
async def test_failed_send_does_not_use_up_reply(env: Env) -> None:
    ev = env.control.group_at_message("x", group_openid="G1")
    assert_error(await env.post("/v2/groups/G1/messages", {"msg_type": 0, "msg_id": ev.d["id"]}), 400, 50006)
    assert (await env.post("/v2/groups/G1/messages", {"content": "a", "msg_id": ev.d["id"]})).status_code == 200


@pytest.mark.anyio
async def test_cap_is_configurable() -> None:
    e = await make_env(c2c_replies_per_msg=5)
    ev = e.control.c2c_message("x", openid="U1")
    for seq in range(1, 6):
        assert (
            await e.post("/v2/users/U1/messages", {"content": "r", "msg_id": ev.d["id"], "msg_seq": seq})
        ).status_code == 200
    assert_error(
        await e.post("/v2/users/U1/messages", {"content": "r", "msg_id": ev.d["id"], "msg_seq": 6}), 400, 40034128
    )
    await e.http.aclose()


@pytest.mark.anyio
async def test_event_id_rules(env: Env) -> None:
    added = env.control.group_add_robot("G1")
    r = await env.post("/v2/groups/G1/messages", {"content": "thanks", "event_id": added.id})
    assert r.status_code == 200, r.text
    friend = env.control.friend_add("U1")
    assert (await env.post("/v2/users/U1/messages", {"content": "hi", "event_id": friend.id})).status_code == 200
    gone = env.control.friend_del("U1")
    env.world.add_c2c_user("U1")
    assert_error(await env.post("/v2/users/U1/messages", {"content": "x", "event_id": gone.id}), 400, 40034027)
    assert_error(
        await env.post("/v2/users/U1/messages", {"content": "x", "event_id": "FRIEND_ADD:nope"}), 400, 40034025
    )
    # an event of group G1 cannot be used in group G2
    env.world.add_group("G2")
    assert_error(await env.post("/v2/groups/G2/messages", {"content": "x", "event_id": added.id}), 400, 40034025)
    env.clock.advance(301)
    assert_error(
        await env.post("/v2/groups/G1/messages", {"content": "x", "event_id": added.id, "msg_seq": 2}), 400, 40034026
    )


@pytest.mark.anyio
async def test_group_and_c2c_targets(env: Env) -> None:
    assert_error(await env.post("/v2/groups/NOPE/messages", {"content": "x"}), 400, 40034101)
    ev = env.control.group_at_message("x", group_openid="G1")
    env.control.group_del_robot("G1")
    assert_error(await env.post("/v2/groups/G1/messages", {"content": "x", "msg_id": ev.d["id"]}), 400, 40034101)
    assert_error(await env.post("/v2/users/NOPE/messages", {"content": "x"}), 400, 40054004)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        {"content": 5},
        {"content": "x", "msg_type": "0"},
        {"content": "x", "msg_seq": "1"},
        {"content": "x", "msg_id": 7},
        {"content": "x", "markdown": "not an object"},
        {"content": "x", "msg_type": 99},
    ],
)
async def test_wrong_types_are_12002(env: Env, body: dict[str, Any]) -> None:
    ev = env.control.c2c_message("x", openid="U1")
    body = {"msg_id": ev.d["id"], **body}
    assert_error(await env.post("/v2/users/U1/messages", body), 400, 12002)


@pytest.mark.anyio
async def test_msg_type_needs_its_field(env: Env) -> None:
    ev = env.control.c2c_message("x", openid="U1")
    for body in ({"msg_type": 2}, {"msg_type": 3}, {"msg_type": 7, "content": " "}, {"msg_type": 0, "content": ""}):
        assert_error(await env.post("/v2/users/U1/messages", {**body, "msg_id": ev.d["id"]}), 400, 50006)
    md = {"msg_type": 2, "markdown": {"content": "# hi"}, "msg_id": ev.d["id"]}
    assert (await env.post("/v2/users/U1/messages", md)).status_code == 200
    kb = {"msg_type": 2, "keyboard": {"id": "tmpl"}, "msg_id": ev.d["id"], "msg_seq": 2}
    assert (await env.post("/v2/users/U1/messages", kb)).status_code == 200
    media_only = {"msg_type": 7, "media": {"file_info": "unknown"}, "msg_id": ev.d["id"], "msg_seq": 3}
    assert_error(await env.post("/v2/users/U1/messages", media_only), 400, 12002)
    g = env.control.group_at_message("x", group_openid="G1")
    notify = {"msg_type": 6, "input_notify": {"input_type": 1}, "msg_id": g.d["id"]}
    assert_error(await env.post("/v2/groups/G1/messages", notify), 400, 12002)


# recall -------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_recall_window(env: Env) -> None:
    ev = env.control.c2c_message("x", openid="U1")
    first = (await env.post("/v2/users/U1/messages", {"content": "a", "msg_id": ev.d["id"], "msg_seq": 1})).json()
    second = (await env.post("/v2/users/U1/messages", {"content": "b", "msg_id": ev.d["id"], "msg_seq": 2})).json()
    env.clock.advance(119)
    r = await env.delete(f"/v2/users/U1/messages/{first['id']}")
    assert r.status_code == 200 and r.json() == {}
    assert env.control.sent("c2c", "U1")[0].recalled
    assert_error(await env.delete(f"/v2/users/U1/messages/{first['id']}"), 400, 40061002)
    env.clock.advance(2)
    assert_error(await env.delete(f"/v2/users/U1/messages/{second['id']}"), 400, 40064004)
    assert_error(await env.delete("/v2/users/U1/messages/unknown"), 400, 40061002)


@pytest.mark.anyio
async def test_group_recall_needs_matching_group(env: Env) -> None:
    ev = env.control.group_at_message("x", group_openid="G1")
    sent = (await env.post("/v2/groups/G1/messages", {"content": "a", "msg_id": ev.d["id"]})).json()
    env.world.add_group("G2")
    assert_error(await env.delete(f"/v2/groups/G2/messages/{sent['id']}"), 400, 40061002)
    assert (await env.delete(f"/v2/groups/G1/messages/{sent['id']}")).status_code == 200


# uploads ------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_upload_then_send_media(env: Env) -> None:
    ev = env.control.group_at_message("x", group_openid="G1")
    up = await env.post(
        "/v2/groups/G1/files", {"file_type": 1, "url": "https://example.com/a.png", "srv_send_msg": False}
    )
    assert up.status_code == 200, up.text
    info = up.json()
    assert set(info) == {"file_uuid", "file_info", "ttl"}
    body = {"msg_type": 7, "content": " ", "media": {"file_info": info["file_info"]}, "msg_id": ev.d["id"]}
    assert (await env.post("/v2/groups/G1/messages", body)).status_code == 200
    # scene-bound: a group upload does not work in C2C
    c2c = env.control.c2c_message("x", openid="U1")
    body = {"msg_type": 7, "content": " ", "media": {"file_info": info["file_info"]}, "msg_id": c2c.d["id"]}
    assert_error(await env.post("/v2/users/U1/messages", body), 400, 12002)


@pytest.mark.anyio
async def test_upload_base64_and_errors(env: Env) -> None:
    env.world.add_c2c_user("U1")
    ok = await env.post("/v2/users/U1/files", {"file_type": 1, "file_data": "aGVsbG8="})
    assert ok.status_code == 200
    assert env.world.uploads[ok.json()["file_info"]].source == "file_data"
    assert_error(await env.post("/v2/users/U1/files", {"file_type": 1, "file_data": "***"}), 400, 850019)
    assert_error(await env.post("/v2/users/U1/files", {"file_type": 9, "url": "https://x/y"}), 400, 850019)
    assert_error(await env.post("/v2/users/U1/files", {"file_type": 1}), 400, 12002)
    assert_error(await env.post("/v2/users/U1/files", {"file_type": "1", "url": "https://x/y"}), 400, 12002)
    assert_error(await env.post("/v2/users/U1/files", {"file_type": 1, "url": "ftp://x/y"}), 400, 850026)
    srv = {"file_type": 1, "url": "https://x/y", "srv_send_msg": True}
    assert_error(await env.post("/v2/users/U1/files", srv), 400, 40034102)


@pytest.mark.anyio
async def test_upload_expires() -> None:
    e = await make_env(upload_ttl=10)
    ev = e.control.c2c_message("x", openid="U1")
    info = (await e.post("/v2/users/U1/files", {"file_type": 1, "url": "https://x/y"})).json()["file_info"]
    e.clock.advance(11)
    body = {"msg_type": 7, "content": " ", "media": {"file_info": info}, "msg_id": ev.d["id"]}
    assert_error(await e.post("/v2/users/U1/messages", body), 400, 12002)
    await e.http.aclose()


# guild channels and DMs ---------------------------------------------------------------------------


async def _guild(env: Env) -> tuple[str, str]:
    g = env.world.add_guild("1001", "G")
    ch = env.world.add_channel(g.id, "2001", "general")
    return g.id, ch.id


@pytest.mark.anyio
async def test_channel_reply_returns_message(env: Env) -> None:
    gid, cid = await _guild(env)
    at, _ = env.control.channel_message(cid, "hello", mention_bot=True)
    r = await env.post(f"/channels/{cid}/messages", {"content": "hi", "msg_id": at.d["id"]})
    assert r.status_code == 200, r.text
    msg = r.json()
    assert msg["channel_id"] == cid and msg["guild_id"] == gid and msg["content"] == "hi"
    assert msg["author"]["bot"] is True and msg["author"]["id"] == env.world.bot.id
    got = await env.get(f"/channels/{cid}/messages/{msg['id']}")
    assert got.json()["message"]["content"] == "hi"
    assert [m.content for m in env.control.sent("guild", cid)] == ["hi"]
    assert env.world.user_messages[at.d["id"]].scene == "guild"
    # guild active messages are allowed; expired msg_id is not
    assert (await env.post(f"/channels/{cid}/messages", {"content": "active"})).status_code == 200
    env.clock.advance(301)
    assert_error(await env.post(f"/channels/{cid}/messages", {"content": "x", "msg_id": at.d["id"]}), 400, 304027)
    assert_error(await env.post(f"/channels/{cid}/messages", {"content": "x", "msg_id": "zzz"}), 400, 304026)
    assert_error(await env.post(f"/channels/{cid}/messages", {"msg_id": at.d["id"]}), 400, 50006)
    assert_error(await env.post("/channels/404/messages", {"content": "x"}), 404, 404)


@pytest.mark.anyio
async def test_channel_recall(env: Env) -> None:
    _, cid = await _guild(env)
    msg = (await env.post(f"/channels/{cid}/messages", {"content": "x"})).json()
    assert (await env.delete(f"/channels/{cid}/messages/{msg['id']}?hidetip=true")).status_code == 200
    assert_error(await env.get(f"/channels/{cid}/messages/{msg['id']}"), 404, 404)


@pytest.mark.anyio
async def test_dm_flow(env: Env) -> None:
    gid, _ = await _guild(env)
    env.world.add_member(gid, "3001", "alice")
    r = await env.post("/users/@me/dms", {"recipient_id": "3001", "source_guild_id": gid})
    assert r.status_code == 200
    dm = r.json()
    assert set(dm) == {"guild_id", "channel_id", "create_time"}
    again = (await env.post("/users/@me/dms", {"recipient_id": "3001", "source_guild_id": gid})).json()
    assert again == dm
    ev = env.control.dm("3001", "hey", source_guild_id=gid)
    assert ev.type == "DIRECT_MESSAGE_CREATE" and ev.d["guild_id"] == dm["guild_id"]
    sent = await env.post(f"/dms/{dm['guild_id']}/messages", {"content": "yo", "msg_id": ev.d["id"]})
    assert sent.status_code == 200
    assert sent.json()["direct_message"] is True
    assert [m.content for m in env.control.sent("dm", dm["guild_id"])] == ["yo"]
    assert_error(await env.post("/dms/999/messages", {"content": "x"}), 404, 404)
    assert_error(await env.post("/users/@me/dms", {"recipient_id": "3001"}), 400, 12002)


# reactions, pins, interactions --------------------------------------------------------------------


@pytest.mark.anyio
async def test_reactions_and_pins(env: Env) -> None:
    gid, cid = await _guild(env)
    (msg,) = env.control.channel_message(cid, "pin me")
    mid = msg.d["id"]
    assert (await env.put(f"/channels/{cid}/messages/{mid}/reactions/1/4")).status_code == 204
    users = (await env.get(f"/channels/{cid}/messages/{mid}/reactions/1/4")).json()
    assert users["users"][0]["id"] == env.world.bot.id and users["is_end"] is True
    assert (await env.delete(f"/channels/{cid}/messages/{mid}/reactions/1/4")).status_code == 204
    assert (await env.get(f"/channels/{cid}/messages/{mid}/reactions/1/4")).json()["users"] == []
    assert_error(await env.put(f"/channels/{cid}/messages/{mid}/reactions/7/4"), 400, 12002)
    assert_error(await env.put(f"/channels/{cid}/messages/nope/reactions/1/4"), 404, 404)
    pins = (await env.put(f"/channels/{cid}/pins/{mid}")).json()
    assert pins == {"guild_id": gid, "channel_id": cid, "message_ids": [mid]}
    assert (await env.get(f"/channels/{cid}/pins")).json()["message_ids"] == [mid]
    assert (await env.delete(f"/channels/{cid}/pins/all")).status_code == 204
    assert (await env.get(f"/channels/{cid}/pins")).json()["message_ids"] == []


@pytest.mark.anyio
async def test_interaction_ack(env: Env) -> None:
    ev = env.control.button_click("group", "G1", button_id="b1", button_data="yes")
    iid = ev.d["id"]
    assert env.control.interaction_ack(iid) is None
    assert (await env.put(f"/interactions/{iid}", {"code": 0})).status_code == 200
    assert env.control.interaction_ack(iid) == 0
    assert_error(await env.put("/interactions/unknown", {"code": 0}), 404, 404)
    assert_error(await env.put(f"/interactions/{iid}", {"code": 9}), 400, 12002)
    # the interaction's event id can be replied to in its group
    assert (await env.post("/v2/groups/G1/messages", {"content": "ok", "event_id": ev.id})).status_code == 200


# guild reads and writes ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_guild_reads(env: Env) -> None:
    gid, cid = await _guild(env)
    env.world.add_guild("1002", "Other")
    env.world.add_member(gid, "3001", "alice")
    env.world.add_member(gid, "3002", "bob", roles=["1", "2"])
    guilds = (await env.get("/users/@me/guilds", params={"limit": "1"})).json()
    assert [g["id"] for g in guilds] == ["1001"]
    assert [g["id"] for g in (await env.get("/users/@me/guilds", params={"after": "1001"})).json()] == ["1002"]
    assert (await env.get(f"/guilds/{gid}")).json()["member_count"] == 2
    assert [c["id"] for c in (await env.get(f"/guilds/{gid}/channels")).json()] == [cid]
    assert (await env.get(f"/channels/{cid}")).json()["name"] == "general"
    members = (await env.get(f"/guilds/{gid}/members", params={"limit": "10"})).json()
    assert [m["user"]["id"] for m in members] == ["3001", "3002"]
    assert (await env.get(f"/guilds/{gid}/members/3001")).json()["user"]["username"] == "alice"
    roles = (await env.get(f"/guilds/{gid}/roles")).json()
    assert roles["guild_id"] == gid and any(r["id"] == "2" and r["number"] == 1 for r in roles["roles"])
    role_members = (await env.get(f"/guilds/{gid}/roles/2/members")).json()
    assert [m["user"]["id"] for m in role_members["data"]] == ["3002"]
    assert_error(await env.get("/guilds/999"), 404, 404)
    assert_error(await env.get(f"/guilds/{gid}/members/999"), 404, 404)
    assert_error(await env.get(f"/guilds/{gid}/members", params={"limit": "x"}), 400, 12002)


@pytest.mark.anyio
async def test_guild_writes_emit_events(env: Env) -> None:
    gid, cid = await _guild(env)
    seen: list[str] = []
    env.world.add_listener(lambda e: seen.append(e.type))
    ch = (await env.post(f"/guilds/{gid}/channels", {"name": "new", "type": 0, "sub_type": 0})).json()
    assert ch["name"] == "new" and ch["guild_id"] == gid
    assert (await env.patch(f"/channels/{ch['id']}", {"name": "renamed"})).json()["name"] == "renamed"
    assert (await env.delete(f"/channels/{ch['id']}")).status_code == 200
    assert seen == ["CHANNEL_CREATE", "CHANNEL_UPDATE", "CHANNEL_DELETE"]
    assert_error(await env.post(f"/guilds/{gid}/channels", {"type": 0}), 400, 12002)
    env.world.add_member(gid, "3001", "alice")
    role = (await env.post(f"/guilds/{gid}/roles", {"name": "vip"})).json()
    rid = role["role_id"]
    assert role["role"]["name"] == "vip"
    assert (await env.put(f"/guilds/{gid}/members/3001/roles/{rid}", {})).status_code == 204
    assert rid in env.world.members[gid]["3001"].roles
    assert (await env.patch(f"/guilds/{gid}/roles/{rid}", {"name": "vvip"})).json()["role"]["name"] == "vvip"
    assert (await env.delete(f"/guilds/{gid}/members/3001/roles/{rid}")).status_code == 204
    assert (await env.delete(f"/guilds/{gid}/roles/{rid}")).status_code == 204
    assert (await env.patch(f"/guilds/{gid}/members/3001/mute", {"mute_seconds": "60"})).status_code == 204
    assert_error(await env.patch(f"/guilds/{gid}/mute", {}), 400, 12002)
    multi = await env.patch(f"/guilds/{gid}/mute", {"mute_seconds": "60", "user_ids": ["3001"]})
    assert multi.json() == {"user_ids": ["3001"]}
    assert (
        await env.put(f"/channels/{cid}/members/3001/permissions", {"add": "6", "remove": "None"})
    ).status_code == 204
    assert_error(await env.put(f"/channels/{cid}/members/3001/permissions", {"add": "x"}), 400, 12002)
    assert (await env.get(f"/channels/{cid}/members/3001/permissions")).json()["permissions"] == "6"
    assert (await env.http.request("DELETE", f"/guilds/{gid}/members/3001", headers=env.auth)).status_code == 204
    assert seen[-1] == "GUILD_MEMBER_REMOVE"


@pytest.mark.anyio
async def test_not_modelled_endpoints_answer_501(env: Env) -> None:
    await _guild(env)
    r = await env.post("/gateway/webhook/sessions", {"intents": 1})
    assert_error(r, 501, 501)
    assert "not modelled" in r.json()["message"]


@pytest.mark.anyio
async def test_trailing_slash_percent_encoding_and_head(env: Env) -> None:
    assert (await env.http.get("/users/@me/", headers=env.auth)).status_code == 200
    head = await env.http.head("/users/@me", headers=env.auth)
    assert head.status_code == 200 and head.content == b"" and head.headers["content-type"] == "application/json"
    assert (await env.http.get("/users/%40me", headers=env.auth)).status_code == 200


@pytest.mark.anyio
async def test_multipart_file_image(env: Env) -> None:
    _, cid = await _guild(env)
    files = {"file_image": ("cat.png", b"\x89PNG\r\n\x1a\n\x00\x01", "image/png")}
    r = await env.http.post(f"/channels/{cid}/messages", data={"content": "look"}, files=files, headers=env.auth)
    assert r.status_code == 200, r.text
    msg = r.json()
    assert msg["content"] == "look"
    assert msg["attachments"][0]["filename"] == "cat.png" and msg["attachments"][0]["size"] == 10
    assert env.control.sent("guild", cid)[0].body["file_image"]["content_type"] == "image/png"
    bad = await env.http.post(
        f"/channels/{cid}/messages", content=b"garbage", headers={**env.auth, "Content-Type": "multipart/form-data"}
    )
    assert bad.status_code == 400


@pytest.mark.anyio
async def test_rejecting_target_refuses_allowed_active_messages() -> None:
    e = await make_env(allow_active_messages=True)
    e.control.c2c_msg_switch("U1", receive=False)
    assert_error(await e.post("/v2/users/U1/messages", {"content": "x"}), 400, 40054013)
    e.control.c2c_msg_switch("U1", receive=True)
    assert (await e.post("/v2/users/U1/messages", {"content": "x"})).status_code == 200
    await e.http.aclose()


@pytest.mark.anyio
async def test_router_hides_handler_crashes_and_prefers_literal_segments() -> None:
    from framework.emulator.http import HttpRequest, HttpResponse, json_response

    router = Router()

    async def boom(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        raise RuntimeError("secret internals")

    async def echo(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return json_response(200, params)

    router.add("GET", "/boom", boom)
    router.add("GET", "/things/{thing_id}", echo)
    router.add("GET", "/things/all", echo)
    crashed = await router.dispatch(HttpRequest("GET", "/boom"))
    assert crashed.status == 500
    assert b"secret internals" not in crashed.body and b"Traceback" not in crashed.body
    assert crashed.json()["code"] == 500
    assert (await router.dispatch(HttpRequest("GET", "/things/all"))).json() == {}
    assert (await router.dispatch(HttpRequest("GET", "/things/7"))).json() == {"thing_id": "7"}
    assert repr(crashed) == f"HttpResponse(500, {len(crashed.body)} bytes)"


@pytest.mark.anyio
async def test_dm_recall_and_message_list(env: Env) -> None:
    gid, cid = await _guild(env)
    for text in ("one", "two", "three"):
        env.control.channel_message(cid, text)
    listed = (await env.get(f"/channels/{cid}/messages", params={"limit": "2"})).json()
    assert [m["content"] for m in listed] == ["two", "three"]
    ev = env.control.dm("3001", "hey", source_guild_id=gid)
    dm_guild = ev.d["guild_id"]
    sent = (await env.post(f"/dms/{dm_guild}/messages", {"content": "yo", "msg_id": ev.d["id"]})).json()
    assert (await env.delete(f"/dms/{dm_guild}/messages/{sent['id']}")).status_code == 200
    assert env.control.sent("dm", dm_guild)[0].recalled
    assert_error(await env.delete(f"/dms/{dm_guild}/messages/{sent['id']}"), 404, 404)
