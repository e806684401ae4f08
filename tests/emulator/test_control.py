"""The control API: acting as users (payload shapes of protocol.md §3.1/§12.3), reads, faults, HTTP routes."""

from __future__ import annotations

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
from framework.emulator.world import EmittedEvent, World
from framework.models import decode_event
from framework.models.envelope import encode


class Env:
    def __init__(self) -> None:
        self.config = EmulatorConfig()
        self.clock = VirtualClock()
        self.world = World(self.config, self.clock)
        self.tokens = TokenService(self.config, self.clock)
        self.router = Router()
        build_rest(self.world, self.tokens, self.config, self.router)
        self.control = Control(self.world, self.tokens, self.config)
        register_control_routes(self.control, self.router)
        self.http = httpx.AsyncClient(transport=RouterTransport(self.router), base_url="http://emu")
        self.events: list[EmittedEvent] = []
        self.world.add_listener(self.events.append)


@pytest.fixture
def env() -> Env:
    """The client uses an in-process transport: nothing to close."""
    return Env()


def roundtrip(ev: EmittedEvent) -> Any:
    """Decode the payload with the client's models: the shapes must fit them."""
    return decode_event(ev.type, encode(ev.d))


# Python API: payload shapes -----------------------------------------------------------------------


def test_group_at_message_shape(env: Env) -> None:
    ev = env.control.group_at_message("ping", group_openid="G1", member_openid="M1", role="admin")
    assert ev.type == "GROUP_AT_MESSAGE_CREATE"
    assert ev.id.startswith("GROUP_AT_MESSAGE_CREATE:")
    assert ev.guild_id is None
    d = ev.d
    assert d["content"] == " ping"
    assert d["group_id"] == d["group_openid"] == "G1"
    assert d["author"] == {
        "id": "M1",
        "member_openid": "M1",
        "union_openid": "M1",
        "bot": False,
        "member_role": "admin",
    }
    assert d["id"].startswith("ROBOT1.0_") and "T" in d["timestamp"]
    assert env.events == [ev]
    msg = roundtrip(ev)
    assert msg.group_openid == "G1" and msg.author.member_openid == "M1"
    assert env.world.user_messages[d["id"]].scene == "group"


def test_group_message_without_at(env: Env) -> None:
    ev = env.control.group_at_message("plain", group_openid="G1", at_bot=False)
    assert ev.type == "GROUP_MESSAGE_CREATE" and ev.d["content"] == "plain"


def test_group_at_refused_when_bot_not_in_group(env: Env) -> None:
    env.world.add_group("G1", bot_member=False)
    with pytest.raises(ValueError):
        env.control.group_at_message("x", group_openid="G1")


def test_c2c_message_shape(env: Env) -> None:
    ev = env.control.c2c_message("hello", openid="U1")
    assert ev.type == "C2C_MESSAGE_CREATE"
    assert ev.d["author"]["id"] == ev.d["author"]["user_openid"] == "U1"
    assert ev.d["content"] == "hello"
    assert roundtrip(ev).author.user_openid == "U1"
    assert "U1" in env.world.c2c_users


def test_channel_message_with_and_without_mention(env: Env) -> None:
    g = env.world.add_guild("1001")
    ch = env.world.add_channel(g.id, "2001")
    plain = env.control.channel_message(ch.id, "hi", author_id="3001", username="alice")
    assert [e.type for e in plain] == ["MESSAGE_CREATE"]
    assert plain[0].guild_id == "1001"
    at, msg = env.control.channel_message(ch.id, "hey", author_id="3001", mention_bot=True)
    assert (at.type, msg.type) == ("AT_MESSAGE_CREATE", "MESSAGE_CREATE")
    assert at.d["id"] == msg.d["id"] and at.id != msg.id
    assert at.d["content"] == f"<@!{env.world.bot.id}> hey"
    assert at.d["mentions"][0]["id"] == env.world.bot.id
    decoded = roundtrip(at)
    assert decoded.author.username == "alice" and decoded.channel_id == "2001" and decoded.member.roles == ["1"]
    assert "3001" in env.world.members["1001"]
    with pytest.raises(KeyError):
        env.control.channel_message("nope", "x")


def test_guild_content_is_escaped(env: Env) -> None:
    g = env.world.add_guild("1001")
    ch = env.world.add_channel(g.id, "2001")
    (ev,) = env.control.channel_message(ch.id, "a<b & c>d")
    assert ev.d["content"] == "a&lt;b &amp; c&gt;d"
    dm = env.control.dm("3001", "<x>", source_guild_id=g.id)
    assert dm.d["content"] == "&lt;x&gt;"
    group = env.control.group_at_message("<x>", group_openid="G1")
    assert group.d["content"] == " <x>"


def test_group_member_events(env: Env) -> None:
    add = env.control.group_member_add("G1", "M9")
    assert add.type == "GROUP_MEMBER_ADD"
    assert add.d == {"timestamp": 1_700_000_000, "group_openid": "G1", "member_openid": "M9", "user_openid": "M9"}
    assert "M9" in env.world.groups["G1"].members
    assert env.control.group_member_remove("G1", "M9").type == "GROUP_MEMBER_REMOVE"
    assert "M9" not in env.world.groups["G1"].members
    with pytest.raises(KeyError):
        env.control.group_member_remove("G1", "M9")


def test_dm_shape(env: Env) -> None:
    g = env.world.add_guild("1001")
    ev = env.control.dm("3001", "secret plans", source_guild_id=g.id)
    d = ev.d
    assert ev.type == "DIRECT_MESSAGE_CREATE"
    assert d["src_guild_id"] == "1001" and d["direct_message"] is True
    session = env.world.dm_sessions[d["guild_id"]]
    assert session.recipient_id == "3001" and session.channel_id == d["channel_id"]
    assert ev.guild_id == d["guild_id"]
    assert roundtrip(ev).src_guild_id == "1001"


def test_member_events(env: Env) -> None:
    g = env.world.add_guild("1001")
    add = env.control.member_add(g.id, "3001", "alice")
    assert add.type == "GUILD_MEMBER_ADD" and add.d["user"]["username"] == "alice" and add.d["guild_id"] == "1001"
    assert roundtrip(add).user.id == "3001"
    rem = env.control.member_remove(g.id, "3001")
    assert rem.type == "GUILD_MEMBER_REMOVE"
    assert "3001" not in env.world.members[g.id]
    with pytest.raises(KeyError):
        env.control.member_remove(g.id, "3001")


def test_group_and_friend_management_events(env: Env) -> None:
    add = env.control.group_add_robot("G1", op_member_openid="M1")
    assert add.d == {"group_openid": "G1", "op_member_openid": "M1", "timestamp": 1_700_000_000}
    assert env.world.groups["G1"].bot_member and "M1" in env.world.groups["G1"].members
    rej = env.control.group_msg_switch("G1", receive=False)
    assert rej.type == "GROUP_MSG_REJECT" and not env.world.groups["G1"].accepts_active
    dele = env.control.group_del_robot("G1")
    assert dele.type == "GROUP_DEL_ROBOT" and not env.world.groups["G1"].bot_member
    friend = env.control.friend_add("U1")
    assert friend.d == {"timestamp": 1_700_000_000, "openid": "U1", "author": {"union_openid": "U1"}}
    assert roundtrip(friend).openid == "U1"
    assert env.control.c2c_msg_switch("U1", receive=True).type == "C2C_MSG_RECEIVE"
    assert env.control.friend_del("U1").type == "FRIEND_DEL"
    assert "U1" not in env.world.c2c_users


def test_button_click_shapes(env: Env) -> None:
    grp = env.control.button_click("group", "G1", button_id="b", button_data="d", user_id="M1")
    assert grp.d["chat_type"] == 1 and grp.d["scene"] == "group" and grp.d["group_openid"] == "G1"
    assert grp.d["group_member_openid"] == "M1" and grp.d["type"] == 11
    assert grp.d["data"]["resolved"] == {"button_data": "d", "button_id": "b", "user_id": "M1"}
    assert grp.d["application_id"] == DEFAULT_APP_ID
    assert roundtrip(grp).data.resolved.button_id == "b"
    c2c = env.control.button_click("c2c", "U1")
    assert c2c.d["chat_type"] == 2 and c2c.d["user_openid"] == "U1"
    g = env.world.add_guild("1001")
    ch = env.world.add_channel(g.id, "2001")
    guild = env.control.button_click("guild", ch.id)
    assert guild.d["chat_type"] == 0 and guild.d["channel_id"] == "2001" and guild.guild_id == "1001"
    with pytest.raises(ValueError):
        env.control.button_click("space", "x")


def test_reaction_shape(env: Env) -> None:
    g = env.world.add_guild("1001")
    ch = env.world.add_channel(g.id, "2001")
    ev = env.control.reaction(ch.id, "m1", user_id="3001", emoji_id="277", emoji_type=1)
    assert ev.d == {
        "user_id": "3001",
        "channel_id": "2001",
        "guild_id": "1001",
        "emoji": {"id": "277", "type": 1},
        "target": {"id": "m1", "type": "ReactionTargetType_MSG"},  # a string live (protocol.md §0)
    }
    assert env.control.reaction(ch.id, "m1", remove=True).type == "MESSAGE_REACTION_REMOVE"


def test_failing_listener_does_not_stop_others(env: Env) -> None:
    def broken(_: EmittedEvent) -> None:
        raise RuntimeError("boom")

    env.world.add_listener(broken)
    later: list[str] = []
    env.world.add_listener(lambda e: later.append(e.type))
    env.control.friend_add("U1")
    assert later == ["FRIEND_ADD"]
    assert isinstance(env.world.listener_errors[0], RuntimeError)


def test_fault_validation(env: Env) -> None:
    with pytest.raises(ValueError):
        env.control.fail_next(0)
    with pytest.raises(ValueError):
        env.control.fail_next(1, status=200)


# HTTP control routes ------------------------------------------------------------------------------


async def _post(env: Env, path: str, body: Any) -> httpx.Response:
    return await env.http.post(path, json=body)


@pytest.mark.anyio
async def test_http_seed_and_act(env: Env) -> None:
    assert (await _post(env, "/_emulator/world/guilds", {"guild_id": "1001", "name": "G"})).json()["id"] == "1001"
    assert (await _post(env, "/_emulator/world/channels", {"guild_id": "1001", "channel_id": "2001"})).json()[
        "id"
    ] == "2001"
    assert (await _post(env, "/_emulator/world/members", {"guild_id": "1001", "user_id": "3001"})).status_code == 200
    assert (await _post(env, "/_emulator/world/roles", {"guild_id": "1001", "name": "vip"})).json()["name"] == "vip"
    assert (await _post(env, "/_emulator/world/groups", {"group_openid": "G1"})).json() == {"group_openid": "G1"}
    gm = await _post(env, "/_emulator/world/group_members", {"group_openid": "G1", "member_openid": "M1"})
    assert gm.json() == {"member_openid": "M1"}
    assert (await _post(env, "/_emulator/world/c2c_users", {"openid": "U1"})).json() == {"openid": "U1"}
    world = (await env.http.get("/_emulator/world")).json()
    assert world["bot"]["id"] == env.world.bot.id and world["c2c_users"] == ["U1"]

    r = await _post(env, "/_emulator/act/channel_message", {"channel_id": "2001", "content": "hi", "mention_bot": True})
    body = r.json()
    assert body["type"] == "AT_MESSAGE_CREATE" and [e["type"] for e in body["events"]] == [
        "AT_MESSAGE_CREATE",
        "MESSAGE_CREATE",
    ]
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("dm", {"user_id": "3001", "content": "x", "source_guild_id": "1001"}, "DIRECT_MESSAGE_CREATE"),
        ("group_at_message", {"group_openid": "G1", "member_openid": "M1", "content": "x"}, "GROUP_AT_MESSAGE_CREATE"),
        ("group_message", {"group_openid": "G1", "content": "x"}, "GROUP_MESSAGE_CREATE"),
        ("c2c_message", {"openid": "U1", "content": "x"}, "C2C_MESSAGE_CREATE"),
        ("member_add", {"guild_id": "1001", "user_id": "3002"}, "GUILD_MEMBER_ADD"),
        ("member_remove", {"guild_id": "1001", "user_id": "3002"}, "GUILD_MEMBER_REMOVE"),
        ("group_member_add", {"group_openid": "G1", "member_openid": "M7"}, "GROUP_MEMBER_ADD"),
        ("group_member_remove", {"group_openid": "G1", "member_openid": "M7"}, "GROUP_MEMBER_REMOVE"),
        ("group_add_robot", {"group_openid": "G2"}, "GROUP_ADD_ROBOT"),
        ("group_msg_switch", {"group_openid": "G2", "receive": True}, "GROUP_MSG_RECEIVE"),
        ("group_del_robot", {"group_openid": "G2"}, "GROUP_DEL_ROBOT"),
        ("friend_add", {"openid": "U2"}, "FRIEND_ADD"),
        ("c2c_msg_switch", {"openid": "U2", "receive": False}, "C2C_MSG_REJECT"),
        ("friend_del", {"openid": "U2"}, "FRIEND_DEL"),
        ("button_click", {"scene": "c2c", "target_id": "U1", "button_data": "x"}, "INTERACTION_CREATE"),
        ("reaction", {"channel_id": "2001", "message_id": "m", "emoji_type": 2}, "MESSAGE_REACTION_ADD"),
        ("emit", {"type": "AUDIO_START", "d": {"guild_id": "1001"}, "guild_id": "1001"}, "AUDIO_START"),
    ]
    for op, payload, expected in cases:
        r = await _post(env, f"/_emulator/act/{op}", payload)
        assert r.status_code == 200, (op, r.text)
        out = r.json()
        assert out["type"] == expected and out["id"].startswith(expected + ":") and isinstance(out["d"], dict)
    assert env.events[-1].type == "AUDIO_START" and env.events[-1].guild_id == "1001"


@pytest.mark.anyio
async def test_http_act_errors(env: Env) -> None:
    r = await _post(env, "/_emulator/act/teleport", {})
    assert r.status_code == 404 and r.json()["code"] == 404
    r = await _post(env, "/_emulator/act/c2c_message", {"openid": "U1"})
    assert r.status_code == 400 and r.json()["code"] == 12002
    assert r.json()["message"] == "content is required"
    r = await _post(env, "/_emulator/act/c2c_message", {"content": 3})
    assert r.status_code == 400 and r.json()["message"] == "content: expected `str`, got `int`"
    r = await _post(env, "/_emulator/act/channel_message", {"channel_id": "1", "content": "x", "attachments": [1]})
    assert r.json()["message"] == "attachments[0]: expected `object`, got `int`"
    r = await _post(env, "/_emulator/rest/faults/fail", {"count": True})
    assert r.status_code == 400 and r.json()["message"] == "count: expected `int`, got `bool`"
    r = await _post(env, "/_emulator/act/c2c_message", [1])
    assert r.status_code == 400 and r.json()["message"].startswith("request body: expected `object`, got `array`")
    r = await _post(env, "/_emulator/act/channel_message", {"channel_id": "nope", "content": "x"})
    assert r.status_code == 404 and "nope" in r.json()["message"]
    r = await env.http.post("/_emulator/act/c2c_message", content=b"[[[")
    assert r.status_code == 400 and r.json()["code"] == 12002
    r = await _post(env, "/_emulator/act/button_click", {"scene": "moon", "target_id": "x"})
    assert r.status_code == 400
    r = await _post(env, "/_emulator/world/planets", {})
    assert r.status_code == 404
    r = await _post(env, "/_emulator/world/channels", {"guild_id": "missing"})
    assert r.status_code == 404


@pytest.mark.anyio
async def test_http_reads_and_faults(env: Env) -> None:
    tok = (
        await env.http.post(
            "/app/getAppAccessToken", json={"appId": DEFAULT_APP_ID, "clientSecret": DEFAULT_APP_SECRET}
        )
    ).json()
    auth = {"Authorization": "QQBot " + tok["access_token"]}
    ev = (await _post(env, "/_emulator/act/c2c_message", {"openid": "U1", "content": "hi"})).json()
    r = await env.http.post("/v2/users/U1/messages", json={"content": "yo", "msg_id": ev["d"]["id"]}, headers=auth)
    assert r.status_code == 200
    sent = (await env.http.get("/_emulator/sent/c2c/U1")).json()
    assert [(m["body"]["content"], m["result"]["id"]) for m in sent] == [("yo", r.json()["id"])]
    assert (await env.http.get("/_emulator/sent/moon/U1")).status_code == 400
    calls = (await env.http.get("/_emulator/calls", params={"method": "POST", "path_prefix": "/v2/"})).json()
    assert [(c["path"], c["status"]) for c in calls] == [("/v2/users/U1/messages", 200)]
    assert all(not c["path"].startswith("/_emulator") for c in (await env.http.get("/_emulator/calls")).json())
    assert (await env.http.delete("/_emulator/calls")).status_code == 200
    assert env.world.api_calls == []

    click = (await _post(env, "/_emulator/act/button_click", {"scene": "c2c", "target_id": "U1"})).json()
    iid = click["d"]["id"]
    assert (await env.http.get(f"/_emulator/interactions/{iid}")).json()["ack_code"] is None
    await env.http.put(f"/interactions/{iid}", json={"code": 3}, headers=auth)
    assert (await env.http.get(f"/_emulator/interactions/{iid}")).json()["ack_code"] == 3
    assert (await env.http.get("/_emulator/interactions/nope")).status_code == 404

    f = (await _post(env, "/_emulator/rest/faults/fail", {"status": 502, "count": 2, "code": 7})).json()
    assert f == {"status": 502, "count": 2, "code": 7, "path_prefix": ""}
    assert (await env.http.get("/users/@me", headers=auth)).status_code == 502
    assert (await env.http.delete("/_emulator/rest/faults")).status_code == 200
    assert (await env.http.get("/users/@me", headers=auth)).status_code == 200
    await _post(env, "/_emulator/rest/faults/rate_limit", {"count": 1})
    assert (await env.http.get("/users/@me", headers=auth)).status_code == 429
    assert (await _post(env, "/_emulator/rest/faults/expire_tokens", {})).json() == {"expired": True}
    assert (await env.http.get("/users/@me", headers=auth)).json()["code"] == 11244
    assert (await _post(env, "/_emulator/rest/faults/meteor", {})).status_code == 404
    assert (await _post(env, "/_emulator/rest/faults/fail", {"status": "500"})).status_code == 400
    assert (await _post(env, "/_emulator/rest/faults/fail", {"status": 200})).status_code == 400
