"""``qqbot run --log-format json``: a line a handler logs names the event it was handling (and no other line does)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from _proc import QQBOT, Proc, clean_env, free_port

BOT = """
import logging
from framework import Bot, Context

bot = Bot("logged")
log = logging.getLogger("logged")


@bot.command("ping")
async def ping(ctx: Context) -> None:
    log.warning("handling ping")
    await ctx.reply("pong")
"""


def test_json_lines_logged_by_a_handler_carry_the_event_id(tmp_path: Path) -> None:
    (tmp_path / "logged.py").write_text(BOT)
    emu_port = free_port()
    argv = [*QQBOT, "run", "logged.py:bot", "--no-console", "--emulator-port", str(emu_port), "--log-format", "json"]
    with Proc(argv, cwd=tmp_path, env=clean_env()) as proc, httpx.Client(trust_env=False, timeout=10) as http:
        proc.wait_for("is ready")
        act = http.post(
            f"http://127.0.0.1:{emu_port}/_emulator/act/group_at_message",
            json={"content": "/ping", "group_openid": "G7"},
        )
        assert act.status_code == 200, act.text
        event_id = act.json()["id"]
        proc.wait_for("handling ping")
        assert proc.stop() == 0
    records = [json.loads(line) for line in proc.err.decode().splitlines() if line.startswith("{")]
    (handled,) = [r for r in records if r["msg"] == "handling ping"]
    assert handled["event_id"] == event_id
    assert handled["event_type"] == "GROUP_AT_MESSAGE_CREATE" and handled["shard_id"] == 0
    ready = [r for r in records if "is ready" in r["msg"]]
    assert ready and all("event_id" not in r for r in ready)  # outside any event: no event fields
