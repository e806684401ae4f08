"""Property-based fuzzing of the gateway client: a real Bot (BotRunner, its shards, the dispatcher, the
handler) against the emulator served on loopback, fed hypothesis-drawn sequences of valid messages,
malformed and adversarial frames and connection faults through the emulator's fault API.

Properties, checked after every step of a sequence and at its end:

- never crashes: the runner keeps running, the shard gets back to READY, no ERROR log line, no traceback;
- never loses nor duplicates a valid event: every C2C message the user sent reaches the bot's handler
  exactly once, whatever garbage and faults surround it (including the platform pushing one twice);
- never spins: each fault costs a bounded number of new connections, of the kind the fault calls for
  (resume after a resumable fault, identify after one that ends the session), and once the sequence is
  over no connection is opened for a further heartbeat interval or more;
- logs malformed input: each malformed frame read is counted (``GatewayMachine.malformed_frames``) and has
  its own log line, the first of each kind at WARNING; an unreadable frame is skipped with a WARNING.

Faults that end the session (the client identifies afresh) are applied once every message sent so far
was handled: events dispatched to a session the client abandons are lost by design, on the platform too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec
import pytest
from fuzz_support import BotStack, LogCollector, bot_stack, collecting_logs, fuzz_settings
from hypothesis import event, given
from hypothesis import strategies as st

from framework.emulator.gateway.hub import GatewayHub

pytestmark = pytest.mark.anyio

GATEWAY_LOGGER = "framework.protocol.gateway"
HEARTBEAT_MS = 10_000
FACTOR = 20.0
QUIET = 1.5 * HEARTBEAT_MS / 1000 / FACTOR  # real seconds: one and a half heartbeat intervals


# -- garbage frames (sent as-is, between valid messages; none of them ends the connection) -------------


@dataclass(frozen=True)
class Garbage:
    frame: bytes = field(repr=False)
    malformed: bool
    """The client must count and log it as malformed (else it is valid but of no interest to the handler)."""
    label: str


def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)
_not_int = (
    st.text(max_size=8)
    | st.booleans()
    | st.integers(-(2**40), 2**40).map(lambda i: i + 0.5)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)
_not_str = (
    st.integers()
    | st.booleans()
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)


def _doc(label: str, malformed: bool = True) -> Callable[[Any], Garbage]:
    return lambda doc: Garbage(json.dumps(doc).encode(), malformed, label)


GARBAGE: st.SearchStrategy[Garbage] = st.one_of(
    st.text(max_size=120).filter(_not_json).map(lambda s: Garbage(s.encode(), True, "invalid JSON")),
    st.tuples(st.integers(1, 60)).map(
        lambda n: Garbage(b'{"op": 0, "t": "C2C_MESSAGE_CREATE", "s": 1, "d": {"id": "x"}}'[: n[0]], True, "truncated")
    ),
    (st.none() | st.booleans() | st.integers() | st.text(max_size=10) | st.lists(_scalars, max_size=3)).map(
        _doc("not an object")
    ),
    st.integers()
    .filter(lambda op: op not in (0, 1, 7, 9, 10, 11))
    .map(lambda op: {"op": op, "d": {}})
    .map(_doc("unknown op")),
    (_not_int | st.none()).map(lambda op: {"op": op}).map(_doc("op not an integer")),
    st.just({"d": {}}).map(_doc("no op")),
    st.tuples(_json, st.text(max_size=8))
    .map(lambda v: {"op": 0, "d": v[0], "id": v[1]})
    .map(_doc("dispatch without t")),
    _not_int.map(lambda s: {"op": 0, "t": "FUZZ_EVENT", "id": "fz-s", "s": s, "d": {}}).map(_doc("s not an integer")),
    _not_str.map(lambda t: {"op": 0, "t": t, "d": {}}).map(_doc("t not a string")),
    _not_str.map(lambda i: {"op": 0, "t": "FUZZ_EVENT", "id": i, "d": {}}).map(_doc("id not a string")),
    st.sampled_from([1_000, 100_000]).map(lambda n: Garbage(b"[" * n + b"]" * n, True, "deeply nested")),
    st.just(Garbage(b"x" * 300_000, True, "large non-JSON")),
    # valid frames the client must take in its stride, without counting them as malformed
    st.just(Garbage(b'{"op": 11}', False, "unsolicited ACK")),
    st.just(Garbage(b'{"op": 10, "d": {"heartbeat_interval": 45000}}', False, "Hello mid-session")),
    st.tuples(st.text(min_size=1, max_size=12), _json).map(
        lambda v: Garbage(
            json.dumps({"op": 0, "t": "FUZZ_" + v[0], "id": "fz-u", "d": v[1]}).encode(), False, "unknown event type"
        )
    ),
    st.just(
        Garbage(
            b'{"op": 0, "t": "C2C_MESSAGE_CREATE", "id": "fz-bad", "d": {"id": 7, "content": ["x"], "author": 3}}',
            False,
            "undecodable C2C payload",
        )
    ),
)


# -- faults ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    name: str
    apply: Callable[[GatewayHub], object]
    kinds: tuple[str | None, ...]
    """The kinds of the connections the client must open after it (``ConnectionRecord.kind``: "resume",
    "identify", or None for one that never authenticated: a bad Hello, a refused resume)."""

    @property
    def ends_session(self) -> bool:
        return "identify" in self.kinds


def _close(code: int) -> Callable[[GatewayHub], object]:
    return lambda hub: hub.close(code, "fuzz", 0)


def _raw(frame: bytes) -> Callable[[GatewayHub], object]:
    return lambda hub: hub.send_raw(frame, 0)


RESUME = ("resume",)
IDENTIFY = ("identify",)
RESUMABLE = [
    Fault("drop (1006)", lambda hub: hub.drop(0), RESUME),
    Fault("op 7 then 4009", lambda hub: hub.reconnect(0), RESUME),
    Fault("raw op 7", _raw(b'{"op": 7, "d": null}'), RESUME),
    *(Fault(f"close {code}", _close(code), RESUME) for code in (1000, 1001, 1011, 4004, 4008, 4009)),
]
# op 9 is always followed by a fresh identify, whatever its d (docs/gateway.md)
ENDING = [
    Fault("op 9 not resumable", lambda hub: hub.invalid_session(0, resumable=False), IDENTIFY),
    Fault("op 9 resumable", lambda hub: hub.invalid_session(0, resumable=True), IDENTIFY),
    Fault("raw op 9 false", _raw(b'{"op": 9, "d": false}'), IDENTIFY),
    Fault("raw op 9 true", _raw(b'{"op": 9, "d": true}'), IDENTIFY),
    # the resume is refused (4006): that connection never authenticates (kind None), the next identifies
    Fault("session expired", lambda hub: hub.expire_session(0), (None, "identify")),
    *(Fault(f"close {code}", _close(code), IDENTIFY) for code in (4000, 4001, 4002, 4006, 4007, 4900, 4902, 4999)),
]
BAD_HELLOS = [
    b'{"op": 10, "d": {"heartbeat_interval": 0}}',
    b'{"op": 10, "d": {"heartbeat_interval": -1}}',
    b'{"op": 10, "d": {"heartbeat_interval": "45000"}}',
    b'{"op": 10, "d": null}',
    b'{"op": 10}',
    b"not even JSON",
]


# -- plans -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Burst:
    """Valid messages (ints: how many) interleaved with garbage frames, on one live connection."""

    items: tuple[int | Garbage | str, ...]
    """``"dup"``: the platform pushes the last valid message again (same envelope id, no ``s``);
    ``"redelivered"``: the same message under a new envelope id (deduplicated by the message id)."""


@dataclass(frozen=True)
class Hit:
    fault: Fault
    before: int
    """Valid messages sent just before the fault (queued ahead of it)."""
    during: int
    """Valid messages sent right after it, while the client reconnects (resumable faults only)."""
    bad_hello: bytes | None
    """Sent instead of the Hello on the next connection."""


@dataclass(frozen=True)
class Unreadable:
    """A dispatch the client cannot read (invalid UTF-8, or over its 4 MiB limit), replayed on every resume."""

    kind: str
    during: int


Step = Burst | Hit | Unreadable

bursts = st.lists(st.integers(1, 3) | GARBAGE | st.sampled_from(["dup", "redelivered"]), min_size=1, max_size=10).map(
    lambda items: Burst(tuple(items))
)


@st.composite
def hits(draw: st.DrawFn) -> Hit:
    fault = draw(st.sampled_from(RESUMABLE + ENDING))
    during = 0 if fault.ends_session else draw(st.integers(0, 3))
    bad_hello = draw(st.none() | st.none() | st.sampled_from(BAD_HELLOS))
    return Hit(fault, draw(st.integers(0, 3)), during, bad_hello)


unreadables = st.builds(Unreadable, st.sampled_from(["invalid UTF-8", "oversized"]), st.integers(0, 2))
steps: st.SearchStrategy[Step] = st.one_of(bursts, bursts, hits(), hits(), unreadables)
plans = st.lists(steps, min_size=1, max_size=6)


# -- running a plan ----------------------------------------------------------------------------------


class Run:
    def __init__(self, stack: BotStack, logs: LogCollector) -> None:
        self.stack = stack
        self.logs = logs
        self.malformed_sent = 0
        self.unreadable_sent = 0
        self.last_event: tuple[str, Any] | None = None
        self.redelivered = 0

    @property
    def machine(self) -> Any:
        manager = self.stack.runner.manager
        assert manager is not None
        return manager.shards[0].machine

    @property
    def connections(self) -> list[Any]:
        return self.stack.hub.recorder.connections

    def send(self, n: int) -> None:
        for emitted in self.stack.send(n):
            self.last_event = (emitted.id, emitted.d)

    async def burst(self, step: Burst) -> None:
        count_before = len(self.connections)
        malformed_before = self.machine.malformed_frames
        injected = 0
        for item in step.items:
            if isinstance(item, int):
                self.send(item)
            elif isinstance(item, Garbage):
                if self.stack.hub.send_raw(item.frame, 0) and item.malformed:
                    injected += 1
                event(f"garbage: {item.label}")
            elif self.last_event is not None:  # "dup" or "redelivered"
                event_id, d = self.last_event
                if item == "redelivered":
                    self.redelivered += 1
                    event_id = f"{event_id}:again{self.redelivered}"
                frame = json.dumps({"op": 0, "t": "C2C_MESSAGE_CREATE", "id": event_id, "d": d}).encode()
                self.stack.hub.send_raw(frame, 0)
                event(f"pushed twice: {item}")
        self.stack.send(1)  # frames arrive in order: once this one is handled, every frame before it was read
        await self.stack.settle("the messages of a burst")
        got = self.machine.malformed_frames - malformed_before
        self.malformed_sent += injected
        if len(self.connections) == count_before:  # no reconnect lost a queued frame
            assert got == injected, (got, injected, step)
        else:
            assert got <= injected, (got, injected, step)

    async def hit(self, step: Hit) -> None:
        stack = self.stack
        event(f"fault: {step.fault.name}" + (" after a bad Hello" if step.bad_hello else ""))
        if step.fault.ends_session:
            await stack.settle("the messages before a session-ending fault")
        count_before = len(self.connections)
        if step.bad_hello is not None:
            stack.hub.hello_overrides.append(step.bad_hello)
            self.malformed_sent += 1  # counted and logged like a malformed frame (kind "Hello" or "invalid JSON")
        self.send(step.before)
        step.fault.apply(stack.hub)
        self.send(step.during)
        expected = ((None,) if step.bad_hello is not None else ()) + step.fault.kinds
        await stack.wait_for(lambda: len(self.connections) >= count_before + len(expected), f"reconnect after {step}")
        await stack.settle(f"the messages around {step.fault.name}")
        kinds = tuple(c.kind for c in self.connections[count_before:])
        assert kinds == expected, (kinds, step)

    async def unreadable(self, step: Unreadable) -> None:
        stack = self.stack
        event(f"unreadable: {step.kind}")
        count_before = len(self.connections)
        skipped_before = self.machine.skipped_frames
        if step.kind == "oversized":
            d = msgspec.Raw(b'{"blob": "' + b"x" * (5 * 2**20) + b'"}')
        else:
            d = msgspec.Raw(b'{"id": "fz-utf8", "content": "\xff\xfe"}')
        stack.hub.dispatch("C2C_MESSAGE_CREATE", d, event_id=f"fz-unreadable-{count_before}")
        self.send(step.during)
        self.unreadable_sent += 1
        # the first failure resumes, the replay fails again at the same seq, the second resume skips it
        await stack.wait_for(lambda: self.machine.skipped_frames == skipped_before + 1, f"the skip of {step}")
        await stack.settle(f"the messages after {step}")
        kinds = tuple(c.kind for c in self.connections[count_before:])
        assert kinds == ("resume", "resume"), (kinds, step)

    async def run(self, plan: list[Step]) -> None:
        for step in plan:
            if isinstance(step, Burst):
                await self.burst(step)
            elif isinstance(step, Hit):
                await self.hit(step)
            else:
                await self.unreadable(step)
            assert self.stack.duplicates() == {}, self.stack.duplicates()

    def check_end(self, connections: int) -> None:
        stack = self.stack
        # exactly once, and nothing the user did not send
        assert stack.all_delivered() and stack.duplicates() == {} and stack.unexpected() == set()
        # no reconnect loop: nothing new during the quiet period
        assert len(self.connections) == connections, [(c.kind, c.close_code_sent) for c in self.connections]
        machine = self.machine
        assert machine.malformed_frames == self.malformed_sent
        assert machine.skipped_frames == self.unreadable_sent
        # every malformed frame (and every bad Hello) has a log line; the first of each kind a WARNING
        lines = self.logs.messages("ignored a malformed gateway frame", GATEWAY_LOGGER)
        assert len(lines) == machine.malformed_frames, (len(lines), machine.malformed_kinds)
        warned = self.logs.messages("ignored a malformed gateway frame", GATEWAY_LOGGER, logging.WARNING)
        assert len(warned) == len(machine.malformed_kinds), (warned, machine.malformed_kinds)
        assert len(self.logs.messages("cannot be read", GATEWAY_LOGGER, logging.WARNING)) == self.unreadable_sent
        assert self.logs.errors() == [], "\n".join(self.logs.describe_errors())


@fuzz_settings(max_examples=16)
@given(plan=plans)
async def test_gateway_client_under_adversarial_frame_sequences(plan: list[Step]) -> None:
    async with collecting_logs() as logs, bot_stack(factor=FACTOR, heartbeat_ms=HEARTBEAT_MS) as stack:
        run = Run(stack, logs)
        await run.run(plan)
        connections = len(run.connections)
        await anyio.sleep(QUIET)
        await stack.settle("the end of the plan")
        run.check_end(connections)
        assert stack.runner.manager is not None
        assert all(s.state == "ready" for s in stack.runner.manager.status())
