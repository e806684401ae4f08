"""Property-based fuzzing of the webhook endpoint, calling the ASGI app in-process.

Properties: the endpoint never answers 5xx (the app is running, so 503 is impossible too), never hits its
internal-error path, and never dispatches a body that is not validly signed with a fresh timestamp; a
validly signed, well-formed op 0 callback is always acknowledged and dispatched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from webhook_support import Recorder, call_asgi

from framework.clock import VirtualClock
from framework.protocol import signing
from framework.runtime.webhook import WebhookApp, WebhookBot

pytestmark = pytest.mark.anyio

SECRET = "fuzz-secret-0123456789"
APP_ID = "424242"
NOW = 1_750_000_000
LIMIT = 2048

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
odd_values = json_values | st.just("GROUP_AT_MESSAGE_CREATE") | st.just(0) | st.just(13)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A request body, and whether it is a well-formed op 0 dispatch within the size limit."""
    kinds = ["bytes", "json", "envelope", "valid", "valid", "validation", "validation_ok", "huge", "pretty"]
    kind = draw(st.sampled_from(kinds))
    if kind == "bytes":
        return draw(st.binary(max_size=300)), False
    if kind == "json":
        return json.dumps(draw(json_values)).encode(), False
    if kind == "envelope":
        keys = draw(st.sets(st.sampled_from(["op", "d", "t", "id", "s"])))
        doc = {key: draw(odd_values) for key in keys}
        return json.dumps(doc).encode(), False
    if kind == "validation":
        d = draw(st.dictionaries(st.sampled_from(["plain_token", "event_ts", "x"]), odd_values | st.text(max_size=300)))
        return json.dumps({"op": 13, "d": d}).encode(), False
    if kind == "validation_ok":
        token = draw(st.from_regex(r"[A-Za-z0-9]{1,40}", fullmatch=True))
        event_ts = draw(st.integers(0, 10**12))
        return json.dumps({"op": 13, "d": {"plain_token": token, "event_ts": str(event_ts)}}).encode(), False
    if kind == "huge":
        size = draw(st.integers(LIMIT + 1, 4 * LIMIT))
        return b'{"op":0,"t":"X","d":"' + b"a" * size + b'"}', False
    doc = {
        "op": 0,
        "id": draw(st.text(min_size=1, max_size=40)),
        "t": draw(st.text(min_size=1, max_size=40)),
        "d": draw(json_values),
    }
    raw = json.dumps(doc, indent=2 if kind == "pretty" else None, ensure_ascii=draw(st.booleans())).encode()
    return raw, len(raw) <= LIMIT


@dataclass
class Request:
    body: bytes
    well_formed: bool
    headers: list[tuple[bytes, bytes]]
    authentic: bool
    method: str
    chunk_size: int | None


@st.composite
def requests(draw: st.DrawFn) -> Request:
    body, well_formed = draw(bodies())
    ts_mode = draw(st.sampled_from(["fresh", "fresh", "stale", "future", "garbage", "missing", "bytes"]))
    ts: bytes | None = {
        "fresh": str(NOW + draw(st.integers(-300, 300))).encode(),
        "stale": str(NOW - draw(st.integers(301, 10**12))).encode(),
        "future": str(NOW + draw(st.integers(301, 10**12))).encode(),
        "garbage": draw(st.text(max_size=30)).encode(),
        "missing": None,
        "bytes": draw(st.binary(max_size=30)),
    }[ts_mode]
    sig_mode = draw(
        st.sampled_from(
            ["valid", "valid", "upper", "wrong_key", "random_hex", "bad_hex", "short", "missing", "tampered", "bytes"]
        )
    )
    message = (ts or b"") + body
    good = signing.sign(SECRET, message)
    sig: bytes | None = {
        "valid": good.encode(),
        "upper": good.upper().encode(),
        "wrong_key": signing.sign("not-the-secret", message).encode(),
        "random_hex": draw(st.binary(min_size=64, max_size=64)).hex().encode(),
        "bad_hex": draw(st.text(min_size=128, max_size=128)).encode(),
        "short": good[: draw(st.integers(0, 127))].encode(),
        "missing": None,
        "tampered": signing.sign(SECRET, message + b"x").encode(),
        "bytes": draw(st.binary(max_size=200)),
    }[sig_mode]
    app_mode = draw(st.sampled_from(["right", "right", "missing", "unknown", "bytes"]))
    app_id: bytes | None = {
        "right": APP_ID.encode(),
        "missing": None,
        "unknown": b"1",
        "bytes": draw(st.binary(max_size=20)),
    }[app_mode]
    length_mode = draw(st.sampled_from(["none", "right", "garbage", "huge"]))
    headers: list[tuple[bytes, bytes]] = []
    for name, value in (
        (b"x-bot-appid", app_id),
        (b"x-signature-ed25519", sig),
        (b"x-signature-timestamp", ts),
        (
            b"content-length",
            {"none": None, "right": str(len(body)).encode(), "garbage": b"12a", "huge": b"99999999999"}[length_mode],
        ),
    ):
        if value is not None:
            headers.append((name, value))
    if draw(st.integers(0, 9)) == 0:
        headers.append(draw(st.sampled_from(headers or [(b"x-signature-ed25519", b"00")])))
    method = draw(st.sampled_from(["POST"] * 8 + ["GET", "PUT"]))
    authentic = (
        ts_mode == "fresh"
        and sig_mode in ("valid", "upper")
        and app_mode in ("right", "missing")
        and length_mode in ("none", "right")
        and len({name for name, _ in headers}) == len(headers)
        and method == "POST"
    )
    chunk_size = draw(st.none() | st.integers(1, 512))
    return Request(body, well_formed, headers, authentic, method, chunk_size)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests())
async def test_endpoint_never_500s_and_never_dispatches_unverified_bodies(request: Request) -> None:
    sink = Recorder()
    app = WebhookApp({APP_ID: WebhookBot(SECRET, sink)}, clock=VirtualClock(start=NOW), max_body_size=LIMIT)
    async with app.running():
        status, payload = await call_asgi(
            app, request.body, request.headers, method=request.method, chunk_size=request.chunk_size
        )
    event(f"status {status}, dispatched {app.stats.dispatched}")
    assert status in (200, 400, 401, 404, 405, 413), (status, payload)
    assert app.stats.internal_errors == 0
    answer: Any = json.loads(payload)
    if app.stats.dispatched:
        assert request.authentic, "dispatched a body that was not validly signed"
        assert request.well_formed
        assert [event.source for event in sink.events] == ["webhook"]
        assert answer == {"op": 12, "d": 0}
    else:
        assert sink.events == []
    if request.authentic and request.well_formed:
        assert (status, answer) == (200, {"op": 12, "d": 0})
        assert app.stats.dispatched == 1
        assert len(sink.events) == 1
        assert sink.events[0].type == json.loads(request.body)["t"]
    if status == 200 and "signature" in answer:
        # an op 13 answer: it signs event_ts + plain_token, neither of which can contain a JSON body
        d = json.loads(request.body)["d"]
        message = (str(d["event_ts"]) + answer["plain_token"]).encode()
        assert b"{" not in message
        assert signing.verify(SECRET, message, answer["signature"])


def expected_dispatch(body: bytes) -> bool:
    """Whether a validly signed ``body`` should be dispatched: op 0 with a non-empty string ``t``, within limits."""
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    if not isinstance(doc, dict) or len(body) > LIMIT:
        return False
    op, t = doc.get("op"), doc.get("t")
    types_ok = all(
        doc.get(key) is None or isinstance(doc.get(key), kind) for key, kind in (("id", str), ("s", int), ("t", str))
    )
    return (
        type(op) is int and op == 0 and isinstance(t, str) and t != "" and types_ok and type(doc.get("s")) is not bool
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body_and_flag=bodies(), chunk_size=st.none() | st.integers(1, 512))
async def test_validly_signed_bodies_are_dispatched_exactly_when_well_formed(
    body_and_flag: tuple[bytes, bool], chunk_size: int | None
) -> None:
    body, _ = body_and_flag
    sink = Recorder()
    app = WebhookApp({APP_ID: WebhookBot(SECRET, sink)}, clock=VirtualClock(start=NOW), max_body_size=LIMIT)
    ts = str(NOW).encode()
    headers = [
        (b"x-bot-appid", APP_ID.encode()),
        (b"x-signature-timestamp", ts),
        (b"x-signature-ed25519", signing.sign(SECRET, ts + body).encode()),
    ]
    async with app.running():
        status, payload = await call_asgi(app, body, headers, chunk_size=chunk_size)
    event(f"status {status}")
    assert status in (200, 400, 413), (status, payload)
    assert app.stats.internal_errors == 0
    if expected_dispatch(body):
        assert (status, json.loads(payload)) == (200, {"op": 12, "d": 0})
        assert len(sink.events) == 1
        assert bytes(sink.events[0].data) != b"" and sink.events[0].type == json.loads(body)["t"]
    else:
        assert sink.events == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    token=st.from_regex(r"[A-Za-z0-9._~-]{1,64}", fullmatch=True) | st.text(max_size=80),
    event_ts=st.integers(0, 10**15).map(str) | st.integers(-5, 10**15) | st.text(max_size=30) | json_values,
)
async def test_validation_answers_only_safe_tokens_and_signs_them(token: str, event_ts: Any) -> None:
    app = WebhookApp({APP_ID: WebhookBot(SECRET, Recorder())}, clock=VirtualClock(start=NOW))
    body = json.dumps({"op": 13, "d": {"plain_token": token, "event_ts": event_ts}}).encode()
    status, payload = await call_asgi(app, body, [(b"x-bot-appid", APP_ID.encode())])
    event(f"status {status}")
    assert status in (200, 400), (status, payload)
    if status == 200:
        answer = json.loads(payload)
        assert answer["plain_token"] == token
        message = (str(event_ts) + token).encode()
        assert b"{" not in message and b'"' not in message
        assert signing.verify(SECRET, message, answer["signature"])
