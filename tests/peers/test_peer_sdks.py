"""Peer SDKs as oracles: qq-botpy 1.2.1 and nonebot-adapter-qq 1.7.3, unchanged but for base URLs, each in
its own process, against ``qqbot emulator`` started through the CLI in another process.

Each peer gets a group @message, a C2C message and a guild @message "/ping" injected through the control
API and its "pong" must show up there. The emulator grants a new bot's intents plus GROUP_AND_C2C_EVENT,
as an approved bot has on the platform.
"""

from __future__ import annotations

from pathlib import Path

from _peers import APP_ID, GRANT, SECRET, clean_env, emulator, free_port, peer_script, ping_every_scene, spawn, wait_for

from framework.models.intents import Intents

PEER_INTENTS = int(Intents.GUILDS | Intents.GUILD_MEMBERS | Intents.PUBLIC_GUILD_MESSAGES | Intents.GROUP_AND_C2C_EVENT)


def test_botpy_gateway(tmp_path: Path) -> None:
    with emulator(tmp_path, "--app", f"{APP_ID}:{SECRET}", "--grant-intents", GRANT) as emu:
        emu.seed_guild()
        argv = [*peer_script("botpy_pong.py"), emu.url, APP_ID, SECRET]
        with spawn("botpy", argv, tmp_path, clean_env()) as peer:
            peer.wait_line("peer ready: botpy")
            snap = wait_for("botpy's identify", emu.identified, 10, log=peer)
            assert snap["sessions"][0]["intents"] == int(Intents.PUBLIC_GUILD_MESSAGES | Intents.GROUP_AND_C2C_EVENT)
            ping_every_scene(emu, peer=peer)
            assert "Traceback" not in peer.text()


def test_nonebot_gateway(tmp_path: Path) -> None:
    with emulator(tmp_path, "--app", f"{APP_ID}:{SECRET}", "--grant-intents", GRANT) as emu:
        emu.seed_guild()
        argv = [*peer_script("nonebot_pong.py"), emu.url, APP_ID, SECRET, "gateway"]
        with spawn("nonebot", argv, tmp_path, clean_env()) as peer:
            peer.wait_line(f"peer ready: nonebot {APP_ID}")
            snap = wait_for("nonebot's identify", emu.identified, 10, log=peer)
            assert snap["sessions"][0]["intents"] == PEER_INTENTS
            ping_every_scene(emu, peer=peer)
            # nonebot validates every event with its pydantic models and logs a WARNING when one fails
            assert "Failed to parse event" not in peer.text()


def test_nonebot_webhook(tmp_path: Path) -> None:
    port = free_port()
    hook = f"http://127.0.0.1:{port}/qq/webhook"
    with emulator(tmp_path, "--app", f"{APP_ID}:{SECRET}", "--webhook-url", hook) as emu:
        emu.seed_guild()
        argv = [*peer_script("nonebot_pong.py"), emu.url, APP_ID, SECRET, "webhook", str(port)]
        with spawn("nonebot", argv, tmp_path, clean_env()) as peer:
            peer.wait_line("peer started: nonebot webhook")

            # the platform's op 13 address check: nonebot signs plain_token with the key from the secret
            def validated() -> bool:
                r = emu.http.post("/_emulator/webhook/validate", json={"url": hook, "app_id": APP_ID})
                return r.status_code == 200 and r.json()["ok"] is True

            wait_for("nonebot to answer the op 13 validation", validated, 15, log=peer)
            ping_every_scene(emu, peer=peer)
            text = peer.text()
            assert "Failed to parse event" not in text
            assert "Invalid signature" not in text  # every callback was signed as nonebot verifies it
            deliveries = emu.get("/_emulator/webhook/deliveries")
            assert deliveries, "no webhook deliveries recorded"
            assert {d["app_id"] for d in deliveries} == {APP_ID}
            # the gateway stayed unused: every event reached nonebot by signed callback
            assert emu.get("/_emulator/gateway/sessions")["connections"] == []
