"""The page as users reach it: ``qqbot emulator`` and ``qqbot run`` (no credentials) as real processes.

``qqbot emulator`` names the page on its startup line and serves it; ``qqbot run`` on the embedded
emulator links it too, and the page talks to the example bot and to a bot scaffolded by ``qqbot new``.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from _harness import ROOT, Qqbot, clean_env, free_port, open_page, scaffold, shoot
from playwright.sync_api import Browser, expect


def test_qqbot_emulator_serves_the_page(tmp_path: Path) -> None:
    port = free_port()
    with Qqbot(["emulator", "--port", str(port)], cwd=tmp_path) as proc:
        line = proc.wait_for(r"listening on (\S+) .*; web page (\S+)")
        base, page_url = line.group(1), line.group(2)
        assert base == f"http://127.0.0.1:{port}" and page_url == f"{base}/_emulator/ui"
        with httpx.Client(timeout=10, trust_env=False) as http:
            page = http.get(page_url)
            assert page.status_code == 200
            assert page.headers["content-type"] == "text/html; charset=utf-8"
            assert page.text.startswith("<!doctype html>") and "/_emulator/ui/app.js" in page.text
            for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
                asset = http.get(f"{page_url}/{name}")
                assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind), name
            missing = http.get(f"{page_url}/secrets.txt")
            assert missing.status_code == 404 and "secrets.txt" in missing.json()["message"]
            state = http.get(f"{page_url}/state").json()
            assert state["groups"] == [] and state["apps"][0]["app_id"]
            # Ctrl-C stops it while a page is still following the live feed
            with http.stream("GET", f"{base}/_emulator/feed") as feed:
                assert next(feed.iter_lines()) == "retry: 1000"
                assert proc.stop(timeout=10) == 0


def _chat_ping(browser: Browser, proc: Qqbot, name: str) -> None:
    url = proc.wait_for(r"emulator serving on (\S+) \(web page: (\S+);").group(2)
    proc.wait_for(r"is ready")
    page = open_page(browser, url.removesuffix("/_emulator/ui"))
    try:
        page.fill("#text", "/ping")
        page.click("#send")
        expect(page.locator(".msg.bot").last).to_have_text("botpong")
        expect(page.locator(".entry", has_text="op 0 READY")).to_have_count(1)
        shoot(page, name)
    finally:
        page.close()


def test_qqbot_run_links_the_page_and_the_example_bot_answers(browser: Browser, tmp_path: Path) -> None:
    port = free_port()
    example = f"{ROOT / 'examples' / 'hello_bot.py'}:bot"
    with Qqbot(["run", example, "--no-console", "--emulator-port", str(port)], cwd=tmp_path) as proc:
        _chat_ping(browser, proc, "qqbot-run-example")
        assert proc.stop() == 0


def test_the_scaffolded_bot_answers_on_the_page(browser: Browser, tmp_path: Path) -> None:
    project = scaffold(tmp_path)
    env = clean_env(PYTHONPATH=str(project / "src"))
    port = free_port()
    args = ["run", "scaffold_bot.bot:bot", "--no-console", "--emulator-port", str(port)]
    with Qqbot(args, cwd=project, env=env) as proc:
        _chat_ping(browser, proc, "qqbot-run-scaffold")
        assert proc.stop() == 0


def test_webhook_mode_shows_each_delivery_in_the_wire_log(browser: Browser, tmp_path: Path) -> None:
    port, hook = free_port(), free_port()
    example = f"{ROOT / 'examples' / 'hello_bot.py'}:bot"
    args = ["run", example, "--no-console", "--transport", "webhook", "--emulator-port", str(port), "--port", str(hook)]
    with Qqbot(args, cwd=tmp_path) as proc:
        url = proc.wait_for(r"emulator serving on (\S+) \(web page: (\S+);").group(2)
        proc.wait_for(r"is ready")
        page = open_page(browser, url.removesuffix("/_emulator/ui"))
        try:
            page.fill("#text", "/ping")
            page.click("#send")
            expect(page.locator(".msg.bot").last).to_have_text("botpong")
            expect(page.locator(".entry", has_text="webhook GROUP_AT_MESSAGE_CREATE → 200")).to_have_count(1)
            expect(page.locator(".entry", has_text="POST /v2/groups/g1/messages → 200")).to_have_count(1)
            expect(page.locator(".entry", has_text="op 10 Hello")).to_have_count(0)  # no gateway in webhook mode
        finally:
            page.close()
        assert proc.stop() == 0
