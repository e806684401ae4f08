"""Random requests against every REST and control route: always a JSON answer, never a 500 or a traceback."""

from __future__ import annotations

import re
from typing import Any

import anyio
import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.clock import VirtualClock
from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET, EmulatorConfig
from framework.emulator.control import Control, register_control_routes
from framework.emulator.http import HttpRequest, Router
from framework.emulator.rest import build_rest
from framework.emulator.tokens import TokenService
from framework.emulator.world import World

_config = EmulatorConfig()
_clock = VirtualClock()
_world = World(_config, _clock)
_tokens = TokenService(_config, _clock)
_router = Router()
build_rest(_world, _tokens, _config, _router)
_control = Control(_world, _tokens)
register_control_routes(_control, _router)
_world.add_guild("1001")
_world.add_channel("1001", "2001")
_world.add_member("1001", "3001")
_world.add_group("G1")
_world.add_c2c_user("U1")


def _token() -> str:
    """A valid token (a fuzzed expire_tokens fault may have revoked the last one)."""
    return _tokens.issue(DEFAULT_APP_ID, DEFAULT_APP_SECRET)["access_token"]


_ROUTES = _router.routes()

_ids = st.sampled_from(["1001", "2001", "3001", "G1", "U1", "1", "x", "%40", "all", "0" * 30])
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)
_keys = st.sampled_from(
    ["content", "msg_id", "event_id", "msg_seq", "msg_type", "media", "markdown", "keyboard", "file_type", "url",
     "file_data", "srv_send_msg", "name", "type", "code", "recipient_id", "source_guild_id", "channel_id", "guild_id",
     "user_id", "openid", "group_openid", "scene", "target_id", "status", "count", "info", "add", "remove", "d",
     "mute_seconds", "user_ids", "appId", "clientSecret", "receive", "message_reference", "attachments"]
)  # fmt: skip
_bodies = st.one_of(
    st.dictionaries(_keys, _json, max_size=6).map(msgspec.json.encode),
    _json.map(msgspec.json.encode),
    st.binary(max_size=40),
)


@st.composite
def _requests(draw: st.DrawFn) -> HttpRequest:
    method, pattern = draw(st.sampled_from(_ROUTES))
    path = re.sub(r"\{[a-z_]+\}", lambda _: draw(_ids), pattern)
    method = draw(st.sampled_from([method, method, "GET", "POST", "PUT", "DELETE", "PATCH"]))
    auth = draw(st.sampled_from(["good", "good", "", "Bot x.y", "QQBot bad"]))
    headers = {"authorization": auth} if auth else {}
    query = draw(
        st.dictionaries(st.sampled_from(["limit", "after", "before", "method", "path_prefix"]), _ids, max_size=2)
    )
    return HttpRequest(method, path, query, headers, draw(_bodies))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_requests())
def test_every_route_answers_with_platform_json(req: HttpRequest) -> None:
    if req.headers.get("authorization") == "good":
        req.headers["authorization"] = "QQBot " + _token()
    resp = anyio.run(_router.dispatch, req)
    body: Any = msgspec.json.decode(resp.body) if resp.body else None
    # 500 only for the legacy scheme (as the platform does); never an internal error
    assert resp.status != 500 or body["code"] == 11245, (req.method, req.path, resp.body)
    assert resp.header("content-type") == "application/json"
    assert resp.header("x-tps-trace-id")
    if resp.status >= 400:
        assert set(body) >= {"message", "code", "err_code", "trace_id"}
        assert "Traceback" not in body["message"]
    _control.clear_faults()  # a fuzzed fault must not leak into the next example
