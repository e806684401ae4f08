"""Payload fidelity and strictness of the emulator's REST API (issue 10), over the in-process httpx
transport: REFIDX quoting, keyboards only on markdown, the audit flow, flat role bodies, C2C reply
cap, the formerly-501 endpoints, chunked uploads and header checks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from test_rest import Env, assert_error, make_env

from framework.models.events import C2CMessage, GroupMessage

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    e = await make_env()
    e.world.add_guild("1001")
    e.world.add_channel("1001", "2001")
    e.world.add_member("1001", "3001", "alice")
    e.world.add_group("G1")
    e.world.add_c2c_user("U1")
    yield e
    await e.http.aclose()


def _ref_idx(d: dict[str, Any]) -> str:
    (entry,) = [e for e in d["message_scene"]["ext"] if e.startswith("msg_idx=")]
    return str(entry.removeprefix("msg_idx="))


# 1. message_scene.ext and REFIDX quoting (protocol.md §0, §3.1, §5.1) ---------------------------------


async def test_group_and_c2c_messages_carry_msg_idx_and_models_decode_it(env: Env) -> None:
    group = env.control.group_at_message("hi", group_openid="G1")
    c2c = env.control.c2c_message("hi", openid="U1")
    for ev, model in ((group, GroupMessage), (c2c, C2CMessage)):
        scene = ev.d["message_scene"]
        assert scene["source"] == "default" and _ref_idx(ev.d).startswith("REFIDX_")
        decoded = msgspec.convert(ev.d, model)
        assert decoded.message_scene is not None
        assert decoded.message_scene.ext == scene["ext"]


async def test_quote_by_refidx_is_accepted_only_for_known_indexes_of_this_chat(env: Env) -> None:
    ev = env.control.group_at_message("quote me", group_openid="G1")
    ref = {"message_id": _ref_idx(ev.d)}
    ok = await env.post("/v2/groups/G1/messages", {"content": "q", "msg_id": ev.d["id"], "message_reference": ref})
    assert ok.status_code == 200, ok.text
    own = ok.json()["ext_info"]["ref_idx"]  # the bot's own message is quotable too
    body = {"content": "q2", "msg_id": ev.d["id"], "msg_seq": 2, "message_reference": {"message_id": own}}
    assert (await env.post("/v2/groups/G1/messages", body)).status_code == 200
    unknown = {"content": "q", "msg_id": ev.d["id"], "msg_seq": 3, "message_reference": {"message_id": "REFIDX_x"}}
    assert_error(await env.post("/v2/groups/G1/messages", unknown), 400, 12002)
    c2c = env.control.c2c_message("x", openid="U1")
    other_chat = {"content": "q", "msg_id": c2c.d["id"], "message_reference": ref}
    assert_error(await env.post("/v2/users/U1/messages", other_chat), 400, 12002)


# 2. keyboards ride only on markdown (protocol.md §0; code 50037 is the emulator's pick) --------------


async def test_keyboard_off_markdown_is_rejected_with_a_log_line(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    ev = env.control.group_at_message("x", group_openid="G1")
    keyboard = {"id": "tmpl-1"}
    caplog.set_level(logging.INFO, logger="framework.emulator")
    r = await env.post(
        "/v2/groups/G1/messages", {"msg_type": 0, "content": "t", "keyboard": keyboard, "msg_id": ev.d["id"]}
    )
    assert_error(r, 400, 50037)
    assert any("keyboard is only allowed" in rec.getMessage() for rec in caplog.records)
    md = {"msg_type": 2, "markdown": {"content": "**hi**"}, "keyboard": keyboard, "msg_id": ev.d["id"]}
    assert (await env.post("/v2/groups/G1/messages", md)).status_code == 200
    guild = await env.post("/channels/2001/messages", {"content": "t", "keyboard": keyboard})
    assert_error(guild, 400, 50037)
    guild_md = await env.post("/channels/2001/messages", {"markdown": {"content": "m"}, "keyboard": keyboard})
    assert guild_md.status_code == 200, guild_md.text


async def test_markdown_raw_and_template_together_is_rejected(env: Env) -> None:
    ev = env.control.c2c_message("x", openid="U1")
    both = {"content": "raw", "custom_template_id": "t1", "params": [{"key": "k", "values": ["v"]}]}
    r = await env.post("/v2/users/U1/messages", {"msg_type": 2, "markdown": both, "msg_id": ev.d["id"]})
    assert_error(r, 400, 50037)
    styled = {"content": "raw", "style": {"main_font_size": "small", "layout": "hide_avatar_and_center"}}
    r = await env.post("/v2/users/U1/messages", {"msg_type": 2, "markdown": styled, "msg_id": ev.d["id"]})
    assert r.status_code == 200, r.text


# 3. audit flow (protocol.md §0 "Audit", §3.1 MESSAGE_AUDIT_*) -------------------------------------------


@pytest.mark.parametrize(
    ("mode", "status", "event"), [("pass", 202, "MESSAGE_AUDIT_PASS"), ("reject", 200, "MESSAGE_AUDIT_REJECT")]
)
async def test_audit_mode_answers_304023_then_pushes_the_result(env: Env, mode: str, status: int, event: str) -> None:
    seen: list[Any] = []
    env.world.add_listener(seen.append)
    r = await env.http.post("/_emulator/audit", json={"mode": mode, "delay": 30, "status": status})
    assert r.json() == {"mode": mode, "delay": 30.0, "status": status}
    sent = await env.post("/channels/2001/messages", {"content": "proactive"})
    assert sent.status_code == status
    body = sent.json()
    audit_id = body["data"]["message_audit"]["audit_id"]
    assert body["code"] == 304023 and audit_id
    passive = env.control.channel_message("2001", "hi", mention_bot=True)[0]
    assert (await env.post("/channels/2001/messages", {"content": "r", "msg_id": passive.d["id"]})).status_code == 200
    assert env.world.fire_due_timers() == 0 and not [e for e in seen if e.type.startswith("MESSAGE_AUDIT")]
    env.clock.advance(31)
    assert env.world.fire_due_timers() == 1
    (audit,) = [e for e in seen if e.type.startswith("MESSAGE_AUDIT")]
    assert audit.type == event and audit.d["audit_id"] == audit_id and audit.d["guild_id"] == "1001"
    contents = [m.content for m in env.control.sent("guild", "2001")]
    assert contents == (["r", "proactive"] if mode == "pass" else ["r"])
    if mode == "pass":
        assert audit.d["message_id"] in env.world.channel_messages["2001"]
    listing = (await env.http.get("/_emulator/audit")).json()
    assert listing["audits"][0]["state"] == ("passed" if mode == "pass" else "rejected")
    assert_error(await env.http.post("/_emulator/audit", json={"mode": "maybe"}), 400, 12002)


# 4. roles: flat {name, color, hoist} only (protocol.md §0) ---------------------------------------------


async def test_role_bodies_must_be_flat(env: Env) -> None:
    wrapped = {"guild_id": "1001", "filter": {"name": 1}, "info": {"name": "vip"}}
    assert_error(await env.post("/guilds/1001/roles", wrapped), 400, 12002)
    role = (await env.post("/guilds/1001/roles", {"name": "vip", "color": 4278245297, "hoist": 1})).json()
    assert role["role"]["name"] == "vip" and role["role"]["hoist"] == 1
    assert_error(await env.patch(f"/guilds/1001/roles/{role['role_id']}", {"info": {"name": "x"}}), 400, 12002)
    assert_error(await env.patch(f"/guilds/1001/roles/{role['role_id']}", {"hoist": 3}), 400, 12002)
    botpy_style = {"name": "vvip", "color": None, "hoist": None}  # botpy passes its kwargs through
    assert (await env.patch(f"/guilds/1001/roles/{role['role_id']}", botpy_style)).json()["role"]["name"] == "vvip"


# 5. C2C passive replies: 4 per message (protocol.md §0, §5.3) --------------------------------------------


async def test_c2c_reply_cap_defaults_to_four(env: Env) -> None:
    ev = env.control.c2c_message("x", openid="U1")
    codes = [
        (await env.post("/v2/users/U1/messages", {"content": "r", "msg_id": ev.d["id"], "msg_seq": s})).status_code
        for s in range(1, 6)
    ]
    assert codes == [200, 200, 200, 200, 400]


# 6. formerly-501 endpoints, modelled minimally (protocol.md §9.2, §9.3, §5.2) -------------------------------


async def test_announces_schedules_and_voice(env: Env) -> None:
    msg = (await env.post("/channels/2001/messages", {"content": "news"})).json()
    ann = (await env.post("/channels/2001/announces", {"message_id": msg["id"]})).json()
    assert ann["message_id"] == msg["id"] and ann["guild_id"] == "1001"
    assert_error(await env.post("/channels/2001/announces", {}), 400, 12002)
    assert_error(await env.post("/channels/2001/announces", {"message_id": "nope"}), 404, 404)
    assert (await env.delete(f"/channels/2001/announces/{msg['id']}")).status_code == 200
    guild_ann = await env.post(
        "/guilds/1001/announces", {"recommend_channels": [{"channel_id": "2001", "introduce": "hi"}]}
    )
    assert guild_ann.status_code == 200, guild_ann.text
    assert_error(await env.post("/guilds/1001/announces", {"announces_type": 7, "message_id": msg["id"]}), 400, 12002)
    sched = {"name": "meet", "start_timestamp": "1700000000000", "end_timestamp": "1700003600000", "remind_type": "0"}
    created = (await env.post("/channels/2001/schedules", {"schedule": sched})).json()
    assert created["name"] == "meet" and created["id"]
    assert [s["id"] for s in (await env.get("/channels/2001/schedules")).json()] == [created["id"]]
    bad = {**sched, "start_timestamp": 1700000000000}
    assert_error(await env.post("/channels/2001/schedules", {"schedule": bad}), 400, 12002)
    assert_error(await env.post("/channels/2001/schedules", {"name": "flat"}), 400, 12002)
    assert (await env.delete(f"/channels/2001/schedules/{created['id']}")).status_code == 204
    assert_error(
        await env.post("/channels/2001/audio", {"status": 0, "audio_url": "http://a"}), 400, 12002
    )  # not voice
    env.world.add_channel("1001", "2002", "voice", type=2)
    assert (await env.post("/channels/2002/audio", {"status": 0, "audio_url": "http://a/x.mp3"})).status_code == 200
    assert_error(await env.post("/channels/2002/audio", {"status": "0"}), 400, 12002)
    assert (await env.put("/channels/2002/mic")).status_code == 200
    assert (await env.get("/channels/2002/voice/members")).json() == []
    assert (await env.get("/channels/2001/online_nums")).json() == {"online_nums": 1}


async def test_demand_threads_guides_and_edit(env: Env) -> None:
    demand = {"channel_id": "2001", "api_identify": {"path": "/guilds/{guild_id}/members/{user_id}", "method": "get"}}
    answer = (await env.post("/guilds/1001/api_permission/demand", demand)).json()
    assert answer["api_identify"] == {"path": "/guilds/{guild_id}/members/{user_id}", "method": "GET"}
    assert_error(await env.post("/guilds/1001/api_permission/demand", {"channel_id": "2001"}), 400, 12002)
    env.world.add_channel("1001", "2003", "forum", type=10007)
    task = (await env.put("/channels/2003/threads", {"title": "t", "content": "c", "format": 1})).json()
    assert task["task_id"]
    threads = (await env.get("/channels/2003/threads")).json()["threads"]
    tid = threads[0]["thread_info"]["thread_id"]
    assert (await env.get(f"/channels/2003/threads/{tid}")).json()["thread"]["thread_info"]["title"] == "t"
    assert_error(await env.put("/channels/2003/threads", {"title": "t"}), 400, 12002)
    assert_error(await env.put("/channels/2001/threads", {"title": "t", "content": "c"}), 400, 12002)
    assert (await env.post("/channels/2001/settingguide", {"content": "<@3001>"})).status_code == 200
    msg = (await env.post("/channels/2001/messages", {"markdown": {"content": "m"}})).json()
    edited = await env.patch(f"/channels/2001/messages/{msg['id']}", {"keyboard": {"id": "k"}})
    assert edited.json()["keyboard"] == {"id": "k"} and edited.json()["edited_timestamp"]
    assert_error(await env.patch(f"/channels/2001/messages/{msg['id']}", {}), 400, 50006)
    assert_error(await env.post("/gateway/webhook/sessions", {}), 501, 501)


async def test_chunked_upload_then_send(env: Env) -> None:
    size = (1 << 20) + 10
    prep = (
        await env.post("/v2/groups/G1/upload_prepare", {"file_type": 4, "file_name": "a.bin", "file_size": size})
    ).json()
    upload_id, parts = prep["upload_id"], prep["parts"]
    assert [p["index"] for p in parts] == [1, 2]
    early = await env.post("/v2/groups/G1/upload_part_finish", {"upload_id": upload_id, "part_index": 1})
    assert_error(early, 400, 12002)  # not PUT yet
    for part, length in zip(parts, (1 << 20, 10), strict=True):
        url = part["presigned_url"].removeprefix("http://emu.test:8080")
        assert (await env.http.put(url, content=b"x" * length)).status_code == 200
        ok = await env.post("/v2/groups/G1/upload_part_finish", {"upload_id": upload_id, "part_index": part["index"]})
        assert ok.status_code == 200, ok.text
    assert_error(await env.post("/v2/users/U1/files", {"upload_id": upload_id}), 400, 12002)  # other chat
    info = (await env.post("/v2/groups/G1/files", {"upload_id": upload_id})).json()
    ev = env.control.group_at_message("x", group_openid="G1")
    body = {"msg_type": 7, "content": " ", "media": {"file_info": info["file_info"]}, "msg_id": ev.d["id"]}
    assert (await env.post("/v2/groups/G1/messages", body)).status_code == 200
    too_big = {"file_type": 1, "file_name": "a.png", "file_size": 201 << 20}
    assert_error(await env.post("/v2/groups/G1/upload_prepare", too_big), 400, 850031)
    named = {"file_type": 4, "url": "https://x.test/a.pdf", "file_name": "a.pdf"}
    assert (await env.post("/v2/groups/G1/files", named)).status_code == 200
    assert_error(await env.post("/v2/groups/G1/files", {**named, "file_name": 5}), 400, 12002)


# 7. body and header validation -------------------------------------------------------------------


async def test_message_fields_are_type_checked_and_nulls_accepted(env: Env) -> None:
    ev = env.control.group_at_message("x", group_openid="G1")
    base = {"content": "t", "msg_id": ev.d["id"]}
    for bad in ({"msg_seq": "1"}, {"msg_type": 9}, {"markdown": "x"}, {"message_reference": {"message_id": 5}},
                {"msg_seq": -1}, {"event_id": 3}, {"is_wakeup": "yes"}):  # fmt: skip
        assert (await env.post("/v2/groups/G1/messages", {**base, **bad})).status_code == 400, bad
    botpy = {**base, "group_openid": "G1", "msg_type": 0, "embed": None, "ark": None, "message_reference": None,
             "media": None, "msg_seq": 1, "event_id": None, "markdown": None, "keyboard": None}  # fmt: skip
    assert (await env.post("/v2/groups/G1/messages", botpy)).status_code == 200
    assert_error(await env.post("/channels/2001/messages", {"content": "x", "file_image": "AAAA"}), 400, 12002)


async def test_app_headers_must_name_the_tokens_app(env: Env) -> None:
    r = await env.http.get("/users/@me", headers={**env.auth, "X-Union-Appid": "999"})
    assert_error(r, 401, 11251)
    assert (await env.http.get("/users/@me", headers={"Authorization": env.auth["Authorization"]})).status_code == 200
    click = env.control.button_click("group", "G1")
    iid = click.d["id"]
    r = await env.http.put(f"/interactions/{iid}", json={"code": 0}, headers={**env.auth, "X-Callback-AppID": "999"})
    assert_error(r, 401, 11251)
    ok = await env.http.put(
        f"/interactions/{iid}", json={"code": 0}, headers={**env.auth, "X-Callback-AppID": "102000001"}
    )
    assert ok.status_code == 200
