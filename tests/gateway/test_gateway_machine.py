"""Sans-IO gateway state machine: plain dicts in, actions out."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.protocol.close_codes import CloseAction, decide_close
from framework.protocol.gateway import (
    Authenticate,
    Connected,
    DispatchEvent,
    GatewayConfig,
    GatewayMachine,
    Reconnect,
    SendFrame,
    ShardState,
    Stop,
)


def frame(op: int, d: Any = None, **kw: Any) -> bytes:
    return json.dumps({"op": op, "d": d, **kw}).encode()


def sent(actions: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(a.data) for a in actions if isinstance(a, SendFrame)]


def hello(m: GatewayMachine, now: float = 0.0) -> list[Any]:
    m.connection_opened(now)
    return m.receive(frame(10, {"heartbeat_interval": 10_000}), now)


def ready(m: GatewayMachine, session: str = "s1", now: float = 0.0) -> None:
    assert hello(m, now) == [Authenticate(resume=False)]
    out = sent(m.identify("tok", now))
    assert out[0]["op"] == 2
    acts = m.receive(frame(0, {"session_id": session, "version": 1}, s=1, t="READY", id="r"), now)
    assert isinstance(acts[0], Connected)
    assert m.state is ShardState.READY


def machine(**kw: Any) -> GatewayMachine:
    return GatewayMachine(0, 1, 513, config=GatewayConfig(first_heartbeat_jitter=False, **kw), rng=random.Random(1))


def test_identify_payload_and_ready() -> None:
    m = GatewayMachine(2, 4, 513, rng=random.Random(0))
    m.connection_opened(0)
    assert m.receive(frame(10, {"heartbeat_interval": 45000}), 0) == [Authenticate(resume=False)]
    (ident,) = sent(m.identify("abc", 1))
    assert ident["d"]["token"] == "QQBot abc"
    assert ident["d"]["shard"] == [2, 4]
    assert ident["d"]["intents"] == 513
    assert m.identify("abc", 1) == []  # never twice on one connection
    acts = m.receive(frame(0, {"session_id": "S", "version": 1}, s=1, t="READY"), 2)
    assert acts[0] == Connected(resumed=False, session_id="S")
    assert isinstance(acts[1], DispatchEvent) and acts[1].event.type == "READY"
    assert m.session_id == "S" and m.seq == 1


def test_frames_carrying_the_token_hide_it_in_repr() -> None:
    m = machine()
    hello(m)
    (identify,) = m.identify("tok-secret", 1)
    assert isinstance(identify.data, str) and "tok-secret" in identify.data  # JSON text, sent as a text frame
    assert "tok-secret" not in repr(identify) and "hidden" in repr(identify)
    ready(m, now=2)
    m.connection_closed(4009, "", 3)
    m.connection_opened(4)
    m.receive(frame(10, {"heartbeat_interval": 45000}), 4)
    (resume,) = m.resume("tok-secret", 5)
    assert isinstance(resume, SendFrame) and resume.op == 6
    assert "tok-secret" not in repr(resume)
    assert repr(SendFrame('{"op":1}', 1)) == "SendFrame(data='{\"op\":1}', op=1)"


def test_dispatch_builds_lazy_inbound_event() -> None:
    m = machine()
    ready(m)
    (act,) = m.receive(b'{"op":0,"s":5,"t":"GROUP_AT_MESSAGE_CREATE","id":"ev1","d":{"id":"m1","content":"hi"}}', 1)
    assert isinstance(act, DispatchEvent)
    ev = act.event
    assert (ev.type, ev.id, ev.seq, ev.shard_id, ev.source) == ("GROUP_AT_MESSAGE_CREATE", "ev1", 5, 0, "gateway")
    assert json.loads(bytes(ev.data)) == {"id": "m1", "content": "hi"}
    assert m.seq == 5


def test_heartbeat_schedule_ack_latency_and_zombie() -> None:
    m = machine()
    ready(m)
    assert m.next_deadline() == 10.0
    assert m.tick(5.0) == []
    (beat,) = sent(m.tick(10.0))
    assert beat == {"op": 1, "d": 1}
    m.receive(frame(11), 10.25)
    assert m.latency == pytest.approx(0.25)
    assert sent(m.tick(20.0))[0]["op"] == 1
    # no ACK before the next beat: a short grace for an unread ACK, then zombie -> abort and resume
    assert m.tick(30.0) == [] and m.next_deadline() == 31.0
    (rec,) = m.tick(31.0)
    assert isinstance(rec, Reconnect) and rec.resume and rec.abort and "zombie" in rec.reason


def test_ack_read_within_the_zombie_grace_is_no_zombie() -> None:
    # after an event-loop stall the timer may run before the reader: the ACK in the socket still counts
    m = machine()
    ready(m)
    sent(m.tick(10.0))
    assert m.tick(23.0) == []  # the loop was stalled past the next beat; the ACK is unread
    m.receive(frame(11), 23.01)
    assert m.next_deadline() == 20.0
    (beat,) = sent(m.tick(23.02))
    assert beat["op"] == 1 and m.state is ShardState.READY and m.reconnects == 0


def test_reader_blocked_defers_zombie_verdict() -> None:
    m = machine()
    ready(m)
    m.tick(10.0)
    acts = m.tick(20.0, reader_blocked=True)
    assert sent(acts)[0]["op"] == 1


def test_first_heartbeat_is_jittered() -> None:
    firsts = set()
    for seed in range(5):
        m = GatewayMachine(rng=random.Random(seed))
        hello(m)
        assert m.next_deadline() is None  # no heartbeat before Identify/Resume
        assert m.tick(100.0) == []
        m.identify("t", 0.0)
        d = m.next_deadline()
        assert d is not None and 0 <= d <= 10.0
        firsts.add(d)
    assert len(firsts) > 1


def test_resume_after_drop_uses_session_and_seq() -> None:
    m = machine()
    ready(m)
    m.receive(frame(0, {}, s=7, t="X"), 1)
    (rec,) = m.connection_closed(1006, "", 2)
    assert isinstance(rec, Reconnect) and rec.resume and rec.delay > 0
    assert hello(m, 3) == [Authenticate(resume=True)]
    (res,) = sent(m.resume("fresh", 3))
    assert res == {"op": 6, "d": {"token": "QQBot fresh", "session_id": "s1", "seq": 7}}
    acts = m.receive(frame(0, "", s=8, t="RESUMED"), 4)
    assert acts[0] == Connected(resumed=True, session_id="s1")


def test_op7_resumes_without_backoff() -> None:
    m = machine()
    ready(m)
    (rec,) = m.receive(frame(7), 1)
    assert isinstance(rec, Reconnect) and rec.resume and rec.delay == 0
    assert m.connection_closed(4009, "", 1) == []  # already decided


def test_op9_and_rejected_resume_fall_back_to_identify() -> None:
    m = machine()
    ready(m)
    m.connection_closed(4009, "", 1)
    hello(m, 2)
    m.resume("t", 2)
    (rec,) = m.receive(frame(9, False), 3)
    assert isinstance(rec, Reconnect) and not rec.resume and m.session_id is None
    assert hello(m, 4) == [Authenticate(resume=False)]


@pytest.mark.parametrize("d", [True, False, None, "yes"])
def test_op9_is_followed_by_a_fresh_identify_whatever_d_says(d: object) -> None:
    # botgo, botpy and nonebot all identify after op 9 (protocol.md §0), even after ``d: true``
    m = machine()
    ready(m)
    (rec,) = m.receive(frame(9, d), 1)
    assert isinstance(rec, Reconnect) and not rec.resume and rec.delay == 0.0
    assert m.session_id is None and m.seq is None
    assert hello(m, 2) == [Authenticate(resume=False)]
    assert m.resume("t", 2) == [Authenticate(resume=False)]


def test_close_4902_after_resume_identifies() -> None:
    m = machine()
    ready(m)
    m.connection_closed(1006, "", 1)
    hello(m, 2)
    m.resume("t", 2)
    (rec,) = m.connection_closed(4902, "reset by resume", 3)
    assert isinstance(rec, Reconnect) and not rec.resume
    assert hello(m, 10) == [Authenticate(resume=False)]
    assert m.resume("t", 10) == [Authenticate(resume=False)]  # never Resume without a session


def test_identify_rejections_stop() -> None:
    m = machine()
    for i in range(2):
        hello(m, i)
        m.identify("t", i)
        (rec,) = m.receive(frame(9, False), i)
        assert isinstance(rec, Reconnect) and rec.refresh_token
    hello(m, 5)
    m.identify("t", 5)
    (stop,) = m.receive(frame(9, False), 5)
    assert isinstance(stop, Stop) and "intents" in str(stop.error)


def test_4004_refreshes_token_then_stops() -> None:
    m = machine()
    hello(m)
    m.identify("t", 0)
    (rec,) = m.connection_closed(4004, "", 1)
    assert isinstance(rec, Reconnect) and rec.refresh_token and not rec.resume
    hello(m, 2)
    m.identify("t2", 2)
    (stop,) = m.connection_closed(4004, "", 3)
    assert isinstance(stop, Stop) and stop.error.code == 4004
    assert m.state is ShardState.STOPPED
    assert m.connection_opened(4) == [] and m.receive(frame(10, {"heartbeat_interval": 1}), 4) == []


@pytest.mark.parametrize("code", [4010, 4011, 4012, 4013, 4014, 4914, 4915])
def test_fatal_codes_stop_with_clear_error(code: int) -> None:
    m = machine()
    ready(m)
    (stop,) = m.connection_closed(code, "", 1)
    assert isinstance(stop, Stop)
    assert str(code) in str(stop.error) and stop.error.code == code


@pytest.mark.parametrize(
    ("code", "action", "backoff"),
    [
        (1000, CloseAction.RESUME, True),
        (1006, CloseAction.RESUME, True),
        (4000, CloseAction.IDENTIFY, True),
        (4001, CloseAction.IDENTIFY, True),
        (4002, CloseAction.IDENTIFY, True),
        (4004, CloseAction.RESUME, True),
        (4006, CloseAction.IDENTIFY, False),
        (4007, CloseAction.IDENTIFY, False),
        (4008, CloseAction.RESUME, True),
        (4009, CloseAction.RESUME, False),
        *[(c, CloseAction.STOP, False) for c in (4010, 4011, 4012, 4013, 4014, 4914, 4915)],
        *[(c, CloseAction.IDENTIFY, True) for c in range(4900, 4914)],
        (4999, CloseAction.IDENTIFY, True),
    ],
)
def test_decision_table(code: int, action: CloseAction, backoff: bool) -> None:
    d = decide_close(code)
    assert (d.action, d.backoff) == (action, backoff)


def test_protocol_errors_stop_after_three() -> None:
    m = machine()
    results = []
    for i in range(3):
        hello(m, i)
        m.identify("t", i)
        results.extend(m.connection_closed(4001, "", i))
    assert [type(a) for a in results] == [Reconnect, Reconnect, Stop]


def beat_and_ack(m: GatewayMachine, now: float) -> None:
    """The heartbeat falls due and the server acknowledges it."""
    (beat,) = m.tick(now)
    assert isinstance(beat, SendFrame) and beat.op == 1
    assert m.receive(frame(11), now) == []


def test_backoff_grows_capped_and_resets_after_a_healthy_session() -> None:
    m = machine(backoff_base=1.0, backoff_cap=8.0)
    delays = []
    for i in range(8):
        (rec,) = m.connect_failed(float(i))
        assert isinstance(rec, Reconnect)
        delays.append(rec.delay)
    assert all(0.5 <= d <= 8.0 for d in delays)
    assert delays[-1] >= 4.0  # at the cap region
    ready(m, now=100.0)
    beat_and_ack(m, 110.0)  # READY, then one ACK: healthy
    (rec,) = m.connection_closed(1006, "", 111.0)
    assert isinstance(rec, Reconnect) and rec.delay <= 0.5  # at once, jitter aside
    grown = []
    for i in range(4):  # failures after it count from the first attempt again
        (rec,) = m.connect_failed(112.0 + i)
        assert isinstance(rec, Reconnect)
        grown.append(rec.delay)
    assert 0.5 <= grown[0] <= 1.0 and 4.0 <= grown[3] <= 8.0


def test_eleven_faults_after_healthy_sessions_do_not_grow_the_delay() -> None:
    # the field report: faults a few seconds apart, each after READY and an ACK, saw 0.7 → 1.8 → … → 9.8 s
    m = machine(backoff_base=1.0, backoff_cap=60.0)
    delays = []
    ready(m)
    now = 0.0
    for i in range(11):
        if i:
            assert hello(m, now) == [Authenticate(resume=True)]
            assert sent(m.resume("tok", now))[0]["op"] == 6
            assert isinstance(m.receive(frame(0, "", s=2 + i, t="RESUMED"), now)[0], Connected)
        beat_and_ack(m, now + 10.0)  # heartbeat_interval 10 s
        (rec,) = m.connection_closed(1006, "", now + 12.0)
        assert isinstance(rec, Reconnect) and rec.resume
        delays.append(rec.delay)
        now += 13.0
    assert all(d <= 0.5 for d in delays), delays


def test_flapping_keeps_backing_off() -> None:
    # READY but never an ACK: the session did not prove healthy, so the delays keep growing
    m = machine()
    delays = []
    for i in range(5):
        ready(m, now=float(i))
        (rec,) = m.connection_closed(4900, "", float(i) + 0.5)
        assert isinstance(rec, Reconnect)
        delays.append(rec.delay)
    assert delays[-1] > delays[0]


def test_ack_before_ready_is_not_healthy() -> None:
    m = machine()
    for i in range(3):
        m.connect_failed(float(i))
    hello(m, 10.0)
    m.identify("tok", 10.0)
    beat_and_ack(m, 20.0)  # still IDENTIFYING
    (rec,) = m.connection_closed(1006, "", 21.0)
    assert isinstance(rec, Reconnect) and rec.delay >= 4.0  # the fourth consecutive failure


def test_hello_and_ready_timeouts() -> None:
    m = machine(hello_timeout=5.0, ready_timeout=7.0)
    m.connection_opened(0)
    assert m.next_deadline() == 5.0
    (rec,) = m.tick(5.0)
    assert isinstance(rec, Reconnect) and "Hello" in rec.reason
    hello(m, 10)
    m.identify("t", 10)
    acts = m.tick(17.0)
    assert any(isinstance(a, Reconnect) and "READY" in a.reason for a in acts)


def test_malformed_frames_are_ignored() -> None:
    m = machine()
    ready(m)
    for bad in [b"", b"{", b"[]", b'{"op":"x"}', b'{"op":0}', b'{"op":10,"d":{"heartbeat_interval":-1}}', "\x00"]:
        assert m.receive(bad, 1) == []
    assert m.malformed_frames >= 6
    assert m.state is ShardState.READY


# -- property tests ---------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=6,
)
_frames = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=40),
    st.builds(
        lambda op, d, s, t: json.dumps({"op": op, "d": d, "s": s, "t": t}),
        st.sampled_from([0, 1, 2, 6, 7, 9, 10, 11, 12, 13, 99]),
        _json_values | st.fixed_dictionaries({"heartbeat_interval": st.integers(-5, 100_000)}),
        st.none() | st.integers(-5, 1000),
        st.none() | st.sampled_from(["READY", "RESUMED", "GROUP_AT_MESSAGE_CREATE"]),
    ),
    st.builds(
        lambda sid: json.dumps({"op": 0, "s": 1, "t": "READY", "d": {"session_id": sid}}),
        st.none() | st.text(max_size=5),
    ),
    st.just(json.dumps({"op": 10, "d": {"heartbeat_interval": 1000}})),
)
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("frame"), _frames),
        st.tuples(st.just("open"), st.none()),
        st.tuples(st.just("close"), st.sampled_from([1000, 1006, 4001, 4004, 4006, 4008, 4009, 4014, 4902, 4999])),
        st.tuples(st.just("tick"), st.floats(0, 30)),
        st.tuples(st.just("identify"), st.none()),
        st.tuples(st.just("resume"), st.none()),
        st.tuples(st.just("failed"), st.none()),
    ),
    max_size=60,
)


@settings(max_examples=400, deadline=None)
@given(_steps, st.integers(0, 2**16))
def test_never_raises_never_resumes_without_session_never_authenticates_twice(
    steps: list[tuple[str, Any]], seed: int
) -> None:
    m = GatewayMachine(1, 2, 513, rng=random.Random(seed))
    now = 0.0
    auth_on_connection = 0
    stopped = False
    for kind, arg in steps:
        session_before = m.session_id
        if kind == "frame":
            acts = m.receive(arg, now)
        elif kind == "open":
            acts = m.connection_opened(now)
            auth_on_connection = 0
        elif kind == "close":
            acts = m.connection_closed(arg, "", now)
        elif kind == "tick":
            now += arg
            acts = m.tick(now)
        elif kind == "identify":
            acts = m.identify("tok", now)
        elif kind == "resume":
            acts = m.resume("tok", now)
        else:
            acts = m.connect_failed(now)
        for a in acts:
            if stopped:
                raise AssertionError(f"action after Stop: {a}")
            if isinstance(a, SendFrame):
                payload = json.loads(a.data)
                if payload["op"] in (2, 6):
                    auth_on_connection += 1
                    assert auth_on_connection == 1
                if payload["op"] == 6:
                    assert session_before is not None and payload["d"]["session_id"] == session_before
            if isinstance(a, Reconnect):
                assert a.delay >= 0 and (not a.resume or m.session_id is not None)
            if isinstance(a, Stop):
                stopped = True
        if m.state is ShardState.STOPPED:
            stopped = True


def test_undelivered_event_is_replayed_by_resume() -> None:
    m = machine()
    ready(m)
    for s in (2, 3, 4):
        m.receive(frame(0, {}, s=s, t="X"), 1)
    m.undelivered(4)
    m.connection_closed(1006, "", 2)
    hello(m, 3)
    (res,) = sent(m.resume("t", 3))
    assert res["d"]["seq"] == 3
    m.undelivered(None)  # no seq: nothing to do
    assert m.seq == 3


# -- optional intents: dropped once when the platform refuses an identify over intents -------------

REQUIRED = 1 << 30  # PUBLIC_GUILD_MESSAGES
OPTIONAL = (1 << 25) | (1 << 12)  # GROUP_AND_C2C_EVENT | DIRECT_MESSAGE


def optional_machine() -> GatewayMachine:
    return GatewayMachine(0, 1, REQUIRED, optional_intents=OPTIONAL, config=GatewayConfig(), rng=random.Random(1))


def identify_intents(m: GatewayMachine, now: float) -> int:
    assert hello(m, now) == [Authenticate(resume=False)]
    (ident,) = sent(m.identify("tok", now))
    intents: int = ident["d"]["intents"]
    return intents


def test_op9_at_identify_drops_the_optional_intents_once() -> None:
    m = optional_machine()
    assert identify_intents(m, 0) == REQUIRED | OPTIONAL
    (rec,) = m.receive(frame(9, False), 1)
    assert isinstance(rec, Reconnect) and not rec.resume and rec.delay == 0.0
    assert rec.dropped_intents == OPTIONAL and not rec.refresh_token
    assert identify_intents(m, 2) == REQUIRED
    (rec,) = m.receive(frame(9, False), 3)  # refused again: the ordinary rejection path (fresh token)
    assert isinstance(rec, Reconnect) and rec.dropped_intents == 0 and rec.refresh_token


@pytest.mark.parametrize("code", [4013, 4014])
def test_intent_close_at_identify_drops_the_optional_intents_then_stops(code: int) -> None:
    m = optional_machine()
    identify_intents(m, 0)
    (rec,) = m.connection_closed(code, "intent not permitted", 1)
    assert isinstance(rec, Reconnect) and rec.dropped_intents == OPTIONAL and rec.close_code == code
    assert identify_intents(m, 2) == REQUIRED
    (stop,) = m.connection_closed(code, "intent not permitted", 3)
    assert isinstance(stop, Stop) and stop.error.code == code


def test_optional_intents_stay_when_the_refusal_is_not_at_identify() -> None:
    m = optional_machine()
    ready(m)
    (rec,) = m.receive(frame(9, False), 1)  # op 9 while READY: not an identify refusal
    assert isinstance(rec, Reconnect) and rec.dropped_intents == 0
    assert identify_intents(m, 2) == REQUIRED | OPTIONAL
    plain = machine()
    identify_intents(plain, 0)
    (stop,) = plain.connection_closed(4014, "", 1)  # nothing optional to drop: fatal as before
    assert isinstance(stop, Stop)
