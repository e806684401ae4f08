"""Every JSON example of protocol.md §1–§6 (tests/fixtures/payloads) decodes with framework.models and
round-trips: decode → encode → decode gives equal objects, and no non-empty field is lost on the way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from framework.models import RawEvent, Resumed, decode_envelope, decode_event, encode_envelope
from framework.models.api import (
    DMS,
    ErrorBody,
    FileToUpload,
    Gateway,
    GatewayBot,
    InteractionAck,
    MediaInfo,
    MessageToCreate,
    SendResult,
    TokenRequest,
    TokenResponse,
)
from framework.models.events import FriendEvent, GroupMessage

PAYLOADS = Path(__file__).resolve().parent.parent / "fixtures" / "payloads"
FRAMES = sorted(p for p in PAYLOADS.glob("*.json") if p.name.startswith(("gateway_", "event_", "webhook_")))
REST_TYPES: dict[str, type[msgspec.Struct]] = {
    "rest_token_request": TokenRequest,
    "rest_token_answer": TokenResponse,
    "rest_token_error": TokenResponse,
    "rest_gateway": Gateway,
    "rest_gateway_bot": GatewayBot,
    "rest_send_result": SendResult,
    "rest_send_result_ext": SendResult,
    "rest_send_result_bd_int": SendResult,
    "rest_upload_request": FileToUpload,
    "rest_upload_answer": MediaInfo,
    "rest_media_message": MessageToCreate,
    "rest_markdown_message": MessageToCreate,
    "rest_ark_message": MessageToCreate,
    "rest_botpy_group_send": MessageToCreate,
    "rest_nonebot_group_send": MessageToCreate,
    "rest_dms_answer": DMS,
    "rest_interaction_ack": InteractionAck,
    "rest_error_live": ErrorBody,
    "rest_error_both": ErrorBody,
    "rest_error_bd": ErrorBody,
    "rest_error_legacy_disabled": ErrorBody,
    "rest_audit": ErrorBody,
}

_EMPTY: tuple[Any, ...] = ("", 0, False, None, [], {})


def _full(obj: Any) -> Any:
    """Builtins of ``obj`` with every field, defaults included (``to_builtins`` omits defaults)."""
    if isinstance(obj, msgspec.Struct):
        return {f.encode_name: _full(getattr(obj, f.name)) for f in msgspec.structs.fields(obj)}
    if isinstance(obj, list):
        return [_full(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _full(v) for k, v in obj.items()}
    return obj


def _lost(original: Any, again: Any, path: str = "") -> list[str]:
    """Paths whose non-empty value in ``original`` is missing or different in ``again``."""
    if isinstance(original, dict):
        if not isinstance(again, dict):
            return [path or "."]
        out: list[str] = []
        for key, value in original.items():
            if key not in again:
                if value not in _EMPTY:
                    out.append(f"{path}.{key}")
            else:
                out += _lost(value, again[key], f"{path}.{key}")
        return out
    if isinstance(original, list):
        if not isinstance(again, list) or len(again) != len(original):
            return [path]
        return [p for i, (a, b) in enumerate(zip(original, again, strict=True)) for p in _lost(a, b, f"{path}[{i}]")]
    return [] if original == again else [path]


def test_fixture_set_is_complete() -> None:
    names = {p.stem for p in PAYLOADS.glob("*.json")}
    assert set(REST_TYPES) <= names
    assert {"gateway_ready", "gateway_resumed", "event_friend_add_cap", "rest_token_answer"} <= names
    assert len(FRAMES) >= 20


@pytest.mark.parametrize("path", FRAMES, ids=[p.stem for p in FRAMES])
def test_frame_round_trip(path: Path) -> None:
    raw = path.read_bytes()
    original = json.loads(raw)
    env = decode_envelope(raw)
    assert env.op == original["op"]
    if env.op == 0 and env.t:
        event = decode_event(env.t, env.d)
        payload: Any = event.data if isinstance(event, RawEvent) else event
        again_env = decode_envelope(encode_envelope(env.op, payload, s=env.s, t=env.t, id=env.id))
        assert (again_env.s, again_env.t, again_env.id) == (env.s, env.t, env.id)
        again = decode_event(again_env.t or "", again_env.d)
        assert again == event
        if not isinstance(event, RawEvent | Resumed):
            lost = _lost(original["d"], _full(event))
            assert lost == [], f"fields lost by {type(event).__name__}: {lost}"
    else:
        d = msgspec.json.decode(env.d)
        assert d == original.get("d")
        again_env = decode_envelope(encode_envelope(env.op, env.d, s=env.s, t=env.t, id=env.id))
        assert msgspec.json.decode(again_env.d) == d


@pytest.mark.parametrize("name", sorted(REST_TYPES))
def test_rest_round_trip(name: str) -> None:
    cls = REST_TYPES[name]
    raw = (PAYLOADS / f"{name}.json").read_bytes()
    original = json.loads(raw)
    obj = msgspec.json.decode(raw, type=cls)
    encoded = msgspec.json.encode(obj)
    assert msgspec.json.decode(encoded, type=cls) == obj
    assert b"null" not in encoded
    lost = _lost(original, _full(obj))
    if name == "rest_botpy_group_send":
        lost.remove(".group_openid")  # botpy repeats the path parameter in the body; not a request field
    assert lost == []


def test_resumed_with_empty_string_d() -> None:
    env = decode_envelope((PAYLOADS / "gateway_resumed.json").read_bytes())
    assert bytes(env.d) == b'""'
    assert decode_event("RESUMED", env.d) == Resumed()


def test_friend_add_int_timestamp() -> None:
    env = decode_envelope((PAYLOADS / "event_friend_add_cap.json").read_bytes())
    event = decode_event("FRIEND_ADD", env.d)
    assert isinstance(event, FriendEvent)
    assert event.timestamp == 1741879599
    assert event.author is not None and event.author.union_openid == "7D296480D464EC5C16714E74A43E5BC7"


def test_group_at_message_fields() -> None:
    env = decode_envelope((PAYLOADS / "event_group_at_message_create_cap.json").read_bytes())
    assert env.id is not None and env.id.startswith("GROUP_AT_MESSAGE_CREATE:")
    event = decode_event(env.t or "", env.d)
    assert isinstance(event, GroupMessage)
    assert event.content == " 123"
    assert event.author.member_openid == "7D296480D464EC5C16714E74A43E5BC7"
    assert event.message_scene is not None and event.message_scene.source == "default"


def test_unknown_event_type_is_raw() -> None:
    env = decode_envelope((PAYLOADS / "event_unknown_type.json").read_bytes())
    event = decode_event(env.t or "", env.d)
    assert isinstance(event, RawEvent)
    assert event.type == "SOMETHING_NEW_2027"
    assert event.json() == {"anything": [1, 2, 3], "nested": {"k": "v"}}


def test_unknown_fields_are_ignored() -> None:
    event = decode_event("FRIEND_ADD", b'{"openid": "O", "timestamp": 1, "brand_new": {"x": [1]}}')
    assert event == FriendEvent(openid="O", timestamp=1)
    answer = msgspec.json.decode(b'{"id": "R", "timestamp": "t", "later_field": 5}', type=SendResult)
    assert answer == SendResult(id="R", timestamp="t")


def test_token_answer_expires_in_forms() -> None:
    as_string = msgspec.json.decode((PAYLOADS / "rest_token_answer.json").read_bytes(), type=TokenResponse)
    assert as_string.expires_in == "7200"
    as_int = msgspec.json.decode(b'{"access_token": "A", "expires_in": 7200}', type=TokenResponse)
    assert as_int.expires_in == 7200
    assert "ACCESS_TOKEN" not in repr(as_string)


def test_error_body_codes() -> None:
    live = msgspec.json.decode((PAYLOADS / "rest_error_live.json").read_bytes(), type=ErrorBody)
    assert live.effective_code == 40034005
    bd = msgspec.json.decode((PAYLOADS / "rest_error_bd.json").read_bytes(), type=ErrorBody)
    assert bd.effective_code == 11263
    audit = msgspec.json.decode((PAYLOADS / "rest_audit.json").read_bytes(), type=ErrorBody)
    assert audit.audit_id == "ab9bd72f-19e8-4394-b09e-66caca0d64e4"
    assert live.audit_id == ""


def test_token_request_repr_hides_secret() -> None:
    req = msgspec.json.decode((PAYLOADS / "rest_token_request.json").read_bytes(), type=TokenRequest)
    assert "CLIENTSECRET" not in repr(req)


def test_loss_detector_detects_loss() -> None:
    assert _lost({"a": 1, "b": "", "c": {"d": [1, {"e": "x"}]}}, {"c": {"d": [1, {}]}}) == [".a", ".c.d[1].e"]
    assert _lost({"a": 1}, _full(SendResult(id="x"))) == [".a"]
