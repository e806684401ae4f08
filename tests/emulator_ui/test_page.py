"""The emulator's web page in a real browser (headless Chromium driven by Playwright).

A bot runs against an emulator served on loopback sockets (the bot's event loop in a thread, on asyncio
and on trio); the test uses the page as a bot author would and checks both what the page shows and what
the emulator saw. Screenshots of each run land in ``tests/emulator_ui/artifacts/``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from _harness import open_page, served, shoot
from playwright.sync_api import Browser, Page, Route, expect
from ui_bot import bot

from framework.emulator import EmulatorConfig
from framework.testing import Chat


@pytest.fixture(params=["asyncio", "trio"])
def chat(request: pytest.FixtureRequest) -> Iterator[Chat]:
    with served(bot, request.param) as chat:
        yield chat


@pytest.fixture
def page(browser: Browser, chat: Chat) -> Iterator[Page]:
    assert chat.emulator.url is not None
    page = open_page(browser, chat.emulator.url)
    yield page
    page.close()


def _send(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.click("#send")


def test_ping_as_a_group_user_shows_pong(page: Page, chat: Chat, request: pytest.FixtureRequest) -> None:
    expect(page.locator("#scene")).to_have_value("group")
    page.select_option("#user", "bob")
    _send(page, "/ping")
    expect(page.locator(".msg.user").last).to_contain_text("bob")
    expect(page.locator(".msg.bot").last).to_have_text("botpong")
    shoot(page, f"ping-{request.node.callspec.id}")
    sent = chat.emulator.world.sent("group", "g1")
    assert [m.body.get("content") for m in sent] == ["pong"]
    # the REST call that carried it is in the wire log, with its status
    expect(page.locator(".entry.rest", has_text="POST /v2/groups/g1/messages → 200")).to_have_count(1)


def test_a_clicked_button_shows_its_visited_label_when_the_page_redrew_meanwhile(page: Page, chat: Chat) -> None:
    """The click's request is held at the browser while the transcript is drawn anew (as a world refresh does); once
    it completes, the button drawn since shows the visited label (the old one it was set on is gone from the page:
    CI once saw "Red" stay)."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/_emulator/act/button_click", hold)
    _send(page, "/menu")
    red = page.locator(".msg.bot").nth(0).locator(".keyboard button", has_text="Red")
    red.click()
    deadline = time.monotonic() + 10
    while not held:
        assert time.monotonic() < deadline, "the click's request never left the page"
        page.wait_for_timeout(20)
    page.dispatch_event("#target", "change")  # the same conversation, drawn anew: a new Red button
    expect(red).to_have_text("Red")
    held[0].continue_()
    expect(red).to_have_text("Red ✓")
    expect(page.locator(".msg.bot").last).to_have_text("botyou picked colour:red")


def test_keyboard_button_sends_an_interaction_the_bot_handles(
    page: Page, chat: Chat, request: pytest.FixtureRequest
) -> None:
    _send(page, "/menu")
    message = page.locator(".msg.bot").nth(0)
    expect(message.locator("h2")).to_have_text("Pick a colour")  # markdown rendered
    expect(message.locator("strong")).to_have_text("bold")
    red = message.locator(".keyboard button", has_text="Red")
    red.click()
    expect(page.locator(".msg.bot").last).to_have_text("botyou picked colour:red")
    expect(red).to_have_text("Red ✓")
    expect(page.locator(".msg.note").last).to_contain_text('clicked button 1 (data "colour:red")')
    shoot(page, f"keyboard-{request.node.callspec.id}")
    (interaction_id,) = chat.emulator.world.interactions
    assert chat.emulator.world.interactions[interaction_id]["group_member_openid"] == "alice"
    _wait(lambda: chat.emulator.world.interaction_acks.get(interaction_id) == 0, "the bot to ack the interaction")
    # a command button with enter=true sends its data as the user
    message.locator(".keyboard button", has_text="Ping again").click()
    expect(page.locator(".msg.bot").last).to_have_text("botpong")


def test_op7_shows_the_session_resuming_in_the_wire_log(page: Page, chat: Chat, request: pytest.FixtureRequest) -> None:
    expect(page.locator(".entry", has_text="#1 op 0 READY s=1")).to_have_count(1)
    page.click("button[data-gw=reconnect]")
    expect(page.locator(".entry", has_text="#1 op 7 Reconnect")).to_have_count(1)
    expect(page.locator(".entry", has_text="#1 closed by the emulator: 4009")).to_have_count(1)
    expect(page.locator(".entry", has_text="#2 op 6 Resume")).to_have_count(1)
    expect(page.locator(".entry", has_text="#2 op 0 RESUMED")).to_have_count(1)
    row = page.locator("#conns tr", has_text="#2")
    expect(row).to_contain_text("resumed")
    expect(page.locator("#conns tr", has_text="#1")).to_contain_text("sent 4009")
    # the resume token never reaches the page
    resume = page.locator(".entry", has_text="#2 op 6 Resume")
    resume.click()
    expect(resume.locator("pre")).to_contain_text('"token":"***"')
    shoot(page, f"op7-{request.node.callspec.id}")
    # filters: REST only, then a text filter
    page.uncheck("#f-gw")
    expect(page.locator(".entry.in:visible")).to_have_count(0)
    page.check("#f-gw")
    page.fill("#f-text", "RESUMED")
    expect(page.locator(".entry:visible")).to_have_count(1)
    # the bot still answers on the resumed session
    _send(page, "/ping")
    expect(page.locator(".msg.bot").last).to_have_text("botpong")
    assert chat.emulator.gateway.recorder.connections[1].kind == "resume"


def test_rest_fault_button_fails_the_bots_next_call(page: Page, chat: Chat) -> None:
    page.click("button[data-rest=fail]")
    expect(page.locator("#fault-note")).to_have_text("REST 500: armed")
    _send(page, "/ping")
    expect(page.locator(".entry.rest", has_text="POST /v2/groups/g1/messages → 500")).to_have_count(1)
    # the client retries a 5xx: the same reply goes out again and arrives
    expect(page.locator(".entry.rest", has_text="POST /v2/groups/g1/messages → 200")).to_have_count(1)
    expect(page.locator(".msg.bot").last).to_have_text("botpong")
    assert [c.status for c in chat.emulator.control.calls("POST", "/v2/groups/")] == [500, 200]


def test_every_scene_can_be_chatted_in(page: Page, chat: Chat) -> None:
    for scene, target in (("c2c", "alice"), ("guild", "c1")):
        page.select_option("#scene", scene)
        expect(page.locator("#target")).to_have_value(target)
        _send(page, "/ping")
        expect(page.locator(".msg.bot").last).to_have_text("botpong")
    _send(page, "/embed")  # still in the guild channel
    card = page.locator(".msg.bot .card").last
    expect(card.locator(".title")).to_have_text("Embed title")
    expect(card).to_contain_text("second line")
    page.select_option("#scene", "dm")
    expect(page.locator("#target option")).to_have_count(2)  # the demo guild's alice and bob
    _send(page, "/ping")
    expect(page.locator(".msg.bot").last).to_have_text("botpong")
    expect(page.locator(".msg.user").last).to_contain_text("alice")
    (dm,) = chat.emulator.world.dm_sessions.values()
    assert [m.content for m in chat.emulator.world.sent("dm", dm.guild_id)] == ["pong"]
    page.select_option("#scene", "group")
    page.click("#new-target")
    expect(page.locator("#target")).to_have_value("g2")
    page.fill("#image", "http://127.0.0.1:9/cat.png")
    _send(page, "hello")
    expect(page.locator(".msg.user img")).to_have_count(1)
    assert chat.emulator.world.sent("c2c", "alice") and chat.emulator.world.sent("guild", "c1")
    expect(page.locator("#world")).to_contain_text("g2")


def _wait(condition: object, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_feed_streams_server_sent_events(chat: Chat) -> None:
    """Without a browser: the SSE stream replays what happened and then follows live."""
    base = chat.emulator.url
    http = httpx.Client(base_url=base or "", timeout=10, trust_env=False)
    with http, http.stream("GET", "/_emulator/feed", params={"since": 0}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = resp.iter_lines()
        seen: list[str] = []
        for line in lines:
            seen.append(line)
            if '"t":"READY"' in line:
                break
        assert seen[0] == "retry: 1000" and "event: hello" in seen
        http.post("/_emulator/act/c2c_message", json={"openid": "U1", "content": "/ping"})
        for line in lines:
            if '"kind":"sent"' in line:
                assert '"content":"pong"' in line
                break
        else:
            raise AssertionError("the stream ended before the bot's reply")


def test_zombie_button_makes_the_client_reconnect_and_resume(browser: Browser) -> None:
    """Heartbeats every 300 ms: with ACKs withheld the client declares the connection a zombie, drops it
    and resumes on a new one; the page shows the unanswered heartbeats and the resume."""
    with served(bot, config=EmulatorConfig(heartbeat_interval_ms=300)) as chat:
        assert chat.emulator.url is not None
        page = open_page(browser, chat.emulator.url)
        try:
            page.check("#f-hb")
            expect(page.locator(".entry", has_text="#1 op 11 Heartbeat ACK").first).to_be_visible()
            page.click("button[data-gw=pause_acks]")
            expect(page.locator(".entry", has_text="#2 op 6 Resume")).to_have_count(1, timeout=10_000)
            expect(page.locator(".entry", has_text="#1 closed by the client")).to_have_count(1)
            # the fault holds for later connections too, until "clear faults" (or "un-zombie") lifts it
            page.click("#clear-faults")
            expect(page.locator(".entry", has_text=re.compile(r"#[2-9] op 11 Heartbeat ACK")).first).to_be_visible()
            expect(page.locator("#conns tr").first).to_contain_text("resumed")
            _send(page, "/ping")
            expect(page.locator(".msg.bot").last).to_have_text("botpong")
        finally:
            page.close()
        assert chat.emulator.gateway.recorder.connections[0].client_close_code is not None


@pytest.mark.parametrize(
    ("button", "then"),
    [
        ("button[data-gw=drop]", "op 6 Resume"),
        ("button[data-gw=close]", "op 6 Resume"),
        # op 9 is always followed by a fresh identify, whatever its d says (the client's documented choice)
        ("button[data-gw=invalid_session][data-resumable]", "op 2 Identify"),
        ("button[data-gw=invalid_session]:not([data-resumable])", "op 2 Identify"),
        ("button[data-gw=expire_session]", "op 2 Identify"),
    ],
    ids=["tcp-drop", "close-4009", "op9-resumable", "op9", "expire-session"],
)
def test_each_gateway_fault_button_ends_in_a_new_session_or_a_resume(browser: Browser, button: str, then: str) -> None:
    with served(bot) as chat:
        assert chat.emulator.url is not None
        page = open_page(browser, chat.emulator.url)
        try:
            page.click(button)
            again = page.locator(".entry", has_text=re.compile(rf"#[2-9] {then}"))
            expect(again.first).to_be_visible(timeout=15_000)
            back = page.locator(".entry", has_text=re.compile(r"#[2-9] op 0 (READY|RESUMED)"))
            expect(back).to_have_count(1, timeout=15_000)
            expect(page.locator("#conns tr").first).to_contain_text("resumed" if "Resume" in then else "ready")
            _send(page, "/ping")
            expect(page.locator(".msg.bot").last).to_have_text("botpong")
        finally:
            page.close()
