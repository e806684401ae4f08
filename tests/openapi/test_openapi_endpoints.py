"""Every endpoint method: the request it makes (verb, path, query, body) and the type it answers."""

from __future__ import annotations

import base64
import inspect
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import pytest
from openapi_support import APP_ID, TOKEN, Script

from framework.models.api import (
    DMS,
    Announces,
    APIPermission,
    APIPermissionDemand,
    AudioControl,
    ChannelPermissions,
    ChannelToCreate,
    ChannelToPatch,
    CreatedRole,
    Gateway,
    GatewayBot,
    GuildRoles,
    Markdown,
    Media,
    MediaInfo,
    MessageSetting,
    MessageToCreate,
    PinsMessage,
    ReactionUsers,
    RecommendChannel,
    RoleMembers,
    Schedule,
    SendResult,
    ThreadCreated,
    ThreadDetail,
    ThreadList,
    UpdatedRole,
    WebhookSession,
)
from framework.models.common import Member, User
from framework.models.events import Channel, Guild, Message
from framework.runtime.openapi import OpenAPI

pytestmark = pytest.mark.anyio

MSG = MessageToCreate(content="hi", msg_type=0, msg_id="M1", msg_seq=2)
MSG_JSON = {"content": "hi", "msg_type": 0, "msg_id": "M1", "msg_seq": 2}
SCHED = Schedule(name="meet", start_timestamp="1700000000000", end_timestamp="1700003600000", remind_type="0")
SCHED_JSON = {"name": "meet", "start_timestamp": "1700000000000", "end_timestamp": "1700003600000", "remind_type": "0"}


@dataclass
class Case:
    method: str
    args: tuple[Any, ...]
    verb: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    params: dict[str, str] = field(default_factory=dict)
    reply: Any = field(default_factory=dict)
    returns: Any = None


CASES = [
    # gateway and user
    Case("get_gateway", (), "GET", "/gateway", reply={"url": "wss://gw"}, returns=Gateway),
    Case("get_gateway_bot", (), "GET", "/gateway/bot", reply={"url": "wss://gw", "shards": 2}, returns=GatewayBot),
    Case("me", (), "GET", "/users/@me", reply={"id": "1", "username": "bot", "bot": True}, returns=User),
    Case(
        "get_my_guilds",
        (),
        "GET",
        "/users/@me/guilds",
        kwargs={"after": "5", "limit": 10},
        params={"after": "5", "limit": "10"},
        reply=[{"id": "g"}],
        returns=list,
    ),
    Case(
        "create_webhook_session",
        (),
        "POST",
        "/gateway/webhook/sessions",
        kwargs={"intents": 513, "shard": (0, 1), "callback_url": "https://cb"},
        body={"intents": 513, "shards": [0, 1], "callback_url": "https://cb"},
        returns=WebhookSession,
    ),
    Case(
        "check_webhook_sessions",
        (),
        "PATCH",
        "/gateway/webhook/sessions",
        params={"action": "check"},
        reply=[],
        returns=list,
    ),
    Case("get_webhook_sessions", (), "GET", "/gateway/webhook/sessions", reply=[], returns=list),
    Case("remove_webhook_session", ("s1",), "DELETE", "/gateway/webhook/sessions/s1"),
    # guilds
    Case("get_guild", ("G1",), "GET", "/guilds/G1", reply={"id": "G1", "name": "n"}, returns=Guild),
    Case("get_message_setting", ("G1",), "GET", "/guilds/G1/message/setting", returns=MessageSetting),
    Case(
        "get_api_permissions",
        ("G1",),
        "GET",
        "/guilds/G1/api_permission",
        reply={"apis": [{"path": "/x", "method": "GET", "auth_status": 1}]},
        returns=list,
    ),
    Case(
        "demand_api_permission",
        ("G1",),
        "POST",
        "/guilds/G1/api_permission/demand",
        kwargs={"channel_id": "C1", "path": "/guilds/{guild_id}/members/{user_id}", "method": "delete", "desc": "d"},
        body={
            "channel_id": "C1",
            "api_identify": {"path": "/guilds/{guild_id}/members/{user_id}", "method": "DELETE"},
            "desc": "d",
        },
        returns=APIPermissionDemand,
    ),
    Case(
        "create_guild_announce",
        ("G1",),
        "POST",
        "/guilds/G1/announces",
        kwargs={"channel_id": "C1", "message_id": "M1", "recommend_channels": [RecommendChannel(channel_id="C2")]},
        body={
            "channel_id": "C1",
            "message_id": "M1",
            "announces_type": 0,
            "recommend_channels": [{"channel_id": "C2"}],
        },
        returns=Announces,
    ),
    Case("delete_guild_announce", ("G1", "M1"), "DELETE", "/guilds/G1/announces/M1"),
    Case("clean_guild_announces", ("G1",), "DELETE", "/guilds/G1/announces/all"),
    Case("mute_guild", ("G1",), "PATCH", "/guilds/G1/mute", kwargs={"mute_seconds": 60}, body={"mute_seconds": "60"}),
    Case(
        "mute_members",
        ("G1", ["u1", "u2"]),
        "PATCH",
        "/guilds/G1/mute",
        kwargs={"mute_end_timestamp": 1700000000},
        body={"mute_end_timestamp": "1700000000", "user_ids": ["u1", "u2"]},
        reply={"user_ids": ["u1"]},
        returns=list,
    ),
    Case(
        "mute_member",
        ("G1", "u1"),
        "PATCH",
        "/guilds/G1/members/u1/mute",
        kwargs={"mute_seconds": "120"},
        body={"mute_seconds": "120"},
    ),
    # members and roles
    Case("get_member", ("G1", "u1"), "GET", "/guilds/G1/members/u1", reply={"nick": "n"}, returns=Member),
    Case(
        "get_members",
        ("G1",),
        "GET",
        "/guilds/G1/members",
        kwargs={"after": "9", "limit": 2},
        params={"after": "9", "limit": "2"},
        reply=[],
        returns=list,
    ),
    Case(
        "get_role_members",
        ("G1", "R1"),
        "GET",
        "/guilds/G1/roles/R1/members",
        kwargs={"start_index": "3", "limit": 5},
        params={"start_index": "3", "limit": "5"},
        reply={"data": [], "next": "8"},
        returns=RoleMembers,
    ),
    Case(
        "delete_member",
        ("G1", "u1"),
        "DELETE",
        "/guilds/G1/members/u1",
        kwargs={"add_blacklist": True, "delete_history_msg_days": 3},
        body={"add_blacklist": True, "delete_history_msg_days": 3},
    ),
    Case("get_roles", ("G1",), "GET", "/guilds/G1/roles", reply={"guild_id": "G1", "roles": []}, returns=GuildRoles),
    Case(
        "create_role",
        ("G1",),
        "POST",
        "/guilds/G1/roles",
        kwargs={"name": "mods", "color": 4278245297},
        body={"name": "mods", "color": 4278245297},
        reply={"role_id": "R9"},
        returns=CreatedRole,
    ),
    Case(
        "patch_role",
        ("G1", "R1"),
        "PATCH",
        "/guilds/G1/roles/R1",
        kwargs={"hoist": True},
        body={"hoist": 1},
        returns=UpdatedRole,
    ),
    Case("delete_role", ("G1", "R1"), "DELETE", "/guilds/G1/roles/R1"),
    Case(
        "add_member_role",
        ("G1", "u1", "5"),
        "PUT",
        "/guilds/G1/members/u1/roles/5",
        kwargs={"channel_id": "C1"},
        body={"channel": {"id": "C1"}},
    ),
    Case("remove_member_role", ("G1", "u1", "R1"), "DELETE", "/guilds/G1/members/u1/roles/R1"),
    # channels
    Case("get_channel", ("C1",), "GET", "/channels/C1", reply={"id": "C1"}, returns=Channel),
    Case("get_channels", ("G1",), "GET", "/guilds/G1/channels", reply=[{"id": "C1"}], returns=list),
    Case(
        "create_channel",
        ("G1", ChannelToCreate(name="c", type=0, sub_type=0)),
        "POST",
        "/guilds/G1/channels",
        body={"name": "c", "type": 0, "sub_type": 0},
        returns=Channel,
    ),
    Case(
        "create_private_channel",
        ("G1", ChannelToCreate(name="p", type=0), ["u1"]),
        "POST",
        "/guilds/G1/channels",
        body={"name": "p", "type": 0, "private_type": 2, "private_user_ids": ["u1"]},
        returns=Channel,
    ),
    Case(
        "patch_channel",
        ("C1", ChannelToPatch(name="new")),
        "PATCH",
        "/channels/C1",
        body={"name": "new"},
        returns=Channel,
    ),
    Case("delete_channel", ("C1",), "DELETE", "/channels/C1"),
    Case("get_voice_channel_members", ("C1",), "GET", "/channels/C1/voice/members", reply=[], returns=list),
    Case("get_online_nums", ("C1",), "GET", "/channels/C1/online_nums", reply={"online_nums": 3}, returns=int),
    Case(
        "get_channel_permissions",
        ("C1", "u1"),
        "GET",
        "/channels/C1/members/u1/permissions",
        reply={"permissions": "7"},
        returns=ChannelPermissions,
    ),
    Case(
        "put_channel_permissions",
        ("C1", "u1"),
        "PUT",
        "/channels/C1/members/u1/permissions",
        kwargs={"add": 1, "remove": "2"},
        body={"add": "1", "remove": "2"},
    ),
    Case(
        "get_channel_role_permissions",
        ("C1", "R1"),
        "GET",
        "/channels/C1/roles/R1/permissions",
        returns=ChannelPermissions,
    ),
    Case(
        "put_channel_role_permissions",
        ("C1", "R1"),
        "PUT",
        "/channels/C1/roles/R1/permissions",
        kwargs={"add": 4},
        body={"add": "4", "remove": "0"},
    ),
    Case(
        "post_audio",
        ("C1", AudioControl(audio_url="u", text="t", status=1)),
        "POST",
        "/channels/C1/audio",
        body={"audio_url": "u", "text": "t", "status": 1},
        returns=AudioControl,
    ),
    Case("put_mic", ("C1",), "PUT", "/channels/C1/mic"),
    Case("delete_mic", ("C1",), "DELETE", "/channels/C1/mic"),
    Case(
        "get_schedules",
        ("C1",),
        "GET",
        "/channels/C1/schedules",
        kwargs={"since": 1700000000000},
        params={"since": "1700000000000"},
        reply=[],
        returns=list,
    ),
    Case("get_schedule", ("C1", "S1"), "GET", "/channels/C1/schedules/S1", reply={"id": "S1"}, returns=Schedule),
    Case(
        "create_schedule",
        ("C1", SCHED),
        "POST",
        "/channels/C1/schedules",
        body={"schedule": SCHED_JSON},
        returns=Schedule,
    ),
    Case(
        "patch_schedule",
        ("C1", "S1", SCHED),
        "PATCH",
        "/channels/C1/schedules/S1",
        body={"schedule": SCHED_JSON},
        returns=Schedule,
    ),
    Case("delete_schedule", ("C1", "S1"), "DELETE", "/channels/C1/schedules/S1"),
    # guild messages
    Case(
        "post_channel_message",
        ("C1", MSG),
        "POST",
        "/channels/C1/messages",
        body=MSG_JSON,
        reply={"id": "m", "channel_id": "C1"},
        returns=Message,
    ),
    Case(
        "patch_channel_message",
        ("C1", "M1", MessageToCreate(markdown=Markdown(content="**x**"))),
        "PATCH",
        "/channels/C1/messages/M1",
        body={"markdown": {"content": "**x**"}},
        returns=Message,
    ),
    Case(
        "get_message",
        ("C1", "M1"),
        "GET",
        "/channels/C1/messages/M1",
        reply={"message": {"id": "M1", "content": "wrapped"}},
        returns=Message,
    ),
    Case(
        "get_messages",
        ("C1",),
        "GET",
        "/channels/C1/messages",
        kwargs={"limit": 20, "before": "M0"},
        params={"limit": "20", "before": "M0"},
        reply=[],
        returns=list,
    ),
    Case(
        "recall_channel_message",
        ("C1", "M1"),
        "DELETE",
        "/channels/C1/messages/M1",
        kwargs={"hidetip": True},
        params={"hidetip": "true"},
    ),
    Case(
        "post_setting_guide",
        ("C1", "<@u1> please"),
        "POST",
        "/channels/C1/settingguide",
        body={"content": "<@u1> please"},
    ),
    Case(
        "add_pin",
        ("C1", "M1"),
        "PUT",
        "/channels/C1/pins/M1",
        reply={"message_ids": ["M1"]},
        returns=PinsMessage,
    ),
    Case("delete_pin", ("C1", "M1"), "DELETE", "/channels/C1/pins/M1"),
    Case("clean_pins", ("C1",), "DELETE", "/channels/C1/pins/all"),
    Case("get_pins", ("C1",), "GET", "/channels/C1/pins", returns=PinsMessage),
    Case("add_reaction", ("C1", "M1", 1, "4"), "PUT", "/channels/C1/messages/M1/reactions/1/4"),
    Case("delete_reaction", ("C1", "M1", 2, "🙂"), "DELETE", "/channels/C1/messages/M1/reactions/2/%F0%9F%99%82"),
    Case(
        "get_reaction_users",
        ("C1", "M1", 1, "4"),
        "GET",
        "/channels/C1/messages/M1/reactions/1/4",
        kwargs={"cookie": "ck", "limit": 50},
        params={"cookie": "ck", "limit": "50"},
        reply={"users": [{"id": "u"}], "cookie": "n", "is_end": True},
        returns=ReactionUsers,
    ),
    Case(
        "create_channel_announce",
        ("C1", "M1"),
        "POST",
        "/channels/C1/announces",
        body={"message_id": "M1"},
        returns=Announces,
    ),
    Case("delete_channel_announce", ("C1", "M1"), "DELETE", "/channels/C1/announces/M1"),
    Case("clean_channel_announces", ("C1",), "DELETE", "/channels/C1/announces/all"),
    # direct messages
    Case(
        "create_dms",
        ("u1", "G1"),
        "POST",
        "/users/@me/dms",
        body={"recipient_id": "u1", "source_guild_id": "G1"},
        reply={"guild_id": "D1", "channel_id": "DC", "create_time": "2021-01-01T00:00:00+08:00"},
        returns=DMS,
    ),
    Case("post_dms_message", ("D1", MSG), "POST", "/dms/D1/messages", body=MSG_JSON, returns=Message),
    Case(
        "recall_dms_message",
        ("D1", "M1"),
        "DELETE",
        "/dms/D1/messages/M1",
        params={"hidetip": "false"},
    ),
    Case(
        "post_dms_setting_guide",
        ("D1", "G7"),
        "POST",
        "/dms/D1/settingguide",
        body={"setting_guide": {"guild_id": "G7"}},
    ),
    # group and c2c
    Case(
        "post_group_message",
        ("GRP", MSG),
        "POST",
        "/v2/groups/GRP/messages",
        body=MSG_JSON,
        reply={"id": "x", "timestamp": "2025-03-13T23:30:49+08:00"},
        returns=SendResult,
    ),
    Case(
        "post_c2c_message",
        ("USR", MessageToCreate(msg_type=7, content=" ", media=Media(file_info="FI"), event_id="E1")),
        "POST",
        "/v2/users/USR/messages",
        body={"msg_type": 7, "content": " ", "media": {"file_info": "FI"}, "event_id": "E1"},
        returns=SendResult,
    ),
    Case(
        "upload_group_file",
        ("GRP",),
        "POST",
        "/v2/groups/GRP/files",
        kwargs={"file_type": 1, "url": "https://img/x.png"},
        body={"file_type": 1, "url": "https://img/x.png", "srv_send_msg": False},
        reply={"file_uuid": "u", "file_info": "FI", "ttl": 300},
        returns=MediaInfo,
    ),
    Case(
        "upload_c2c_file",
        ("USR",),
        "POST",
        "/v2/users/USR/files",
        kwargs={"file_type": 1, "file_data": b"\x89PNG", "srv_send_msg": True},
        body={"file_type": 1, "file_data": base64.b64encode(b"\x89PNG").decode(), "srv_send_msg": True},
        returns=MediaInfo,
    ),
    Case("recall_group_message", ("GRP", "M1"), "DELETE", "/v2/groups/GRP/messages/M1"),
    Case("recall_c2c_message", ("USR", "M1"), "DELETE", "/v2/users/USR/messages/M1"),
    Case("put_interaction", ("I-1",), "PUT", "/interactions/I-1", kwargs={"code": 2}, body={"code": 2}),
    # forum
    Case(
        "get_threads", ("C1",), "GET", "/channels/C1/threads", reply={"threads": [], "is_finish": 1}, returns=ThreadList
    ),
    Case("get_thread", ("C1", "T1"), "GET", "/channels/C1/threads/T1", returns=ThreadDetail),
    Case(
        "put_thread",
        ("C1",),
        "PUT",
        "/channels/C1/threads",
        kwargs={"title": "t", "content": "c", "format": 3},
        body={"title": "t", "content": "c", "format": 3},
        reply={"task_id": "k"},
        returns=ThreadCreated,
    ),
    Case("delete_thread", ("C1", "T1"), "DELETE", "/channels/C1/threads/T1"),
]

_NOT_ENDPOINTS = {"request", "aclose", "upload_chunked"}  # upload_chunked: a multi-call flow, test_openapi_fidelity.py


def test_every_endpoint_method_has_a_case() -> None:
    public = {
        name
        for name, member in inspect.getmembers(OpenAPI, inspect.iscoroutinefunction)
        if not name.startswith("_") and name not in _NOT_ENDPOINTS
    }
    covered = {case.method for case in CASES}
    assert public - covered == set(), "endpoint methods without a test case"
    assert covered - public == set(), "test cases for methods that do not exist"


@pytest.mark.parametrize("case", CASES, ids=[c.method for c in CASES])
async def test_endpoint_request(case: Case, api: OpenAPI, script: Script) -> None:
    script.default = lambda request: httpx.Response(200, json=case.reply)
    result = await getattr(api, case.method)(*case.args, **case.kwargs)

    assert len(script.requests) == 1
    request = script.last
    assert request.method == case.verb
    assert request.url.raw_path.split(b"?")[0].decode() == case.path
    assert dict(request.url.params) == case.params
    assert script.body() == case.body
    assert request.headers["Authorization"] == f"QQBot {TOKEN}"
    assert request.headers["X-Union-Appid"] == APP_ID
    assert request.headers["User-Agent"].startswith("qqbot-framework/")
    if case.body is not None:
        assert request.headers["Content-Type"] == "application/json"
        assert b"null" not in request.content
    if case.returns is None:
        assert result is None
    else:
        assert isinstance(result, case.returns)


async def test_interaction_ack_carries_callback_appid(api: OpenAPI, script: Script) -> None:
    await api.put_interaction("I-2")
    assert script.last.headers["X-Callback-AppID"] == APP_ID
    assert script.body() == {"code": 0}


async def test_get_message_unwrapped_and_plain(api: OpenAPI, script: Script) -> None:
    script.replies = [
        httpx.Response(200, json={"message": {"id": "M1", "content": "wrapped"}}),
        httpx.Response(200, json={"id": "M2", "content": "plain"}),
    ]
    first = await api.get_message("C1", "M1")
    second = await api.get_message("C1", "M2")
    assert (first.id, first.content) == ("M1", "wrapped")
    assert (second.id, second.content) == ("M2", "plain")


async def test_upload_requires_exactly_one_source(api: OpenAPI, script: Script) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        await api.upload_group_file("G", file_type=1)
    with pytest.raises(ValueError, match="exactly one"):
        await api.upload_group_file("G", file_type=1, url="u", file_data=b"x")
    assert script.requests == []


async def test_path_parameters_are_escaped(api: OpenAPI, script: Script) -> None:
    await api.get_guild("a/b?c")
    assert script.last.url.raw_path == b"/guilds/a%2Fb%3Fc"


async def test_request_escape_hatch(api: OpenAPI, script: Script) -> None:
    script.replies = [httpx.Response(200, json={"ok": [1, 2]}), httpx.Response(204)]
    assert await api.request("GET", "/custom/path", params={"q": "1", "skip": None}) == {"ok": [1, 2]}
    assert script.last.url.path == "/custom/path"
    assert dict(script.last.url.params) == {"q": "1"}
    assert await api.request("POST", "/other", json={"a": 1}) is None
    assert script.body() == {"a": 1}


async def test_answers_decode_into_typed_structs(api: OpenAPI, script: Script) -> None:
    script.replies = [
        httpx.Response(
            200,
            json={
                "url": "wss://api.sgroup.qq.com/websocket",
                "shards": 9,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1},
                "unknown_field": True,
            },
        ),
        httpx.Response(200, json={"apis": [{"path": "/guilds/{guild_id}/members/{user_id}", "method": "DELETE"}]}),
    ]
    bot = await api.get_gateway_bot()
    assert bot.shards == 9
    assert bot.session_start_limit.remaining == 999
    perms = await api.get_api_permissions("G")
    assert perms == [APIPermission(path="/guilds/{guild_id}/members/{user_id}", method="DELETE")]
    assert msgspec.json.encode(perms[0]) == b'{"path":"/guilds/{guild_id}/members/{user_id}","method":"DELETE"}'
