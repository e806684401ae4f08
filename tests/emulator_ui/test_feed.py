"""The feed behind the web page, without a browser: what it records, what it hides, how readers wait,
and the Server-Sent Events stream over the in-process transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from ui_bot import bot

from framework.clock import VirtualClock
from framework.emulator import Emulator
from framework.emulator.feed import CHAT_KEPT, WIRE_KEPT, WIRE_SLACK, Feed, summarise_frame
from framework.emulator.webui import seed_demo, ui_state
from framework.emulator.world import ApiCall
from framework.models.intents import Intents
from framework.testing import connect

pytestmark = pytest.mark.anyio


def test_a_frame_is_summarised_with_its_token_masked() -> None:
    frame = b'{"op":2,"d":{"token":"QQBot secret-token","intents":1,"shard":[0,1]}}'
    summary = summarise_frame(frame)
    assert (summary["op"], summary["t"], summary["s"]) == (2, None, None)
    assert "secret-token" not in summary["body"] and '"token":"***"' in summary["body"]
    assert summarise_frame("{not json")["body"] == "{not json"
    long = summarise_frame(b'{"op":0,"t":"X","s":3,"d":"' + b"x" * 10_000 + b'"}')
    assert long["truncated"] and len(long["body"]) == 4000 and (long["t"], long["s"]) == ("X", 3)


def test_a_rest_entry_masks_the_access_token_and_the_secret() -> None:
    feed = Feed(VirtualClock())
    call = ApiCall("POST", "/app/getAppAccessToken", {}, {"appId": "1", "clientSecret": "s3cret"}, 200, None, 0.0)
    feed.rest(call, b'{"access_token":"tok-123","expires_in":"7200"}')
    (entry,) = feed.since(0)
    assert entry["kind"] == "rest" and entry["status"] == 200
    assert "s3cret" not in entry["body"] and "tok-123" not in entry["response"]
    assert '"expires_in":"7200"' in entry["response"]


def test_histories_are_bounded_and_read_in_id_order() -> None:
    feed = Feed(VirtualClock())
    feed.frames(1, "out", [b'{"op":11}'] * (WIRE_KEPT + WIRE_SLACK + 1))  # trimmed to WIRE_KEPT
    for n in range(CHAT_KEPT + 5):
        feed.event({"type": "C2C_MESSAGE_CREATE", "n": n})
    feed.connection("close", 1, code_sent=4009)
    entries = feed.since(0)
    assert len(entries) == WIRE_KEPT + 1 + CHAT_KEPT  # the close came after the trim
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids) and ids[-1] == feed.last_id
    assert [e["kind"] for e in feed.since(feed.last_id - 1)] == ["connection"]
    assert feed.since(feed.last_id) == []


def test_batches_of_frames_are_trimmed_and_read_frame_by_frame() -> None:
    feed = Feed(VirtualClock())
    for batch in range(30):  # 30 x 100 frames: trimmed back to 2000 whenever past 2256
        feed.frames(batch, "out", [b'{"op":0,"s":%d}' % (batch * 100 + i) for i in range(100)])
    assert len(feed.since(0)) == WIRE_KEPT + 100
    feed.frames(99, "out", [b'{"op":0,"s":3000}'] * 157)  # 2257 > WIRE_KEPT + WIRE_SLACK: trimmed again
    entries = feed.since(0)
    assert len(entries) == WIRE_KEPT and entries[0]["s"] == 1157 and entries[-1]["conn"] == 99
    assert [e["id"] for e in entries] == list(range(1158, 3158))
    middle = feed.since(2950)  # from inside the last batch of 100
    assert [e["s"] for e in middle[:50]] == list(range(2950, 3000)) and middle[0]["conn"] == 29


async def test_a_waiting_reader_wakes_on_the_next_entry() -> None:
    feed = Feed(VirtualClock())
    got: list[list[dict[str, object]]] = []

    async def reader() -> None:
        got.append(await feed.wait(0, timeout=10))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            assert got == []
            feed.sent({"scene": "c2c", "target_id": "U1", "body": {"content": "hi"}})
    assert [e["kind"] for e in got[0]] == ["sent"]
    assert await feed.wait(feed.last_id, timeout=0.01) == []  # nothing new: the keep-alive path


async def test_the_stream_replays_then_follows_over_the_inprocess_transport() -> None:
    async with Emulator() as emulator, emulator.http_client() as http:
        emulator.control.c2c_message("before", openid="U1")
        async with http.stream("GET", "/_emulator/feed") as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            lines = resp.aiter_lines()
            with anyio.fail_after(5):
                assert await anext(lines) == "retry: 1000"
                data = [line async for line in _until(lines, '"content":"before"')]
                assert any(line.startswith("event: hello") for line in data)
                emulator.control.c2c_message("after", openid="U1")
                assert [line async for line in _until(lines, '"content":"after"')][-1].startswith("data: ")


async def test_a_stale_last_event_id_starts_over() -> None:
    async with Emulator() as emulator, emulator.http_client() as http:
        emulator.control.c2c_message("kept", openid="U1")
        async with http.stream("GET", "/_emulator/feed", headers={"Last-Event-ID": "999999"}) as resp:
            lines = resp.aiter_lines()
            with anyio.fail_after(5):
                seen = [line async for line in _until(lines, '"content":"kept"')]
        assert 'data: {"since":0,"last_id":1}' in seen
        bad = await http.get("/_emulator/feed", params={"since": "x"})
        assert bad.status_code == 400 and "since" in bad.json()["message"]


async def _until(lines: AsyncIterator[str], needle: str) -> AsyncIterator[str]:
    """The lines up to and including the first that contains ``needle``."""
    async for line in lines:
        yield line
        if needle in line:
            return


async def test_ui_state_names_what_each_session_may_receive() -> None:
    async with connect(bot) as chat:
        emulator = chat.emulator
        assert seed_demo(emulator.world) and not seed_demo(emulator.world)  # only on an empty world
        state = ui_state(emulator.world, emulator.gateway)
    assert [g["openid"] for g in state["groups"]] == ["g1"]
    assert [m["openid"] for m in state["groups"][0]["members"]] == ["alice", "bob"]
    assert state["guilds"][0]["channels"] == [{"id": "c1", "name": "general", "type": 0}]
    (session,) = state["sessions"]
    assert session["intents"] == int(bot.intents) and session["connected"]
    assert set(session["intent_names"]) == {flag.name for flag in Intents if flag.value and bot.intents & flag}
    assert "GROUP_AT_MESSAGE_CREATE" in session["events"] and "INTERACTION_CREATE" in session["events"]
    assert "GUILD_MEMBER_ADD" not in session["events"]  # GUILD_MEMBERS was not asked for
