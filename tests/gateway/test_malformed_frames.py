"""Malformed frames, bad Hellos and unreadable frames, sent by the emulator over its real wire (loopback
socket and in-memory pipe): each kind is logged once at WARNING with type, id and shard, a bad Hello is
reported as such (not as "no Hello in time"), and a frame the client cannot read that the platform keeps
replaying after each resume is skipped instead of causing a reconnect loop."""

from __future__ import annotations

import json
import logging

import pytest
from gateway_harness import EVENT_TYPE, harness

pytestmark = pytest.mark.anyio

TRANSPORTS = ["socket", "pipe"]

MALFORMED = [
    ("{not json", "invalid JSON"),
    ("[" * 100_000 + "]" * 100_000, "invalid JSON"),  # nested too deeply to decode
    ('{"op": 99, "d": {}}', "op 99"),
    ("[1, 2, 3]", "envelope $"),
    ('"a string"', "envelope $"),
    ('{"op": 0, "d": {}, "id": "no-t-1", "s": 90}', "dispatch without t"),
    ('{"op": 0, "t": "X_GATEWAY_TEST", "s": "7", "id": "bad-s-1", "d": {}}', "envelope $.s"),
]


def _warnings(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "framework.protocol.gateway" and needle in r.getMessage()
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_malformed_frames_are_logged_once_per_kind(transport: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="framework.protocol.gateway")
    async with harness(transport) as h:
        await h.wait_ready()
        for _ in range(2):  # each kind twice: one WARNING, then DEBUG
            for frame, _kind in MALFORMED:
                assert h.hub.send_raw(frame.encode()) == 1
        h.push(0)  # frames arrive in order: once this is delivered, every malformed one was read
        await h.wait_for(lambda: len(h.test_events()) == 1, what="the valid event after the malformed frames")
        machine = h.manager.shards[0].machine
        assert machine.malformed_frames == 2 * len(MALFORMED)
        kinds = {kind for _, kind in MALFORMED}
        assert set(machine.malformed_kinds) == kinds
        warnings = _warnings(caplog, "malformed gateway frame")
        assert len(warnings) == len(kinds)
        assert all(w.startswith("shard 0: ") for w in warnings)
        assert any("op 99" in w for w in warnings)
        assert any("id bad-s-1" in w and "t X_GATEWAY_TEST" in w and "$.s" in w for w in warnings)
        assert any("without t" in w and "no-t-1" in w for w in warnings)
        status = h.manager.status()[0]
        assert status.state == "ready" and status.reconnects == 0


@pytest.mark.parametrize(
    "d",
    [
        '{"heartbeat_interval": 0}',
        '{"heartbeat_interval": 1e9}',
        '{"heartbeat_interval": -5}',
        '{"heartbeat_interval": "41250"}',
        '"x"',
    ],
)
async def test_bad_hello_is_reported_and_retried(d: str, caplog: pytest.LogCaptureFixture) -> None:
    # a long heartbeat interval: under load, 20x-scaled time leaves too little real time for the first beat
    async with harness("socket", run=False, heartbeat_ms=20_000) as h:
        h.hub.hello_overrides.append(f'{{"op": 10, "d": {d}}}'.encode())
        async with h.manager:
            await h.manager.start()
            await h.wait_ready()
            status = h.manager.status()[0]
            assert status.reconnects == 1
            assert status.last_reason is not None and status.last_reason.startswith("invalid Hello")
            (warning,) = _warnings(caplog, "invalid Hello")
            assert "shard 0" in warning and "heartbeat_interval must be a number" in warning
            assert len(h.hub.recorder.connections) == 2
            await h.manager.stop()


async def test_unreadable_frame_replayed_after_resume_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    # real socket only: the in-memory pipe carries messages, not frames, so it has no size limit
    async with harness("socket") as h:
        await h.wait_ready()
        h.push(0)
        await h.wait_for(lambda: len(h.test_events()) == 1, what="the first event")
        # larger than the client's 4 MiB message limit: its WebSocket fails the connection with 1009, and a
        # resume replays the frame
        h.hub.dispatch(EVENT_TYPE, {"id": "huge", "shard": 0, "n": -1, "blob": "x" * (5 * 2**20)}, guild_id="0")
        h.push(0)
        await h.wait_for(lambda: len(h.test_events()) == 2, limit=20, what="the event after the unreadable one")
        shard = h.manager.shards[0]
        assert shard.machine.skipped_frames == 1
        assert [json.loads(bytes(e.data))["n"] for e in h.test_events()] == [0, 1]
        status = h.manager.status()[0]
        assert status.reconnects == 2  # the first failure resumes; the second, at the same seq, skips the frame
        (warning,) = _warnings(caplog, "cannot be read")
        assert "shard 0" in warning and "1009" in warning and "skipping it" in warning
        kinds = [c.kind for c in h.hub.recorder.connections]
        assert kinds == ["identify", "resume", "resume"]
