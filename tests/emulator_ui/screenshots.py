"""Take the screenshots of docs/emulator.md: one PNG per panel of the emulator's web page.

    python tests/emulator_ui/screenshots.py            # writes docs/images/emulator-ui-*.png

A bot (``ui_bot.py``) runs against an emulator on loopback with a one-second heartbeat; the script
chats with it in a group (a command, a keyboard click, an image, an ark card), sends op 7 so the wire
log shows a resume, and shoots each panel. ``test_screenshots.py`` runs it into a temporary folder so
that it keeps working.
"""

from __future__ import annotations

import sys
from pathlib import Path

from _harness import ROOT, launch_chromium, open_page, served  # the script's folder is on sys.path
from playwright.sync_api import Page, expect, sync_playwright
from ui_bot import bot

from framework.emulator import EmulatorConfig

PANELS = {"chats": "#panel-chat", "wire": "#panel-wire", "sessions": "#panel-sessions", "world": "#panel-world"}
DOCS_IMAGES = ROOT / "docs" / "images"


def _send(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.click("#send")


def take(out: Path) -> list[Path]:
    """Drive the page through the scenario and write one PNG per panel into ``out``; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    config = EmulatorConfig(heartbeat_interval_ms=1000)
    with served(bot, config=config) as chat, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            base = chat.emulator.url
            assert base is not None
            page = open_page(browser, base, height=1250)
            page.select_option("#user", "bob")
            _send(page, "/ping")
            expect(page.locator(".msg.bot").last).to_have_text("botpong")
            page.select_option("#user", "alice")
            _send(page, "/menu")
            menu = page.locator(".msg.bot").nth(1)
            menu.locator(".keyboard button", has_text="Red").click()
            expect(page.locator(".msg.bot").last).to_contain_text("you picked colour:red")
            _send(page, f"/show {base}/_emulator/ui/icon.svg")
            expect(page.locator(".msg.bot img")).to_have_count(1)
            _send(page, "/ark")
            expect(page.locator(".msg.bot .card")).to_have_count(1)
            page.wait_for_timeout(2500)  # a couple of heartbeats for the sessions table
            page.click("button[data-gw=reconnect]")
            expect(page.locator(".entry", has_text="op 0 RESUMED")).to_have_count(1)
            page.check("#f-hb")
            page.wait_for_timeout(1500)
            page.locator(".entry", has_text="op 6 Resume").click()
            shots = []
            for name, selector in PANELS.items():
                path = out / f"emulator-ui-{name}.png"
                page.locator(selector).screenshot(path=str(path))
                shots.append(path)
            page.screenshot(path=str(out / "emulator-ui.png"))
            shots.append(out / "emulator-ui.png")
            return shots
        finally:
            browser.close()


if __name__ == "__main__":
    for shot in take(Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS_IMAGES):
        print(shot)
