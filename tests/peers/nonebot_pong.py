"""nonebot-adapter-qq 1.7.3 (nonebot2) as a peer: configured only through its own settings (protocol.md
§12.2: ``qq_api_base``, ``qq_auth_base``, ``qq_bots``); answers "pong" to "/ping" in groups (@), C2C and
guild channels (@).

Usage: python nonebot_pong.py EMULATOR_URL APP_ID SECRET gateway
       python nonebot_pong.py EMULATOR_URL APP_ID SECRET webhook PORT   (ASGI server on 127.0.0.1:PORT)
"""

from __future__ import annotations

import sys

import nonebot
from nonebot.adapters.qq import Adapter, Bot, MessageEvent


def main() -> None:
    url, app_id, secret, mode = sys.argv[1:5]
    webhook = mode == "webhook"
    nonebot.init(
        # gateway: an HTTP client and a WebSocket client; webhook: an ASGI server as well
        driver="~fastapi+~httpx" if webhook else "~httpx+~websockets",
        host="127.0.0.1",
        port=int(sys.argv[5]) if webhook else 8080,
        log_level="DEBUG",
        qq_api_base=f"{url}/",
        qq_auth_base=f"{url}/app/getAppAccessToken",
        qq_bots=[
            {
                "id": app_id,
                "secret": secret,
                "use_websocket": not webhook,
                # the adapter's default asks for reactions and audit events too, which a new bot lacks
                "intent": {
                    "guilds": True,
                    "guild_members": True,
                    "guild_message_reactions": False,
                    "message_audit": False,
                    "at_messages": True,
                    "c2c_group_at_messages": True,
                },
            }
        ],
    )
    driver = nonebot.get_driver()
    driver.register_adapter(Adapter)

    @driver.on_startup
    async def _started() -> None:
        print(f"peer started: nonebot {mode}", flush=True)

    @driver.on_bot_connect
    async def _connected(bot: Bot) -> None:
        print(f"peer ready: nonebot {bot.self_id}", flush=True)

    async def is_ping(event: MessageEvent) -> bool:
        return event.get_plaintext().strip() == "/ping"

    pong = nonebot.on_message(rule=is_ping)

    @pong.handle()
    async def _pong(bot: Bot, event: MessageEvent) -> None:
        await bot.send(event, "pong")

    nonebot.run()


if __name__ == "__main__":
    main()
